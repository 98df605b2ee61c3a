// notes-example: a small plugin app built on the C++ SDK. It keeps notes in memory and offers
//   tool   notes_add {text}          → {id, count}
//   tool   notes_list {}             → ["first note", ...]
//   method notes-example.count {}    → {count, agentEnds[, greeting]}
//   HTTP   GET  /apps/notes-example/                 → an HTML page listing the notes
//          GET  /apps/notes-example/api/notes?limit=N → {notes, count}
//          POST /apps/notes-example/api/notes {text}  → 201 {id, count}
// and counts agent runs through the agent_end hook. See docs/SDK-CPP.md.
#include <algorithm>
#include <charconv>
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

    // Routes declared in the manifest's capabilities.gateway.httpRoutes: "/" is the page (and
    // everything under it: other paths get 404 here), "/api/notes" exactly the JSON API.
    oc::Status page = co_await RegisterHttpRoute("/", [this](sdk::HttpRequest req) { return Page(std::move(req)); });
    if (!page.ok()) co_return page;
    oc::Status api =
        co_await RegisterHttpRoute("/api/notes", [this](sdk::HttpRequest req) { return Api(std::move(req)); });
    if (!api.ok()) co_return api;

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

  static sdk::HttpResponse ApiError(int status, std::string_view code, std::string message) {
    return sdk::HttpResponse::Json(status, json::object{{"error", {{"code", code}, {"message", std::move(message)}}}});
  }

  static std::string EscapeHtml(std::string_view text) {
    std::string out;
    for (char c : text) {
      switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    }
    return out;
  }

  asio::awaitable<oc::Result<sdk::HttpResponse>> Page(sdk::HttpRequest req) {
    if (req.path != "/") co_return sdk::HttpResponse::Text(404, "no such page\n");
    if (req.method != "GET" && req.method != "HEAD") {
      sdk::HttpResponse r = sdk::HttpResponse::Text(405, "GET only\n");
      r.headers["allow"] = "GET";
      co_return r;
    }
    std::string html =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Notes</title></head><body><h1>Notes</h1><ul>";
    for (const auto& note : notes_) html += "<li>" + EscapeHtml(note) + "</li>";
    html += "</ul><p>" + std::to_string(notes_.size()) + " note(s)</p></body></html>";
    co_return sdk::HttpResponse::Text(200, std::move(html), "text/html; charset=utf-8");
  }

  // GET lists (?limit=N: the first N), POST {text} adds one.
  asio::awaitable<oc::Result<sdk::HttpResponse>> Api(sdk::HttpRequest req) {
    if (req.method == "GET") {
      size_t limit = notes_.size();
      std::string_view query = req.query;
      if (auto at = query.find("limit="); at != std::string_view::npos && (at == 0 || query[at - 1] == '&')) {
        std::string_view digits = query.substr(at + 6);
        if (std::from_chars(digits.data(), digits.data() + digits.size(), limit).ec != std::errc())
          co_return ApiError(400, "INVALID_PARAMS", "limit must be a number");
      }
      limit = std::min(limit, notes_.size());
      json::array listed(notes_.begin(), notes_.begin() + static_cast<std::ptrdiff_t>(limit));
      json::object answer{{"notes", std::move(listed)}, {"count", notes_.size()}};
      sdk::HttpResponse r = sdk::HttpResponse::Json(200, answer);
      r.headers["x-notes-count"] = std::to_string(notes_.size());
      co_return r;
    }
    if (req.method == "POST") {
      if (!req.Header("content-type").starts_with("application/json"))
        co_return ApiError(415, "INVALID_REQUEST", "send application/json");
      oc::Result<json::value> body = oc::ParseJson(req.body);
      const json::object* o = body.ok() ? body->if_object() : nullptr;
      const json::value* text = o ? o->if_contains("text") : nullptr;
      if (!text || !text->is_string() || text->as_string().empty())
        co_return ApiError(400, "INVALID_PARAMS", "expected {\"text\": \"...\"}");
      oc::Result<json::value> added = co_await AddNote(*body);
      if (!added.ok()) co_return ApiError(409, "CONFLICT", added.error().message);
      co_return sdk::HttpResponse::Json(201, *added);
    }
    sdk::HttpResponse r = ApiError(405, "INVALID_REQUEST", "GET or POST");
    r.headers["allow"] = "GET, POST";
    co_return r;
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
