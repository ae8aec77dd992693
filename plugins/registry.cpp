#include "plugins/registry.hpp"

#include <array>
#include <cstdio>

#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"
#include "plugins/protections/builtins.hpp"

namespace tyr::plugins {

using namespace engine::protection;

namespace {

// The one list of built-in protections. Order is documentation and status order.
constexpr std::array<const ProtectionDescriptor*, 10> kBuiltins = {
    &protections::kFloodingProtection,        &protections::kMentionSpamProtection,
    &protections::kLinkSpamProtection,        &protections::kFirstMessageProtection,
    &protections::kLowPowerMediaProtection,   &protections::kJoinWaveProtection,
    &protections::kInviteSpamProtection,      &protections::kNameAbuseProtection,
    &protections::kCrossRoomRepeatProtection, &protections::kNewMemberGraceProtection,
};

Error err(std::string m) { return Error{"TYR_PROTECTION", std::move(m)}; }

// Marks a protection's request with its name (also as the action's why.protection, for the
// audit trail) and whether it only "would have" happened.
void stamp(Request& req, std::string_view protection, bool shadow) {
  req.protection = std::string(protection);
  req.shadow = shadow;
  if (auto* act = std::get_if<engine::actions::Action>(&req.what)) {
    if (auto* why = engine::actions::why_of(*act)) why->protection = req.protection;
  }
}

}  // namespace

Registry builtin_protections() { return kBuiltins; }

Result<void> validate_registry(Registry registry) { return validate_descriptors(registry); }
Result<void> validate_registry() { return validate_registry(builtin_protections()); }

const ProtectionDescriptor* find_protection(Registry registry, std::string_view name) {
  for (const auto* d : registry) {
    if (d->name == name) return d;
  }
  return nullptr;
}

double ProtectionResult::score() const {
  double s = 0;
  for (const auto& h : hits) s += h.shadow ? 0 : h.score;
  return s;
}
double ProtectionResult::total_score() const {
  double s = 0;
  for (const auto& h : hits) s += h.score;
  return s;
}

EventVerdict merge_verdict(const EventVerdict& rv, const ProtectionResult& r, const Thresholds& t) {
  if (r.hits.empty() && r.multiplier == 1.0 && r.shadow_multiplier == 1.0) return rv;
  EventVerdict v = rv;
  const double base = rv.score + r.score();
  v.score = base * r.multiplier;
  const double total = (rv.score + r.total_score()) * r.multiplier * r.shadow_multiplier;
  v.action = std::max(rv.action, static_cast<Action>(t.action_for(v.score)));
  v.shadow_action =
      std::max({rv.shadow_action, v.action, static_cast<Action>(t.action_for(total))});
  v.reject = rv.reject || t.rejects(v.score);
  std::string enforced, shadow;
  for (const auto& h : r.hits) {
    std::string& list = h.shadow ? shadow : enforced;
    list += list.empty() ? "" : ", ";
    list += h.protection + "/" + h.symbol + " " + (h.score >= 0 ? "+" : "") + number_text(h.score);
    // Matches quote the event (names, hosts, msgtypes): one line, capped.
    if (!h.match.empty()) list += " \"" + escape_untrusted(h.match, kMaxMatchBytes) + "\"";
    v.rules.push_back(h.protection + "/" + h.symbol);
    v.shadow.resize(v.rules.size() - 1, false);
    v.shadow.push_back(h.shadow);
    v.scores.resize(v.rules.size() - 1, 0);
    v.scores.push_back(h.score);
  }
  std::string out = "score " + number_text(v.score) + " -> " + action_name(v.action);
  if (!enforced.empty()) out += ": " + enforced;
  if (r.multiplier != 1.0) {
    out += " (×" + number_text(r.multiplier);
    for (const auto& why : r.multiplier_reasons) out += ", " + why;
    out += ")";
  }
  if (!shadow.empty() || r.shadow_multiplier != 1.0) {
    out += "; shadow protections: " + shadow + " (would be " + number_text(total) + " -> " +
           action_name(v.shadow_action) + ")";
  }
  if (!rv.explanation.empty()) out += "; rules: " + rv.explanation;
  v.explanation = std::move(out);
  return v;
}

struct ProtectionSuite::Entry {
  const ProtectionDescriptor* descriptor;
  std::unique_ptr<Protection> protection;
  uint64_t hits = 0, shadow_hits = 0, requests = 0, shadow_requests = 0;
};

ProtectionSuite::ProtectionSuite(Registry registry, size_t max_tracked_joins)
    : registry_(registry), joins_(max_tracked_joins) {
  for (const auto* d : registry_)
    entries_.push_back(std::make_unique<Entry>(Entry{d, d->create()}));
}

ProtectionSuite::~ProtectionSuite() = default;

Result<size_t> ProtectionSuite::index_of(std::string_view name) const {
  for (size_t i = 0; i < registry_.size(); ++i) {
    if (registry_[i]->name == name) return i;
  }
  std::string names;
  for (const auto* d : registry_) names += (names.empty() ? "" : ", ") + std::string(d->name);
  return err("unknown protection '" + std::string(name) + "' (known: " + names + ")");
}

ProtectionSuite::Resolved ProtectionSuite::resolve(size_t index, std::string_view room) const {
  const auto* d = registry_[index];
  Resolved r{Mode::kOff, ProtectionConfig(d->name, d->config), {}};
  for (const auto& s : d->symbols) r.scores.emplace(std::string(s.name), s.score);
  auto layer = [&](const std::map<std::string, ProtectionSetting, std::less<>>& m) {
    auto it = m.find(d->name);
    if (it == m.end()) return;
    if (it->second.mode) r.mode = *it->second.mode;
    (void)r.config.apply(it->second.config);  // validated when the setting was stored
    for (const auto& [sym, score] : it->second.scores) r.scores[sym] = score;
  };
  layer(settings_.global);
  if (!room.empty()) {
    if (auto it = settings_.rooms.find(room); it != settings_.rooms.end()) layer(it->second);
  }
  return r;
}

const std::vector<ProtectionSuite::Resolved>& ProtectionSuite::resolved(std::string_view room) {
  if (auto it = cache_.find(room); it != cache_.end()) return it->second;
  if (cache_.size() >= 10000) cache_.clear();  // bounded: rooms are re-resolved on demand
  std::vector<Resolved> v;
  v.reserve(registry_.size());
  for (size_t i = 0; i < registry_.size(); ++i) v.push_back(resolve(i, room));
  return cache_.emplace(std::string(room), std::move(v)).first->second;
}

void ProtectionSuite::collect(size_t index, const Resolved& r, RecordingSink& sink,
                              ProtectionResult& out) {
  auto& e = *entries_[index];
  const bool shadow = r.mode == Mode::kShadow;
  for (auto& h : sink.hits) {
    auto it = r.scores.find(h.symbol);
    if (it == r.scores.end()) {
      std::fprintf(stderr, "protection %s emitted undeclared symbol %s\n",
                   std::string(e.descriptor->name).c_str(), h.symbol.c_str());
      std::abort();
    }
    out.hits.push_back({std::string(e.descriptor->name), std::move(h.symbol), std::move(h.match),
                        it->second * h.factor, shadow});
    ++(shadow ? e.shadow_hits : e.hits);
  }
  if (sink.multiplier != 1.0) {
    (shadow ? out.shadow_multiplier : out.multiplier) *= sink.multiplier;
    for (auto& why : sink.scale_reasons) out.multiplier_reasons.push_back(std::move(why));
  }
  for (auto& req : sink.requests) {
    stamp(req, e.descriptor->name, shadow);
    ++(shadow ? e.shadow_requests : e.requests);
    out.requests.push_back(std::move(req));
  }
  sink.clear();
}

bool ProtectionSuite::any_enabled(std::string_view room) {
  for (const auto& r : resolved(room)) {
    if (r.mode != Mode::kOff) return true;
  }
  return false;
}

ProtectionResult ProtectionSuite::on_event(const EventContext& ctx) {
  if (!any_enabled(ctx.room_id)) return {};
  extract_features(ctx.event, ctx.display_name, features_);
  return on_event(ctx, features_);
}

ProtectionResult ProtectionSuite::on_event(const EventContext& caller_ctx,
                                           const Features& features) {
  ProtectionResult out;
  if (!any_enabled(caller_ctx.room_id)) return out;
  const auto& rs = resolved(caller_ctx.room_id);

  EventContext ctx = caller_ctx;
  ctx.message.msgtype = features.msgtype;
  ctx.message.body = features.body;
  ctx.message.body_lower = features.body_lower;
  ctx.message.urls = features.urls;
  ctx.message.domains = features.domains;
  ctx.message.links = static_cast<uint32_t>(features.number(Feature::kLinks));
  ctx.message.mentions = static_cast<uint32_t>(features.number(Feature::kMentions));
  ctx.message.media = features.media();
  if (!ctx.member_since_ms) {
    if (const auto* t = joins_.find(join_key(ctx.room_id, ctx.sender))) ctx.member_since_ms = *t;
  }
  for (size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].mode == Mode::kOff) continue;
    entries_[i]->protection->on_event(ctx, rs[i].config, sink_);
    collect(i, rs[i], sink_, out);
  }
  return out;
}

