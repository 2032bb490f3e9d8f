// The reader's metrics: RED and GenAI metrics from traces, ring and pipeline health from
// snapshots (see reader_metrics.h).
#include "reader/metrics/reader_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "agentring/agentring.hpp"
#include "reader/drain/segment_reader.h"

namespace agentring::reader {
namespace {

using metrics::Family;
using metrics::MetricsRegistry;

constexpr double kNsPerSecond = 1e9;

// The string value of the first of `keys` the span carries as a string, or "".
std::string_view StringAttr(const SpanData& s, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    const AttrValue* v = s.Find(k);
    if (!v) continue;
    if (const std::string* str = std::get_if<std::string>(v)) return *str;
  }
  return {};
}

// A token count: the first of `keys` present as a non-negative integer (or an integral double, as
// JSON readers produce them). False when absent or unusable.
bool TokenAttr(const SpanData& s, std::initializer_list<std::string_view> keys, int64_t* out) {
  for (std::string_view k : keys) {
    const AttrValue* v = s.Find(k);
    if (!v) continue;
    if (const int64_t* i = std::get_if<int64_t>(v)) {
      if (*i < 0) return false;
      *out = *i;
      return true;
    }
    if (const double* d = std::get_if<double>(v)) {
      if (!(*d >= 0) || *d != std::trunc(*d) || *d > 9007199254740992.0) return false;
      *out = static_cast<int64_t>(*d);
      return true;
    }
    return false;
  }
  return false;
}

// A GenAI client operation (a model call), as reader_metrics.h defines it.
bool IsModelCall(const SpanData& s) {
  Kind k = static_cast<Kind>(s.kind);
  if (k == Kind::kLlm || k == Kind::kEmbedding) return true;
  std::string_view op = StringAttr(s, {"gen_ai.operation.name"});
  return op == "chat" || op == "text_completion" || op == "generate_content" ||
         op == "embeddings";
}

bool InputTokens(const SpanData& s, int64_t* out) {
  return TokenAttr(s, {"gen_ai.usage.input_tokens", "llm.token_count.prompt"}, out);
}
bool OutputTokens(const SpanData& s, int64_t* out) {
  return TokenAttr(s, {"gen_ai.usage.output_tokens", "llm.token_count.completion"}, out);
}
bool HasTokens(const SpanData& s) {
  int64_t n;
  return InputTokens(s, &n) || OutputTokens(s, &n);
}

}  // namespace

const std::vector<double>& ReaderMetrics::TokenUsageBuckets() {
  static const std::vector<double> kBuckets = {1,       4,       16,       64,       256,
                                               1024,    4096,    16384,    65536,    262144,
                                               1048576, 4194304, 16777216, 67108864};
  return kBuckets;
}

const std::vector<double>& ReaderMetrics::OperationDurationBuckets() {
  static const std::vector<double> kBuckets = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                               1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
  return kBuckets;
}

const std::vector<double>& ReaderMetrics::TurnLatencyBuckets() {
  static const std::vector<double> kBuckets = [] {
    std::vector<double> b = OperationDurationBuckets();
    for (double v : {163.84, 327.68, 655.36, 1310.72}) b.push_back(v);
    return b;
  }();
  return kBuckets;
}

void FillFromDrainStats(const DrainStats& d, ReaderHealth* h) {
  h->records_read = d.records_read;
  h->records_rejected_by_reason = d.rejected_by_reason;
  h->writer_records_dropped_full = d.writer_records_dropped_full;
  h->writer_records_dropped_too_big = d.writer_records_dropped_too_big;
  h->writer_span_starts_dropped_full = d.writer_span_starts_dropped_full;
  h->writer_span_starts_dropped_too_big = d.writer_span_starts_dropped_too_big;
  h->writer_span_starts_dropped_no_lane = d.writer_span_starts_dropped_no_lane;
  h->writer_span_starts_dropped_no_segment = d.writer_span_starts_dropped_no_segment;
  h->writer_spans_head_sampled_out = d.writer_spans_head_sampled_out;
  h->writer_strings_dropped = d.writer_strings_dropped;
}

Family* ReaderMetrics::Must(Family* f, const std::string& error) {
  // Registration uses constant names: a failure is a bug in this file, caught by every test.
  if (!f) {
    fprintf(stderr, "agentring-reader: internal error registering metrics: %s\n", error.c_str());
    abort();
  }
  return f;
}

