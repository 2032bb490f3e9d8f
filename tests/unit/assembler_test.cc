// Trace assembly tests on synthetic decoded groups: when a trace is complete, what waits, what
// goes out late, what the reader closes as incomplete, and what it does with records whose span
// start has not (yet) arrived.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "reader/assemble/assembler.h"
#include "unit/synthetic_writer.h"

namespace agentring::reader {
namespace {

class AssemblerTest : public ::testing::Test, protected SyntheticWriter {
 protected:

  void Make(AssemblerOptions opts = {}) {
    asm_ = std::make_unique<TraceAssembler>(opts, [this](TraceBatch&& b) {
      batches_.push_back(std::move(b));
    });
  }
  DecodedGroup Start(uint64_t span, uint64_t parent, uint64_t ts, uint8_t extra_flags = 0) {
    DecodedGroup g;
    g.type = abi::RecordType::SpanStart;
    g.trace_hi = 1;
    g.trace_lo = 2;
    g.span_id = span;
    g.parent_span_id = parent;
    g.ts = ts;
    g.flags = 1 | extra_flags;
    return g;
  }
  DecodedGroup End(uint64_t span, uint64_t ts, uint8_t status = 0) {
    DecodedGroup g;
    g.type = abi::RecordType::SpanEnd;
    g.trace_hi = 1;
    g.trace_lo = 2;
    g.span_id = span;
    g.ts = ts;
    g.status = status;
    return g;
  }
  DecodedGroup IntAttr(uint64_t span, int64_t v) {
    DecodedGroup g;
    g.type = abi::RecordType::Attr;
    g.span_id = span;
    g.attrs.resize(1);
    g.attrs[0].type = abi::ValueType::Int64;
    g.attrs[0].num = static_cast<uint64_t>(v);
    g.attr_count = 1;
    return g;
  }
  void Feed(const DecodedGroup& g) { asm_->OnGroup(g, ctx_); }
  uint64_t Now() { return internal::NowMonotonicNs(); }

  std::unique_ptr<TraceAssembler> asm_;
  std::vector<TraceBatch> batches_;
};

TEST_F(AssemblerTest, CompleteAfterRootEndsAndOneMorePass) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(2, 1, 110));
  Feed(End(2, 150));
  Feed(End(1, 200));
  asm_->EndPass(1, Now());  // the pass that read the root's end: not yet
  EXPECT_TRUE(batches_.empty());
  asm_->EndPass(2, Now());  // a full pass after it found nothing open
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_FALSE(batches_[0].late);
  ASSERT_EQ(batches_[0].spans.size(), 2u);
  EXPECT_EQ(batches_[0].spans[0]->span_id, 1u);  // sorted by start
  EXPECT_EQ(batches_[0].spans[1]->parent_span_id, 1u);
  EXPECT_EQ(batches_[0].spans[0]->process->pid, 4242);
  EXPECT_EQ(asm_->stats().traces_emitted, 1u);
}

TEST_F(AssemblerTest, OpenChildWaitsThenFollowsAsLatePart) {
  AssemblerOptions o;
  o.decision_wait_ns = 0;  // the root's end has "waited" long enough at once
  Make(o);
  Feed(Start(1, 0, 100));
  Feed(Start(2, 1, 110));
  Feed(End(1, 200));
  asm_->EndPass(1, Now());
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 1u);  // the open child stays behind
  Feed(End(2, 300));
  asm_->EndPass(2, Now());
  ASSERT_EQ(batches_.size(), 2u);
  EXPECT_TRUE(batches_[1].late);
  EXPECT_EQ(batches_[1].spans[0]->span_id, 2u);
  EXPECT_EQ(batches_[1].trace_id, batches_[0].trace_id);
}

TEST_F(AssemblerTest, OpenChildHoldsTheTraceDuringTheDecisionWait) {
  Make();  // 5 s decision wait
  Feed(Start(1, 0, 100));
  Feed(Start(2, 1, 110));
  Feed(End(1, 200));
  asm_->EndPass(1, Now());
  asm_->EndPass(2, Now());
  EXPECT_TRUE(batches_.empty());
  Feed(End(2, 250));
  asm_->EndPass(3, Now());
  asm_->EndPass(4, Now());
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_EQ(batches_[0].spans.size(), 2u);
}

TEST_F(AssemblerTest, SpanArrivingAfterTheTraceWentOutIsALatePart) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(End(1, 200));
  asm_->EndPass(1, Now());
  asm_->EndPass(2, Now());
  ASSERT_EQ(batches_.size(), 1u);
  Feed(Start(3, 1, 300));  // e.g. a fire-and-forget sub-agent's span
  Feed(End(3, 400));
  asm_->EndPass(3, Now());
  ASSERT_EQ(batches_.size(), 2u);
  EXPECT_TRUE(batches_[1].late);
  EXPECT_EQ(asm_->stats().traces_emitted, 1u);
  EXPECT_EQ(asm_->stats().late_batches, 1u);
}

TEST_F(AssemblerTest, WriterExitClosesItsOpenSpansAsIncomplete) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(2, 1, 110));
  asm_->OnProcessExit(process_, clock_->ToUnixNs(180));
  asm_->EndPass(1, Now());
  asm_->EndPass(2, Now());
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 2u);
  for (const auto& s : batches_[0].spans) {
    EXPECT_TRUE(s->incomplete);
    EXPECT_EQ(s->status, SpanStatus::kError);
    EXPECT_EQ(s->end_unix_ns, clock_->ToUnixNs(180));
    const AttrValue* why = s->Find("agentring.incomplete_reason");
    ASSERT_NE(why, nullptr);
    EXPECT_EQ(std::get<std::string>(*why), "writer_exited");
  }
  EXPECT_EQ(asm_->stats().spans_incomplete, 2u);
}

