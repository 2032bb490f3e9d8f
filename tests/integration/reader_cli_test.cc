// Integration tests of the binaries' command lines: the reader's and the CLI's error exits, one
// reader per segment, `agentring stats` on a live segment, and `agentring demo` end to end.
#include <unistd.h>

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "agentring/agentring.hpp"
#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

TEST(ReaderCli, ReaderWithoutSegmentFails) {
  SegmentGuard seg(UniqueSegmentName());
  CommandResult r =
      RunCommand({ReaderPath(), "--segment", seg.name(), "--exporter", "jsonl", "--out", "/dev/null"});
  ASSERT_TRUE(r.finished) << r.Describe();
  EXPECT_EQ(r.exit_code(), 1) << r.Describe();
  EXPECT_NE(r.err.find("--create"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find(seg.name()), std::string::npos) << r.Describe();
  EXPECT_FALSE(SegmentExists(seg.name())) << "a reader without --create created the segment";
}

TEST(ReaderCli, UsageErrors) {
  SegmentGuard seg(UniqueSegmentName());

  CommandResult unknown = RunCommand({ReaderPath(), "--segment", seg.name(), "--no-such-flag"});
  EXPECT_EQ(unknown.exit_code(), 2) << unknown.Describe();
  EXPECT_NE(unknown.err.find("usage"), std::string::npos) << unknown.Describe();

  CommandResult lane = RunCommand({ReaderPath(), "--segment", seg.name(), "--create", "--lane-kib",
                                   "3", "--exporter", "jsonl", "--out", "/dev/null"});
  EXPECT_EQ(lane.exit_code(), 2) << lane.Describe();
  EXPECT_NE(lane.err.find("--lane-kib"), std::string::npos) << lane.Describe();
  EXPECT_FALSE(SegmentExists(seg.name())) << "a usage error still created the segment";

  CommandResult exporter = RunCommand({ReaderPath(), "--segment", seg.name(), "--create",
                                       "--exporter", "xml"});
  EXPECT_EQ(exporter.exit_code(), 2) << exporter.Describe();

  CommandResult loadgen = RunCommand({CliPath(), "loadgen", "--processes", "1"});
  EXPECT_EQ(loadgen.exit_code(), 2) << loadgen.Describe();
  EXPECT_NE(loadgen.err.find("--segment"), std::string::npos) << loadgen.Describe();

  CommandResult rm = RunCommand({CliPath(), "rm", seg.name()});
  EXPECT_EQ(rm.exit_code(), 1) << rm.Describe();
  EXPECT_NE(rm.err.find(seg.name()), std::string::npos) << rm.Describe();

  CommandResult command = RunCommand({CliPath(), "no-such-command"});
  EXPECT_EQ(command.exit_code(), 2) << command.Describe();
}

TEST(ReaderCli, RmRemovesALiveSegmentName) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  CommandResult rm = RunCommand({CliPath(), "rm", seg.name()});
  EXPECT_EQ(rm.exit_code(), 0) << rm.Describe();
  EXPECT_FALSE(SegmentExists(seg.name()));
  EXPECT_TRUE(StopReader(reader));  // its mapping stays valid after the name is gone
}

TEST(ReaderCli, SecondReaderRefused) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess first = StartReader(seg.name(), dir, "first", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), first));

  CommandResult second = RunCommand({ReaderPath(), "--segment", seg.name(), "--exporter", "jsonl",
                                     "--out", dir.File("second.jsonl")});
  ASSERT_TRUE(second.finished) << second.Describe();
  EXPECT_EQ(second.exit_code(), 1) << second.Describe();
  EXPECT_NE(second.err.find("another reader"), std::string::npos) << second.Describe();
  EXPECT_NE(second.err.find(std::to_string(first.child.pid())), std::string::npos)
      << second.Describe();

  // --create on an existing compatible segment is an attach, and is refused the same way.
  CommandResult third = RunCommand({ReaderPath(), "--segment", seg.name(), "--create",
                                    "--exporter", "jsonl", "--out", dir.File("third.jsonl")});
  EXPECT_EQ(third.exit_code(), 1) << third.Describe();
  EXPECT_NE(third.err.find("another reader"), std::string::npos) << third.Describe();

  EXPECT_FALSE(first.child.Exited()) << "the first reader died: " << DescribeStatus(first.child.status());
  EXPECT_TRUE(StopReader(first));

  // Once the first reader is gone, its lock is gone: a successor takes over.
  ReaderProcess successor = StartReader(seg.name(), dir, "successor", {"--exit-when-idle-ms", "0"});
  EXPECT_TRUE(WaitForReaderExit(successor));
}

