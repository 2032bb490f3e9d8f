// DecodeGroup: validates and decodes one record group (see decoder.h).
#include "reader/drain/decoder.h"

#include <cstring>

#include "agentring/internal/writer_config.h"

namespace agentring::reader {
namespace {

inline abi::RecordHead Head(const abi::RawRecord& r) {
  abi::RecordHead h;
  memcpy(&h, r.bytes, sizeof(h));
  return h;
}

template <typename R>
inline const R& As(const abi::RawRecord& r) {
  return *reinterpret_cast<const R*>(r.bytes);  // RawRecord is 8-aligned, R is trivially copyable
}

DecodeResult Reject(uint32_t skip, RejectReason why) { return {DecodeResult::kReject, skip, why}; }

// Reads a string of `len` bytes: the first up-to-32 bytes from `inline_bytes`, the rest from the
// Cont records at recs[1..]. Returns false if the Cont records do not match the length.
bool ReadString(const uint8_t* inline_bytes, uint32_t len, const abi::RawRecord* recs,
                uint32_t cont_available, std::string* out) {
  if (len > internal::WriterConfig::kMaxStringBytesLimit) return false;
  uint32_t conts = abi::ContRecordsFor(len);
  if (conts > cont_available) return false;
  out->resize(len);
  uint32_t first = len < abi::kInlineStringBytes ? len : abi::kInlineStringBytes;
  memcpy(out->data(), inline_bytes, first);
  uint32_t off = first;
  for (uint32_t c = 0; c < conts; ++c) {
    const abi::RawRecord& r = recs[1 + c];
    abi::RecordHead h = Head(r);
    if (h.type != static_cast<uint8_t>(abi::RecordType::Cont)) return false;
    uint32_t want = len - off < abi::kContPayloadBytes ? len - off : abi::kContPayloadBytes;
    if (h.aux != want) return false;
    memcpy(out->data() + off, r.bytes + 8, want);
    off += want;
  }
  return true;
}

bool ValidValueType(uint8_t v) {
  return v >= static_cast<uint8_t>(abi::ValueType::Int64) &&
         v <= static_cast<uint8_t>(abi::ValueType::String);
}

}  // namespace

const char* RejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kBadType: return "bad_type";
    case RejectReason::kBadGroup: return "bad_group";
    case RejectReason::kBadString: return "bad_string";
    case RejectReason::kBadIds: return "bad_ids";
    case RejectReason::kBadValue: return "bad_value";
    case RejectReason::kHeadOutOfRange: return "head_out_of_range";
    case RejectReason::kLaneEntry: return "lane_entry";
    case RejectReason::kLaneHeader: return "lane_header";
    case RejectReason::kProcessSlot: return "process_slot";
    case RejectReason::kCount: break;
  }
  return "unknown";
}

