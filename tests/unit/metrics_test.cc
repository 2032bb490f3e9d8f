// Tests for reader/metrics/: the registry's exposition text (exact), its naming rules and bounds,
// ReaderMetrics fed with synthetic traces and health snapshots (exact values), every family
// present before its first sample, label caps, concurrent update and render, and the rendered
// text through a line-by-line format check and `promtool check metrics`.
#include "reader/metrics/reader_metrics.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agentring/agentring.hpp"
#include "reader/drain/segment_reader.h"
#include "reader/metrics/registry.h"
#include "unit/exposition_check.h"

namespace agentring::reader {
namespace {

using metrics::Family;
using metrics::MetricsRegistry;
using testing::CheckExposition;
using testing::ParsedExposition;
using Labels = std::map<std::string, std::string>;

constexpr TraceId kTrace{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
constexpr uint64_t kMs = 1'000'000ull;
constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;

std::unique_ptr<SpanData> MakeSpan(uint64_t id, uint64_t parent, Kind kind, uint64_t start_ms,
                                   uint64_t dur_ms, std::vector<Attribute> attrs = {},
                                   SpanStatus status = SpanStatus::kUnset) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = kTrace;
  s->span_id = id;
  s->parent_span_id = parent;
  s->name = "span" + std::to_string(id);
  s->kind = static_cast<uint8_t>(kind);
  s->start_unix_ns = kT0 + start_ms * kMs;
  s->end_unix_ns = s->start_unix_ns + dur_ms * kMs;
  s->ended = true;
  s->status = status;
  s->attributes = std::move(attrs);
  return s;
}

std::vector<Attribute> Chat(const char* provider, const char* model) {
  return {{"gen_ai.operation.name", std::string("chat")},
          {"gen_ai.provider.name", std::string(provider)},
          {"gen_ai.request.model", std::string(model)}};
}

std::vector<Attribute> With(std::vector<Attribute> a, std::vector<Attribute> more) {
  for (Attribute& m : more) a.push_back(std::move(m));
  return a;
}

std::vector<Attribute> Usage(int64_t in, int64_t out) {
  return {{"gen_ai.usage.input_tokens", in}, {"gen_ai.usage.output_tokens", out}};
}

std::vector<Attribute> Tool(const char* name, const char* status) {
  return {{"tool.name", std::string(name)}, {"tool.status", std::string(status)}};
}

ParsedExposition ParseClean(const std::string& text) {
  ParsedExposition p = CheckExposition(text);
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  return p;
}

// Every family ReaderMetrics promises, with its type.
const std::vector<std::pair<std::string, std::string>> kFamilies = {
    {"agent_turns_total", "counter"},
    {"agent_turn_latency_seconds", "histogram"},
    {"agent_errors_total", "counter"},
    {"agent_tool_calls_total", "counter"},
    {"gen_ai_client_token_usage", "histogram"},
    {"gen_ai_client_operation_duration_seconds", "histogram"},
    {"agentring_lanes", "gauge"},
    {"agentring_lanes_in_use", "gauge"},
    {"agentring_lane_fill_ratio", "gauge"},
    {"agentring_lane_fill_ratio_max", "gauge"},
    {"agentring_reader_lag_seconds", "gauge"},
    {"agentring_reader_passes_total", "counter"},
    {"agentring_records_read_total", "counter"},
    {"agentring_records_rejected_total", "counter"},
    {"agentring_spans_incomplete_total", "counter"},
    {"agentring_spans_tail_sampled_out_total", "counter"},
    {"agentring_traces_exported_total", "counter"},
    {"agentring_writer_records_dropped_total", "counter"},
    {"agentring_writer_span_starts_dropped_total", "counter"},
    {"agentring_spans_head_sampled_out_total", "counter"},
    {"agentring_writer_strings_dropped_total", "counter"},
    {"agentring_exporter_spans_exported_total", "counter"},
    {"agentring_exporter_queue_spans", "gauge"},
    {"agentring_exporter_failures_total", "counter"},
    {"agentring_exporter_spans_dropped_total", "counter"},
    {"agentring_exporter_events_total", "counter"},
    {"agentring_metrics_label_values_folded_total", "counter"},
};

// A trace exercising every RED and GenAI rule (times in ms):
//   1 run            0..10000
//   2  turn          0..2500
//   3   llm          openai gpt-4o, 1000 in / 50 out, 1.2 s
//   4   tool         read_file ok
//   5   tool         bash, tool.status=error (status unset): a failed call, not an error span
//   6  turn          0.3 s, status error
//   7   llm          anthropic claude-x, error.type RateLimitError, 0.05 s, no usage
//   8   tool         read_file, tool.status=error and status error
//   9  embedding     openai text-embedding-3-small, 12 in, 0.02 s
//  10  llm (wrapper) openai gpt-4o, 300/20, 2 s   — its tokens repeat 11's
//  11   llm          openai gpt-4o, 300/20, 1.8 s
//  12  llm           openai gpt-4o, status error without error.type, 0.1 s
TraceBatch AgentTrace() {
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(MakeSpan(1, 0, Kind::kRun, 0, 10000));
  b.spans.push_back(MakeSpan(2, 1, Kind::kTurn, 0, 2500));
  b.spans.push_back(
      MakeSpan(3, 2, Kind::kLlm, 100, 1200, With(Chat("openai", "gpt-4o"), Usage(1000, 50))));
  b.spans.push_back(MakeSpan(4, 2, Kind::kTool, 1300, 100, Tool("read_file", "ok")));
  b.spans.push_back(MakeSpan(5, 2, Kind::kTool, 1400, 100, Tool("bash", "error")));
  b.spans.push_back(MakeSpan(6, 1, Kind::kTurn, 2500, 300, {}, SpanStatus::kError));
  b.spans.push_back(MakeSpan(7, 6, Kind::kLlm, 2500, 50,
                             With(Chat("anthropic", "claude-x"),
                                  {{"error.type", std::string("RateLimitError")}}),
                             SpanStatus::kError));
  b.spans.push_back(
      MakeSpan(8, 6, Kind::kTool, 2550, 50, Tool("read_file", "error"), SpanStatus::kError));
  b.spans.push_back(MakeSpan(9, 1, Kind::kEmbedding, 3000, 20,
                             {{"gen_ai.operation.name", std::string("embeddings")},
                              {"gen_ai.provider.name", std::string("openai")},
                              {"gen_ai.request.model", std::string("text-embedding-3-small")},
                              {"gen_ai.usage.input_tokens", int64_t{12}}}));
  b.spans.push_back(
      MakeSpan(10, 1, Kind::kLlm, 4000, 2000, With(Chat("openai", "gpt-4o"), Usage(300, 20))));
  b.spans.push_back(
      MakeSpan(11, 10, Kind::kLlm, 4100, 1800, With(Chat("openai", "gpt-4o"), Usage(300, 20))));
  b.spans.push_back(
      MakeSpan(12, 1, Kind::kLlm, 6000, 100, Chat("openai", "gpt-4o"), SpanStatus::kError));
  return b;
}

// ---- the test-side checks themselves: each must reject what it is there to catch ----

TEST(ExpositionCheck, RejectsBrokenTexts) {
  const std::vector<std::pair<std::string, std::string>> broken = {
      {"no HELP", "# TYPE a gauge\na 1\n"},
      {"no TYPE", "# HELP a A.\na 1\n"},
      {"sample before HELP", "a 1\n# HELP a A.\n# TYPE a gauge\n"},
      {"counter without _total", "# HELP a A.\n# TYPE a counter\na 1\n"},
      {"gauge with _total", "# HELP a_total A.\n# TYPE a_total gauge\na_total 1\n"},
      {"negative counter", "# HELP a_total A.\n# TYPE a_total counter\na_total -1\n"},
      {"bad label name", "# HELP a A.\n# TYPE a gauge\na{0x=\"1\"} 1\n"},
      {"bad escape", "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n"},
      {"unquoted value", "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n"},
      {"bad value", "# HELP a A.\n# TYPE a gauge\na one\n"},
      {"foreign sample", "# HELP a A.\n# TYPE a gauge\nb 1\n"},
      {"family split", "# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\n"
                       "# HELP a A.\n"},
      {"not cumulative", "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                         "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
      {"no +Inf", "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"},
      {"+Inf != count", "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"
                        "h_count 2\n"},
      {"no final line feed", "# HELP a A.\n# TYPE a gauge\na 1"},
  };
  for (const auto& [what, text] : broken)
    EXPECT_FALSE(CheckExposition(text).errors.empty()) << what;
  EXPECT_TRUE(CheckExposition("# HELP a A.\n# TYPE a gauge\na{x=\"\\\"\"} NaN\n").errors.empty());
}

TEST(ExpositionCheck, PromtoolRejectsALintProblem) {
  auto result = testing::PromtoolCheck("# HELP bar B.\n# TYPE bar counter\nbar 1\n");
  if (!result) {
    fputs(testing::kPromtoolMissing, stderr);
    GTEST_SKIP() << testing::kPromtoolMissing;
  }
  EXPECT_NE(result->first, 0);
  EXPECT_NE(result->second.find("_total"), std::string::npos) << result->second;
}

// ---- registry ----

TEST(MetricsRegistry, RendersTheExpositionFormatExactly) {
  MetricsRegistry r;
  std::string e;
  Family* c = r.AddCounter("demo_requests_total", "Requests.\nSecond line \\ backslash", {}, &e);
  Family* l = r.AddCounter("demo_calls_total", "Calls.", {"tool", "ok"}, &e);
  Family* g = r.AddGauge("demo_temperature_celsius", "Temperature.", {}, &e);
  Family* h = r.AddHistogram("demo_latency_seconds", "Latency.", {"op"}, {0.5, 1}, &e);
  Family* empty = r.AddGauge("demo_empty", "Never set.", {"x"}, &e);
  ASSERT_TRUE(c && l && g && h && empty) << e;
  {
    MetricsRegistry::Batch b = r.Update();
    b.Add(c, {}, 2);
    b.Add(l, {"b", "true"}, 1);
    b.Add(l, {"a\"q\\\n", "false"}, 3);
    b.Set(g, {}, -1.5);
    b.Observe(h, {"x"}, 0.25);
    b.Observe(h, {"x"}, 0.5);  // le is inclusive: counted in le="0.5"
    b.Observe(h, {"x"}, 5);
  }
  EXPECT_EQ(r.Render(),
            "# HELP demo_requests_total Requests.\\nSecond line \\\\ backslash\n"
            "# TYPE demo_requests_total counter\n"
            "demo_requests_total 2\n"
            "# HELP demo_calls_total Calls.\n"
            "# TYPE demo_calls_total counter\n"
            "demo_calls_total{tool=\"a\\\"q\\\\\\n\",ok=\"false\"} 3\n"
            "demo_calls_total{tool=\"b\",ok=\"true\"} 1\n"
            "# HELP demo_temperature_celsius Temperature.\n"
            "# TYPE demo_temperature_celsius gauge\n"
            "demo_temperature_celsius -1.5\n"
            "# HELP demo_latency_seconds Latency.\n"
            "# TYPE demo_latency_seconds histogram\n"
            "demo_latency_seconds_bucket{op=\"x\",le=\"0.5\"} 2\n"
            "demo_latency_seconds_bucket{op=\"x\",le=\"1\"} 2\n"
            "demo_latency_seconds_bucket{op=\"x\",le=\"+Inf\"} 3\n"
            "demo_latency_seconds_sum{op=\"x\"} 5.75\n"
            "demo_latency_seconds_count{op=\"x\"} 3\n"
            "# HELP demo_empty Never set.\n"
            "# TYPE demo_empty gauge\n");
  ParsedExposition p = ParseClean(r.Render());
  EXPECT_EQ(p.Value("demo_calls_total", {{"tool", "a\"q\\\n"}, {"ok", "false"}}), 3);
}

TEST(MetricsRegistry, FamiliesWithoutLabelsStartAtZero) {
  MetricsRegistry r;
  std::string e;
  ASSERT_TRUE(r.AddCounter("x_total", "X.", {}, &e));
  ASSERT_TRUE(r.AddHistogram("y_seconds", "Y.", {}, {1, 2}, &e));
  EXPECT_EQ(r.Render(),
            "# HELP x_total X.\n# TYPE x_total counter\nx_total 0\n"
            "# HELP y_seconds Y.\n# TYPE y_seconds histogram\n"
            "y_seconds_bucket{le=\"1\"} 0\ny_seconds_bucket{le=\"2\"} 0\n"
            "y_seconds_bucket{le=\"+Inf\"} 0\ny_seconds_sum 0\ny_seconds_count 0\n");
}

TEST(MetricsRegistry, RejectsNamesThatBreakTheConventions) {
  MetricsRegistry r;
  std::string e;
  EXPECT_EQ(r.AddCounter("requests", "no _total", {}, &e), nullptr);
  EXPECT_EQ(e, "metric requests: a counter's name must end in _total");
  EXPECT_EQ(r.AddGauge("queue_total", "gauge with _total", {}, &e), nullptr);
  EXPECT_EQ(e, "metric queue_total: only counters end in _total");
  EXPECT_EQ(r.AddGauge("9lives", "bad start", {}, &e), nullptr);
  EXPECT_EQ(r.AddGauge("has-dash", "bad char", {}, &e), nullptr);
  EXPECT_EQ(r.AddGauge("ok_gauge", "reserved label", {"__name"}, &e), nullptr);
  EXPECT_EQ(e, "metric ok_gauge: label '__name' is not a valid label name");
  EXPECT_EQ(r.AddGauge("ok_gauge", "colon in label", {"a:b"}, &e), nullptr);
  EXPECT_EQ(r.AddGauge("ok_gauge", "repeated label", {"a", "a"}, &e), nullptr);
  EXPECT_EQ(r.AddHistogram("h_seconds", "le label", {"le"}, {1}, &e), nullptr);
  EXPECT_EQ(e, "metric h_seconds: a histogram cannot have a label 'le'");
  EXPECT_EQ(r.AddHistogram("h_seconds", "no bounds", {}, {}, &e), nullptr);
  EXPECT_EQ(r.AddHistogram("h_seconds", "unsorted", {}, {1, 1}, &e), nullptr);
  EXPECT_EQ(e, "metric h_seconds: bucket bounds must be strictly increasing");
  EXPECT_EQ(r.AddHistogram("h_seconds", "inf", {}, {1, INFINITY}, &e), nullptr);
  ASSERT_NE(r.AddHistogram("h_seconds", "fine", {}, {1}, &e), nullptr);
  EXPECT_EQ(r.AddGauge("h_seconds_count", "clashes with the histogram", {}, &e), nullptr);
  EXPECT_EQ(e, "metric h_seconds_count: name already registered");
  EXPECT_EQ(r.AddGauge("h_seconds", "taken", {}, &e), nullptr);
  ASSERT_NE(r.AddGauge("ns:colon_ok", "colons are valid in metric names", {}, &e), nullptr);
}

TEST(MetricsRegistry, BadSamplesAreDroppedAndCounted) {
  MetricsRegistry r;
  std::string e;
  Family* c = r.AddCounter("c_total", "C.", {"a"}, &e);
  Family* h = r.AddHistogram("h_seconds", "H.", {}, {1}, &e);
  {
    MetricsRegistry::Batch b = r.Update();
    b.Add(c, {"x", "y"}, 1);       // wrong label count
    b.Add(c, {"x"}, -1);           // a counter never decreases
    b.Add(c, {"x"}, std::nan(""));
    b.Observe(h, {}, std::nan(""));
    b.Observe(c, {"x"}, 1);        // not a histogram
    b.Set(h, {}, 1);               // a histogram cannot be set
  }
  EXPECT_EQ(r.bad_samples(), 6u);
  ParsedExposition p = ParseClean(r.Render());
  EXPECT_EQ(p.Count("c_total"), 0u);
  EXPECT_EQ(p.Value("h_seconds_count"), 0);
}

TEST(MetricsRegistry, AFullFamilyFoldsNewSeriesIntoOther) {
  MetricsRegistry r;
  std::string e;
  Family* c = r.AddCounter("c_total", "C.", {"a", "b"}, &e, /*max_series=*/2);
  {
    MetricsRegistry::Batch b = r.Update();
    b.Add(c, {"1", "x"}, 1);
    b.Add(c, {"2", "x"}, 1);
    b.Add(c, {"3", "x"}, 5);
    b.Add(c, {"4", "y"}, 7);
    b.Add(c, {"1", "x"}, 1);  // existing series still update
  }
  ParsedExposition p = ParseClean(r.Render());
  EXPECT_EQ(p.Count("c_total"), 3u);
  EXPECT_EQ(p.Value("c_total", {{"a", "1"}, {"b", "x"}}), 2);
  EXPECT_EQ(p.Value("c_total", {{"a", "other"}, {"b", "other"}}), 12);
  EXPECT_EQ(r.folded_samples(), 2u);
}

TEST(MetricsRegistry, FormatsValuesAndEscapesLabels) {
  using metrics::EscapeLabelValue;
  using metrics::FormatValue;
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-0.0), "0");
  EXPECT_EQ(FormatValue(67108864), "67108864");
  EXPECT_EQ(FormatValue(12345678901234), "12345678901234");
  EXPECT_EQ(FormatValue(0.01), "0.01");
  EXPECT_EQ(FormatValue(81.92), "81.92");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeLabelValue("caf\xC3\xA9"), "caf\xC3\xA9");           // valid UTF-8 kept
  EXPECT_EQ(EscapeLabelValue("bad\xFFz"), "bad\xEF\xBF\xBDz");          // invalid byte -> U+FFFD
  EXPECT_EQ(EscapeLabelValue("cut\xE2\x82"), "cut\xEF\xBF\xBD");        // truncated sequence
  EXPECT_TRUE(metrics::IsValidMetricName("a:b_c1"));
  EXPECT_FALSE(metrics::IsValidMetricName(""));
  EXPECT_TRUE(metrics::IsValidLabelName("_x"));
  EXPECT_FALSE(metrics::IsValidLabelName("__x"));
}

