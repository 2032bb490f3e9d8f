// The reader's Prometheus metrics: what agents did (RED metrics of turns, errors and tool calls,
// and the OpenTelemetry GenAI client metrics), derived from every exported trace, and how the ring
// and the pipeline are doing (lanes, records, drops by reason, lag, export queues), set from a
// periodic snapshot. Rendered as the text exposition format by MetricsServer at /metrics.
//
// Families (every one exposed from the first render on; see registry.h):
//
//   From traces (ObserveTrace), per span, each span counted once (late parts add their own spans):
//   agent_turns_total                          counter    spans of kind turn
//   agent_turn_latency_seconds                 histogram  their durations (kTurnBuckets)
//   agent_errors_total{kind}                   counter    spans with status error, by agent.kind
//                                                         (all 13 kinds present from the start)
//   agent_tool_calls_total{tool,ok}            counter    spans of kind tool, by tool.name (else
//                                                         gen_ai.tool.name); ok="false" when the
//                                                         status is error or tool.status="error"
//   gen_ai_client_token_usage{gen_ai_operation_name,gen_ai_provider_name,gen_ai_request_model,
//                             gen_ai_token_type}
//                                              histogram  input and output tokens of each model
//                                                         call (semconv gen_ai.client.token.usage,
//                                                         unit {token}, its bucket advice)
//   gen_ai_client_operation_duration_seconds{gen_ai_operation_name,gen_ai_provider_name,
//                                            gen_ai_request_model,error_type}
//                                              histogram  duration of each model call (semconv
//                                                         gen_ai.client.operation.duration, its
//                                                         bucket advice); error_type is "" unless
//                                                         the call failed: then error.type, else
//                                                         "_OTHER"
//
//   A model call is a span of kind llm or embedding, or any span whose gen_ai.operation.name is
//   chat, text_completion, generate_content or embeddings. The model label is
//   gen_ai.request.model, else gen_ai.response.model, else llm.model; the provider is
//   gen_ai.provider.name, else gen_ai.system. Tokens: gen_ai.usage.input_tokens /
//   output_tokens (else llm.token_count.prompt / .completion), non-negative integers; a model
//   call with a model call below it in the batch is a wrapper and its tokens are not observed
//   again (its duration is: both were calls the agent waited for).
//
//   From ReaderHealth (SetHealth): see the struct below; counters there are the cumulative totals
//   the pipeline keeps, exposed as counters set to the snapshot.
//
// Cardinality: tool names, models, providers, operation names and error types are each capped
// (Options) at their first N distinct values; later new values become "other", counted in
// agentring_metrics_label_values_folded_total.
//
// Thread safety: ObserveTrace and SetHealth may be called from any threads (each takes the
// registry lock once); Render from any other. Cost per trace: one lock and a few map lookups per
// turn, tool, error and model-call span; other spans cost one switch on their kind.
#ifndef AGENTRING_READER_METRICS_READER_METRICS_H_
#define AGENTRING_READER_METRICS_READER_METRICS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "reader/drain/decoder.h"
#include "reader/metrics/registry.h"
#include "reader/model/span.h"

namespace agentring::reader {

struct DrainStats;

// A snapshot of ring and pipeline health. Counters are cumulative since the reader started (the
// values the pipeline already keeps); gauges are current values.
struct ReaderHealth {
  // Lanes (gauges).
  uint32_t lanes_total = 0;        // agentring_lanes: lanes in the segment
  uint32_t lanes_in_use = 0;       // agentring_lanes_in_use: owned by a writer thread
  struct LaneFill {
    uint32_t lane = 0;
    double fill_ratio = 0;         // committed-but-unread records / lane capacity, 0..1
  };
  std::vector<LaneFill> lane_fill;  // lanes in use; agentring_lane_fill_ratio{lane} (the fullest
                                    // kMaxLaneSeries) and agentring_lane_fill_ratio_max
  double reader_lag_seconds = 0;   // agentring_reader_lag_seconds: age of the oldest unread
                                   // record, or of the newest record read (the pipeline's choice)

  // Reader side (counters).
  uint64_t passes = 0;             // agentring_reader_passes_total
  uint64_t records_read = 0;       // agentring_records_read_total
  // agentring_records_rejected_total{reason}, by RejectReason (names from RejectReasonName).
  std::array<uint64_t, static_cast<size_t>(RejectReason::kCount)> records_rejected_by_reason{};
  uint64_t spans_incomplete = 0;   // agentring_spans_incomplete_total (closed by the reader)
  uint64_t spans_sampled_out = 0;  // agentring_spans_tail_sampled_out_total
  uint64_t traces_exported = 0;    // agentring_traces_exported_total

