#pragma once
// How the pipeline's stages (list enforcement, scoring, commands) speak in the management room.
// The bot implements it over the outbox; tests record what was said.

#include <string>
#include <string_view>

#include "engine/store/store.hpp"

namespace tyr::engine {

class ManagementNotices {
 public:
  virtual ~ManagementNotices() = default;
  // What Tyr did, would do or refused, within the notice budget of `category`; past it the
  // notice is counted and summarised once a minute. Queued after bans and redactions.
  virtual void post_notice(Batch& batch, std::string_view category, const std::string& body) = 0;
  // A notice an operator must see (answers, warnings): not budgeted.
  virtual void notify(Batch& batch, const std::string& body) = 0;
};

}  // namespace tyr::engine