TEST(MetricsRegistry, LabelValueCapKeepsTheFirstValuesAndCutsLongOnes) {
  metrics::LabelValueCap cap(2, /*max_value_bytes=*/4);
  EXPECT_EQ(cap.Map("a"), "a");
  EXPECT_EQ(cap.Map("b"), "b");
  EXPECT_EQ(cap.Map("a"), "a");
  EXPECT_EQ(cap.Map("c"), "other");
  EXPECT_EQ(cap.folded(), 1u);
  metrics::LabelValueCap cut(10, 4);
  EXPECT_EQ(cut.Map("abcdef"), "abcd");
  EXPECT_EQ(cut.Map("ab\xC3\xA9xyz"), "ab\xC3\xA9");  // é fits in 4 bytes
  EXPECT_EQ(cut.Map("abc\xC3\xA9"), "abc");          // é would straddle the cut: left out
}

// ---- ReaderMetrics ----

TEST(ReaderMetrics, EveryFamilyIsExposedBeforeItsFirstSample) {
  ReaderMetrics m;
  std::string text = m.Render();
  ParsedExposition p = ParseClean(text);
  ASSERT_EQ(p.order.size(), kFamilies.size()) << text;
  for (size_t i = 0; i < kFamilies.size(); ++i) {
    EXPECT_EQ(p.order[i], kFamilies[i].first);
    EXPECT_EQ(p.families[kFamilies[i].first].type, kFamilies[i].second) << kFamilies[i].first;
  }
  // Label-less families at 0; known label sets at 0; open-ended ones empty.
  EXPECT_EQ(p.Value("agent_turns_total"), 0);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_count"), 0);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_bucket", {{"le", "+Inf"}}), 0);
  EXPECT_EQ(p.Count("agent_errors_total"), static_cast<size_t>(kKindCount));
  EXPECT_EQ(p.Value("agent_errors_total", {{"kind", "vector_search"}}), 0);
  EXPECT_EQ(p.Value("agentring_records_rejected_total", {{"reason", "bad_string"}}), 0);
  EXPECT_EQ(p.Count("agentring_writer_span_starts_dropped_total"), 5u);
  EXPECT_EQ(p.Count("agentring_writer_records_dropped_total"), 3u);
  EXPECT_EQ(p.families["agent_tool_calls_total"].samples.size(), 0u);
  EXPECT_EQ(p.families["gen_ai_client_token_usage"].samples.size(), 0u);
  EXPECT_EQ(p.families["agentring_exporter_queue_spans"].samples.size(), 0u);
  EXPECT_NE(text.find("# HELP gen_ai_client_token_usage "), std::string::npos);
  EXPECT_NE(text.find("# TYPE gen_ai_client_token_usage histogram\n"), std::string::npos);
}

