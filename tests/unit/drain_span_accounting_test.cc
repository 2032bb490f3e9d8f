// The drain stage's inputs to the reader-side span accounting, on a real shared-memory segment
// whose lane is written by hand: span starts the decoder rejects are counted by reason
// (spans_rejected), accepted ones are delivered (span_starts_read), and the sink is told the
// lane's groups_dropped counter once per pass before the lane's groups.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "agentring/abi/records.h"
#include "agentring/abi/segment.h"
#include "agentring/internal/segment_map.h"
#include "reader/drain/segment_reader.h"

namespace agentring::reader {
namespace {

class RecordingSink : public GroupSink {
 public:
  void OnGroup(const DecodedGroup& g, const GroupContext&) override {
    events.push_back("group " + std::to_string(g.span_id));
  }
  void OnProcessExit(const ProcessState&, uint64_t) override {}
  void OnLanePolled(uint32_t lane, uint64_t groups_dropped) override {
    events.push_back("poll " + std::to_string(lane) + " " + std::to_string(groups_dropped));
  }
  std::vector<std::string> events;
};

abi::SpanStartRecord Start(uint16_t group_remaining, uint64_t span_id) {
  return abi::SpanStartRecord(static_cast<uint8_t>(abi::RecordType::SpanStart), 1,
                              group_remaining, /*name_id=*/0, /*start_ts=*/100, 1, 2, span_id,
                              /*parent=*/0, 0, 0, 0, 0, 0, 0);
}

TEST(DrainSpanAccounting, RejectedStartsAreCountedByReasonAndLaneDropsReported) {
  const std::string name = "unit-drain-accounting-" + std::to_string(getpid());
  internal::SegmentMap::CreateOptions o;
  o.geometry.lane_count = 2;
  o.geometry.lane_capacity_records = 64;
  o.geometry.process_slot_count = 2;
  bool created = false;
  internal::OpenStatus st;
  std::string err;
  internal::SegmentMap::Remove(name);
  auto seg = internal::SegmentMap::Create(name, o, &created, &st, &err);
  ASSERT_NE(seg, nullptr) << err;
  internal::SegmentMap::Remove(name);  // the mapping stays valid

  // A process and a lane it owns, as a writer would publish them.
  abi::ProcessSlot* ps = seg->process_slot(0);
  ps->generation = 1;
  ps->pid = getpid();
  ps->state.store(abi::kProcessOwned, std::memory_order_release);
  abi::LaneSlot* ls = seg->lane_slot(0);
  ls->entry.process_slot = 0;
  ls->entry.process_generation = 1;
  ls->entry.state.store(abi::kLaneOwned, std::memory_order_release);
  ls->counters.groups_dropped.store(3, std::memory_order_relaxed);

  auto* ring = reinterpret_cast<abi::RawRecord*>(seg->lane_records(0));
  new (&ring[0]) abi::SpanStartRecord(Start(0, /*span_id=*/0));  // bad_ids
  new (&ring[1]) abi::SpanStartRecord(Start(0, 5));              // fine
  new (&ring[2]) abi::SpanStartRecord(Start(7, 6));  // claims 8 records at the head: bad_group
  ls->writer.head.store(3, std::memory_order_release);

  SegmentReader reader(std::move(seg));
  RecordingSink sink;
  reader.Pass(&sink);
  DrainStats d = reader.Collect();
  EXPECT_EQ(d.spans_rejected, 2u);
  EXPECT_EQ(d.spans_rejected_by_reason[static_cast<size_t>(RejectReason::kBadIds)], 1u);
  EXPECT_EQ(d.spans_rejected_by_reason[static_cast<size_t>(RejectReason::kBadGroup)], 1u);
  EXPECT_EQ(d.records_rejected, 2u);
  EXPECT_EQ(d.span_starts_read, 1u);
  ASSERT_GE(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0], "poll 0 3");  // before the lane's groups
  EXPECT_EQ(sink.events[1], "group 5");
  EXPECT_FALSE(reader.resumed());  // a fresh segment: no reader had drained it
}

TEST(DrainSpanAccounting, SpanEndCarriesItsWritersDroppedGroupCount) {
  abi::RawRecord r;
  new (&r) abi::SpanEndRecord(static_cast<uint8_t>(abi::RecordType::SpanEnd), 0, 0,
                              /*groups_dropped=*/7, 5, 1, 2, 9, 0, 0, 0);
  DecodedGroup g;
  DecodeResult res = DecodeGroup(&r, 1, true, &g);
  ASSERT_EQ(res.kind, DecodeResult::kOk);
  EXPECT_EQ(g.groups_dropped, 7u);
  g.clear();
  EXPECT_EQ(g.groups_dropped, 0u);  // nothing carries over to the next group
}

}  // namespace
}  // namespace agentring::reader
