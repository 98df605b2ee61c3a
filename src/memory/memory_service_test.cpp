// MemoryService against the real pieces: a temporary state.db, the built vec0.so, the local
// embedder (and an openai embedder pointed at a closed port), an io_context as the kernel loop and
// a thread_pool as the workers. Waits poll with deadlines; nothing sleeps for a fixed time.
#include "memory/memory_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "agent/test_http_server.h"
#include "memory/memory_indexer.h"
#include "store/database.h"

namespace oc::memory {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t Int(const json::object& o, const char* key) { return o.at(key).to_number<int64_t>(); }

std::set<std::string> Hashes(const std::string& text, const ChunkOptions& options) {
  std::set<std::string> out;
  for (const auto& c : ChunkMarkdown(text, options)) out.insert(c.hash);
  return out;
}

class MemoryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("oc_memory_service_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    ws_ = dir_ / "workspace";
    fs::create_directories(ws_ / "memory");
    db_path_ = dir_ / "state.db";
    auto db = store::Database::Open(db_path_);  // migrated like the kernel does before memory opens
    ASSERT_TRUE(db.ok()) << db.error().message;
    http_ = std::make_unique<agent::HttpClient>(io_.get_executor());
  }

  void TearDown() override {
    service_.reset();
    RunFor(50ms);  // work in flight finishes and finds the service gone
    pool_.join();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  MemorySettings Settings() {
    MemorySettings s;
    s.vec_extension = OPENCLAWOS_TEST_VEC0;
    s.embedding.provider = "local";
    s.debounce = 40ms;
    s.rescan_interval = 60s;
    s.search.min_score = 0;
    return s;
  }

  void Open(MemorySettings settings, std::vector<fs::path> workspaces) {
    auto opened = MemoryService::Open(db_path_, std::move(settings), io_.get_executor(), pool_, *http_);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    service_ = std::move(opened).value();
    service_->SetWorkspaces(std::move(workspaces));
  }
  void Open() { Open(Settings(), {ws_}); }

  void RunFor(std::chrono::milliseconds d) {
    io_.restart();
    io_.run_for(d);
  }

  // Runs the loop until `work` finishes (at most `limit`); the result lives in a shared slot so a
  // timed-out coroutine never writes into a dead stack frame.
  template <class T>
  T Await(asio::awaitable<T> work, std::chrono::milliseconds limit = 30s) {
    auto slot = std::make_shared<std::optional<T>>();
    auto body = [](asio::awaitable<T> w, std::shared_ptr<std::optional<T>> out) -> asio::awaitable<void> {
      out->emplace(co_await std::move(w));
    };
    asio::co_spawn(io_, body(std::move(work), slot), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    auto deadline = Clock::now() + limit;
    while (!*slot && Clock::now() < deadline) {
      io_.restart();
      io_.run_one_for(20ms);
    }
    if (!*slot) throw std::runtime_error("timed out awaiting the memory service");
    return std::move(**slot);
  }

  bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds limit = 20s) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (condition()) return true;
      RunFor(25ms);
    }
    return condition();
  }

  json::object Status() { return Await(service_->StatusJson()); }

  std::vector<SearchHit> Search(const std::string& query, fs::path workspace = {}) {
    MemoryService::SearchOptions options;
    options.top_k = 10;
    auto hits = Await(service_->Search(workspace.empty() ? ws_ : workspace, query, options));
    EXPECT_TRUE(hits.ok()) << hits.error().message;
    return hits.ok() ? std::move(hits).value() : std::vector<SearchHit>{};
  }
  bool Finds(const std::string& query, const std::string& path, fs::path workspace = {}) {
    for (const auto& hit : Search(query, workspace))
      if (hit.path == path && hit.text.find(query) != std::string::npos) return true;
    return false;
  }

  IndexReport Index(bool force = false) {
    auto report = Await(service_->Index(ws_, force, nullptr));
    EXPECT_TRUE(report.ok()) << report.error().message;
    return report.ok() ? std::move(report).value() : IndexReport{};
  }

  Result<std::string> Read(const std::string& path, int from = 1, int lines = 0) {
    return Await(service_->ReadFile(ws_, path, from, lines));
  }

  asio::io_context io_;
  asio::thread_pool pool_{2};
  std::unique_ptr<agent::HttpClient> http_;
  std::unique_ptr<MemoryService> service_;
  fs::path dir_, ws_, db_path_;
};

