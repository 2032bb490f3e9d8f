// A small metrics registry rendering the Prometheus text exposition format 0.0.4: counter, gauge
// and histogram families with fixed label names, each family registered up front and exposed from
// the first render on (`# HELP` and `# TYPE` even before its first sample), so dashboards never
// see a metric appear from nowhere and `promtool check metrics` is clean.
//
//   MetricsRegistry registry;
//   Family* turns = registry.AddCounter("agent_turns_total", "Agent turns.", {}, &error);
//   Family* calls = registry.AddCounter("agent_tool_calls_total", "Tool calls.", {"tool", "ok"},
//                                       &error);
//   {
//     MetricsRegistry::Batch batch = registry.Update();  // one lock for many samples
//     batch.Add(turns, {}, 1);
//     batch.Add(calls, {"read_file", "true"}, 1);
//   }
//   std::string text = registry.Render();
//
// Conventions enforced at registration: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]* without the reserved "__" prefix, counter names end in "_total", a
// histogram has no "le" label and strictly increasing finite bounds. Units belong in the name
// (base units: seconds, bytes, ratio), which the caller chooses.
//
// Rendering: families in registration order; within a family, series sorted by label values (a
// stable, diffable output); a family with no labels always has its one series (0 until updated);
// a labelled family with no series yet renders as HELP and TYPE alone. Histogram series render
// cumulative `_bucket{le="..."}` lines ending in le="+Inf", then `_sum` and `_count`. Label values
// are escaped (\\, \", \n) and made valid UTF-8 (ill-formed bytes become U+FFFD); HELP text
// escapes \\ and \n.
//
// Bounded: a family holds at most max_series series (AddX option, default 4096); a sample for a
// further label set is folded into the series whose label values are all "other" (counted in
// folded_samples()). Callers bound their own label values earlier (see LabelValueCap).
//
// Thread safety: registration, updates and rendering may run on different threads. Every update
// goes through a Batch, which holds the registry's mutex for its lifetime: the processing thread
// takes the lock once per batch of samples (a trace), not once per sample, and a render never sees
// half a batch (a histogram's +Inf bucket always equals its _count).
#ifndef AGENTRING_READER_METRICS_REGISTRY_H_
#define AGENTRING_READER_METRICS_REGISTRY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace agentring::reader::metrics {

enum class MetricType : uint8_t { kCounter, kGauge, kHistogram };

// One label set's values. A counter or gauge uses `value`; a histogram uses the rest
// (bucket_counts[i]: observations <= bounds[i], NOT cumulative; the last entry is the +Inf bucket).
struct Series {
  double value = 0;
  std::vector<uint64_t> bucket_counts;
  double sum = 0;
  uint64_t count = 0;
};

// Hash and equality of label values, transparent so that a lookup by string_views allocates
// nothing (the per-sample cost is one hash of the values and one comparison).
struct LabelValuesHash {
  using is_transparent = void;
  template <typename Values>
  size_t operator()(const Values& values) const {
    size_t h = 0;
    for (std::string_view v : values) h = (h ^ std::hash<std::string_view>()(v)) * 0x9E3779B97F4A7C15ull;
    return h;
  }
};
struct LabelValuesEqual {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](std::string_view x, std::string_view y) { return x == y; });
  }
};

// A metric family: name, help, type, label names and its series. Created by MetricsRegistry and
// owned by it; pointers stay valid for the registry's lifetime. Its members are read and written
// only under the registry's mutex (through Batch and Render).
class Family {
 public:
  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  friend class MetricsRegistry;
  std::string name_;
  std::string help_;
  MetricType type_ = MetricType::kCounter;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms: finite upper bounds, strictly increasing
  size_t max_series_ = 0;
  // By label values, in label_names_ order (sorted when rendered).
  std::unordered_map<std::vector<std::string>, Series, LabelValuesHash, LabelValuesEqual> series_;
};

