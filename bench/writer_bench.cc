// Writer and reader benchmarks, with the floor and the naive baseline in the same binary so that
// every figure can be quoted as a ratio against a baseline measured in the same run.
//
//   BM_Floor_SpanRecord         two rdtsc + one 64-byte store into a private ring + release-store
//   BM_Baseline_MutexVector     a mutex-protected std::vector of spans (the naive design)
//   BM_Baseline_EmptyLoop       the benchmark harness with an empty body
//   BM_Writer_RootSpanStartEnd  a root span (sampler + 128-bit trace id) with no attributes
//   BM_Writer_SpanStartEnd      a child span with no attributes (two records)
//   BM_Writer_SpanWith4Attrs    a child tool span: two strings, an int64, a bool (group + end)
//   BM_Writer_Disabled          tracing switched off at run time
//   BM_Writer_UnsampledRoot     a root the head sampler drops
//   BM_Writer_UnsampledChild    a child of an unsampled parent
//   BM_Reader_Drain             copy-out + validate + decode + resolve, records/s
//   BM_Reader_DrainAssemble     the same plus trace assembly (spans/s)
//
// Writer benchmarks run with a reader draining the segment in another thread; every
// kBatchSpans spans the timer pauses until the lane is drained, so no benchmark ever times the
// drop path, and each reports `records_dropped`, which must be 0.
#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "agentring/abi/records.h"
#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "reader/assemble/assembler.h"
#include "bench/drained_segment.h"
#include "reader/drain/segment_reader.h"
#include "reader/export/otlp_proto.h"
#include "reader/pipeline/reader_loop.h"
#include "reader/sample/tail_sampler.h"