TEST(ReaderCli, StatsCommand) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader =
      StartReader(seg.name(), dir, "reader", {"--create", "--lanes", "4", "--lane-kib", "16"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  // A writer process holding one span open on one lane while `stats` looks.
  Gate release;
  Child writer = ForkWriter(seg.name(), [&release](int report) {
    Span held("it.held", Kind::kRun);
    Report(report, "committed", std::to_string(GetWriterStats().span_starts_committed));
    if (!release.WaitInChild()) return 3;
    return 0;
  });
  ASSERT_TRUE(writer.valid());
  std::optional<std::string> line = writer.ReadReportLine();
  ASSERT_TRUE(line.has_value()) << "the writer child did not report";
  ASSERT_EQ(*line, "committed=1");

  CommandResult r = RunCommand({CliPath(), "stats", "--segment", seg.name(), "--json"});
  ASSERT_EQ(r.exit_code(), 0) << r.Describe();
  boost::json::object s;
  ASSERT_TRUE(ParseJsonObject(r.out, &s));
  EXPECT_EQ(boost::json::value_to<std::string>(s.at("segment")), seg.name());
  EXPECT_EQ(U64(s, "lanes"), 4u);
  EXPECT_EQ(U64(s, "lane_kib"), 16u);
  EXPECT_EQ(U64(s, "lane_capacity_records"), 256u);
  EXPECT_EQ(U64(s, "process_slots"), 64u);
  EXPECT_EQ(U64(s, "reader_pid"), static_cast<uint64_t>(reader.child.pid()));
  EXPECT_EQ(s.at("reader_alive"), boost::json::value(true));
  EXPECT_EQ(U64(s, "lanes_in_use"), 1u);
  EXPECT_EQ(U64(s, "processes_attached"), 1u);
  EXPECT_EQ(U64(s, "processes_refused_no_slot"), 0u);
  ASSERT_TRUE(s.at("lane_table").is_array());
  ASSERT_EQ(s.at("lane_table").get_array().size(), 1u) << r.out;
  const boost::json::object& lane = s.at("lane_table").get_array()[0].get_object();
  EXPECT_EQ(boost::json::value_to<std::string>(lane.at("state")), "owned");
  EXPECT_EQ(boost::json::value_to<int64_t>(lane.at("pid")), writer.pid()) << r.out;
  EXPECT_EQ(U64(lane, "span_starts_committed"), 1u);
  EXPECT_EQ(U64(lane, "groups_dropped"), 0u);
  ASSERT_TRUE(s.at("processes").is_array());
  ASSERT_EQ(s.at("processes").get_array().size(), 1u) << r.out;
  const boost::json::object& proc = s.at("processes").get_array()[0].get_object();
  EXPECT_EQ(boost::json::value_to<int64_t>(proc.at("pid")), writer.pid()) << r.out;
  EXPECT_EQ(proc.at("alive"), boost::json::value(true));
  const boost::json::object& dropped = s.at("dropped").get_object();
  for (const char* k : {"full", "too_big", "no_lane", "no_segment", "sampled_out"})
    EXPECT_EQ(U64(dropped, k), 0u) << k;

  CommandResult text = RunCommand({CliPath(), "stats", "--segment", seg.name()});
  EXPECT_EQ(text.exit_code(), 0) << text.Describe();
  EXPECT_NE(text.out.find(seg.name()), std::string::npos) << text.out;

  release.Open();
  ASSERT_TRUE(writer.Wait());
  EXPECT_TRUE(ExitedWith(writer.status(), 0)) << DescribeStatus(writer.status());
  ASSERT_TRUE(StopReader(reader));
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), 1u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);

  SegmentGuard missing(UniqueSegmentName() + "-missing");
  CommandResult none = RunCommand({CliPath(), "stats", "--segment", missing.name(), "--json"});
  EXPECT_EQ(none.exit_code(), 1) << none.Describe();
}

TEST(ReaderCli, DemoEndToEnd) {
  TempDir dir;
  const std::string out_dir = dir.File("demo");
  CommandResult r = RunCommand({CliPath(), "demo", "--out-dir", out_dir});
  SegmentGuard demo_segment("agentring-demo-" + std::to_string(r.pid));
  ASSERT_EQ(r.exit_code(), 0) << r.Describe();
  EXPECT_FALSE(SegmentExists(demo_segment.name())) << "the demo left its segment behind";

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(out_dir + "/traces.jsonl", &file));
  ASSERT_EQ(file.traces.size(), 1u);
  const auto& [trace_id, spans] = *file.traces.begin();
  EXPECT_TRUE(ParentsResolveWithinTrace(trace_id, spans));
  EXPECT_TRUE(HasExactlyOneRoot(trace_id, spans));
  EXPECT_TRUE(SpanIdsUnique(file));
  EXPECT_EQ(PidsOf(spans).size(), 3u);
  std::set<std::string> names = NamesOf(spans);
  for (const char* n : {"execute_query", "chat gpt-4o", "agent.turn 1", "execute_tool filesystem",
                        "task_execution"})
    EXPECT_EQ(names.count(n), 1u) << "no span named '" << n << "'";
  // Both task processes nest their task_execution under the orchestrator's DAG span.
  std::vector<const ExportedSpan*> dag = FindByName(spans, "execute_workflow_dag");
  std::vector<const ExportedSpan*> tasks = FindByName(spans, "task_execution");
  ASSERT_EQ(dag.size(), 1u);
  ASSERT_EQ(tasks.size(), 2u);
  for (const ExportedSpan* t : tasks) {
    EXPECT_EQ(t->parent_span_id, dag[0]->span_id);
    EXPECT_NE(t->pid, dag[0]->pid);
  }
  EXPECT_NE(tasks[0]->pid, tasks[1]->pid);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(out_dir + "/stats.json", &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), file.spans);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "records_dropped_by_writers"), 0u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);
}

}  // namespace
}  // namespace agentring::it
