#include "sessions/session_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace oc::sessions {
namespace {

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open(":memory:");
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(*db);
    store_ = std::make_unique<SessionStore>(*db_);
  }

  SessionEntry Create(std::string key, std::string agent = "default", std::string kind = "identity") {
    SessionSpec spec{std::move(key), std::move(agent), std::move(kind), std::nullopt, std::nullopt,
                     std::nullopt};
    auto s = store_->GetOrCreate(spec);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? *s : SessionEntry();
  }

  StoredMessage Add(int64_t session_id, std::string role, std::string content, int64_t at = 0) {
    NewMessage m;
    m.role = std::move(role);
    m.content = std::move(content);
    m.created_at = at;
    auto r = store_->Append(session_id, m);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : StoredMessage();
  }

  std::vector<std::string> Contents(int64_t session_id, int64_t limit = 0,
                                    std::optional<int64_t> before = std::nullopt) {
    auto h = store_->History(session_id, limit, before);
    EXPECT_TRUE(h.ok()) << h.error().message;
    std::vector<std::string> out;
    if (h.ok()) {
      for (const auto& m : *h) out.push_back(m.content);
    }
    return out;
  }

  std::unique_ptr<store::Database> db_;
  std::unique_ptr<SessionStore> store_;
};

using Strings = std::vector<std::string>;

SessionFilter Filter(std::optional<std::string> agent, std::optional<std::string> channel,
                     std::optional<std::string> account, std::optional<bool> active,
                     int64_t limit = 100, int64_t offset = 0) {
  SessionFilter f;
  f.agent_id = std::move(agent);
  f.channel_id = std::move(channel);
  f.account_id = std::move(account);
  f.active = active;
  f.limit = limit;
  f.offset = offset;
  return f;
}

// ---- GetOrCreate, Get ----------------------------------------------------------------------------

TEST_F(SessionStoreTest, GetOrCreateCreatesOnceThenReturnsExisting) {
  SessionSpec spec{"agent:default:identity:alice", "default", "identity", "telegram", "bot1",
                   "telegram:123"};
  bool created = false;
  const int64_t before = NowMs();
  auto first = store_->GetOrCreate(spec, &created);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(created);
  EXPECT_GT(first->id, 0);
  EXPECT_EQ(first->key, spec.key);
  EXPECT_EQ(first->agent_id, "default");
  EXPECT_EQ(first->kind, "identity");
  EXPECT_EQ(first->channel_id, "telegram");
  EXPECT_EQ(first->account_id, "bot1");
  EXPECT_EQ(first->last_address, "telegram:123");
  EXPECT_EQ(first->message_count, 0);
  EXPECT_TRUE(first->active);
  EXPECT_GE(first->created_at, before);
  EXPECT_EQ(first->created_at, first->last_active_at);
  EXPECT_FALSE(first->parent_id);
  EXPECT_FALSE(first->ended_at);
  EXPECT_TRUE(first->metadata.is_null());

  // Same key, another agent: the existing session is returned unchanged.
  SessionSpec again = spec;
  again.agent_id = "other";
  auto second = store_->GetOrCreate(again, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->agent_id, "default");
}

TEST_F(SessionStoreTest, GetOrCreateRejectsEmptyFields) {
  bool created = true;
  auto r = store_->GetOrCreate(SessionSpec{"", "default", "identity", {}, {}, {}}, &created);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
  EXPECT_FALSE(created);
  EXPECT_FALSE(store_->GetOrCreate(SessionSpec{"k", "", "identity", {}, {}, {}}).ok());
  EXPECT_FALSE(store_->GetOrCreate(SessionSpec{"k", "a", "", {}, {}, {}}).ok());
}

TEST_F(SessionStoreTest, GetAndGetById) {
  SessionEntry s = Create("k1");
  auto by_key = store_->Get("k1");
  ASSERT_TRUE(by_key.ok());
  ASSERT_TRUE(by_key->has_value());
  EXPECT_EQ((*by_key)->id, s.id);
  auto by_id = store_->GetById(s.id);
  ASSERT_TRUE(by_id.ok());
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->key, "k1");

  auto missing = store_->Get("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto missing_id = store_->GetById(s.id + 100);
  ASSERT_TRUE(missing_id.ok());
  EXPECT_FALSE(missing_id->has_value());
}

