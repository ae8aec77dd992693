#pragma once
// The classifier as the service runs it (docs/classifier.md): the model's opinion of a message
// as a symbol in the scorer, and what moderators do turned into learned examples.
//
//   Classifier c(options);  c.load(store);                 // models and examples from RocksDB
//   c.fold(verdict, room, body, thresholds);               // classifier/SPAM or classifier/HAM
//   c.remember({event_id, room, sender, ts}, body, allowed);  // hashed, for later learning
//   c.on_redacted(batch, event_id, redactor);              // a moderator's redaction: spam
//   c.learn_recent(batch, event_id, Source::kCommand, true);  // `learn spam <event>`
//   c.unlearn(batch, event_id);                            // `learn undo <event>`
//   c.learn_due_ham(batch, now);  c.flush(batch, now);     // each tick
//
// Symbols. classifier/SPAM scores from 0 at `spam_above` up to `spam_score` at probability 1;
// classifier/HAM from 0 at `ham_below` down to `ham_score` (negative) at 0. Until a model has
// learned `min_spam` and `min_ham` messages its hits are shadow hits: recorded and explained,
// never counted. Each explanation names the tokens that weighed most, taken from the message in
// hand (the model keeps none).
//
// What is stored (state family, engine/store/keys.hpp): every learned example as a record
// (event ID, room, source, class and the message's feature hashes, never its text), so that a
// moderator can take it back; the models, saved at most every few seconds with the sequence of
// the last example they include. At load the examples recorded after a model's save are
// replayed, so a kill -9 loses no learning. Records beyond `max_examples` are dropped oldest
// first (their learning stays in the model but can no longer be undone).
//
// Thread-safe: one mutex. Scoring runs on the pipeline thread, learning on the pipeline thread
// or (an event fetched for `learn`) the executor's.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/classifier/model.hpp"
#include "engine/classifier/options.hpp"
#include "engine/classifier/tokenizer.hpp"
#include "engine/core/result.hpp"
#include "engine/core/verdict.hpp"
#include "engine/store/store.hpp"

namespace tyr::engine::classifier {

// Where a learned example came from.
enum class Source : uint8_t { kRedaction, kBan, kReport, kCommand, kUnredacted, kImport };
const char* source_name(Source s);

// A message as remembered for learning: where it was sent and by whom.
struct MessageRef {
  std::string event_id, room, sender;
  int64_t ts = 0;
};

// What fold() concluded, for counting.
struct FoldOutcome {
  bool hit = false;
  bool spam = false;
  bool shadow = false;
  double probability = 0.5;
  // "p 0.998: “prize” +4.1, …": the probability and the strongest tokens (when built).
  std::string detail;
};

class Classifier {
 public:
  explicit Classifier(ClassifierOptions options = {});

  const ClassifierOptions& options() const { return options_; }
  bool enabled() const { return options_.enabled; }

  // Restores the saved models and replays the examples recorded after them. A model that does
  // not read (another Tyr version, corruption) is an Error; that scope starts empty and is
  // rebuilt from the examples still recorded.
  Result<void> load(const Store& store);

  // Uses `model` for `room` (for the offline tools: a model learned by `tyr learn`).
  void adopt(std::string_view room, Model model);

  // Adds classifier/SPAM or classifier/HAM to `v` (the rules' and protections' verdict under
  // thresholds `t`), updating its score, action and explanation. Nothing when disabled, when the
  // body is empty or when the model cannot tell.
  // The hit's text (FoldOutcome::detail, the explanation) is built when `explain`, or when the
  // verdict acts or would act: an allowed message costs no allocation.
  FoldOutcome fold(EventVerdict& v, std::string_view room, std::string_view body,
                   const Thresholds& t, bool explain = false);

