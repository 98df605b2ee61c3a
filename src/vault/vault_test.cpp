#include "vault/vault.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

namespace oc::vault {
namespace {
namespace fs = std::filesystem;

const std::string kHexA(64, 'a');
const std::string kHexB = std::string(32, '0') + std::string(32, 'f');

// A private home directory, removed afterwards.
class TempHome {
 public:
  TempHome() {
    std::string tmpl = (fs::temp_directory_path() / "oc-vault-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempHome() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const char* name) const { return path_ / name; }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& file, const std::string& text, mode_t mode) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  ASSERT_EQ(::chmod(file.c_str(), mode), 0);
}

mode_t Mode(const fs::path& file) {
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0);
  return st.st_mode & 07777;
}

std::unique_ptr<store::Database> OpenDb(const fs::path& path = ":memory:") {
  auto db = store::Database::Open(path);
  EXPECT_TRUE(db.ok()) << db.error().message;
  return std::move(db).value();
}

KeyOptions Options(const fs::path& home, std::map<std::string, std::string> env = {}, bool create = false) {
  KeyOptions o;
  o.home = home;
  o.env = config::MapEnv(std::move(env));
  o.create_if_missing = create;
  o.use_keyring = false;
  return o;
}

MasterKey KeyOf(char fill) {
  MasterKey k;
  k.bytes.fill(static_cast<unsigned char>(fill));
  k.source = "test";
  return k;
}

std::unique_ptr<Vault> OpenVault(store::Database& db, const MasterKey& key) {
  auto v = Vault::Open(db, key);
  EXPECT_TRUE(v.ok()) << v.error().message;
  return v.ok() ? std::move(v).value() : nullptr;
}

TEST(SecretNames, Validated) {
  EXPECT_TRUE(IsValidSecretName("telegram.botToken"));
  EXPECT_TRUE(IsValidSecretName("a/b:c-d_e.F9"));
  EXPECT_TRUE(IsValidSecretName(std::string(128, 'x')));
  EXPECT_FALSE(IsValidSecretName(""));
  EXPECT_FALSE(IsValidSecretName(std::string(129, 'x')));
  EXPECT_FALSE(IsValidSecretName("with space"));
  EXPECT_FALSE(IsValidSecretName("quote\""));
  EXPECT_FALSE(IsValidSecretName("\xc3\xa9t\xc3\xa9"));
  auto db = OpenDb();
  auto vault = OpenVault(*db, KeyOf(1));
  Status bad = vault->Set("no spaces", "v");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(bad.error().message.find("invalid secret name \"no spaces\""), std::string::npos);
  EXPECT_EQ(vault->Get("a b").error().code, ErrorCode::kInvalidParams);
}

TEST(Vault, SetGetListRemoveRoundTrip) {
  auto db = OpenDb();
  ASSERT_FALSE(*Vault::Exists(*db));
  auto vault = OpenVault(*db, KeyOf(1));
  ASSERT_TRUE(*Vault::Exists(*db));  // adopted: the key check is written
  ASSERT_TRUE(vault->Set("zeta", "last").ok());
  ASSERT_TRUE(vault->Set("alpha", "first").ok());
  std::string binary("a\0b\xff\n", 5);
  ASSERT_TRUE(vault->Set("bin", binary).ok());
  EXPECT_EQ(*vault->Get("alpha"), "first");
  EXPECT_EQ(*vault->Get("bin"), binary);
  auto list = vault->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "alpha");
  EXPECT_EQ((*list)[2].name, "zeta");
  EXPECT_GT((*list)[0].created_at_ms, 0);

  int64_t created = (*list)[0].created_at_ms;
  ASSERT_TRUE(vault->Set("alpha", "replaced").ok());
  EXPECT_EQ(*vault->Get("alpha"), "replaced");
  EXPECT_EQ((*vault->List())[0].created_at_ms, created);  // replacing keeps the creation time

  auto all = vault->All();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0], (std::pair<std::string, std::string>("alpha", "replaced")));

  ASSERT_TRUE(vault->Remove("alpha").ok());
  auto gone = vault->Get("alpha");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(gone.error().message, "no secret \"alpha\" in the vault");
  EXPECT_EQ(vault->Remove("alpha").error().code, ErrorCode::kNotFound);

