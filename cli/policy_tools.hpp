#pragma once
// Offline policy tools: the same parsing, index and judgement as the live service.

#include <string>
#include <vector>

namespace tyr::cli {

// `tyr check --list FILE... EVENTS.jsonl`: exit 0, or 2 with "file:line: message" on bad input.
int cmd_check(const std::vector<std::string>& list_files,
              const std::vector<std::string>& positional);

// `tyr check --rules DIR [--list FILE...] [--summary] EVENTS.jsonl`: scores with the rules;
// the lists answer the rules' `listed:` conditions.
int cmd_check_rules(const std::string& rules_dir, const std::vector<std::string>& list_files,
                    const std::vector<std::string>& positional, bool summary,
                    const std::string& model_dir = {});

// `tyr acl --list FILE... --server-name NAME [--current ACL.json]`.
int cmd_acl(const std::vector<std::string>& list_files, const std::string& server_name,
            const std::string& current_file);

}  // namespace tyr::cli