TEST_F(MemoryServiceTest, IndexesTheWorkspaceAndSearchesIt) {
  WriteFile(ws_ / "MEMORY.md", "# Preferences\n\nThe user prefers Postgres over MySQL for new projects.\n");
  WriteFile(ws_ / "memory" / "travel.md", "# Travel\n\nFlights to Lisbon leave on Friday mornings.\n");
  WriteFile(ws_ / "memory" / "ignored.txt", "Postgres in a text file is not memory\n");
  WriteFile(ws_ / "AGENTS.md", "Postgres outside the memory files\n");
  Open();
  std::vector<IndexProgress> progress;
  auto report = Await(service_->Index(ws_, false, [&](const IndexProgress& p) { progress.push_back(p); }));
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->error, "");
  EXPECT_EQ(report->files_scanned, 2u);
  EXPECT_GE(report->embeddings_computed + report->embeddings_cached, 2u);
  ASSERT_FALSE(progress.empty());
  std::set<std::string> phases;
  for (const auto& p : progress) phases.insert(p.phase);
  EXPECT_TRUE(phases.count("scanning") && phases.count("embedding")) << progress.size();
  EXPECT_EQ(progress.back().phase, "idle");
  EXPECT_EQ(progress.back().files_total, 2u);
  EXPECT_EQ(progress.back().files_done, 2u);
  EXPECT_EQ(progress.back().workspace, internal::WorkspaceKey(ws_));

  auto hits = Search("Postgres");
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].path, "MEMORY.md");
  EXPECT_EQ(hits[0].line_start, 1);
  EXPECT_EQ(hits[0].line_end, 3);
  EXPECT_GT(hits[0].vector_score, 0);
  EXPECT_GT(hits[0].text_score, 0);
  EXPECT_NE(hits[0].snippet.find("Postgres"), std::string::npos);
  for (const auto& hit : hits) EXPECT_TRUE(hit.path == "MEMORY.md" || hit.path == "memory/travel.md") << hit.path;
  EXPECT_TRUE(Finds("Lisbon", "memory/travel.md"));

  json::object status = Status();
  EXPECT_TRUE(status.at("enabled").as_bool());
  EXPECT_EQ(status.at("provider").as_string(), "local");
  EXPECT_EQ(status.at("model").as_string(), "local/hash-v1-384");
  EXPECT_EQ(Int(status, "dims"), 384);
  EXPECT_EQ(Int(status, "files"), 2);
  EXPECT_EQ(Int(status, "pending"), 0);
  EXPECT_EQ(Int(status, "chunks"), Int(status, "embedded"));
  EXPECT_TRUE(status.at("watching").as_bool());
  EXPECT_TRUE(status.at("lastError").is_null());
  ASSERT_TRUE(status.at("lastIndex").is_object());
  EXPECT_EQ(Int(status.at("lastIndex").as_object(), "filesScanned"), 2);
  ASSERT_EQ(status.at("workspaces").as_array().size(), 1u);
  EXPECT_EQ(status.at("workspaces").as_array()[0].as_object().at("workspace").as_string(),
            internal::WorkspaceKey(ws_));
  EXPECT_EQ(Search("Postgres", dir_ / "elsewhere").size(), 0u);  // another workspace's index is separate
}