TEST_F(SessionStoreTest, OneActiveSessionPerKeyEnforcedByIndex) {
  Create("k1");
  auto dup = db_->Insert(
      "INSERT INTO sessions (key, agent_id, kind, created_at, last_active_at) VALUES ('k1', 'a', "
      "'identity', 1, 1)");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
}

// ---- Append, History, GetMessage -----------------------------------------------------------------

TEST_F(SessionStoreTest, AppendAssignsSeqAndBumpsSession) {
  SessionEntry s = Create("k1");
  StoredMessage m1 = Add(s.id, "user", "hello", s.created_at + 10);
  StoredMessage m2 = Add(s.id, "assistant", "hi there", s.created_at + 20);
  EXPECT_EQ(m1.seq, 1);
  EXPECT_EQ(m2.seq, 2);
  EXPECT_EQ(m1.session_id, s.id);
  EXPECT_EQ(m1.created_at, s.created_at + 10);
  auto after = store_->GetById(s.id);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_EQ((*after)->message_count, 2);
  EXPECT_EQ((*after)->last_active_at, s.created_at + 20);
  // No address: the routing fields stay unset.
  EXPECT_FALSE((*after)->last_address);
  EXPECT_FALSE((*after)->channel_id);
}

TEST_F(SessionStoreTest, AppendStoresEveryField) {
  SessionEntry s = Create("k1");
  NewMessage m;
  m.role = "assistant";
  m.content = "calling tools";
  m.tool_calls = {{"call_1", "read_file", R"({"path":"/tmp/x"})"}, {"call_2", "ls", "{}"}};
  m.run_id = 77;
  m.metadata = json::object{{"model", "openai/gpt"}};
  m.tokens_in = 100;
  m.tokens_out = 20;
  auto stored = store_->Append(s.id, m);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  ASSERT_EQ(stored->tool_calls.size(), 2u);
  EXPECT_EQ(stored->tool_calls[0].id, "call_1");
  EXPECT_EQ(stored->tool_calls[0].name, "read_file");
  EXPECT_EQ(stored->tool_calls[0].arguments, R"({"path":"/tmp/x"})");
  EXPECT_EQ(stored->tool_calls[1].name, "ls");
  EXPECT_EQ(stored->run_id, 77);
  EXPECT_EQ(stored->metadata.at("model"), "openai/gpt");
  EXPECT_EQ(stored->tokens_in, 100);
  EXPECT_EQ(stored->tokens_out, 20);
  EXPECT_GT(stored->created_at, 0);

  // The column holds [{id, name, arguments}] as JSON text.
  auto text = db_->QueryText("SELECT tool_calls FROM messages WHERE id = ?1", {stored->id});
  ASSERT_TRUE(text.ok() && text->has_value());
  auto parsed = ParseJson(**text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->at(0).at("arguments"), R"({"path":"/tmp/x"})");

  NewMessage tool;
  tool.role = "tool";
  tool.content = "file contents";
  tool.tool_call_id = "call_1";
  tool.tool_name = "read_file";
  auto result = store_->Append(s.id, tool);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->tool_call_id, "call_1");
  EXPECT_EQ(result->tool_name, "read_file");
  EXPECT_TRUE(result->tool_calls.empty());
  EXPECT_TRUE(result->metadata.is_null());
  EXPECT_FALSE(result->tokens_in);
}

