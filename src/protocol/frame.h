// IPC frames (SPEC §4): one JSON object per line. This header is the single declaration of the wire
// format, shared by the kernel, the C++ SDK and the tests.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"

namespace oc::protocol {

inline constexpr std::string_view kProtocolVersion = OPENCLAWOS_PROTOCOL_VERSION;
inline constexpr std::string_view kKernelVersion = OPENCLAWOS_KERNEL_VERSION;
inline constexpr size_t kDefaultMaxFrameBytes = 1 << 20;

enum class FrameType { kRequest, kResponse, kEvent, kStream };
std::string_view FrameTypeName(FrameType t);

struct Frame {
  std::string id;
  FrameType type = FrameType::kRequest;
  int64_t timestamp = 0;
  // request
  std::string method;
  json::value params;  // object; {} when absent
  // response and stream: the id of the request answered; null for errors about unparseable frames
  json::value request_id;
  // response
  bool success = false;
  json::value result;
  std::optional<Error> error;
  // event
  std::string event;
  json::value payload;
  // stream
  json::value chunk;
  bool done = false;
};

// Parses one line. Errors are INVALID_REQUEST with a message naming the problem
// ("not JSON", "missing field: method", ...). Never throws.
Result<Frame> ParseFrame(std::string_view line);

// Serialises to one line terminated by '\n'.
std::string SerializeFrame(const Frame& f);

// Builders. `id` must be unique per sender; NextFrameId() gives a process-wide counter id.
std::string NextFrameId();
Frame MakeRequest(std::string method, json::value params);
Frame MakeOkResponse(json::value request_id, json::value result);
Frame MakeErrorResponse(json::value request_id, Error error);
Frame MakeEvent(std::string event, json::value payload);
Frame MakeStream(json::value request_id, json::value chunk, bool done);

// Splits a byte stream into lines of at most `max_line` bytes. A longer line is reported once
// through on_oversize and the rest of it is discarded up to its newline. Empty lines and a
// trailing '\r' are dropped. Allocation-light: one buffer reused across calls.
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line = kDefaultMaxFrameBytes) : max_(max_line) {}

  template <class OnLine, class OnOversize>
  void Feed(std::string_view data, OnLine&& on_line, OnOversize&& on_oversize) {
    while (!data.empty()) {
      size_t nl = data.find('\n');
      if (nl == std::string_view::npos) {
        if (discarding_) return;
        if (buf_.size() + data.size() > max_) {
          buf_.clear();
          discarding_ = true;
          on_oversize();
          return;
        }
        buf_.append(data);
        return;
      }
      std::string_view piece = data.substr(0, nl);
      data.remove_prefix(nl + 1);
      if (discarding_) {
        discarding_ = false;
        continue;
      }
      if (buf_.size() + piece.size() > max_) {
        buf_.clear();
        on_oversize();
        continue;
      }
      std::string_view line;
      if (buf_.empty()) {
        line = piece;
      } else {
        buf_.append(piece);
        line = buf_;
      }
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) on_line(line);
      buf_.clear();
    }
  }

  size_t buffered() const { return buf_.size(); }

 private:
  size_t max_;
  std::string buf_;
  bool discarding_ = false;
};

}  // namespace oc::protocol