TEST_F(MemoryServiceTest, WatcherReindexesEditsDeletionsAndNewSubdirectories) {
  WriteFile(ws_ / "memory" / "notes.md", "# Notes\n\nThe staging database runs on port 5433.\n");
  Open();
  ASSERT_TRUE(WaitFor([&] { return Finds("staging", "memory/notes.md"); }));

  // An edit, with no Index() call: inotify + debounce re-index it.
  WriteFile(ws_ / "memory" / "notes.md", "# Notes\n\nThe staging database runs on port 5433.\n\nZanzibar is the codename.\n");
  ASSERT_TRUE(WaitFor([&] { return Finds("Zanzibar", "memory/notes.md"); }));

  // A deletion removes the file's chunks.
  fs::remove(ws_ / "memory" / "notes.md");
  ASSERT_TRUE(WaitFor([&] { return Search("Zanzibar").empty() && Int(Status(), "files") == 0; }));
  EXPECT_EQ(Int(Status(), "chunks"), 0);

  // A new nested directory is watched as it appears, and its files indexed.
  WriteFile(ws_ / "memory" / "a" / "b" / "x.md", "# Deep\n\nThe quokka lives on Rottnest Island.\n");
  ASSERT_TRUE(WaitFor([&] { return Finds("quokka", "memory/a/b/x.md"); }));
  // ...and a later file in that directory too (only the watch on memory/a/b can see it).
  WriteFile(ws_ / "memory" / "a" / "b" / "y.md", "# Deeper\n\nThe numbat eats termites.\n");
  ASSERT_TRUE(WaitFor([&] { return Finds("numbat", "memory/a/b/y.md"); }));

  // MEMORY.md appearing at the top of the workspace.
  WriteFile(ws_ / "MEMORY.md", "The platypus lays eggs.\n");
  ASSERT_TRUE(WaitFor([&] { return Finds("platypus", "MEMORY.md"); }));
  json::object status = Status();
  EXPECT_EQ(Int(status, "files"), 3);
  EXPECT_TRUE(WaitFor([&] { return Int(Status(), "pending") == 0; }));
}

TEST_F(MemoryServiceTest, WithoutWatchingPeriodicRescansPickUpChanges) {
  MemorySettings settings = Settings();
  settings.watch = false;
  settings.rescan_interval = 100ms;
  WriteFile(ws_ / "MEMORY.md", "The gecko climbs walls.\n");
  Open(settings, {ws_});
  ASSERT_TRUE(WaitFor([&] { return Finds("gecko", "MEMORY.md"); }));
  EXPECT_FALSE(Status().at("watching").as_bool());
  WriteFile(ws_ / "memory" / "later.md", "The iguana basks in the sun.\n");
  ASSERT_TRUE(WaitFor([&] { return Finds("iguana", "memory/later.md"); }));
}

TEST_F(MemoryServiceTest, UnchangedChunksAreNeverEmbeddedAgain) {
  MemorySettings settings = Settings();
  settings.watch = false;  // passes only from Index(), so every count belongs to one call
  settings.chunking.target_tokens = 60;
  settings.chunking.overlap_tokens = 10;
  std::string before;
  for (int i = 0; i < 6; ++i)
    before += "## Section " + std::to_string(i) + "\n\nParagraph " + std::to_string(i) +
              " talks about topic number " + std::to_string(i * 7) + " in some detail.\n\n";
  WriteFile(ws_ / "memory" / "long.md", before);
  Open(settings, {ws_});
  IndexReport first = Index();
  size_t total = Hashes(before, settings.chunking).size();
  ASSERT_GE(total, 3u);
  EXPECT_EQ(first.embeddings_computed, total);
  json::object status = Status();
  int64_t computed_before = Int(status, "embeddingsComputed");

  std::string after = before;
  size_t at = after.find("topic number 14");
  ASSERT_NE(at, std::string::npos);
  after.replace(at, 15, "topic number 99 (edited)");
  auto old_hashes = Hashes(before, settings.chunking);
  size_t changed = 0;
  for (const auto& h : Hashes(after, settings.chunking)) changed += old_hashes.count(h) ? 0 : 1;
  ASSERT_GE(changed, 1u);
  ASSERT_LT(changed, total);
  WriteFile(ws_ / "memory" / "long.md", after);
  IndexReport second = Index();
  EXPECT_EQ(second.error, "");
  EXPECT_EQ(second.files_changed, 1u);
  EXPECT_EQ(second.embeddings_computed, changed);  // only the edited chunk's text
  EXPECT_EQ(Int(Status(), "embeddingsComputed") - computed_before, static_cast<int64_t>(changed));
  EXPECT_TRUE(Finds("edited", "memory/long.md"));

  // Forced re-chunking of unchanged files: every chunk kept, nothing embedded.
  IndexReport forced = Index(/*force=*/true);
  EXPECT_EQ(forced.embeddings_computed, 0u);
  EXPECT_EQ(forced.embeddings_cached, 0u);
  EXPECT_EQ(forced.chunks_added, 0u);
  EXPECT_EQ(forced.chunks_kept, Hashes(after, settings.chunking).size());

  // Back to the old text: the old chunk's vector comes from the cache, not the embedder.
  WriteFile(ws_ / "memory" / "long.md", before + "\n");
  IndexReport reverted = Index();
  EXPECT_EQ(reverted.embeddings_computed, 0u);
  EXPECT_GE(reverted.embeddings_cached, 1u);
  EXPECT_EQ(Int(Status(), "pending"), 0);
}