ReaderMetrics::ReaderMetrics(const Options& options)
    : options_(options),
      tools_(options.max_tools),
      models_(options.max_models),
      providers_(options.max_providers),
      operations_(options.max_operations),
      error_types_(options.max_error_types),
      exporter_values_(options.max_exporter_label_values) {
  std::string e;
  MetricsRegistry& r = registry_;
  const std::vector<std::string> kGenAiLabels = {"gen_ai_operation_name", "gen_ai_provider_name",
                                                 "gen_ai_request_model"};

  // From traces: the RED metrics of an agent loop and the GenAI client metrics.
  turns_ = Must(r.AddCounter("agent_turns_total", "Agent turns (spans of kind turn) exported.",
                             {}, &e), e);
  turn_latency_ = Must(r.AddHistogram("agent_turn_latency_seconds",
                                      "Duration of agent turns (spans of kind turn), in seconds.",
                                      {}, TurnLatencyBuckets(), &e), e);
  errors_ = Must(r.AddCounter("agent_errors_total",
                              "Spans with status error, by agent.kind (run, turn, llm, tool, ...).",
                              {"kind"}, &e), e);
  tool_calls_ = Must(r.AddCounter("agent_tool_calls_total",
                                  "Tool calls (spans of kind tool) by tool name and outcome; "
                                  "ok=\"false\" when the status is error or tool.status is error.",
                                  {"tool", "ok"}, &e), e);
  std::vector<std::string> token_labels = kGenAiLabels;
  token_labels.push_back("gen_ai_token_type");
  token_usage_ = Must(r.AddHistogram("gen_ai_client_token_usage",
                                     "Number of input and output tokens used per model call "
                                     "(OpenTelemetry gen_ai.client.token.usage, unit {token}).",
                                     token_labels, TokenUsageBuckets(), &e), e);
  std::vector<std::string> duration_labels = kGenAiLabels;
  duration_labels.push_back("error_type");
  operation_duration_ = Must(r.AddHistogram("gen_ai_client_operation_duration_seconds",
                                            "Duration of model calls in seconds (OpenTelemetry "
                                            "gen_ai.client.operation.duration).",
                                            duration_labels, OperationDurationBuckets(), &e), e);

  // Ring and pipeline health.
  lanes_ = Must(r.AddGauge("agentring_lanes", "Lanes in the shared-memory segment.", {}, &e), e);
  lanes_in_use_ = Must(r.AddGauge("agentring_lanes_in_use",
                                  "Lanes currently owned by a writer thread.", {}, &e), e);
  lane_fill_ = Must(r.AddGauge("agentring_lane_fill_ratio",
                               "Fill of a lane in use (unread records / capacity, 0..1); the "
                               "fullest 64 lanes in use.",
                               {"lane"}, &e, kMaxLaneSeries), e);
  lane_fill_max_ = Must(r.AddGauge("agentring_lane_fill_ratio_max",
                                   "Fill of the fullest lane in use (0..1).", {}, &e), e);
  reader_lag_ = Must(r.AddGauge("agentring_reader_lag_seconds",
                                "How far the reader is behind the writers, in seconds.", {}, &e),
                     e);
  passes_ = Must(r.AddCounter("agentring_reader_passes_total",
                              "Drain passes over every lane.", {}, &e), e);
  records_read_ = Must(r.AddCounter("agentring_records_read_total",
                                    "Records copied out of the ring and decoded.", {}, &e), e);
  records_rejected_ = Must(r.AddCounter("agentring_records_rejected_total",
                                        "Records the reader rejected as malformed, by reason.",
                                        {"reason"}, &e), e);
  spans_incomplete_ = Must(r.AddCounter("agentring_spans_incomplete_total",
                                        "Spans the reader closed itself (writer exited or "
                                        "shutdown) before their end was recorded.",
                                        {}, &e), e);
  spans_tail_sampled_out_ = Must(r.AddCounter("agentring_spans_tail_sampled_out_total",
                                              "Spans dropped by the reader's tail sampling.", {},
                                              &e), e);
  traces_exported_ = Must(r.AddCounter("agentring_traces_exported_total",
                                       "Traces and late trace parts handed to the exporters.", {},
                                       &e), e);
  writer_records_dropped_ = Must(r.AddCounter("agentring_writer_records_dropped_total",
                                              "Records writers could not write, by reason.",
                                              {"reason"}, &e), e);
  writer_span_starts_dropped_ = Must(r.AddCounter("agentring_writer_span_starts_dropped_total",
                                                  "Span starts writers could not write (the "
                                                  "whole span is lost), by reason.",
                                                  {"reason"}, &e), e);
  spans_head_sampled_out_ = Must(r.AddCounter("agentring_spans_head_sampled_out_total",
                                              "Spans writers did not record because head "
                                              "sampling decided against their trace.",
                                              {}, &e), e);
  writer_strings_dropped_ = Must(r.AddCounter("agentring_writer_strings_dropped_total",
                                              "Strings writers could not intern (string table "
                                              "full).",
                                              {}, &e), e);
  exporter_spans_exported_ = Must(r.AddCounter("agentring_exporter_spans_exported_total",
                                               "Spans delivered, by exporter.", {"exporter"}, &e),
                                  e);
  exporter_queue_spans_ = Must(r.AddGauge("agentring_exporter_queue_spans",
                                          "Spans waiting in an exporter's queue.", {"exporter"},
                                          &e), e);
  exporter_failures_ = Must(r.AddCounter("agentring_exporter_failures_total",
                                         "Export attempts that failed, by exporter.",
                                         {"exporter"}, &e), e);
  exporter_spans_dropped_ = Must(r.AddCounter("agentring_exporter_spans_dropped_total",
                                              "Spans an exporter lost, by exporter and reason.",
                                              {"exporter", "reason"}, &e), e);
  exporter_events_ = Must(r.AddCounter("agentring_exporter_events_total",
                                       "Exporter-specific counters (retries, ...), by exporter "
                                       "and event.",
                                       {"exporter", "event"}, &e), e);
  label_values_folded_ = Must(r.AddCounter("agentring_metrics_label_values_folded_total",
                                           "Samples whose label value was replaced by \"other\" "
                                           "because its label had reached its cap of distinct "
                                           "values.",
                                           {}, &e), e);

  // Label sets known in advance exist from the start, at 0, so rate() works from the first error.
  MetricsRegistry::Batch b = r.Update();
  for (int k = 0; k < kKindCount; ++k) b.Touch(errors_, {KindString(static_cast<uint8_t>(k))});
  for (size_t i = 0; i < static_cast<size_t>(RejectReason::kCount); ++i)
    b.Touch(records_rejected_, {RejectReasonName(static_cast<RejectReason>(i))});
  for (const char* reason : {"full", "too_big", "overwritten"})
    b.Touch(writer_records_dropped_, {reason});
  for (const char* reason : {"full", "too_big", "no_lane", "no_segment", "overwritten"})
    b.Touch(writer_span_starts_dropped_, {reason});
}

