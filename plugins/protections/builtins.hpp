#pragma once
// The built-in protections' descriptors, one per file in this folder. They are listed, once,
// in plugins/registry.cpp; nothing registers itself.

#include "engine/protection/protection.hpp"

namespace tyr::plugins::protections {

extern const engine::protection::ProtectionDescriptor kFloodingProtection;
extern const engine::protection::ProtectionDescriptor kMentionSpamProtection;
extern const engine::protection::ProtectionDescriptor kLinkSpamProtection;
extern const engine::protection::ProtectionDescriptor kFirstMessageProtection;
extern const engine::protection::ProtectionDescriptor kLowPowerMediaProtection;
extern const engine::protection::ProtectionDescriptor kJoinWaveProtection;
extern const engine::protection::ProtectionDescriptor kInviteSpamProtection;
extern const engine::protection::ProtectionDescriptor kNameAbuseProtection;
extern const engine::protection::ProtectionDescriptor kCrossRoomRepeatProtection;
extern const engine::protection::ProtectionDescriptor kNewMemberGraceProtection;

}  // namespace tyr::plugins::protections