// An OpenAI-compatible embeddings endpoint that records every text it is sent: the strongest form
// of "no text is embedded twice" (the wire is what costs money).
TEST_F(MemoryServiceTest, RemoteEmbedderIsSentEachChunkTextOnce) {
  agent::test_server::TestHttpServer server(io_.get_executor());
  std::vector<std::string> sent;
  server.set_handler([&sent](const agent::test_server::CapturedRequest& req) {
    json::array data;
    size_t i = 0;
    json::value body_json = req.Json();
    for (const auto& input : body_json.at("input").as_array()) {
      std::string text(input.as_string());
      sent.push_back(text);
      json::array vector;
      for (float x : LocalEmbedding(text, 64)) vector.push_back(x);
      data.push_back(json::object{{"object", "embedding"}, {"index", i++}, {"embedding", std::move(vector)}});
    }
    std::string body = json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
    return agent::test_server::CannedAnswer{{agent::test_server::RawResponse(200, "OK", "", body)}};
  });
  MemorySettings settings = Settings();
  settings.watch = false;
  settings.chunking.target_tokens = 60;
  settings.chunking.overlap_tokens = 10;
  settings.embedding.provider = "openai";
  settings.embedding.model = "fake-embed";
  settings.embedding.api_key = "sk-test";
  settings.embedding.base_url = server.base_url() + "/v1";
  std::string before;
  for (int i = 0; i < 5; ++i)
    before += "## Part " + std::to_string(i) + "\n\nThe lighthouse keeper logs ship number " + std::to_string(i * 11) +
              " at dawn.\n\n";
  WriteFile(ws_ / "memory" / "log.md", before);
  Open(settings, {ws_});
  IndexReport first = Index();
  ASSERT_EQ(first.error, "");
  json::object status = Status();
  EXPECT_EQ(status.at("model").as_string(), "openai/fake-embed");
  EXPECT_EQ(Int(status, "dims"), 64);  // learnt from the provider's first answer
  EXPECT_EQ(Int(status, "pending"), 0);
  size_t chunks = Hashes(before, settings.chunking).size();
  EXPECT_EQ(sent.size(), chunks + 1);  // + the dimension probe

  std::string after = before;
  after.replace(after.find("number 22"), 9, "number 23");
  WriteFile(ws_ / "memory" / "log.md", after);
  sent.clear();
  IndexReport second = Index();
  EXPECT_EQ(second.error, "");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(sent[0].find("number 23"), std::string::npos);
  sent.clear();
  EXPECT_EQ(Index(/*force=*/true).embeddings_computed, 0u);
  EXPECT_TRUE(sent.empty());

  auto hits = Search("lighthouse keeper");  // the query itself goes to the provider
  ASSERT_FALSE(hits.empty());
  EXPECT_GT(hits[0].vector_score, 0);
  EXPECT_EQ(sent, std::vector<std::string>{"lighthouse keeper"});
}

