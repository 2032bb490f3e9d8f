// ABI tests: the generated 64-byte records put every field where the schema says, every record
// starts with the common head, the segment geometry and header checks behave, and a segment of
// another ABI version is refused with both versions named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include "agentring/abi/records.h"
#include "agentring/abi/segment.h"
#include "agentring/internal/segment_map.h"
#include "reader/drain/segment_reader.h"

namespace agentring::abi {
namespace {

template <typename T>
T At(const void* rec, size_t off) {
  T v;
  memcpy(&v, static_cast<const uint8_t*>(rec) + off, sizeof(T));
  return v;
}

TEST(AbiLayout, SpanStartFieldOffsets) {
  SpanStartRecord r(static_cast<uint8_t>(RecordType::SpanStart), 0x03, 7, 0x11223344,
                    0x0102030405060708ull, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 12, 2, 5, 0, 0);
  EXPECT_EQ(At<uint8_t>(&r, 0), 1);
  EXPECT_EQ(At<uint8_t>(&r, 1), 0x03);
  EXPECT_EQ(At<uint16_t>(&r, 2), 7);
  EXPECT_EQ(At<uint32_t>(&r, 4), 0x11223344u);
  EXPECT_EQ(At<uint64_t>(&r, 8), 0x0102030405060708ull);
  EXPECT_EQ(At<uint64_t>(&r, 16), 0xA1u);  // trace hi
  EXPECT_EQ(At<uint64_t>(&r, 24), 0xA2u);  // trace lo
  EXPECT_EQ(At<uint64_t>(&r, 32), 0xA3u);  // span id
  EXPECT_EQ(At<uint64_t>(&r, 40), 0xA4u);  // parent
  EXPECT_EQ(At<uint64_t>(&r, 48), 0xA5u);  // suffix
  EXPECT_EQ(At<uint8_t>(&r, 56), 12);      // kind
  EXPECT_EQ(At<uint8_t>(&r, 57), 2);       // suffix type
  EXPECT_EQ(At<uint8_t>(&r, 58), 5);       // suffix len
}

TEST(AbiLayout, EndAttrStatusContLinkOffsets) {
  SpanEndRecord e(2, 0, 0, 0x3344, 0x55, 0x66, 0x77, 0x88, 2, 0, 0);
  EXPECT_EQ(At<uint32_t>(&e, 4), 0x3344u);  // groups_dropped (ABI 1.1), in the head's aux
  EXPECT_EQ(e.groups_dropped(), 0x3344u);
  EXPECT_EQ(At<uint64_t>(&e, 8), 0x55u);
  EXPECT_EQ(At<uint64_t>(&e, 16), 0x66u);
  EXPECT_EQ(At<uint64_t>(&e, 24), 0x77u);
  EXPECT_EQ(At<uint64_t>(&e, 32), 0x88u);
  EXPECT_EQ(At<uint8_t>(&e, 40), 2);

  AttrRecord a(3, 1, 4, 0xBEEF, 0x99, 0x1234, 4, 0, 0, 77);
  EXPECT_EQ(At<uint32_t>(&a, 4), 0xBEEFu);
  EXPECT_EQ(At<uint64_t>(&a, 8), 0x99u);
  EXPECT_EQ(At<uint64_t>(&a, 16), 0x1234u);
  EXPECT_EQ(At<uint8_t>(&a, 24), 4);
  EXPECT_EQ(At<uint32_t>(&a, 28), 77u);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(a.inline_bytes()->Data()) -
                reinterpret_cast<const uint8_t*>(&a),
            32);

  StatusRecord s;
  s.mutate_code(2);
  s.mutate_str_len(9);
  EXPECT_EQ(At<uint8_t>(&s, 24), 2);
  EXPECT_EQ(At<uint32_t>(&s, 28), 9u);

  ContRecord c;
  c.mutate_len(56);
  EXPECT_EQ(At<uint32_t>(&c, 4), 56u);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(c.payload()->Data()) -
                reinterpret_cast<const uint8_t*>(&c),
            8);

