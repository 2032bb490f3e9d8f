// Trace assembly when records were lost, on synthetic decoded groups: placeholder parents for
// span starts that were never committed (and none for parents that arrive late, went out
// earlier, or live outside the ring), the loss markers on a trace's root, and the assembler's
// span accounting (every start received is emitted, a duplicate, or held — exactly once).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "reader/assemble/assembler.h"
#include "unit/synthetic_writer.h"

namespace agentring::reader {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr uint8_t kRemote = static_cast<uint8_t>(abi::SpanFlags::ParentRemote);

class AssemblerLossTest : public ::testing::Test, protected SyntheticWriter {
 protected:

  void Make(AssemblerOptions opts = {}) {
    asm_ = std::make_unique<TraceAssembler>(opts, [this](TraceBatch&& b) {
      batches_.push_back(std::move(b));
    });
  }
  DecodedGroup Start(uint64_t span, uint64_t parent, uint64_t ts, uint8_t extra_flags = 0,
                     uint64_t trace_lo = 2) {
    DecodedGroup g;
    g.type = abi::RecordType::SpanStart;
    g.trace_hi = 1;
    g.trace_lo = trace_lo;
    g.span_id = span;
    g.parent_span_id = parent;
    g.ts = ts;
    g.flags = 1 | extra_flags;
    return g;
  }
  DecodedGroup End(uint64_t span, uint64_t ts, uint32_t groups_dropped = 0, uint64_t trace_lo = 2) {
    DecodedGroup g;
    g.type = abi::RecordType::SpanEnd;
    g.trace_hi = 1;
    g.trace_lo = trace_lo;
    g.span_id = span;
    g.ts = ts;
    g.groups_dropped = groups_dropped;
    return g;
  }
  void Feed(const DecodedGroup& g) { asm_->OnGroup(g, ctx_); }
  // A pass ending `seconds` from now (the assembler's waits use the times passes end at).
  void Pass(uint64_t pass, double seconds = 0) {
    asm_->EndPass(pass, internal::NowMonotonicNs() + static_cast<uint64_t>(seconds * kSecond));
  }
  // All spans handed on, by id.
  const SpanData* Find(uint64_t span_id) const {
    for (const TraceBatch& b : batches_)
      for (const auto& s : b.spans)
        if (s->span_id == span_id) return s.get();
    return nullptr;
  }
  size_t SpansOut() const {
    size_t n = 0;
    for (const TraceBatch& b : batches_) n += b.spans.size();
    return n;
  }
  static bool IsPlaceholder(const SpanData& s) {
    const AttrValue* v = s.Find("agentring.placeholder");
    return v != nullptr && std::get<bool>(*v);
  }
  static int64_t DroppedRecords(const SpanData& s) {
    const AttrValue* v = s.Find("agentring.dropped_records");
    return v == nullptr ? -1 : std::get<int64_t>(*v);
  }
  static bool PossibleLoss(const SpanData& s) {
    const AttrValue* v = s.Find("agentring.possible_loss");
    return v != nullptr && std::get<bool>(*v);
  }
  // Every span's parent is in its trace (or is the remote parent of a trace from outside).
  ::testing::AssertionResult ParentsResolve(bool allow_remote = false) const {
    for (const TraceBatch& b : batches_) {
      for (const auto& s : b.spans) {
        if (s->parent_span_id == 0 || (allow_remote && s->parent_remote)) continue;
        const SpanData* p = Find(s->parent_span_id);
        if (p == nullptr || !(p->trace_id == s->trace_id))
          return ::testing::AssertionFailure()
                 << "span " << s->span_id << " has parent " << s->parent_span_id
                 << ", which was not handed on in its trace";
      }
    }
    return ::testing::AssertionSuccess();
  }
  // The accounting identity of AssemblerStats (see assembler.h).
  void ExpectStartsAccountedFor() const {
    const AssemblerStats& st = asm_->stats();
    EXPECT_EQ(st.spans_started, st.spans_emitted + st.duplicate_span_ids +
                                    st.starts_after_placeholder + st.open_spans);
    EXPECT_EQ(SpansOut(), st.spans_emitted + st.spans_synthesized);
  }

