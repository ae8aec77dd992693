#include "engine/pipeline/policy_book.hpp"

#include <algorithm>

#include "engine/core/ascii.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/policy/state_stream.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

using policy::EntityKind;
using policy::ListDiff;
using policy::PolicyList;
using policy::PolicyRule;

namespace {

using state_keys::kSep;

constexpr std::string_view kShortcodeType = "org.matrix.mjolnir.shortcode";

std::string state_key_for(const std::string& list, const std::string& type,
                          const std::string& state_key) {
  return std::string(state_keys::kPolicyState) + list + kSep + type + kSep + state_key;
}

bool is_enforceable(const PolicyRule& r) {
  return r.recommendation == policy::Recommendation::kBan ||
         r.recommendation == policy::Recommendation::kTakedown;
}

}  // namespace

void to_json(nlohmann::json& j, const WatchedList& l) {
  j = {{"id", l.id},
       {"alias", l.alias},
       {"shortcode", l.shortcode},
       {"writable", l.writable},
       {"shadow", l.shadow},
       {"feed", l.feed}};
}

void from_json(const nlohmann::json& j, WatchedList& l) {
  l.id = j.value("id", "");
  l.alias = j.value("alias", "");
  l.shortcode = j.value("shortcode", "");
  l.writable = j.value("writable", false);
  l.shadow = j.value("shadow", false);
  l.feed = j.value("feed", false);
}

PolicyBook::PolicyBook(Store& store) : store_(store) {}

void PolicyBook::load() {
  std::lock_guard lock(mu_);
  meta_.clear();
  lists_.clear();
  store_.scan(Cf::kState, state_keys::kList, [&](std::string_view, std::string_view value) {
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (j.is_discarded()) return;
    WatchedList l = j.get<WatchedList>();
    if (!l.id.empty()) meta_[l.id] = l;
  });
  size_t events = 0;
  store_.scan(Cf::kState, state_keys::kPolicyState,
              [&](std::string_view key, std::string_view value) {
                std::string_view rest = key.substr(state_keys::kPolicyState.size());
                const std::string list(rest.substr(0, rest.find(kSep)));
                if (!meta_.count(list)) return;
                auto event = nlohmann::json::parse(value, nullptr, false);
                if (event.is_discarded()) return;
                if (auto parsed = policy::parse_policy_event(event, list)) {
                  lists_.try_emplace(list, list).first->second.apply(*parsed);
                  ++events;
                }
              });
  for (const auto& [id, list] : lists_) index_.replace_list(id, list.effective_rules());
  log::info("policy", "loaded " + std::to_string(meta_.size()) + " lists (" +
                          std::to_string(events) + " rule events)");
}

bool PolicyBook::is_list(const std::string& id) const {
  std::lock_guard lock(mu_);
  return meta_.count(id) > 0;
}

std::vector<WatchedList> PolicyBook::lists() const {
  std::lock_guard lock(mu_);
  std::vector<WatchedList> out;
  for (const auto& [id, l] : meta_) out.push_back(l);
  return out;
}

std::optional<WatchedList> PolicyBook::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  if (auto it = meta_.find(name); it != meta_.end()) return it->second;
  for (const auto& [id, l] : meta_) {
    if ((!l.alias.empty() && l.alias == name) || (!l.shortcode.empty() && l.shortcode == name)) {
      return l;
    }
  }
  return std::nullopt;
}

void PolicyBook::watch(Batch& batch, const WatchedList& list) {
  std::lock_guard lock(mu_);
  meta_[list.id] = list;
  if (!list.feed) {
    batch.put(Cf::kState, std::string(state_keys::kList) + list.id, nlohmann::json(list).dump());
  }
}

std::vector<ListDiff> PolicyBook::unwatch(Batch& batch, const std::string& id) {
  std::lock_guard lock(mu_);
  std::vector<ListDiff> diffs;
  if (auto it = lists_.find(id); it != lists_.end()) {
    for (auto& rule : it->second.effective_rules())
      diffs.push_back(ListDiff{std::move(rule), std::nullopt});
    lists_.erase(it);
  }
  meta_.erase(id);
  index_.remove_list(id);
  batch.del(Cf::kState, std::string(state_keys::kList) + id);
  store_.scan(Cf::kState, std::string(state_keys::kPolicyState) + id + kSep,
              [&](std::string_view key, std::string_view) { batch.del(Cf::kState, key); });
  return diffs;
}

