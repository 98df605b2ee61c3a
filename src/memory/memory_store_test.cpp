#include "memory/memory_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <random>

#include "memory/memory_store_index.h"
#include "memory/memory_text.h"
#include "store/database.h"

namespace oc::memory {
namespace {

namespace fs = std::filesystem;

constexpr int kDims = 32;

// A unit vector: `weights` on the first axes, normalised.
std::vector<float> Vec(std::initializer_list<float> weights, int dims = kDims) {
  std::vector<float> v(dims, 0.0f);
  size_t i = 0;
  for (float w : weights) v[i++] = w;
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

// A chunk with an explicit hash (the tests do not depend on ContentHash).
TextChunk Chunk(int line, std::string text) {
  TextChunk chunk;
  chunk.line_start = line;
  chunk.line_end = line + 1;
  chunk.hash = "hash:" + text;
  chunk.text = std::move(text);
  return chunk;
}

FileState File(std::string path, std::string hash = "file-hash") {
  FileState file;
  file.path = std::move(path);
  file.hash = std::move(hash);
  file.size = 100;
  file.mtime_ms = 1000;
  return file;
}

// A query: workspace, text, optional vector, top_k; the rest at SearchQuery's defaults.
SearchQuery Query(std::string workspace, std::string text, std::optional<std::vector<float>> vector = std::nullopt,
                  size_t top_k = 6) {
  SearchQuery query;
  query.workspace = std::move(workspace);
  query.text = std::move(text);
  query.vector = std::move(vector);
  query.top_k = top_k;
  return query;
}

class MemoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("oc_memory_store_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(rd()));
    fs::create_directories(dir_);
    db_path_ = dir_ / "state.db";
    store_ = OpenOk();
    ASSERT_TRUE(store_);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<MemoryStore> OpenOk(bool read_only = false) {
    MemoryStore::Options options;
    options.read_only = read_only;
    if (!use_index_) options.max_index_bytes = 0;
    auto opened = MemoryStore::Open(db_path_, OPENCLAWOS_TEST_VEC0, options);
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().message);
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  // Indexes `texts` as one file and gives chunk i the vector vectors[i] (none when absent).
  std::vector<int64_t> AddFile(const std::string& workspace, const std::string& path,
                               const std::vector<std::string>& texts,
                               const std::vector<std::vector<float>>& vectors) {
    std::vector<TextChunk> chunks;
    for (size_t i = 0; i < texts.size(); ++i) chunks.push_back(Chunk(static_cast<int>(1 + 10 * i), texts[i]));
    auto diff = store_->ReplaceFile(workspace, File(path), chunks);
    EXPECT_TRUE(diff.ok()) << diff.error().message;
    if (!diff.ok()) return {};
    std::vector<MemoryStore::ChunkVector> put;
    for (size_t i = 0; i < vectors.size(); ++i) put.push_back({diff->added[i], chunks[i].hash, vectors[i]});
    Status stored = store_->PutVectors(put);
    EXPECT_TRUE(stored.ok()) << stored.error().message;
    return diff->added;
  }

  int64_t VecRows() {
    auto n = store_->database().QueryInt("SELECT count(*) FROM memory_vec");
    EXPECT_TRUE(n.ok()) << n.error().message;
    return n.ok() ? n->value_or(-1) : -1;
  }

  std::vector<SearchHit> SearchOk(const SearchQuery& query, MemoryStore* store = nullptr) {
    auto hits = (store ? store : store_.get())->Search(query);
    EXPECT_TRUE(hits.ok()) << hits.error().message;
    return hits.ok() ? std::move(hits).value() : std::vector<SearchHit>{};
  }

  static std::vector<std::string> Paths(const std::vector<SearchHit>& hits) {
    std::vector<std::string> paths;
    for (const SearchHit& hit : hits) paths.push_back(hit.path);
    return paths;
  }

  fs::path dir_, db_path_;
  std::unique_ptr<MemoryStore> store_;
  bool use_index_ = true;  // false: every vector search through vec0 KNN
};

std::string Hint() {
  return ". Run scripts/install-deps.sh, set memory.vecExtension to the file, or set memory.enabled to false.";
}

// ---- Opening and the extension ----

TEST_F(MemoryStoreTest, MissingExtensionIsNotFoundWithTheDocumentedMessage) {
  const fs::path missing = dir_ / "nowhere" / "vec0.so";
  auto opened = MemoryStore::Open(db_path_, missing);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(opened.error().message,
            "memory: cannot load sqlite-vec from " + missing.string() + ": no such file" + Hint());
}

TEST_F(MemoryStoreTest, CorruptExtensionNamesTheFileAndTheFix) {
  const fs::path corrupt = dir_ / "vec0.so";
  {
    std::ofstream out(corrupt, std::ios::binary);
    std::mt19937 random(7);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(random()));
  }
  auto opened = MemoryStore::Open(db_path_, corrupt);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kInternalError);
  const std::string& message = opened.error().message;
  EXPECT_EQ(message.rfind("memory: cannot load sqlite-vec from " + corrupt.string() + ": ", 0), 0u) << message;
  EXPECT_NE(message.find(Hint()), std::string::npos) << message;
  EXPECT_GT(message.size(), ("memory: cannot load sqlite-vec from " + corrupt.string() + ": " + Hint()).size());
}

TEST_F(MemoryStoreTest, ReadOnlyStoreRefusesWrites) {
  auto reader = OpenOk(/*read_only=*/true);
  ASSERT_TRUE(reader);
  auto used = reader->UseModel("m", kDims);
  ASSERT_FALSE(used.ok());
  EXPECT_EQ(used.error().code, ErrorCode::kInvalidRequest);
  EXPECT_FALSE(reader->ReplaceFile("/w", File("MEMORY.md"), {Chunk(1, "x")}).ok());
}

TEST_F(MemoryStoreTest, DatabaseWithoutTheExtensionStillWorks) {
  ASSERT_TRUE(store_->UseModel("m", kDims).ok());
  AddFile("/w", "MEMORY.md", {"alpha", "bravo"}, {Vec({1}), Vec({0, 1})});
  store_.reset();
  // The rest of the kernel opens state.db without vec0: chunk rows still change freely.
  auto plain = store::Database::Open(db_path_);
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_TRUE((*plain)->Run("DELETE FROM memory_chunks WHERE text = 'alpha'").ok());
  EXPECT_EQ((*plain)->QueryInt("SELECT count(*) FROM memory_chunks")->value_or(-1), 1);
}

// ---- Model ----

TEST_F(MemoryStoreTest, UseModelSwitchDropsVectorsAndKeepsTheCache) {
  EXPECT_FALSE(store_->CurrentModel()->has_value());
  auto first = store_->UseModel("local/a", kDims);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*store_->UseModel("local/a", kDims));  // unchanged: nothing happens
  AddFile("/w", "MEMORY.md", {"alpha", "bravo"}, {Vec({1}), Vec({0, 1})});
  EXPECT_EQ(VecRows(), 2);
  EXPECT_EQ(store_->Counts("/w")->embedded, 2);

