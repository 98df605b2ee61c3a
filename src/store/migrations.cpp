#include "store/migrations.h"

namespace oc::store {
namespace {

// Times are ms since the epoch. JSON columns hold compact JSON text.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE sessions (
  id              INTEGER PRIMARY KEY,
  key             TEXT NOT NULL,            -- stable name, e.g. "agent:default:identity:alice"
  agent_id        TEXT NOT NULL,
  kind            TEXT NOT NULL,            -- identity | group | conversation | control | branch
  channel_id      TEXT,                     -- channel of the latest inbound message
  account_id      TEXT,
  last_address    TEXT,                     -- "<channel>:<conversation>" of the latest inbound message
  parent_id       INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
  branched_at     INTEGER,                  -- parent's message seq the branch copies up to
  created_at      INTEGER NOT NULL,
  last_active_at  INTEGER NOT NULL,
  ended_at        INTEGER,                  -- set by reset: the row is kept, no longer active
  end_reason      TEXT,
  message_count   INTEGER NOT NULL DEFAULT 0,
  active          INTEGER NOT NULL DEFAULT 1,
  metadata        TEXT                      -- JSON object
);
-- One active session per key; ended sessions keep their rows (and history).
CREATE UNIQUE INDEX sessions_active_key ON sessions(key) WHERE active = 1;
CREATE INDEX sessions_by_key ON sessions(key);

CREATE TABLE messages (
  id           INTEGER PRIMARY KEY,
  session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq          INTEGER NOT NULL,            -- 1-based position in the session
  role         TEXT NOT NULL,               -- system | user | assistant | tool
  content      TEXT NOT NULL,
  tool_calls   TEXT,                        -- JSON array [{id, name, arguments}] (assistant)
  tool_call_id TEXT,                        -- role tool: the call it answers
  tool_name    TEXT,
  run_id       INTEGER,
  address      TEXT,                        -- inbound: conversation address it came from
  sender       TEXT,
  metadata     TEXT,                        -- JSON object
  tokens_in    INTEGER,
  tokens_out   INTEGER,
  created_at   INTEGER NOT NULL,
  UNIQUE (session_id, seq)
);

CREATE TABLE runs (
  id              INTEGER PRIMARY KEY,
  session_id      INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  agent_id        TEXT NOT NULL,
  message_id      INTEGER REFERENCES messages(id) ON DELETE SET NULL,  -- the inbound message
  origin          TEXT NOT NULL,            -- channel | control
  reply_address   TEXT,                     -- where the reply goes; NULL = the control-plane caller
  reply_metadata  TEXT,                     -- JSON object handed to the delivery
  status          TEXT NOT NULL,            -- queued | running | done | failed
  attempts        TEXT,                     -- JSON array of model attempts
  model           TEXT,
  tokens_in       INTEGER,
  tokens_out      INTEGER,
  error           TEXT,
  idempotency_key TEXT,
  created_at      INTEGER NOT NULL,
  started_at      INTEGER,
  finished_at     INTEGER,
  duration_ms     INTEGER,
  resumed         INTEGER NOT NULL DEFAULT 0   -- times the run was resumed after a kernel restart
);
CREATE INDEX runs_pending ON runs(status) WHERE status IN ('queued', 'running');
CREATE INDEX runs_by_session ON runs(session_id);
CREATE INDEX runs_by_message ON runs(message_id);
CREATE UNIQUE INDEX runs_idempotency ON runs(idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE outbox (
  id                  INTEGER PRIMARY KEY,
  channel_id          TEXT NOT NULL,
  target              TEXT NOT NULL,        -- conversation on that channel
  content             TEXT NOT NULL,
  metadata            TEXT,                 -- JSON object
  session_id          INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
  run_id              INTEGER,
  origin              TEXT NOT NULL,        -- reply | dispatch
  status              TEXT NOT NULL,        -- pending | delivered | blocked | failed
  attempts            INTEGER NOT NULL DEFAULT 0,
  next_attempt_at     INTEGER NOT NULL,
  last_error          TEXT,
  platform_message_id TEXT,
  created_at          INTEGER NOT NULL,
  delivered_at        INTEGER
);
-- Pending entries are few; delivered ones pile up: these indexes cover only the pending ones.
-- (Every index costs page writes on the hot path, so only what a frequent query needs is
-- indexed; listing sessions by activity, for one, scans.)
CREATE INDEX outbox_pending_order ON outbox(id) WHERE status = 'pending';
CREATE INDEX outbox_pending_by_target ON outbox(channel_id, target, id) WHERE status = 'pending';
CREATE INDEX outbox_by_session ON outbox(session_id);
)sql";

// Compaction (SPEC §7.1): a compacted message stays in the history but is no longer sent to the
// model; the summary that replaces them is a message with role "summary".
// Cron jobs (SPEC §13).
constexpr std::string_view kV2 = R"sql(
ALTER TABLE messages ADD COLUMN compacted INTEGER NOT NULL DEFAULT 0;

CREATE TABLE cron_jobs (
  id           TEXT PRIMARY KEY,            -- "job-<random hex>" unless given
  name         TEXT NOT NULL,
  schedule     TEXT NOT NULL,               -- JSON: {cron, tz?} | {every} | {at}
  agent_id     TEXT NOT NULL,
  session      TEXT NOT NULL,               -- isolated | main | a session key
  message      TEXT NOT NULL,
  deliver      TEXT,                        -- JSON {channel, to} or NULL
  enabled      INTEGER NOT NULL DEFAULT 1,
  next_run_at  INTEGER,                     -- NULL: nothing to run (disabled, or a finished one-shot)
  last_run_at  INTEGER,
  last_status  TEXT,                        -- NULL (never fired) | running | ok | error
  last_error   TEXT,
  run_count    INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
CREATE INDEX cron_jobs_due ON cron_jobs(next_run_at) WHERE enabled = 1 AND next_run_at IS NOT NULL;
)sql";

// Long-term memory (SPEC §9). The vectors live in a sqlite-vec `vec0` table (memory_vec) that the
// memory subsystem creates itself once the extension is loaded and the embedding dimension is
// known; everything here is plain SQLite, so a database opened without vec0 still works.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE memory_files (
  id          INTEGER PRIMARY KEY,
  workspace   TEXT NOT NULL,                -- absolute workspace directory
  path        TEXT NOT NULL,                -- relative to the workspace, '/'-separated
  source      TEXT NOT NULL,                -- memory (MEMORY.md, memory/**.md)
  hash        TEXT NOT NULL,                -- SHA-256 (hex) of the file's content
  size        INTEGER NOT NULL,
  mtime_ms    INTEGER NOT NULL,
  indexed_at  INTEGER NOT NULL,
  UNIQUE (workspace, path)
);

CREATE TABLE memory_chunks (
  id          INTEGER PRIMARY KEY,
  file_id     INTEGER NOT NULL REFERENCES memory_files(id) ON DELETE CASCADE,
  workspace   TEXT NOT NULL,
  path        TEXT NOT NULL,
  source      TEXT NOT NULL,
  line_start  INTEGER NOT NULL,             -- 1-based, inclusive
  line_end    INTEGER NOT NULL,
  text        TEXT NOT NULL,
  hash        TEXT NOT NULL,                -- SHA-256 (hex) of text: the embedding cache key
  model       TEXT,                         -- embedding model of its row in memory_vec; NULL = none yet
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX memory_chunks_by_file ON memory_chunks(file_id);
CREATE INDEX memory_chunks_unembedded ON memory_chunks(id) WHERE model IS NULL;
CREATE INDEX memory_chunks_by_workspace ON memory_chunks(workspace, path);

-- BM25 over the chunk text, kept in sync by triggers (external content: the text is stored once).
CREATE VIRTUAL TABLE memory_fts USING fts5(text, content='memory_chunks', content_rowid='id',
                                           tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER memory_chunks_ai AFTER INSERT ON memory_chunks BEGIN
  INSERT INTO memory_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER memory_chunks_ad AFTER DELETE ON memory_chunks BEGIN
  INSERT INTO memory_fts(memory_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER memory_chunks_au AFTER UPDATE OF text ON memory_chunks BEGIN
  INSERT INTO memory_fts(memory_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO memory_fts(rowid, text) VALUES (new.id, new.text);
END;

-- Every vector ever computed, by model and content hash: no text is embedded twice.
CREATE TABLE memory_embedding_cache (
  model       TEXT NOT NULL,
  hash        TEXT NOT NULL,
  dims        INTEGER NOT NULL,
  vector      BLOB NOT NULL,                -- float32 little-endian, unit length
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (model, hash)
) WITHOUT ROWID;

CREATE TABLE memory_meta (
  key    TEXT PRIMARY KEY,                  -- vector_model, vector_dims, ...
  value  TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// The credential vault (SPEC §12) and the audit log. Vault values are sealed (XChaCha20-Poly1305,
// the secret's name as associated data); vault_meta holds the key check, never the key.
constexpr std::string_view kV4 = R"sql(
CREATE TABLE vault_secrets (
  name        TEXT PRIMARY KEY,
  nonce       BLOB NOT NULL,
  ciphertext  BLOB NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE vault_meta (
  key    TEXT PRIMARY KEY,                  -- key_check, generation, ...
  value  BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_log (
  id       INTEGER PRIMARY KEY,
  ts       INTEGER NOT NULL,                -- ms since the epoch
  kind     TEXT NOT NULL,                   -- e.g. app.register, capability.denied, vault.get
  actor    TEXT NOT NULL,                   -- who: "cli", "kernel", an app id, "control:<client>"
  subject  TEXT NOT NULL,                   -- what: an app id, a secret name, a config path
  outcome  TEXT NOT NULL,                   -- ok | denied | failed
  detail   TEXT                             -- JSON object, never a secret value
);
CREATE INDEX audit_log_by_kind ON audit_log(kind, id);
)sql";

constexpr Migration kMigrations[] = {
    {1, "sessions, messages, runs, outbox", kV1},
    {2, "compaction, cron jobs", kV2},
    {3, "long-term memory", kV3},
    {4, "credential vault, audit log", kV4},
};

std::span<const Migration> g_test_migrations;  // empty: the real list

}  // namespace

std::span<const Migration> AllMigrations() {
  return g_test_migrations.empty() ? std::span<const Migration>(kMigrations) : g_test_migrations;
}

void SetMigrationsForTesting(std::span<const Migration> migrations) { g_test_migrations = migrations; }

}  // namespace oc::store
