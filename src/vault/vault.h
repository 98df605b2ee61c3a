// The credential vault (SPEC §12, issue 8): named secrets stored in state.db, each sealed with
// libsodium's XChaCha20-Poly1305 (IETF AEAD) under a 256-bit master key, the secret's name bound as
// associated data (a row copied under another name does not open).
//
// Contract in brief:
// - The master key comes from, in order: $OPENCLAWOS_VAULT_KEY (64 hex digits); the Secret Service
//   keyring through libsecret when a session bus is reachable; <home>/vault.key (0600, 32 raw bytes
//   or 64 hex digits). A missing key is created only when the vault holds no secrets yet (in the
//   keyring when reachable, else in vault.key with a warning); never over an existing vault, so
//   callers pass create_if_missing = !Vault::Exists(db).
// - Open() checks the key against the vault's key check before anything else. A key that does not
//   match fails with kUnauthorized and a message naming the key's source and the fix; nothing is
//   written, so a wrong key can never destroy secrets.
// - Every change is one transaction that also bumps vault_meta "generation". Writes verify the key
//   check inside their transaction, so a Vault still holding a key another process rotated away
//   fails (kUnauthorized: reload the key and Open again) instead of sealing under a dead key.
// - RotateMasterKey() re-seals every secret and the key check under a new key in ONE transaction
//   and stores the new key in the same source. Crash-safe: the new key is staged first
//   (<home>/vault.key.new, or a "pending" keyring item), and Open() finishes an interrupted
//   rotation (the current key does not open the vault but the staged one does -> it is promoted).
// - Values: 1..kMaxValueBytes bytes.
// - Values never reach a log line, an error message or an audit row: errors name the secret only.
// - Names: 1..128 chars of [A-Za-z0-9_.:/-] (the pattern config's {"$secret": NAME} accepts).
// - Threading: like store::Database, one thread per Vault (it uses the caller's Database).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "store/database.h"

namespace oc::vault {

// 32 bytes, wiped on destruction. `source` says where it came from, for messages and `doctor`:
// "env" (OPENCLAWOS_VAULT_KEY), "keyring" (Secret Service), "file" (<home>/vault.key).
struct MasterKey {
  std::array<unsigned char, 32> bytes{};
  std::string source;
  std::filesystem::path file;  // the key file when source == "file"
  std::filesystem::path home;  // canonical <home>: names the keyring item, locates vault.key(.new)
  MasterKey() = default;
  MasterKey(const MasterKey&) = default;
  MasterKey& operator=(const MasterKey&) = default;
  ~MasterKey();
};

struct KeyOptions {
  std::filesystem::path home;                       // <home>; vault.key lives there
  config::EnvLookup env = config::ProcessEnv();      // OPENCLAWOS_VAULT_KEY, DBUS_SESSION_BUS_ADDRESS
  bool create_if_missing = false;                    // make a new key when none exists anywhere
  bool use_keyring = true;                           // false: skip the Secret Service (tests)
};

// Finds the master key (see the order above). kNotFound when there is none and create_if_missing
// is false. `warnings` receives human-readable notes ("vault key stored in <file> (no keyring
// reachable); ...", "vault: keyring lookup failed: ...; the keyring is not used"). Keyring calls
// block for at most 10 s each.
Result<MasterKey> LoadMasterKey(const KeyOptions& options, std::vector<std::string>* warnings = nullptr);

// Whether a Secret Service is reachable now (for `doctor`), with the reason when it is not.
struct KeyringProbe {
  bool reachable = false;
  std::string detail;
};
KeyringProbe ProbeKeyring(const config::EnvLookup& env);

struct SecretInfo {
  std::string name;
  int64_t created_at_ms = 0, updated_at_ms = 0;
};

class Vault {
 public:
  // Opens the vault in `db` (migrated state.db) with `key`. An empty vault (no key check yet) adopts
  // `key` (writes its key check, generation 0). Finishes an interrupted rotation (see above). Wrong key: kUnauthorized ("vault: the master key from <source> does not open this vault
  // ...").
  static Result<std::unique_ptr<Vault>> Open(store::Database& db, MasterKey key);
  // Whether `db` already has a key check (a vault was ever created).
  static Result<bool> Exists(store::Database& db);

  Status Set(std::string_view name, std::string_view value);  // insert or replace
  Result<std::string> Get(std::string_view name);              // kNotFound: 'no secret "NAME" in the vault'
  Result<std::vector<SecretInfo>> List();                      // sorted by name
  Status Remove(std::string_view name);                        // kNotFound when absent
  // Every value (name -> value), for the kernel's redaction list.
  Result<std::vector<std::pair<std::string, std::string>>> All();
  // Re-seals everything under `new_key` atomically; afterwards this Vault uses `new_key`. Does not
  // store the key anywhere: RotateMasterKey is the crash-safe whole (stage, re-seal, store).
  Status Rotate(const MasterKey& new_key);
  // Bumped by every change (Set/Remove/Rotate) from any process: cheap to poll.
  Result<int64_t> Generation();

  const MasterKey& key() const { return key_; }

 private:
  friend Status RotateMasterKey(Vault& vault, const MasterKey& new_key);
  Vault(store::Database& db, MasterKey key) : db_(db), key_(std::move(key)) {}
  // Rotate(), first running `stage` (puts the new key somewhere durable) inside the transaction, so
  // the database's write lock also serialises concurrent rotations' staging.
  Status RotateStaged(const MasterKey& new_key, const std::function<Status()>& stage);
  // Inside a transaction: the key still opens the vault (kUnauthorized when it was rotated away).
  Status CheckKey();
  // Why `name`'s row did not decrypt (a rotated key, or an altered / moved row).
  Error UnsealFailure(std::string_view name);
  store::Database& db_;
  MasterKey key_;
};

// A fresh random key (source left empty).
MasterKey GenerateKey();
// Stores `key` in its source: "keyring" -> Secret Service, "file" -> key.file written atomically
// (temp file 0600 + fsync + rename). "env" cannot be stored: kInvalidParams with the fix.
Status StoreMasterKey(const MasterKey& key);

// Valid secret name?
bool IsValidSecretName(std::string_view name);
// The same, as kInvalidParams 'invalid secret name "NAME": use 1-128 characters of ...'.
Status CheckSecretName(std::string_view name);

inline constexpr size_t kMaxValueBytes = 64 * 1024;
// 1..kMaxValueBytes bytes? kInvalidParams naming the secret (never the value) otherwise.
Status CheckSecretValue(std::string_view name, std::string_view value);

// The key a rotation of `current` moves to, with the same source/home/file: random for "file" and
// "keyring"; for "env" it is $OPENCLAWOS_VAULT_NEW_KEY (64 hex digits), required: kInvalidParams
// naming the variable when it is unset, malformed or equal to the current key.
Result<MasterKey> NextKey(const MasterKey& current, const config::EnvLookup& env);

// The whole crash-safe rotation: stages `new_key` (file: <file>.new written atomically; keyring: a
// pending item), vault.Rotate(new_key), then puts it in place of the old key (file: rename over
// vault.key; keyring: replace the item) and drops the staged copy. "env": nothing is stored; the
// caller tells the user to switch OPENCLAWOS_VAULT_KEY. On an error before the commit the vault
// and the old key are unchanged.
Status RotateMasterKey(Vault& vault, const MasterKey& new_key);

}  // namespace oc::vault