void ReaderMetrics::ObserveTrace(const TraceBatch& batch) {
  // Model calls with tokens that have another such call below them are wrappers (their tokens
  // repeat the inner call's). Found only when a batch holds more than one call with tokens.
  std::vector<const SpanData*> token_calls;
  for (const auto& sp : batch.spans)
    if (IsModelCall(*sp) && HasTokens(*sp)) token_calls.push_back(sp.get());
  std::unordered_set<uint64_t> wrappers;  // span ids
  if (token_calls.size() > 1) {
    std::unordered_map<uint64_t, const SpanData*> by_id;
    by_id.reserve(batch.spans.size());
    for (const auto& sp : batch.spans) by_id.emplace(sp->span_id, sp.get());
    std::unordered_set<uint64_t> is_token_call;
    for (const SpanData* s : token_calls) is_token_call.insert(s->span_id);
    for (const SpanData* s : token_calls) {
      // Walk up; bounded by the batch size so that a parent cycle cannot loop.
      uint64_t parent = s->parent_span_id;
      for (size_t steps = 0; parent != 0 && steps < batch.spans.size(); ++steps) {
        auto it = by_id.find(parent);
        if (it == by_id.end()) break;
        if (is_token_call.count(parent)) wrappers.insert(parent);
        parent = it->second->parent_span_id;
      }
    }
  }

  MetricsRegistry::Batch b = registry_.Update();
  uint64_t folded_before = tools_.folded() + models_.folded() + providers_.folded() +
                           operations_.folded() + error_types_.folded();
  for (const auto& sp : batch.spans) {
    const SpanData& s = *sp;
    const bool failed = s.status == SpanStatus::kError;
    const bool has_end = s.end_unix_ns != 0;
    const double seconds = static_cast<double>(s.duration_ns()) / kNsPerSecond;
    if (failed) b.Add(errors_, {KindString(s.kind)}, 1);
    switch (static_cast<Kind>(s.kind)) {
      case Kind::kTurn:
        b.Add(turns_, {}, 1);
        if (has_end) b.Observe(turn_latency_, {}, seconds);
        break;
      case Kind::kTool: {
        bool ok = !failed && StringAttr(s, {"tool.status"}) != "error";
        b.Add(tool_calls_, {tools_.Map(StringAttr(s, {"tool.name", "gen_ai.tool.name"})),
                            ok ? "true" : "false"},
              1);
        break;
      }
      default:
        break;
    }
    if (!IsModelCall(s)) continue;
    std::string_view op = operations_.Map(StringAttr(s, {"gen_ai.operation.name"}));
    std::string_view provider =
        providers_.Map(StringAttr(s, {"gen_ai.provider.name", "gen_ai.system"}));
    std::string_view model = models_.Map(
        StringAttr(s, {"gen_ai.request.model", "gen_ai.response.model", "llm.model"}));
    if (has_end) {
      std::string_view error_type;
      if (failed) {
        error_type = StringAttr(s, {"error.type"});
        // The semantic conventions' fallback when the instrumentation knows no type.
        error_type = error_type.empty() ? "_OTHER" : error_types_.Map(error_type);
      }
      b.Observe(operation_duration_, {op, provider, model, error_type}, seconds);
    }
    if (wrappers.count(s.span_id)) continue;
    int64_t tokens;
    if (InputTokens(s, &tokens))
      b.Observe(token_usage_, {op, provider, model, "input"}, static_cast<double>(tokens));
    if (OutputTokens(s, &tokens))
      b.Observe(token_usage_, {op, provider, model, "output"}, static_cast<double>(tokens));
  }
  uint64_t folded_after = tools_.folded() + models_.folded() + providers_.folded() +
                          operations_.folded() + error_types_.folded();
  if (folded_after != folded_before)
    b.Add(label_values_folded_, {}, static_cast<double>(folded_after - folded_before));
}