  LinkRecord l;
  l.mutate_linked_span_id(0x42);
  EXPECT_EQ(At<uint64_t>(&l, 32), 0x42u);
}

TEST(AbiLayout, EveryRecordStartsWithTheCommonHead) {
  EventRecord ev;
  ev.mutate_type(static_cast<uint8_t>(RecordType::Event));
  ev.mutate_flags(9);
  ev.mutate_group_remaining(300);
  ev.mutate_name_id(0xCAFE);
  RecordHead h;
  memcpy(&h, &ev, sizeof(h));
  EXPECT_EQ(h.type, static_cast<uint8_t>(RecordType::Event));
  EXPECT_EQ(h.flags, 9);
  EXPECT_EQ(h.group_remaining, 300);
  EXPECT_EQ(h.aux, 0xCAFEu);
}

TEST(AbiLayout, ContRecordsForBoundaries) {
  EXPECT_EQ(ContRecordsFor(0), 0u);
  EXPECT_EQ(ContRecordsFor(32), 0u);
  EXPECT_EQ(ContRecordsFor(33), 1u);
  EXPECT_EQ(ContRecordsFor(32 + 56), 1u);
  EXPECT_EQ(ContRecordsFor(32 + 57), 2u);
}

TEST(AbiGeometry, ValidateRejectsBadSizes) {
  Geometry g;
  EXPECT_EQ(g.Validate(), nullptr);
  g.lane_capacity_records = 1000;  // not a power of two
  EXPECT_NE(g.Validate(), nullptr);
  g = Geometry{};
  g.lane_count = 0;
  EXPECT_NE(g.Validate(), nullptr);
  g = Geometry{};
  g.string_block_bytes = 5000;
  EXPECT_NE(g.Validate(), nullptr);
}

TEST(AbiGeometry, LayoutIsAlignedAndOrdered) {
  Geometry g{8, 1024, 16, 8192};
  Layout l = ComputeLayout(g);
  EXPECT_EQ(l.lane_table_offset, kHeaderBytes);
  EXPECT_EQ(l.process_table_offset % kCacheLine, 0u);
  EXPECT_EQ(l.string_area_offset % kPageBytes, 0u);
  EXPECT_EQ(l.lanes_offset % kPageBytes, 0u);
  EXPECT_GE(l.process_table_offset, l.lane_table_offset + 8 * kLaneSlotBytes);
  EXPECT_GE(l.lanes_offset, l.string_area_offset + 16 * 8192);
  EXPECT_EQ(l.total_bytes, l.lanes_offset + 8ull * 1024 * kRecordBytes);
}

class SegmentHeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "abi-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    internal::SegmentMap::CreateOptions o;
    o.geometry = Geometry{2, 64, 2, kPageBytes};
    bool created = false;
    internal::OpenStatus st;
    std::string err;
    seg_ = internal::SegmentMap::Create(name_, o, &created, &st, &err);
    ASSERT_TRUE(seg_) << err;
    ASSERT_TRUE(created);
  }
  void TearDown() override { internal::SegmentMap::Remove(name_); }
  std::string name_;
  std::unique_ptr<internal::SegmentMap> seg_;
};

TEST_F(SegmentHeaderTest, CreatedHeaderIsCompatibleAndCalibrated) {
  const SegmentHeader& h = *seg_->header();
  EXPECT_EQ(internal::CheckHeader(h, seg_->size_bytes()), "");
  EXPECT_EQ(h.abi_major, kAbiMajor);
  EXPECT_GT(h.ticks_per_second, 0u);
  EXPECT_EQ(h.creator_uid, static_cast<uint32_t>(geteuid()));
}

TEST_F(SegmentHeaderTest, OtherAbiMajorIsRefusedNamingBothVersions) {
  seg_->header()->abi_major = kAbiMajor + 1;
  std::string why = internal::CheckHeader(*seg_->header(), seg_->size_bytes());
  const std::string minor = "." + std::to_string(kAbiMinor);
  EXPECT_NE(why.find("ABI " + std::to_string(kAbiMajor + 1) + minor), std::string::npos) << why;
  EXPECT_NE(why.find("ABI " + std::to_string(kAbiMajor) + minor), std::string::npos) << why;
  // A writer-side open refuses it too.
  internal::OpenStatus st;
  std::string err;
  EXPECT_FALSE(internal::SegmentMap::Open(name_, &st, &err));
  EXPECT_EQ(st, internal::OpenStatus::kIncompatible);
}