  std::unique_ptr<TraceAssembler> asm_;
  std::vector<TraceBatch> batches_;
};

TEST_F(AssemblerLossTest, ParentNeverCommittedGetsAPlaceholderCoveringItsChildren) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(3, 2, 120));  // span 2's start was dropped by the writer
  Feed(Start(4, 2, 130));
  Feed(End(3, 150));
  Feed(End(4, 170));
  Feed(End(1, 200));
  Pass(1);
  Pass(2);
  EXPECT_TRUE(batches_.empty()) << "span 2 may still arrive: the trace waits for it";
  Pass(3, 1.0);
  EXPECT_TRUE(batches_.empty());
  Pass(4, 2.5);  // past parent_wait_ns (2 s) and more than one full pass
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_FALSE(batches_[0].late);
  ASSERT_EQ(batches_[0].spans.size(), 4u);
  EXPECT_EQ(batches_[0].placeholders, 1u);
  const SpanData* p = Find(2);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(IsPlaceholder(*p));
  EXPECT_EQ(p->name, "(missing span)");
  EXPECT_EQ(p->status, SpanStatus::kError);
  EXPECT_EQ(p->parent_span_id, 1u);  // under the trace's root
  EXPECT_EQ(p->trace_id, (TraceId{1, 2}));
  EXPECT_EQ(p->start_unix_ns, clock_->ToUnixNs(120));  // earliest child start
  EXPECT_EQ(p->end_unix_ns, clock_->ToUnixNs(170));    // latest child end
  ASSERT_NE(p->process, nullptr);
  EXPECT_EQ(p->process->pid, 4242);
  EXPECT_EQ(Find(3)->parent_span_id, 2u);
  EXPECT_TRUE(ParentsResolve());
  const SpanData* root = Find(1);
  EXPECT_EQ(DroppedRecords(*root), 1);  // the placeholder's start
  EXPECT_FALSE(PossibleLoss(*root));
  EXPECT_FALSE(IsPlaceholder(*root));
  EXPECT_EQ(DroppedRecords(*Find(3)), -1);  // markers only on the root
  EXPECT_EQ(asm_->stats().spans_synthesized, 1u);
  EXPECT_EQ(asm_->stats().spans_emitted, 3u);
  EXPECT_EQ(asm_->stats().parts_dropped_records, 1u);
  ExpectStartsAccountedFor();
}

TEST_F(AssemblerLossTest, ParentArrivingWithinTheWaitIsNotSynthesized) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(3, 2, 120));
  Feed(End(3, 150));
  Feed(End(1, 200));
  Pass(1);
  Pass(2, 0.5);
  EXPECT_TRUE(batches_.empty());
  Feed(Start(2, 1, 110));  // e.g. its lane was held for a string entry
  Feed(End(2, 180));
  Pass(3, 1.0);
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_EQ(batches_[0].spans.size(), 3u);
  EXPECT_EQ(batches_[0].placeholders, 0u);
  EXPECT_FALSE(IsPlaceholder(*Find(2)));
  EXPECT_EQ(DroppedRecords(*Find(1)), -1);
  EXPECT_FALSE(PossibleLoss(*Find(1)));
  EXPECT_EQ(asm_->stats().spans_synthesized, 0u);
  EXPECT_TRUE(ParentsResolve());
  ExpectStartsAccountedFor();
}

TEST_F(AssemblerLossTest, ParentExportedInAnEarlierPartIsNotSynthesized) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(2, 1, 110));
  Feed(End(2, 150));
  Feed(End(1, 200));
  Pass(1);
  Pass(2);
  ASSERT_EQ(batches_.size(), 1u);  // the trace went out in full
  Feed(Start(3, 2, 300));          // a late child of span 2 (say, a detached task)
  Feed(End(3, 400));
  Pass(3, 5.0);
  Pass(4, 6.0);
  ASSERT_EQ(batches_.size(), 2u);
  EXPECT_TRUE(batches_[1].late);
  ASSERT_EQ(batches_[1].spans.size(), 1u);
  EXPECT_EQ(batches_[1].spans[0]->parent_span_id, 2u);
  EXPECT_EQ(asm_->stats().spans_synthesized, 0u);
  EXPECT_EQ(DroppedRecords(*batches_[1].spans[0]), -1);
  EXPECT_TRUE(ParentsResolve());
  ExpectStartsAccountedFor();
}

