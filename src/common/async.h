// Small coroutine utilities on top of Asio used across subsystems.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <optional>

namespace oc {
namespace asio = boost::asio;

// A single-assignment slot that one coroutine awaits with a deadline. Set() may come before or
// during the wait; later Set() calls are ignored. Used to correlate responses with requests and
// hook results with intercept events. Not thread-safe: use from the owning executor only.
template <class T>
class Pending {
 public:
  explicit Pending(asio::any_io_executor ex) : timer_(std::move(ex)) {}

  void Set(T value) {
    if (value_) return;
    value_ = std::move(value);
    timer_.cancel();
  }
  bool has_value() const { return value_.has_value(); }

  // Returns the value, or nullopt when `timeout` passes first.
  asio::awaitable<std::optional<T>> Wait(std::chrono::milliseconds timeout) {
    if (!value_) {
      timer_.expires_after(timeout);
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return std::move(value_);
  }

 private:
  asio::steady_timer timer_;
  std::optional<T> value_;
};

}  // namespace oc
