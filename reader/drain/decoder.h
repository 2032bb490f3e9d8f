// Decoding of record groups copied out of a lane. The bytes are untrusted: every type, length,
// count and id is checked, and anything malformed becomes a counted rejection with a reason,
// never a crash, an unbounded loop or an unbounded allocation.
#ifndef AGENTRING_READER_DRAIN_DECODER_H_
#define AGENTRING_READER_DRAIN_DECODER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "agentring/abi/records.h"

namespace agentring::reader {

enum class RejectReason : uint8_t {
  kBadType = 0,          // a record type that cannot start a group (or zero bytes)
  kBadGroup,             // group_remaining inconsistent, too large, or past the head
  kBadString,            // string length or continuation records malformed
  kBadIds,               // zero trace or span id
  kBadValue,             // unknown value type / status code
  kHeadOutOfRange,       // a lane head behind its tail or more than a lane ahead
  kLaneEntry,            // a lane-table entry naming a process slot that does not own it, or
                         // holding a state no writer stores
  kLaneHeader,           // a lane's read position (reader-owned) changed by someone else
  kProcessSlot,          // a process slot holding a state no writer stores, its lock free
  kCount
};
const char* RejectReasonName(RejectReason r);

struct DecodedAttr {
  uint32_t key_id = 0;
  bool of_event = false;
  bool clipped = false;
  abi::ValueType type = abi::ValueType::None;
  uint64_t num = 0;
  std::string str;
};

// One decoded group. Reused across calls (clear() keeps capacity) so steady-state decoding does
// not allocate for groups without strings.
struct DecodedGroup {
  abi::RecordType type = abi::RecordType::Invalid;
  uint32_t records = 0;
  uint32_t name_id = 0;       // SpanStart, Event
  uint64_t ts = 0;            // SpanStart, SpanEnd, Event (writer ticks)
  uint64_t trace_hi = 0, trace_lo = 0;
  uint64_t span_id = 0;       // every type: the span the group is about
  uint64_t parent_span_id = 0;
  uint8_t flags = 0;
  uint8_t kind = 0;
  uint8_t suffix_type = 0;
  uint8_t suffix_len = 0;
  uint64_t suffix = 0;
  uint8_t status = 0;         // SpanEnd, Status
  uint32_t groups_dropped = 0;  // SpanEnd: the span's groups its writer dropped (ABI 1.1)
  std::string message;        // Status
  uint64_t link_trace_hi = 0, link_trace_lo = 0, link_span_id = 0;
  std::vector<DecodedAttr> attrs;
  uint32_t attr_count = 0;    // valid entries in attrs (the rest is reusable capacity)

  // Resets every field but keeps the vectors' capacity. The decoder fills only the fields of
  // the group's type, and the drain stage checks every id field of a group against its
  // process's string table, so nothing may carry over from the previous group (which may come
  // from another lane and another process).
  void clear() {
    type = abi::RecordType::Invalid;
    records = name_id = groups_dropped = 0;
    ts = trace_hi = trace_lo = span_id = parent_span_id = suffix = 0;
    flags = kind = suffix_type = suffix_len = status = 0;
    link_trace_hi = link_trace_lo = link_span_id = 0;
    attr_count = 0;
    message.clear();
  }
};

// Result of DecodeGroup.
struct DecodeResult {
  enum Kind { kOk, kReject, kNeedMore } kind;
  uint32_t records;  // kOk: records consumed; kReject: records to skip; kNeedMore: group size
  RejectReason reason;
};

// Decodes the group that starts at recs[0]; `available` records were copied out. `at_head`
// says that no records exist beyond `available` (so a group claiming more is malformed rather
// than cut by the copy window). Thread-compatible; no shared memory is touched.
DecodeResult DecodeGroup(const abi::RawRecord* recs, uint64_t available, bool at_head,
                         DecodedGroup* out);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_DRAIN_DECODER_H_
