// ABI 1.1 header fields: the full-lane policy a segment was created with is what attachers see,
// an unknown policy value is refused naming it, and the fields appended in 1.1 sit where the
// layout pins say (the pins themselves are static_asserts in segment.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "agentring/abi/segment.h"
#include "agentring/internal/segment_map.h"

namespace agentring::abi {
namespace {

std::unique_ptr<internal::SegmentMap> CreateWithPolicy(const std::string& name, uint32_t policy) {
  internal::SegmentMap::Remove(name);
  internal::SegmentMap::CreateOptions o;
  o.geometry.lane_count = 2;
  o.geometry.lane_capacity_records = 64;
  o.geometry.process_slot_count = 2;
  o.geometry.string_block_bytes = kPageBytes;
  o.full_policy = policy;
  bool created = false;
  internal::OpenStatus st;
  std::string err;
  return internal::SegmentMap::Create(name, o, &created, &st, &err);
}

TEST(FullPolicyHeader, AttachersSeeThePolicyAndRefuseUnknownOnes) {
  const std::string name = "abi-policy-" + std::to_string(getpid());
  auto seg = CreateWithPolicy(name, kFullOverwrite);
  ASSERT_NE(seg, nullptr);
  EXPECT_EQ(seg->header()->abi_minor, kAbiMinor);
  EXPECT_NE(seg->header()->feature_flags & kFeatureFoldedTotals, 0u);
  internal::OpenStatus st;
  std::string err;
  auto other = internal::SegmentMap::Open(name, &st, &err);
  ASSERT_NE(other, nullptr) << err;
  EXPECT_EQ(other->full_policy(), kFullOverwrite);

  seg->header()->full_policy = 7;
  std::string why = internal::CheckHeader(*seg->header(), seg->size_bytes());
  EXPECT_NE(why.find("full-lane policy 7"), std::string::npos) << why;
  EXPECT_EQ(internal::SegmentMap::Open(name, &st, &err), nullptr);
  EXPECT_EQ(st, internal::OpenStatus::kIncompatible);
  internal::SegmentMap::Remove(name);
}

TEST(FullPolicyHeader, PolicyNamesRoundTrip) {
  uint32_t p = 99;
  ASSERT_TRUE(internal::ParseFullPolicy("overwrite", &p));
  EXPECT_EQ(p, kFullOverwrite);
  ASSERT_TRUE(internal::ParseFullPolicy("drop", &p));
  EXPECT_EQ(p, kFullDrop);
  EXPECT_FALSE(internal::ParseFullPolicy("Drop", &p));
  EXPECT_STREQ(internal::FullPolicyName(kFullOverwrite), "overwrite");
  EXPECT_EQ(internal::FullPolicyName(2), nullptr);
}

}  // namespace
}  // namespace agentring::abi