TEST_F(AssemblerLossTest, PlaceholderOfAnEarlierPartIsNotMadeTwice) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(3, 2, 120));
  Feed(Start(4, 2, 130));  // still open when the trace goes out
  Feed(End(3, 150));
  Feed(End(1, 200));
  Pass(1);
  Pass(2, 3.0);
  EXPECT_TRUE(batches_.empty());  // span 4 is open: the decision wait runs
  Pass(3, 6.0);
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 3u);
  ASSERT_NE(Find(2), nullptr);
  Feed(End(4, 500));
  Pass(4, 7.0);
  Pass(5, 10.0);
  ASSERT_EQ(batches_.size(), 2u);
  ASSERT_EQ(batches_[1].spans.size(), 1u);  // span 4 alone: its parent went out before
  EXPECT_EQ(batches_[1].spans[0]->span_id, 4u);
  EXPECT_EQ(asm_->stats().spans_synthesized, 1u);
  EXPECT_TRUE(ParentsResolve());
  ExpectStartsAccountedFor();
}

TEST_F(AssemblerLossTest, RemoteParentOfATraceFromOutsideGetsNoPlaceholder) {
  Make();
  // TRACEPARENT from a service outside the ring: the trace has no root here.
  Feed(Start(5, 0xDEAD, 100, kRemote));
  Feed(Start(6, 5, 110));
  Feed(End(6, 150));
  Feed(End(5, 200));
  Pass(1, 3.0);
  Pass(2, 3.0);
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_EQ(batches_[0].spans.size(), 2u);
  EXPECT_EQ(asm_->stats().spans_synthesized, 0u);
  EXPECT_EQ(DroppedRecords(*Find(5)), -1);
  EXPECT_FALSE(PossibleLoss(*Find(5)));
  EXPECT_TRUE(ParentsResolve(/*allow_remote=*/true));
}

TEST_F(AssemblerLossTest, RemoteParentMissingFromATraceRootedHereIsSynthesized) {
  Make();
  Feed(Start(1, 0, 100));                // the orchestrator's run, in this ring
  Feed(Start(3, 2, 120, kRemote));       // a sub-agent process under invoke span 2 (dropped)
  Feed(End(3, 150));
  Feed(End(1, 200));
  Pass(1);
  Pass(2, 3.0);
  Pass(3, 3.0);
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_NE(Find(2), nullptr);
  EXPECT_TRUE(IsPlaceholder(*Find(2)));
  EXPECT_EQ(Find(2)->parent_span_id, 1u);
  EXPECT_TRUE(ParentsResolve());
}

TEST_F(AssemblerLossTest, RootNeverCommittedMakesThePlaceholderTheRoot) {
  Make();  // decision wait 5 s
  Feed(Start(2, 1, 110));
  Feed(Start(3, 2, 120));
  Feed(End(3, 150));
  Feed(End(2, 180));
  Pass(1, 1.0);
  Pass(2, 4.0);
  EXPECT_TRUE(batches_.empty());
  Pass(3, 6.0);  // no root will end it: nothing open, nothing new for a decision wait
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 3u);
  const SpanData* p = Find(1);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(IsPlaceholder(*p));
  EXPECT_EQ(p->parent_span_id, 0u);
  EXPECT_EQ(p->start_unix_ns, clock_->ToUnixNs(110));
  EXPECT_EQ(p->end_unix_ns, clock_->ToUnixNs(180));
  EXPECT_EQ(DroppedRecords(*p), 1);
  EXPECT_TRUE(ParentsResolve());
  ExpectStartsAccountedFor();
}

TEST_F(AssemblerLossTest, KnownLossIsSummedOnTheRoot) {
  AssemblerOptions o;
  o.orphan_wait_ns = 0;
  Make(o);
  Feed(Start(1, 0, 100));
  Feed(Start(3, 2, 110));  // placeholder: 1
  Feed(End(3, 120, /*groups_dropped=*/2));  // its writer dropped 2 of its groups: 2
  Feed(End(9, 130));       // an end whose start never arrives, given up: 1
  Feed(Start(4, 1, 140));  // closed incomplete when its writer exits: 1
  Feed(End(1, 200, /*groups_dropped=*/3));  // 3
  asm_->OnProcessExit(process_, clock_->ToUnixNs(250));
  Pass(1);
  Pass(2, 3.0);
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_EQ(DroppedRecords(*Find(1)), 1 + 2 + 1 + 1 + 3);
  EXPECT_FALSE(PossibleLoss(*Find(1)));
  EXPECT_EQ(asm_->stats().records_orphaned, 1u);
  EXPECT_EQ(asm_->stats().spans_incomplete, 1u);
  EXPECT_TRUE(ParentsResolve());
  ExpectStartsAccountedFor();
}

