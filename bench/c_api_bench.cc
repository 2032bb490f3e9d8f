// The C ABI (agentring.h) against the C++ API it wraps, in the same binary and run, so the cost
// of the C layer (run-time hashing of names and keys, converting the attribute array, the
// storage tag) is quoted as a difference against its own baseline.
//
//   BM_CppApi_SpanStartEnd      a child span, C++ API, literal name (hashed at compile time)
//   BM_CApi_SpanStartEnd        the same through agentring_span_start / agentring_span_end
//   BM_CppApi_SpanWith4Attrs    a child tool span: two strings, an int64, a bool (group + end)
//   BM_CppApi_SpanWith4AttrsRuntimeNames  the same with run-time names and keys (hashed per call)
//   BM_CApi_SpanWith4Attrs      the same through agentring_span_start_with_attrs (one call)
//   BM_CApi_SpanWith4AttrsSetOneByOne  the same attributes by four agentring_span_set_* calls
//                                      (four groups): what the array call saves
//
// With the harness of bench/drained_segment.h (shared with writer_bench.cc): a reader thread drains the segment, and
// every kBatchSpans spans the timer pauses until the lane is drained, so no benchmark ever times
// the drop path; each reports `records_dropped`, which must be 0. Inputs (the attribute array)
// are built outside the timed loop. Linked statically: the .so adds a PLT call per function.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "agentring/agentring.h"
#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "bench/drained_segment.h"
#include "reader/drain/segment_reader.h"

namespace {

using agentring::Kind;
using agentring::Span;
using namespace agentring_bench;

// A string literal as the (pointer, length) pair the C API takes.
#define S(literal) literal, sizeof(literal) - 1

agentring_attr StringAttr(const char* key, size_t key_len, const char* v, size_t v_len) {
  agentring_attr a{};
  a.key = key;
  a.key_len = key_len;
  a.type = AGENTRING_ATTR_STRING;
  a.str = v;
  a.str_len = v_len;
  return a;
}

// ---- spans without attributes ------------------------------------------------------------------

void BM_CppApi_SpanStartEnd(benchmark::State& state) {
  DrainedSegment::Get();
  Span run("bench.run", Kind::kRun);
  RunDrained(state, [] { Span s("bench.span"); });
}
BENCHMARK(BM_CppApi_SpanStartEnd);

void BM_CApi_SpanStartEnd(benchmark::State& state) {
  DrainedSegment::Get();
  agentring_span run;
  agentring_span_start(&run, S("bench.run"), AGENTRING_KIND_RUN, nullptr, nullptr, 0);
  RunDrained(state, [] {
    agentring_span s;
    agentring_span_start(&s, S("bench.span"), AGENTRING_KIND_CUSTOM, nullptr, nullptr, 0);
    agentring_span_end(&s);
  });
  agentring_span_end(&run);
}
BENCHMARK(BM_CApi_SpanStartEnd);

// ---- spans with four attributes ----------------------------------------------------------------

void BM_CppApi_SpanWith4Attrs(benchmark::State& state) {
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
BENCHMARK(BM_CppApi_SpanWith4Attrs);

// The C++ API with run-time names and keys (hashed per call, as every C name is): the part of
// the C figure that is the hashing rather than the C layer.
void BM_CppApi_SpanWith4AttrsRuntimeNames(benchmark::State& state) {
  DrainedSegment::Get();
  std::string_view names[5] = {"execute_tool", "tool.name", "tool.target", "tool.bytes",
                               "tool.cached"};
  benchmark::DoNotOptimize(names);  // not constants any more
  Span run("bench.run", Kind::kRun);
  RunDrained(state, [&names] {
    Span s(names[0], Kind::kTool,
           {{names[1], "filesystem"}, {names[2], "/src/main.rs"}, {names[3], 4096},
            {names[4], false}});
  });
}
BENCHMARK(BM_CppApi_SpanWith4AttrsRuntimeNames);

void BM_CApi_SpanWith4Attrs(benchmark::State& state) {
  DrainedSegment::Get();
  agentring_attr attrs[4] = {StringAttr(S("tool.name"), S("filesystem")),
                             StringAttr(S("tool.target"), S("/src/main.rs")), {}, {}};
  attrs[2].key = "tool.bytes";
  attrs[2].key_len = 10;
  attrs[2].type = AGENTRING_ATTR_INT64;
  attrs[2].int_value = 4096;
  attrs[3].key = "tool.cached";
  attrs[3].key_len = 11;
  attrs[3].type = AGENTRING_ATTR_BOOL;
  attrs[3].bool_value = 0;
  agentring_span run;
  agentring_span_start(&run, S("bench.run"), AGENTRING_KIND_RUN, nullptr, nullptr, 0);
  RunDrained(state, [&attrs] {
    agentring_span s;
    agentring_span_start_with_attrs(&s, S("execute_tool"), AGENTRING_KIND_TOOL, nullptr, nullptr,
                                    0, attrs, 4);
    agentring_span_end(&s);
  });
  agentring_span_end(&run);
}
BENCHMARK(BM_CApi_SpanWith4Attrs);

void BM_CApi_SpanWith4AttrsSetOneByOne(benchmark::State& state) {
  DrainedSegment::Get();
  agentring_span run;
  agentring_span_start(&run, S("bench.run"), AGENTRING_KIND_RUN, nullptr, nullptr, 0);
  RunDrained(state, [] {
    agentring_span s;
    agentring_span_start(&s, S("execute_tool"), AGENTRING_KIND_TOOL, nullptr, nullptr, 0);
    agentring_span_set_string(&s, S("tool.name"), S("filesystem"));
    agentring_span_set_string(&s, S("tool.target"), S("/src/main.rs"));
    agentring_span_set_int(&s, S("tool.bytes"), 4096);
    agentring_span_set_bool(&s, S("tool.cached"), 0);
    agentring_span_end(&s);
  });
  agentring_span_end(&run);
}
BENCHMARK(BM_CApi_SpanWith4AttrsSetOneByOne);

}  // namespace

BENCHMARK_MAIN();
