// Integration tests of `agentring-reader --exporter otlp`: real `agentring loadgen` writer
// processes, a real reader process, and a real HTTP listener on 127.0.0.1 (otlp_listener.h) that
// decodes what arrives. Every committed span must arrive exactly once with its parentage, in
// protobuf and JSON, with gzip on and off, through 503s and through an outage; what cannot be
// delivered must be counted in the reader's stats; bad configuration must fail with one line.
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/otlp_listener.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

constexpr const char* kConcurrentIdleMs = "1000";

// agentring-reader with both a jsonl exporter (the reference: what the reader assembled) and the
// otlp exporter under test, in the given environment.
ReaderProcess StartOtlpReader(const std::string& segment, const TempDir& dir,
                              const std::vector<std::string>& extra, const EnvOverrides& env = {}) {
  ReaderProcess r;
  r.traces_path = dir.File("reader.jsonl");
  r.stats_path = dir.File("reader.stats.json");
  r.stderr_path = dir.File("reader.stderr");
  std::vector<std::string> argv = {ReaderPath(), "--segment",     segment,      "--create",
                                   "--exporter", "jsonl",         "--out",      r.traces_path,
                                   "--exporter", "otlp",          "--stats-json", r.stats_path,
                                   "--exit-when-idle-ms", kConcurrentIdleMs};
  argv.insert(argv.end(), extra.begin(), extra.end());
  r.child = Spawn(argv, env, dir.File("reader.stdout"), r.stderr_path);
  return r;
}

// The received spans as a TraceFile, so the assertions of the file exporters apply.
TraceFile AsTraceFile(const std::vector<ReceivedSpan>& received) {
  TraceFile f;
  for (const ReceivedSpan& r : received) {
    ExportedSpan e;
    e.trace_id = r.span.trace_id;
    e.span_id = r.span.span_id;
    e.parent_span_id = r.span.parent_span_id;
    e.name = r.span.name;
    e.pid = r.pid;
    e.start_unix_ns = r.span.start_unix_ns;
    e.end_unix_ns = r.span.end_unix_ns;
    e.status_code = r.span.status_code;
    for (const otlp_test::KeyValue& kv : r.span.attributes) e.attributes[kv.key] = boost::json::object();
    f.traces[e.trace_id].push_back(std::move(e));
    ++f.spans;
  }
  return f;
}

const boost::json::object& OtlpCounters(const boost::json::object& stats) {
  static const boost::json::object kEmpty;
  const boost::json::value* e = stats.if_contains("exporters");
  if (e == nullptr || !e->is_object() || !e->as_object().contains("otlp")) {
    ADD_FAILURE() << "no exporters.otlp in the stats: " << boost::json::serialize(stats);
    return kEmpty;
  }
  return e->as_object().at("otlp").as_object();
}

// Every span of the reference jsonl file arrived once at the listener, with the same parent,
// name and process.
::testing::AssertionResult SameSpansAsReference(const TraceFile& reference, const TraceFile& got) {
  std::map<std::string, const ExportedSpan*> by_id;
  for (const auto& [trace_id, spans] : got.traces)
    for (const ExportedSpan& s : spans) by_id[s.span_id] = &s;
  for (const auto& [trace_id, spans] : reference.traces) {
    for (const ExportedSpan& want : spans) {
      auto it = by_id.find(want.span_id);
      if (it == by_id.end())
        return ::testing::AssertionFailure() << "span " << want.span_id << " never arrived";
      const ExportedSpan& s = *it->second;
      if (s.trace_id != want.trace_id || s.parent_span_id != want.parent_span_id ||
          s.name != want.name || s.pid != want.pid || s.start_unix_ns != want.start_unix_ns ||
          s.end_unix_ns != want.end_unix_ns || s.attributes.size() != want.attributes.size())
        return ::testing::AssertionFailure() << "span " << want.span_id << " ('" << want.name
                                             << "') arrived different from the jsonl export";
    }
  }
  return ::testing::AssertionSuccess();
}

