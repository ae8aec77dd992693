#pragma once
// The policy lists Tyr follows (Matrix policy rooms and HTTP feeds), their rules, and the index
// over all of them. Persistence in the store's state family:
//   "list/<room_id>"                         -> JSON WatchedList (watched policy rooms)
//   "pstate/<room_id>\x1f<type>\x1f<state_key>" -> the policy state event as received
//   "feed/<name>"                            -> JSON FeedState (last good contents of a feed)
// Thread-safe: the pipeline (live events) and the executor (list loads) both update it.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/store/store.hpp"

namespace tyr::engine {

struct WatchedList {
  std::string id;         // room ID, or "feed:<name>"
  std::string alias;      // as the operator named it, if an alias
  std::string shortcode;  // for lists Tyr publishes
  bool writable = false;  // Tyr created it and may write rules
  bool shadow = false;    // matches are reported, never enforced
  bool feed = false;
};

void to_json(nlohmann::json& j, const WatchedList& l);
void from_json(const nlohmann::json& j, WatchedList& l);

// A policy room's state read from the text of its /state answer and not yet applied: what
// PolicyBook::load_state then puts in place of the list's rules.
struct PolicyRoomState {
  explicit PolicyRoomState(const std::string& id) : list(id) {}

  bool ok = false;
  bool not_array = false;  // valid JSON, but not an array
  std::string error;       // when !ok
  policy::PolicyList list;
  Batch records;  // the "pstate/…" puts of its rule events
  uint64_t invalid_events = 0;
  // The content's `shortcode` of the last org.matrix.mjolnir.shortcode event ("" when it has
  // none); nullopt when no such event has content.
  std::optional<std::string> shortcode;
};

class PolicyBook {
 public:
  explicit PolicyBook(Store& store);

  // Reads watched lists and their rules from the store and builds the index.
  void load();

  bool is_list(const std::string& id) const;
  std::vector<WatchedList> lists() const;
  // By room ID, alias, shortcode or "feed:<name>".
  std::optional<WatchedList> find(const std::string& name) const;

  void watch(Batch& batch, const WatchedList& list);
  // Forgets a list and its rules; returns the diffs (all its rules removed).
  std::vector<policy::ListDiff> unwatch(Batch& batch, const std::string& id);
  // Switches a watched policy room between shadow and enforcing, durably in `batch`; false when
  // `id` is not a watched room (feeds take their mode from the config on every poll).
  bool set_shadow(Batch& batch, const std::string& id, bool shadow);
  // The list `ban`, `unban`, `takedown` and `import` write to when none is named: the one chosen
  // with set_default (`lists default`), or else the only list Tyr writes; nullopt when neither.
  std::optional<WatchedList> default_list() const;
  void set_default(Batch& batch, const std::string& id);

  // Replaces a list's rules with the policy events in `state_events` (a /state answer).
  std::vector<policy::ListDiff> load_state(Batch& batch, const std::string& id,
                                           const nlohmann::json& state_events);
  // Reads the text of a /state answer without a DOM of it (state_stream.hpp): non-policy events
  // are skipped, each rule event's record is its own element re-serialised as the DOM path
  // stores it. Changes nothing; a text that is not JSON or not an array gives !ok.
  static PolicyRoomState read_state(const std::string& id, std::string_view state_text);
  // Replaces a list's rules with `state` (read_state of the same id, ok), as load_state above.
  std::vector<policy::ListDiff> load_state(Batch& batch, const std::string& id,
                                           PolicyRoomState&& state);
  // Applies one live state event of a watched list room. `problem` receives a description of
  // an invalid rule event (which then counts as a removal).
  std::optional<policy::ListDiff> apply_event(Batch& batch, const std::string& id,
                                              const nlohmann::json& event, std::string* problem);
  // Replaces a feed's rules (the list id is "feed:<name>").
  std::vector<policy::ListDiff> replace_feed(const std::string& name,
                                             const std::vector<policy::PolicyRule>& rules,
                                             bool shadow);

  // Matching (lock-free reads of the index's snapshot).
  const policy::PolicyIndex& index() const { return index_; }
  bool is_shadow(const std::string& list_id) const;
  // Effective ban/takedown rules of one kind across enforcing (non-shadow) lists.
  std::vector<policy::PolicyRule> enforced_rules(policy::EntityKind kind) const;
  // Rules with a recommendation Tyr does not act on (kept, never matched).
  size_t ignored_rules(const std::string& id) const;
  // Ban and takedown rule counts of one list per kind (user, room, server).
  std::array<size_t, policy::kEntityKinds> counts(const std::string& id) const;
  // Effective rules of one list whose entity equals `entity` (case-insensitive).
  std::vector<policy::PolicyRule> rules_for_entity(const std::string& id,
                                                   const std::string& entity) const;
  uint64_t invalid_events() const;

 private:
  // Under mu_: drops the list's stored records for `records`, swaps in `fresh`.
  std::vector<policy::ListDiff> replace_state(Batch& batch, const std::string& id,
                                              policy::PolicyList&& fresh, Batch&& records);
  std::vector<policy::ListDiff> diff_lists(const std::string& id, const policy::PolicyList& before,
                                           const policy::PolicyList& after) const;

  Store& store_;
  mutable std::mutex mu_;
  std::map<std::string, WatchedList> meta_;
  std::map<std::string, policy::PolicyList> lists_;
  policy::PolicyIndex index_;
  uint64_t invalid_events_ = 0;
};

}  // namespace tyr::engine