TEST(ReaderMetrics, TracesGiveExactRedAndGenAiMetrics) {
  ReaderMetrics m;
  m.ObserveTrace(AgentTrace());
  TraceBatch late;  // a late part: one more turn
  late.trace_id = kTrace;
  late.late = true;
  late.spans.push_back(MakeSpan(13, 1, Kind::kTurn, 7000, 1000));
  m.ObserveTrace(late);
  ParsedExposition p = ParseClean(m.Render());

  // Turns: 2.5 s, 0.3 s and (late) 1 s.
  EXPECT_EQ(p.Value("agent_turns_total"), 3);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_count"), 3);
  EXPECT_DOUBLE_EQ(*p.Value("agent_turn_latency_seconds_sum"), 3.8);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_bucket", {{"le", "0.16"}}), 0);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_bucket", {{"le", "0.32"}}), 1);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_bucket", {{"le", "1.28"}}), 2);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_bucket", {{"le", "2.56"}}), 3);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_bucket", {{"le", "1310.72"}}), 3);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_bucket", {{"le", "+Inf"}}), 3);

  // Errors by kind: turn 6; llm 7 and 12; tool 8 (5 failed by tool.status only: not an error).
  EXPECT_EQ(p.Value("agent_errors_total", {{"kind", "turn"}}), 1);
  EXPECT_EQ(p.Value("agent_errors_total", {{"kind", "llm"}}), 2);
  EXPECT_EQ(p.Value("agent_errors_total", {{"kind", "tool"}}), 1);
  EXPECT_EQ(p.Value("agent_errors_total", {{"kind", "run"}}), 0);

  // Tool calls by name and outcome.
  EXPECT_EQ(p.Count("agent_tool_calls_total"), 3u);
  EXPECT_EQ(p.Value("agent_tool_calls_total", {{"tool", "read_file"}, {"ok", "true"}}), 1);
  EXPECT_EQ(p.Value("agent_tool_calls_total", {{"tool", "read_file"}, {"ok", "false"}}), 1);
  EXPECT_EQ(p.Value("agent_tool_calls_total", {{"tool", "bash"}, {"ok", "false"}}), 1);

  // Tokens: 3 and 11 (10 wraps 11: its tokens are not observed again), and the embedding.
  Labels gpt_in = {{"gen_ai_operation_name", "chat"},
                   {"gen_ai_provider_name", "openai"},
                   {"gen_ai_request_model", "gpt-4o"},
                   {"gen_ai_token_type", "input"}};
  Labels gpt_out = gpt_in;
  gpt_out["gen_ai_token_type"] = "output";
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_count", gpt_in), 2);
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_sum", gpt_in), 1300);
  Labels le = gpt_in;
  le["le"] = "256";
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_bucket", le), 0);
  le["le"] = "1024";
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_bucket", le), 2);
  le["le"] = "67108864";
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_bucket", le), 2);
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_count", gpt_out), 2);
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_sum", gpt_out), 70);
  le = gpt_out;
  le["le"] = "16";
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_bucket", le), 0);
  le["le"] = "64";
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_bucket", le), 2);
  Labels emb_in = {{"gen_ai_operation_name", "embeddings"},
                   {"gen_ai_provider_name", "openai"},
                   {"gen_ai_request_model", "text-embedding-3-small"},
                   {"gen_ai_token_type", "input"}};
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_sum", emb_in), 12);
  Labels emb_out = emb_in;
  emb_out["gen_ai_token_type"] = "output";
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_count", emb_out), std::nullopt);
  // Three series: gpt input, gpt output, embedding input (claude-x reported no usage).
  EXPECT_EQ(p.Count("gen_ai_client_token_usage_count"), 3u);

  // Durations: every model call, the failed ones with error_type.
  Labels gpt_ok = {{"gen_ai_operation_name", "chat"},
                   {"gen_ai_provider_name", "openai"},
                   {"gen_ai_request_model", "gpt-4o"},
                   {"error_type", ""}};
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_count", gpt_ok), 3);  // 3, 10, 11
  EXPECT_DOUBLE_EQ(*p.Value("gen_ai_client_operation_duration_seconds_sum", gpt_ok), 5.0);
  le = gpt_ok;
  le["le"] = "1.28";
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_bucket", le), 1);
  le["le"] = "2.56";
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_bucket", le), 3);
  Labels claude = {{"gen_ai_operation_name", "chat"},
                   {"gen_ai_provider_name", "anthropic"},
                   {"gen_ai_request_model", "claude-x"},
                   {"error_type", "RateLimitError"}};
  le = claude;
  le["le"] = "0.04";
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_bucket", le), 0);
  le["le"] = "0.08";
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_bucket", le), 1);
  Labels gpt_failed = gpt_ok;
  gpt_failed["error_type"] = "_OTHER";
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_count", gpt_failed), 1);
  Labels emb = {{"gen_ai_operation_name", "embeddings"},
                {"gen_ai_provider_name", "openai"},
                {"gen_ai_request_model", "text-embedding-3-small"},
                {"error_type", ""},
                {"le", "0.02"}};
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_bucket", emb), 1);  // le inclusive
  EXPECT_EQ(p.Count("gen_ai_client_operation_duration_seconds_count"), 4u);
}