  EXPECT_TRUE(*store_->UseModel("local/b", 64));
  EXPECT_EQ(**store_->CurrentModel(), std::make_pair(std::string("local/b"), 64));
  EXPECT_EQ(VecRows(), 0);
  MemoryCounts counts = *store_->Counts("");
  EXPECT_EQ(counts.chunks, 2);
  EXPECT_EQ(counts.embedded, 0);
  EXPECT_EQ(counts.model, "local/b");
  EXPECT_EQ(counts.dims, 64);
  EXPECT_EQ(counts.cached_vectors, 2);  // vectors of local/a stay cached
  EXPECT_EQ(store_->Unembedded(10)->size(), 2u);
  EXPECT_TRUE(store_->CachedVectors({"hash:alpha"})->empty());  // not of the current model

  // The old dimension no longer fits; the new one searches (no vectors yet: nothing found by vector).
  SearchQuery query = Query("/w", "", Vec({1}));
  auto wrong = store_->Search(query);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidParams);
  query.vector = Vec({1}, 64);
  EXPECT_TRUE(SearchOk(query).empty());

  // Back to the first model: its vectors come from the cache, not from the embedder.
  EXPECT_TRUE(*store_->UseModel("local/a", kDims));
  auto cached = store_->CachedVectors({"hash:alpha", "hash:bravo", "hash:nope"});
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->size(), 2u);
  EXPECT_EQ(cached->at("hash:bravo"), Vec({0, 1}));
}

