// TraceAssembler::SaveState/LoadState (the reader's --state-dir): a restarted assembler carries
// on exactly where the saved one stopped: open spans, held groups, and recently sent traces.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "reader/assemble/assembler.h"
#include "unit/synthetic_writer.h"

namespace agentring::reader {
namespace {

class AssemblerStateTest : public ::testing::Test, protected SyntheticWriter {
 protected:
  std::unique_ptr<TraceAssembler> Make() {
    return std::make_unique<TraceAssembler>(AssemblerOptions{}, [this](TraceBatch&& b) {
      batches_.push_back(std::move(b));
    });
  }
  static DecodedGroup Start(uint64_t trace, uint64_t span, uint64_t parent, uint64_t ts) {
    DecodedGroup g;
    g.type = abi::RecordType::SpanStart;
    g.trace_hi = 1;
    g.trace_lo = trace;
    g.span_id = span;
    g.parent_span_id = parent;
    g.ts = ts;
    g.flags = 1;
    return g;
  }
  static DecodedGroup End(uint64_t trace, uint64_t span, uint64_t ts) {
    DecodedGroup g = Start(trace, span, 0, ts);
    g.type = abi::RecordType::SpanEnd;
    g.flags = 0;
    return g;
  }
  static DecodedGroup StrAttr(uint64_t span, const std::string& v) {
    DecodedGroup g;
    g.type = abi::RecordType::Attr;
    g.span_id = span;
    g.attrs.resize(1);
    g.attrs[0].type = abi::ValueType::String;
    g.attrs[0].str = v;
    g.attr_count = 1;
    return g;
  }
  const SpanData* Find(uint64_t span) const {
    for (const TraceBatch& b : batches_)
      for (const auto& s : b.spans)
        if (s->span_id == span) return s.get();
    return nullptr;
  }

  std::vector<TraceBatch> batches_;
};

TEST_F(AssemblerStateTest, RestoredAssemblerContinuesOpenTracesHeldGroupsAndLateParts) {
  auto a = Make();
  // Trace 10 sent in full before the save.
  a->OnGroup(Start(10, 100, 0, 5), ctx_);
  a->OnGroup(End(10, 100, 6), ctx_);
  a->EndPass(1, internal::NowMonotonicNs());
  a->EndPass(2, internal::NowMonotonicNs());
  ASSERT_EQ(batches_.size(), 1u);
  // Trace 20: root open, a child ended with an attribute, and the end of span 3 held (its start
  // has not arrived).
  a->OnGroup(Start(20, 1, 0, 10), ctx_);
  a->OnGroup(Start(20, 2, 1, 11), ctx_);
  a->OnGroup(StrAttr(2, "kept across restarts"), ctx_);
  a->OnGroup(End(20, 2, 15), ctx_);
  a->OnGroup(End(20, 3, 18), ctx_);
  std::string saved;
  a->SaveState(&saved);
  a.reset();
  batches_.clear();

  auto b = Make();
  std::string error;
  ASSERT_TRUE(b->LoadState(saved, &pool_, clock_.get(),
                           [this](uint32_t slot, uint32_t gen) -> std::shared_ptr<const ProcessInfo> {
                             return slot == 5 && gen == 3 ? process_.info : nullptr;
                           },
                           &error))
      << error;
  b->OnGroup(Start(20, 3, 1, 12), ctx_);  // the held end applies to it
  b->OnGroup(End(20, 1, 20), ctx_);
  b->EndPass(3, internal::NowMonotonicNs());
  b->EndPass(4, internal::NowMonotonicNs());
  b->OnGroup(Start(10, 101, 100, 30), ctx_);  // a late span of the trace sent before the save
  b->OnGroup(End(10, 101, 31), ctx_);
  b->EndPass(5, internal::NowMonotonicNs());
  b->EndPass(6, internal::NowMonotonicNs());

  ASSERT_EQ(batches_.size(), 2u);
  EXPECT_FALSE(batches_[0].late);
  EXPECT_EQ(batches_[0].spans.size(), 3u);
  EXPECT_TRUE(batches_[1].late);  // trace 10 was remembered as sent
  const SpanData* s2 = Find(2);
  ASSERT_NE(s2, nullptr);
  ASSERT_NE(s2->Find(""), nullptr);
  EXPECT_EQ(std::get<std::string>(*s2->Find("")), "kept across restarts");
  EXPECT_EQ(s2->process, process_.info);  // the drain stage's process, so exits close it
  const SpanData* s3 = Find(3);
  ASSERT_NE(s3, nullptr);
  EXPECT_TRUE(s3->ended);
  EXPECT_FALSE(s3->incomplete);
  EXPECT_EQ(s3->end_unix_ns, clock_->ToUnixNs(18));
  EXPECT_EQ(b->stats().spans_incomplete, 0u);
}

TEST_F(AssemblerStateTest, OpenSpansOfAWriterThatDiedMeanwhileAreClosedIncomplete) {
  auto a = Make();
  a->OnGroup(Start(20, 1, 0, 10), ctx_);
  a->OnGroup(Start(20, 2, 1, 11), ctx_);
  a->OnGroup(End(20, 2, 15), ctx_);
  std::string saved;
  a->SaveState(&saved);
  auto b = Make();
  std::string error;
  ASSERT_TRUE(b->LoadState(saved, &pool_, clock_.get(),
                           [](uint32_t, uint32_t) { return std::shared_ptr<const ProcessInfo>(); },
                           &error));
  b->EndPass(1, internal::NowMonotonicNs());
  b->EndPass(2, internal::NowMonotonicNs());
  ASSERT_EQ(batches_.size(), 1u);
  const SpanData* root = Find(1);
  ASSERT_NE(root, nullptr);
  EXPECT_TRUE(root->incomplete);
  EXPECT_EQ(root->status, SpanStatus::kError);
  ASSERT_NE(root->Find("agentring.incomplete_reason"), nullptr);
  EXPECT_EQ(std::get<std::string>(*root->Find("agentring.incomplete_reason")), "writer_exited");
  EXPECT_EQ(root->end_unix_ns, clock_->ToUnixNs(15));  // the last record seen from the writer
  EXPECT_EQ(root->process->pid, 4242);                  // restored from the state
}

TEST_F(AssemblerStateTest, TruncatedOrGarbageStateIsRefused) {
  auto a = Make();
  a->OnGroup(Start(20, 1, 0, 10), ctx_);
  a->OnGroup(StrAttr(1, std::string(100, 'x')), ctx_);
  std::string saved;
  a->SaveState(&saved);
  for (size_t cut : {size_t{0}, size_t{3}, saved.size() / 2, saved.size() - 1}) {
    auto b = Make();
    std::string error;
    EXPECT_FALSE(b->LoadState(saved.substr(0, cut), &pool_, clock_.get(), nullptr, &error))
        << "cut at " << cut;
    EXPECT_FALSE(error.empty());
  }
  std::string garbage = saved;
  for (size_t i = 4; i < garbage.size(); i += 7) garbage[i] = static_cast<char>(0xff);
  auto b = Make();
  std::string error;
  b->LoadState(garbage, &pool_, clock_.get(), nullptr, &error);  // must not crash or hang
}

}  // namespace
}  // namespace agentring::reader
