// Integration tests of the writer library in real processes (forked children of the test, and
// the `agentring _demo-task` agent): no reader at all, trace context across exec through
// TRACEPARENT, fork, thread exit and lane reuse, and a span ended on another thread.
#include <unistd.h>

#include <chrono>
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

// Hex ids of a valid context, as the OTLP JSON exporter writes them.
std::string TraceIdHex(const SpanContext& c) { return c.ToTraceparent().substr(3, 32); }
std::string SpanIdHex(const SpanContext& c) { return c.ToTraceparent().substr(36, 16); }

// Runs a writer child to completion: its report, and a failure unless it exited 0.
::testing::AssertionResult FinishWriter(Child& writer, std::map<std::string, std::string>* report) {
  if (!writer.valid()) return ::testing::AssertionFailure() << "the writer child was not forked";
  std::string text = writer.ReadReportToEof();
  *report = ParseReport(text);
  if (!writer.Wait())
    return ::testing::AssertionFailure() << "the writer child did not exit in time; report: " << text;
  if (!ExitedWith(writer.status(), 0))
    return ::testing::AssertionFailure()
           << "the writer child " << DescribeStatus(writer.status()) << "; report: " << text;
  return ::testing::AssertionSuccess();
}

TEST(WriterProcess, WriterWithNoReader) {
  SegmentGuard seg(UniqueSegmentName());  // removed first: there is no segment
  constexpr int kRoots = 20;
  Child writer = ForkWriter(seg.name(), [](int report) {
    for (int i = 0; i < kRoots; ++i) {
      Span root("it.no_reader", Kind::kRun, {{"i", i}});
      Span child("it.no_reader.child", Kind::kTool);
      child.Set("more", "attributes");
      child.AddEvent("event");
      child.SetStatus(StatusCode::kError, "nobody is listening");
    }
    WriterStats s = GetWriterStats();
    Report(report, "started", std::to_string(s.spans_started));
    Report(report, "no_segment", std::to_string(s.span_starts_dropped_no_segment));
    Report(report, "committed", std::to_string(s.span_starts_committed));
    Report(report, "no_lane", std::to_string(s.span_starts_dropped_no_lane));
    Report(report, "records_committed", std::to_string(s.records_committed));
    return 0;
  });
  std::map<std::string, std::string> r;
  ASSERT_TRUE(FinishWriter(writer, &r));
  EXPECT_EQ(r["started"], std::to_string(2 * kRoots));
  EXPECT_EQ(r["no_segment"], std::to_string(2 * kRoots));
  EXPECT_EQ(r["committed"], "0");
  EXPECT_EQ(r["no_lane"], "0");
  EXPECT_EQ(r["records_committed"], "0");
  EXPECT_FALSE(SegmentExists(seg.name())) << "a writer created the segment";
}

TEST(WriterProcess, CrossProcessTraceparent) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  const std::string segment = seg.name();
  Child writer = ForkWriter(segment, [&segment](int report) {
    Span parent("it.spawner", Kind::kRun);
    const std::string traceparent = parent.context().ToTraceparent();
    Report(report, "traceparent", traceparent);
    Report(report, "pid", std::to_string(getpid()));
    // The real agent binary, told about its parent only through the environment.
    Child task = Spawn({CliPath(), "_demo-task", "--task-id", "t1", "--agent", "A"},
                       {{"TRACEPARENT", traceparent},
                        {"AGENTRING_SEGMENT", segment},
                        {"OTEL_SERVICE_NAME", "it-task"}});
    Report(report, "task_pid", std::to_string(task.pid()));
    bool finished = task.Wait();
    Report(report, "task_status", finished ? DescribeStatus(task.status()) : "timed out");
    parent.End();
    return finished && ExitedWith(task.status(), 0) ? 0 : 4;
  });
  std::map<std::string, std::string> r;
  ASSERT_TRUE(FinishWriter(writer, &r));
  ASSERT_TRUE(StopReader(reader));
  ASSERT_EQ(r["traceparent"].size(), 55u) << r["traceparent"];
  const std::string trace_id = r["traceparent"].substr(3, 32);
  const std::string parent_id = r["traceparent"].substr(36, 16);
  const int64_t writer_pid = std::stoll(r["pid"]);
  const int64_t task_pid = std::stoll(r["task_pid"]);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  ASSERT_EQ(file.traces.size(), 1u) << "the task's spans did not join the spawner's trace";
  ASSERT_EQ(file.traces.count(trace_id), 1u);
  const std::vector<ExportedSpan>& spans = file.traces.at(trace_id);
  EXPECT_EQ(file.spans, U64(stats, "spans_exported"));
  EXPECT_TRUE(ParentsResolveWithinTrace(trace_id, spans));
  EXPECT_TRUE(HasExactlyOneRoot(trace_id, spans));

  std::vector<const ExportedSpan*> spawner = FindByName(spans, "it.spawner");
  ASSERT_EQ(spawner.size(), 1u);
  EXPECT_EQ(spawner[0]->span_id, parent_id);
  EXPECT_EQ(spawner[0]->parent_span_id, "");
  EXPECT_EQ(spawner[0]->pid, writer_pid);

  std::vector<const ExportedSpan*> task = FindByName(spans, "task_execution");
  ASSERT_EQ(task.size(), 1u);
  EXPECT_EQ(task[0]->parent_span_id, parent_id);
  EXPECT_EQ(task[0]->pid, task_pid);
  EXPECT_NE(task[0]->pid, writer_pid);
  EXPECT_EQ(task[0]->StringAttribute("task.id"), "t1");
  EXPECT_EQ(PidsOf(spans), (std::set<int64_t>{writer_pid, task_pid}));
}