class OtlpEndToEnd : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(OtlpEndToEnd, EverySpanOnceWithParentage) {
  const auto& [protocol, gzip] = GetParam();
  OtlpListener listener;
  std::string error;
  ASSERT_TRUE(listener.Start(&error)) << error;
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  // The reader's own service name and resource apply to writers that set none (loadgen's).
  ReaderProcess reader = StartOtlpReader(
      seg.name(), dir,
      {"--otlp-endpoint", listener.base_url(), "--otlp-protocol", protocol, "--otlp-compression",
       gzip ? "gzip" : "none"},
      {{"OTEL_SERVICE_NAME", "it-reader"}, {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=it,team=a%2Cb"}});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "3", "--threads", "2", "--traces", "10",
                          "--spans-per-trace", "30", "--attrs", "8"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader)) << ReadFileOrEmpty(reader.stderr_path);
  ASSERT_EQ(U64(summary, "spans_committed"), 1800u);

  const ListenerCounts counts = listener.counts();
  EXPECT_TRUE(counts.errors.empty()) << counts.errors.front();
  EXPECT_GT(counts.requests, 0u);
  EXPECT_EQ(counts.gzip_requests, gzip ? counts.requests : 0u);
  EXPECT_EQ(protocol == "http/json" ? counts.json_requests : counts.protobuf_requests, counts.requests);

  const std::vector<ReceivedSpan> received = listener.spans();
  const TraceFile got = AsTraceFile(received);
  EXPECT_EQ(got.spans, 1800u);
  EXPECT_EQ(got.traces.size(), 60u);
  EXPECT_TRUE(SpanIdsUnique(got));  // once …
  EXPECT_TRUE(EveryTraceIsOneTree(got));  // … with parentage
  EXPECT_EQ(PidsOf(got).size(), 3u);

  TraceFile reference;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &reference));
  EXPECT_EQ(reference.spans, 1800u);
  EXPECT_TRUE(SameSpansAsReference(reference, got));

  for (const ReceivedSpan& r : received) {
    ASSERT_EQ(r.service_name, "it-reader");
    ASSERT_EQ(r.span.attributes.size(), 9u);  // agent.kind + 8 loadgen attributes
    std::set<std::string> keys;
    for (const otlp_test::KeyValue& kv : r.resource) keys.insert(kv.key);
    for (const char* k : {"service.name", "process.pid", "host.name", "telemetry.sdk.name",
                          "telemetry.sdk.language", "telemetry.sdk.version",
                          "deployment.environment", "team"})
      ASSERT_TRUE(keys.count(k)) << "resource lacks " << k;
  }

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  const boost::json::object& otlp = OtlpCounters(stats);
  EXPECT_EQ(U64(otlp, "spans_delivered"), 1800u);
  EXPECT_EQ(U64(otlp, "spans_failed"), 0u);
  EXPECT_EQ(U64(otlp, "retries"), 0u);
  EXPECT_EQ(U64(otlp, "requests"), counts.requests);
  EXPECT_EQ(U64(otlp, "responses_2xx"), counts.requests);
  EXPECT_GT(U64(otlp, "bytes_sent"), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    OtlpHttp, OtlpEndToEnd,
    ::testing::Combine(::testing::Values("http/protobuf", "http/json"), ::testing::Bool()),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) == "http/json" ? "Json" : "Protobuf") +
             (std::get<1>(info.param) ? "Gzip" : "Plain");
    });

// The first requests are refused with 503 (the first carrying Retry-After: 1): each is retried,
// and still every span arrives once.
TEST(OtlpHttp, RetriesThroughFirst503s) {
  OtlpListener listener({.fail_first = 3, .fail_status = 503, .retry_after = "1"});
  std::string error;
  ASSERT_TRUE(listener.Start(&error)) << error;
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartOtlpReader(
      seg.name(), dir,
      {"--otlp-endpoint", listener.base_url(), "--otlp-retry-initial-ms", "20",
       "--otlp-retry-max-backoff-ms", "100", "--otlp-retry-max-elapsed-ms", "30000"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "2", "--threads", "1", "--traces", "10",
                          "--spans-per-trace", "20", "--attrs", "2"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader)) << ReadFileOrEmpty(reader.stderr_path);
  ASSERT_EQ(U64(summary, "spans_committed"), 400u);

  const ListenerCounts counts = listener.counts();
  EXPECT_EQ(counts.failed_on_purpose, 3u);
  EXPECT_TRUE(counts.errors.empty()) << counts.errors.front();
  const TraceFile got = AsTraceFile(listener.spans());
  EXPECT_EQ(got.spans, 400u);
  EXPECT_TRUE(SpanIdsUnique(got));
  EXPECT_TRUE(EveryTraceIsOneTree(got));

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  const boost::json::object& otlp = OtlpCounters(stats);
  EXPECT_EQ(U64(otlp, "retries"), 3u);
  EXPECT_EQ(U64(otlp, "responses_5xx"), 3u);
  EXPECT_EQ(U64(otlp, "spans_delivered"), 400u);
  EXPECT_EQ(U64(otlp, "spans_failed"), 0u);
  EXPECT_EQ(U64(otlp, "requests"), counts.requests);
}