TEST_F(AssemblerLossTest, LaneDropsWhileASpanIsOpenMarkPossibleLoss) {
  Make();
  asm_->OnLanePolled(0, 4);  // the first poll of the lane
  Feed(Start(1, 0, 100, 0, /*trace_lo=*/2));
  Pass(1);
  asm_->OnLanePolled(0, 4);
  Feed(Start(10, 0, 150, 0, /*trace_lo=*/3));  // read after a poll that saw no new drop
  Feed(End(10, 160, 0, 3));
  Pass(2);
  asm_->OnLanePolled(0, 6);  // two groups dropped while span 1 was open
  Feed(End(1, 200, 0, 2));
  Pass(3);
  Pass(4);
  ASSERT_EQ(batches_.size(), 2u);
  EXPECT_TRUE(PossibleLoss(*Find(1)));
  EXPECT_EQ(DroppedRecords(*Find(1)), -1);  // nothing pinned to it
  EXPECT_FALSE(PossibleLoss(*Find(10)));
  EXPECT_EQ(asm_->stats().parts_possible_loss, 1u);
}

TEST_F(AssemblerLossTest, LaneCounterRestartingAtZeroIsANewCount) {
  Make();
  asm_->OnLanePolled(0, 9);
  asm_->OnLanePolled(0, 9);
  Feed(Start(1, 0, 100));
  Pass(1);
  asm_->OnLanePolled(0, 0);  // the lane changed owner: its counters restarted
  asm_->OnLanePolled(0, 0);
  Feed(End(1, 200));
  Pass(2);
  Pass(3);
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_FALSE(PossibleLoss(*Find(1)));
  asm_->OnLanePolled(0, 1);
  Feed(Start(5, 0, 300, 0, 7));
  asm_->OnLanePolled(0, 2);
  Feed(End(5, 400, 0, 7));
  Pass(4);
  Pass(5);
  ASSERT_EQ(batches_.size(), 2u);
  EXPECT_TRUE(PossibleLoss(*Find(5)));
}

TEST_F(AssemblerLossTest, AfterAResumeAnOlderMissingParentIsNotSynthesized) {
  AssemblerOptions o;
  o.resumed_after_unix_ns = ~0ull;  // every span here started before this reader resumed
  Make(o);
  Feed(Start(1, 0, 100));
  Feed(Start(3, 2, 120));  // span 2 may have gone out through the earlier reader
  Feed(End(3, 150));
  Feed(End(1, 200));
  Pass(1);
  Pass(2, 3.0);
  Pass(3, 3.0);
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_EQ(Find(2), nullptr);
  EXPECT_TRUE(PossibleLoss(*Find(1)));
  EXPECT_EQ(asm_->stats().spans_synthesized, 0u);
  EXPECT_EQ(asm_->stats().parents_unjudged, 1u);
}

TEST_F(AssemblerLossTest, EveryStartIsEmittedOnceDuplicatesAndLateParentsCounted) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(3, 2, 120));
  Feed(End(3, 150));
  Feed(End(1, 200));
  Pass(1);
  Pass(2, 3.0);
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_EQ(asm_->stats().spans_synthesized, 1u);
  Feed(Start(2, 1, 110));  // the real start of the placeholder's span, too late
  Feed(Start(3, 2, 120));  // a second start with a span id already sent
  Feed(Start(1, 0, 100));  // and another
  Pass(3, 4.0);
  Pass(4, 8.0);
  EXPECT_EQ(batches_.size(), 1u);  // nothing more went out
  EXPECT_EQ(asm_->stats().starts_after_placeholder, 1u);
  EXPECT_EQ(asm_->stats().duplicate_span_ids, 2u);
  EXPECT_EQ(asm_->stats().spans_started, 5u);
  EXPECT_EQ(asm_->stats().open_spans, 0u);
  ExpectStartsAccountedFor();
}

TEST_F(AssemblerLossTest, FlushAllSynthesizesWithoutWaiting) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(3, 2, 120));
  Feed(End(3, 150));
  asm_->FlushAll("reader_shutdown", clock_->ToUnixNs(500));
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 3u);
  EXPECT_TRUE(IsPlaceholder(*Find(2)));
  EXPECT_EQ(DroppedRecords(*Find(1)), 2);  // the placeholder and the root closed incomplete
  EXPECT_TRUE(ParentsResolve());
  ExpectStartsAccountedFor();
}

}  // namespace
}  // namespace agentring::reader