  // Sealed at rest: the value's bytes are nowhere in the table, and every nonce is fresh.
  int rows = 0;
  std::set<std::string> nonces;
  ASSERT_TRUE(db->Query("SELECT nonce, ciphertext FROM vault_secrets", {}, [&](const store::Row& r) {
                  ++rows;
                  nonces.insert(std::string(r.BlobBytes(0)));
                  EXPECT_EQ(r.BlobBytes(0).size(), 24u);
                  EXPECT_EQ(std::string(r.BlobBytes(1)).find("last"), std::string::npos);
                }).ok());
  EXPECT_EQ(rows, 2);
  EXPECT_EQ(nonces.size(), 2u);
}

TEST(Vault, ValueSizeLimits) {
  auto db = OpenDb();
  auto vault = OpenVault(*db, KeyOf(1));
  EXPECT_EQ(vault->Set("empty", "").error().code, ErrorCode::kInvalidParams);
  std::string big(kMaxValueBytes, 'v');
  ASSERT_TRUE(vault->Set("big", big).ok());
  EXPECT_EQ(*vault->Get("big"), big);
  big.push_back('v');
  Status too_big = vault->Set("big", big);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(too_big.error().message.find("65537 bytes"), std::string::npos);
  EXPECT_EQ(too_big.error().message.find("vvvv"), std::string::npos);  // never the value
}

TEST(Vault, GenerationBumpsOnEveryChangeOnly) {
  auto db = OpenDb();
  auto vault = OpenVault(*db, KeyOf(1));
  EXPECT_EQ(*vault->Generation(), 0);
  ASSERT_TRUE(vault->Set("a", "1").ok());
  EXPECT_EQ(*vault->Generation(), 1);
  ASSERT_TRUE(vault->Set("a", "2").ok());
  EXPECT_EQ(*vault->Generation(), 2);
  (void)vault->Get("a");
  (void)vault->List();
  EXPECT_FALSE(vault->Remove("missing").ok());
  EXPECT_FALSE(vault->Set("bad name", "x").ok());
  EXPECT_EQ(*vault->Generation(), 2);
  ASSERT_TRUE(vault->Remove("a").ok());
  EXPECT_EQ(*vault->Generation(), 3);
  ASSERT_TRUE(vault->Rotate(KeyOf(2)).ok());
  EXPECT_EQ(*vault->Generation(), 4);
  // Another process's view of the same database sees the same number.
  auto other = OpenVault(*db, KeyOf(2));
  EXPECT_EQ(*other->Generation(), 4);
}

TEST(Vault, WrongKeyIsRefusedAndNothingIsWritten) {
  TempHome home;
  fs::path file = home / "state.db";
  {
    auto db = OpenDb(file);
    auto vault = OpenVault(*db, KeyOf(1));
    ASSERT_TRUE(vault->Set("tg", "123:secret").ok());
    ASSERT_TRUE(vault->Set("irc", "hunter2").ok());
  }
  const std::string before = ReadFile(file);
  ASSERT_FALSE(before.empty());
  {
    auto db = OpenDb(file);
    MasterKey wrong = KeyOf(2);
    wrong.source = "file";
    wrong.file = home / "vault.key";
    wrong.home = home.path();
    auto refused = Vault::Open(*db, wrong);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
    const std::string& m = refused.error().message;
    EXPECT_NE(m.find("the master key from " + (home / "vault.key").string() + " does not open this vault"),
              std::string::npos) << m;
    EXPECT_NE(m.find(file.string()), std::string::npos) << m;
    EXPECT_NE(m.find("set OPENCLAWOS_VAULT_KEY or restore"), std::string::npos) << m;
  }
  EXPECT_EQ(ReadFile(file), before);  // byte-identical
  auto db = OpenDb(file);
  auto vault = OpenVault(*db, KeyOf(1));
  EXPECT_EQ(*vault->Get("tg"), "123:secret");
  EXPECT_EQ(*vault->Get("irc"), "hunter2");
}

