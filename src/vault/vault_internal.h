// Internals shared by vault.cpp and master_key.cpp (not part of the vault's contract).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "vault/vault.h"

namespace oc::vault::internal {

// sodium_init() once per process.
Status EnsureSodium();

// 64 hex digits (either case; surrounding whitespace allowed) -> 32 bytes. False otherwise.
bool ParseHexKey(std::string_view text, std::array<unsigned char, 32>& out);
// The key as 64 lower-case hex digits (the caller wipes the string with Wipe()).
std::string KeyHex(const MasterKey& key);
// Overwrites the string's bytes, then empties it.
void Wipe(std::string& s);
// Stores the key (as hex) in the keyring item `slot` of its home.
Status StoreInKeyring(const MasterKey& key, const char* slot);

// Where a key came from, for messages: "OPENCLAWOS_VAULT_KEY", "the Secret Service keyring", the file.
std::string DescribeSource(const MasterKey& key);

// The key a rotation in progress staged for `current`'s source (<file>.new or the pending keyring
// item), nullopt when there is none (always for "env").
Result<std::optional<MasterKey>> LoadStagedKey(const MasterKey& current);
// Stages `key` (see above); "env": nothing to do.
Status StageKey(const MasterKey& key);
// Puts a staged key in place of the current one and drops the staged copy.
Status PromoteStagedKey(const MasterKey& staged);
// Drops a staged key after a rotation that did not commit (best effort).
void DropStagedKey(const MasterKey& staged);

}  // namespace oc::vault::internal
