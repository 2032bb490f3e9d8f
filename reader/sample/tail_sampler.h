// The sample stage: tail sampling, decided once per trace after the reader has seen the whole of
// it (and after the enrich stage, so policies can use derived attributes such as gen_ai.cost_usd
// or agentring.cost.total_usd).
//
// Configuration: the `tail_sampling:` section of the config file (docs/CONFIG.md), with the
// schema of the OpenTelemetry Collector contrib `tail_sampling` processor so a Collector block
// can be pasted as it is:
//
//   tail_sampling:
//     decision_wait: 10s                 # see "decision_wait" below
//     decision_wait_after_root_received: 2s   # when given, used instead of decision_wait
//     num_traces: 50000                  # decisions remembered for late parts (default 50000)
//     expected_new_traces_per_sec: 100   # accepted; no effect (nothing is preallocated)
//     sample_on_first_match: false       # stop at the first policy that says Sampled
//     decision_cache: {sampled_cache_size: N, non_sampled_cache_size: N}   # default num_traces
//     block_on_overflow: false           # accepted; no effect (see below)
//     drop_pending_traces_on_shutdown: false  # accepted; no effect (see below)
//     policies:
//       - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
//       - {name: some, type: probabilistic, probabilistic: {sampling_percentage: 10}}
//
// Policy types and what they say (Sampled / NotSampled, or the "invert" pair):
//   always_sample      Sampled.
//   probabilistic      {hash_salt, sampling_percentage}: Sampled when
//                      FNV-1a-64(salt ++ 16 trace id bytes) <= percentage/100 * (2^64-1), the
//                      Collector's hash (default salt "default-hash-seed"), so a trace id gets
//                      the same answer here as in a Collector with the same salt.
//   latency            {threshold_ms, upper_threshold_ms}: trace duration d = latest end -
//                      earliest start, in whole ms; Sampled when d >= threshold_ms, or with an
//                      upper bound when threshold_ms < d <= upper_threshold_ms.
//   status_code        {status_codes: [ERROR|OK|UNSET, …]}: Sampled when a span has one.
//   string_attribute   {key, values, enabled_regex_matching, cache_max_size, invert_match}:
//                      a span's non-empty string attribute, or a writer process's resource
//                      attribute, equal to one of values (or matching one of them as a regex,
//                      unanchored search, Perl syntax; results cached in an LRU of
//                      cache_max_size strings, default 128).
//   numeric_attribute  {key, min_value, max_value, invert_match}: a span's int or double
//                      attribute (or a resource attribute that parses as a number) in
//                      [min_value, max_value]; either bound may be omitted, not both. Bounds may
//                      be decimals (the Collector takes integers, and reads a double attribute
//                      as 0: here 0.75 USD compares as 0.75).
//   boolean_attribute  {key, value, invert_match}: a span's bool attribute (or a resource
//                      attribute "true"/"false") equal to value.
//   rate_limiting      {spans_per_second}: a token bucket of 2 x spans_per_second spans,
//                      refilled at spans_per_second, starting full (the Collector's): Sampled
//                      when the trace's spans fit in the bucket (they are then taken from it).
//   span_count         {min_spans, max_spans}: Sampled when min <= spans <= max (max 0 = none).
//   and                {and_sub_policy: [policies]}: Sampled when every sub-policy says
//                      Sampled or InvertSampled.
//   composite          {max_total_spans_per_second, policy_order, composite_sub_policy,
//                      rate_allocation: [{policy, percent}]}: the sub-policies are asked in
//                      policy_order (the sub-policy list's order when absent); the first that
//                      says Sampled decides: Sampled if, within the current second of the
//                      monotonic clock, its spans still fit in that sub-policy's allocation
//                      (percent of the total; an allocation with percent 0 gets an equal share;
//                      a sub-policy without allocation gets none, as in the Collector) and in
//                      the total; otherwise NotSampled.
// With invert_match the attribute policies say InvertNotSampled when a span or resource
// matches and InvertSampled otherwise (trace without the key included).
//
// Final decision over the top-level policies (the Collector's rules):
//   1. any InvertNotSampled -> drop;  2. else any Sampled -> keep;
//   3. else any InvertSampled and no NotSampled -> keep;  4. else drop.
// With sample_on_first_match, evaluation stops at the first Sampled (keep).
//
// Late parts and the decision cache: the first batch of a trace decides; the decision is kept in
// one of two LRU caches (kept traces, dropped traces; sizes from decision_cache, each defaulting
// to num_traces). Any later batch of that trace (batch.late, or a re-sent part) follows the
// cached decision and refreshes its place in the LRU. A late batch whose trace is not in either
// cache (never seen, or evicted) is decided afresh by the policies on the spans it holds (so an
// error in it is still kept, and probabilistic gives the same answer as it did for the first
// part), the decision is cached, and it is counted in late_undecided.
//
// decision_wait: the Collector waits decision_wait after a trace's FIRST span arrives. Here a
// trace is decided when the assembler hands it on: once its root has ended and nothing of it is
// open, or at most decision_wait after the ROOT ENDED when spans are still open (so a 30-minute
// agent run is not decided after 30 s). decision_wait_ns() gives the value for the assembler;
// decision_wait_after_root_received (the Collector's root-based wait) takes precedence when
// given, since it is the same idea. block_on_overflow and drop_pending_traces_on_shutdown
// concern the Collector's buffer of undecided traces; here the assembler holds those.
//
// Threading: thread-compatible. One thread calls Keep (the export thread, in export order); the
// counters in stats() and policy_counts() may be read from any thread (relaxed atomics).
#ifndef AGENTRING_READER_SAMPLE_TAIL_SAMPLER_H_
#define AGENTRING_READER_SAMPLE_TAIL_SAMPLER_H_

