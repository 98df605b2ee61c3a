// XmppClient's side of the event loop: which socket Asio watches, and when xmpp_run_once runs.
#include <poll.h>

#include <boost/asio/post.hpp>

#include "xmpp_client.h"

namespace oc::xmpp {

namespace asio = boost::asio;

namespace {
constexpr auto kTickPeriod = std::chrono::seconds(1);  // libstrophe's timers: connect/disconnect timeouts
constexpr int kMaxRoundsPerPump = 64;  // then Asio calls again, so other work on the loop gets its turn
constexpr int kTlsRounds = 6;          // OpenSSL may hold decrypted bytes the socket no longer shows
}  // namespace

void XmppClient::AdoptSocket(int fd) {
  ReleaseSocket();
  boost::system::error_code ec;
  socket_.emplace(io_);
  socket_->assign(fd, ec);
  if (ec) {
    socket_.reset();
    return;
  }
  socket_fd_ = fd;
  connecting_ = true;
}

// Asio forgets the descriptor without closing it: libstrophe owns and closes the socket.
void XmppClient::ReleaseSocket() {
  ++socket_generation_;
  read_armed_ = write_armed_ = false;
  connecting_ = false;
  socket_fd_ = -1;
  if (!socket_) return;
  socket_->release();
  socket_.reset();
}

void XmppClient::Kick() {
  if (kick_posted_) return;
  kick_posted_ = true;
  asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    kick_posted_ = false;
    Pump();
  });
}

bool XmppClient::SocketReadable() const {
  if (!socket_ || socket_fd_ < 0) return false;
  pollfd p{socket_fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

// Runs libstrophe until it has nothing left to do right now: each xmpp_run_once writes what is
// queued, then reads (at most 4 KiB) and parses, and the handlers may queue answers that only the
// next round writes. So: at least two rounds, and one more after every round that read.
void XmppClient::Pump() {
  if (!ctx_ || in_pump_) return;
  in_pump_ = true;
  for (int round = 0; round < kMaxRoundsPerPump; ++round) {
    bool tls = conn_ && xmpp_conn_is_secured(conn_.get());
    bool reading = SocketReadable() || (tls && round < kTlsRounds);
    xmpp_run_once(ctx_.get(), 0);
    if (!conn_ || !socket_) break;
    if (round >= 1 && !reading) break;
  }
  in_pump_ = false;
  if (conn_ && xmpp_conn_is_disconnected(conn_.get())) ReleaseSocket();
  ArmWaits();
  NotifyWaiters();
}

void XmppClient::ArmWaits() {
  if (!socket_) return;
  uint64_t generation = socket_generation_;
  if (!read_armed_) {
    read_armed_ = true;
    socket_->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, generation, alive = alive_](boost::system::error_code ec) {
                          if (!*alive || generation != socket_generation_) return;
                          read_armed_ = false;
                          if (!ec) Pump();
                        });
  }
  bool want_write = connecting_ || (conn_ && xmpp_conn_send_queue_len(conn_.get()) > 0);
  if (want_write && !write_armed_) {
    write_armed_ = true;
    socket_->async_wait(asio::posix::stream_descriptor::wait_write,
                        [this, generation, alive = alive_](boost::system::error_code ec) {
                          if (!*alive || generation != socket_generation_) return;
                          write_armed_ = false;
                          connecting_ = false;
                          if (!ec) Pump();
                        });
  }
}

void XmppClient::Tick() {
  tick_.expires_after(kTickPeriod);
  tick_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    if (conn_) Pump();
    Tick();
  });
}

void XmppClient::NotifyWaiters() {
  for (asio::steady_timer* waiter : waiters_) waiter->cancel();
}

}  // namespace oc::xmpp
