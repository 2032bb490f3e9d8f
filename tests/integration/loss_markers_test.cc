// Integration test of what the reader exports when a full lane made a writer drop records:
// a real writer process, a real reader on a segment with 64-record lanes, stopped with SIGSTOP
// while the writer fills its lane (so a span start and an event are dropped) and resumed with
// SIGCONT. Every exported span's parent must be in its trace (a placeholder stands in for the
// dropped start), the affected root must carry the loss markers, and every count is exact.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agentring/abi/segment.h"
#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

constexpr int kLaneRecords = 64;  // --lane-kib 4: 4096 / 64-byte records

std::string SpanIdHex(const SpanContext& c) { return c.ToTraceparent().substr(36, 16); }
std::string TraceIdHex(const SpanContext& c) { return c.ToTraceparent().substr(3, 32); }

// Waits (bounded) until every owned lane of the segment is drained (tail == head).
::testing::AssertionResult WaitForLanesDrained(const std::string& segment) {
  internal::OpenStatus status;
  std::string error;
  std::unique_ptr<internal::SegmentMap> seg = internal::SegmentMap::Open(segment, &status, &error);
  if (!seg) return ::testing::AssertionFailure() << "cannot open " << segment << ": " << error;
  const auto deadline = std::chrono::steady_clock::now() + kProcessTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool drained = true;
    for (uint32_t i = 0; i < seg->lane_count(); ++i) {
      abi::LaneSlot* ls = seg->lane_slot(i);
      uint64_t head = ls->writer.head.load(std::memory_order_acquire);
      uint64_t tail = ls->reader.tail.load(std::memory_order_acquire);
      if (head != tail) drained = false;
    }
    if (drained) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return ::testing::AssertionFailure() << "the reader did not drain " << segment << " in time";
}

// Stops the reader and waits until it is stopped (not merely signalled).
::testing::AssertionResult StopAndWait(Child& reader) {
  reader.Signal(SIGSTOP);
  int status = 0;
  if (waitpid(reader.pid(), &status, WUNTRACED) != reader.pid() || !WIFSTOPPED(status))
    return ::testing::AssertionFailure() << "the reader did not stop: " << DescribeStatus(status);
  return ::testing::AssertionSuccess();
}

// The reader's idle exit: before the parent wait (2 s) ends, so the final flush makes the
// placeholder, or after it, so the trace's own decision does. Both must export the same.
class LossMarkers : public ::testing::TestWithParam<const char*> {};

