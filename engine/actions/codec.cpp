#include "engine/actions/codec.hpp"

#include <array>

#include "engine/core/text.hpp"

namespace tyr::engine::actions {

namespace {

// Reads one action's fields, remembering the first problem.
class Reader {
 public:
  Reader(const nlohmann::json& j, std::string_view kind) : j_(j), kind_(kind) {}

  void required(const char* key, std::string& out) { text(key, out, true); }
  void optional(const char* key, std::string& out) { text(key, out, false); }
  void optional(const char* key, bool& out) {
    if (auto* v = find(key, false)) {
      if (v->is_boolean())
        out = v->get<bool>();
      else
        fail(key, "must be true or false");
    }
  }
  void integer(const char* key, int64_t& out, bool required) {
    if (auto* v = find(key, required)) {
      if (v->is_number_integer())
        out = v->get<int64_t>();
      else
        fail(key, "must be an integer");
    }
  }
  void object(const char* key, nlohmann::json& out) {
    if (auto* v = find(key, true)) {
      if (v->is_object())
        out = *v;
      else
        fail(key, "must be an object");
    }
  }
  void why(Why& out) {
    if (auto* v = find("rules", false)) {
      if (!v->is_array()) return fail("rules", "must be a list of strings");
      for (const auto& r : *v) {
        if (!r.is_string()) return fail("rules", "must be a list of strings");
        out.rules.push_back(r.get<std::string>());
      }
    }
    if (auto* v = find("score", false)) {
      if (v->is_number())
        out.score = v->get<double>();
      else
        fail("score", "must be a number");
    }
    optional("protection", out.protection);
  }
  Result<void> result() const {
    if (error_.empty()) return {};
    return Error{"TYR_BAD_ACTION", error_};
  }

 private:
  const nlohmann::json* find(const char* key, bool required) {
    auto it = j_.find(key);
    if (it == j_.end() || (it->is_null() && !required)) {
      if (required) fail(key, "is missing");
      return nullptr;
    }
    return &*it;
  }
  void text(const char* key, std::string& out, bool required) {
    if (auto* v = find(key, required)) {
      if (v->is_string())
        out = v->get<std::string>();
      else
        fail(key, "must be a string");
    }
  }
  void fail(const char* key, std::string_view what) {
    if (error_.empty()) {
      error_ = "action '" + std::string(kind_) + "': field '" + key + "' " + std::string(what);
    }
  }
  const nlohmann::json& j_;
  std::string_view kind_;
  std::string error_;
};

// Writes one action's fields; optional ones only when they differ from their default.
class Writer {
 public:
  explicit Writer(std::string_view kind) : j_({{"kind", std::string(kind)}}) {}
  void required(const char* key, const std::string& v) { j_[key] = v; }
  void optional(const char* key, const std::string& v) {
    if (!v.empty()) j_[key] = v;
  }
  void optional(const char* key, bool v) {
    if (v) j_[key] = true;
  }
  void integer(const char* key, int64_t v) { j_[key] = v; }
  void object(const char* key, const nlohmann::json& v) { j_[key] = v; }
  void why(const Why& w) {
    if (!w.rules.empty()) j_["rules"] = w.rules;
    if (w.score) j_["score"] = *w.score;
    optional("protection", w.protection);
  }
  nlohmann::json take() { return std::move(j_); }

