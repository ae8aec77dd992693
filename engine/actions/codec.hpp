#pragma once
// The outbox's encoding of actions: a JSON object with the action's `kind` (its wire name) and
// its fields. Decoding is strict: an unknown kind, a missing required field or a field of the
// wrong type is an error naming the kind and the field, never an empty string. Fields left at
// their defaults are not written, so the encoding is what earlier versions wrote and read.

#include <string>

#include <nlohmann/json.hpp>

#include "engine/actions/action.hpp"
#include "engine/core/result.hpp"

namespace tyr::engine::actions {

nlohmann::json encode(const Action& action);
Result<Action> decode(const nlohmann::json& json);

// Queues an action in the outbox inside `batch` (priority: the action's own unless given).
uint64_t enqueue(Store& store, Batch& batch, const Action& action,
                 std::optional<Priority> priority = std::nullopt);

}  // namespace tyr::engine::actions