TEST(WriterProcess, ForkChildGetsOwnLane) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  Child writer = ForkWriter(seg.name(), [](int report) {
    Span parent("it.fork_parent", Kind::kRun);
    Report(report, "parent_span", SpanIdHex(parent.context()));
    Report(report, "parent_pid", std::to_string(getpid()));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      const SpanContext at_fork = CurrentContext();
      {
        Span child("it.fork_child", Kind::kCustom, {{"side", "child"}});
        Report(report, "child_span", SpanIdHex(child.context()));
        Report(report, "child_trace", TraceIdHex(child.context()));
      }
      Report(report, "child_current_at_fork", SpanIdHex(at_fork));
      Report(report, "child_pid", std::to_string(getpid()));
      Report(report, "child_committed", std::to_string(GetWriterStats().span_starts_committed));
      _exit(0);  // never unwind into the parent's span in this copy of the process
    }
    if (pid < 0) return 8;
    Child grandchild(pid);
    bool finished = grandchild.Wait();
    Report(report, "grandchild_status", finished ? DescribeStatus(grandchild.status()) : "timed out");
    parent.End();
    Report(report, "parent_committed", std::to_string(GetWriterStats().span_starts_committed));
    return finished && ExitedWith(grandchild.status(), 0) ? 0 : 9;
  });
  std::map<std::string, std::string> r;
  ASSERT_TRUE(FinishWriter(writer, &r));
  ASSERT_TRUE(StopReader(reader));
  EXPECT_EQ(r["child_current_at_fork"], r["parent_span"]);
  EXPECT_EQ(r["child_committed"], "1") << "the child counted the parent's spans (shared lane?)";
  EXPECT_EQ(r["parent_committed"], "1");

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), 2u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);
  EXPECT_EQ(U64(stats, "duplicate_span_ids"), 0u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  ASSERT_EQ(file.traces.size(), 1u);
  const auto& [trace_id, spans] = *file.traces.begin();
  EXPECT_EQ(trace_id, r["child_trace"]);
  std::vector<const ExportedSpan*> parent = FindByName(spans, "it.fork_parent");
  std::vector<const ExportedSpan*> child = FindByName(spans, "it.fork_child");
  ASSERT_EQ(parent.size(), 1u);
  ASSERT_EQ(child.size(), 1u);
  EXPECT_EQ(parent[0]->span_id, r["parent_span"]);
  EXPECT_EQ(child[0]->span_id, r["child_span"]);
  EXPECT_EQ(child[0]->parent_span_id, parent[0]->span_id);
  EXPECT_EQ(parent[0]->pid, std::stoll(r["parent_pid"]));
  EXPECT_EQ(child[0]->pid, std::stoll(r["child_pid"]));
  EXPECT_NE(child[0]->pid, parent[0]->pid);
  EXPECT_EQ(child[0]->StringAttribute("side"), "child");
}