  // Remembers a scored message's feature hashes (not its text) for learning from a later
  // redaction, ban or command; `ham_candidate` (Tyr allowed it) makes it, sampled, a ham
  // example once it has stood `ham_after_ms` unredacted.
  void remember(const MessageRef& m, std::string_view body, bool ham_candidate);
  // The message was redacted: never ham. With `learn`, by someone other than its sender (who
  // needs a moderator's power to do it) and with learn_redactions: a spam example. True when
  // learned.
  bool on_redacted(Batch& batch, const std::string& event_id, const std::string& redactor,
                   bool learn = true);
  // `user` was banned from `room` with a reason: their remembered messages there become spam
  // examples. Returns how many were learned.
  size_t on_banned(Batch& batch, const std::string& room, const std::string& user);
  // The remembered message `event_id` as an example. An error when it is not remembered
  // (code TYR_NOT_SEEN: fetch it and use learn_text) or already learned as that class.
  Result<std::string> learn_recent(Batch& batch, const std::string& event_id, Source source,
                                   bool spam);
  // `body` (fetched) as an example of event `m`.
  Result<std::string> learn_text(Batch& batch, const MessageRef& m, std::string_view body,
                                 Source source, bool spam);
  // Takes back what was learned from `event_id`.
  Result<std::string> unlearn(Batch& batch, const std::string& event_id, int64_t now_ms);
  // Ham candidates whose wait is over. Returns how many were learned.
  size_t learn_due_ham(Batch& batch, int64_t now_ms);
  // Saves changed models (and drops example records past max_examples) when `force` or when
  // the last learning is a few seconds old.
  void flush(Batch& batch, int64_t now_ms, bool force = false);

  bool ready(std::string_view room) const;
  // "Classifier: 120 spam and 800 ham learned, 14,200 features (0.3 MB); enforcing"; with
  // per-room models, one line per room model too.
  std::vector<std::string> stats() const;
  uint64_t learned_total() const { return learned_; }

 private:
  struct Scope {
    Model model;
    uint64_t saved_seq = 0;  // the last example the stored copy includes
    bool dirty = false;
  };
  struct Remembered {
    MessageRef ref;
    std::vector<FeatureHash> hashes;
  };
  Scope& scope_for(std::string_view room);
  const Scope* find_scope(std::string_view room) const;
  std::string scope_key(std::string_view room) const {
    return options_.per_room ? std::string(room) : std::string();
  }
  // Records the example and applies it (mu_ held); a message learned as the other class before
  // is taken back first.
  Result<std::string> learn_hashes(Batch& batch, const MessageRef& m,
                                   std::span<const FeatureHash> hashes, Source source, bool spam);
  // The live example learned from `event_id`, read from the store.
  struct Learned {
    uint64_t seq;
    std::string room;
    bool spam;
    std::vector<FeatureHash> hashes;
  };
  std::optional<Learned> learned(const std::string& event_id) const;
  // Writes an example record; returns its sequence.
  uint64_t record(Batch& batch, const MessageRef& m, std::span<const FeatureHash> hashes,
                  const char* source, bool spam, uint64_t undo);
  const Remembered* recent(const std::string& event_id) const;
  void tokenize_into(std::string_view body, std::vector<FeatureHash>& out);

  ClassifierOptions options_;
  const Store* store_ = nullptr;  // set by load(): example records are read back from it
  mutable std::mutex mu_;
  std::map<std::string, Scope, std::less<>> scopes_;  // "" = the one model (scope: global)
  Tokenizer tokenizer_;
  TokenList tokens_;
  Classification result_;
  std::string last_body_;          // the text tokens_ was made from (fold, then remember, reuse it)
  std::deque<Remembered> recent_;  // oldest first, at most max_recent
  uint64_t recent_base_ = 0;       // sequence number of recent_.front()
  std::unordered_map<std::string, uint64_t> recent_ids_;
  struct Waiting {
    MessageRef ref;
    std::vector<FeatureHash> hashes;
  };
  std::deque<Waiting> ham_waiting_;                               // oldest first
  std::unordered_map<std::string, bool> waiting_;                 // event ID -> still a candidate
  std::map<std::string, std::pair<int64_t, uint32_t>> ham_hour_;  // room -> (hour, learned)
  uint64_t next_seq_ = 1;
  uint64_t oldest_seq_ = 0;  // the oldest example record kept (0: none)
  size_t examples_ = 0;
  int64_t last_learn_ms_ = 0;
  uint64_t learned_ = 0;
};

}  // namespace tyr::engine::classifier