 private:
  nlohmann::json j_;
};

// One function per action lists its fields, for both directions (R is Reader or Writer; the
// const-ness of the action follows).
template <class R, class A>
void fields(R& r, A& a);

#define TYR_FIELDS(Type)                                \
  template <class R, class A>                           \
  requires std::is_same_v<std::remove_const_t<A>, Type> \
  void fields(R& r, A& a)

TYR_FIELDS(Notice) {
  r.required("room", a.room);
  r.required("body", a.body);
  r.optional("reply_to", a.reply_to);
}
TYR_FIELDS(JoinProtect) {
  r.required("room", a.room);
  r.optional("requested_by", a.requested_by);
  r.optional("reply_to", a.reply_to);
}
TYR_FIELDS(LoadRoomState) { r.required("room", a.room); }
TYR_FIELDS(CatchUp) {
  r.required("room", a.room);
  if constexpr (std::is_same_v<R, Reader>)
    r.integer("since", a.since, true);
  else
    r.integer("since", a.since);
  r.optional("why", a.why);
}
TYR_FIELDS(WatchList) {
  r.required("room", a.room);
  r.optional("reply_to", a.reply_to);
  r.optional("quiet", a.quiet);
}
TYR_FIELDS(CreateList) {
  r.required("shortcode", a.shortcode);
  r.optional("reply_to", a.reply_to);
}
TYR_FIELDS(SetRule) {
  r.required("list", a.list);
  r.required("type", a.type);
  r.required("state_key", a.state_key);
  r.object("content", a.content);
  r.optional("reply_to", a.reply_to);
  r.optional("summary", a.summary);
}
TYR_FIELDS(Sweep) { r.required("room", a.room); }
TYR_FIELDS(ListBan) {
  r.required("room", a.room);
  r.required("user", a.user);
  r.optional("reason", a.reason);
  r.required("list", a.list);
  r.required("state_key", a.state_key);
  r.optional("rule", a.rule);
  r.optional("shadow", a.shadow);
}
TYR_FIELDS(UnbanCheck) {
  r.required("list", a.list);
  r.required("state_key", a.state_key);
}
TYR_FIELDS(Unban) {
  r.required("room", a.room);
  r.required("user", a.user);
  r.optional("rule", a.rule);
}
TYR_FIELDS(Acl) { r.required("room", a.room); }
TYR_FIELDS(RedactUser) {
  r.required("room", a.room);
  r.required("user", a.user);
  if constexpr (std::is_same_v<R, Reader>)
    r.integer("window_s", a.window_s, false);
  else
    r.integer("window_s", a.window_s);
  r.optional("shadow", a.shadow);
  r.optional("report", a.report);
  r.optional("notice", a.notice);
}
TYR_FIELDS(RedactEvent) {
  r.required("room", a.room);
  r.required("event_id", a.event_id);
  r.optional("sender", a.sender);
  r.optional("reason", a.reason);
  r.why(a.why);
}
TYR_FIELDS(Kick) {
  r.required("room", a.room);
  r.required("user", a.user);
  r.optional("reason", a.reason);
  r.why(a.why);
}
TYR_FIELDS(Ban) {
  r.required("room", a.room);
  r.required("user", a.user);
  r.optional("reason", a.reason);
  r.why(a.why);
}
TYR_FIELDS(SetJoinRule) {
  r.required("room", a.room);
  r.optional("join_rule", a.join_rule);
  r.why(a.why);
}
TYR_FIELDS(RestoreJoinRule) {
  r.required("room", a.room);
  r.why(a.why);
}
TYR_FIELDS(Mute) {
  r.required("room", a.room);
  r.required("user", a.user);
  r.optional("reason", a.reason);
  r.optional("unmute", a.unmute);
  r.why(a.why);
}

TYR_FIELDS(Verify) { r.optional("reply_to", a.reply_to); }
TYR_FIELDS(Since) {
  r.required("room", a.room);
  if constexpr (std::is_same_v<R, Reader>)
    r.integer("since_ms", a.since_ms, true);
  else
    r.integer("since_ms", a.since_ms);
  r.required("verb", a.verb);
  r.optional("reason", a.reason);
  r.optional("reply_to", a.reply_to);
}
TYR_FIELDS(ImportBans) {
  r.required("room", a.room);
  r.required("list", a.list);
  r.optional("reply_to", a.reply_to);
}
TYR_FIELDS(AdminUser) {
  r.required("user", a.user);
  r.required("op", a.op);
  r.optional("reason", a.reason);
  r.optional("reply_to", a.reply_to);
}
TYR_FIELDS(ShutdownRoom) {
  r.required("room", a.room);
  r.optional("reason", a.reason);
  r.optional("reply_to", a.reply_to);
}
TYR_FIELDS(SetPolicyServer) {
  r.required("room", a.room);
  r.optional("disable", a.disable);
  r.optional("via", a.via);
  r.optional("public_key", a.public_key);
  r.optional("reply_to", a.reply_to);
}

TYR_FIELDS(Learn) {
  r.required("room", a.room);
  r.required("event_id", a.event_id);
  r.required("label", a.label);
  r.required("source", a.source);
  r.optional("reply_to", a.reply_to);
}

#undef TYR_FIELDS

// Decoders indexed like the variant, found by wire name.
template <class T>
Result<Action> decode_as(const nlohmann::json& j) {
  T a;
  Reader r(j, T::kName);
  fields(r, a);
  if (auto ok = r.result(); !ok) return ok.error();
  return Action{std::move(a)};
}

struct Codec {
  std::string_view name;
  Result<Action> (*decode)(const nlohmann::json&);
};

template <size_t... I>
constexpr auto make_codecs(std::index_sequence<I...>) {
  return std::array<Codec, sizeof...(I)>{
      Codec{std::variant_alternative_t<I, Action>::kName,
            &decode_as<std::variant_alternative_t<I, Action>>}...};
}

constexpr auto kCodecs = make_codecs(std::make_index_sequence<std::variant_size_v<Action>>{});

}  // namespace

std::string_view name_of(const Action& action) {
  return std::visit([](const auto& a) { return std::decay_t<decltype(a)>::kName; }, action);
}

Priority priority_of(const Action& action) {
  return std::visit([](const auto& a) { return std::decay_t<decltype(a)>::kPriority; }, action);
}

std::string_view verb_of(const Action& action) {
  if (std::holds_alternative<Ban>(action) || std::holds_alternative<ListBan>(action)) return "ban";
  if (std::holds_alternative<RedactEvent>(action)) return "redact";
  return name_of(action);
}

namespace {

struct LaneSpec {
  std::string_view name;
  bool per_room;
};

template <size_t... I>
constexpr auto make_lanes(std::index_sequence<I...>) {
  return std::array<LaneSpec, sizeof...(I)>{
      LaneSpec{std::variant_alternative_t<I, Action>::kName,
               std::variant_alternative_t<I, Action>::kPerRoom}...};
}

// Every action's lane kind, in the variant's order (an action without kPerRoom does not compile).
constexpr auto kLanes = make_lanes(std::make_index_sequence<std::variant_size_v<Action>>{});

}  // namespace

bool is_per_room(std::string_view kind) {
  for (const auto& lane : kLanes) {
    if (lane.name == kind) return lane.per_room;
  }
  return false;
}

const std::string& room_of(const Action& action) {
  static const std::string kNone;
  return std::visit(
      [](const auto& a) -> const std::string& {
        if constexpr (requires { a.room; })
          return a.room;
        else
          return kNone;
      },
      action);
}

const std::string& user_of(const Action& action) {
  static const std::string kNone;
  return std::visit(
      [](const auto& a) -> const std::string& {
        if constexpr (requires { a.user; })
          return a.user;
        else if constexpr (requires { a.sender; })
          return a.sender;
        else
          return kNone;
      },
      action);
}

Why* why_of(Action& action) {
  return std::visit(
      [](auto& a) -> Why* {
        if constexpr (requires { requires std::is_same_v<decltype(a.why), Why>; })
          return &a.why;
        else
          return nullptr;
      },
      action);
}

nlohmann::json encode(const Action& action) {
  return std::visit(
      [](const auto& a) {
        Writer w(std::decay_t<decltype(a)>::kName);
        fields(w, a);
        return w.take();
      },
      action);
}

Result<Action> decode(const nlohmann::json& json) {
  if (!json.is_object()) return Error{"TYR_BAD_ACTION", "action is not a JSON object"};
  auto kind = json.find("kind");
  if (kind == json.end() || !kind->is_string()) {
    return Error{"TYR_BAD_ACTION", "action has no 'kind'"};
  }
  const auto& name = kind->get_ref<const std::string&>();
  for (const auto& c : kCodecs) {
    if (c.name == name) return c.decode(json);
  }
  return Error{"TYR_BAD_ACTION", "unknown action kind '" + escape_untrusted(name, 64) + "'"};
}

uint64_t enqueue(Store& store, Batch& batch, const Action& action,
                 std::optional<Priority> priority) {
  return store.enqueue_action(batch, dump_json(encode(action)),
                              priority.value_or(priority_of(action)));
}

}  // namespace tyr::engine::actions