TEST_F(AssemblerTest, EndAndAttributeBeforeTheirStartAreHeldAndApplied) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(IntAttr(2, 99));  // span 2 started on a thread whose lane this pass reads later
  Feed(End(2, 150));
  Feed(Start(2, 1, 110));
  Feed(End(1, 200));
  asm_->EndPass(1, Now());
  asm_->EndPass(2, Now());
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 2u);
  const SpanData& child = *batches_[0].spans[1];
  EXPECT_TRUE(child.ended);
  EXPECT_FALSE(child.incomplete);
  ASSERT_EQ(child.attributes.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(child.attributes[0].value), 99);
  EXPECT_EQ(asm_->stats().records_orphaned, 0u);
}

// Regression: a span ended (OK) on a thread whose lane was drained before its start's lane, in
// the pass where its process was found dead: the held end must be applied before the reader
// closes the process's open spans, or an OK span is exported as "incomplete, writer_exited".
TEST_F(AssemblerTest, HeldEndIsAppliedBeforeWriterExitClosesSpans) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(End(2, 150, /*status=*/1));  // held: span 2's start is read later in this pass
  Feed(Start(2, 1, 110));
  Feed(End(1, 200));
  asm_->OnProcessExit(process_, clock_->ToUnixNs(300));
  asm_->EndPass(1, Now());
  asm_->EndPass(2, Now());
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 2u);
  const SpanData& child = *batches_[0].spans[1];
  EXPECT_FALSE(child.incomplete);
  EXPECT_EQ(child.status, SpanStatus::kOk);
  EXPECT_EQ(child.end_unix_ns, clock_->ToUnixNs(150));
  EXPECT_EQ(asm_->stats().spans_incomplete, 0u);
}

TEST_F(AssemblerTest, RecordsWhoseStartNeverArrivesAreCountedAsOrphans) {
  AssemblerOptions o;
  o.orphan_wait_ns = 0;
  Make(o);
  Feed(IntAttr(77, 1));
  asm_->EndPass(1, Now());
  EXPECT_EQ(asm_->stats().records_orphaned, 1u);
  EXPECT_TRUE(batches_.empty());
}

TEST_F(AssemblerTest, DuplicateSpanIdIsCountedNotMerged) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(1, 0, 120));
  Feed(End(1, 200));
  asm_->EndPass(1, Now());
  asm_->EndPass(2, Now());
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_EQ(batches_[0].spans.size(), 1u);
  EXPECT_EQ(asm_->stats().duplicate_span_ids, 1u);
}

TEST_F(AssemblerTest, RemoteParentOutsideTheTraceMakesALocalRoot) {
  Make();
  // A process started with TRACEPARENT from outside agentring: its top span's parent is
  // remote and never seen here; its end completes the trace.
  Feed(Start(5, 0xDEAD, 100, static_cast<uint8_t>(abi::SpanFlags::ParentRemote)));
  Feed(End(5, 200));
  asm_->EndPass(1, Now());
  asm_->EndPass(2, Now());
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_TRUE(batches_[0].spans[0]->parent_remote);
}

TEST_F(AssemblerTest, RemoteParentInsideTheTraceIsNotARoot) {
  Make();
  Feed(Start(1, 0, 100));  // orchestrator's run
  Feed(Start(2, 1, 110, static_cast<uint8_t>(abi::SpanFlags::ParentRemote)));  // sub-agent
  Feed(End(2, 150));
  asm_->EndPass(1, Now());
  asm_->EndPass(2, Now());
  EXPECT_TRUE(batches_.empty());  // the run is still open
  Feed(End(1, 200));
  asm_->EndPass(3, Now());
  asm_->EndPass(4, Now());
  ASSERT_EQ(batches_.size(), 1u);
  EXPECT_EQ(batches_[0].spans.size(), 2u);
}

TEST_F(AssemblerTest, TraceWhoseRootNeverEndsGoesOutAfterMaxOpen) {
  AssemblerOptions o;
  o.max_open_ns = 0;
  Make(o);
  Feed(Start(1, 0, 100));
  Feed(Start(2, 1, 110));
  Feed(End(2, 150));
  asm_->EndPass(1, Now());
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 1u);  // the ended child; the root is still open
  EXPECT_EQ(batches_[0].spans[0]->span_id, 2u);
}

TEST_F(AssemblerTest, FlushAllClosesEverythingWithTheReason) {
  Make();
  Feed(Start(1, 0, 100));
  Feed(Start(2, 1, 110));
  asm_->FlushAll("reader_shutdown", clock_->ToUnixNs(500));
  ASSERT_EQ(batches_.size(), 1u);
  ASSERT_EQ(batches_[0].spans.size(), 2u);
  for (const auto& s : batches_[0].spans) {
    EXPECT_TRUE(s->incomplete);
    EXPECT_EQ(std::get<std::string>(*s->Find("agentring.incomplete_reason")), "reader_shutdown");
  }
  EXPECT_EQ(asm_->stats().open_spans, 0u);
}

}  // namespace
}  // namespace agentring::reader