TEST_F(MemoryStoreTest, PutVectorsChecksDimsAndSkipsDeletedChunks) {
  auto early = store_->PutVectors({{1, "h", Vec({1})}});
  EXPECT_FALSE(early.ok());  // no model yet
  ASSERT_TRUE(store_->UseModel("m", kDims).ok());
  std::vector<int64_t> ids = AddFile("/w", "MEMORY.md", {"alpha", "bravo"}, {});
  ASSERT_EQ(ids.size(), 2u);

  Status wrong = store_->PutVectors({{ids[0], "hash:alpha", Vec({1})}, {ids[1], "hash:bravo", Vec({1}, 8)}});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(store_->Counts("/w")->embedded, 0);  // nothing written
  EXPECT_EQ(store_->Counts("/w")->cached_vectors, 0);

  Status put = store_->PutVectors({{ids[0], "hash:alpha", Vec({1})}, {ids.back() + 100, "hash:gone", Vec({0, 1})}});
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(store_->Counts("/w")->embedded, 1);
  EXPECT_EQ(VecRows(), 1);
  EXPECT_TRUE(store_->Chunk(ids[0])->value().embedded);
  EXPECT_FALSE(store_->Chunk(ids[1])->value().embedded);
  EXPECT_EQ(store_->Unembedded(10)->size(), 1u);
  EXPECT_EQ(store_->Unembedded(10)->front().id, ids[1]);
  EXPECT_EQ(store_->CachedVectors({"hash:alpha", "hash:gone"})->size(), 1u);  // skipped chunk not cached

  // Storing a vector again replaces it.
  ASSERT_TRUE(store_->PutVectors({{ids[0], "hash:alpha", Vec({0, 0, 1})}}).ok());
  EXPECT_EQ(VecRows(), 1);
}

// ---- Files ----

TEST_F(MemoryStoreTest, ReplaceFileKeepsUnchangedChunksAndTheirVectors) {
  ASSERT_TRUE(store_->UseModel("m", kDims).ok());
  std::vector<int64_t> ids =
      AddFile("/w", "MEMORY.md", {"one", "two", "three"}, {Vec({1}), Vec({0, 1}), Vec({0, 0, 1})});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(VecRows(), 3);

  // "two" is gone, "one" and "three" moved, "four" is new.
  auto diff =
      store_->ReplaceFile("/w", File("MEMORY.md", "v2"), {Chunk(5, "three"), Chunk(20, "one"), Chunk(30, "four")});
  ASSERT_TRUE(diff.ok()) << diff.error().message;
  EXPECT_EQ(diff->kept, 2u);
  EXPECT_EQ(diff->removed, 1u);
  ASSERT_EQ(diff->added.size(), 1u);
  EXPECT_EQ(VecRows(), 2);  // the removed chunk's vector went with it

  auto one = store_->Chunk(ids[0])->value();
  EXPECT_EQ(one.text, "one");
  EXPECT_EQ(one.line_start, 20);
  EXPECT_TRUE(one.embedded);
  EXPECT_EQ(store_->Chunk(ids[2])->value().line_start, 5);
  EXPECT_FALSE(store_->Chunk(ids[1])->has_value());
  auto four = store_->Chunk(diff->added[0])->value();
  EXPECT_FALSE(four.embedded);
  EXPECT_EQ(four.path, "MEMORY.md");
  EXPECT_EQ(four.workspace, "/w");

  auto files = store_->Files("/w");
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ(files->front().hash, "v2");
  EXPECT_EQ(files->front().chunks, 3);

  // The text index follows: "two" no longer matches, "four" does.
  EXPECT_TRUE(SearchOk(Query("/w", "two")).empty());
  EXPECT_EQ(SearchOk(Query("/w", "four")).size(), 1u);
}

TEST_F(MemoryStoreTest, ReplaceFileWithRepeatedChunks) {
  ASSERT_TRUE(store_->UseModel("m", kDims).ok());
  AddFile("/w", "MEMORY.md", {"same", "same"}, {Vec({1}), Vec({1})});
  auto diff = store_->ReplaceFile("/w", File("MEMORY.md"), {Chunk(1, "same"), Chunk(2, "same"), Chunk(3, "same")});
  ASSERT_TRUE(diff.ok());
  EXPECT_EQ(diff->kept, 2u);
  EXPECT_EQ(diff->added.size(), 1u);
  EXPECT_EQ(diff->removed, 0u);
}

