// notes-example: a small plugin app built on the C++ SDK. It keeps notes in memory and offers
//   tool   notes_add {text}          → {id, count}
//   tool   notes_list {}             → ["first note", ...]
//   method notes-example.count {}    → {count, agentEnds[, greeting]}
// and counts agent runs through the agent_end hook. See docs/SDK-CPP.md.
#include <cstdlib>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "openclawos/app.h"

namespace {

namespace asio = boost::asio;
namespace json = oc::json;
namespace sdk = openclawos::sdk;

class NotesApp : public sdk::App {
 protected:
  asio::awaitable<oc::Status> Setup() override {
    if (const char* greeting = std::getenv("NOTES_GREETING")) greeting_ = greeting;
    co_await ReadConfig();

    json::value add_schema = json::parse(R"({"type":"object","required":["text"],
        "properties":{"text":{"type":"string","minLength":1,"maxLength":4000}}})");
    oc::Status added = co_await RegisterTool("notes_add", "Store a short note for later.", add_schema,
                                             [this](json::value input, json::value) { return AddNote(std::move(input)); });
    if (!added.ok()) co_return added;

    oc::Status listed = co_await RegisterTool(
        "notes_list", "List every stored note, oldest first.", json::parse(R"({"type":"object"})"),
        [this](json::value, json::value) -> asio::awaitable<oc::Result<json::value>> {
          co_return json::value(json::array(notes_.begin(), notes_.end()));
        });
    if (!listed.ok()) co_return listed;

    oc::Status method = co_await RegisterMethod("notes-example.count", [this](json::value) { return Count(); });
    if (!method.ok()) co_return method;

    // Observing agent_end is optional for this app: a denial is logged, not fatal.
    // (A braced list is built outside co_await: g++ 12 miscompiles initialiser lists inside it.)
    std::vector<std::string> hooks{"agent_end"};
    oc::Result<json::value> subscribed =
        co_await Subscribe(std::move(hooks), [this](const json::value&) -> asio::awaitable<std::optional<json::value>> {
          ++agent_ends_;
          co_return std::nullopt;
        });
    if (!subscribed.ok()) spdlog::warn("notes-example: agent_end not available: {}", subscribed.error().message);
    co_return oc::Status();
  }

  // (The SDK has already logged "notes-example ready".)
  void OnReady() override {
    if (!greeting_.empty()) spdlog::info("notes-example greeting: {}", greeting_);
  }

  asio::awaitable<void> Teardown() override {
    spdlog::info("notes-example stopping with {} note(s)", notes_.size());
    co_return;
  }

 private:
  // apps.notes-example.maxNotes, when the user set it.
  asio::awaitable<void> ReadConfig() {
    oc::Result<json::value> config = co_await ConfigGet();
    if (!config.ok()) {
      spdlog::warn("notes-example: config.get failed: {}; using defaults", config.error().message);
      co_return;
    }
    if (const json::object* o = config->if_object())
      if (auto max = oc::GetInt(*o, "maxNotes"); max && *max > 0) max_notes_ = static_cast<size_t>(*max);
  }

  asio::awaitable<oc::Result<json::value>> AddNote(json::value input) {
    if (notes_.size() >= max_notes_)
      co_return oc::MakeError(oc::ErrorCode::kConflict, "note limit reached (" + std::to_string(max_notes_) + ")");
    notes_.emplace_back(input.at("text").as_string());  // presence and type checked by the schema
    co_return json::value(json::object{{"id", notes_.size()}, {"count", notes_.size()}});
  }

  asio::awaitable<oc::Result<json::value>> Count() {
    json::object result{{"count", notes_.size()}, {"agentEnds", agent_ends_}};
    if (!greeting_.empty()) result["greeting"] = greeting_;
    co_return json::value(std::move(result));
  }

  std::vector<std::string> notes_;
  size_t max_notes_ = 1000;
  int64_t agent_ends_ = 0;
  std::string greeting_;
};

}  // namespace

int main() {
  NotesApp app;
  return app.Run();
}
