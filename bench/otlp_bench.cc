// Benchmarks of the OTLP encodings (reader/export/otlp_proto.h, otlp_json.h), spans/s:
//   BM_OtlpProtoEncode       one protobuf ExportTraceServiceRequest for 50 traces × 20 realistic
//                            agent spans (8 attributes each: model, provider, operation, tokens,
//                            temperature, finish reason, stream flag), 2 writer processes
//   BM_OtlpJsonEncode        the same request as OTLP/JSON: the baseline the protobuf figure is
//                            quoted against (the jsonl exporter's encoding)
//   BM_OtlpProtoEncodeGzip   protobuf plus gzip level 1 (zlib), what --otlp-compression gzip costs
// Inputs are built outside the timed loop; the encoders reuse their buffers as the exporter does.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <memory>
#include <string>
#include <vector>

#include "reader/export/otlp_content.h"
#include "reader/export/otlp_json.h"
#include "reader/export/otlp_proto.h"

namespace agentring::reader {
namespace {

constexpr int kTraces = 50;
constexpr int kSpansPerTrace = 20;

struct Input {
  std::vector<TraceBatch> batches;
  std::vector<const TraceBatch*> traces;
  OtlpResourceDefaults defaults = OtlpResourceDefaultsFromEnv();
  uint64_t spans = 0;
};

std::unique_ptr<Input> MakeInput() {
  auto in = std::make_unique<Input>();
  std::shared_ptr<ProcessInfo> procs[2];
  for (int p = 0; p < 2; ++p) {
    procs[p] = std::make_shared<ProcessInfo>();
    procs[p]->pid = 4000 + p;
    procs[p]->service_name = p ? "task-agent" : "orchestrator";
    procs[p]->resource = {{"service.name", procs[p]->service_name},
                          {"deployment.environment", "prod"}};
  }
  in->batches.resize(kTraces);
  for (int t = 0; t < kTraces; ++t) {
    TraceBatch& b = in->batches[t];
    b.trace_id = {0x4bf92f3577b34da6ull + t, 0xa3ce929d0e0e4736ull};
    for (int i = 0; i < kSpansPerTrace; ++i) {
      auto s = std::make_unique<SpanData>();
      s->trace_id = b.trace_id;
      s->span_id = 0x1000u + t * 100 + i;
      s->parent_span_id = i ? 0x1000u + t * 100 + (i - 1) / 4 : 0;
      s->name = i % 2 ? "chat gpt-4o" : "execute_tool read_file";
      s->kind = i % 2 ? 3 : 4;
      s->start_unix_ns = 1700000000000000000ull + i * 1000000ull;
      s->end_unix_ns = s->start_unix_ns + 45000000ull;
      s->ended = true;
      s->status = SpanStatus::kOk;
      s->attributes = {{"gen_ai.request.model", std::string("gpt-4o-2024-08-06")},
                       {"gen_ai.provider.name", std::string("openai")},
                       {"gen_ai.operation.name", std::string("chat")},
                       {"gen_ai.usage.input_tokens", int64_t{2048 + i}},
                       {"gen_ai.usage.output_tokens", int64_t{150}},
                       {"gen_ai.request.temperature", 0.7},
                       {"gen_ai.response.finish_reasons", std::string("stop")},
                       {"gen_ai.request.stream", false}};
      s->process = procs[i % 2];
      b.spans.push_back(std::move(s));
    }
    in->spans += kSpansPerTrace;
  }
  for (const TraceBatch& b : in->batches) in->traces.push_back(&b);
  return in;
}

void BM_OtlpProtoEncode(benchmark::State& state) {
  auto in = MakeInput();
  OtlpProtoEncoder enc(&in->defaults);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string_view body = enc.Encode(in->traces);
    benchmark::DoNotOptimize(body.data());
    bytes = body.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * in->spans));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["bytes_per_span"] = static_cast<double>(bytes) / static_cast<double>(in->spans);
}
BENCHMARK(BM_OtlpProtoEncode);

void BM_OtlpJsonEncode(benchmark::State& state) {
  auto in = MakeInput();
  std::string body;
  for (auto _ : state) {
    body.clear();
    AppendOtlpJson(in->traces, &in->defaults, &body);
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * in->spans));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["bytes_per_span"] = static_cast<double>(body.size()) / static_cast<double>(in->spans);
}
BENCHMARK(BM_OtlpJsonEncode);

void BM_OtlpProtoEncodeGzip(benchmark::State& state) {
  auto in = MakeInput();
  OtlpProtoEncoder enc(&in->defaults);
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  size_t compressed = 0;
  for (auto _ : state) {
    std::string_view body = enc.Encode(in->traces);
    deflateReset(&z);
    out.resize(deflateBound(&z, body.size()));
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    z.avail_in = static_cast<uInt>(body.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) state.SkipWithError("deflate failed");
    compressed = z.total_out;
  }
  deflateEnd(&z);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * in->spans));
  state.counters["bytes_per_span"] = static_cast<double>(compressed) / static_cast<double>(in->spans);
}
BENCHMARK(BM_OtlpProtoEncodeGzip);

}  // namespace
}  // namespace agentring::reader

BENCHMARK_MAIN();
