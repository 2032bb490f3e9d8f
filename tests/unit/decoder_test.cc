// Decoder tests: valid groups decode field by field; every malformed shape is rejected with its
// reason and a bounded skip; random bytes never crash or loop.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "reader/drain/decoder.h"

namespace agentring::reader {
namespace {

using abi::RawRecord;
using abi::RecordType;

RawRecord Raw(const void* rec) {
  RawRecord r;
  memcpy(r.bytes, rec, sizeof(r.bytes));
  return r;
}

RawRecord Start(uint64_t span, uint16_t remaining = 0) {
  abi::SpanStartRecord s(static_cast<uint8_t>(RecordType::SpanStart), 1, remaining, 8, 1000, 1, 2,
                         span, 0, 0, 4, 0, 0, 0, 0);
  return Raw(&s);
}

RawRecord Attr(uint64_t span, uint16_t remaining, abi::ValueType vt, uint64_t num,
               uint32_t str_len = 0, const char* inline_text = "") {
  abi::AttrRecord a(static_cast<uint8_t>(RecordType::Attr), 0, remaining, 12, span, num,
                    static_cast<uint8_t>(vt), 0, 0, str_len);
  memcpy(a.mutable_inline_bytes()->Data(), inline_text, strnlen(inline_text, 32));
  return Raw(&a);
}

RawRecord Cont(uint16_t remaining, uint32_t len, char fill) {
  abi::ContRecord c(static_cast<uint8_t>(RecordType::Cont), 0, remaining, len);
  memset(c.mutable_payload()->Data(), fill, len);
  return Raw(&c);
}

TEST(Decoder, SpanStartWithAttributes) {
  std::vector<RawRecord> g = {Start(77, 2), Attr(77, 1, abi::ValueType::Int64, 42),
                              Attr(77, 0, abi::ValueType::Bool, 1)};
  DecodedGroup out;
  DecodeResult r = DecodeGroup(g.data(), g.size(), true, &out);
  ASSERT_EQ(r.kind, DecodeResult::kOk);
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(out.type, RecordType::SpanStart);
  EXPECT_EQ(out.span_id, 77u);
  EXPECT_EQ(out.trace_hi, 1u);
  EXPECT_EQ(out.trace_lo, 2u);
  EXPECT_EQ(out.kind, 4);
  ASSERT_EQ(out.attr_count, 2u);
  EXPECT_EQ(out.attrs[0].num, 42u);
  EXPECT_EQ(out.attrs[1].type, abi::ValueType::Bool);
}

TEST(Decoder, LongStringAcrossContinuationRecords) {
  uint32_t len = 32 + 56 + 10;
  std::string inline_text(32, 'a');
  std::vector<RawRecord> g = {Attr(5, 2, abi::ValueType::String, 0, len, inline_text.c_str()),
                              Cont(1, 56, 'b'), Cont(0, 10, 'c')};
  DecodedGroup out;
  DecodeResult r = DecodeGroup(g.data(), g.size(), true, &out);
  ASSERT_EQ(r.kind, DecodeResult::kOk);
  ASSERT_EQ(out.attr_count, 1u);
  EXPECT_EQ(out.attrs[0].str, std::string(32, 'a') + std::string(56, 'b') + std::string(10, 'c'));
}

TEST(Decoder, RejectsZeroBytesAndUnknownTypes) {
  RawRecord zero{};
  DecodedGroup out;
  DecodeResult r = DecodeGroup(&zero, 1, true, &out);
  EXPECT_EQ(r.kind, DecodeResult::kReject);
  EXPECT_EQ(r.reason, RejectReason::kBadType);
  EXPECT_EQ(r.records, 1u);
  RawRecord cont = Cont(0, 5, 'x');  // a Cont cannot start a group
  r = DecodeGroup(&cont, 1, true, &out);
  EXPECT_EQ(r.reason, RejectReason::kBadType);
}

TEST(Decoder, RejectsInconsistentGroups) {
  DecodedGroup out;
  // Claims 3 records but only 2 exist up to the head.
  std::vector<RawRecord> g = {Start(9, 2), Attr(9, 1, abi::ValueType::Int64, 1)};
  DecodeResult r = DecodeGroup(g.data(), g.size(), true, &out);
  EXPECT_EQ(r.kind, DecodeResult::kReject);
  EXPECT_EQ(r.reason, RejectReason::kBadGroup);
  // Not at the head: the copy window cut it, ask for more.
  r = DecodeGroup(g.data(), g.size(), false, &out);
  EXPECT_EQ(r.kind, DecodeResult::kNeedMore);
  // group_remaining that does not count down.
  std::vector<RawRecord> h = {Start(9, 1), Attr(9, 1, abi::ValueType::Int64, 1)};
  r = DecodeGroup(h.data(), h.size(), true, &out);
  EXPECT_EQ(r.reason, RejectReason::kBadGroup);
  EXPECT_EQ(r.records, 1u);  // skip one record and resynchronise
  // A group larger than any writer may write.
  RawRecord huge = Start(9, 60000);
  r = DecodeGroup(&huge, 1, false, &out);
  EXPECT_EQ(r.reason, RejectReason::kBadGroup);
}

TEST(Decoder, RejectsBadStringsValuesAndIds) {
  DecodedGroup out;
  // String says 100 bytes but only one Cont record (needs 2).
  std::vector<RawRecord> g = {Attr(5, 1, abi::ValueType::String, 0, 100, "x"), Cont(0, 56, 'b')};
  EXPECT_EQ(DecodeGroup(g.data(), g.size(), true, &out).reason, RejectReason::kBadString);
  // Cont with a wrong length.
  std::vector<RawRecord> g2 = {Attr(5, 1, abi::ValueType::String, 0, 40, "x"), Cont(0, 9, 'b')};
  EXPECT_EQ(DecodeGroup(g2.data(), g2.size(), true, &out).reason, RejectReason::kBadString);
  RawRecord bad_type = Attr(5, 0, static_cast<abi::ValueType>(9), 0);
  EXPECT_EQ(DecodeGroup(&bad_type, 1, true, &out).reason, RejectReason::kBadValue);
  RawRecord no_span = Start(0);
  EXPECT_EQ(DecodeGroup(&no_span, 1, true, &out).reason, RejectReason::kBadIds);
  abi::SpanEndRecord e(static_cast<uint8_t>(RecordType::SpanEnd), 0, 0, 0, 1, 1, 1, 3, 7, 0, 0);
  RawRecord end = Raw(&e);
  EXPECT_EQ(DecodeGroup(&end, 1, true, &out).reason, RejectReason::kBadValue);  // status 7
}

TEST(Decoder, RandomBytesNeverCrashAndAlwaysMakeProgress) {
  std::mt19937_64 rng(12345);
  std::vector<RawRecord> buf(64);
  DecodedGroup out;
  uint64_t ok = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    for (RawRecord& r : buf) {
      for (size_t i = 0; i < sizeof(r.bytes); i += 8) {
        uint64_t v = rng();
        memcpy(r.bytes + i, &v, 8);
      }
      // Bias towards plausible heads so that deeper paths are reached.
      if (rng() % 2) r.bytes[0] = static_cast<uint8_t>(1 + rng() % 7);
      if (rng() % 2) r.bytes[2] = r.bytes[3] = 0;
    }
    size_t pos = 0;
    int steps = 0;
    while (pos < buf.size()) {
      DecodeResult r = DecodeGroup(buf.data() + pos, buf.size() - pos, true, &out);
      ASSERT_NE(r.kind, DecodeResult::kNeedMore);
      ASSERT_GE(r.records, 1u);
      ASSERT_LE(pos + r.records, buf.size());
      (r.kind == DecodeResult::kOk ? ok : rejected) += 1;
      pos += r.records;
      ASSERT_LT(++steps, 1000);
    }
  }
  EXPECT_GT(rejected, 0u);
  EXPECT_GT(ok, 0u);  // the bias above does produce decodable groups
}

}  // namespace
}  // namespace agentring::reader

namespace agentring::reader {
namespace {

// Regression: the drain stage reuses one DecodedGroup across lanes and processes; an id left
// over from the previous group was checked against the wrong string table (and counted as
// unresolved_string).
TEST(Decoder, ReusedGroupCarriesNothingOver) {
  DecodedGroup out;
  abi::EventRecord ev;
  ev.mutate_type(static_cast<uint8_t>(abi::RecordType::Event));
  ev.mutate_name_id(4242);
  ev.mutate_span_id(9);
  RawRecord e = Raw(&ev);
  ASSERT_EQ(DecodeGroup(&e, 1, true, &out).kind, DecodeResult::kOk);
  EXPECT_EQ(out.name_id, 4242u);
  abi::SpanEndRecord end(static_cast<uint8_t>(abi::RecordType::SpanEnd), 0, 0, 0, 5, 1, 1, 9, 0, 0, 0);
  RawRecord r = Raw(&end);
  ASSERT_EQ(DecodeGroup(&r, 1, true, &out).kind, DecodeResult::kOk);
  EXPECT_EQ(out.name_id, 0u);
  EXPECT_EQ(out.suffix_type, 0);
}

}  // namespace
}  // namespace agentring::reader