bool PolicyBook::set_shadow(Batch& batch, const std::string& id, bool shadow) {
  std::lock_guard lock(mu_);
  auto it = meta_.find(id);
  if (it == meta_.end() || it->second.feed) return false;
  it->second.shadow = shadow;
  batch.put(Cf::kState, std::string(state_keys::kList) + id, nlohmann::json(it->second).dump());
  return true;
}

std::optional<WatchedList> PolicyBook::default_list() const {
  if (auto id = store_.get(Cf::kState, state_keys::kDefaultList)) {
    if (auto l = find(*id); l && l->writable) return l;
  }
  std::optional<WatchedList> only;
  for (const auto& l : lists()) {
    if (!l.writable) continue;
    if (only) return std::nullopt;  // several: the moderator chooses
    only = l;
  }
  return only;
}

void PolicyBook::set_default(Batch& batch, const std::string& id) {
  batch.put(Cf::kState, std::string(state_keys::kDefaultList), id);
}

std::vector<ListDiff> PolicyBook::diff_lists(const std::string&, const PolicyList& before,
                                             const PolicyList& after) const {
  // Keyed by (kind, state_key): the effective rule before and after.
  std::map<std::pair<int, std::string>, PolicyRule> old_rules, new_rules;
  for (auto& r : before.effective_rules()) old_rules[{static_cast<int>(r.kind), r.state_key}] = r;
  for (auto& r : after.effective_rules()) new_rules[{static_cast<int>(r.kind), r.state_key}] = r;
  std::vector<ListDiff> diffs;
  for (auto& [key, rule] : old_rules) {
    auto it = new_rules.find(key);
    if (it == new_rules.end()) {
      diffs.push_back(ListDiff{rule, std::nullopt});
    } else if (!policy::same_rule(it->second, rule)) {
      diffs.push_back(ListDiff{rule, it->second});
    }
  }
  for (auto& [key, rule] : new_rules) {
    if (!old_rules.count(key)) diffs.push_back(ListDiff{std::nullopt, rule});
  }
  return diffs;
}

std::vector<ListDiff> PolicyBook::load_state(Batch& batch, const std::string& id,
                                             const nlohmann::json& state_events) {
  std::lock_guard lock(mu_);
  PolicyList fresh(id);
  Batch records;
  if (state_events.is_array()) {
    for (const auto& ev : state_events) {
      auto parsed = policy::parse_policy_event(ev, id);
      if (!parsed) continue;
      if (!parsed->problem.empty()) ++invalid_events_;
      fresh.apply(*parsed);
      if (parsed->rule) {
        records.put(Cf::kState, state_key_for(id, ev.value("type", ""), ev.value("state_key", "")),
                    dump_json(ev));
      }
    }
  }
  return replace_state(batch, id, std::move(fresh), std::move(records));
}

PolicyRoomState PolicyBook::read_state(const std::string& id, std::string_view state_text) {
  PolicyRoomState state(id);
  auto read =
      policy::read_state_events(state_text, [&](size_t, const policy::PolicyEventFacts* facts) {
        if (facts == nullptr || !state.error.empty()) return;
        if (facts->type.is_string() && facts->type.value == kShortcodeType &&
            facts->content != policy::PolicyEventFacts::Content::kMissing) {
          auto ev = nlohmann::json::parse(facts->text, nullptr, false);
          if (ev.is_discarded()) {
            state.error = "invalid JSON in event";
            return;
          }
          state.shortcode = ev["content"].value("shortcode", "");
        }
        auto parsed = policy::policy_event_from_facts(*facts, id);
        if (!parsed) return;
        if (!parsed->problem.empty()) ++state.invalid_events;
        state.list.apply(*parsed);
        if (!parsed->rule) return;
        // Stored as the DOM path stores it: the element parsed alone and re-serialised. A value
        // the stream skipped unchecked (a malformed number) fails here as the DOM parse would.
        auto ev = nlohmann::json::parse(facts->text, nullptr, false);
        if (ev.is_discarded()) {
          state.error = "invalid JSON in event";
          return;
        }
        state.records.put(
            Cf::kState,
            state_key_for(id, std::string(facts->type.value), std::string(facts->state_key.value)),
            dump_json(ev));
      });
  state.not_array = read.not_array;
  if (!read.ok && state.error.empty()) state.error = read.error;
  state.ok = state.error.empty();
  return state;
}