void ReaderMetrics::SetHealth(const ReaderHealth& h) {
  // The fullest lanes first, at most kMaxLaneSeries of them; then by lane index for the output.
  std::vector<ReaderHealth::LaneFill> fills = h.lane_fill;
  double max_fill = 0;
  for (const auto& f : fills) max_fill = std::max(max_fill, f.fill_ratio);
  if (fills.size() > kMaxLaneSeries) {
    std::partial_sort(fills.begin(), fills.begin() + kMaxLaneSeries, fills.end(),
                      [](const auto& a, const auto& b) { return a.fill_ratio > b.fill_ratio; });
    fills.resize(kMaxLaneSeries);
  }
  auto d = [](uint64_t v) { return static_cast<double>(v); };

  MetricsRegistry::Batch b = registry_.Update();
  b.Set(lanes_, {}, h.lanes_total);
  b.Set(lanes_in_use_, {}, h.lanes_in_use);
  b.Clear(lane_fill_);
  for (const auto& f : fills) b.Set(lane_fill_, {std::to_string(f.lane)}, f.fill_ratio);
  b.Set(lane_fill_max_, {}, max_fill);
  b.Set(reader_lag_, {}, h.reader_lag_seconds);
  b.Set(passes_, {}, d(h.passes));
  b.Set(records_read_, {}, d(h.records_read));
  for (size_t i = 0; i < h.records_rejected_by_reason.size(); ++i)
    b.Set(records_rejected_, {RejectReasonName(static_cast<RejectReason>(i))},
          d(h.records_rejected_by_reason[i]));
  b.Set(spans_incomplete_, {}, d(h.spans_incomplete));
  b.Set(spans_tail_sampled_out_, {}, d(h.spans_sampled_out));
  b.Set(traces_exported_, {}, d(h.traces_exported));
  b.Set(writer_records_dropped_, {"full"}, d(h.writer_records_dropped_full));
  b.Set(writer_records_dropped_, {"too_big"}, d(h.writer_records_dropped_too_big));
  b.Set(writer_records_dropped_, {"overwritten"}, d(h.writer_records_overwritten));
  b.Set(writer_span_starts_dropped_, {"full"}, d(h.writer_span_starts_dropped_full));
  b.Set(writer_span_starts_dropped_, {"too_big"}, d(h.writer_span_starts_dropped_too_big));
  b.Set(writer_span_starts_dropped_, {"no_lane"}, d(h.writer_span_starts_dropped_no_lane));
  b.Set(writer_span_starts_dropped_, {"no_segment"}, d(h.writer_span_starts_dropped_no_segment));
  b.Set(writer_span_starts_dropped_, {"overwritten"}, d(h.writer_span_starts_overwritten));
  b.Set(spans_head_sampled_out_, {}, d(h.writer_spans_head_sampled_out));
  b.Set(writer_strings_dropped_, {}, d(h.writer_strings_dropped));
  uint64_t folded_before = exporter_values_.folded();
  for (const ReaderHealth::Exporter& x : h.exporters) {
    std::string_view name = exporter_values_.Map(x.name);
    b.Set(exporter_spans_exported_, {name}, d(x.spans_exported));
    b.Set(exporter_queue_spans_, {name}, d(x.queue_spans));
    b.Set(exporter_failures_, {name}, d(x.export_failures));
    for (const auto& [reason, n] : x.spans_dropped_by_reason)
      b.Set(exporter_spans_dropped_, {name, exporter_values_.Map(reason)}, d(n));
    for (const auto& [event, n] : x.events)
      b.Set(exporter_events_, {name, exporter_values_.Map(event)}, d(n));
  }
  if (exporter_values_.folded() != folded_before)
    b.Add(label_values_folded_, {}, d(exporter_values_.folded() - folded_before));
}

std::string ReaderMetrics::Render() const { return registry_.Render(); }

}  // namespace agentring::reader