ProtectionResult ProtectionSuite::on_membership(const MembershipContext& ctx) {
  const std::string_view key = join_key(ctx.room_id, ctx.user_id);
  if (ctx.membership == "join") {
    // A profile change (join → join) keeps the original join time.
    if (ctx.prev_membership != "join" &&
        (!ctx.prev_membership.empty() || joins_.find(key) == nullptr)) {
      joins_.touch(key) = ctx.now_ms;
    }
  } else if (ctx.membership == "leave" || ctx.membership == "ban") {
    joins_.erase(key);
  }
  ProtectionResult out;
  const auto& rs = resolved(ctx.room_id);
  for (size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].mode == Mode::kOff) continue;
    entries_[i]->protection->on_membership(ctx, rs[i].config, sink_);
    collect(i, rs[i], sink_, out);
  }
  return out;
}

ProtectionResult ProtectionSuite::on_policy_change(const PolicyChange& change) {
  ProtectionResult out;
  const auto& rs = resolved({});
  for (size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].mode == Mode::kOff) continue;
    entries_[i]->protection->on_policy_change(change, sink_);
    collect(i, rs[i], sink_, out);
  }
  return out;
}

ProtectionResult ProtectionSuite::on_timer(int64_t now_ms) {
  // Every protection gets the timer whatever its mode, so state expires and a join rule raised
  // before a protection was switched off is still restored. Requests follow the room's mode now,
  // except restores, which always run when the protection is off (cleanup).
  ProtectionResult out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    entries_[i]->protection->on_timer(now_ms, sink_);
    for (auto& req : sink_.requests) {
      const Resolved& r = resolved(req.room())[i];
      const auto* act = req.action();
      if (r.mode == Mode::kShadow) {
        stamp(req, registry_[i]->name, true);
        out.requests.push_back(std::move(req));
      } else if (r.mode == Mode::kEnforce ||
                 (act != nullptr &&
                  std::holds_alternative<engine::actions::RestoreJoinRule>(*act))) {
        stamp(req, registry_[i]->name, false);
        out.requests.push_back(std::move(req));
      }
    }
    sink_.clear();
  }
  return out;
}