TEST_F(SessionStoreTest, AppendWithAddressUpdatesRoutingFields) {
  SessionEntry s = Create("agent:default:identity:alice");
  NewMessage in;
  in.role = "user";
  in.content = "from telegram";
  in.address = "telegram:123";
  in.sender = "123";
  in.metadata = json::object{{"accountId", "bot1"}, {"chatType", "direct"}};
  ASSERT_TRUE(store_->Append(s.id, in).ok());
  auto a = store_->GetById(s.id);
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->last_address, "telegram:123");
  EXPECT_EQ((*a)->channel_id, "telegram");
  EXPECT_EQ((*a)->account_id, "bot1");

  // The same person moves to IRC without an account: account stays, address and channel move.
  in.address = "irc:alice";
  in.metadata = nullptr;
  ASSERT_TRUE(store_->Append(s.id, in).ok());
  a = store_->GetById(s.id);
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->last_address, "irc:alice");
  EXPECT_EQ((*a)->channel_id, "irc");
  EXPECT_EQ((*a)->account_id, "bot1");

  // A reply without an address leaves them alone.
  Add(s.id, "assistant", "hi");
  a = store_->GetById(s.id);
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->last_address, "irc:alice");
  EXPECT_EQ((*a)->message_count, 3);
}

TEST_F(SessionStoreTest, AppendErrors) {
  NewMessage m;
  m.role = "user";
  m.content = "x";
  auto unknown = store_->Append(9999, m);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  SessionEntry s = Create("k1");
  m.role = "robot";
  auto bad_role = store_->Append(s.id, m);
  ASSERT_FALSE(bad_role.ok());
  EXPECT_EQ(bad_role.error().code, ErrorCode::kInvalidParams);

  m.role = "user";
  m.address = "no-colon";
  auto bad_address = store_->Append(s.id, m);
  ASSERT_FALSE(bad_address.ok());
  EXPECT_EQ(bad_address.error().code, ErrorCode::kInvalidParams);

  // Nothing was written by the failed calls.
  auto after = store_->GetById(s.id);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_EQ((*after)->message_count, 0);
  EXPECT_TRUE(Contents(s.id).empty());
}

TEST_F(SessionStoreTest, AppendIsAtomicInsideCallerTransaction) {
  SessionEntry s = Create("k1");
  Status st = db_->InTransaction([&]() -> Status {
    NewMessage m;
    m.role = "user";
    m.content = "rolled back";
    OC_TRY(store_->Append(s.id, m).status());
    return MakeError(ErrorCode::kInternalError, "caller fails later");
  });
  EXPECT_FALSE(st.ok());
  auto after = store_->GetById(s.id);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_EQ((*after)->message_count, 0);
  EXPECT_TRUE(Contents(s.id).empty());
  EXPECT_EQ(Add(s.id, "user", "kept").seq, 1);
}

TEST_F(SessionStoreTest, HistoryOrderAndLimits) {
  SessionEntry s = Create("k1");
  for (int i = 1; i <= 5; ++i) Add(s.id, i % 2 ? "user" : "assistant", "m" + std::to_string(i));
  EXPECT_EQ(Contents(s.id), (Strings{"m1", "m2", "m3", "m4", "m5"}));
  EXPECT_EQ(Contents(s.id, 2), (Strings{"m4", "m5"}));
  EXPECT_EQ(Contents(s.id, 10), (Strings{"m1", "m2", "m3", "m4", "m5"}));
  EXPECT_EQ(Contents(s.id, 2, 4), (Strings{"m2", "m3"}));  // before seq 4, exclusive
  EXPECT_EQ(Contents(s.id, 0, 3), (Strings{"m1", "m2"}));
  EXPECT_EQ(Contents(s.id, -1), (Strings{"m1", "m2", "m3", "m4", "m5"}));
  EXPECT_TRUE(Contents(s.id, 3, 1).empty());

  auto h = store_->History(s.id);
  ASSERT_TRUE(h.ok());
  for (size_t i = 0; i < h->size(); ++i) EXPECT_EQ((*h)[i].seq, static_cast<int64_t>(i + 1));

  auto unknown = store_->History(s.id + 1000);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  SessionEntry empty = Create("k2");
  EXPECT_TRUE(Contents(empty.id).empty());
}

