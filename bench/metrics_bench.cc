// What the Prometheus metrics cost the reader's export thread: ReaderMetrics::ObserveTrace on an
// agent-shaped trace (per span: items_per_second), against a baseline that only walks the same
// spans reading their kind and one attribute; and Render of a populated registry.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "agentring/agentring.hpp"
#include "reader/metrics/reader_metrics.h"

namespace agentring::reader {
namespace {

constexpr uint64_t kMs = 1'000'000ull;

std::unique_ptr<SpanData> MakeSpan(uint64_t id, uint64_t parent, Kind kind, uint64_t dur_ms,
                                   std::vector<Attribute> attrs) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = TraceId{1, 2};
  s->span_id = id;
  s->parent_span_id = parent;
  s->kind = static_cast<uint8_t>(kind);
  s->start_unix_ns = 1'700'000'000'000'000'000ull + id * kMs;
  s->end_unix_ns = s->start_unix_ns + dur_ms * kMs;
  s->ended = true;
  s->attributes = std::move(attrs);
  return s;
}

// A run of `turns` turns, each with one model call (usage), two tool calls and a custom span:
// 1 + 5 * turns spans.
TraceBatch AgentTrace(int turns) {
  TraceBatch b;
  b.trace_id = TraceId{1, 2};
  uint64_t id = 1;
  b.spans.push_back(MakeSpan(id++, 0, Kind::kRun, 60000, {{"agent.name", std::string("coder")}}));
  for (int t = 0; t < turns; ++t) {
    uint64_t turn = id++;
    b.spans.push_back(MakeSpan(turn, 1, Kind::kTurn, 3000, {{"agent.iteration", int64_t{t}}}));
    b.spans.push_back(MakeSpan(id++, turn, Kind::kLlm, 1200,
                               {{"gen_ai.operation.name", std::string("chat")},
                                {"gen_ai.provider.name", std::string("openai")},
                                {"gen_ai.request.model", std::string("gpt-4o")},
                                {"gen_ai.usage.input_tokens", int64_t{2048}},
                                {"gen_ai.usage.output_tokens", int64_t{150}}}));
    b.spans.push_back(MakeSpan(id++, turn, Kind::kTool, 100,
                               {{"tool.name", std::string("read_file")},
                                {"tool.status", std::string("ok")}}));
    b.spans.push_back(MakeSpan(id++, turn, Kind::kTool, 100,
                               {{"tool.name", std::string("bash")},
                                {"tool.status", std::string("ok")}}));
    b.spans.push_back(MakeSpan(id++, turn, Kind::kCustom, 5, {{"k", int64_t{1}}}));
  }
  return b;
}

void BM_ReaderMetrics_Baseline_WalkSpans(benchmark::State& state) {
  TraceBatch b = AgentTrace(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    uint64_t acc = 0;
    for (const auto& s : b.spans) {
      acc += s->kind;
      acc += s->Find("gen_ai.operation.name") != nullptr;
    }
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b.spans.size()));
}
BENCHMARK(BM_ReaderMetrics_Baseline_WalkSpans)->Arg(2)->Arg(20);

void BM_ReaderMetrics_ObserveTrace(benchmark::State& state) {
  TraceBatch b = AgentTrace(static_cast<int>(state.range(0)));
  ReaderMetrics m;
  for (auto _ : state) m.ObserveTrace(b);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b.spans.size()));
}
BENCHMARK(BM_ReaderMetrics_ObserveTrace)->Arg(2)->Arg(20);

void BM_ReaderMetrics_Render(benchmark::State& state) {
  ReaderMetrics m;
  m.ObserveTrace(AgentTrace(20));
  ReaderHealth h;
  h.lanes_total = 64;
  for (uint32_t i = 0; i < 16; ++i) h.lane_fill.push_back({i, i / 64.0});
  h.exporters.push_back({"otlp", 1, 2, 3, {{"queue_full", 4}}, {{"retries", 5}}});
  m.SetHealth(h);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = m.Render();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ReaderMetrics_Render);

}  // namespace
}  // namespace agentring::reader

BENCHMARK_MAIN();
