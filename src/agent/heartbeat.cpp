// HEARTBEAT.md reading and HEARTBEAT_OK recognition.
#include "common/text.h"
#include "agent/heartbeat.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <sstream>

#include "agent/workspace.h"

namespace oc::agent {
namespace {

constexpr size_t kMaxHeartbeatChars = 20000;
constexpr size_t kShortReplyChars = 300;
constexpr size_t kMaxReadBytes = 64 * 1024;  // the prompt keeps kMaxHeartbeatChars of it anyway

// Removes <!-- ... --> (an unterminated comment runs to the end).
std::string StripHtmlComments(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("<!--", pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, open - pos));
    size_t close = text.find("-->", open + 4);
    if (close == std::string_view::npos) break;
    pos = close + 3;
  }
  return out;
}

// A line that asks for nothing: blank, a heading, or a list item / checkbox with no text.
bool IsEmptyLine(std::string_view line) {
  line = TrimAsciiSpace(line);
  if (line.empty() || line.front() == '#') return true;
  size_t digits = 0;
  while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) ++digits;
  if (digits > 0 && digits < line.size() && (line[digits] == '.' || line[digits] == ')')) line.remove_prefix(digits + 1);
  else if (line.front() == '-' || line.front() == '*' || line.front() == '+') line.remove_prefix(1);
  else return false;
  line = TrimAsciiSpace(line);
  if (line == "[ ]" || line == "[x]" || line == "[X]" || line == "[]") return true;
  return line.empty();
}

bool IsWrapper(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || std::string_view("*_`~\"'.!,:;-=>#()[]").find(c) != std::string_view::npos;
}

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// At most `max_bytes` from the start of the regular file at `path`; nullopt when it is missing,
// unreadable or not a regular file. O_NONBLOCK keeps the open of a FIFO from waiting for a writer
// (this runs on the kernel loop); it is cleared before reading.
std::optional<std::string> ReadHead(const std::filesystem::path& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  int flags = -1;
  bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular) flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string text(max_bytes, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  return text;
}

}  // namespace

std::optional<std::string> HeartbeatPrompt(const std::filesystem::path& workspace) {
  std::optional<std::string> text = ReadHead(workspace / "HEARTBEAT.md", kMaxReadBytes);
  if (!text) return std::nullopt;
  std::string checklist = StripHtmlComments(*text);
  bool has_task = false;
  std::istringstream lines(checklist);
  for (std::string line; !has_task && std::getline(lines, line);) has_task = !IsEmptyLine(line);
  if (!has_task) return std::nullopt;
  std::string body(TrimAsciiSpace(CutAtLineBoundary(TrimAsciiSpace(checklist), kMaxHeartbeatChars)));
  return "This is a scheduled heartbeat check, not a message from the user. Follow the checklist from "
         "HEARTBEAT.md in your workspace, shown below. Do not bring up old tasks from earlier chats that "
         "it does not ask for. If nothing needs the user's attention, reply with exactly " +
         std::string(kHeartbeatOk) +
         " and nothing else; otherwise reply with only what the user should know.\n\nHEARTBEAT.md:\n" + body;
}

bool IsHeartbeatOk(std::string_view reply) {
  std::string_view t = TrimAsciiSpace(reply);
  std::string_view s = t;
  while (!s.empty() && IsWrapper(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWrapper(s.back())) s.remove_suffix(1);
  // Inside a longer reply, Markdown underscores may touch the token ("__HEARTBEAT_OK__ quiet"):
  // skip them, but a letter or digit there means another word (HEARTBEAT_OKAY, MY_HEARTBEAT_OK).
  if (s == kHeartbeatOk) return true;
  if (t.size() > kShortReplyChars) return false;
  if (s.starts_with(kHeartbeatOk)) {
    std::string_view after = s.substr(kHeartbeatOk.size());
    while (!after.empty() && after.front() == '_') after.remove_prefix(1);
    if (after.empty() || !IsWordChar(after.front())) return true;
  }
  if (s.ends_with(kHeartbeatOk)) {
    std::string_view before = s.substr(0, s.size() - kHeartbeatOk.size());
    while (!before.empty() && before.back() == '_') before.remove_suffix(1);
    if (before.empty() || !IsWordChar(before.back())) return true;
  }
  return false;
}

}  // namespace oc::agent
