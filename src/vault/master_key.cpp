// Where the vault's master key lives: $OPENCLAWOS_VAULT_KEY, the Secret Service, or <home>/vault.key.
// Key files are written atomically (temp file 0600 + fsync + rename/link + fsync of the directory),
// so a crash leaves either the old file or the new one, never a torn key.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "vault/keyring.h"
#include "vault/vault.h"
#include "vault/vault_internal.h"

namespace oc::vault {
namespace fs = std::filesystem;
using internal::KeyHex;
using internal::ParseHexKey;
using internal::Wipe;

MasterKey::~MasterKey() { sodium_memzero(bytes.data(), bytes.size()); }

namespace {

constexpr size_t kMaxKeyFileBytes = 256;

Error Errno(const std::string& what, const fs::path& path, int err) {
  return MakeError(ErrorCode::kInternalError, "vault: cannot " + what + " " + path.string() + ": " + std::strerror(err));
}

fs::path StagedFile(const fs::path& file) { return fs::path(file.string() + ".new"); }

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Owner, permission and content checks, then the key. The read buffer is wiped.
Result<MasterKey> ReadKeyFile(const fs::path& file, const fs::path& key_file, const fs::path& home) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("read", file, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return MakeError(ErrorCode::kInternalError, "vault: " + file.string() + " is not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return MakeError(ErrorCode::kForbidden, "vault: " + file.string() + " is owned by uid " + std::to_string(st.st_uid) +
                                                ", not by this user (uid " + std::to_string(::geteuid()) +
                                                "); run `chown " + std::to_string(::geteuid()) + " " + file.string() + "`");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return MakeError(ErrorCode::kForbidden, "vault: " + file.string() + " has mode " + Octal(st.st_mode) +
                                                ": other users may read the vault key; run `chmod 600 " +
                                                file.string() + "`");
  }
  std::string text(kMaxKeyFileBytes + 1, '\0');
  ssize_t n = ::read(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  if (n < 0) {
    Wipe(text);
    return Errno("read", file, err);
  }
  text.resize(static_cast<size_t>(n));
  MasterKey key;
  key.source = "file";
  key.file = key_file;
  key.home = home;
  bool ok = false;
  if (text.size() == key.bytes.size()) {
    std::memcpy(key.bytes.data(), text.data(), key.bytes.size());
    ok = true;
  } else {
    ok = ParseHexKey(text, key.bytes);
  }
  Wipe(text);
  if (!ok)
    return MakeError(ErrorCode::kInternalError,
                     "vault: " + file.string() + " is not a vault key (32 bytes or 64 hex digits expected)");
  return key;
}

void SyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Writes `key` as hex to a private temp file next to `file`, then renames it over `file`
// (replace) or links it in place only when `file` does not exist yet (kConflict when it does).
Status WriteKeyFile(const fs::path& file, const MasterKey& key, bool replace) {
  fs::path temp = file.string() + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("create", temp, errno);
  std::string text = KeyHex(key) + "\n";
  bool written = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                 ::fsync(fd) == 0;
  int err = errno;
  Wipe(text);
  ::close(fd);
  if (!written) {
    ::unlink(temp.c_str());
    return Errno("write", temp, err);
  }
  int rc = replace ? ::rename(temp.c_str(), file.c_str()) : ::link(temp.c_str(), file.c_str());
  err = errno;
  if (!replace || rc != 0) ::unlink(temp.c_str());
  if (rc != 0) {
    if (err == EEXIST) return MakeError(ErrorCode::kConflict, "vault: " + file.string() + " already exists");
    return Errno(replace ? "replace" : "create", file, err);
  }
  SyncDirectory(file.parent_path());
  return Status::Ok();
}

Result<MasterKey> KeyFromHex(std::string hex, const char* source, const fs::path& home, const std::string& what) {
  MasterKey key;
  key.source = source;
  key.home = home;
  bool ok = ParseHexKey(hex, key.bytes);
  Wipe(hex);
  if (!ok) return MakeError(ErrorCode::kInternalError, "vault: " + what + " is not a vault key (64 hex digits expected)");
  return key;
}

// The keyring's item for `home` in `slot`; kConnectionClosed when the keyring is unreachable.
Result<std::optional<MasterKey>> FromKeyring(const fs::path& home, const char* slot) {
  OC_ASSIGN(auto hex, keyring::Lookup(home, slot));
  if (!hex) return std::optional<MasterKey>();
  OC_ASSIGN(auto key, KeyFromHex(std::move(*hex), "keyring", home, "the keyring item for " + home.string()));
  return std::optional<MasterKey>(std::move(key));
}

fs::path CanonicalHome(const fs::path& home) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(home, ec);
  return ec ? home.lexically_normal() : canonical;
}

// Creates a key for a new vault: in the keyring when it is reachable, else in <home>/vault.key.
Result<MasterKey> CreateKey(const fs::path& home, bool keyring_reachable, std::vector<std::string>* warnings) {
  MasterKey key = GenerateKey();
  key.home = home;
  if (keyring_reachable) {
    key.source = "keyring";
    Status stored = StoreMasterKey(key);
    if (stored.ok()) return key;
    if (warnings) warnings->push_back("vault: could not store the key in the keyring: " + stored.error().message);
  }
  key.source = "file";
  key.file = home / "vault.key";
  std::error_code ec;
  fs::create_directories(home, ec);
  Status written = WriteKeyFile(key.file, key, /*replace=*/false);
  if (!written.ok() && written.error().code == ErrorCode::kConflict)
    return ReadKeyFile(key.file, key.file, home);  // another process created it first: use theirs
  OC_TRY(written);
  if (warnings)
    warnings->push_back("vault key stored in " + key.file.string() +
                        " (no keyring reachable); `openclaw doctor` explains");
  return key;
}

}  // namespace