TEST(WriterProcess, ThreadExitAndLaneReuse) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create", "--lanes", "2"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  constexpr int kThreads = 10;
  constexpr int kSpansPerThread = 10;
  const std::string segment = seg.name();
  Child writer = ForkWriter(segment, [&segment](int report) {
    internal::OpenStatus status;
    std::string error;
    std::unique_ptr<internal::SegmentMap> map = internal::SegmentMap::Open(segment, &status, &error);
    if (map == nullptr) {
      Report(report, "error", error);
      return 6;
    }
    for (int i = 0; i < kThreads; ++i) {
      std::thread t([i] {
        for (int k = 0; k < kSpansPerThread; ++k) Span s("it.thread_span", Kind::kCustom, Suffix(i));
      });
      t.join();
      // The exited thread released its lane; wait (bounded) for the reader to free it, so the
      // next thread can only get a lane by reusing one.
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      for (;;) {
        bool all_free = true;
        for (uint32_t l = 0; l < map->lane_count(); ++l)
          all_free &= map->lane_slot(l)->entry.state.load(std::memory_order_acquire) ==
                      abi::kLaneFree;
        if (all_free) break;
        if (std::chrono::steady_clock::now() >= deadline) {
          Report(report, "error", "lanes not freed after thread " + std::to_string(i));
          return 7;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    WriterStats s = GetWriterStats();
    Report(report, "committed", std::to_string(s.span_starts_committed));
    Report(report, "no_lane", std::to_string(s.span_starts_dropped_no_lane));
    Report(report, "records_dropped", std::to_string(s.records_dropped));
    return 0;
  });
  std::map<std::string, std::string> r;
  ASSERT_TRUE(FinishWriter(writer, &r));
  ASSERT_TRUE(StopReader(reader));
  EXPECT_EQ(r["committed"], std::to_string(kThreads * kSpansPerThread));
  EXPECT_EQ(r["no_lane"], "0");
  EXPECT_EQ(r["records_dropped"], "0");

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), 100u);
  EXPECT_EQ(U64(stats, "traces_exported"), 100u);
  EXPECT_EQ(U64(stats, "lanes_freed"), 10u);  // one claim and one free per thread
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  EXPECT_EQ(file.spans, 100u);
  EXPECT_EQ(PidsOf(file), (std::set<int64_t>{writer.pid()}));
  std::map<std::string, int> per_name;
  for (const auto& [trace_id, spans] : file.traces)
    for (const ExportedSpan& s : spans) ++per_name[s.name];
  ASSERT_EQ(per_name.size(), 10u);
  for (int i = 0; i < kThreads; ++i)
    EXPECT_EQ(per_name["it.thread_span " + std::to_string(i)], kSpansPerThread) << i;
}

TEST(WriterProcess, SpanEndsOnAnotherThread) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  Child writer = ForkWriter(seg.name(), [](int report) {
    std::unique_ptr<Span> handed_over;
    std::thread a([&] {
      Span s("it.handoff", Kind::kCustom, SpanContext{}, Suffix(), {{"started.on", "a"}},
             Span::kDetached);
      Report(report, "handoff_span", SpanIdHex(s.context()));
      {
        // A detached span does not become the thread's current span.
        Span after("it.after_detached", Kind::kCustom);
      }
      handed_over = std::make_unique<Span>(std::move(s));
    });  // thread A exits: its lane is released with the span still open
    a.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::thread b([&] {
      handed_over->Set("ended.on", "b");
      handed_over->End();
    });
    b.join();
    return 0;
  });
  std::map<std::string, std::string> r;
  ASSERT_TRUE(FinishWriter(writer, &r));
  ASSERT_TRUE(StopReader(reader));

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), 2u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  ASSERT_EQ(file.traces.size(), 2u) << "the span after the detached one nested under it";
  const ExportedSpan* handoff = nullptr;
  const ExportedSpan* after = nullptr;
  for (const auto& [trace_id, spans] : file.traces) {
    for (const ExportedSpan& s : spans) {
      if (s.name == "it.handoff") handoff = &s;
      if (s.name == "it.after_detached") after = &s;
    }
  }
  ASSERT_NE(handoff, nullptr);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(handoff->span_id, r["handoff_span"]);
  EXPECT_EQ(handoff->parent_span_id, "");
  EXPECT_EQ(after->parent_span_id, "");
  EXPECT_GT(handoff->end_unix_ns, handoff->start_unix_ns);
  // Ended by its owner on thread B, not closed by the reader.
  EXPECT_FALSE(handoff->HasAttribute("agentring.incomplete"));
  EXPECT_EQ(handoff->StringAttribute("started.on"), "a");
  EXPECT_EQ(handoff->StringAttribute("ended.on"), "b");
}

}  // namespace
}  // namespace agentring::it
