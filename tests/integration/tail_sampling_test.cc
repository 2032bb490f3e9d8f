// Tail sampling end to end: a real writer process, a real reader configured with a Collector
// `tail_sampling:` block (error traces, plus 10% of the rest), and the exported set checked
// against an independent computation of that rule.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "agentring/agentring.hpp"
#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"
#include "reader/sample/tail_sampler.h"

namespace agentring::it {
namespace {

reader::TraceId ParseTraceId(const std::string& hex) {
  reader::TraceId id;
  id.hi = std::stoull(hex.substr(0, 16), nullptr, 16);
  id.lo = std::stoull(hex.substr(16, 16), nullptr, 16);
  return id;
}

TEST(TailSampling, ErrorsPlusTenPercentIsExactlyWhatIsExported) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  const std::string config = dir.File("reader.yaml");
  std::ofstream(config) << R"(# Pasted from a Collector config: keep every error trace, and 10% of the rest.
tail_sampling:
  decision_wait: 10s
  num_traces: 50000
  policies:
    - name: errors
      type: status_code
      status_code: {status_codes: [ERROR]}
    - name: ten-percent
      type: probabilistic
      probabilistic: {hash_salt: "agentring-test", sampling_percentage: 10}
)";
  ReaderProcess reader = StartReader(
      seg.name(), dir, "reader", {"--create", "--config", config, "--exit-when-idle-ms", "1000"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  // 1000 traces of 3 spans; every 7th has a failing tool call. The writer reports each trace
  // id and whether it failed.
  constexpr int kTraces = 1000;
  const std::string ids_path = dir.File("ids.txt");
  Child writer = ForkWriter(seg.name(), [ids_path](int) {
    std::string lines;
    for (int i = 0; i < kTraces; ++i) {
      Span run("agent.run", Kind::kRun);
      {
        Span llm("chat", Kind::kLlm);
      }
      {
        Span tool("execute_tool", Kind::kTool);
        if (i % 7 == 0) tool.SetStatus(StatusCode::kError, "tool failed");
      }
      char id[33];
      SpanContext c = run.context();
      snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(c.trace_id_hi),
               static_cast<unsigned long long>(c.trace_id_lo));
      lines += std::string(id) + (i % 7 == 0 ? " error\n" : " ok\n");
    }
    // Written to a file: more than a pipe holds.
    std::ofstream(ids_path) << lines;
    return 0;
  });
  ASSERT_TRUE(writer.valid());
  ASSERT_TRUE(writer.Wait());
  ASSERT_TRUE(ExitedWith(writer.status(), 0)) << DescribeStatus(writer.status());
  ASSERT_TRUE(WaitForReaderExit(reader)) << ReadFileOrEmpty(reader.stderr_path);

  // The expected set, computed independently of the reader.
  std::ifstream ids(ids_path);
  std::set<std::string> expected;
  size_t traces = 0, errors = 0;
  const uint64_t threshold = reader::ProbabilisticThreshold(10);
  for (std::string id, what; ids >> id >> what; ++traces) {
    bool sampled = reader::ProbabilisticHash("agentring-test", ParseTraceId(id)) <= threshold;
    if (what == "error") ++errors;
    if (what == "error" || sampled) expected.insert(id);
  }
  ASSERT_EQ(traces, static_cast<size_t>(kTraces));

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  std::set<std::string> exported;
  for (const auto& [trace, spans] : file.traces) exported.insert(trace);
  EXPECT_EQ(exported, expected);
  EXPECT_EQ(file.spans, expected.size() * 3);
  // Sanity of the scenario itself: both policies kept something, and something was dropped.
  EXPECT_GT(expected.size(), errors);
  EXPECT_LT(expected.size(), traces);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_tail_sampled_out"), (traces - expected.size()) * 3);
  EXPECT_EQ(U64(stats, "traces_tail_sampled_out"), traces - expected.size());
  EXPECT_EQ(U64(stats, "spans_exported") + U64(stats, "spans_tail_sampled_out"),
            U64(stats, "span_starts_committed"));
  const boost::json::object& acc = stats.at("accounting").as_object();
  EXPECT_TRUE(acc.at("balanced").as_bool()) << boost::json::serialize(acc);
}

TEST(TailSampling, BadConfigIsAOneLineErrorAndExitTwo) {
  TempDir dir;
  const std::string config = dir.File("bad.yaml");
  std::ofstream(config) << "tail_sampling:\n  policies:\n    - {name: x, type: no_such_type}\n";
  CommandResult r = RunCommand({ReaderPath(), "--segment", "unused-tail-test", "--config", config});
  EXPECT_EQ(r.exit_code(), 2) << r.Describe();
  EXPECT_NE(r.err.find("no_such_type"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace agentring::it