namespace internal {

Status EnsureSodium() {
  static const int rc = sodium_init();  // thread-safe once; 1 = already initialised
  if (rc < 0) return MakeError(ErrorCode::kInternalError, "vault: libsodium failed to initialise");
  return Status::Ok();
}

bool ParseHexKey(std::string_view text, std::array<unsigned char, 32>& out) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.size() != out.size() * 2) return false;
  size_t bin_len = 0;
  return sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &bin_len, nullptr) == 0 &&
         bin_len == out.size();
}

std::string KeyHex(const MasterKey& key) {
  std::string hex(key.bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), key.bytes.data(), key.bytes.size());
  hex.pop_back();
  return hex;
}

void Wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// The key as hex in the keyring item `slot` of its home; the hex copy is wiped afterwards.
Status StoreInKeyring(const MasterKey& key, const char* slot) {
  std::string hex = KeyHex(key);
  Status stored = keyring::Store(key.home, slot, hex);
  Wipe(hex);
  return stored;
}

std::string DescribeSource(const MasterKey& key) {
  if (key.source == "env") return "OPENCLAWOS_VAULT_KEY";
  if (key.source == "keyring") return "the Secret Service keyring";
  if (key.source == "file") return key.file.string();
  return "the given key";
}

Result<std::optional<MasterKey>> LoadStagedKey(const MasterKey& current) {
  if (current.source == "keyring") return FromKeyring(current.home, keyring::kPending);
  if (current.source != "file") return std::optional<MasterKey>();
  fs::path staged = StagedFile(current.file);
  std::error_code ec;
  if (!fs::exists(staged, ec)) return std::optional<MasterKey>();
  OC_ASSIGN(auto key, ReadKeyFile(staged, current.file, current.home));
  return std::optional<MasterKey>(std::move(key));
}

Status StageKey(const MasterKey& key) {
  if (key.source == "keyring") return StoreInKeyring(key, keyring::kPending);
  if (key.source == "file") return WriteKeyFile(StagedFile(key.file), key, /*replace=*/true);
  return Status::Ok();
}

Status PromoteStagedKey(const MasterKey& staged) {
  if (staged.source == "keyring") {
    OC_TRY(StoreMasterKey(staged));
    (void)keyring::Clear(staged.home, keyring::kPending);  // a leftover pending item is never used unless it opens
    return Status::Ok();
  }
  if (staged.source != "file") return Status::Ok();
  fs::path from = StagedFile(staged.file);
  if (::rename(from.c_str(), staged.file.c_str()) != 0) {
    int err = errno;
    // Another process may have finished the same rotation first: fine if the file holds our key.
    auto now = ReadKeyFile(staged.file, staged.file, staged.home);
    if (err == ENOENT && now.ok() && sodium_memcmp(now->bytes.data(), staged.bytes.data(), staged.bytes.size()) == 0)
      return Status::Ok();
    return Errno("rename " + from.string() + " to", staged.file, err);
  }
  SyncDirectory(staged.file.parent_path());
  return Status::Ok();
}

