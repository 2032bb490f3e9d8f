// Writer unit tests, in process: spans written through the public API into a real segment and
// read back through the real drain stage. Also: zero heap allocations per span after warm-up
// (counted with a replaced operator new), W3C traceparent parsing, string clipping at code-point
// boundaries, head sampling, and the run-time switch.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "agentring/internal/writer_config.h"
#include "reader/drain/segment_reader.h"
#include "unit/span_capture.h"

// ---- allocation counting (this binary only) ------------------------------------------------
namespace {
thread_local uint64_t t_allocations = 0;
}
// Counting replacements of the global allocation functions (malloc underneath, so the matching
// deletes call free; GCC's mismatch warning does not apply to a replaced operator new).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  ++t_allocations;
  if (void* p = malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  ++t_allocations;
  if (void* p = malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The nothrow forms too (std::stable_sort's buffer uses them): left to the runtime, they would
// allocate with its operator new and be freed by the free() above (ASan: alloc-dealloc-mismatch).
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  ++t_allocations;
  return malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  ++t_allocations;
  return malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { free(p); }

namespace agentring {
namespace {

using test::CapturedSpan;
using CaptureSink = test::SpanCapture;

// One segment for the whole binary: a process attaches its writer once.
class WriterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    name_ = new std::string("ut-writer-" + std::to_string(getpid()));
    internal::SegmentMap::CreateOptions o;
    o.geometry = abi::Geometry{8, 4096, 8, 64 * 1024};
    bool created = false;
    internal::OpenStatus st;
    std::string err;
    auto seg = internal::SegmentMap::Create(*name_, o, &created, &st, &err);
    ASSERT_TRUE(seg) << err;
    drain_ = new reader::SegmentReader(std::move(seg));
    SetSegmentName(*name_);
  }
  static void TearDownTestSuite() { internal::SegmentMap::Remove(*name_); }
  void SetUp() override { Drain(); }
  CaptureSink Drain() {
    CaptureSink sink;
    drain_->Pass(&sink);
    drain_->Pass(&sink);
    sink.Settle();
    return sink;
  }
  static std::string* name_;
  static reader::SegmentReader* drain_;
};
std::string* WriterTest::name_ = nullptr;
reader::SegmentReader* WriterTest::drain_ = nullptr;

TEST_F(WriterTest, NestedSpansWithKindsSuffixesAndAttributes) {
  {
    Span run("agent.run", Kind::kRun);
    run.Set("agent.name", "CodingAgent");
    run.Set("agent.iteration", 3);
    run.Set("llm.cached", true);
    run.Set("score", 0.85);
    Span turn("agent.turn", Kind::kTurn, Suffix(3));
    Span llm("chat", Kind::kLlm, Suffix::Interned("gpt-4o"));
    Span tiny("t", Kind::kCustom, Suffix::Inline("abcdefghij"));  // cut to 8 bytes
  }
  CaptureSink s = Drain();
  const CapturedSpan* run = s.Find("agent.run");
  const CapturedSpan* turn = s.Find("agent.turn 3");
  const CapturedSpan* llm = s.Find("chat gpt-4o");
  ASSERT_TRUE(run && turn && llm);
  ASSERT_TRUE(s.Find("t abcdefgh"));
  EXPECT_EQ(run->parent, 0u);
  EXPECT_EQ(turn->parent, run->span_id);
  EXPECT_EQ(llm->parent, turn->span_id);
  EXPECT_EQ(llm->trace_lo, run->trace_lo);
  EXPECT_EQ(run->kind, static_cast<uint8_t>(Kind::kRun));
  EXPECT_EQ(llm->kind, static_cast<uint8_t>(Kind::kLlm));
  EXPECT_TRUE(run->ended && turn->ended && llm->ended);
  EXPECT_EQ(s.Attr(run, "agent.name"), "CodingAgent");
  EXPECT_EQ(s.Attr(run, "agent.iteration"), "3");
  EXPECT_EQ(s.Attr(run, "llm.cached"), "true");
  EXPECT_EQ(s.orphans, 0);
}

TEST_F(WriterTest, StatusEventsAndLinks) {
  SpanContext other;
  {
    Span a("handoff.source", Kind::kHandoff);
    other = a.context();
  }
  {
    Span tool("execute_tool", Kind::kTool,
              {{"tool.name", "filesystem"}, {"tool.target", "/src/main.rs"}, {"tool.bytes", 10},
               {"tool.ok", false}});
    tool.AddEvent("retry", {{"attempt", 2}});
    tool.AddLink(other);
    tool.SetStatus(StatusCode::kError, "permission denied");
  }
  CaptureSink s = Drain();
  const CapturedSpan* t = s.Find("execute_tool");
  ASSERT_TRUE(t);
  EXPECT_EQ(s.Attr(t, "tool.target"), "/src/main.rs");
  // The event's attribute belongs to the event, not to the span.
  EXPECT_EQ(s.Attr(t, "attempt"), "<missing>");
  ASSERT_EQ(t->event_attrs.size(), 1u);
  EXPECT_EQ(t->event_attrs[0], (std::pair<std::string, std::string>("attempt", "2")));
  ASSERT_EQ(t->events.size(), 1u);
  EXPECT_EQ(t->events[0], "retry");
  EXPECT_EQ(t->links.size(), 1u);
  EXPECT_EQ(t->status, static_cast<uint8_t>(StatusCode::kError));
  EXPECT_EQ(t->status_message, "permission denied");
}

TEST_F(WriterTest, LongStringsAreClippedAtCodePointsKeepingHeadAndTail) {
  // 3-byte code points (U+20AC €) so that a byte cut in the middle would be visible.
  std::string euro = "\xE2\x82\xAC";
  std::string big;
  for (int i = 0; i < 20000; ++i) big += euro;
  big = "HEAD" + big + "TAIL";
  { Span s("clip", Kind::kCustom, {{"payload", big}, {"short", std::string(100, 'x')}}); }
  CaptureSink sink = Drain();
  const CapturedSpan* s = sink.Find("clip");
  ASSERT_TRUE(s);
  std::string v = sink.Attr(s, "payload");
  EXPECT_LE(v.size(), 16u * 1024);
  EXPECT_EQ(v.substr(0, 4), "HEAD");
  EXPECT_EQ(v.substr(v.size() - 4), "TAIL");
  EXPECT_NE(v.find("bytes elided]"), std::string::npos);
  // Valid UTF-8 everywhere: every lead byte is followed by its continuation bytes.
  for (size_t i = 0; i < v.size();) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    ASSERT_NE(n, 0u) << "bad lead byte at " << i;
    ASSERT_LE(i + n, v.size());
    for (size_t k = 1; k < n; ++k) ASSERT_EQ(static_cast<unsigned char>(v[i + k]) & 0xC0, 0x80);
    i += n;
  }
  EXPECT_EQ(sink.Attr(s, "short"), std::string(100, 'x'));
}

// Regression: the records reserved for a clipped string must be exactly the records written,
// for every clip size (a mismatch left a stale record inside the committed group and the whole
// group was rejected).
TEST_F(WriterTest, ClippedStringsFillExactlyWhatWasReserved) {
  const uint32_t caps[] = {64, 100, 257, 1000, 1001, 4095, 16384};
  int spans = 0;
  for (uint32_t cap : caps) {
    internal::SetMaxStringBytesForTesting(cap);
    for (size_t len : {size_t{cap} - 1, size_t{cap}, size_t{cap} + 1, size_t{cap} + 57,
                       size_t{cap} * 3}) {
      std::string v(len, 'x');
      v[0] = 'H';
      v[len - 1] = 'T';
      { Span s("clip.sweep", Kind::kCustom, {{"v", v}}); }
      ++spans;
    }
    CaptureSink sink = Drain();
    ASSERT_EQ(sink.spans.size(), 5u) << "cap " << cap;
    for (const CapturedSpan& c : sink.spans) {
      std::string got = sink.Attr(&c, "v");
      EXPECT_LE(got.size(), cap) << "cap " << cap;
      EXPECT_EQ(got.front(), 'H');
      EXPECT_EQ(got.back(), 'T');
      EXPECT_TRUE(c.ended);
    }
    EXPECT_EQ(drain_->Collect().records_rejected, 0u) << "cap " << cap;
  }
  internal::SetMaxStringBytesForTesting(16 * 1024);
  EXPECT_EQ(spans, 35);
}

TEST_F(WriterTest, NoHeapAllocationPerSpanAfterWarmUp) {
  for (int i = 0; i < 10; ++i) {  // warm-up: lane, intern cache, names
    Span s("alloc.span", Kind::kTool, {{"tool.name", "fs"}, {"tool.target", "/x"}, {"n", 1}, {"ok", true}});
    s.Set("later", 5);
    s.AddEvent("ev");
    Span child("alloc.child", Kind::kLlm, Suffix(i));
  }
  Drain();
  uint64_t before = t_allocations;
  // 10 records per iteration: 300 iterations fit the 4096-record lane without draining.
  for (int i = 0; i < 300; ++i) {
    Span s("alloc.span", Kind::kTool, {{"tool.name", "fs"}, {"tool.target", "/x"}, {"n", i}, {"ok", true}});
    s.Set("later", 5);
    s.AddEvent("ev");
    Span child("alloc.child", Kind::kLlm, Suffix(i));
  }
  EXPECT_EQ(t_allocations - before, 0u);
  CaptureSink s = Drain();
  EXPECT_EQ(s.spans.size(), 600u);
}

TEST_F(WriterTest, SpanEndedOnAnotherThread) {
  SpanContext parent;
  Span* moved = nullptr;
  {
    Span root("cross.root", Kind::kRun);
    parent = root.context();
    auto* s = new Span("cross.work", Kind::kTask, parent, Suffix(), {}, Span::kDetached);
    moved = s;
    EXPECT_EQ(CurrentContext().span_id, parent.span_id);  // detached: not made current
    std::thread t([moved] {
      moved->Set("done_on", "worker");
      moved->End();
    });
    t.join();
    delete moved;
  }
  CaptureSink s = Drain();
  const CapturedSpan* w = s.Find("cross.work");
  ASSERT_TRUE(w);
  EXPECT_TRUE(w->ended);
  EXPECT_EQ(w->parent, parent.span_id);
  EXPECT_EQ(s.Attr(w, "done_on"), "worker");
}

// Regression: a forked child that ends a span it inherited (a destructor running on return
// from main, say) wrote an end for the parent's span; the parent's real end then went nowhere.
TEST_F(WriterTest, ForkedChildDoesNotEndInheritedSpans) {
  uint64_t root_id;
  {
    Span root("fork.parent", Kind::kRun);
    root_id = root.context().span_id;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      root.Set("written_by", "child");  // ignored: not this process's span
      { Span c("fork.child"); }          // nests under the span current at the fork
      root.End();                        // ignored too
      ReleaseThreadLane();
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  CaptureSink s = Drain();
  const CapturedSpan* root = s.Find("fork.parent");
  const CapturedSpan* child = s.Find("fork.child");
  ASSERT_TRUE(root && child);
  EXPECT_EQ(root->ends, 1);
  EXPECT_EQ(s.Attr(root, "written_by"), "<missing>");
  EXPECT_EQ(child->parent, root_id);
  EXPECT_TRUE(child->ended);
}

TEST_F(WriterTest, WriterStatsIdentityHolds) {
  WriterStats a = GetWriterStats();
  for (int i = 0; i < 100; ++i) Span s("stats.span");
  WriterStats b = GetWriterStats();
  EXPECT_EQ(b.span_starts_committed - a.span_starts_committed, 100u);
  EXPECT_EQ(b.spans_started,
            b.span_starts_committed + b.span_starts_dropped_full + b.span_starts_dropped_too_big +
                b.span_starts_dropped_no_lane + b.span_starts_dropped_no_segment +
                b.spans_head_sampled_out);
}

TEST_F(WriterTest, FullLaneDropsAndCountsWholeGroups) {
  // 4096-record lanes; without draining, 3000 spans (6000 records) cannot all fit.
  Drain();
  WriterStats a = GetWriterStats();
  for (int i = 0; i < 3000; ++i) Span s("fill.span");
  WriterStats b = GetWriterStats();
  uint64_t committed = b.span_starts_committed - a.span_starts_committed;
  uint64_t dropped = b.span_starts_dropped_full - a.span_starts_dropped_full;
  EXPECT_EQ(committed + dropped, 3000u);
  EXPECT_GT(dropped, 0u);
  CaptureSink s = Drain();
  EXPECT_EQ(s.spans.size(), committed);  // every committed start arrived, nothing torn
  for (auto& sp : s.spans) EXPECT_EQ(sp.name, "fill.span");
}

TEST_F(WriterTest, DisabledAtRunTimeWritesNothing) {
  SetEnabled(false);
  for (int i = 0; i < 10; ++i) Span s("disabled.span");
  SetEnabled(true);
  CaptureSink s = Drain();
  EXPECT_EQ(s.Find("disabled.span"), nullptr);
}

TEST_F(WriterTest, HeadSamplingRatioAndUnsampledChildren) {
  ASSERT_TRUE(SetSampler("parentbased_traceidratio", 0.25));
  WriterStats a = GetWriterStats();
  const int kRoots = 4000;
  for (int i = 0; i < kRoots; ++i) {
    Span root("sampled.root", Kind::kRun);
    Span child("sampled.child");  // follows its root's decision
    if (i % 500 == 499) Drain();
  }
  ASSERT_TRUE(SetSampler("parentbased_always_on"));
  WriterStats b = GetWriterStats();
  uint64_t out = b.spans_head_sampled_out - a.spans_head_sampled_out;
  uint64_t in = b.span_starts_committed - a.span_starts_committed;
  EXPECT_EQ(in + out, 2u * kRoots);
  EXPECT_EQ(in % 2, 0u);  // roots and children together
  double ratio = static_cast<double>(in / 2) / kRoots;
  // Binomial(4000, 0.25): sd = 27.4 roots, so ±5 sd = ±0.034.
  EXPECT_NEAR(ratio, 0.25, 0.035);
  EXPECT_FALSE(SetSampler("nonsense"));
  EXPECT_FALSE(SetSampler("traceidratio", 1.5));
}

TEST(TraceContext, ParseAndFormatW3CTraceparent) {
  SpanContext c;
  ASSERT_TRUE(SpanContext::FromTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &c));
  EXPECT_EQ(c.trace_id_hi, 0x4bf92f3577b34da6ull);
  EXPECT_EQ(c.trace_id_lo, 0xa3ce929d0e0e4736ull);
  EXPECT_EQ(c.span_id, 0x00f067aa0ba902b7ull);
  EXPECT_TRUE(c.sampled());
  EXPECT_TRUE(c.remote);
  EXPECT_EQ(c.ToTraceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  SpanContext bad;
  EXPECT_FALSE(SpanContext::FromTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01", &bad));
  EXPECT_FALSE(SpanContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", &bad));
  EXPECT_FALSE(SpanContext::FromTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &bad));
  EXPECT_FALSE(SpanContext::FromTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", &bad));
  EXPECT_FALSE(SpanContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", &bad));
  EXPECT_FALSE(SpanContext::FromTraceparent("garbage", &bad));
  // A later version may append fields.
  EXPECT_TRUE(SpanContext::FromTraceparent(
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra", &c));
  EXPECT_FALSE(c.sampled());
  EXPECT_EQ(SpanContext().ToTraceparent(), "");
}

TEST(Names, LiteralHashIsCompileTimeAndMatchesRunTime) {
  constexpr uint64_t h = HashBytes("agent.turn", 10);
  static_assert(h != 0);
  std::string dynamic = "agent.turn";
  EXPECT_EQ(Name("agent.turn").hash(), Name(dynamic).hash());
  EXPECT_EQ(Name(dynamic.c_str()).hash(), h);
  EXPECT_STREQ(KindName(Kind::kVectorSearch), "vector_search");
  EXPECT_STREQ(KindName(static_cast<Kind>(200)), "custom");
}

}  // namespace
}  // namespace agentring
