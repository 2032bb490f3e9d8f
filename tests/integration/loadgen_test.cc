// Integration tests driving `agentring loadgen` (real writer processes and threads) through a
// real agentring-reader: exact span accounting end to end, drops counted exactly when the ring
// fills, a reader started after the writers, and many concurrent processes × threads.
#include <signal.h>

#include <string>

#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

// Idle window of readers that run while loadgen starts: the reader must not mistake the moment
// before loadgen's processes claim their lanes for the end of the run. (Readers that start
// after the writers are done use a short window: nothing is racing them.)
constexpr const char* kConcurrentIdleMs = "1000";
constexpr const char* kQuietIdleMs = "300";

TEST(Loadgen, LoadgenExactAccounting) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader =
      StartReader(seg.name(), dir, "reader", {"--create", "--exit-when-idle-ms", kConcurrentIdleMs});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "4", "--threads", "2", "--traces", "20",
                          "--spans-per-trace", "50", "--attrs", "4"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader));

  EXPECT_EQ(U64(summary, "spans_started"), 8000u);
  EXPECT_EQ(U64(summary, "spans_committed"), 8000u);
  EXPECT_EQ(U64(summary, "records_dropped"), 0u);
  EXPECT_EQ(U64(summary, "processes_failed"), 0u);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), U64(summary, "spans_committed"));
  EXPECT_EQ(U64(stats, "spans_exported"), 8000u);
  EXPECT_EQ(U64(stats, "traces_exported"), 160u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "records_read"), U64(summary, "records_committed"));
  EXPECT_EQ(U64(stats, "records_dropped_by_writers"), 0u);
  EXPECT_EQ(U64(stats, "span_starts_committed"), 8000u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);
  EXPECT_EQ(U64(stats, "duplicate_span_ids"), 0u);
  EXPECT_EQ(U64(stats, "export_failures"), 0u);
  // The reader side of the accounting invariant holds, with everything exported.
  const boost::json::object& acc = stats.at("accounting").as_object();
  EXPECT_TRUE(acc.at("balanced").as_bool()) << boost::json::serialize(acc);
  EXPECT_EQ(acc.at("spans_in_flight").as_int64(), 0);
  EXPECT_EQ(U64(acc, "spans_exported"), 8000u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  EXPECT_EQ(file.spans, 8000u);
  EXPECT_EQ(file.traces.size(), 160u);
  EXPECT_TRUE(EveryTraceIsOneTree(file));
  EXPECT_TRUE(SpanIdsUnique(file));
  EXPECT_EQ(PidsOf(file).size(), 4u);
  for (const auto& [trace_id, spans] : file.traces) {
    ASSERT_EQ(spans.size(), 50u) << "trace " << trace_id;
    ASSERT_EQ(PidsOf(spans).size(), 1u) << "trace " << trace_id << " mixes processes";
    for (const ExportedSpan& s : spans) {
      ASSERT_EQ(s.attributes.size(), 5u) << s.name;  // agent.kind + 4 loadgen attributes
      ASSERT_FALSE(s.HasAttribute("agentring.incomplete")) << s.name;
      ASSERT_LE(s.start_unix_ns, s.end_unix_ns) << s.name;
    }
  }
}