namespace {

using namespace agentring_bench;

// ---- floor and baseline ----------------------------------------------------------------------

struct alignas(64) FloorRecord {
  uint64_t words[8];
};

void BM_Floor_SpanRecord(benchmark::State& state) {
  constexpr uint64_t kRing = 1u << 16;  // 4 MiB, pre-faulted below
  std::vector<FloorRecord> ring(kRing);
  memset(ring.data(), 0, ring.size() * sizeof(FloorRecord));
  alignas(64) std::atomic<uint64_t> head{0};
  uint64_t h = 0;
  uint64_t id = 1;
  for (auto _ : state) {
    uint64_t t0 = __rdtsc();
    uint64_t t1 = __rdtsc();
    FloorRecord& r = ring[h & (kRing - 1)];
    r.words[0] = 1;
    r.words[1] = t0;
    r.words[2] = t1;
    r.words[3] = id;
    r.words[4] = id ^ t0;
    r.words[5] = 0;
    r.words[6] = 0;
    r.words[7] = 0;
    ++h;
    ++id;
    head.store(h, std::memory_order_release);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Floor_SpanRecord);

void BM_Baseline_MutexVector(benchmark::State& state) {
  struct NaiveSpan {
    const char* name;
    uint64_t trace_hi, trace_lo, span_id, parent;
    std::chrono::steady_clock::time_point start, end;
  };
  std::mutex mu;
  std::vector<NaiveSpan> spans;
  spans.reserve(1 << 20);
  uint64_t id = 1;
  for (auto _ : state) {
    NaiveSpan s{"bench.span", 1, 2, id++, 0, std::chrono::steady_clock::now(), {}};
    s.end = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (spans.size() == spans.capacity()) spans.clear();
      spans.push_back(s);
    }
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Baseline_MutexVector);

// The harness itself (the drained loop with an empty body): subtract it from the sub-10 ns
// figures below.
void BM_Baseline_EmptyLoop(benchmark::State& state) {
  RunDrained(state, [] { benchmark::ClobberMemory(); });
}
BENCHMARK(BM_Baseline_EmptyLoop);

// ---- writer ----------------------------------------------------------------------------------

// The common case: a span inside a run (a child of the thread's current span).
void BM_Writer_SpanStartEnd(benchmark::State& state) {
  DrainedSegment::Get();
  Span run("bench.run", Kind::kRun);
  RunDrained(state, [] { Span s("bench.span"); });
}
BENCHMARK(BM_Writer_SpanStartEnd);

void BM_Writer_SpanWith4Attrs(benchmark::State& state) {
  DrainedSegment::Get();
  Span run("bench.run", Kind::kRun);
  RunDrained(state, [] {
    Span s("execute_tool", Kind::kTool,
           {{"tool.name", "filesystem"},
            {"tool.target", "/src/main.rs"},
            {"tool.bytes", 4096},
            {"tool.cached", false}});
  });
}
BENCHMARK(BM_Writer_SpanWith4Attrs);

// A root span: the head sampler runs and a 128-bit trace id is drawn.
void BM_Writer_RootSpanStartEnd(benchmark::State& state) {
  RunDrained(state, [] { Span s("bench.root", Kind::kRun); });
}
BENCHMARK(BM_Writer_RootSpanStartEnd);

void BM_Writer_Disabled(benchmark::State& state) {
  DrainedSegment::Get();
  agentring::SetEnabled(false);
  RunDrained(state, [] { Span s("bench.span"); });
  agentring::SetEnabled(true);
}
BENCHMARK(BM_Writer_Disabled);

void BM_Writer_UnsampledRoot(benchmark::State& state) {
  DrainedSegment::Get();
  agentring::SetSampler("parentbased_always_off");
  RunDrained(state, [] { Span s("bench.root", Kind::kRun); });
  agentring::SetSampler("parentbased_always_on");
}
BENCHMARK(BM_Writer_UnsampledRoot);

void BM_Writer_UnsampledChild(benchmark::State& state) {
  DrainedSegment::Get();
  agentring::SetSampler("parentbased_always_off");
  {
    Span root("bench.root", Kind::kRun);
    RunDrained(state, [] { Span s("bench.child"); });
  }
  agentring::SetSampler("parentbased_always_on");
}
BENCHMARK(BM_Writer_UnsampledChild);

// ---- reader ----------------------------------------------------------------------------------

// A segment that nobody drains in the background: the benchmark fills one lane from a writer
// thread (timer paused) and times the reader's pass over it.
struct UndrainedSegment {
  UndrainedSegment() {
    name = SegmentName("drain");
    reader_seg = CreateSegment(name, 2);
  }
  std::string name;
  std::unique_ptr<internal::SegmentMap> reader_seg;
};

// Fills a lane of `segment` with `spans` spans (start + end, 2 records each) from a new process
// so that the benchmark process's own writer stays attached to the drained segment. The process
// is this program started again with --fill-lane (posix_spawn, which does not fork: a fork would
// mark the benchmark's memory copy-on-write and its page faults would land in the timed region).
// Traces are a root with 9 children. Records per span: 2 without attributes, 6 with 4.
void FillLaneChild(const std::string& segment, uint64_t spans, bool with_attrs) {
  agentring::SetSegmentName(segment);
  for (uint64_t i = 0; i < spans; i += 10) {
    Span root("agent.run", Kind::kRun);
    for (int c = 0; c < 9; ++c) {
      if (with_attrs) {
        Span s("execute_tool", Kind::kTool,
               {{"tool.name", "filesystem"}, {"tool.target", "/src/main.rs"},
                {"tool.bytes", 4096}, {"tool.cached", false}});
      } else {
        Span s("bench.span");
      }
    }
  }
  agentring::ReleaseThreadLane();
}

void FillLane(const std::string& segment, uint64_t spans, bool with_attrs) {
  std::string n = std::to_string(spans);
  const char* argv[] = {"writer_bench", "--fill-lane", segment.c_str(), n.c_str(),
                        with_attrs ? "attrs" : "plain", nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    fprintf(stderr, "writer_bench: posix_spawn failed\n");
    abort();
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "writer_bench: the lane filler failed\n");
    abort();
  }
}

void BM_Reader_Drain(benchmark::State& state) {
  DrainedSegment::Get();  // attach this process's writer elsewhere before forking
  UndrainedSegment seg;
  reader::SegmentReader r(std::move(seg.reader_seg));
  r.probe_interval_ns = 0;  // reclaim each filler process at once
  NullSink sink;
  // 200k records without attributes, ~220k with: both fit one 262144-record lane.
  const uint64_t spans = state.range(0) != 0 ? 40000 : 100000;
  uint64_t records = 0;
  for (auto _ : state) {
    state.PauseTiming();
    FillLane(seg.name, spans, state.range(0) != 0);
    state.ResumeTiming();
    records += r.Pass(&sink);
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
  state.counters["records_rejected"] = static_cast<double>(r.Collect().records_rejected);
  internal::SegmentMap::Remove(seg.name);
}
BENCHMARK(BM_Reader_Drain)->Arg(0)->Arg(1)->ArgName("attrs")->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Reader_DrainAssemble(benchmark::State& state) {
  DrainedSegment::Get();
  UndrainedSegment seg;
  reader::SegmentReader r(std::move(seg.reader_seg));
  r.probe_interval_ns = 0;
  uint64_t emitted = 0;
  reader::TraceAssembler a(reader::AssemblerOptions{},
                           [&emitted](reader::TraceBatch&& b) { emitted += b.spans.size(); });
  const uint64_t spans = 40000;
  uint64_t started = 0;
  for (auto _ : state) {
    state.PauseTiming();
    FillLane(seg.name, spans, true);
    state.ResumeTiming();
    r.Pass(&a);
    a.EndPass(r.passes(), internal::NowMonotonicNs());
    r.Pass(&a);  // the pass after the roots' ends completes the traces
    a.EndPass(r.passes(), internal::NowMonotonicNs());
    started += spans;
  }
  state.SetItemsProcessed(static_cast<int64_t>(started));
  state.counters["spans_emitted"] = static_cast<double>(emitted);
  internal::SegmentMap::Remove(seg.name);
}
BENCHMARK(BM_Reader_DrainAssemble)->Unit(benchmark::kMillisecond)->UseRealTime();

// An exporter that encodes each batch as the OTLP exporter's protobuf request and drops it: the
// reader's whole CPU path without a network.
class NullOtlpSink final : public reader::Exporter {
 public:
  std::string_view name() const override { return "otlp-null"; }
  bool Export(const reader::TraceBatch& b) override {
    const reader::TraceBatch* one = &b;
    return ExportBatch({&one, 1}) == 0;
  }
  uint64_t ExportBatch(std::span<const reader::TraceBatch* const> traces) override {
    bytes += enc_.Encode(traces).size();
    return 0;
  }
  uint64_t bytes = 0;

 private:
  reader::OtlpProtoEncoder enc_;
};

// The reader pipeline on one core (the loop's synchronous mode: one thread does everything):
// drain -> assemble -> derive (cost, roll-ups, hotspots) -> tail-sample (three Collector
// policies, every trace evaluated) -> redact -> OTLP protobuf encode into a null sink.
// Spans/s of committed spans. Target (issue 4): >= 1M spans/s.
void BM_Reader_Pipeline(benchmark::State& state) {
  DrainedSegment::Get();
  UndrainedSegment seg;
  reader::ReaderOptions o;
  o.segment = seg.name;
  o.synchronous = true;
  o.assembler.decision_wait_ns = 0;
  std::string error;
  auto loop = reader::ReaderLoop::Create(o, &error);
  if (!loop) {
    state.SkipWithError(error.c_str());
    return;
  }
  auto sink = std::make_unique<NullOtlpSink>();
  NullOtlpSink* sink_ptr = sink.get();
  loop->AddExporter(std::move(sink));
  YAML::Node cfg = YAML::Load(R"(
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: big, type: numeric_attribute, numeric_attribute: {key: tool.bytes, min_value: 1000000}}
  - {name: all, type: always_sample}
)");
  auto sampler = reader::TailSampler::Create(cfg, &error);
  if (!sampler) {
    state.SkipWithError(error.c_str());
    return;
  }
  loop->SetTailSampler(std::move(sampler));
  loop->drain().probe_interval_ns = 0;
  // Spans per pass: a live reader passes every ~100 µs, so at 1 M spans/s it sees a few hundred
  // to a few thousand spans a pass (2000); 40000 is a reader that fell far behind (every span
  // of the batch is in memory at once: the assembler's working set no longer fits the cache).
  const uint64_t spans = static_cast<uint64_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    FillLane(seg.name, spans, true);
    state.ResumeTiming();
    loop->RunOnePass();
    loop->RunOnePass();  // the pass after the roots' ends completes the traces
  }
  const reader::ExporterQueueStats st = loop->ExporterStats()[0];
  state.SetItemsProcessed(static_cast<int64_t>(st.spans_exported));
  state.counters["spans_exported"] = static_cast<double>(st.spans_exported);
  state.counters["bytes_per_span"] =
      st.spans_exported ? static_cast<double>(sink_ptr->bytes) / static_cast<double>(st.spans_exported) : 0;
  if (st.spans_exported != spans * state.iterations())
    state.SkipWithError("the pipeline did not export every span");
  loop->Shutdown();
  internal::SegmentMap::Remove(seg.name);
}
BENCHMARK(BM_Reader_Pipeline)->Arg(2000)->Arg(40000)->ArgName("spans_per_pass")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "--fill-lane") == 0) {
    FillLaneChild(argv[2], strtoull(argv[3], nullptr, 10), strcmp(argv[4], "attrs") == 0);
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
