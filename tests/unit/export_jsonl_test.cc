// Tests for the jsonl exporter and ReadOtlpJsonLines (reader/export/jsonl_reader.h): a model
// written through a real file comes back identical, and malformed lines are reported with
// their file and line.
#include "reader/export/jsonl_reader.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reader/export/exporter.h"
#include "reader/export/otlp_json.h"
#include "reader/export/output_file.h"

namespace agentring::reader {
namespace {

constexpr TraceId kTraceA{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
constexpr TraceId kTraceB{0xffffffffffffffffull, 0x1ull};

std::string TempPath(const char* tag) {
  return ::testing::TempDir() + "export_jsonl_" + tag + "_" + std::to_string(getpid()) + ".jsonl";
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<SpanData> MakeSpan(TraceId trace, uint64_t id, uint64_t parent, std::string name,
                                   uint8_t kind, uint64_t start_ns, uint64_t end_ns,
                                   std::shared_ptr<const ProcessInfo> process) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = trace;
  s->span_id = id;
  s->parent_span_id = parent;
  s->name = std::move(name);
  s->kind = kind;
  s->start_unix_ns = start_ns;
  s->end_unix_ns = end_ns;
  s->ended = end_ns != 0;
  s->process = std::move(process);
  return s;
}

// Trace A in two parts (the second late, from another process), trace B from no process.
std::vector<TraceBatch> Batches() {
  auto orchestrator = std::make_shared<ProcessInfo>();
  orchestrator->pid = 4242;
  orchestrator->service_name = "orchestrator";
  orchestrator->resource = {{"service.name", "orchestrator"}, {"host.name", "h\xC3\xA9"}};
  auto worker = std::make_shared<ProcessInfo>();
  worker->pid = 7;
  worker->service_name = "worker";
  worker->resource = {{"service.name", "worker"}};

  std::vector<TraceBatch> v(3);
  v[0].trace_id = kTraceA;
  v[0].spans.push_back(MakeSpan(kTraceA, 1, 0, "run agent", 1, 1'000, 90'000, orchestrator));
  auto llm = MakeSpan(kTraceA, 2, 1, "chat llama3", 3, 2'000, 5'000, orchestrator);
  llm->status = SpanStatus::kOk;
  llm->attributes = {{"gen_ai.request.model", std::string("llama3")},
                     {"gen_ai.usage.input_tokens", int64_t{std::numeric_limits<int64_t>::max()}},
                     {"temp", 0.1},
                     {"neg", -2.5e-300},
                     {"cached", true},
                     {"agent.kind", std::string("llm")}};  // present, not first: kept
  llm->events.push_back(SpanEvent{3'000, "first_token", {{"n", int64_t{-1}}}});
  llm->events.push_back(SpanEvent{4'000, "done", {}});
  v[0].spans.push_back(std::move(llm));
  auto tool = MakeSpan(kTraceA, 3, 1, "tool grep", 4, 6'000, 8'000, worker);
  tool->parent_remote = true;
  tool->status = SpanStatus::kError;
  tool->status_message = "exit 2";
  tool->incomplete = true;
  tool->links.push_back(SpanLink{kTraceB, 0x99});
  v[0].spans.push_back(std::move(tool));

  v[1].trace_id = kTraceA;
  v[1].late = true;
  v[1].spans.push_back(MakeSpan(kTraceA, 4, 3, "late child", 12, 8'500, 0, worker));

  v[2].trace_id = kTraceB;
  auto b = MakeSpan(kTraceB, 0x99, 0, "other", 200, 100, 200, nullptr);  // kind out of range
  b->attributes = {{"nan", std::numeric_limits<double>::quiet_NaN()}};
  v[2].spans.push_back(std::move(b));
  return v;
}

void ExpectSameAttributes(const std::vector<Attribute>& got, const std::vector<Attribute>& want,
                          const std::string& where) {
  ASSERT_EQ(got.size(), want.size()) << where;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].key, want[i].key) << where;
    if (want[i].value.index() == 1 && std::isnan(std::get<double>(want[i].value))) {
      ASSERT_EQ(got[i].value.index(), 1u) << where;
      EXPECT_TRUE(std::isnan(std::get<double>(got[i].value))) << where;
    } else {
      EXPECT_EQ(got[i].value, want[i].value) << where << " " << want[i].key;
    }
  }
}

void ExpectSameSpan(const SpanData& got, const SpanData& want) {
  const std::string where = "span " + want.name;
  EXPECT_EQ(got.trace_id, want.trace_id) << where;
  EXPECT_EQ(got.span_id, want.span_id) << where;
  EXPECT_EQ(got.parent_span_id, want.parent_span_id) << where;
  EXPECT_EQ(got.parent_remote, want.parent_remote) << where;
  EXPECT_EQ(got.name, want.name) << where;
  EXPECT_EQ(got.kind, want.kind < 13 ? want.kind : 0) << where;  // out of range reads as custom
  EXPECT_EQ(got.start_unix_ns, want.start_unix_ns) << where;
  EXPECT_EQ(got.end_unix_ns, want.end_unix_ns) << where;
  EXPECT_EQ(got.ended, want.ended) << where;
  EXPECT_EQ(got.incomplete, want.incomplete) << where;
  EXPECT_EQ(got.status, want.status) << where;
  EXPECT_EQ(got.status_message, want.status_message) << where;
  ExpectSameAttributes(got.attributes, want.attributes, where);
  ASSERT_EQ(got.events.size(), want.events.size()) << where;
  for (size_t i = 0; i < got.events.size(); ++i) {
    EXPECT_EQ(got.events[i].time_unix_ns, want.events[i].time_unix_ns) << where;
    EXPECT_EQ(got.events[i].name, want.events[i].name) << where;
    ExpectSameAttributes(got.events[i].attributes, want.events[i].attributes, where);
  }
  ASSERT_EQ(got.links.size(), want.links.size()) << where;
  for (size_t i = 0; i < got.links.size(); ++i) {
    EXPECT_EQ(got.links[i].trace_id, want.links[i].trace_id) << where;
    EXPECT_EQ(got.links[i].span_id, want.links[i].span_id) << where;
  }
  ASSERT_EQ(got.process == nullptr, want.process == nullptr) << where;
  if (want.process) {
    EXPECT_EQ(got.process->pid, want.process->pid) << where;
    EXPECT_EQ(got.process->service_name, want.process->service_name) << where;
    EXPECT_EQ(got.process->resource, want.process->resource) << where;
  }
}

TEST(ExportJsonl, RoundTripThroughFileGivesIdenticalModel) {
  const std::string path = TempPath("roundtrip");
  std::vector<TraceBatch> in = Batches();
  {
    std::string error;
    auto exporter = MakeJsonlExporter(OpenOutput(path, &error));
    ASSERT_NE(exporter, nullptr) << error;
    EXPECT_EQ(exporter->name(), "jsonl");
    for (const TraceBatch& b : in) ASSERT_TRUE(exporter->Export(b));
    exporter->Flush();
  }
  const std::string text = ReadAll(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);  // one line per batch

  JsonStringPool pool;
  std::vector<TraceBatch> out;
  std::string error;
  ASSERT_TRUE(ReadOtlpJsonLines(path, &pool, &out, &error)) << error;
  ASSERT_EQ(out.size(), 2u);  // the late part merged into trace A
  EXPECT_EQ(out[0].trace_id, kTraceA);
  EXPECT_EQ(out[1].trace_id, kTraceB);
  std::vector<const SpanData*> want_a;
  for (const auto& s : in[0].spans) want_a.push_back(s.get());
  want_a.push_back(in[1].spans[0].get());
  ASSERT_EQ(out[0].spans.size(), want_a.size());
  for (size_t i = 0; i < want_a.size(); ++i) ExpectSameSpan(*out[0].spans[i], *want_a[i]);
  ASSERT_EQ(out[1].spans.size(), 1u);
  ExpectSameSpan(*out[1].spans[0], *in[2].spans[0]);
  // Spans of one process share one ProcessInfo, across lines too.
  EXPECT_EQ(out[0].spans[2]->process, out[0].spans[3]->process);
  EXPECT_EQ(out[0].spans[0]->process, out[0].spans[1]->process);

  // Re-encoding what was read gives the same bytes as the original (first line).
  std::string again, original;
  AppendOtlpJson(in[0], &original);
  TraceBatch first_part;
  first_part.trace_id = kTraceA;
  for (size_t i = 0; i < 3; ++i) first_part.spans.push_back(std::move(out[0].spans[i]));
  AppendOtlpJson(first_part, &again);
  EXPECT_EQ(again, original);
  unlink(path.c_str());
}

TEST(ExportJsonl, ReadsCollectorStyleVariants) {
  // Numbers where strings are usual, an enum name for the status, uppercase hex, an unknown
  // AnyValue kind, blank lines, CRLF, and no agentring additions at all.
  const std::string path = TempPath("variants");
  WriteFile(path,
            "\n"
            R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}},)"
            R"({"key":"process.pid","value":{"intValue":12}}]},"scopeSpans":[{"scope":{},"spans":[)"
            R"({"traceId":"4BF92F3577B34DA6A3CE929D0E0E4736","spanId":"00000000000000AA","name":"s",)"
            R"("kind":2,"startTimeUnixNano":5,"endTimeUnixNano":"9","status":{"code":"STATUS_CODE_ERROR","message":"m"},)"
            R"("attributes":[{"key":"arr","value":{"arrayValue":{"values":[]}}},{"key":"d","value":{"doubleValue":3}}]}]}]}]})"
            "\r\n  \n");
  JsonStringPool pool;
  std::vector<TraceBatch> out;
  std::string error;
  ASSERT_TRUE(ReadOtlpJsonLines(path, &pool, &out, &error)) << error;
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].spans.size(), 1u);
  const SpanData& s = *out[0].spans[0];
  EXPECT_EQ(s.trace_id, kTraceA);
  EXPECT_EQ(s.span_id, 0xAAu);
  EXPECT_EQ(s.parent_span_id, 0u);
  EXPECT_EQ(s.start_unix_ns, 5u);
  EXPECT_EQ(s.end_unix_ns, 9u);
  EXPECT_EQ(s.status, SpanStatus::kError);
  EXPECT_EQ(s.status_message, "m");
  EXPECT_EQ(s.kind, 0);
  ASSERT_NE(s.process, nullptr);
  EXPECT_EQ(s.process->pid, 12);
  EXPECT_EQ(s.process->service_name, "svc");
  ASSERT_EQ(s.attributes.size(), 2u);
  EXPECT_EQ(std::get<std::string>(s.attributes[0].value), R"({"arrayValue":{"values":[]}})");
  EXPECT_EQ(std::get<double>(s.attributes[1].value), 3.0);
  unlink(path.c_str());
}

TEST(ExportJsonl, ReportsFileAndLineOfBadInput) {
  const std::string path = TempPath("bad");
  std::string good;
  AppendOtlpJson(Batches()[2], &good);
  struct Case {
    std::string line;
    std::string reason;
  };
  const Case cases[] = {
      {"{not json", "invalid JSON"},
      {"[1,2]", "not an OTLP ExportTraceServiceRequest"},
      {R"({"resourceLogs":[]})", "no resourceSpans array"},
      {R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"0000000000000001"}]}]}]})",
       "traceId is not 32 hex digits"},
      {R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"1"}]}]}]})",
       "spanId is not 16 hex digits"},
      {R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"0000000000000001","startTimeUnixNano":"-3"}]}]}]})",
       "startTimeUnixNano"},
      {"{\"resourceSpans\":[],\"x\":\"\xFF\"}", "invalid JSON"},  // ill-formed UTF-8
  };
  for (const Case& c : cases) {
    WriteFile(path, good + "\n\n" + c.line + "\n" + good + "\n");
    JsonStringPool pool;
    std::vector<TraceBatch> out;
    std::string error;
    EXPECT_FALSE(ReadOtlpJsonLines(path, &pool, &out, &error)) << c.line;
    EXPECT_EQ(error.rfind(path + ":3: ", 0), 0u) << error;
    EXPECT_NE(error.find(c.reason), std::string::npos) << error;
    EXPECT_EQ(out.size(), 1u);  // the good line before the bad one
  }
  unlink(path.c_str());

  JsonStringPool pool;
  std::vector<TraceBatch> out;
  std::string error;
  EXPECT_FALSE(ReadOtlpJsonLines(path + ".missing", &pool, &out, &error));
  EXPECT_NE(error.find(path + ".missing: "), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST(ExportJsonl, StringPoolInternsStably) {
  JsonStringPool pool;
  std::string a = "gen_ai.request.model";
  std::string_view first = pool.Intern(a);
  for (int i = 0; i < 10000; ++i) pool.Intern("key" + std::to_string(i));
  a[0] = 'X';  // the pool holds its own copy
  EXPECT_EQ(first, "gen_ai.request.model");
  EXPECT_EQ(pool.Intern("gen_ai.request.model").data(), first.data());
  EXPECT_EQ(pool.size(), 10001u);
  EXPECT_EQ(pool.Intern("").size(), 0u);
}

TEST(ExportJsonl, ExportFailsWhenWriteFails) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old), 0);
  auto exporter = MakeJsonlExporter(std::make_unique<OutputFile>(fds[1], true, "pipe"));
  std::vector<TraceBatch> in = Batches();
  EXPECT_FALSE(exporter->Export(in[0]));
  sigaction(SIGPIPE, &old, nullptr);
}

}  // namespace
}  // namespace agentring::reader