// A 400 is not retried: that batch is dropped and counted, the rest arrives, the error is logged
// once.
TEST(OtlpHttp, PermanentErrorDropsTheBatchAndCountsIt) {
  OtlpListener listener({.fail_first = 2, .fail_status = 400, .retry_after = ""});
  std::string error;
  ASSERT_TRUE(listener.Start(&error)) << error;
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartOtlpReader(seg.name(), dir, {"--otlp-endpoint", listener.base_url()});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "1", "--threads", "1", "--traces", "10",
                          "--spans-per-trace", "10"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader)) << ReadFileOrEmpty(reader.stderr_path);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  const boost::json::object& otlp = OtlpCounters(stats);
  const uint64_t received = listener.spans().size();
  // The exporter's queue batches traces into requests, so the two failed requests may carry
  // every trace (then there is only one): each failed request is one failed batch.
  const uint64_t failed_batches = U64(otlp, "batches_failed");
  EXPECT_GE(failed_batches, 1u);
  EXPECT_LE(failed_batches, 2u);
  EXPECT_EQ(U64(otlp, "responses_4xx"), failed_batches);
  // The queue counts the same loss in committed spans, for the accounting.
  EXPECT_EQ(U64(otlp, "spans_lost_export_failed"), U64(otlp, "spans_failed"));
  EXPECT_EQ(U64(otlp, "retries"), 0u);
  EXPECT_EQ(U64(otlp, "spans_delivered"), received);
  EXPECT_EQ(received + U64(otlp, "spans_failed"), 100u);
  EXPECT_GT(U64(otlp, "spans_failed"), 0u);
  const std::string err = ReadFileOrEmpty(reader.stderr_path);
  size_t mentions = 0;
  for (size_t p = err.find("HTTP 400"); p != std::string::npos; p = err.find("HTTP 400", p + 1))
    ++mentions;
  EXPECT_EQ(mentions, 1u) << err;
}