std::vector<ListDiff> PolicyBook::load_state(Batch& batch, const std::string& id,
                                             PolicyRoomState&& state) {
  std::lock_guard lock(mu_);
  invalid_events_ += state.invalid_events;
  return replace_state(batch, id, std::move(state.list), std::move(state.records));
}

std::vector<ListDiff> PolicyBook::replace_state(Batch& batch, const std::string& id,
                                                PolicyList&& fresh, Batch&& records) {
  store_.scan(Cf::kState, std::string(state_keys::kPolicyState) + id + kSep,
              [&](std::string_view key, std::string_view) { batch.del(Cf::kState, key); });
  batch.append(std::move(records));
  auto& current = lists_.try_emplace(id, id).first->second;
  auto diffs = diff_lists(id, current, fresh);
  current = std::move(fresh);
  index_.replace_list(id, current.effective_rules());
  return diffs;
}

std::optional<ListDiff> PolicyBook::apply_event(Batch& batch, const std::string& id,
                                                const nlohmann::json& event, std::string* problem) {
  auto parsed = policy::parse_policy_event(event, id);
  if (!parsed) return std::nullopt;
  std::lock_guard lock(mu_);
  if (!meta_.count(id)) return std::nullopt;
  if (!parsed->problem.empty()) {
    ++invalid_events_;
    if (problem) *problem = parsed->problem;
  }
  const std::string key = state_key_for(id, event.value("type", ""), event.value("state_key", ""));
  if (parsed->rule) {
    batch.put(Cf::kState, key, dump_json(event));
  } else {
    batch.del(Cf::kState, key);
  }
  ListDiff diff = lists_.try_emplace(id, id).first->second.apply(*parsed);
  if (diff.added || diff.removed) index_.apply(diff);
  return diff;
}

std::vector<ListDiff> PolicyBook::replace_feed(const std::string& name,
                                               const std::vector<PolicyRule>& rules, bool shadow) {
  const std::string id = "feed:" + name;
  std::lock_guard lock(mu_);
  WatchedList& meta = meta_[id];
  meta.id = id;
  meta.feed = true;
  meta.shadow = shadow;
  PolicyList fresh(id);
  for (const auto& rule : rules) {
    policy::PolicyEvent ev{rule.kind, rule.family, rule.state_key, rule, {}};
    fresh.apply(ev);
  }
  auto& current = lists_.try_emplace(id, id).first->second;
  auto diffs = diff_lists(id, current, fresh);
  current = std::move(fresh);
  index_.replace_list(id, current.effective_rules());
  return diffs;
}

bool PolicyBook::is_shadow(const std::string& list_id) const {
  std::lock_guard lock(mu_);
  auto it = meta_.find(list_id);
  return it != meta_.end() && it->second.shadow;
}

std::vector<PolicyRule> PolicyBook::enforced_rules(EntityKind kind) const {
  std::lock_guard lock(mu_);
  std::vector<PolicyRule> out;
  for (const auto& [id, list] : lists_) {
    auto m = meta_.find(id);
    if (m == meta_.end() || m->second.shadow) continue;
    for (auto& r : list.effective_rules()) {
      if (r.kind == kind && is_enforceable(r)) out.push_back(std::move(r));
    }
  }
  return out;
}

std::array<size_t, policy::kEntityKinds> PolicyBook::counts(const std::string& id) const {
  std::lock_guard lock(mu_);
  std::array<size_t, policy::kEntityKinds> c{};
  if (auto it = lists_.find(id); it != lists_.end()) {
    for (const auto& r : it->second.effective_rules()) {
      if (is_enforceable(r)) ++c[static_cast<int>(r.kind)];
    }
  }
  return c;
}

std::vector<PolicyRule> PolicyBook::rules_for_entity(const std::string& id,
                                                     const std::string& entity) const {
  std::lock_guard lock(mu_);
  std::vector<PolicyRule> out;
  const std::string want = ascii_lower(entity);
  if (auto it = lists_.find(id); it != lists_.end()) {
    for (auto& r : it->second.effective_rules()) {
      if (ascii_lower(r.entity) == want) out.push_back(std::move(r));
    }
  }
  return out;
}

size_t PolicyBook::ignored_rules(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = lists_.find(id);
  return it == lists_.end() ? 0 : it->second.unknown_count();
}

uint64_t PolicyBook::invalid_events() const {
  std::lock_guard lock(mu_);
  return invalid_events_;
}

}  // namespace tyr::engine
