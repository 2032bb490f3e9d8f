// ExporterQueue: batching, the two full-queue policies, failure counting, and a shutdown that
// unblocks an exporter stuck in a call.
#include "reader/pipeline/exporter_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include <unistd.h>

namespace agentring::reader {
namespace {

std::shared_ptr<const TraceBatch> Trace(uint64_t id, size_t spans) {
  auto b = std::make_shared<TraceBatch>();
  b->trace_id = {1, id};
  for (size_t i = 0; i < spans; ++i) b->spans.push_back(std::make_unique<SpanData>());
  return b;
}

// An exporter that records what it got, can fail, and can block until released (or shut down).
class FakeExporter final : public Exporter {
 public:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool blocked = false;     // ExportBatch waits while true
    bool shut_down = false;
    bool fail = false;
    std::vector<size_t> calls;  // traces per ExportBatch call
    uint64_t spans = 0;
    int flushes = 0;
  };
  explicit FakeExporter(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::string_view name() const override { return "fake"; }
  bool Export(const TraceBatch&) override { return true; }
  uint64_t ExportBatch(std::span<const TraceBatch* const> traces) override {
    std::unique_lock<std::mutex> lock(s_->mu);
    s_->cv.wait(lock, [&] { return !s_->blocked || s_->shut_down; });
    uint64_t n = 0;
    for (const TraceBatch* t : traces) n += t->spans.size();
    if (s_->shut_down || s_->fail) return n;
    s_->calls.push_back(traces.size());
    s_->spans += n;
    return 0;
  }
  void Flush() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->flushes++;
  }
  void Shutdown() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->shut_down = true;
    s_->cv.notify_all();
  }

 private:
  std::shared_ptr<State> s_;
};

TEST(ExporterQueue, BatchesUpToTheLimitAndDeliversEverything) {
  auto st = std::make_shared<FakeExporter::State>();
  ExporterQueueOptions o;
  o.max_batch_spans = 10;
  o.schedule_delay_ms = 10000;  // only full batches, flushes and stop send
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->blocked = true;  // hold the first call so the rest accumulates
  }
  ExporterQueue q(std::make_unique<FakeExporter>(st), o);
  for (uint64_t i = 0; i < 10; ++i) q.Push(Trace(i, 5));  // 50 spans
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->blocked = false;
    st->cv.notify_all();
  }
  ASSERT_TRUE(q.ForceFlush(10000));
  q.Stop(10000);
  ExporterQueueStats s = q.Stats();
  EXPECT_EQ(s.spans_exported, 50u);
  EXPECT_EQ(st->spans, 50u);
  size_t traces = 0;
  for (size_t c : st->calls) {
    EXPECT_LE(c, 2u);  // 10 spans per call at most: two 5-span traces
    traces += c;
  }
  EXPECT_EQ(traces, 10u);
  EXPECT_GE(st->flushes, 1);
}

TEST(ExporterQueue, FullQueueDropsNewestAndCountsThem) {
  auto st = std::make_shared<FakeExporter::State>();
  st->blocked = true;
  ExporterQueueOptions o;
  o.max_queue_spans = 20;
  o.max_batch_spans = 5;
  o.schedule_delay_ms = 0;
  ExporterQueue q(std::make_unique<FakeExporter>(st), o);
  q.Push(Trace(0, 5));
  // Wait until the thread holds the first trace inside the blocked exporter.
  for (int i = 0; i < 10000 && q.Stats().queue_spans != 0; ++i) usleep(1000);
  ASSERT_EQ(q.Stats().queue_spans, 0u);
  for (uint64_t i = 1; i <= 6; ++i) q.Push(Trace(i, 5));  // 4 fit (20 spans), 2 dropped
  ExporterQueueStats s = q.Stats();
  EXPECT_EQ(s.queue_spans, 20u);
  EXPECT_EQ(s.spans_lost_queue_full, 10u);
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->blocked = false;
    st->cv.notify_all();
  }
  q.Stop(10000);
  s = q.Stats();
  EXPECT_EQ(s.spans_exported, 25u);
  EXPECT_EQ(s.spans_lost_queue_full, 10u);
}

TEST(ExporterQueue, FailedExportsAreCountedAsLost) {
  auto st = std::make_shared<FakeExporter::State>();
  st->fail = true;
  ExporterQueue q(std::make_unique<FakeExporter>(st), ExporterQueueOptions{});
  q.Push(Trace(0, 3));
  q.Push(Trace(1, 4));
  q.Stop(10000);
  ExporterQueueStats s = q.Stats();
  EXPECT_EQ(s.spans_exported, 0u);
  EXPECT_EQ(s.spans_lost_export_failed, 7u);
}

TEST(ExporterQueue, StopTimeoutShutsTheStuckExporterDownAndCountsTheRest) {
  auto st = std::make_shared<FakeExporter::State>();
  st->blocked = true;
  ExporterQueueOptions o;
  o.max_batch_spans = 2;
  o.schedule_delay_ms = 0;
  ExporterQueue q(std::make_unique<FakeExporter>(st), o);
  q.Push(Trace(0, 2));
  for (int i = 0; i < 10000 && q.Stats().queue_spans != 0; ++i) usleep(1000);
  q.Push(Trace(1, 2));
  q.Push(Trace(2, 2));
  q.Stop(100);  // the exporter never returns by itself: Shutdown() releases it
  EXPECT_FALSE(q.abandoned());
  ExporterQueueStats s = q.Stats();
  EXPECT_EQ(s.spans_lost_shutdown_timeout, 4u);  // the two queued traces
  EXPECT_EQ(s.spans_lost_export_failed, 2u);     // the one inside the exporter
  EXPECT_EQ(s.spans_exported, 0u);
  EXPECT_TRUE(st->shut_down);
}

TEST(ExporterQueue, BlockingPolicyWaitsForRoomInsteadOfDropping) {
  auto st = std::make_shared<FakeExporter::State>();
  ExporterQueueOptions o;
  o.max_queue_spans = 4;
  o.max_batch_spans = 2;
  o.schedule_delay_ms = 0;
  o.block_when_full = true;
  ExporterQueue q(std::make_unique<FakeExporter>(st), o);
  for (uint64_t i = 0; i < 200; ++i) q.Push(Trace(i, 2));
  q.Stop(10000);
  ExporterQueueStats s = q.Stats();
  EXPECT_EQ(s.spans_exported, 400u);
  EXPECT_EQ(s.spans_lost_queue_full, 0u);
  EXPECT_LE(s.queue_high_water_spans, 4u);
}

}  // namespace
}  // namespace agentring::reader