TEST_F(MemoryServiceTest, ModelChangeReembedsInTheBackgroundWhileSearchAnswers) {
  for (int i = 0; i < 40; ++i)
    WriteFile(ws_ / "memory" / ("day" + std::to_string(i) + ".md"),
              "# Day " + std::to_string(i) + "\n\nMeeting about the Postgres migration, part " + std::to_string(i) + ".\n");
  Open();
  IndexReport first = Index();
  ASSERT_EQ(first.error, "");
  EXPECT_EQ(Int(Status(), "dims"), 384);

  MemorySettings settings = Settings();
  settings.embedding.dimensions = 256;
  settings.embedding.batch_size = 2;  // many small rounds: searches interleave with the re-embedding
  ASSERT_TRUE(service_->ApplySettings(settings).ok());
  EXPECT_EQ(Status().at("model").as_string(), "local/hash-v1-256");
  // Search keeps answering throughout the switch (text side, plus what is re-embedded already).
  bool searched_midway = false;
  bool done = WaitFor([&] {
    int64_t pending = Int(Status(), "pending");
    auto hits = Search("Postgres migration");
    EXPECT_FALSE(hits.empty());
    if (pending > 0 && !hits.empty()) searched_midway = true;
    json::object s = Status();
    return Int(s, "dims") == 256 && Int(s, "pending") == 0 && Int(s, "chunks") > 0;
  });
  ASSERT_TRUE(done);
  EXPECT_TRUE(searched_midway);
  EXPECT_GE(Int(Status(), "embeddingsComputed"), 80);  // 40 chunks at 384, then again at 256
  auto hits = Search("Postgres migration");
  ASSERT_FALSE(hits.empty());
  EXPECT_GT(hits[0].vector_score, 0);

  // An unknown provider is refused and the old settings stay.
  MemorySettings bad = Settings();
  bad.embedding.provider = "carrier-pigeon";
  EXPECT_FALSE(service_->ApplySettings(bad).ok());
  EXPECT_EQ(Status().at("model").as_string(), "local/hash-v1-256");
}

TEST_F(MemoryServiceTest, StoreAppendsADatedEntryAndSearchFindsIt) {
  Open();
  auto stored = Await(service_->Store(ws_, "I prefer Postgres over MySQL", {"db", "#prefs"}));
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  std::time_t t = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char date[16];
  std::strftime(date, sizeof date, "%Y-%m-%d", &utc);
  EXPECT_EQ(stored->path, std::string("memory/") + date + ".md");
  EXPECT_EQ(stored->line_start, 3);
  EXPECT_EQ(stored->line_end, 3);
  std::string content = ReadWhole(ws_ / stored->path);
  EXPECT_EQ(content.rfind(std::string("# ") + date + "\n\n- ", 0), 0u) << content;
  EXPECT_NE(content.find(" I prefer Postgres over MySQL #db #prefs\n"), std::string::npos) << content;

  // Found right away, by text and by vector.
  auto hits = Search("Postgres");
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].path, stored->path);
  EXPECT_GT(hits[0].vector_score, 0);
  EXPECT_LE(hits[0].line_start, 3);
  EXPECT_GE(hits[0].line_end, 3);

  auto second = Await(service_->Store(ws_, "Deploys happen on Tuesdays\n\nafter the standup", {}));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->line_start, 4);
  EXPECT_EQ(second->line_end, 5);
  auto entry = Read(second->path, second->line_start, second->line_end - second->line_start + 1);
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_NE(entry->find("Deploys happen on Tuesdays\n  after the standup"), std::string::npos) << *entry;
  EXPECT_TRUE(WaitFor([&] { return Finds("standup", second->path); }));

  auto empty = Await(service_->Store(ws_, "  \n ", {}));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidParams);
  auto too_long = Await(service_->Store(ws_, std::string(8001, 'x'), {}));
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidParams);
  auto just_right = Await(service_->Store(ws_, std::string(8000, 'y'), {}));
  EXPECT_TRUE(just_right.ok());
}

TEST_F(MemoryServiceTest, StoreRefusesASymlinkedMemoryDirectory) {
  fs::remove_all(ws_ / "memory");
  fs::create_directories(dir_ / "outside");
  fs::create_directory_symlink(dir_ / "outside", ws_ / "memory");
  Open();
  auto stored = Await(service_->Store(ws_, "a fact", {}));
  ASSERT_FALSE(stored.ok());
  EXPECT_EQ(stored.error().code, ErrorCode::kForbidden);
  EXPECT_TRUE(fs::is_empty(dir_ / "outside"));
}