TEST(Vault, TamperedOrMovedRowsFailClearly) {
  auto db = OpenDb();
  auto vault = OpenVault(*db, KeyOf(1));
  ASSERT_TRUE(vault->Set("a", "value-a").ok());
  ASSERT_TRUE(vault->Set("b", "value-b").ok());
  ASSERT_TRUE(vault->Set("c", "value-c").ok());
  // Flip one ciphertext bit of "a".
  std::string ciphertext = *db->QueryText("SELECT ciphertext FROM vault_secrets WHERE name = 'a'").value();
  ciphertext[2] = static_cast<char>(ciphertext[2] ^ 0x01);
  ASSERT_TRUE(db->Run("UPDATE vault_secrets SET ciphertext = ?1 WHERE name = 'a'", {store::Blob{ciphertext}}).ok());
  // Put b's sealed value under the name "c".
  ASSERT_TRUE(db->Run("UPDATE vault_secrets SET (nonce, ciphertext) = "
                      "(SELECT nonce, ciphertext FROM vault_secrets WHERE name = 'b') WHERE name = 'c'").ok());
  for (const char* name : {"a", "c"}) {
    auto got = vault->Get(name);
    ASSERT_FALSE(got.ok()) << name;
    EXPECT_EQ(got.error().code, ErrorCode::kInternalError);
    EXPECT_NE(got.error().message.find(std::string("secret \"") + name + "\" does not decrypt"), std::string::npos)
        << got.error().message;
  }
  EXPECT_EQ(*vault->Get("b"), "value-b");
  auto all = vault->All();
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.error().message.find("\"a\" does not decrypt"), std::string::npos);
  // A truncated row does not crash either.
  ASSERT_TRUE(db->Run("UPDATE vault_secrets SET nonce = x'00', ciphertext = x'' WHERE name = 'b'").ok());
  EXPECT_EQ(vault->Get("b").error().code, ErrorCode::kInternalError);
  // Rotation refuses to carry damaged rows along, and changes nothing.
  Status rotated = vault->Rotate(KeyOf(2));
  ASSERT_FALSE(rotated.ok());
  EXPECT_TRUE(OpenVault(*db, KeyOf(1)) != nullptr);
}

TEST(Vault, StaleKeyAfterAnotherRotationCannotWrite) {
  auto db = OpenDb();
  auto first = OpenVault(*db, KeyOf(1));
  auto second = OpenVault(*db, KeyOf(1));
  ASSERT_TRUE(first->Set("a", "1").ok());
  ASSERT_TRUE(second->Rotate(KeyOf(2)).ok());
  Status stale = first->Set("b", "2");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(first->Get("a").error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(*second->Get("a"), "1");
  EXPECT_EQ(second->List()->size(), 1u);
}

TEST(Vault, RefusesToAdoptAKeyForSecretsWithoutKeyCheck) {
  auto db = OpenDb();
  {
    auto vault = OpenVault(*db, KeyOf(1));
    ASSERT_TRUE(vault->Set("a", "1").ok());
  }
  ASSERT_TRUE(db->Run("DELETE FROM vault_meta WHERE key = 'key_check'").ok());
  auto refused = Vault::Open(*db, KeyOf(2));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("no key check"), std::string::npos);
}

TEST(MasterKeys, EnvironmentKeyParsing) {
  TempHome home;
  auto key = LoadMasterKey(Options(home.path(), {{"OPENCLAWOS_VAULT_KEY", kHexA}}));
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->source, "env");
  EXPECT_EQ(key->bytes[0], 0xaa);
  auto upper = LoadMasterKey(Options(home.path(), {{"OPENCLAWOS_VAULT_KEY", std::string(64, 'F')}}));
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(upper->bytes[31], 0xff);
  for (const std::string& bad : {std::string(63, 'a'), std::string(66, 'a'), std::string(64, 'g'), std::string("0x") + std::string(62, '1')}) {
    auto r = LoadMasterKey(Options(home.path(), {{"OPENCLAWOS_VAULT_KEY", bad}}, true));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
    EXPECT_EQ(r.error().message, "OPENCLAWOS_VAULT_KEY must be 64 hex digits");
  }
  EXPECT_FALSE(fs::exists(home / "vault.key"));  // a bad variable never falls through to creating a file
  // An empty variable counts as unset.
  auto none = LoadMasterKey(Options(home.path(), {{"OPENCLAWOS_VAULT_KEY", ""}}));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
}

TEST(MasterKeys, KeyFileCreatedPrivateWithWarningAndReused) {
  TempHome home;
  auto missing = LoadMasterKey(Options(home.path()));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  std::vector<std::string> warnings;
  auto created = LoadMasterKey(Options(home.path(), {}, true), &warnings);
  ASSERT_TRUE(created.ok()) << created.error().message;
  fs::path file = home / "vault.key";
  EXPECT_EQ(created->source, "file");
  EXPECT_EQ(created->file, file);
  EXPECT_EQ(Mode(file), 0600u);
  EXPECT_EQ(ReadFile(file).size(), 65u);  // 64 hex digits + newline
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "vault key stored in " + file.string() + " (no keyring reachable); `openclaw doctor` explains");
  warnings.clear();
  auto again = LoadMasterKey(Options(home.path(), {}, true), &warnings);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bytes, created->bytes);
  EXPECT_TRUE(warnings.empty());
}

