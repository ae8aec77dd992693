#pragma once
// A classifier model on disk, for the offline tools (`tyr learn`, `tyr check --model`): the
// directory holds model.bin (Model::serialize()), replaced atomically on each save.
//
//   tyr learn --model DIR EVENTS.jsonl…    learn_events: every labelled event's body
//   tyr learn --model DIR --stats          model_stats
//   tyr check --rules R --model DIR …      load_model_dir, then Classifier::adopt

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "engine/classifier/model.hpp"
#include "engine/core/result.hpp"

namespace tyr::engine::classifier {

// The model in `dir`; an empty model when `dir` has none yet and `missing_ok`.
Result<Model> load_model_dir(const std::filesystem::path& dir, bool missing_ok = false);
Result<void> save_model_dir(const std::filesystem::path& dir, const Model& model);

// Learns the body of every event labelled "spam" or "ham" (the `label` field, as `tyr check
// --summary` reads it) in `files`, in order, into the model in `dir` (created when missing).
// Unlabelled events are skipped and counted. Returns 0, or 2 after "file:line: message" on `err`
// (nothing is saved then).
int learn_events(const std::filesystem::path& dir, const std::vector<std::string>& files,
                 std::ostream& out, std::ostream& err);

// What the model in `dir` holds: classes, features, memory. Returns 0, or 2 with the error.
int model_stats(const std::filesystem::path& dir, std::ostream& out, std::ostream& err);

}  // namespace tyr::engine::classifier