TEST_P(LossMarkers, FullLaneDropsAreSynthesizedAndMarked) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader",
                                     {"--create", "--lane-kib", "4", "--exit-when-idle-ms", GetParam()});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  Gate fill;     // the reader is stopped: fill the lane
  Gate resume;   // the reader drained the lane again: finish
  Child writer = ForkWriter(seg.name(), [&](int report) {
    { Span warm("it.warmup", Kind::kRun); }  // claims the lane while the reader runs
    Report(report, "attached", "1");
    if (!fill.WaitInChild()) return 3;
    auto dropped = [] { return GetWriterStats().records_dropped; };
    Span root("it.root", Kind::kRun);  // 1 record
    for (int i = 0; i < kLaneRecords - 1; ++i) root.AddEvent("it.fill");  // 63 more: full
    if (dropped() != 0) return 4;
    root.AddEvent("it.fill.dropped");  // no room: dropped, counted on the root's span
    if (dropped() != 1) return 5;
    Span mid("it.mid", Kind::kTask);  // its start is dropped; it stays the current span
    if (GetWriterStats().span_starts_dropped_full != 1) return 6;
    Report(report, "trace", TraceIdHex(root.context()));
    Report(report, "root", SpanIdHex(root.context()));
    Report(report, "mid", SpanIdHex(mid.context()));
    Report(report, "filled", "1");
    if (!resume.WaitInChild()) return 7;
    for (int i = 0; i < 3; ++i) Span child("it.child", Kind::kTool, Suffix(i));  // under mid
    mid.End();   // writes nothing: its start was never committed
    root.End();  // its end record says one of its groups was dropped
    {
      Span second("it.second", Kind::kRun);
      Span leaf("it.second.leaf", Kind::kTool);
      Report(report, "second", TraceIdHex(second.context()));
    }
    WriterStats s = GetWriterStats();
    Report(report, "committed", std::to_string(s.span_starts_committed));
    Report(report, "dropped_full", std::to_string(s.span_starts_dropped_full));
    Report(report, "records_dropped", std::to_string(s.records_dropped));
    return 0;
  });
  ASSERT_TRUE(writer.valid());
  ASSERT_EQ(writer.ReadReportLine(), "attached=1");
  ASSERT_TRUE(WaitForLanesDrained(seg.name()));  // the warm-up is out of the lane
  ASSERT_TRUE(StopAndWait(reader.child));
  fill.Open();
  std::map<std::string, std::string> r;
  for (int i = 0; i < 4; ++i) {
    std::optional<std::string> line = writer.ReadReportLine();
    ASSERT_TRUE(line.has_value()) << "writer: " << (writer.Exited() ? DescribeStatus(writer.status()) : "no report");
    auto kv = ParseReport(*line + "\n");
    r.insert(kv.begin(), kv.end());
  }
  ASSERT_EQ(r["filled"], "1");
  reader.child.Signal(SIGCONT);
  ASSERT_TRUE(WaitForLanesDrained(seg.name()));
  resume.Open();
  auto rest = ParseReport(writer.ReadReportToEof());
  r.insert(rest.begin(), rest.end());
  ASSERT_TRUE(writer.Wait());
  ASSERT_TRUE(ExitedWith(writer.status(), 0)) << DescribeStatus(writer.status());
  ASSERT_TRUE(WaitForReaderExit(reader));

  // The writer's side: 7 starts committed (warm-up, root, 3 children, second, leaf), the mid
  // span's start dropped, and two records dropped (the event and the mid start).
  EXPECT_EQ(r["committed"], "7");
  EXPECT_EQ(r["dropped_full"], "1");
  EXPECT_EQ(r["records_dropped"], "2");

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  EXPECT_TRUE(EveryTraceIsOneTree(file));
  EXPECT_TRUE(SpanIdsUnique(file));
  ASSERT_EQ(file.traces.size(), 3u);
  EXPECT_EQ(file.spans, 8u);  // 7 committed starts and 1 placeholder
  ASSERT_EQ(file.traces.count(r["trace"]), 1u);
  const std::vector<ExportedSpan>& spans = file.traces.at(r["trace"]);
  ASSERT_EQ(spans.size(), 5u);  // root, placeholder, 3 children
  EXPECT_TRUE(ParentsResolveWithinTrace(r["trace"], spans));

  const ExportedSpan* root = nullptr;
  const ExportedSpan* placeholder = nullptr;
  for (const ExportedSpan& s : spans) {
    if (s.span_id == r["root"]) root = &s;
    if (s.span_id == r["mid"]) placeholder = &s;
  }
  ASSERT_NE(root, nullptr);
  ASSERT_NE(placeholder, nullptr) << "no placeholder for the dropped start of it.mid";
  EXPECT_EQ(placeholder->name, "(missing span)");
  EXPECT_EQ(placeholder->parent_span_id, r["root"]);
  EXPECT_EQ(placeholder->status_code, 2);  // STATUS_CODE_ERROR
  ASSERT_TRUE(placeholder->HasAttribute("agentring.placeholder"));
  EXPECT_EQ(boost::json::serialize(placeholder->attributes.at("agentring.placeholder")),
            R"({"boolValue":true})");
  std::vector<const ExportedSpan*> children = FindByName(spans, "it.child 0");
  for (const char* n : {"it.child 1", "it.child 2"})
    for (const ExportedSpan* c : FindByName(spans, n)) children.push_back(c);
  ASSERT_EQ(children.size(), 3u);
  uint64_t first_start = UINT64_MAX, last_end = 0;
  for (const ExportedSpan* c : children) {
    EXPECT_EQ(c->parent_span_id, r["mid"]);
    first_start = std::min(first_start, c->start_unix_ns);
    last_end = std::max(last_end, c->end_unix_ns);
  }
  EXPECT_EQ(placeholder->start_unix_ns, first_start);
  EXPECT_EQ(placeholder->end_unix_ns, last_end);

  // The root: 2 groups known lost (the placeholder's start, the event its end record reports),
  // and its lane dropped groups while it was open.
  ASSERT_TRUE(root->HasAttribute("agentring.dropped_records"));
  EXPECT_EQ(boost::json::serialize(root->attributes.at("agentring.dropped_records")),
            R"({"intValue":"2"})");
  ASSERT_TRUE(root->HasAttribute("agentring.possible_loss"));
  EXPECT_FALSE(placeholder->HasAttribute("agentring.dropped_records"));
  // The other traces lost nothing: no markers.
  for (const auto& [trace_id, other] : file.traces) {
    if (trace_id == r["trace"]) continue;
    for (const ExportedSpan& s : other) {
      EXPECT_FALSE(s.HasAttribute("agentring.dropped_records")) << s.name;
      EXPECT_FALSE(s.HasAttribute("agentring.possible_loss")) << s.name;
    }
  }

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_synthesized"), 1u);
  EXPECT_EQ(U64(stats, "span_starts_committed"), 7u);
  EXPECT_TRUE(stats.at("accounting").as_object().at("balanced").as_bool())
      << boost::json::serialize(stats.at("accounting"));
  EXPECT_EQ(U64(stats, "span_starts_read"), 7u);
  EXPECT_EQ(U64(stats, "spans_started_read"), 7u);
  EXPECT_EQ(U64(stats, "spans_exported"), 7u);  // committed spans: the placeholder is not one
  EXPECT_EQ(U64(stats, "span_starts_dropped_full"), 1u);
  EXPECT_EQ(U64(stats, "records_dropped_full"), 2u);
  EXPECT_EQ(U64(stats, "spans_rejected"), 0u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "duplicate_span_ids"), 0u);
  EXPECT_EQ(U64(stats, "starts_after_placeholder"), 0u);
  EXPECT_EQ(U64(stats, "records_orphaned"), 0u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);
  EXPECT_EQ(U64(stats, "trace_parts_dropped_records"), 1u);
  EXPECT_EQ(U64(stats, "trace_parts_possible_loss"), 1u);
  EXPECT_EQ(U64(stats, "traces_exported"), 3u);
}

INSTANTIATE_TEST_SUITE_P(IdleExit, LossMarkers, ::testing::Values("300", "4000"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param == std::string("300") ? "AtShutdown"
                                                                            : "ByDecision");
                         });

}  // namespace
}  // namespace agentring::it