TEST_F(MemoryServiceTest, ReadFileReturnsLineRangesAndRefusesOtherPaths) {
  std::string text;
  for (int i = 1; i <= 10; ++i) text += "line " + std::to_string(i) + "\n";
  WriteFile(ws_ / "MEMORY.md", text);
  WriteFile(ws_ / "memory" / "sub" / "n.md", "alpha\nbeta\n");
  WriteFile(ws_ / "AGENTS.md", "not memory\n");
  WriteFile(ws_ / "notes.txt", "not memory\n");
  WriteFile(dir_ / "outside.md", "secret\n");
  fs::create_symlink(dir_ / "outside.md", ws_ / "memory" / "out.md");
  fs::create_symlink(ws_ / "AGENTS.md", ws_ / "memory" / "agents.md");
  Open();

  EXPECT_EQ(*Read("MEMORY.md", 3, 2), "line 3\nline 4");
  EXPECT_EQ(*Read("MEMORY.md", 9, 0), "line 9\nline 10");
  EXPECT_EQ(*Read("./MEMORY.md", 0, 1), "line 1");
  EXPECT_EQ(*Read("MEMORY.md", 20, 0), "");
  EXPECT_EQ(*Read("memory/sub/n.md"), "alpha\nbeta");

  for (const std::string path : {"../x.md", "/etc/passwd", "memory/../../outside.md", "memory/../AGENTS.md",
                                 "notes.txt", "memory/notes.txt", "AGENTS.md", "memory/out.md", "memory/agents.md", ""}) {
    auto r = Read(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.error().code, ErrorCode::kForbidden) << path << ": " << r.error().message;
  }
  auto missing = Read("memory/none.md");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(MemoryServiceTest, FailingEmbedderLeavesChunksPendingAndTextSearchWorking) {
  uint16_t closed_port;
  {
    asio::ip::tcp::acceptor acceptor(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = acceptor.local_endpoint().port();
  }
  WriteFile(ws_ / "MEMORY.md", "# Prefs\n\nThe user prefers Postgres over MySQL.\n");
  MemorySettings settings = Settings();
  settings.embedding.provider = "openai";
  settings.embedding.api_key = "sk-test-not-a-key";
  settings.embedding.base_url = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1";
  settings.embedding.max_retries = 0;
  settings.embedding.timeout = 2s;
  Open(settings, {ws_});
  IndexReport report = Index();
  EXPECT_NE(report.error, "");
  EXPECT_EQ(report.embeddings_computed, 0u);
  json::object status = Status();
  EXPECT_TRUE(status.at("lastError").is_string());
  EXPECT_GT(Int(status, "chunks"), 0);
  EXPECT_EQ(Int(status, "pending"), Int(status, "chunks"));

  auto hits = Search("Postgres");  // the query cannot be embedded either: text only
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].path, "MEMORY.md");
  EXPECT_EQ(hits[0].vector_score, 0);
  EXPECT_GT(hits[0].text_score, 0);
  auto stored = Await(service_->Store(ws_, "The cat is called Miso", {}));
  ASSERT_TRUE(stored.ok()) << stored.error().message;  // stored even though it cannot be embedded yet
  EXPECT_TRUE(Finds("Miso", stored->path));

  // The provider is back (here: a working one): the pending chunks are embedded.
  ASSERT_TRUE(service_->ApplySettings(Settings()).ok());
  ASSERT_TRUE(WaitFor([&] {
    json::object s = Status();
    return Int(s, "pending") == 0 && Int(s, "dims") == 384;
  }));
  EXPECT_EQ(Index().error, "");
  EXPECT_TRUE(Status().at("lastError").is_null());
  EXPECT_GT(Search("Postgres")[0].vector_score, 0);
}