TEST_F(MemoryStoreTest, RemoveFileAndWorkspace) {
  ASSERT_TRUE(store_->UseModel("m", kDims).ok());
  AddFile("/w", "MEMORY.md", {"alpha", "bravo"}, {Vec({1}), Vec({0, 1})});
  AddFile("/w", "memory/2026-01-01.md", {"charlie"}, {Vec({0, 0, 1})});
  AddFile("/v", "MEMORY.md", {"delta"}, {Vec({1})});
  EXPECT_EQ(*store_->Workspaces(), (std::vector<std::string>{"/v", "/w"}));

  ASSERT_TRUE(store_->RemoveFile("/w", "MEMORY.md").ok());
  EXPECT_TRUE(store_->RemoveFile("/w", "never-indexed.md").ok());
  EXPECT_EQ(store_->Files("/w")->size(), 1u);
  EXPECT_EQ(store_->Counts("/w")->chunks, 1);
  EXPECT_EQ(VecRows(), 2);
  EXPECT_TRUE(SearchOk(Query("/w", "alpha")).empty());

  ASSERT_TRUE(store_->RemoveWorkspace("/w").ok());
  EXPECT_EQ(*store_->Workspaces(), (std::vector<std::string>{"/v"}));
  EXPECT_EQ(VecRows(), 1);
  MemoryCounts all = *store_->Counts("");
  EXPECT_EQ(all.files, 1);
  EXPECT_EQ(all.chunks, 1);
  EXPECT_EQ(all.embedded, 1);
}

// ---- Search ----

