#pragma once
// `tyr plugins`: the protections this binary has, and their docs pages kept in step with the
// descriptors.

#include <filesystem>

namespace tyr::cli {

// Lists every protection: name, description, power needed, symbols with default scores and
// config keys with defaults. Returns the exit status.
int cmd_plugins_list();

// Rewrites the generated reference section (from "## Reference (generated from the
// descriptor)" to the end) of docs/protections/<name>.md under `docs_dir`, creating a page
// with empty hand-written sections for a protection that has none. With `check`, changes
// nothing and exits 1 when any page is out of date (naming it). Exit 2 on I/O errors.
int cmd_plugins_docs(const std::filesystem::path& docs_dir, bool check);

}  // namespace tyr::cli