TEST_F(MemoryServiceTest, WorkspacesDroppedFromTheListLoseTheirIndex) {
  fs::path other = dir_ / "other";
  WriteFile(other / "MEMORY.md", "The kookaburra laughs.\n");
  WriteFile(ws_ / "MEMORY.md", "The wombat digs.\n");
  Open(Settings(), {ws_, other});
  ASSERT_TRUE(WaitFor([&] { return Finds("kookaburra", "MEMORY.md", other) && Finds("wombat", "MEMORY.md"); }));
  EXPECT_FALSE(Finds("wombat", "MEMORY.md", other));
  auto all = Await(service_->Index(std::nullopt, false, nullptr));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->files_scanned, 2u);

  service_->SetWorkspaces({ws_});
  ASSERT_TRUE(WaitFor([&] { return !Finds("kookaburra", "MEMORY.md", other) && Int(Status(), "files") == 1; }));
  auto unknown = Await(service_->Index(other, false, nullptr));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_F(MemoryServiceTest, SkipsHugeFilesAndSymlinks) {
  WriteFile(ws_ / "memory" / "big.md", std::string(internal::kMaxMemoryFileBytes + 1, 'a'));
  WriteFile(dir_ / "elsewhere.md", "The axolotl regrows limbs.\n");
  fs::create_symlink(dir_ / "elsewhere.md", ws_ / "memory" / "link.md");
  fs::create_directories(dir_ / "linked_dir");
  WriteFile(dir_ / "linked_dir" / "inner.md", "The axolotl again.\n");
  fs::create_directory_symlink(dir_ / "linked_dir", ws_ / "memory" / "linked");
  WriteFile(ws_ / "memory" / "small.md", "The okapi is shy.\n");
  Open();
  IndexReport report = Index();
  EXPECT_EQ(report.files_scanned, 1u);
  EXPECT_TRUE(Finds("okapi", "memory/small.md"));
  for (const auto& hit : Search("axolotl")) EXPECT_EQ(hit.path, "memory/small.md");  // (a vector-only neighbour)
  EXPECT_EQ(Int(Status(), "files"), 1);
}

TEST_F(MemoryServiceTest, StopWithWorkInFlightThenDestroy) {
  for (int i = 0; i < 60; ++i)
    WriteFile(ws_ / "memory" / ("f" + std::to_string(i) + ".md"),
              "# File " + std::to_string(i) + "\n\nSome text about item " + std::to_string(i) + ".\n");
  Open();
  // The awaitables are created now (as the kernel's co_await does) and run on the loop later.
  auto index_done = std::make_shared<std::optional<Result<IndexReport>>>();
  auto search_done = std::make_shared<std::atomic<bool>>(false);
  auto stored_done = std::make_shared<std::atomic<bool>>(false);
  auto keep = [](auto work, auto out) -> asio::awaitable<void> { out->emplace(co_await std::move(work)); };
  auto flag = [](auto work, std::shared_ptr<std::atomic<bool>> out) -> asio::awaitable<void> {
    co_await std::move(work);
    *out = true;
  };
  MemoryService::SearchOptions options;
  std::vector<std::string> tags;
  asio::co_spawn(io_, keep(service_->Index(ws_, true, nullptr), index_done), asio::detached);
  asio::co_spawn(io_, flag(service_->Search(ws_, "item", options), search_done), asio::detached);
  asio::co_spawn(io_, flag(service_->Store(ws_, "stored while stopping", tags), stored_done), asio::detached);
  io_.restart();
  for (int i = 0; i < 5; ++i) io_.run_one_for(5ms);  // the work is under way on the pool and the loop
  service_->Stop();
  service_.reset();
  ASSERT_TRUE(WaitFor([&] { return index_done->has_value() && search_done->load() && stored_done->load(); }, 20s));
  EXPECT_TRUE(index_done->value().ok());  // a report (possibly saying the service stopped)
}

TEST(MemoryServiceStatic, DefaultVecExtensionPath) {
  ::setenv("OPENCLAWOS_VEC0", "/opt/x/vec0.so", 1);
  EXPECT_EQ(DefaultVecExtensionPath(), fs::path("/opt/x/vec0.so"));
  ::unsetenv("OPENCLAWOS_VEC0");
  fs::path p = DefaultVecExtensionPath();
  EXPECT_EQ(p.filename(), "vec0.so");
  EXPECT_EQ(p.parent_path().filename(), "lib");
}

TEST(MemoryServiceStatic, CheckMemoryPath) {
  EXPECT_EQ(*internal::CheckMemoryPath("MEMORY.md"), "MEMORY.md");
  EXPECT_EQ(*internal::CheckMemoryPath("memory/a/b.md"), "memory/a/b.md");
  EXPECT_EQ(*internal::CheckMemoryPath("./memory//c.md"), "memory/c.md");
  EXPECT_FALSE(internal::CheckMemoryPath("memory/.md").ok());
  EXPECT_FALSE(internal::CheckMemoryPath("memory/a/../../b.md").ok());
  EXPECT_FALSE(internal::CheckMemoryPath("memoryx/b.md").ok());
  EXPECT_FALSE(internal::CheckMemoryPath("MEMORY.md/x").ok());
}

}  // namespace
}  // namespace oc::memory