void DropStagedKey(const MasterKey& staged) {
  if (staged.source == "keyring") (void)keyring::Clear(staged.home, keyring::kPending);
  if (staged.source == "file") ::unlink(StagedFile(staged.file).c_str());
}

}  // namespace internal

MasterKey GenerateKey() {
  (void)internal::EnsureSodium();
  MasterKey key;
  crypto_aead_xchacha20poly1305_ietf_keygen(key.bytes.data());
  return key;
}

Result<MasterKey> LoadMasterKey(const KeyOptions& options, std::vector<std::string>* warnings) {
  OC_TRY(internal::EnsureSodium());
  const fs::path home = CanonicalHome(options.home);
  if (auto env = options.env("OPENCLAWOS_VAULT_KEY"); env && !env->empty()) {
    MasterKey key;
    key.source = "env";
    key.home = home;
    if (!ParseHexKey(*env, key.bytes))
      return MakeError(ErrorCode::kInvalidParams, "OPENCLAWOS_VAULT_KEY must be 64 hex digits");
    return key;
  }
  const fs::path file = home / "vault.key";
  bool keyring_reachable = false;
  if (options.use_keyring && !keyring::BusMissing(options.env)) {
    auto found = FromKeyring(home, keyring::kCurrent);
    if (found.ok() && *found) return std::move(**found);
    if (found.ok()) {
      keyring_reachable = true;
    } else if (found.error().code == ErrorCode::kConnectionClosed) {
      if (warnings) warnings->push_back("vault: " + found.error().message + "; the keyring is not used");
    } else {
      return found.error();
    }
  }
  std::error_code ec;
  if (fs::exists(file, ec)) return ReadKeyFile(file, file, home);
  if (fs::exists(StagedFile(file), ec))
    return MakeError(ErrorCode::kConflict, "vault: " + file.string() + " is missing but " + StagedFile(file).string() +
                                               " exists (an interrupted key rotation?); run `mv " +
                                               StagedFile(file).string() + " " + file.string() + "`");
  if (!options.create_if_missing)
    return MakeError(ErrorCode::kNotFound, "vault: no master key: OPENCLAWOS_VAULT_KEY is unset, " +
                                               std::string(keyring_reachable ? "the keyring has none for this home"
                                                                             : "no keyring is reachable") +
                                               " and " + file.string() + " does not exist");
  return CreateKey(home, keyring_reachable, warnings);
}

KeyringProbe ProbeKeyring(const config::EnvLookup& env) {
  if (auto missing = keyring::BusMissing(env)) return {false, *missing};
  auto probe = keyring::Lookup("(openclawos keyring probe)", keyring::kCurrent);
  if (!probe.ok()) return {false, probe.error().message};
  return {true, "a Secret Service answers on the session bus"};
}

Status StoreMasterKey(const MasterKey& key) {
  if (key.source == "keyring") return internal::StoreInKeyring(key, keyring::kCurrent);
  if (key.source == "file") {
    if (key.file.empty()) return MakeError(ErrorCode::kInvalidParams, "vault: the key has no file to be stored in");
    return WriteKeyFile(key.file, key, /*replace=*/true);
  }
  if (key.source == "env")
    return MakeError(ErrorCode::kInvalidParams,
                     "vault: a key from OPENCLAWOS_VAULT_KEY cannot be stored; set the variable to the new key yourself");
  return MakeError(ErrorCode::kInvalidParams, "vault: the key has no source to be stored in");
}

Result<MasterKey> NextKey(const MasterKey& current, const config::EnvLookup& env) {
  MasterKey next;
  if (current.source == "env") {
    auto text = env("OPENCLAWOS_VAULT_NEW_KEY");
    if (!text || text->empty())
      return MakeError(ErrorCode::kInvalidParams,
                       "vault: the key comes from OPENCLAWOS_VAULT_KEY, so rotating needs the new key in "
                       "OPENCLAWOS_VAULT_NEW_KEY (64 hex digits, e.g. from `openssl rand -hex 32`)");
    if (!ParseHexKey(*text, next.bytes))
      return MakeError(ErrorCode::kInvalidParams, "OPENCLAWOS_VAULT_NEW_KEY must be 64 hex digits");
    if (sodium_memcmp(next.bytes.data(), current.bytes.data(), next.bytes.size()) == 0)
      return MakeError(ErrorCode::kInvalidParams, "vault: OPENCLAWOS_VAULT_NEW_KEY is the current key");
  } else {
    next = GenerateKey();
  }
  next.source = current.source;
  next.file = current.file;
  next.home = current.home;
  return next;
}

}  // namespace oc::vault