TEST(ReaderMetrics, FallbackAttributesAndCustomSpansThatAreModelCalls) {
  ReaderMetrics m;
  TraceBatch b;
  b.trace_id = kTrace;
  // A custom-kind span that names a model operation, with older / OpenInference attribute names.
  b.spans.push_back(MakeSpan(1, 0, Kind::kCustom, 0, 640,
                             {{"gen_ai.operation.name", std::string("text_completion")},
                              {"gen_ai.system", std::string("ollama")},
                              {"gen_ai.response.model", std::string("llama3")},
                              {"llm.token_count.prompt", int64_t{7}},
                              {"llm.token_count.completion", 3.0}}));
  // Not a model call (another operation on a custom span): no GenAI metrics.
  b.spans.push_back(MakeSpan(2, 1, Kind::kCustom, 0, 10,
                             {{"gen_ai.operation.name", std::string("execute_tool")},
                              {"gen_ai.usage.input_tokens", int64_t{99}}}));
  // Unusable token values are skipped; the tool name falls back to gen_ai.tool.name.
  b.spans.push_back(MakeSpan(3, 1, Kind::kLlm, 0, 10,
                             {{"gen_ai.usage.input_tokens", int64_t{-5}},
                              {"gen_ai.usage.output_tokens", 2.5}}));
  b.spans.push_back(
      MakeSpan(4, 1, Kind::kTool, 0, 10, {{"gen_ai.tool.name", std::string("search")}}));
  m.ObserveTrace(b);
  ParsedExposition p = ParseClean(m.Render());
  Labels base = {{"gen_ai_operation_name", "text_completion"},
                 {"gen_ai_provider_name", "ollama"},
                 {"gen_ai_request_model", "llama3"}};
  Labels in = base, out = base, dur = base;
  in["gen_ai_token_type"] = "input";
  out["gen_ai_token_type"] = "output";
  dur["error_type"] = "";
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_sum", in), 7);
  EXPECT_EQ(p.Value("gen_ai_client_token_usage_sum", out), 3);
  dur["le"] = "0.64";
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_bucket", dur), 1);
  // Span 3: a model call without attributes: a duration with empty labels, no tokens.
  EXPECT_EQ(p.Count("gen_ai_client_token_usage_count"), 2u);
  EXPECT_EQ(p.Count("gen_ai_client_operation_duration_seconds_count"), 2u);
  EXPECT_EQ(p.Value("agent_tool_calls_total", {{"tool", "search"}, {"ok", "true"}}), 1);
}

