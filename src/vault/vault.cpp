// The vault's rows: vault_secrets(name, nonce, ciphertext, created_at, updated_at) and vault_meta
// {key_check: nonce || sealed known text, generation: integer}. Every value is sealed with
// XChaCha20-Poly1305 (IETF) under a fresh random 24-byte nonce, the secret's name as associated data.
//
// Rotation is crash-safe because of its order (RotateMasterKey): stage the new key next to the old
// one, re-seal everything + the key check in ONE transaction, commit, then put the new key in place.
// Before the commit the old key opens the vault; after it the staged key does, and Open() promotes it.
#include <sodium.h>
#include <sqlite3.h>

#include <algorithm>

#include "common/json.h"
#include "vault/vault.h"
#include "vault/vault_internal.h"

namespace oc::vault {
namespace {

using internal::Wipe;

constexpr std::string_view kKeyCheckAd = "openclawos-vault-key-check";
constexpr std::string_view kKeyCheckText = "openclawos vault key check v1";
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kMaxNameChars = 128;

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

struct Sealed {
  std::string nonce, ciphertext;
};

Sealed Seal(const MasterKey& key, std::string_view ad, std::string_view plain) {
  Sealed out;
  out.nonce.resize(kNonceBytes);
  randombytes_buf(out.nonce.data(), out.nonce.size());
  out.ciphertext.resize(plain.size() + kTagBytes);
  unsigned long long length = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(out.ciphertext.data()), &length,
                                             Bytes(plain), plain.size(), Bytes(ad), ad.size(), nullptr,
                                             Bytes(out.nonce), key.bytes.data());
  out.ciphertext.resize(length);
  return out;
}

// The plaintext, or nullopt when the tag does not verify (wrong key, altered row, other name).
std::optional<std::string> Unseal(const MasterKey& key, std::string_view ad, std::string_view nonce,
                                  std::string_view ciphertext) {
  if (nonce.size() != kNonceBytes || ciphertext.size() < kTagBytes) return std::nullopt;
  std::string plain(ciphertext.size() - kTagBytes, '\0');
  unsigned long long length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &length, nullptr,
                                                 Bytes(ciphertext), ciphertext.size(), Bytes(ad), ad.size(),
                                                 Bytes(nonce), key.bytes.data()) != 0) {
    Wipe(plain);
    return std::nullopt;
  }
  plain.resize(length);
  return plain;
}

std::string SealKeyCheck(const MasterKey& key) {
  Sealed sealed = Seal(key, kKeyCheckAd, kKeyCheckText);
  return sealed.nonce + sealed.ciphertext;
}

bool KeyOpens(const MasterKey& key, std::string_view check) {
  if (check.size() < kNonceBytes) return false;
  auto text = Unseal(key, kKeyCheckAd, check.substr(0, kNonceBytes), check.substr(kNonceBytes));
  return text && *text == kKeyCheckText;
}

Result<std::optional<std::string>> ReadKeyCheck(store::Database& db) {
  std::optional<std::string> check;
  OC_TRY(db.Query("SELECT value FROM vault_meta WHERE key = 'key_check'", {},
                  [&](const store::Row& row) { check = std::string(row.BlobBytes(0)); }));
  return check;
}

