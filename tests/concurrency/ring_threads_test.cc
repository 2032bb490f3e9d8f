// Writer threads and a reader thread on one segment in one process: the ring's publication
// (head release / acquire, tail release / acquire, lane claims and releases) is exercised with
// real concurrency, so ThreadSanitizer (make test-tsan) checks the memory ordering that other
// tests only exercise across processes, where TSan cannot see it. Small lanes make the writers
// wrap many times and hit full lanes while the reader drains. Exact counts: every committed span
// start and end arrives once, every long string arrives whole, nothing is rejected.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "reader/drain/segment_reader.h"

namespace agentring {
namespace {

constexpr int kThreads = 4;
constexpr int kSpansPerThread = 3000;

std::string Payload(uint64_t n) {
  std::string s = "payload-" + std::to_string(n) + "-";
  while (s.size() < 150) s += static_cast<char>('a' + (s.size() + n) % 26);  // 3 Cont records
  return s;
}

class CountingSink : public reader::GroupSink {
 public:
  void OnGroup(const reader::DecodedGroup& g, const reader::GroupContext&) override {
    if (g.type == abi::RecordType::SpanStart) {
      ++starts;
      for (uint32_t k = 0; k < g.attr_count; ++k) {
        const reader::DecodedAttr& a = g.attrs[k];
        if (a.type == abi::ValueType::String && a.str != Payload(g.attrs[0].num)) ++torn;
      }
    }
    if (g.type == abi::RecordType::SpanEnd) ++ends;
  }
  void OnProcessExit(const reader::ProcessState&, uint64_t) override {}
  uint64_t starts = 0, ends = 0, torn = 0;  // torn: a string that arrived altered
};

TEST(RingThreads, WritersAndReaderInOneProcess) {
  const std::string name = "ut-ring-threads-" + std::to_string(getpid());
  internal::SegmentMap::CreateOptions o;
  o.geometry = abi::Geometry{8, 256, 4, 64 * 1024};  // 256-record lanes: wrap and fill often
  bool created = false;
  internal::OpenStatus st;
  std::string err;
  auto seg = internal::SegmentMap::Create(name, o, &created, &st, &err);
  ASSERT_TRUE(seg) << err;
  reader::SegmentReader drain(std::move(seg));
  SetSegmentName(name);

  CountingSink sink;
  std::atomic<bool> writers_done{false};
  std::thread reader_thread([&] {
    while (!writers_done.load(std::memory_order_acquire)) drain.Pass(&sink);
    while (drain.Pass(&sink) != 0) {
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([t] {
      for (int i = 0; i < kSpansPerThread; ++i) {
        uint64_t n = uint64_t(t) * kSpansPerThread + i;
        Span s("ring.work", Kind::kTask);
        s.Set("n", static_cast<int64_t>(n));
        s.Set("payload", Payload(n));
      }
    });  // thread exit releases the lane
  }
  for (auto& w : writers) w.join();
  writers_done.store(true, std::memory_order_release);
  reader_thread.join();

  WriterStats ws = GetWriterStats();
  reader::DrainStats ds = drain.Collect();
  internal::SegmentMap::Remove(name);
  printf("ring threads: %llu span starts committed, %llu dropped (lane full), %llu records read, "
         "%llu reader passes\n",
         static_cast<unsigned long long>(ws.span_starts_committed),
         static_cast<unsigned long long>(ws.span_starts_dropped_full),
         static_cast<unsigned long long>(ds.records_read),
         static_cast<unsigned long long>(drain.passes()));
  EXPECT_EQ(ws.spans_started, uint64_t{kThreads} * kSpansPerThread);
  EXPECT_EQ(ws.span_starts_committed + ws.span_starts_dropped_full, ws.spans_started);
  EXPECT_GT(ws.span_starts_committed, 0u);
  EXPECT_EQ(sink.starts, ws.span_starts_committed);
  EXPECT_EQ(ds.span_starts_read, ws.span_starts_committed);
  EXPECT_EQ(ds.records_rejected, 0u);
  EXPECT_EQ(sink.torn, 0u);
  EXPECT_EQ(ds.records_read, ws.records_committed);  // every committed record, read once
  EXPECT_GT(sink.ends, 0u);
  EXPECT_EQ(ds.lanes_freed, uint64_t{kThreads});
}

}  // namespace
}  // namespace agentring
