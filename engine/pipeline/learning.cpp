// The classifier's one homeserver call: a message it does not remember, fetched so that a
// moderator's `learn` or answered report can still teach it (engine/classifier/classifier.hpp).

#include "engine/core/clock.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/pipeline/bot.hpp"

namespace tyr::engine {

ActionOutcome Bot::run(uint64_t, const actions::Learn& a, Batch& batch) {
  classifier::Classifier* c = scoring_.classifier();
  if (c == nullptr) {
    enqueue_notice(batch, management_room_, "The classifier is off (classifier.enabled).",
                   a.reply_to);
    return {};
  }
  auto ev = client_.call(HttpRequest{"GET",
                                     "/_matrix/client/v3/rooms/" +
                                         HomeserverClient::encode_segment(a.room) + "/event/" +
                                         HomeserverClient::encode_segment(a.event_id),
                                     {},
                                     std::nullopt,
                                     {},
                                     {}});
  if (!ev) {
    if (is_retryable(ev.error())) return from_error("event " + a.event_id, ev.error());
    enqueue_notice(batch, management_room_,
                   "Cannot learn " + a.event_id + ": " + ev.error().to_string(), a.reply_to);
    return {};
  }
  std::string body;
  if (auto content = ev->find("content"); content != ev->end() && content->is_object())
    body = content->value("body", "");
  if (body.empty()) {
    enqueue_notice(batch, management_room_,
                   "Cannot learn " + a.event_id +
                       ": it has no text (redacted before Tyr saw it, or not a message).",
                   a.reply_to);
    return {};
  }
  const classifier::MessageRef ref{a.event_id, a.room, ev->value("sender", ""),
                                   ev->value("origin_server_ts", now_ms())};
  const auto source =
      a.source == "report" ? classifier::Source::kReport : classifier::Source::kCommand;
  auto learned = c->learn_text(batch, ref, body, source, a.label == "spam");
  if (learned)
    metrics::tyr_metrics().classifier_learned.with(classifier::source_name(source)).inc();
  enqueue_notice(batch, management_room_,
                 learned ? "Classifier: " + *learned : "Not learned: " + learned.error().message,
                 a.reply_to);
  return {};
}

}  // namespace tyr::engine