Status WriteKeyCheck(store::Database& db, const MasterKey& key) {
  std::string check = SealKeyCheck(key);
  return db.Run("INSERT INTO vault_meta(key, value) VALUES('key_check', ?1) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                {store::Blob{check}});
}

Status BumpGeneration(store::Database& db) {
  return db.Run(
      "INSERT INTO vault_meta(key, value) VALUES('generation', 1) "
      "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1");
}

std::string DatabaseName(store::Database& db) {
  const char* name = sqlite3_db_filename(db.handle(), "main");
  return name && *name ? name : "the in-memory database";
}

Error WrongKey(store::Database& db, const MasterKey& key) {
  std::string key_file = key.home.empty() ? "<home>/vault.key" : (key.home / "vault.key").string();
  return MakeError(ErrorCode::kUnauthorized, "vault: the master key from " + internal::DescribeSource(key) +
                                                 " does not open this vault (" + DatabaseName(db) +
                                                 "); set OPENCLAWOS_VAULT_KEY or restore " + key_file);
}

Error InvalidName(std::string_view name) {
  std::string shown(name.substr(0, kMaxNameChars));
  return MakeError(ErrorCode::kInvalidParams, "invalid secret name \"" + shown +
                                                  "\": use 1-128 characters of A-Z a-z 0-9 _ . : / -");
}

// Adopts `key` for a vault that has no key check yet, in one transaction (another process may have
// adopted its own key meanwhile: then that key check decides).
Status Adopt(store::Database& db, const MasterKey& key) {
  return db.InTransaction([&]() -> Status {
    OC_ASSIGN(auto check, ReadKeyCheck(db));
    if (check) return KeyOpens(key, *check) ? Status::Ok() : Status(WrongKey(db, key));
    OC_ASSIGN(auto count, db.QueryInt("SELECT count(*) FROM vault_secrets"));
    if (count.value_or(0) > 0)
      return MakeError(ErrorCode::kInternalError, "vault: " + DatabaseName(db) +
                                                      " holds secrets but no key check; refusing to adopt a new key");
    OC_TRY(WriteKeyCheck(db, key));
    return db.Run("INSERT OR IGNORE INTO vault_meta(key, value) VALUES('generation', 0)");
  });
}

Result<std::vector<std::pair<std::string, Sealed>>> ReadAllSealed(store::Database& db) {
  std::vector<std::pair<std::string, Sealed>> rows;
  OC_TRY(db.Query("SELECT name, nonce, ciphertext FROM vault_secrets ORDER BY name", {}, [&](const store::Row& r) {
    rows.emplace_back(r.Text(0), Sealed{std::string(r.BlobBytes(1)), std::string(r.BlobBytes(2))});
  }));
  return rows;
}

}  // namespace

bool IsValidSecretName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameChars) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '/' || c == '-';
  });
}

Status CheckSecretName(std::string_view name) {
  return IsValidSecretName(name) ? Status::Ok() : Status(InvalidName(name));
}

Status CheckSecretValue(std::string_view name, std::string_view value) {
  if (value.empty()) return MakeError(ErrorCode::kInvalidParams, "secret \"" + std::string(name) + "\": the value is empty");
  if (value.size() > kMaxValueBytes)
    return MakeError(ErrorCode::kInvalidParams, "secret \"" + std::string(name) + "\": the value is " +
                                                    std::to_string(value.size()) + " bytes; at most " +
                                                    std::to_string(kMaxValueBytes) + " are allowed");
  return Status::Ok();
}

Result<std::unique_ptr<Vault>> Vault::Open(store::Database& db, MasterKey key) {
  OC_TRY(internal::EnsureSodium());
  OC_ASSIGN(auto check, ReadKeyCheck(db));
  if (!check) {
    OC_TRY(Adopt(db, key));
    return std::unique_ptr<Vault>(new Vault(db, std::move(key)));
  }
  if (KeyOpens(key, *check)) return std::unique_ptr<Vault>(new Vault(db, std::move(key)));
  // A rotation that committed but crashed before its key was put in place: finish it.
  auto staged = internal::LoadStagedKey(key);
  if (staged.ok() && *staged && KeyOpens(**staged, *check)) {
    OC_TRY(internal::PromoteStagedKey(**staged));
    return std::unique_ptr<Vault>(new Vault(db, std::move(**staged)));
  }
  return WrongKey(db, key);
}

Result<bool> Vault::Exists(store::Database& db) {
  OC_ASSIGN(auto check, ReadKeyCheck(db));
  return check.has_value();
}

// Inside a write transaction: the key this Vault holds still opens the vault.
Status Vault::CheckKey() {
  OC_ASSIGN(auto check, ReadKeyCheck(db_));
  if (!check) return MakeError(ErrorCode::kInternalError, "vault: the key check is missing from " + DatabaseName(db_));
  if (!KeyOpens(key_, *check))
    return MakeError(ErrorCode::kUnauthorized,
                     "vault: the master key changed (rotated by another process?); load it and open the vault again");
  return Status::Ok();
}

// Why `name`'s row did not decrypt: a key rotated away under us, or a damaged / moved row.
Error Vault::UnsealFailure(std::string_view name) {
  Status key_ok = CheckKey();
  if (!key_ok.ok()) return key_ok.error();
  return MakeError(ErrorCode::kInternalError, "vault: secret \"" + std::string(name) +
                                                  "\" does not decrypt: its row was altered or copied from "
                                                  "another name; set it again");
}

