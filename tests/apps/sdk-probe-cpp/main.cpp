// A test app on the C++ SDK: counts calls and agent_end events, and can drop its own connection
// (a test hook) so the black-box tests see the SDK reconnect and resume against the real kernel.
#include <boost/asio/steady_timer.hpp>

#include "openclawos/app.h"

namespace {

using oc::json::value;
namespace asio = boost::asio;

class Probe : public openclawos::sdk::App {
 protected:
  asio::awaitable<oc::Status> Setup() override {
    oc::Status count = co_await RegisterMethod("sdk-probe-cpp.count", [this](value) -> asio::awaitable<oc::Result<value>> {
      co_return oc::json::object{{"calls", ++calls_}, {"agentEnds", agent_ends_}};
    });
    if (!count.ok()) co_return count;
    oc::Status drop = co_await RegisterMethod("sdk-probe-cpp.drop", [this](value) -> asio::awaitable<oc::Result<value>> {
      // Drop after the answer has gone out.
      auto timer = std::make_shared<asio::steady_timer>(io(), std::chrono::milliseconds(50));
      timer->async_wait([this, timer](boost::system::error_code) { kernel().DropConnectionForTesting(); });
      co_return oc::json::object{{"dropping", true}};
    });
    if (!drop.ok()) co_return drop;
    std::vector<std::string> events{"agent_end"};
    auto subscribed = co_await Subscribe(std::move(events), [this](const value&) -> asio::awaitable<std::optional<value>> {
      ++agent_ends_;
      co_return std::nullopt;
    });
    if (!subscribed.ok()) co_return subscribed.error();
    co_return oc::Status();
  }

 private:
  int64_t calls_ = 0;
  int64_t agent_ends_ = 0;
};

}  // namespace

int main() {
  Probe probe;
  return probe.Run();
}
