#include "audit/audit.h"

#include <algorithm>
#include <chrono>

#include "config/config.h"

namespace oc::audit {
namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

json::object RedactedDetail(const json::object& detail) {
  json::object out;
  for (const auto& [key, value] : detail)
    out[key] = config::IsSecretKey(key) && !value.is_null() ? json::value(config::kRedacted)
                                                            : config::RedactSecrets(value);
  return out;
}

}  // namespace

json::value Entry::ToJson() const {
  return json::object{{"id", id},
                      {"ts", ts_ms},
                      {"kind", event.kind},
                      {"actor", event.actor},
                      {"subject", event.subject},
                      {"outcome", event.outcome},
                      {"detail", event.detail}};
}

Status Record(store::Database& db, const Event& event) {
  std::string detail = event.detail.empty() ? std::string() : json::serialize(RedactedDetail(event.detail));
  auto id = db.Insert(
      "INSERT INTO audit_log (ts, kind, actor, subject, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
      {NowMs(), std::string_view(event.kind), std::string_view(event.actor), std::string_view(event.subject),
       std::string_view(event.outcome), detail.empty() ? store::Param(nullptr) : store::Param(std::string_view(detail))});
  if (!id.ok()) return id.error();
  // Pruning every row would cost a delete per event; every 1000th keeps the table near its cap.
  if (*id % 1000 == 0) return db.Run("DELETE FROM audit_log WHERE id <= ?1", {*id - kMaxRows});
  return {};
}

Result<std::vector<Entry>> List(store::Database& db, const Query& query) {
  std::vector<Entry> out;
  std::string prefix_like = query.kind_prefix.empty() ? "%" : query.kind_prefix + "%";
  auto rows = db.Query(
      "SELECT id, ts, kind, actor, subject, outcome, detail FROM audit_log"
      " WHERE id > ?1 AND (kind = ?2 OR kind LIKE ?3) ORDER BY id DESC LIMIT ?4",
      {query.after.value_or(0), std::string_view(query.kind_prefix),
       std::string_view(prefix_like), query.limit},
      [&](const store::Row& row) {
        Entry e;
        e.id = row.Int(0);
        e.ts_ms = row.Int(1);
        e.event.kind = row.Text(2);
        e.event.actor = row.Text(3);
        e.event.subject = row.Text(4);
        e.event.outcome = row.Text(5);
        if (auto text = row.OptText(6)) {
          boost::system::error_code ec;
          auto v = json::parse(*text, ec);
          if (!ec && v.is_object()) e.event.detail = v.get_object();
        }
        out.push_back(std::move(e));
      });
  if (!rows.ok()) return rows.error();
  std::reverse(out.begin(), out.end());
  return out;
}

json::value ToPage(const std::vector<Entry>& entries, std::optional<int64_t> after) {
  json::array out;
  int64_t next = after.value_or(0);
  for (const auto& e : entries) {
    out.push_back(e.ToJson());
    next = std::max(next, e.id);
  }
  return json::object{{"entries", std::move(out)}, {"next", next}};
}

}  // namespace oc::audit
