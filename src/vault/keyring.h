// The Secret Service side of the vault (internal to oc_vault): one keyring item per OpenClawOS home,
// schema "org.openclawos.Vault", attributes home=<canonical home> and slot="current"|"pending"
// (a key staged by a rotation in progress). Values are the key as 64 hex digits.
//
// Every call is synchronous and bounded (kCallTimeout): a keyring that waits for a prompt or an
// activation that never finishes is reported as unreachable instead of hanging the caller.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "common/status.h"
#include "config/config.h"

namespace oc::vault::keyring {

inline constexpr auto kCallTimeout = std::chrono::seconds(10);
inline constexpr const char* kCurrent = "current";
inline constexpr const char* kPending = "pending";

// Why the Secret Service must not even be tried (no session bus, so libsecret would try to
// autolaunch one), or nullopt when a bus is there.
std::optional<std::string> BusMissing(const config::EnvLookup& env);

// The item's value, nullopt when there is none. kUnauthorized-free: any D-Bus / keyring failure is
// kConnectionClosed with libsecret's message (= keyring unreachable).
Result<std::optional<std::string>> Lookup(const std::filesystem::path& home, const char* slot);
Status Store(const std::filesystem::path& home, const char* slot, const std::string& value);
Status Clear(const std::filesystem::path& home, const char* slot);

}  // namespace oc::vault::keyring