TEST(ReaderMetrics, DistinctToolAndModelValuesAreCapped) {
  ReaderMetrics::Options o;
  o.max_tools = 2;
  o.max_models = 1;
  ReaderMetrics m(o);
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(MakeSpan(1, 0, Kind::kTool, 0, 1, Tool("a", "ok")));
  b.spans.push_back(MakeSpan(2, 0, Kind::kTool, 0, 1, Tool("b", "ok")));
  b.spans.push_back(MakeSpan(3, 0, Kind::kTool, 0, 1, Tool("c", "ok")));
  b.spans.push_back(MakeSpan(4, 0, Kind::kTool, 0, 1, Tool("d", "ok")));
  b.spans.push_back(MakeSpan(5, 0, Kind::kLlm, 0, 1, Chat("openai", "m1")));
  b.spans.push_back(MakeSpan(6, 0, Kind::kLlm, 0, 1, Chat("openai", "m2")));
  m.ObserveTrace(b);
  ParsedExposition p = ParseClean(m.Render());
  EXPECT_EQ(p.Count("agent_tool_calls_total"), 3u);
  EXPECT_EQ(p.Value("agent_tool_calls_total", {{"tool", "other"}, {"ok", "true"}}), 2);
  Labels other = {{"gen_ai_operation_name", "chat"},
                  {"gen_ai_provider_name", "openai"},
                  {"gen_ai_request_model", "other"},
                  {"error_type", ""}};
  EXPECT_EQ(p.Value("gen_ai_client_operation_duration_seconds_count", other), 1);
  EXPECT_EQ(p.Value("agentring_metrics_label_values_folded_total"), 3);  // c, d, m2
}

