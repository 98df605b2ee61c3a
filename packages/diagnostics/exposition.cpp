#include "exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace oc::diagnostics {

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void MetricFamily::Add(Labels labels, double value) { samples.push_back(Sample{"", std::move(labels), value}); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::Observe(double value) {
  // A bucket counts observations <= its bound ("le").
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++counts_[static_cast<size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

void AppendHistogram(MetricFamily& family, const Labels& labels, const Histogram& histogram) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= histogram.bounds().size(); ++i) {
    cumulative += histogram.counts()[i];
    Labels with_le = labels;
    with_le.emplace_back("le", i < histogram.bounds().size() ? FormatValue(histogram.bounds()[i]) : "+Inf");
    family.samples.push_back(Sample{"_bucket", std::move(with_le), static_cast<double>(cumulative)});
  }
  family.samples.push_back(Sample{"_sum", labels, histogram.sum()});
  family.samples.push_back(Sample{"_count", labels, static_cast<double>(histogram.count())});
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Integers up to 2^53 print exactly without exponent: counters stay readable.
  if (std::fabs(value) < 9007199254740992.0 && value == std::trunc(value)) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(value));
    return std::string(buf, r.ptr);
  }
  auto r = std::to_chars(buf, buf + sizeof buf, value);  // shortest round-trip form
  return std::string(buf, r.ptr);
}

namespace {

bool NameChar(char c, bool first, bool colon_ok) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon_ok && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool ValidName(std::string_view name, bool colon_ok) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!NameChar(name[i], i == 0, colon_ok)) return false;
  return true;
}

bool ValidLabels(const Labels& labels) {
  return std::all_of(labels.begin(), labels.end(), [](const auto& l) { return ValidLabelName(l.first); });
}

void RenderSample(std::string& out, const std::string& name, const Sample& s) {
  out += name;
  out += s.suffix;
  if (!s.labels.empty()) {
    out += '{';
    for (size_t i = 0; i < s.labels.size(); ++i) {
      if (i) out += ',';
      out += s.labels[i].first;
      out += "=\"";
      out += EscapeLabelValue(s.labels[i].second);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += FormatValue(s.value);
  out += '\n';
}

}  // namespace

bool ValidMetricName(std::string_view name) { return ValidName(name, true); }

bool ValidLabelName(std::string_view name) { return ValidName(name, false) && !name.starts_with("__"); }

std::string RenderExposition(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const auto& f : families) {
    if (!ValidMetricName(f.name)) continue;
    out += "# HELP " + f.name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + f.name + " " + std::string(MetricTypeName(f.type)) + "\n";
    for (const auto& s : f.samples)
      if (ValidLabels(s.labels)) RenderSample(out, f.name, s);
  }
  return out;
}

}  // namespace oc::diagnostics