// Every search test runs twice: with the in-process int8 copy and with vec0 KNN only.
class MemorySearchTest : public MemoryStoreTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    use_index_ = GetParam();
    MemoryStoreTest::SetUp();
    ASSERT_TRUE(store_->UseModel("m", kDims).ok());
    // Filler so BM25's idf is positive; each on its own axis, far from the queries.
    AddFile("/w", "memory/filler.md", {"kiwi lemon", "mango melon", "peach plum", "grape fig"},
            {Vec({0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), Vec({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
             Vec({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), Vec({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})});
  }
};

TEST_P(MemorySearchTest, TextOnlyAndVectorOnlyHitsBothSurface) {
  AddFile("/w", "MEMORY.md", {"the user prefers postgres", "deploys happen on fridays", "unembedded postgres note"},
          {Vec({0, 0, 0, 0, 1}), Vec({1, 0.1f}) /* the third has no vector */});
  SearchQuery query = Query("/w", "postgres", Vec({1}), 10);
  std::vector<SearchHit> hits = SearchOk(query);
  std::map<std::string, SearchHit> by_text;
  for (const SearchHit& hit : hits) by_text[hit.text] = hit;
  ASSERT_TRUE(by_text.count("deploys happen on fridays"));  // vector only: no shared word
  EXPECT_GT(by_text["deploys happen on fridays"].vector_score, 0.99);
  EXPECT_EQ(by_text["deploys happen on fridays"].text_score, 0);
  ASSERT_TRUE(by_text.count("the user prefers postgres"));  // text only: the vector is orthogonal
  EXPECT_EQ(by_text["the user prefers postgres"].vector_score, 0);
  EXPECT_GT(by_text["the user prefers postgres"].text_score, 0);
  ASSERT_TRUE(by_text.count("unembedded postgres note"));  // text only: no vector at all
  const SearchHit& vector_hit = by_text["deploys happen on fridays"];
  EXPECT_NEAR(vector_hit.score, 0.7 * vector_hit.vector_score, 1e-9);
  EXPECT_EQ(vector_hit.path, "MEMORY.md");
  EXPECT_EQ(vector_hit.line_start, 11);
  EXPECT_EQ(vector_hit.line_end, 12);
  EXPECT_EQ(vector_hit.source, "memory");
  for (size_t i = 1; i < hits.size(); ++i) EXPECT_GE(hits[i - 1].score, hits[i].score);

  // Either side alone.
  EXPECT_EQ(SearchOk(Query("/w", "postgres")).size(), 2u);
  EXPECT_EQ(SearchOk(Query("/w", "", Vec({1}), 1)).front().text,
            "deploys happen on fridays");
}

TEST_P(MemorySearchTest, WeightsChangeTheOrderAndMinScoreDrops) {
  AddFile("/w", "MEMORY.md", {"vector side winner", "zebra crossing"}, {Vec({1}), Vec({0, 1})});
  SearchQuery query = Query("/w", "zebra", Vec({1}), 2);
  EXPECT_EQ(SearchOk(query).front().text, "vector side winner");
  query.vector_weight = 0.1;
  query.text_weight = 0.9;
  EXPECT_EQ(SearchOk(query).front().text, "zebra crossing");

  query.vector_weight = 0.7;
  query.text_weight = 0.3;
  query.top_k = 10;
  std::vector<SearchHit> all = SearchOk(query);
  EXPECT_GT(all.size(), 2u);  // fillers at score 0 included
  query.min_score = 0.5;
  std::vector<SearchHit> kept = SearchOk(query);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept.front().text, "vector side winner");
  for (const SearchHit& hit : kept) EXPECT_GE(hit.score, 0.5);
}

TEST_P(MemorySearchTest, DuplicateTextIsDeduplicated) {
  AddFile("/w", "MEMORY.md", {"remember the milk"}, {Vec({1})});
  AddFile("/w", "memory/copy.md", {"remember the milk"}, {Vec({1})});
  std::vector<SearchHit> hits = SearchOk(Query("/w", "milk", Vec({1}), 10));
  size_t milk = 0;
  for (const SearchHit& hit : hits) milk += hit.text == "remember the milk";
  EXPECT_EQ(milk, 1u);
}

TEST_P(MemorySearchTest, MmrPrefersDiverseResults) {
  AddFile("/w", "MEMORY.md", {"first", "near copy of first", "different angle"},
          {Vec({1, 0.3f}), Vec({1, 0.35f}), Vec({1, 0, 0.4f})});
  SearchQuery query = Query("/w", "", Vec({1}), 2);
  query.vector_weight = 1;
  query.text_weight = 0;
  EXPECT_EQ(Paths(SearchOk(query)).size(), 2u);
  std::vector<SearchHit> plain = SearchOk(query);
  EXPECT_EQ(plain[0].text, "first");
  EXPECT_EQ(plain[1].text, "near copy of first");
  query.mmr = true;
  query.mmr_lambda = 0.7;
  std::vector<SearchHit> diverse = SearchOk(query);
  ASSERT_EQ(diverse.size(), 2u);
  EXPECT_EQ(diverse[0].text, "first");
  EXPECT_EQ(diverse[1].text, "different angle");
}

TEST_P(MemorySearchTest, PathPrefixFiltersBothSides) {
  AddFile("/w", "MEMORY.md", {"shared word top"}, {Vec({1})});
  AddFile("/w", "memory/notes.md", {"shared word notes"}, {Vec({1, 0.2f})});
  SearchQuery query = Query("/w", "shared", Vec({1}), 10);
  query.path_prefix = "memory/n";
  std::vector<SearchHit> hits = SearchOk(query);
  ASSERT_FALSE(hits.empty());
  for (const SearchHit& hit : hits) EXPECT_EQ(hit.path.rfind("memory/n", 0), 0u) << hit.path;
  EXPECT_EQ(hits.front().text, "shared word notes");
}

TEST_P(MemorySearchTest, WorkspacesAreIsolated) {
  AddFile("/w", "MEMORY.md", {"secret of w"}, {Vec({1})});
  AddFile("/other", "MEMORY.md", {"secret of other"}, {Vec({1})});
  for (const SearchHit& hit : SearchOk(Query("/other", "secret", Vec({1}), 10))) {
    EXPECT_EQ(hit.text, "secret of other");
  }
  EXPECT_EQ(SearchOk(Query("/other", "secret", Vec({1}), 10)).size(), 1u);
  EXPECT_TRUE(SearchOk(Query("/nobody", "secret", Vec({1}))).empty());
}

TEST_P(MemorySearchTest, ResultsCarryTextAndSnippet) {
  AddFile("/w", "MEMORY.md", {"The user prefers Postgres over MySQL for new projects."}, {Vec({1})});
  std::vector<SearchHit> hits = SearchOk(Query("/w", "postgres", std::nullopt, 1));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].text, "The user prefers Postgres over MySQL for new projects.");
  EXPECT_FALSE(hits[0].snippet.empty());
  EXPECT_GT(hits[0].chunk_id, 0);
}