TEST_F(SessionStoreTest, ModelWindowIsTheTailWithToolFields) {
  SessionEntry s = Create("k1");
  for (int i = 1; i <= 3; ++i) Add(s.id, "user", "m" + std::to_string(i));
  NewMessage call;
  call.role = "assistant";
  call.tool_calls = {{"c1", "lookup", R"({"q":1})"}};
  call.metadata = json::object{{"x", 1}};
  ASSERT_TRUE(store_->Append(s.id, call).ok());
  NewMessage result;
  result.role = "tool";
  result.content = "42";
  result.tool_call_id = "c1";
  result.tool_name = "lookup";
  ASSERT_TRUE(store_->Append(s.id, result).ok());
  auto w = store_->ModelWindow(s.id, 3);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->size(), 3u);
  EXPECT_EQ((*w)[0].content, "m3");
  ASSERT_EQ((*w)[1].tool_calls.size(), 1u);
  EXPECT_EQ((*w)[1].tool_calls[0].arguments, R"({"q":1})");
  EXPECT_TRUE((*w)[1].metadata.is_null());  // not read on this path
  EXPECT_EQ((*w)[2].tool_call_id, "c1");
  EXPECT_EQ((*w)[2].tool_name, "lookup");
  auto all = store_->ModelWindow(s.id, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 5u);
  EXPECT_FALSE(all->at(0).run_id.has_value());
  StoredMessage last = Add(s.id, "user", "m6");
  ASSERT_TRUE(store_->AttachRun(last.id, 77).ok());
  auto tail = store_->ModelWindow(s.id, 1);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->at(0).run_id, 77);
  EXPECT_EQ(store_->AttachRun(last.id + 100, 1).error().code, ErrorCode::kNotFound);
  auto none = store_->ModelWindow(s.id + 100, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(SessionStoreTest, HistoryKeepsSessionsApart) {
  SessionEntry a = Create("a");
  SessionEntry b = Create("b");
  Add(a.id, "user", "a1");
  Add(b.id, "user", "b1");
  Add(a.id, "user", "a2");
  EXPECT_EQ(Contents(a.id), (Strings{"a1", "a2"}));
  EXPECT_EQ(Contents(b.id), (Strings{"b1"}));
}

TEST_F(SessionStoreTest, GetMessage) {
  SessionEntry s = Create("k1");
  StoredMessage m = Add(s.id, "user", "hello");
  auto found = store_->GetMessage(m.id);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->content, "hello");
  EXPECT_EQ((*found)->seq, 1);
  auto missing = store_->GetMessage(m.id + 1);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

// ---- Branch ----------------------------------------------------------------------------------------

TEST_F(SessionStoreTest, BranchCopiesHistoryUpToMessage) {
  SessionSpec spec{"main", "coder", "identity", "irc", "acc", "irc:alice"};
  auto parent = store_->GetOrCreate(spec);
  ASSERT_TRUE(parent.ok());
  for (int i = 1; i <= 4; ++i) Add(parent->id, "user", "m" + std::to_string(i));
  auto branch = store_->Branch("main", 2, "main/branch");
  ASSERT_TRUE(branch.ok()) << branch.error().message;
  EXPECT_NE(branch->id, parent->id);
  EXPECT_EQ(branch->key, "main/branch");
  EXPECT_EQ(branch->kind, "branch");
  EXPECT_EQ(branch->agent_id, "coder");
  EXPECT_EQ(branch->channel_id, "irc");
  EXPECT_EQ(branch->account_id, "acc");
  EXPECT_EQ(branch->last_address, "irc:alice");
  EXPECT_EQ(branch->parent_id, parent->id);
  EXPECT_EQ(branch->parent_key, "main");
  EXPECT_EQ(branch->branched_at, 2);
  EXPECT_EQ(branch->message_count, 2);
  EXPECT_TRUE(branch->active);
  EXPECT_EQ(Contents(branch->id), (Strings{"m1", "m2"}));
  auto copied = store_->History(branch->id);
  ASSERT_TRUE(copied.ok());
  EXPECT_EQ((*copied)[1].seq, 2);
  EXPECT_EQ((*copied)[1].session_id, branch->id);
}

TEST_F(SessionStoreTest, BranchAllAndIndependentEvolution) {
  SessionEntry parent = Create("main");
  Add(parent.id, "user", "q");
  Add(parent.id, "assistant", "a");
  auto branch = store_->Branch("main", std::nullopt, "b1");
  ASSERT_TRUE(branch.ok());
  EXPECT_EQ(branch->branched_at, 2);
  EXPECT_EQ(branch->message_count, 2);

  EXPECT_EQ(Add(branch->id, "user", "branch-only").seq, 3);
  EXPECT_EQ(Add(parent.id, "user", "parent-only").seq, 3);
  Add(parent.id, "assistant", "parent-2");
  EXPECT_EQ(Contents(parent.id), (Strings{"q", "a", "parent-only", "parent-2"}));
  EXPECT_EQ(Contents(branch->id), (Strings{"q", "a", "branch-only"}));
  auto p = store_->GetById(parent.id);
  auto b = store_->GetById(branch->id);
  ASSERT_TRUE(p.ok() && p->has_value() && b.ok() && b->has_value());
  EXPECT_EQ((*p)->message_count, 4);
  EXPECT_EQ((*b)->message_count, 3);

  // A branch of a branch records its own parent.
  auto nested = store_->Branch("b1", 1, "b2");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->parent_key, "b1");
  EXPECT_EQ(Contents(nested->id), (Strings{"q"}));
}

