#pragma once
// What the `classifier:` config section sets (docs/configuration.md, docs/classifier.md): how
// the model's opinion becomes a score, when it leaves shadow mode, and what it learns from.

#include <cstdint>

namespace tyr::engine::classifier {

struct ClassifierOptions {
  bool enabled = true;
  // One model per protected room instead of one for all (scope: room).
  bool per_room = false;
  // Shadow (its hits recorded, never counted) until the model has learned this many messages
  // of each class.
  uint32_t min_spam = 30;
  uint32_t min_ham = 30;
  // classifier/SPAM: at probability `spam_above` it adds 0, rising linearly to `spam_score` at
  // probability 1. classifier/HAM: at `ham_below` 0, falling to `ham_score` at probability 0.
  double spam_score = 8.0;
  double spam_above = 0.8;
  double ham_score = -3.0;
  double ham_below = 0.1;
  // What moderators do that teaches it spam.
  bool learn_redactions = true;  // a moderator redacts another user's message
  bool learn_bans = true;        // a ban with a reason: the user's recent messages
  bool learn_reports = true;     // `report … redact|ban` on a reported message
  // Ham: a sampled share of messages Tyr allowed that nobody redacted for `ham_after_ms`, at
  // most `ham_per_room_hour` per room per hour (chatty rooms do not drown the rest).
  int64_t ham_after_ms = 6 * 3'600'000;
  double ham_sample = 0.25;
  uint32_t ham_per_room_hour = 30;
  // Bounds: the model (features), the learned-example records kept for undo, the recent
  // messages remembered (hashed) for learning from a later redaction or ban, and the ham
  // candidates waiting out `ham_after_ms`.
  uint32_t max_features = 1'000'000;
  uint32_t decay_at = 30'000;
  uint32_t max_examples = 100'000;
  uint32_t max_recent = 20'000;
  uint32_t max_ham_waiting = 20'000;
};

}  // namespace tyr::engine::classifier