TEST_P(MemorySearchTest, ReadOnlyStoreSearchesWhileTheWriterWrites) {
  AddFile("/w", "MEMORY.md", {"committed fact"}, {Vec({1})});
  auto reader = OpenOk(/*read_only=*/true);
  ASSERT_TRUE(reader);
  EXPECT_EQ(**reader->CurrentModel(), std::make_pair(std::string("m"), kDims));

  auto transaction = store_->database().Begin();
  ASSERT_TRUE(transaction.ok());
  AddFile("/w", "memory/new.md", {"uncommitted fact"}, {Vec({1, 0.1f})});
  // The writer holds its write transaction open; the reader still answers from the last commit.
  SearchQuery query = Query("/w", "fact", Vec({1}), 10);
  query.min_score = 0.1;  // not the fillers
  std::vector<SearchHit> before = SearchOk(query, reader.get());
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].text, "committed fact");
  ASSERT_TRUE(transaction->Commit().ok());
  EXPECT_EQ(SearchOk(query, reader.get()).size(), 2u);

  // A model switch by the writer is seen by the reader.
  ASSERT_TRUE(store_->UseModel("m2", 16).ok());
  EXPECT_EQ(**reader->CurrentModel(), std::make_pair(std::string("m2"), 16));
  EXPECT_EQ(SearchOk(Query("/w", "", Vec({1}, 16)), reader.get()).size(), 0u);
}

TEST_P(MemorySearchTest, ReaderFollowsTheWritersVectorChanges) {
  std::vector<int64_t> ids = AddFile("/w", "MEMORY.md", {"north", "south"}, {Vec({1}), Vec({0, 1})});
  auto reader = OpenOk(/*read_only=*/true);
  ASSERT_TRUE(reader);
  SearchQuery query = Query("/w", "", Vec({0, 0, 1}), 1);
  query.min_score = 0.5;
  EXPECT_TRUE(SearchOk(query, reader.get()).empty());  // the reader's copy is built now

  // A new chunk with the query's direction, then a changed vector, then removals.
  AddFile("/w", "memory/east.md", {"east"}, {Vec({0, 0, 1})});
  std::vector<SearchHit> hits = SearchOk(query, reader.get());
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].text, "east");
  ASSERT_TRUE(store_->PutVectors({{ids[1], "hash:south", Vec({0, 0.1f, 1})}}).ok());
  query.top_k = 2;
  EXPECT_EQ(SearchOk(query, reader.get()).size(), 2u);
  ASSERT_TRUE(store_->RemoveFile("/w", "memory/east.md").ok());
  hits = SearchOk(query, reader.get());
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].text, "south");

  // Entries the reader has not applied are trimmed away: it rebuilds its copy and stays right.
  AddFile("/w", "memory/up.md", {"up"}, {Vec({0, 0, 1})});
  ASSERT_TRUE(store_->database().Run("DELETE FROM memory_vec_changes").ok());
  AddFile("/w", "memory/down.md", {"down"}, {Vec({0, 0, 0, 1})});
  hits = SearchOk(query, reader.get());
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].text, "up");

  // A model switch and back leaves no vector behind, even for the same model key.
  ASSERT_TRUE(store_->UseModel("other", kDims).ok());
  ASSERT_TRUE(store_->UseModel("m", kDims).ok());
  EXPECT_TRUE(SearchOk(query, reader.get()).empty());
}

TEST_P(MemorySearchTest, SearchInsideATransactionSeesItsOwnWrites) {
  auto transaction = store_->database().Begin();
  ASSERT_TRUE(transaction.ok());
  AddFile("/w", "MEMORY.md", {"pending"}, {Vec({0, 0, 0, 0, 0, 0, 1})});
  std::vector<SearchHit> hits = SearchOk(Query("/w", "", Vec({0, 0, 0, 0, 0, 0, 1}), 1));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].text, "pending");
  // Rolled back: gone for the next search too (the in-process copy never absorbed it).
  { auto dropped = std::move(transaction).value(); }
  hits = SearchOk(Query("/w", "", Vec({0, 0, 0, 0, 0, 0, 1}), 1));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].text, "pending");
}

TEST_P(MemorySearchTest, ACommonWordDoesNotDrownARareOne) {
  // "common" is in every chunk; "rare" in one. The rare word's chunk ranks first.
  std::vector<std::string> texts;
  for (int i = 0; i < 30; ++i) texts.push_back("common filler number " + std::to_string(i));
  texts.push_back("common and rare together");
  AddFile("/w", "memory/many.md", texts, {});
  std::vector<SearchHit> hits = SearchOk(Query("/w", "rare common", std::nullopt, 3));
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].text, "common and rare together");
  EXPECT_GT(hits[0].text_score, 0);
  EXPECT_TRUE(SearchOk(Query("/w", "absent words only", std::nullopt, 3)).empty());
  EXPECT_EQ(SearchOk(Query("/w", "common", std::nullopt, 40)).size(), 31u);
}

