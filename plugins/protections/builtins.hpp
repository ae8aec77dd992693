#pragma once
// The built-in protections' descriptors, one per file in this folder. They are listed, once,
// in plugins/registry.cpp; nothing registers itself.

#include "engine/protection/protection.hpp"

namespace tyr::plugins {

extern const protection::ProtectionDescriptor kFloodingProtection;
extern const protection::ProtectionDescriptor kMentionSpamProtection;
extern const protection::ProtectionDescriptor kLinkSpamProtection;
extern const protection::ProtectionDescriptor kFirstMessageProtection;
extern const protection::ProtectionDescriptor kLowPowerMediaProtection;
extern const protection::ProtectionDescriptor kJoinWaveProtection;
extern const protection::ProtectionDescriptor kInviteSpamProtection;
extern const protection::ProtectionDescriptor kNameAbuseProtection;
extern const protection::ProtectionDescriptor kCrossRoomRepeatProtection;
extern const protection::ProtectionDescriptor kNewMemberGraceProtection;

}  // namespace tyr::plugins