TEST(ReaderMetrics, HealthSnapshotsSetExactValues) {
  ReaderMetrics m;
  ReaderHealth h;
  h.lanes_total = 64;
  h.lanes_in_use = 3;
  h.lane_fill = {{5, 0.25}, {9, 0.5}, {2, 0}};
  h.reader_lag_seconds = 0.125;
  h.passes = 1000;
  h.records_read = 123456789;
  h.records_rejected_by_reason[static_cast<size_t>(RejectReason::kBadString)] = 4;
  h.spans_incomplete = 2;
  h.spans_sampled_out = 90;
  h.traces_exported = 10;
  h.writer_records_dropped_full = 11;
  h.writer_span_starts_dropped_no_lane = 3;
  h.writer_span_starts_overwritten = 1;
  h.writer_spans_head_sampled_out = 50;
  h.writer_strings_dropped = 6;
  h.exporters.push_back({"otlp", 1000, 42, 2, {{"queue_full", 5}, {"export_failed", 7}},
                         {{"retries", 3}}});
  h.exporters.push_back({"jsonl", 1010, 0, 0, {}, {}});
  m.SetHealth(h);
  ParsedExposition p = ParseClean(m.Render());
  EXPECT_EQ(p.Value("agentring_lanes"), 64);
  EXPECT_EQ(p.Value("agentring_lanes_in_use"), 3);
  EXPECT_EQ(p.Count("agentring_lane_fill_ratio"), 3u);
  EXPECT_EQ(p.Value("agentring_lane_fill_ratio", {{"lane", "9"}}), 0.5);
  EXPECT_EQ(p.Value("agentring_lane_fill_ratio", {{"lane", "2"}}), 0);
  EXPECT_EQ(p.Value("agentring_lane_fill_ratio_max"), 0.5);
  EXPECT_EQ(p.Value("agentring_reader_lag_seconds"), 0.125);
  EXPECT_EQ(p.Value("agentring_reader_passes_total"), 1000);
  EXPECT_EQ(p.Value("agentring_records_read_total"), 123456789);
  EXPECT_EQ(p.Value("agentring_records_rejected_total", {{"reason", "bad_string"}}), 4);
  EXPECT_EQ(p.Value("agentring_records_rejected_total", {{"reason", "bad_type"}}), 0);
  EXPECT_EQ(p.Value("agentring_spans_incomplete_total"), 2);
  EXPECT_EQ(p.Value("agentring_spans_tail_sampled_out_total"), 90);
  EXPECT_EQ(p.Value("agentring_traces_exported_total"), 10);
  EXPECT_EQ(p.Value("agentring_writer_records_dropped_total", {{"reason", "full"}}), 11);
  EXPECT_EQ(p.Value("agentring_writer_span_starts_dropped_total", {{"reason", "no_lane"}}), 3);
  EXPECT_EQ(p.Value("agentring_writer_span_starts_dropped_total", {{"reason", "overwritten"}}),
            1);
  EXPECT_EQ(p.Value("agentring_spans_head_sampled_out_total"), 50);
  EXPECT_EQ(p.Value("agentring_writer_strings_dropped_total"), 6);
  EXPECT_EQ(p.Value("agentring_exporter_spans_exported_total", {{"exporter", "otlp"}}), 1000);
  EXPECT_EQ(p.Value("agentring_exporter_spans_exported_total", {{"exporter", "jsonl"}}), 1010);
  EXPECT_EQ(p.Value("agentring_exporter_queue_spans", {{"exporter", "otlp"}}), 42);
  EXPECT_EQ(p.Value("agentring_exporter_failures_total", {{"exporter", "otlp"}}), 2);
  EXPECT_EQ(p.Value("agentring_exporter_spans_dropped_total",
                    {{"exporter", "otlp"}, {"reason", "queue_full"}}),
            5);
  EXPECT_EQ(p.Value("agentring_exporter_spans_dropped_total",
                    {{"exporter", "otlp"}, {"reason", "export_failed"}}),
            7);
  EXPECT_EQ(p.Value("agentring_exporter_events_total",
                    {{"exporter", "otlp"}, {"event", "retries"}}),
            3);

  // The next snapshot replaces the last: lanes that left are gone, counters take the new totals.
  h.lane_fill = {{9, 0.75}};
  h.lanes_in_use = 1;
  h.records_read = 123456790;
  m.SetHealth(h);
  p = ParseClean(m.Render());
  EXPECT_EQ(p.Count("agentring_lane_fill_ratio"), 1u);
  EXPECT_EQ(p.Value("agentring_lane_fill_ratio", {{"lane", "9"}}), 0.75);
  EXPECT_EQ(p.Value("agentring_lanes_in_use"), 1);
  EXPECT_EQ(p.Value("agentring_records_read_total"), 123456790);
}