class MetricsRegistry {
 public:
  static constexpr size_t kDefaultMaxSeries = 4096;
  // The label value that series past a family's max_series are folded into.
  static constexpr std::string_view kOtherLabelValue = "other";

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Register a family. Return nullptr and set *error to one line ("metric NAME: reason") when a
  // name breaks the conventions above, the name is taken, or (histograms) the bounds are empty,
  // not finite or not strictly increasing. Thread-safe.
  Family* AddCounter(std::string name, std::string help, std::vector<std::string> label_names,
                     std::string* error, size_t max_series = kDefaultMaxSeries);
  Family* AddGauge(std::string name, std::string help, std::vector<std::string> label_names,
                   std::string* error, size_t max_series = kDefaultMaxSeries);
  Family* AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> bounds, std::string* error,
                       size_t max_series = kDefaultMaxSeries);

  // Updates under the registry's mutex, held from Update() until the Batch is destroyed. Every
  // `label_values` must have as many entries as the family has label names (a mismatch is a
  // programming error: the sample is dropped and counted in bad_samples()). Not thread-safe
  // itself: one thread uses a Batch.
  class Batch {
   public:
    Batch(Batch&&) = default;
    // counter += delta (delta >= 0; a negative or NaN delta is dropped and counted as bad).
    void Add(Family* f, std::initializer_list<std::string_view> label_values, double delta);
    // counter or gauge = value. For counters whose source keeps the cumulative total (the ring's
    // and the pipeline's counters): the caller passes the snapshot.
    void Set(Family* f, std::initializer_list<std::string_view> label_values, double value);
    // histogram: one observation (NaN is dropped and counted as bad).
    void Observe(Family* f, std::initializer_list<std::string_view> label_values, double value);
    // Makes the series exist (at 0) without changing it: a known label set visible from the start.
    void Touch(Family* f, std::initializer_list<std::string_view> label_values);
    // Removes every series of `f` (gauges whose label sets come and go, e.g. lanes in use).
    void Clear(Family* f);

   private:
    friend class MetricsRegistry;
    Batch(MetricsRegistry* r) : registry_(r), lock_(r->mu_) {}
    Series* Find(Family* f, std::initializer_list<std::string_view> label_values);
    MetricsRegistry* registry_;
    std::unique_lock<std::mutex> lock_;
  };
  Batch Update() { return Batch(this); }

  // The text exposition of every family (format 0.0.4). Thread-safe (takes the mutex).
  std::string Render() const;

  // Samples folded into an all-"other" series because their family was full; samples dropped as
  // malformed (wrong label count, negative counter delta, NaN). Thread-safe.
  uint64_t folded_samples() const;
  uint64_t bad_samples() const;

 private:
  Family* Add(MetricType type, std::string name, std::string help,
              std::vector<std::string> label_names, std::vector<double> bounds,
              size_t max_series, std::string* error);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;  // registration order
  uint64_t folded_samples_ = 0;
  uint64_t bad_samples_ = 0;
};

// Name checks of the exposition format (exposed for tests).
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);
// A label value as it appears between the quotes: \\, \" and \n escaped, ill-formed UTF-8
// replaced by U+FFFD.
std::string EscapeLabelValue(std::string_view value);
// A sample value or bound: integers below 2^53 without a fraction ("42"), others the shortest
// round-trip form ("0.01", "1.5e+20"), and "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);

// Bounds the distinct values of one label (tool names, models): the first `max_values` distinct
// values pass, later new ones become "other" (and are counted). Values are also cut to
// max_value_bytes. Not thread-safe: used under the Batch that records the sample.
class LabelValueCap {
 public:
  explicit LabelValueCap(size_t max_values, size_t max_value_bytes = 128)
      : max_values_(max_values), max_value_bytes_(max_value_bytes) {}
  // The value to use as a label value for `value`.
  std::string_view Map(std::string_view value);
  uint64_t folded() const { return folded_; }

 private:
  size_t max_values_;
  size_t max_value_bytes_;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view v) const { return std::hash<std::string_view>()(v); }
  };
  std::unordered_set<std::string, Hash, std::equal_to<>> seen_;
  uint64_t folded_ = 0;
};

}  // namespace agentring::reader::metrics

#endif  // AGENTRING_READER_METRICS_REGISTRY_H_