TEST_F(SessionStoreTest, BranchErrors) {
  SessionEntry parent = Create("main");
  Add(parent.id, "user", "one");
  auto no_session = store_->Branch("nope", std::nullopt, "x");
  ASSERT_FALSE(no_session.ok());
  EXPECT_EQ(no_session.error().code, ErrorCode::kNotFound);
  for (int64_t seq : {0, -1, 2}) {
    auto bad = store_->Branch("main", seq, "x");
    ASSERT_FALSE(bad.ok()) << seq;
    EXPECT_EQ(bad.error().code, ErrorCode::kNotFound) << seq;
  }
  Create("taken");
  auto conflict = store_->Branch("main", 1, "taken");
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  auto self = store_->Branch("main", 1, "main");
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.error().code, ErrorCode::kConflict);
  auto empty_key = store_->Branch("main", 1, "");
  ASSERT_FALSE(empty_key.ok());
  EXPECT_EQ(empty_key.error().code, ErrorCode::kInvalidParams);
  // None of the failures left a session behind.
  auto all = store_->List(SessionFilter{});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->second, 2);
}

// ---- End, Delete -------------------------------------------------------------------------------------

TEST_F(SessionStoreTest, EndThenRecreateUnderSameKey) {
  SessionEntry first = Create("k1");
  Add(first.id, "user", "old");
  auto ended = store_->End("k1", "reset");
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->id, first.id);
  EXPECT_FALSE(ended->active);
  EXPECT_EQ(ended->end_reason, "reset");
  ASSERT_TRUE(ended->ended_at.has_value());
  EXPECT_GE(*ended->ended_at, first.created_at);

  auto gone = store_->Get("k1");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  auto again = store_->End("k1", "reset");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);

  bool created = false;
  auto second = store_->GetOrCreate(SessionSpec{"k1", "default", "identity", {}, {}, {}}, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(created);
  EXPECT_NE(second->id, first.id);
  EXPECT_EQ(second->message_count, 0);
  EXPECT_TRUE(Contents(second->id).empty());
  EXPECT_EQ(Contents(first.id), (Strings{"old"}));  // the ended session keeps its history
}

