#include "protocol/frame.h"

#include <atomic>

namespace oc::protocol {
namespace {

Error Invalid(std::string msg) { return MakeError(ErrorCode::kInvalidRequest, std::move(msg)); }

Result<std::string> RequiredString(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return Invalid("missing field: " + std::string(key));
  if (!v->is_string()) return Invalid("field " + std::string(key) + " must be a string");
  return std::string(v->get_string());
}

// A request id may be a string or null (errors about frames that could not be read).
Result<json::value> RequestIdField(const json::object& o) {
  auto* v = o.if_contains("requestId");
  if (!v) return Invalid("missing field: requestId");
  if (!v->is_string() && !v->is_null()) return Invalid("field requestId must be a string or null");
  return *v;
}

}  // namespace

std::string_view FrameTypeName(FrameType t) {
  switch (t) {
    case FrameType::kRequest: return "request";
    case FrameType::kResponse: return "response";
    case FrameType::kEvent: return "event";
    case FrameType::kStream: return "stream";
  }
  return "request";
}

Result<Frame> ParseFrame(std::string_view line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) return Invalid("not JSON: " + ec.message());
  auto* o = v.if_object();
  if (!o) return Invalid("frame must be a JSON object");

  Frame f;
  auto* id = o->if_contains("id");
  if (!id) return Invalid("missing field: id");
  if (id->is_string())
    f.id = id->get_string();
  else if (id->is_int64() || id->is_uint64())
    f.id = json::serialize(*id);
  else
    return Invalid("field id must be a string");

  OC_ASSIGN(std::string type, RequiredString(*o, "type"));
  auto* ts = o->if_contains("timestamp");
  if (!ts) return Invalid("missing field: timestamp");
  if (!ts->is_number()) return Invalid("field timestamp must be a number");
  f.timestamp = GetInt(*o, "timestamp").value_or(0);

  if (type == "request") {
    f.type = FrameType::kRequest;
    OC_ASSIGN(f.method, RequiredString(*o, "method"));
    if (auto* p = o->if_contains("params"); p && !p->is_null())
      f.params = std::move(*p);
    else
      f.params = json::object();
  } else if (type == "response") {
    f.type = FrameType::kResponse;
    OC_ASSIGN(f.request_id, RequestIdField(*o));
    auto success = GetBool(*o, "success");
    if (!success) return Invalid("missing field: success");
    f.success = *success;
    if (auto* r = o->if_contains("result")) f.result = std::move(*r);
    if (auto* e = o->if_contains("error"); e && !e->is_null()) f.error = Error::FromJson(*e);
    if (!f.success && !f.error) return Invalid("failed response without error");
  } else if (type == "event") {
    f.type = FrameType::kEvent;
    OC_ASSIGN(f.event, RequiredString(*o, "event"));
    if (auto* p = o->if_contains("payload")) f.payload = std::move(*p);
  } else if (type == "stream") {
    f.type = FrameType::kStream;
    OC_ASSIGN(f.request_id, RequestIdField(*o));
    if (auto* c = o->if_contains("chunk")) f.chunk = std::move(*c);
    auto done = GetBool(*o, "done");
    if (!done) return Invalid("missing field: done");
    f.done = *done;
  } else {
    return Invalid("unknown frame type: " + type);
  }
  return f;
}

std::string SerializeFrame(const Frame& f) {
  json::object o;
  o.reserve(8);
  o["id"] = f.id;
  o["type"] = FrameTypeName(f.type);
  o["timestamp"] = f.timestamp;
  switch (f.type) {
    case FrameType::kRequest:
      o["method"] = f.method;
      o["params"] = f.params.is_null() ? json::value(json::object()) : f.params;
      break;
    case FrameType::kResponse:
      o["requestId"] = f.request_id;
      o["success"] = f.success;
      if (f.success)
        o["result"] = f.result;
      else if (f.error)
        o["error"] = f.error->ToJson();
      break;
    case FrameType::kEvent:
      o["event"] = f.event;
      o["payload"] = f.payload;
      break;
    case FrameType::kStream:
      o["requestId"] = f.request_id;
      o["chunk"] = f.chunk;
      o["done"] = f.done;
      break;
  }
  std::string s = json::serialize(o);
  s += '\n';
  return s;
}

std::string NextFrameId() {
  static std::atomic<uint64_t> counter{0};
  return std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

Frame MakeRequest(std::string method, json::value params) {
  Frame f;
  f.id = NextFrameId();
  f.type = FrameType::kRequest;
  f.timestamp = NowMs();
  f.method = std::move(method);
  f.params = std::move(params);
  return f;
}

Frame MakeOkResponse(json::value request_id, json::value result) {
  Frame f;
  f.id = NextFrameId();
  f.type = FrameType::kResponse;
  f.timestamp = NowMs();
  f.request_id = std::move(request_id);
  f.success = true;
  f.result = std::move(result);
  return f;
}

Frame MakeErrorResponse(json::value request_id, Error error) {
  Frame f;
  f.id = NextFrameId();
  f.type = FrameType::kResponse;
  f.timestamp = NowMs();
  f.request_id = std::move(request_id);
  f.success = false;
  f.error = std::move(error);
  return f;
}

Frame MakeEvent(std::string event, json::value payload) {
  Frame f;
  f.id = NextFrameId();
  f.type = FrameType::kEvent;
  f.timestamp = NowMs();
  f.event = std::move(event);
  f.payload = std::move(payload);
  return f;
}

Frame MakeStream(json::value request_id, json::value chunk, bool done) {
  Frame f;
  f.id = NextFrameId();
  f.type = FrameType::kStream;
  f.timestamp = NowMs();
  f.request_id = std::move(request_id);
  f.chunk = std::move(chunk);
  f.done = done;
  return f;
}

}  // namespace oc::protocol