Status Vault::Set(std::string_view name, std::string_view value) {
  OC_TRY(CheckSecretName(name));
  OC_TRY(CheckSecretValue(name, value));
  return db_.InTransaction([&]() -> Status {
    OC_TRY(CheckKey());
    Sealed sealed = Seal(key_, name, value);
    int64_t now = NowMs();
    OC_TRY(db_.Run("INSERT INTO vault_secrets(name, nonce, ciphertext, created_at, updated_at) "
                   "VALUES(?1, ?2, ?3, ?4, ?4) ON CONFLICT(name) DO UPDATE SET nonce = excluded.nonce, "
                   "ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                   {name, store::Blob{sealed.nonce}, store::Blob{sealed.ciphertext}, now}));
    return BumpGeneration(db_);
  });
}

Result<std::string> Vault::Get(std::string_view name) {
  OC_TRY(CheckSecretName(name));
  std::optional<Sealed> row;
  OC_TRY(db_.Query("SELECT nonce, ciphertext FROM vault_secrets WHERE name = ?1", {name}, [&](const store::Row& r) {
    row = Sealed{std::string(r.BlobBytes(0)), std::string(r.BlobBytes(1))};
  }));
  if (!row) return MakeError(ErrorCode::kNotFound, "no secret \"" + std::string(name) + "\" in the vault");
  auto plain = Unseal(key_, name, row->nonce, row->ciphertext);
  if (!plain) return UnsealFailure(name);
  return std::move(*plain);
}

Result<std::vector<SecretInfo>> Vault::List() {
  std::vector<SecretInfo> out;
  OC_TRY(db_.Query("SELECT name, created_at, updated_at FROM vault_secrets ORDER BY name", {},
                   [&](const store::Row& r) { out.push_back({r.Text(0), r.Int(1), r.Int(2)}); }));
  return out;
}

Status Vault::Remove(std::string_view name) {
  OC_TRY(CheckSecretName(name));
  return db_.InTransaction([&]() -> Status {
    OC_TRY(CheckKey());
    OC_ASSIGN(auto removed, db_.Update("DELETE FROM vault_secrets WHERE name = ?1", {name}));
    if (removed == 0) return MakeError(ErrorCode::kNotFound, "no secret \"" + std::string(name) + "\" in the vault");
    return BumpGeneration(db_);
  });
}

Result<std::vector<std::pair<std::string, std::string>>> Vault::All() {
  OC_ASSIGN(auto rows, ReadAllSealed(db_));
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, sealed] : rows) {
    auto plain = Unseal(key_, name, sealed.nonce, sealed.ciphertext);
    if (!plain) {
      for (auto& [n, value] : out) Wipe(value);
      return UnsealFailure(name);
    }
    out.emplace_back(name, std::move(*plain));
  }
  return out;
}

Status Vault::Rotate(const MasterKey& new_key) { return RotateStaged(new_key, [] { return Status::Ok(); }); }

Status Vault::RotateStaged(const MasterKey& new_key, const std::function<Status()>& stage) {
  Status rotated = db_.InTransaction([&]() -> Status {
    OC_TRY(CheckKey());
    OC_TRY(stage());
    OC_ASSIGN(auto rows, ReadAllSealed(db_));
    for (auto& [name, sealed] : rows) {
      auto plain = Unseal(key_, name, sealed.nonce, sealed.ciphertext);
      if (!plain) return UnsealFailure(name);
      Sealed resealed = Seal(new_key, name, *plain);
      Wipe(*plain);
      OC_TRY(db_.Run("UPDATE vault_secrets SET nonce = ?2, ciphertext = ?3 WHERE name = ?1",
                     {std::string_view(name), store::Blob{resealed.nonce}, store::Blob{resealed.ciphertext}}));
    }
    OC_TRY(WriteKeyCheck(db_, new_key));
    return BumpGeneration(db_);
  });
  if (rotated.ok()) key_ = new_key;
  return rotated;
}

Result<int64_t> Vault::Generation() {
  OC_ASSIGN(auto generation, db_.QueryInt("SELECT CAST(value AS INTEGER) FROM vault_meta WHERE key = 'generation'"));
  return generation.value_or(0);
}

Status RotateMasterKey(Vault& vault, const MasterKey& new_key) {
  if (new_key.source != vault.key().source)
    return MakeError(ErrorCode::kInvalidParams, "vault: the new key must live where the current one does (" +
                                                    vault.key().source + ")");
  bool staged = false;
  Status rotated = vault.RotateStaged(new_key, [&]() -> Status {
    staged = true;
    return internal::StageKey(new_key);
  });
  if (!rotated.ok()) {
    if (staged) internal::DropStagedKey(new_key);
    return rotated;
  }
  if (new_key.source == "env") return Status::Ok();  // the user switches the variable
  return internal::PromoteStagedKey(new_key);
}

}  // namespace oc::vault