TEST(MasterKeys, KeyFileModeAndContentChecks) {
  TempHome home;
  fs::path file = home / "vault.key";
  WriteFile(file, kHexB + "\n", 0644);
  auto open = LoadMasterKey(Options(home.path()));
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.error().code, ErrorCode::kForbidden);
  EXPECT_NE(open.error().message.find("mode 0644"), std::string::npos) << open.error().message;
  EXPECT_NE(open.error().message.find("chmod 600 " + file.string()), std::string::npos) << open.error().message;
  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  EXPECT_EQ(LoadMasterKey(Options(home.path())).error().code, ErrorCode::kForbidden);
  ASSERT_EQ(::chmod(file.c_str(), 0400), 0);  // owner-only read is fine
  auto ok = LoadMasterKey(Options(home.path()));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->bytes[0], 0x00);
  EXPECT_EQ(ok->bytes[31], 0xff);
  // 32 raw bytes work too.
  WriteFile(file, std::string(32, '\x07'), 0600);
  auto raw = LoadMasterKey(Options(home.path()));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->bytes[5], 7);
  WriteFile(file, "not a key\n", 0600);
  auto garbage = LoadMasterKey(Options(home.path(), {}, true));
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("is not a vault key"), std::string::npos);
  EXPECT_EQ(ReadFile(file), "not a key\n");  // never replaced
}

TEST(MasterKeys, MissingKeyFileBesideAStagedOneIsAConflict) {
  TempHome home;
  WriteFile(home / "vault.key.new", kHexA, 0600);
  auto r = LoadMasterKey(Options(home.path(), {}, true));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_NE(r.error().message.find("mv "), std::string::npos);
  EXPECT_FALSE(fs::exists(home / "vault.key"));
}

TEST(MasterKeys, StoreRefusesEnvKeysAndProbeNeedsABus) {
  MasterKey env = KeyOf(3);
  env.source = "env";
  EXPECT_EQ(StoreMasterKey(env).error().code, ErrorCode::kInvalidParams);
  auto probe = ProbeKeyring(config::MapEnv({}));
  EXPECT_FALSE(probe.reachable);
  EXPECT_NE(probe.detail.find("D-Bus"), std::string::npos);
  // A lookup environment with a bus address but a process without one still never autolaunches.
  KeyOptions o = Options("/nonexistent-home", {{"DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent"}});
  o.use_keyring = true;
  if (!std::getenv("DBUS_SESSION_BUS_ADDRESS")) {
    EXPECT_EQ(LoadMasterKey(o).error().code, ErrorCode::kNotFound);
  }
}

// A file-backed vault in `home` with a few secrets; returns its key.
MasterKey SeedFileVault(const TempHome& home, store::Database& db) {
  auto key = LoadMasterKey(Options(home.path(), {}, true));
  EXPECT_TRUE(key.ok());
  auto vault = OpenVault(db, *key);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(vault->Set("s" + std::to_string(i), "value-" + std::to_string(i)).ok());
  return *key;
}

void ExpectAllReadable(store::Database& db, const MasterKey& key) {
  auto vault = OpenVault(db, key);
  ASSERT_TRUE(vault);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(*vault->Get("s" + std::to_string(i)), "value-" + std::to_string(i));
}

TEST(Rotation, KeepsEverySecretAndReplacesTheKeyFile) {
  TempHome home;
  auto db = OpenDb(home / "state.db");
  MasterKey old_key = SeedFileVault(home, *db);
  const std::string old_file = ReadFile(home / "vault.key");
  auto vault = OpenVault(*db, old_key);
  auto next = NextKey(vault->key(), config::MapEnv({}));
  ASSERT_TRUE(next.ok());
  EXPECT_NE(next->bytes, old_key.bytes);
  EXPECT_EQ(next->file, old_key.file);
  ASSERT_TRUE(RotateMasterKey(*vault, *next).ok());
  EXPECT_EQ(vault->key().bytes, next->bytes);
  EXPECT_NE(ReadFile(home / "vault.key"), old_file);
  EXPECT_FALSE(fs::exists(home / "vault.key.new"));
  EXPECT_EQ(Mode(home / "vault.key"), 0600u);

  auto reloaded = LoadMasterKey(Options(home.path()));
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(reloaded->bytes, next->bytes);
  ExpectAllReadable(*db, *reloaded);
  EXPECT_EQ(Vault::Open(*db, old_key).error().code, ErrorCode::kUnauthorized);
}

