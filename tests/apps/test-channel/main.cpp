// A channel app for the black-box pipeline tests, on the C++ SDK. It plays a messaging platform:
// the test injects "inbound" messages through its control-plane method <id>.inject, and every
// delivery the kernel hands it is appended as a JSON line to $TEST_CHANNEL_LOG (so tests see
// deliveries across restarts of this app). Its channel id is the first of its manifest's
// capabilities.channels.provides; when the manifest provides the tool lookup_weather, it serves it.
// $TEST_CHANNEL_FAIL=N makes the first N deliveries of each process fail.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "openclawos/channel_app.h"

namespace {

using oc::json::value;
namespace asio = boost::asio;
namespace json = oc::json;

json::value ReadManifest() {
  std::ifstream in("openclawos.manifest.json");
  std::stringstream s;
  s << in.rdbuf();
  std::error_code ec;
  json::value v = json::parse(s.str(), ec);
  return ec ? json::value() : v;
}

std::string FirstOf(const json::value& manifest, std::string_view section) {
  const json::value* list = oc::FindPath(manifest, "capabilities." + std::string(section) + ".provides");
  if (!list || !list->is_array() || list->as_array().empty()) return {};
  return std::string(list->as_array()[0].as_string());
}

void AppendLog(const json::object& record) {
  const char* path = std::getenv("TEST_CHANNEL_LOG");
  if (!path || !*path) return;
  std::ofstream out(path, std::ios::app);
  json::object r = record;
  r["pid"] = ::getpid();
  out << json::serialize(r) << "\n";
}

class TestChannel : public openclawos::sdk::ChannelApp {
 public:
  TestChannel(std::string channel, std::string app_id, std::string tool)
      : ChannelApp(std::move(channel)), app_id_(std::move(app_id)), tool_(std::move(tool)) {
    if (const char* f = std::getenv("TEST_CHANNEL_FAIL")) failures_left_ = std::atoi(f);
  }

 protected:
  asio::awaitable<oc::Status> Setup() override {
    oc::Status inject = co_await RegisterMethod(app_id_ + ".inject", [this](value params) -> asio::awaitable<oc::Result<value>> {
      const json::object* p = params.if_object();
      if (!p || !p->contains("conversation") || !p->contains("text"))
        co_return oc::MakeError(oc::ErrorCode::kInvalidParams, "conversation and text are required");
      std::string conversation(p->at("conversation").as_string());
      std::string text(p->at("text").as_string());
      json::value metadata = p->contains("metadata") ? p->at("metadata") : json::value(json::object());
      co_return co_await Inbound(std::move(conversation), std::move(text), std::move(metadata));
    });
    if (!inject.ok()) co_return inject;
    if (!tool_.empty()) {
      json::value schema = json::object{{"type", "object"},
                                        {"properties", json::object{{"city", json::object{{"type", "string"}}}}},
                                        {"required", json::array{"city"}}};
      oc::Status tool = co_await RegisterTool(tool_, "Current weather for a city.", std::move(schema),
                                              [](value input, value) -> asio::awaitable<oc::Result<value>> {
        std::string city = "somewhere";
        if (const auto* o = input.if_object(); o && o->contains("city") && o->at("city").is_string())
          city = std::string(o->at("city").as_string());
        AppendLog(json::object{{"tool", "lookup_weather"}, {"input", input}});
        co_return value("Sunny in " + city + ", 21 C");
      });
      if (!tool.ok()) co_return tool;
    }
    co_return co_await ChannelApp::Setup();
  }

  asio::awaitable<oc::Result<std::string>> Deliver(std::string target, std::string content, value metadata) override {
    if (failures_left_ > 0) {
      --failures_left_;
      AppendLog(json::object{{"failed", true}, {"target", target}, {"content", content}});
      co_return oc::MakeError(oc::ErrorCode::kConnectionClosed, "platform unavailable (test)");
    }
    ++sent_;
    AppendLog(json::object{{"delivered", true}, {"channel", channel_id()}, {"target", target},
                           {"content", content}, {"metadata", metadata}});
    co_return "m" + std::to_string(sent_);
  }

 private:
  std::string app_id_;
  std::string tool_;
  int failures_left_ = 0;
  int64_t sent_ = 0;
};

}  // namespace

int main() {
  json::value manifest = ReadManifest();
  const json::value* id = manifest.is_object() ? manifest.as_object().if_contains("id") : nullptr;
  if (!id || !id->is_string()) return 2;
  TestChannel app(FirstOf(manifest, "channels"), std::string(id->as_string()), FirstOf(manifest, "tools"));
  return app.Run();
}