// The listener goes away for a few seconds while paced writers keep going: nothing is lost
// (retries outlast the outage), nothing arrives twice, and the outage shows in the counters.
TEST(OtlpHttp, OutageUnderPacedLoadThenRecovery) {
  OtlpListener listener;
  std::string error;
  ASSERT_TRUE(listener.Start(&error)) << error;
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartOtlpReader(
      seg.name(), dir,
      {"--otlp-endpoint", listener.base_url(), "--otlp-retry-initial-ms", "100",
       "--otlp-retry-max-backoff-ms", "400", "--otlp-retry-max-elapsed-ms", "60000",
       "--otlp-timeout-ms", "2000"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  const std::string loadgen_out = dir.File("loadgen.out");
  Child loadgen = Spawn({CliPath(), "loadgen", "--segment", seg.name(), "--processes", "2",
                         "--threads", "1", "--traces", "60", "--spans-per-trace", "10", "--rate",
                         "200"},
                        {}, loadgen_out, dir.File("loadgen.err"));
  ASSERT_TRUE(loadgen.valid());
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  listener.Stop();  // the outage: connections reset, then "connection refused"
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_TRUE(listener.Start(&error)) << error;
  ASSERT_TRUE(loadgen.Wait());
  ASSERT_TRUE(ExitedWith(loadgen.status(), 0)) << DescribeStatus(loadgen.status());
  ASSERT_TRUE(WaitForReaderExit(reader)) << ReadFileOrEmpty(reader.stderr_path);

  std::string line = ReadFileOrEmpty(loadgen_out);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  boost::json::object summary;
  ASSERT_TRUE(ParseJsonObject(line.substr(line.rfind('\n') + 1), &summary));
  const uint64_t committed = U64(summary, "spans_committed");
  EXPECT_EQ(committed, 1200u);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  const boost::json::object& otlp = OtlpCounters(stats);
  EXPECT_GT(U64(otlp, "connection_failures"), 0u) << "the outage was not seen";
  EXPECT_GT(U64(otlp, "retries"), 0u);
  EXPECT_EQ(U64(otlp, "spans_failed"), 0u);
  EXPECT_EQ(U64(otlp, "spans_delivered"), committed);

  const TraceFile got = AsTraceFile(listener.spans());
  EXPECT_EQ(got.spans, committed);
  EXPECT_TRUE(SpanIdsUnique(got));
  EXPECT_TRUE(EveryTraceIsOneTree(got));
  EXPECT_TRUE(listener.counts().errors.empty());
  EXPECT_NE(ReadFileOrEmpty(reader.stderr_path).find("reachable again"), std::string::npos);
}

// No backend at all and a short retry budget: every span is counted as failed, and the reader
// still exits cleanly.
TEST(OtlpHttp, UnreachableBackendCountsEveryLoss) {
  uint16_t port = 0;
  {
    OtlpListener probe;  // a port that was free a moment ago and is closed now
    std::string error;
    ASSERT_TRUE(probe.Start(&error)) << error;
    port = probe.port();
  }
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartOtlpReader(
      seg.name(), dir,
      {"--otlp-endpoint", "http://127.0.0.1:" + std::to_string(port), "--otlp-retry-initial-ms",
       "20", "--otlp-retry-max-backoff-ms", "50", "--otlp-retry-max-elapsed-ms", "200"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "1", "--threads", "1", "--traces", "5",
                          "--spans-per-trace", "10"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader)) << ReadFileOrEmpty(reader.stderr_path);
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  const boost::json::object& otlp = OtlpCounters(stats);
  EXPECT_EQ(U64(otlp, "spans_failed"), 50u);
  EXPECT_GE(U64(otlp, "batches_failed"), 1u);  // how traces are batched is the pipeline's call
  EXPECT_EQ(U64(otlp, "spans_delivered"), 0u);
  EXPECT_EQ(U64(otlp, "requests"), 0u);
  EXPECT_GT(U64(otlp, "connection_failures"), U64(otlp, "batches_failed"));  // retried first
}

// Bad configuration: one line on stderr naming the problem, non-zero exit, before any work.
TEST(OtlpHttp, BadConfigurationFailsWithOneLine) {
  struct Case {
    std::vector<std::string> args;
    EnvOverrides env;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--otlp-endpoint", "ftp://127.0.0.1:4318"}, {}, "scheme must be http or https"},
      {{"--otlp-endpoint", "http://:4318"}, {}, "no host"},
      {{"--otlp-endpoint", "http://127.0.0.1:99999"}, {}, "port"},
      {{"--otlp-endpoint", "127.0.0.1:4318"}, {}, "expected http://"},
      {{"--otlp-protocol", "grpc"}, {}, "not supported"},
      {{"--otlp-protocol", "thrift"}, {}, "unknown OTLP protocol"},
      {{"--otlp-compression", "zstd"}, {}, "gzip or none"},
      {{}, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
      {{}, {{"OTEL_EXPORTER_OTLP_COMPRESSION", "zip"}}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
      {{}, {{"OTEL_EXPORTER_OTLP_TIMEOUT", "soon"}}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
      {{}, {{"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}}, "OTEL_EXPORTER_OTLP_HEADERS"},
      {{}, {{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://[::1"}}, "unclosed"},
      {{"--otlp-endpoint", "https://127.0.0.1:4318"},
       {{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"}},
       "/nonexistent/ca.pem"},
  };
  for (const Case& c : cases) {
    SegmentGuard seg(UniqueSegmentName());
    std::vector<std::string> argv = {ReaderPath(), "--segment", seg.name(), "--create",
                                     "--exporter", "otlp"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult r = RunCommand(argv, c.env);
    ASSERT_TRUE(r.finished);
    EXPECT_NE(r.exit_code(), 0) << c.expect;
    EXPECT_NE(r.exit_code(), -1) << c.expect << ": " << r.Describe();
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    size_t lines = 0;
    for (char ch : r.err) lines += ch == '\n';
    EXPECT_EQ(lines, 1u) << r.err;
  }
}

}  // namespace
}  // namespace agentring::it