#include <yaml-cpp/yaml.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reader/model/span.h"

namespace agentring::reader {

// Counters (relaxed atomics: written by the thread calling Keep, readable from any thread).
// Every span passed to Keep is counted once, in spans_kept or spans_sampled_out.
struct TailSamplerStats {
  std::atomic<uint64_t> traces_kept{0};        // first parts the policies kept
  std::atomic<uint64_t> traces_dropped{0};     // first parts the policies dropped
  std::atomic<uint64_t> late_batches_kept{0};  // later parts kept (cached decision or afresh)
  std::atomic<uint64_t> late_batches_dropped{0};
  std::atomic<uint64_t> late_undecided{0};  // later parts with no cached decision
  std::atomic<uint64_t> spans_kept{0};
  std::atomic<uint64_t> spans_sampled_out{0};  // spans of dropped batches
  std::atomic<uint64_t> decisions_evicted{0};  // cache entries evicted to make room
};

class TailSampler {
 public:
  // The traces a top-level policy said Sampled (or InvertSampled) for.
  struct PolicyCount {
    std::string name;
    uint64_t sampled = 0;
  };

  // Builds the sampler from the `tail_sampling:` node (a mapping). Returns nullptr and sets
  // *error to one line naming the position, the field and the reason, e.g.
  //   "line 12 column 11: tail_sampling.policies[1] (errors).status_code.status_codes[0]:
  //    unknown status code 'ERR' (expected ERROR, OK or UNSET)"
  // on: a key unknown at its level, a wrong type, a missing required field, a policy type this
  // reader does not implement, a duplicate policy name, an invalid regex, an out-of-range value.
  static std::unique_ptr<TailSampler> Create(const YAML::Node& tail_sampling, std::string* error);
  ~TailSampler();

  // True when `batch` is to be exported, false when it is sampled out (counted). A batch whose
  // trace has a cached decision follows it; otherwise the policies decide (see above).
  // `now_mono_ns` is the monotonic clock (CLOCK_MONOTONIC), used by rate_limiting and composite.
  bool Keep(const TraceBatch& batch, uint64_t now_mono_ns);

  // The wait for the assembler (AssemblerOptions::decision_wait_ns):
  // decision_wait_after_root_received when given, else decision_wait, else 0 = not configured (keep
  // the reader's --decision-wait-ms).
  uint64_t decision_wait_ns() const { return decision_wait_ns_; }

  const TailSamplerStats& stats() const { return stats_; }
  std::vector<PolicyCount> policy_counts() const;
  // Decisions held in the caches (kept + dropped), for tests.
  size_t cached_decisions() const;

 private:
  struct Impl;  // the policies and the decision caches (tail_sampler.cc)
  TailSampler();
  static std::unique_ptr<TailSampler> CreateChecked(const YAML::Node& tail_sampling,
                                                    std::string* error);

  uint64_t decision_wait_ns_ = 0;
  std::unique_ptr<Impl> impl_;
  TailSamplerStats stats_;
};

// The probabilistic policy's hash (exposed so tests can compute the expected set independently):
// FNV-1a 64 over the salt's bytes, then the trace id's 16 bytes (hi then lo, big-endian: the
// OTLP byte order). An empty salt means the Collector's default "default-hash-seed".
uint64_t ProbabilisticHash(std::string_view salt, const TraceId& id);
// The threshold for a percentage: floor(percentage / 100 * (2^64 - 1)), 0 for <= 0, 2^64 - 1 for
// >= 100. A trace is sampled when ProbabilisticHash(...) <= threshold.
uint64_t ProbabilisticThreshold(double sampling_percentage);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_SAMPLE_TAIL_SAMPLER_H_