// The int8 copy and vec0 KNN pick the same neighbours on random vectors.
TEST(MemoryStoreIndexTest, Int8CopyAgreesWithVec0) {
  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("oc_memory_index_test_" + std::to_string(::getpid()) + "_" +
                                                    std::to_string(rd()));
  fs::create_directories(dir);
  {
    MemoryStore::Options vec0_only;
    vec0_only.max_index_bytes = 0;
    auto writer = MemoryStore::Open(dir / "state.db", OPENCLAWOS_TEST_VEC0);
    ASSERT_TRUE(writer.ok()) << writer.error().message;
    ASSERT_TRUE((*writer)->UseModel("m", 64).ok());
    std::mt19937 random(11);
    std::normal_distribution<float> gauss;
    std::vector<TextChunk> chunks;
    for (int i = 0; i < 400; ++i) chunks.push_back(Chunk(i + 1, "chunk " + std::to_string(i)));
    auto diff = (*writer)->ReplaceFile("/w", File("MEMORY.md"), chunks);
    ASSERT_TRUE(diff.ok());
    std::vector<MemoryStore::ChunkVector> vectors;
    auto random_vector = [&] {
      std::vector<float> v(64);
      for (float& x : v) x = gauss(random);
      return v;
    };
    for (size_t i = 0; i < chunks.size(); ++i) vectors.push_back({diff->added[i], chunks[i].hash, random_vector()});
    ASSERT_TRUE((*writer)->PutVectors(vectors).ok());
    auto exact = MemoryStore::Open(dir / "state.db", OPENCLAWOS_TEST_VEC0, vec0_only);
    ASSERT_TRUE(exact.ok());
    for (int q = 0; q < 20; ++q) {
      SearchQuery query = Query("/w", "", random_vector(), 10);
      auto with_index = (*writer)->Search(query);
      auto with_vec0 = (*exact)->Search(query);
      ASSERT_TRUE(with_index.ok() && with_vec0.ok());
      ASSERT_EQ(with_index->size(), 10u);
      for (size_t i = 0; i < 10; ++i) {
        EXPECT_EQ((*with_index)[i].chunk_id, (*with_vec0)[i].chunk_id) << "query " << q << " rank " << i;
        EXPECT_NEAR((*with_index)[i].vector_score, (*with_vec0)[i].vector_score, 1e-5);
      }
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(Int8IndexTest, PutRemoveAndTop) {
  internal::Int8Index index(4);
  index.Put(1, {1, 0, 0, 0});
  index.Put(2, {0, 1, 0, 0});
  index.Put(3, {0.9f, 0.1f, 0, 0});
  index.Put(4, {1, 2, 3});  // wrong size: ignored
  index.Put(5, {0, 0, 0, 0});  // zero vector: never near anything
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.Top({1, 0, 0, 0}, 2), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(index.Top({1, 0, 0, 0}, 10).size(), 4u);
  index.Put(1, {0, 0, 1, 0});  // replaced
  EXPECT_EQ(index.Top({1, 0, 0, 0}, 1), (std::vector<int64_t>{3}));
  index.Remove(3);
  index.Remove(42);  // absent: nothing happens
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.Top({0, 1, 0, 0}, 1), (std::vector<int64_t>{2}));
  const std::vector<int64_t> only = {1, 5, 99};
  EXPECT_EQ(index.Top({0, 1, 0, 0}, 3, &only).size(), 2u);
  EXPECT_TRUE(index.Top({0, 0, 0, 0}, 3).empty());
  EXPECT_TRUE(index.Top({1, 0}, 3).empty());
  EXPECT_EQ(index.bytes(), 3 * internal::Int8Index::BytesPerVector(4));
}

INSTANTIATE_TEST_SUITE_P(IndexOrVec0, MemorySearchTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Int8Index" : "Vec0Knn"; });

TEST(VectorBytesTest, RoundTrip) {
  const std::vector<float> v = {1.5f, -2.25f, 0.0f, 3.0e-8f};
  const std::string bytes = VectorBytes(v);
  EXPECT_EQ(bytes.size(), 16u);
  EXPECT_EQ(VectorFromBytes(bytes), v);
  EXPECT_TRUE(VectorFromBytes("").empty());
}

}  // namespace
}  // namespace oc::memory