DecodeResult DecodeGroup(const abi::RawRecord* recs, uint64_t available, bool at_head,
                         DecodedGroup* out) {
  out->clear();
  abi::RecordHead h = Head(recs[0]);
  auto type = static_cast<abi::RecordType>(h.type);
  switch (type) {
    case abi::RecordType::SpanStart:
    case abi::RecordType::SpanEnd:
    case abi::RecordType::Attr:
    case abi::RecordType::Event:
    case abi::RecordType::Status:
    case abi::RecordType::Link:
      break;
    default:
      return Reject(1, RejectReason::kBadType);
  }
  uint32_t group = uint32_t{h.group_remaining} + 1;
  if (group > abi::kMaxGroupRecords) return Reject(1, RejectReason::kBadGroup);
  if (group > available) {
    if (at_head) return Reject(1, RejectReason::kBadGroup);
    return {DecodeResult::kNeedMore, group, RejectReason::kBadGroup};
  }
  for (uint32_t i = 1; i < group; ++i) {
    if (Head(recs[i]).group_remaining != group - 1 - i) return Reject(1, RejectReason::kBadGroup);
  }
  out->type = type;
  out->records = group;

  // Attr records from recs[first] to the end of the group (each with its Cont records).
  auto decode_attrs = [&](uint32_t first, bool allow_event) -> RejectReason {
    uint32_t i = first;
    while (i < group) {
      const abi::RawRecord& r = recs[i];
      if (Head(r).type != static_cast<uint8_t>(abi::RecordType::Attr)) return RejectReason::kBadType;
      const auto& a = As<abi::AttrRecord>(r);
      if (!ValidValueType(a.value_type())) return RejectReason::kBadValue;
      bool of_event = (a.flags() & static_cast<uint8_t>(abi::AttrFlags::OfEvent)) != 0;
      if (of_event && !allow_event) return RejectReason::kBadGroup;
      if (out->attrs.size() <= out->attr_count) out->attrs.emplace_back();
      DecodedAttr& d = out->attrs[out->attr_count];
      d.key_id = a.key_id();
      d.of_event = of_event;
      d.clipped = (a.flags() & static_cast<uint8_t>(abi::AttrFlags::Clipped)) != 0;
      d.type = static_cast<abi::ValueType>(a.value_type());
      d.num = a.num();
      d.str.clear();
      uint32_t used = 1;
      if (d.type == abi::ValueType::String) {
        if (!ReadString(a.inline_bytes()->Data(), a.str_len(), &recs[i], group - i - 1, &d.str))
          return RejectReason::kBadString;
        used += abi::ContRecordsFor(a.str_len());
      }
      ++out->attr_count;
      i += used;
    }
    return RejectReason::kCount;  // ok
  };

  const abi::RawRecord& r0 = recs[0];
  switch (type) {
    case abi::RecordType::SpanStart: {
      const auto& s = As<abi::SpanStartRecord>(r0);
      out->name_id = s.name_id();
      out->ts = s.start_ts();
      out->trace_hi = s.trace_id_hi();
      out->trace_lo = s.trace_id_lo();
      out->span_id = s.span_id();
      out->parent_span_id = s.parent_span_id();
      out->flags = s.flags();
      out->kind = s.kind();
      out->suffix_type = s.suffix_type();
      out->suffix_len = s.suffix_len();
      out->suffix = s.suffix();
      if (out->span_id == 0 || (out->trace_hi | out->trace_lo) == 0)
        return Reject(group, RejectReason::kBadIds);
      if (out->suffix_type > static_cast<uint8_t>(abi::SuffixType::Inline) ||
          out->suffix_len > abi::kInlineSuffixBytes)
        return Reject(group, RejectReason::kBadValue);
      RejectReason why = decode_attrs(1, false);
      if (why != RejectReason::kCount) return Reject(group, why);
      break;
    }
    case abi::RecordType::SpanEnd: {
      const auto& e = As<abi::SpanEndRecord>(r0);
      if (group != 1) return Reject(group, RejectReason::kBadGroup);
      out->ts = e.end_ts();
      out->trace_hi = e.trace_id_hi();
      out->trace_lo = e.trace_id_lo();
      out->span_id = e.span_id();
      out->status = e.status();
      out->groups_dropped = e.groups_dropped();  // any value is valid (a count)
      if (out->span_id == 0 || (out->trace_hi | out->trace_lo) == 0)
        return Reject(group, RejectReason::kBadIds);
      if (out->status > 2) return Reject(group, RejectReason::kBadValue);
      break;
    }
    case abi::RecordType::Attr: {
      out->span_id = As<abi::AttrRecord>(r0).span_id();
      if (out->span_id == 0) return Reject(group, RejectReason::kBadIds);
      RejectReason why = decode_attrs(0, false);
      if (why != RejectReason::kCount) return Reject(group, why);
      // Every attr of a Set group must name the same span.
      for (uint32_t i = 0; i < group; ++i) {
        if (Head(recs[i]).type == static_cast<uint8_t>(abi::RecordType::Attr) &&
            As<abi::AttrRecord>(recs[i]).span_id() != out->span_id)
          return Reject(group, RejectReason::kBadGroup);
      }
      break;
    }
    case abi::RecordType::Event: {
      const auto& e = As<abi::EventRecord>(r0);
      out->name_id = e.name_id();
      out->span_id = e.span_id();
      out->ts = e.ts();
      if (out->span_id == 0) return Reject(group, RejectReason::kBadIds);
      RejectReason why = decode_attrs(1, true);
      if (why != RejectReason::kCount) return Reject(group, why);
      break;
    }
    case abi::RecordType::Status: {
      const auto& s = As<abi::StatusRecord>(r0);
      out->span_id = s.span_id();
      out->status = s.code();
      if (out->span_id == 0) return Reject(group, RejectReason::kBadIds);
      if (out->status > 2) return Reject(group, RejectReason::kBadValue);
      if (abi::ContRecordsFor(s.str_len()) + 1 != group) return Reject(group, RejectReason::kBadString);
      if (!ReadString(s.inline_bytes()->Data(), s.str_len(), &recs[0], group - 1, &out->message))
        return Reject(group, RejectReason::kBadString);
      break;
    }
    case abi::RecordType::Link: {
      const auto& l = As<abi::LinkRecord>(r0);
      if (group != 1) return Reject(group, RejectReason::kBadGroup);
      out->span_id = l.span_id();
      out->link_trace_hi = l.linked_trace_id_hi();
      out->link_trace_lo = l.linked_trace_id_lo();
      out->link_span_id = l.linked_span_id();
      if (out->span_id == 0 || out->link_span_id == 0) return Reject(group, RejectReason::kBadIds);
      break;
    }
    default:
      return Reject(1, RejectReason::kBadType);
  }
  return {DecodeResult::kOk, group, RejectReason::kCount};
}

}  // namespace agentring::reader