TEST(ReaderMetrics, OnlyTheFullestLanesGetASeries) {
  ReaderMetrics m;
  ReaderHealth h;
  for (uint32_t i = 0; i < 70; ++i) h.lane_fill.push_back({i, i / 100.0});
  m.SetHealth(h);
  ParsedExposition p = ParseClean(m.Render());
  EXPECT_EQ(p.Count("agentring_lane_fill_ratio"), ReaderMetrics::kMaxLaneSeries);
  EXPECT_EQ(p.Value("agentring_lane_fill_ratio", {{"lane", "5"}}), std::nullopt);  // 6 emptiest
  EXPECT_EQ(p.Value("agentring_lane_fill_ratio", {{"lane", "6"}}), 0.06);
  EXPECT_EQ(p.Value("agentring_lane_fill_ratio", {{"lane", "69"}}), 0.69);
  EXPECT_EQ(p.Value("agentring_lane_fill_ratio_max"), 0.69);
}

TEST(ReaderMetrics, FillFromDrainStatsCopiesTheDrainCounters) {
  DrainStats d;
  d.records_read = 10;
  d.rejected_by_reason[static_cast<size_t>(RejectReason::kBadIds)] = 2;
  d.writer_records_dropped_full = 1;
  d.writer_records_dropped_too_big = 2;
  d.writer_span_starts_dropped_full = 3;
  d.writer_span_starts_dropped_too_big = 4;
  d.writer_span_starts_dropped_no_lane = 5;
  d.writer_span_starts_dropped_no_segment = 6;
  d.writer_spans_head_sampled_out = 7;
  d.writer_strings_dropped = 8;
  ReaderHealth h;
  h.passes = 99;  // not from DrainStats: left alone
  FillFromDrainStats(d, &h);
  EXPECT_EQ(h.records_read, 10u);
  EXPECT_EQ(h.records_rejected_by_reason[static_cast<size_t>(RejectReason::kBadIds)], 2u);
  EXPECT_EQ(h.writer_records_dropped_full, 1u);
  EXPECT_EQ(h.writer_records_dropped_too_big, 2u);
  EXPECT_EQ(h.writer_span_starts_dropped_full, 3u);
  EXPECT_EQ(h.writer_span_starts_dropped_too_big, 4u);
  EXPECT_EQ(h.writer_span_starts_dropped_no_lane, 5u);
  EXPECT_EQ(h.writer_span_starts_dropped_no_segment, 6u);
  EXPECT_EQ(h.writer_spans_head_sampled_out, 7u);
  EXPECT_EQ(h.writer_strings_dropped, 8u);
  EXPECT_EQ(h.passes, 99u);
}