TEST(Rotation, CrashBetweenCommitAndRenameIsRecovered) {
  TempHome home;
  auto db = OpenDb(home / "state.db");
  MasterKey old_key = SeedFileVault(home, *db);
  auto vault = OpenVault(*db, old_key);
  auto next = NextKey(old_key, config::MapEnv({}));
  ASSERT_TRUE(next.ok());
  // What RotateMasterKey does up to the commit, then "crash": the key is staged, never renamed.
  MasterKey staged = *next;
  staged.file = home / "vault.key.new";
  ASSERT_TRUE(StoreMasterKey(staged).ok());
  ASSERT_TRUE(vault->Rotate(*next).ok());
  vault.reset();

  auto loaded = LoadMasterKey(Options(home.path()));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->bytes, old_key.bytes);  // the file still has the old key ...
  auto recovered = Vault::Open(*db, *loaded);
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ((*recovered)->key().bytes, next->bytes);  // ... and Open finished the rotation
  EXPECT_EQ((*recovered)->key().file, home / "vault.key");
  EXPECT_FALSE(fs::exists(home / "vault.key.new"));
  auto after = LoadMasterKey(Options(home.path()));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->bytes, next->bytes);
  ExpectAllReadable(*db, *after);
}

TEST(Rotation, CrashBeforeCommitKeepsTheOldKey) {
  TempHome home;
  auto db = OpenDb(home / "state.db");
  MasterKey old_key = SeedFileVault(home, *db);
  MasterKey staged = GenerateKey();
  staged.source = "file";
  staged.file = home / "vault.key.new";
  ASSERT_TRUE(StoreMasterKey(staged).ok());  // staged, then "crash" before the transaction
  auto loaded = LoadMasterKey(Options(home.path()));
  ASSERT_TRUE(loaded.ok());
  auto vault = Vault::Open(*db, *loaded);
  ASSERT_TRUE(vault.ok());
  EXPECT_EQ((*vault)->key().bytes, old_key.bytes);
  ExpectAllReadable(*db, old_key);
  // A wrong key is still refused, even with a staged key around that does not open the vault either.
  MasterKey wrong = *loaded;
  wrong.bytes.fill(9);
  EXPECT_EQ(Vault::Open(*db, wrong).error().code, ErrorCode::kUnauthorized);
}

TEST(Rotation, FailedRotationChangesNothing) {
  TempHome home;
  auto db = OpenDb(home / "state.db");
  MasterKey old_key = SeedFileVault(home, *db);
  const std::string key_file = ReadFile(home / "vault.key");
  auto vault = OpenVault(*db, old_key);
  auto stale = OpenVault(*db, old_key);
  ASSERT_TRUE(vault->Rotate(KeyOf(4)).ok());  // another process rotated (in memory only)
  auto next = NextKey(stale->key(), config::MapEnv({}));
  Status refused = RotateMasterKey(*stale, *next);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(ReadFile(home / "vault.key"), key_file);
  EXPECT_FALSE(fs::exists(home / "vault.key.new"));
  ExpectAllReadable(*db, KeyOf(4));
}

TEST(Rotation, EnvironmentKeysNeedTheNewKeyVariable) {
  TempHome home;
  auto db = OpenDb();
  auto key = LoadMasterKey(Options(home.path(), {{"OPENCLAWOS_VAULT_KEY", kHexA}}));
  ASSERT_TRUE(key.ok());
  auto vault = OpenVault(*db, *key);
  ASSERT_TRUE(vault->Set("x", "1").ok());
  auto missing = NextKey(*key, config::MapEnv({}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(missing.error().message.find("OPENCLAWOS_VAULT_NEW_KEY"), std::string::npos);
  EXPECT_EQ(NextKey(*key, config::MapEnv({{"OPENCLAWOS_VAULT_NEW_KEY", "zz"}})).error().message,
            "OPENCLAWOS_VAULT_NEW_KEY must be 64 hex digits");
  EXPECT_FALSE(NextKey(*key, config::MapEnv({{"OPENCLAWOS_VAULT_NEW_KEY", kHexA}})).ok());  // same key
  auto next = NextKey(*key, config::MapEnv({{"OPENCLAWOS_VAULT_NEW_KEY", kHexB}}));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->source, "env");
  ASSERT_TRUE(RotateMasterKey(*vault, *next).ok());
  EXPECT_FALSE(fs::exists(home / "vault.key"));
  EXPECT_TRUE(fs::is_empty(home.path()));  // nothing stored anywhere
  auto reopened = LoadMasterKey(Options(home.path(), {{"OPENCLAWOS_VAULT_KEY", kHexB}}));
  EXPECT_EQ(*OpenVault(*db, *reopened)->Get("x"), "1");
}

}  // namespace
}  // namespace oc::vault
