// Prometheus text exposition format 0.0.4: metric families → the text a scraper reads
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Pure functions, no I/O.
//
// Output per family: "# HELP <name> <help>", "# TYPE <name> <type>", then one line per sample
// "<name><suffix>{l1="v1",...} <value>". Label values escape \ " and newline; HELP text escapes
// \ and newline. Families and samples are written in the order given: the caller keeps related
// series together (the format requires every sample of a family to follow its TYPE line).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oc::diagnostics {

inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram };
std::string_view MetricTypeName(MetricType type);  // "counter", "gauge", "histogram"

using Labels = std::vector<std::pair<std::string, std::string>>;  // name → value, in output order

struct Sample {
  std::string suffix;  // "" for counters/gauges; "_bucket", "_sum", "_count" for histograms
  Labels labels;
  double value = 0;
};

struct MetricFamily {
  std::string name;  // [a-zA-Z_:][a-zA-Z0-9_:]*
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<Sample> samples;

  // Appends one counter/gauge sample.
  void Add(Labels labels, double value);
};

// Fixed upper bounds (ascending, finite) plus the implicit +Inf bucket.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket counts, NOT cumulative; size bounds()+1, the last is the +Inf bucket.
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Appends the histogram's series to `family` (type kHistogram): one "_bucket" sample per bound with
// `labels` + le="<bound>" and a CUMULATIVE count, le="+Inf" (= count), then "_sum" and "_count".
void AppendHistogram(MetricFamily& family, const Labels& labels, const Histogram& histogram);

// A label value with \ → \\, " → \", newline → \n.
std::string EscapeLabelValue(std::string_view value);
// HELP text with \ → \\ and newline → \n.
std::string EscapeHelp(std::string_view help);
// A sample value: integers without exponent or fraction ("42"), other finite values in the
// shortest round-trip form ("0.25", "1e+21"), and "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);
// True for a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) / label name ([a-zA-Z_][a-zA-Z0-9_]*,
// not starting with "__").
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

// The exposition text of all `families`, each line ending in "\n". Families with an invalid
// name and samples with an invalid label name are skipped (a programming error, never a bad scrape).
std::string RenderExposition(const std::vector<MetricFamily>& families);

}  // namespace oc::diagnostics