  // Writer side, as the writers counted them (counters).
  uint64_t writer_records_dropped_full = 0;         // agentring_writer_records_dropped_total
  uint64_t writer_records_dropped_too_big = 0;      //   {reason="full"|"too_big"|"overwritten"}
  uint64_t writer_records_overwritten = 0;
  uint64_t writer_span_starts_dropped_full = 0;     // agentring_writer_span_starts_dropped_total
  uint64_t writer_span_starts_dropped_too_big = 0;  //   {reason="full"|"too_big"|"no_lane"|
  uint64_t writer_span_starts_dropped_no_lane = 0;  //    "no_segment"|"overwritten"}
  uint64_t writer_span_starts_dropped_no_segment = 0;
  uint64_t writer_span_starts_overwritten = 0;
  uint64_t writer_spans_head_sampled_out = 0;       // agentring_spans_head_sampled_out_total
  uint64_t writer_strings_dropped = 0;              // agentring_writer_strings_dropped_total

  // Exporters, one entry per configured exporter (names are the exporters' names).
  struct Exporter {
    std::string name;                 // label exporter
    uint64_t spans_exported = 0;      // agentring_exporter_spans_exported_total{exporter}
    uint64_t queue_spans = 0;         // agentring_exporter_queue_spans{exporter} (gauge)
    uint64_t export_failures = 0;     // agentring_exporter_failures_total{exporter}
    // agentring_exporter_spans_dropped_total{exporter,reason}; reasons are the pipeline's
    // (e.g. "queue_full", "export_failed", "shutdown_timeout").
    std::vector<std::pair<std::string, uint64_t>> spans_dropped_by_reason;
    // Exporter::AppendCounters: agentring_exporter_events_total{exporter,event}.
    std::vector<std::pair<std::string, uint64_t>> events;
  };
  std::vector<Exporter> exporters;
};

// Copies the drain stage's counters (records read, rejections by reason, writer drops, head
// sampling, strings dropped) into *h; leaves every other field as it is.
void FillFromDrainStats(const DrainStats& d, ReaderHealth* h);

class ReaderMetrics {
 public:
  struct Options {
    size_t max_tools = 256;          // distinct tool label values
    size_t max_models = 256;         // distinct gen_ai_request_model values
    size_t max_providers = 64;
    size_t max_operations = 64;
    size_t max_error_types = 128;
    size_t max_exporter_label_values = 256;  // exporter names, drop reasons, event names
  };
  static constexpr size_t kMaxLaneSeries = 64;

  // Semantic-convention bucket advice (gen_ai.client.token.usage, .operation.duration).
  static const std::vector<double>& TokenUsageBuckets();
  static const std::vector<double>& OperationDurationBuckets();
  // agent_turn_latency_seconds: the operation buckets extended to ~22 minutes (turns that run
  // tools can take minutes).
  static const std::vector<double>& TurnLatencyBuckets();

  ReaderMetrics() : ReaderMetrics(Options()) {}
  explicit ReaderMetrics(const Options& options);
  ReaderMetrics(const ReaderMetrics&) = delete;
  ReaderMetrics& operator=(const ReaderMetrics&) = delete;

  // Records the RED and GenAI metrics of one exported trace or late part (after enrichment).
  // Never fails; values it cannot use (negative tokens, a NaN duration) are skipped. Thread-safe.
  void ObserveTrace(const TraceBatch& batch);
  // Replaces the ring and pipeline health with `h`. Thread-safe.
  void SetHealth(const ReaderHealth& h);
  // The text exposition (format 0.0.4). Thread-safe.
  std::string Render() const;

  metrics::MetricsRegistry& registry() { return registry_; }

 private:
  metrics::Family* Must(metrics::Family* f, const std::string& error);

  Options options_;
  metrics::MetricsRegistry registry_;
  // Label caps, used under a registry Batch.
  metrics::LabelValueCap tools_, models_, providers_, operations_, error_types_;
  metrics::LabelValueCap exporter_values_;

  // From traces.
  metrics::Family* turns_;
  metrics::Family* turn_latency_;
  metrics::Family* errors_;
  metrics::Family* tool_calls_;
  metrics::Family* token_usage_;
  metrics::Family* operation_duration_;
  // Health.
  metrics::Family* lanes_;
  metrics::Family* lanes_in_use_;
  metrics::Family* lane_fill_;
  metrics::Family* lane_fill_max_;
  metrics::Family* reader_lag_;
  metrics::Family* passes_;
  metrics::Family* records_read_;
  metrics::Family* records_rejected_;
  metrics::Family* spans_incomplete_;
  metrics::Family* spans_tail_sampled_out_;
  metrics::Family* traces_exported_;
  metrics::Family* writer_records_dropped_;
  metrics::Family* writer_span_starts_dropped_;
  metrics::Family* spans_head_sampled_out_;
  metrics::Family* writer_strings_dropped_;
  metrics::Family* exporter_spans_exported_;
  metrics::Family* exporter_queue_spans_;
  metrics::Family* exporter_failures_;
  metrics::Family* exporter_spans_dropped_;
  metrics::Family* exporter_events_;
  metrics::Family* label_values_folded_;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_METRICS_READER_METRICS_H_