TEST_F(SegmentHeaderTest, CorruptOffsetsAndShortFilesAreRefused) {
  seg_->header()->lanes_offset += 64;
  EXPECT_NE(internal::CheckHeader(*seg_->header(), seg_->size_bytes()), "");
  seg_->header()->lanes_offset -= 64;
  EXPECT_NE(internal::CheckHeader(*seg_->header(), seg_->size_bytes() - 1), "");
  seg_->header()->magic.store(0);
  EXPECT_NE(internal::CheckHeader(*seg_->header(), seg_->size_bytes()), "");
}

TEST_F(SegmentHeaderTest, IncompatibleSegmentStillMappedIsNotReplaced) {
  // seg_ maps it (and holds the shared "mapped" lock): a creator wanting another geometry
  // must refuse rather than pull it from under a live process.
  seg_->header()->abi_major = kAbiMajor + 1;
  internal::SegmentMap::CreateOptions o;
  bool created = false;
  internal::OpenStatus st;
  std::string err;
  auto other = internal::SegmentMap::Create(name_, o, &created, &st, &err);
  EXPECT_FALSE(other);
  EXPECT_EQ(st, internal::OpenStatus::kBusy) << err;
  // Once nobody maps it, it is replaced.
  seg_.reset();
  other = internal::SegmentMap::Create(name_, o, &created, &st, &err);
  ASSERT_TRUE(other) << err;
  EXPECT_TRUE(created);
}

TEST_F(SegmentHeaderTest, ByteLocksSeeOtherOpenFileDescriptions) {
  internal::OpenStatus st;
  std::string err;
  auto other = internal::SegmentMap::Open(name_, &st, &err);
  ASSERT_TRUE(other) << err;
  EXPECT_FALSE(other->IsByteLocked(kProcessLockBase + 1));
  ASSERT_TRUE(seg_->TryLockByte(kProcessLockBase + 1, true));
  EXPECT_TRUE(other->IsByteLocked(kProcessLockBase + 1));
  EXPECT_FALSE(other->TryLockByte(kProcessLockBase + 1, true));
  seg_->UnlockByte(kProcessLockBase + 1);
  EXPECT_FALSE(other->IsByteLocked(kProcessLockBase + 1));
}

// Regression: the reader re-read geometry from the header on every pass, so a process that
// scribbled lane_count or process_slot_count after the reader opened the segment made it index
// far outside its tables (SIGSEGV). Geometry is now copied once, validated, and never re-read.
TEST_F(SegmentHeaderTest, ScribbledGeometryAfterOpenIsIgnored) {
  internal::OpenStatus st;
  std::string err;
  auto view = internal::SegmentMap::Open(name_, &st, &err);
  ASSERT_TRUE(view) << err;
  reader::SegmentReader r(std::move(seg_));
  struct NullSink : reader::GroupSink {
    void OnGroup(const reader::DecodedGroup&, const reader::GroupContext&) override {}
    void OnProcessExit(const reader::ProcessState&, uint64_t) override {}
  } sink;
  view->header()->lane_count = 0x7fffffff;
  view->header()->process_slot_count = 0x7fffffff;
  view->header()->lane_capacity_records = 0x40000000;
  view->header()->string_block_bytes = 0x7fffffff;
  view->header()->lane_table_offset = 1ull << 40;
  for (int i = 0; i < 3; ++i) r.Pass(&sink);
  EXPECT_EQ(r.segment().lane_count(), 2u);
  EXPECT_EQ(r.segment().process_slot_count(), 2u);
  EXPECT_EQ(r.Collect().records_read, 0u);
}

}  // namespace
}  // namespace agentring::abi