std::string_view ProtectionSuite::join_key(std::string_view room, std::string_view user) {
  key_.assign(room);
  key_.push_back('\x1f');
  key_.append(user);
  return key_;
}

Mode ProtectionSuite::mode(std::string_view name, std::string_view room) const {
  auto i = index_of(name);
  return i ? resolve(*i, room).mode : Mode::kOff;
}

Result<ProtectionConfig> ProtectionSuite::config(std::string_view name,
                                                 std::string_view room) const {
  auto i = index_of(name);
  if (!i) return i.error();
  return resolve(*i, room).config;
}

Result<void> ProtectionSuite::load_settings(const nlohmann::json& j) {
  auto s = settings_from_json(j, registry_);
  if (!s) return s.error();
  settings_ = std::move(s.value());
  cache_.clear();
  return {};
}

Result<void> ProtectionSuite::replace_setting(size_t index, std::string_view room,
                                              ProtectionSetting s) {
  auto ok = validate_setting(*registry_[index], s);
  if (!ok) return ok;
  const std::string name(registry_[index]->name);
  if (room.empty()) {
    settings_.global[name] = std::move(s);
  } else {
    settings_.rooms[std::string(room)][name] = std::move(s);
  }
  cache_.clear();
  return {};
}

namespace {
ProtectionSetting current(const Settings& s, std::string_view name, std::string_view room) {
  const auto* m = &s.global;
  if (!room.empty()) {
    auto it = s.rooms.find(room);
    if (it == s.rooms.end()) return {};
    m = &it->second;
  }
  auto it = m->find(name);
  return it == m->end() ? ProtectionSetting{} : it->second;
}
}  // namespace