TEST(Loadgen, DropsCountedExactly) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  // Two lanes of 4 KiB: 64 records each.
  ReaderProcess reader = StartReader(
      seg.name(), dir, "reader",
      {"--create", "--lanes", "2", "--lane-kib", "4", "--exit-when-idle-ms", kQuietIdleMs});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  reader.child.Signal(SIGSTOP);  // nothing drains while loadgen overfills its lane

  boost::json::object summary;
  ::testing::AssertionResult ran = RunLoadgen(
      seg.name(), {"--processes", "1", "--threads", "1", "--traces", "1", "--spans-per-trace", "200"},
      &summary);
  reader.child.Signal(SIGCONT);
  ASSERT_TRUE(ran);
  ASSERT_TRUE(WaitForReaderExit(reader));

  const uint64_t started = U64(summary, "spans_started");
  const uint64_t committed = U64(summary, "spans_committed");
  const uint64_t dropped = U64(summary, "records_dropped");
  EXPECT_EQ(started, 200u);
  EXPECT_GT(committed, 0u);
  EXPECT_LT(committed, 200u);
  EXPECT_GT(dropped, 0u);
  // Every group is one record here (no attributes): the lane fills exactly.
  EXPECT_EQ(U64(summary, "records_committed"), 64u);
  // Every started span has a start record, every committed start an end record; each of them
  // was either committed or dropped (a span whose start was dropped writes no end).
  EXPECT_EQ(U64(summary, "records_committed") + dropped, started + committed);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "records_dropped_by_writers"), dropped);
  EXPECT_EQ(U64(stats, "span_starts_committed"), committed);
  EXPECT_EQ(U64(stats, "span_starts_dropped_full"), started - committed);
  EXPECT_EQ(U64(stats, "spans_exported"), committed);
  EXPECT_EQ(U64(stats, "spans_exported") + (started - committed), started);
  EXPECT_EQ(U64(stats, "records_read"), U64(summary, "records_committed"));
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  EXPECT_EQ(file.spans, committed);
  EXPECT_TRUE(SpanIdsUnique(file));
  // Parents of exported spans may have been dropped: parentage is not checked here. The root
  // was the first span started and the last to end: its start is in, its end was dropped, so
  // the reader closed it as incomplete when the writer was gone.
  ASSERT_EQ(file.traces.size(), 1u);
  std::vector<const ExportedSpan*> roots = FindByName(file.traces.begin()->second, "loadgen.root 0");
  ASSERT_EQ(roots.size(), 1u);
  EXPECT_TRUE(roots[0]->HasAttribute("agentring.incomplete"));
  EXPECT_GT(U64(stats, "spans_incomplete"), 0u);
}

TEST(Loadgen, ReaderStartedAfterWriters) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess creator = StartReader(seg.name(), dir, "creator", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), creator));
  ASSERT_TRUE(StopReader(creator));
  ASSERT_TRUE(SegmentExists(seg.name())) << "the segment did not outlive its reader";

  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "2", "--threads", "1", "--traces", "5",
                          "--spans-per-trace", "10"},
                         &summary));
  EXPECT_EQ(U64(summary, "spans_committed"), 100u);
  EXPECT_EQ(U64(summary, "records_dropped"), 0u);

  ReaderProcess reader = StartReader(seg.name(), dir, "late", {"--exit-when-idle-ms", kQuietIdleMs});
  ASSERT_TRUE(WaitForReaderExit(reader));
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), 100u);
  EXPECT_EQ(U64(stats, "traces_exported"), 10u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);
  EXPECT_EQ(U64(stats, "processes_reclaimed"), 2u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  EXPECT_EQ(file.spans, 100u);
  EXPECT_EQ(file.traces.size(), 10u);
  EXPECT_TRUE(EveryTraceIsOneTree(file));
  EXPECT_EQ(PidsOf(file).size(), 2u);
}

TEST(Loadgen, ManyProcessesThreads) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader =
      StartReader(seg.name(), dir, "reader", {"--create", "--exit-when-idle-ms", kConcurrentIdleMs});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "3", "--threads", "3", "--traces", "20",
                          "--spans-per-trace", "25", "--attrs", "2", "--rate", "20000",
                          "--span-us", "0"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader));
  EXPECT_EQ(U64(summary, "spans_committed"), 4500u);
  EXPECT_EQ(U64(summary, "records_dropped"), 0u);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), 4500u);
  EXPECT_EQ(U64(stats, "traces_exported"), 180u);
  EXPECT_EQ(U64(stats, "duplicate_span_ids"), 0u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  EXPECT_EQ(file.spans, 4500u);  // every span exactly once …
  EXPECT_TRUE(SpanIdsUnique(file));  // … and no span twice
  EXPECT_EQ(file.traces.size(), 180u);
  EXPECT_TRUE(EveryTraceIsOneTree(file));
  EXPECT_EQ(PidsOf(file).size(), 3u);
}

}  // namespace
}  // namespace agentring::it