// Renders while another thread observes traces: every render is well-formed (a histogram's +Inf
// bucket always equals its _count), and the final counts are exact.
TEST(ReaderMetrics, ConcurrentObserveAndRenderStayConsistent) {
  ReaderMetrics m;
  constexpr int kTraces = 300;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kTraces; ++i) m.ObserveTrace(AgentTrace());
    done = true;
  });
  int renders = 0;
  while (!done.load() || renders == 0) {
    ParsedExposition p = CheckExposition(m.Render());
    ASSERT_TRUE(p.errors.empty()) << p.errors.front();
    ++renders;
  }
  writer.join();
  ParsedExposition p = ParseClean(m.Render());
  EXPECT_EQ(p.Value("agent_turns_total"), 2 * kTraces);
  EXPECT_EQ(p.Value("agent_errors_total", {{"kind", "llm"}}), 2 * kTraces);
}

// `promtool check metrics` (Prometheus's own linter) on a fresh and on a populated exposition.
TEST(ReaderMetrics, PromtoolCheckMetricsIsClean) {
  ReaderMetrics m;
  std::vector<std::string> texts = {m.Render()};
  m.ObserveTrace(AgentTrace());
  ReaderHealth h;
  h.lanes_total = 8;
  h.lane_fill = {{1, 0.5}};
  h.exporters.push_back({"otlp", 1, 2, 3, {{"queue_full", 4}}, {{"retries", 5}}});
  m.SetHealth(h);
  texts.push_back(m.Render());
  for (const std::string& text : texts) {
    auto result = testing::PromtoolCheck(text);
    if (!result) {
      fputs(testing::kPromtoolMissing, stderr);
      GTEST_SKIP() << testing::kPromtoolMissing;
    }
    EXPECT_EQ(result->first, 0) << result->second << "\n--- text ---\n" << text;
    EXPECT_EQ(result->second, "") << text;
  }
}

}  // namespace
}  // namespace agentring::reader