Result<void> ProtectionSuite::set_mode(std::string_view name, Mode mode, std::string_view room) {
  auto i = index_of(name);
  if (!i) return i.error();
  auto s = current(settings_, name, room);
  s.mode = mode;
  return replace_setting(*i, room, std::move(s));
}

Result<void> ProtectionSuite::set_config(std::string_view name, std::string_view key,
                                         std::string_view value_text, std::string_view room) {
  auto i = index_of(name);
  if (!i) return i.error();
  const auto* d = registry_[*i];
  const auto* k = d->key(key);
  if (k == nullptr) {
    std::string keys;
    for (const auto& c : d->config) keys += (keys.empty() ? "" : ", ") + std::string(c.name);
    return err("protection " + std::string(name) + ": unknown key '" + std::string(key) +
               "' (keys: " + keys + ")");
  }
  auto value = parse_value_text(d->name, *k, value_text);
  if (!value) return value.error();
  auto s = current(settings_, name, room);
  s.config[std::string(key)] = std::move(value.value());
  return replace_setting(*i, room, std::move(s));
}

Result<void> ProtectionSuite::set_score(std::string_view name, std::string_view symbol,
                                        double score, std::string_view room) {
  auto i = index_of(name);
  if (!i) return i.error();
  auto s = current(settings_, name, room);
  s.scores[std::string(symbol)] = score;
  return replace_setting(*i, room, std::move(s));
}

nlohmann::json ProtectionSuite::save_state() const {
  nlohmann::json p = nlohmann::json::object();
  for (const auto& e : entries_) {
    auto s = e->protection->save_state();
    if (!s.is_null()) p[std::string(e->descriptor->name)] = std::move(s);
  }
  return {{"protections", std::move(p)},
          {"joins", joins_.to_json([](int64_t t) { return nlohmann::json(t); })}};
}

Result<void> ProtectionSuite::load_state(const nlohmann::json& j) {
  if (j.is_null()) return {};
  if (!j.is_object()) return err("protection state: expected an object");
  Result<void> result;
  const bool joins_ok =
      joins_.from_json(j.value("joins", nlohmann::json()), [](const nlohmann::json& v, int64_t& t) {
        if (!v.is_number_integer()) return false;
        t = v.get<int64_t>();
        return true;
      });
  if (!joins_ok) result = err("protection state: malformed joins");
  const auto p = j.value("protections", nlohmann::json::object());
  for (const auto& e : entries_) {
    auto it = p.find(std::string(e->descriptor->name));
    if (it == p.end()) continue;
    auto ok = e->protection->load_state(*it);
    if (!ok && result) result = ok;
  }
  return result;
}

std::vector<ProtectionSuite::Status> ProtectionSuite::status(std::string_view room) const {
  std::vector<Status> out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const auto& e = *entries_[i];
    out.push_back({std::string(e.descriptor->name), resolve(i, room).mode, e.hits, e.shadow_hits,
                   e.requests, e.shadow_requests, e.protection->state_entries()});
  }
  return out;
}

}  // namespace tyr::plugins

namespace tyr::plugins {

std::string reference_markdown(const ProtectionDescriptor& d) {
  std::string md = "## Reference (generated from the descriptor)\n\n";
  md += "Name: `" + std::string(d.name) + "`. " + std::string(d.description) + "\n\n";
  md += "Power the bot needs: " + power_text(d.powers) + ".\n\n";
  md += "| Symbol | Default score | Meaning |\n|---|---|---|\n";
  for (const auto& s : d.symbols) {
    md += "| `" + std::string(s.name) + "` | " + number_text(s.score) + " | " + std::string(s.doc) +
          " |\n";
  }
  md += "\n| Config key | Type | Default | Accepts | Meaning |\n|---|---|---|---|---|\n";
  for (const auto& k : d.config) {
    md += "| `" + std::string(k.name) + "` | " + std::string(config_type_name(k.type)) + " | `" +
          std::string(k.default_json) + "` | " + expected_text(k) + " | " + std::string(k.doc) +
          " |\n";
  }
  return md;
}

}  // namespace tyr::plugins
