// The benchmark harness shared by the writer suites: a segment drained by a reader thread
// (the real drain stage), and RunDrained, which pauses the timer every kBatchSpans spans until
// the lanes are drained so that no benchmark ever times the drop path. Each benchmark reports
// `records_dropped`, which must be 0.
#ifndef AGENTRING_BENCH_DRAINED_SEGMENT_H_
#define AGENTRING_BENCH_DRAINED_SEGMENT_H_

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "reader/drain/segment_reader.h"

namespace agentring_bench {

using agentring::Kind;
using agentring::Span;
namespace internal = agentring::internal;
namespace reader = agentring::reader;

inline constexpr uint32_t kLaneRecords = 1u << 18;  // 16 MiB lanes: a batch never fills one
inline constexpr uint64_t kBatchSpans = 16384;      // then wait for the reader (timer paused)
inline constexpr uint64_t kDrainBatchRecords = 1024;  // a reader pass below this backs off

class NullSink : public reader::GroupSink {
 public:
  void OnGroup(const reader::DecodedGroup& g, const reader::GroupContext&) override {
    groups += 1;
    benchmark::DoNotOptimize(g.span_id);
  }
  void OnProcessExit(const reader::ProcessState&, uint64_t) override {}
  uint64_t groups = 0;
};

inline std::string SegmentName(const char* what) {
  return std::string("bench-") + what + "-" + std::to_string(getpid());
}

inline std::unique_ptr<internal::SegmentMap> CreateSegment(const std::string& name, uint32_t lanes) {
  internal::SegmentMap::CreateOptions o;
  o.geometry.lane_count = lanes;
  o.geometry.lane_capacity_records = kLaneRecords;
  o.geometry.process_slot_count = 64;
  bool created = false;
  internal::OpenStatus st;
  std::string err;
  internal::SegmentMap::Remove(name);
  auto seg = internal::SegmentMap::Create(name, o, &created, &st, &err);
  if (!seg) {
    fprintf(stderr, "bench: %s\n", err.c_str());
    abort();
  }
  return seg;
}

// The writer's segment, drained by a reader thread for the whole run.
class DrainedSegment {
 public:
  static DrainedSegment& Get() {
    static DrainedSegment* s = new DrainedSegment();
    return *s;
  }
  // Blocks until every lane is drained (called with the timer paused).
  void WaitDrained() {
    draining_.store(true);
    struct Off { std::atomic<bool>* f; ~Off() { f->store(false); } } off{&draining_};
    const uint64_t start_ns = internal::NowMonotonicNs();
    for (;;) {
      bool drained = true;
      for (uint32_t i = 0; i < view_->lane_count(); ++i) {
        auto* ls = view_->lane_slot(i);
        if (ls->writer.head.load(std::memory_order_acquire) !=
            ls->reader.tail.load(std::memory_order_acquire))
          drained = false;
      }
      if (drained) return;
      if (internal::NowMonotonicNs() - start_ns > 30'000'000'000ull) {
        // A reader that stops draining a lane with records in it is a bug: say which lane and
        // fail, rather than hang the run.
        for (uint32_t i = 0; i < view_->lane_count(); ++i) {
          auto* ls = view_->lane_slot(i);
          fprintf(stderr, "writer_bench: lane %u state %#x process slot %u head %llu tail %llu\n",
                  i, ls->entry.state.load(), ls->entry.process_slot,
                  static_cast<unsigned long long>(ls->writer.head.load()),
                  static_cast<unsigned long long>(ls->reader.tail.load()));
        }
        fprintf(stderr, "writer_bench: the reader stopped draining for 30 s\n");
        abort();
      }
      std::this_thread::yield();
    }
  }

 private:
  DrainedSegment() {
    name_ = SegmentName("writer");
    auto seg = CreateSegment(name_, 4);
    internal::OpenStatus st;
    std::string err;
    view_ = internal::SegmentMap::Open(name_, &st, &err);
    agentring::SetSegmentName(name_);
    reader_ = std::make_unique<reader::SegmentReader>(std::move(seg));
    thread_ = std::thread([this] {
      NullSink sink;
      for (;;) {
        // BENCH_DRAIN_PAUSED_ONLY=1: the reader drains only while the timer is paused, which
        // isolates the writer from cross-core cache traffic (see docs/BENCHMARKS.md).
        if (getenv("BENCH_DRAIN_PAUSED_ONLY") && !draining_.load()) {
          std::this_thread::sleep_for(std::chrono::microseconds(20));
          continue;
        }
        // Drain in batches, as the reader does: a pass that found little backs off, so the
        // writer's newest cache lines are not pulled across cores after every span.
        uint64_t n = reader_->Pass(&sink);
        if (n < kDrainBatchRecords) std::this_thread::sleep_for(std::chrono::microseconds(n ? 20 : 50));
      }
    });
    thread_.detach();
    { Span warm("bench.warmup"); }  // attaches, claims this thread's lane, pre-faults it
    WaitDrained();
    internal::SegmentMap::Remove(name_);  // the name goes; every mapping stays valid
  }
  std::string name_;
  std::atomic<bool> draining_{false};
  std::unique_ptr<internal::SegmentMap> view_;
  std::unique_ptr<reader::SegmentReader> reader_;
  std::thread thread_;
};

inline uint64_t DroppedRecords() {
  agentring::WriterStats s = agentring::GetWriterStats();
  return s.records_dropped + s.span_starts_dropped_no_lane + s.span_starts_dropped_no_segment;
}

// Runs `body` state.iterations() times, pausing every kBatchSpans to let the reader drain.
template <typename F>
void RunDrained(benchmark::State& state, F&& body) {
  DrainedSegment& seg = DrainedSegment::Get();
  uint64_t dropped_before = DroppedRecords();
  uint64_t n = 0;
  for (auto _ : state) {
    body();
    if (++n == kBatchSpans) {
      state.PauseTiming();
      seg.WaitDrained();
      state.ResumeTiming();
      n = 0;
    }
  }
  const uint64_t dropped = DroppedRecords() - dropped_before;
  state.counters["records_dropped"] = static_cast<double>(dropped);
  // A writer benchmark that dropped records timed the drop path: it measured nothing. Fail it
  // (the ctest smoke run matches "ERROR OCCURRED").
  if (dropped != 0)
    state.SkipWithError("records were dropped: this benchmark timed the drop path");
}

}  // namespace agentring_bench

#endif  // AGENTRING_BENCH_DRAINED_SEGMENT_H_