TEST_F(SessionStoreTest, DeleteRemovesEverySessionOfKeyWithMessagesAndRuns) {
  SessionEntry first = Create("k1");
  Add(first.id, "user", "a");
  ASSERT_TRUE(store_->End("k1", "reset").ok());
  SessionEntry second = Create("k1");
  StoredMessage m = Add(second.id, "user", "b");
  ASSERT_TRUE(db_->Insert("INSERT INTO runs (session_id, agent_id, message_id, origin, status, "
                          "created_at) VALUES (?1, 'default', ?2, 'channel', 'queued', 1)",
                          {second.id, m.id})
                  .ok());
  SessionEntry other = Create("k2");
  Add(other.id, "user", "c");
  auto branch = store_->Branch("k1", std::nullopt, "k1-branch");
  ASSERT_TRUE(branch.ok());

  auto deleted = store_->Delete("k1");
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  EXPECT_EQ(*deleted, 2);
  auto sessions = db_->QueryInt("SELECT COUNT(*) FROM sessions WHERE key = 'k1'");
  auto messages = db_->QueryInt("SELECT COUNT(*) FROM messages WHERE session_id IN (?1, ?2)",
                                {first.id, second.id});
  auto runs = db_->QueryInt("SELECT COUNT(*) FROM runs");
  ASSERT_TRUE(sessions.ok() && messages.ok() && runs.ok());
  EXPECT_EQ(**sessions, 0);
  EXPECT_EQ(**messages, 0);
  EXPECT_EQ(**runs, 0);
  EXPECT_EQ(Contents(other.id), (Strings{"c"}));  // other keys untouched
  // The branch survives, detached from its deleted parent, with its own copy of the history.
  auto b = store_->GetById(branch->id);
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_FALSE((*b)->parent_id);
  EXPECT_FALSE((*b)->parent_key);
  EXPECT_EQ(Contents(branch->id), (Strings{"b"}));

  auto missing = store_->Delete("k1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// ---- List ----------------------------------------------------------------------------------------------

TEST_F(SessionStoreTest, ListFiltersOrderAndTotals) {
  auto make = [&](std::string key, std::string agent, std::optional<std::string> channel,
                  std::optional<std::string> account, int64_t active_at) {
    auto s = store_->GetOrCreate(SessionSpec{key, agent, "identity", channel, account, std::nullopt});
    EXPECT_TRUE(s.ok());
    Add(s->id, "user", key, active_at);
    return s->id;
  };
  const int64_t t = NowMs() + 100000;  // later than every created_at, so appends set the order
  make("s1", "default", "telegram", "bot1", t + 1);
  make("s2", "default", "irc", std::nullopt, t + 3);
  make("s3", "coder", "telegram", "bot2", t + 2);
  make("s4", "coder", "telegram", "bot1", t + 4);
  ASSERT_TRUE(store_->End("s4", "reset").ok());

  auto keys = [&](const SessionFilter& f) {
    auto r = store_->List(f);
    EXPECT_TRUE(r.ok());
    std::vector<std::string> out;
    for (const auto& s : r->first) out.push_back(s.key);
    out.push_back("total=" + std::to_string(r->second));
    return out;
  };
  const std::nullopt_t any = std::nullopt;
  EXPECT_EQ(keys({}), (Strings{"s4", "s2", "s3", "s1", "total=4"}));
  EXPECT_EQ(keys(Filter("coder", any, any, any)), (Strings{"s4", "s3", "total=2"}));
  EXPECT_EQ(keys(Filter(any, "telegram", any, any)), (Strings{"s4", "s3", "s1", "total=3"}));
  EXPECT_EQ(keys(Filter(any, any, "bot1", any)), (Strings{"s4", "s1", "total=2"}));
  EXPECT_EQ(keys(Filter(any, any, any, true)), (Strings{"s2", "s3", "s1", "total=3"}));
  EXPECT_EQ(keys(Filter(any, any, any, false)), (Strings{"s4", "total=1"}));
  EXPECT_EQ(keys(Filter("default", "telegram", "bot1", true)), (Strings{"s1", "total=1"}));
  EXPECT_EQ(keys(Filter("nobody", any, any, any)), (Strings{"total=0"}));
  // Paging: total counts every match, not just the page.
  EXPECT_EQ(keys(Filter(any, any, any, any, 2)), (Strings{"s4", "s2", "total=4"}));
  EXPECT_EQ(keys(Filter(any, any, any, any, 2, 2)), (Strings{"s3", "s1", "total=4"}));
  EXPECT_EQ(keys(Filter(any, any, any, any, 2, 10)), (Strings{"total=4"}));
  EXPECT_EQ(keys(Filter(any, any, any, true, 1, 1)), (Strings{"s3", "total=3"}));
  // Out-of-range values are clamped: limit to 1..1000, offset to >= 0.
  EXPECT_EQ(keys(Filter(any, any, any, any, 0)), (Strings{"s4", "total=4"}));
  EXPECT_EQ(keys(Filter(any, any, any, any, -5, -3)), (Strings{"s4", "total=4"}));
  EXPECT_EQ(keys(Filter(any, any, any, any, 1000000)), (Strings{"s4", "s2", "s3", "s1", "total=4"}));
  // A set of channels (what an app may see), paged across them in one order.
  SessionFilter in_channels;
  in_channels.channel_in = std::vector<std::string>{"irc", "telegram"};
  in_channels.limit = 2;
  in_channels.offset = 1;
  EXPECT_EQ(keys(in_channels), (Strings{"s2", "s3", "total=4"}));
  in_channels.channel_in = std::vector<std::string>{"irc"};
  EXPECT_EQ(keys(in_channels), (Strings{"total=1"}));
  in_channels.channel_in = std::vector<std::string>{};
  in_channels.offset = 0;
  EXPECT_EQ(keys(in_channels), (Strings{"total=0"}));
}

TEST_F(SessionStoreTest, ListBreaksTiesByNewestId) {
  SessionEntry a = Create("a");
  SessionEntry b = Create("b");
  ASSERT_TRUE(db_->Run("UPDATE sessions SET last_active_at = 5").ok());
  auto r = store_->List({});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->first.size(), 2u);
  EXPECT_EQ(r->first[0].id, b.id);
  EXPECT_EQ(r->first[1].id, a.id);
}

// ---- ToJson ---------------------------------------------------------------------------------------------

TEST_F(SessionStoreTest, SessionToJsonOmitsAbsentFields) {
  SessionEntry s = Create("k1", "coder");
  json::value j = s.ToJson();
  const auto& o = j.as_object();
  EXPECT_EQ(o.at("id"), s.id);
  EXPECT_EQ(o.at("key"), "k1");
  EXPECT_EQ(o.at("agentId"), "coder");
  EXPECT_EQ(o.at("kind"), "identity");
  EXPECT_EQ(o.at("createdAt"), s.created_at);
  EXPECT_EQ(o.at("lastActiveAt"), s.last_active_at);
  EXPECT_EQ(o.at("messageCount"), 0);
  EXPECT_EQ(o.at("active"), true);
  for (std::string_view absent : {"channelId", "accountId", "lastAddress", "parentId", "parentKey",
                                  "branchedAt", "endedAt", "endReason", "metadata"}) {
    EXPECT_FALSE(o.contains(absent)) << absent;
  }
}

TEST_F(SessionStoreTest, SessionToJsonFull) {
  auto parent = store_->GetOrCreate(SessionSpec{"p", "default", "identity", "irc", "acc", "irc:bob"});
  ASSERT_TRUE(parent.ok());
  Add(parent->id, "user", "x");
  auto branch = store_->Branch("p", 1, "p2");
  ASSERT_TRUE(branch.ok());
  ASSERT_TRUE(store_->End("p2", "user reset").ok());
  auto ended = store_->GetById(branch->id);
  ASSERT_TRUE(ended.ok() && ended->has_value());
  json::value j = (*ended)->ToJson();
  EXPECT_EQ(j.at("kind"), "branch");
  EXPECT_EQ(j.at("channelId"), "irc");
  EXPECT_EQ(j.at("accountId"), "acc");
  EXPECT_EQ(j.at("lastAddress"), "irc:bob");
  EXPECT_EQ(j.at("parentId"), parent->id);
  EXPECT_EQ(j.at("parentKey"), "p");
  EXPECT_EQ(j.at("branchedAt"), 1);
  EXPECT_EQ(j.at("messageCount"), 1);
  EXPECT_EQ(j.at("active"), false);
  EXPECT_EQ(j.at("endReason"), "user reset");
  EXPECT_TRUE(j.at("endedAt").is_int64());
}

TEST_F(SessionStoreTest, MessageToJson) {
  SessionEntry s = Create("k1");
  NewMessage m;
  m.role = "assistant";
  m.content = "text";
  m.tool_calls = {{"c1", "search", R"({"q":"x"})"}};
  m.run_id = 5;
  m.address = "irc:bob";
  m.sender = "bob";
  m.metadata = json::object{{"k", "v"}};
  m.tokens_in = 10;
  m.tokens_out = 3;
  m.created_at = 1234;
  auto stored = store_->Append(s.id, m);
  ASSERT_TRUE(stored.ok());
  json::value expected = {
      {"id", stored->id},
      {"seq", 1},
      {"role", "assistant"},
      {"content", "text"},
      {"toolCalls",
       json::array{json::object{{"id", "c1"}, {"name", "search"}, {"arguments", R"({"q":"x"})"}}}},
      {"runId", 5},
      {"address", "irc:bob"},
      {"sender", "bob"},
      {"metadata", {{"k", "v"}}},
      {"tokens", {{"input", 10}, {"output", 3}}},
      {"createdAt", 1234}};
  EXPECT_EQ(stored->ToJson(), expected) << json::serialize(stored->ToJson());

  StoredMessage tool = Add(s.id, "tool", "out", 2000);
  json::value minimal = {
      {"id", tool.id}, {"seq", 2}, {"role", "tool"}, {"content", "out"}, {"createdAt", 2000}};
  EXPECT_EQ(tool.ToJson(), minimal) << json::serialize(tool.ToJson());
}


TEST_F(SessionStoreTest, CompactedMessagesStayInHistoryButLeaveTheModelWindow) {
  SessionEntry s = Create("k1");
  std::vector<int64_t> ids;
  for (int i = 1; i <= 4; ++i) ids.push_back(Add(s.id, "user", "m" + std::to_string(i)).id);
  StoredMessage summary = Add(s.id, "summary", "the gist of m1 and m2");
  SessionEntry other = Create("k2");
  int64_t foreign = Add(other.id, "user", "elsewhere").id;
  auto marked = store_->MarkCompacted(s.id, {ids[0], ids[1], foreign});
  ASSERT_TRUE(marked.ok());
  EXPECT_EQ(*marked, 2);  // the other session's message is not touched
  auto window = store_->ModelWindow(s.id, 0);
  ASSERT_TRUE(window.ok());
  ASSERT_EQ(window->size(), 3u);
  EXPECT_EQ(window->at(0).content, "m3");
  EXPECT_EQ(window->at(0).seq, 3);
  EXPECT_EQ(window->at(0).id, ids[2]);
  EXPECT_EQ(window->at(2).role, "summary");
  EXPECT_EQ(window->at(2).id, summary.id);
  EXPECT_EQ(Contents(s.id).size(), 5u);  // the full history keeps the originals
  EXPECT_EQ(store_->CompactedCount(s.id).value(), 2);
  EXPECT_EQ(store_->ModelWindow(other.id, 0)->size(), 1u);
  auto latest = store_->LatestSummary(s.id);
  ASSERT_TRUE(latest.ok() && *latest);
  EXPECT_EQ((*latest)->id, summary.id);
  EXPECT_EQ(store_->MarkCompactedBefore(s.id, 4).value(), 1);  // m3; m1, m2 were already
  EXPECT_EQ(store_->ModelWindow(s.id, 0)->front().content, "m4");
  ASSERT_TRUE(store_->MarkCompacted(s.id, {summary.id}).ok());
  EXPECT_FALSE(store_->LatestSummary(s.id).value().has_value());
}

TEST_F(SessionStoreTest, MetadataCanBeReplaced) {
  SessionEntry s = Create("k1");
  ASSERT_TRUE(store_->SetMetadata(s.id, json::object{{"model", "openai/gpt-4o"}}).ok());
  auto got = store_->GetById(s.id);
  ASSERT_TRUE(got.ok() && *got);
  EXPECT_EQ((*got)->metadata.at("model").as_string(), "openai/gpt-4o");
  EXPECT_EQ(store_->SetMetadata(s.id + 99, json::object{}).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace oc::sessions
