// OTLP protobuf encoding, back to front (see otlp_proto.h for the design).
#include "reader/export/otlp_proto.h"

#include <bit>
#include <cstring>

#include "reader/export/utf8.h"

namespace agentring::reader {

using namespace otlp_pb;  // NOLINT: the field numbers read best unqualified here

static_assert(std::endian::native == std::endian::little,
              "fixed64/fixed32 fields are memcpy'd: protobuf is little-endian on the wire");

namespace {

constexpr size_t kInitialBufferBytes = 64 * 1024;
// Room for a tag (2 bytes for field 16) and a length varint (10 bytes at most).
constexpr size_t kFieldOverheadBytes = 12;

// Bytes of the minimal varint encoding of v: 1 + floor(bit_width(v | 1) - 1) / 7).
inline size_t VarintSize(uint64_t v) {
  return static_cast<size_t>((std::bit_width(v | 1) + 6) / 7);
}

}  // namespace

OtlpProtoEncoder::OtlpProtoEncoder(const OtlpResourceDefaults* defaults) : defaults_(defaults) {}
OtlpProtoEncoder::~OtlpProtoEncoder() = default;

void OtlpProtoEncoder::Grow(size_t need) {
  const size_t used = Written();
  size_t cap = static_cast<size_t>(end_ - begin_);
  size_t new_cap = cap == 0 ? kInitialBufferBytes : cap * 2;
  while (new_cap < used + need) new_cap *= 2;
  auto bigger = std::make_unique<uint8_t[]>(new_cap);
  uint8_t* new_end = bigger.get() + new_cap;
  if (used) memcpy(new_end - used, pos_, used);
  storage_ = std::move(bigger);
  begin_ = storage_.get();
  end_ = new_end;
  pos_ = end_ - used;
}

// The Put* functions write backwards: each call puts its bytes in front of what is there.

void OtlpProtoEncoder::PutVarint(uint64_t v) {
  const size_t n = VarintSize(v);
  pos_ -= n;
  uint8_t* p = pos_;
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p = static_cast<uint8_t>(v);
}

void OtlpProtoEncoder::PutTag(uint32_t field, uint32_t wire) { PutVarint((field << 3) | wire); }

void OtlpProtoEncoder::PutFixed64(uint64_t v) {
  pos_ -= 8;
  memcpy(pos_, &v, 8);
}

void OtlpProtoEncoder::PutBytesField(uint32_t field, const void* data, size_t n) {
  Reserve(n + kFieldOverheadBytes);
  pos_ -= n;
  if (n) memcpy(pos_, data, n);
  PutVarint(n);
  PutTag(field, kWireLen);
}

void OtlpProtoEncoder::PutStringField(uint32_t field, std::string_view s) {
  if (IsWellFormedUtf8(s)) {
    PutBytesField(field, s.data(), s.size());
    return;
  }
  sanitized_.clear();
  AppendSanitizedUtf8(s, &sanitized_);
  PutBytesField(field, sanitized_.data(), sanitized_.size());
}

void OtlpProtoEncoder::PutFixed64Field(uint32_t field, uint64_t v) {
  Reserve(8 + kFieldOverheadBytes);
  PutFixed64(v);
  PutTag(field, kWireFixed64);
}

void OtlpProtoEncoder::PutVarintField(uint32_t field, uint64_t v) {
  Reserve(10 + kFieldOverheadBytes);
  PutVarint(v);
  PutTag(field, kWireVarint);
}

void OtlpProtoEncoder::EndMessage(uint32_t field, size_t mark) {
  Reserve(kFieldOverheadBytes);
  PutVarint(Written() - mark);
  PutTag(field, kWireLen);
}

void OtlpProtoEncoder::PutSpanId(uint32_t field, uint64_t id) {
  const uint64_t be = __builtin_bswap64(id);  // ids are big-endian bytes, as their hex reads
  PutBytesField(field, &be, 8);
}

void OtlpProtoEncoder::PutTraceId(uint32_t field, const TraceId& id) {
  const uint64_t be[2] = {__builtin_bswap64(id.hi), __builtin_bswap64(id.lo)};
  PutBytesField(field, be, 16);
}

void OtlpProtoEncoder::PutKeyValue(uint32_t field, std::string_view key, const AttrValue& value) {
  const size_t kv = Written();
  const size_t any = Written();
  switch (value.index()) {
    case 0:
      PutVarintField(kAnyInt, static_cast<uint64_t>(std::get<int64_t>(value)));
      break;
    case 1:
      PutFixed64Field(kAnyDouble, std::bit_cast<uint64_t>(std::get<double>(value)));
      break;
    case 2:
      PutVarintField(kAnyBool, std::get<bool>(value) ? 1 : 0);
      break;
    default:
      PutStringField(kAnyString, std::get<std::string>(value));
      break;
  }
  EndMessage(kKeyValueValue, any);
  PutStringField(kKeyValueKey, key);
  EndMessage(field, kv);
}

void OtlpProtoEncoder::PutStringKeyValue(uint32_t field, std::string_view key,
                                         std::string_view value) {
  const size_t kv = Written();
  const size_t any = Written();
  PutStringField(kAnyString, value);
  EndMessage(kKeyValueValue, any);
  PutStringField(kKeyValueKey, key);
  EndMessage(field, kv);
}

void OtlpProtoEncoder::PutAttributes(uint32_t field, const std::vector<Attribute>& attributes) {
  for (size_t i = attributes.size(); i-- > 0;) {
    PutKeyValue(field, attributes[i].key, attributes[i].value);
  }
}

void OtlpProtoEncoder::PutSpan(const SpanData& span) {
  const size_t mark = Written();
  // Fields in reverse field-number order.
  Reserve(4 + kFieldOverheadBytes);
  pos_ -= 4;
  const uint32_t flags = OtlpSpanFlags(span);
  memcpy(pos_, &flags, 4);
  PutTag(kSpanFlags, kWireFixed32);

  if (span.status != SpanStatus::kUnset) {
    const size_t status = Written();
    PutVarintField(kStatusCode, span.status == SpanStatus::kOk ? 1 : 2);
    if (span.status == SpanStatus::kError && !span.status_message.empty())
      PutStringField(kStatusMessage, span.status_message);
    EndMessage(kSpanStatus, status);
  }
  for (size_t i = span.links.size(); i-- > 0;) {
    const size_t link = Written();
    PutSpanId(kLinkSpanId, span.links[i].span_id);
    PutTraceId(kLinkTraceId, span.links[i].trace_id);
    EndMessage(kSpanLinks, link);
  }
  for (size_t i = span.events.size(); i-- > 0;) {
    const SpanEvent& e = span.events[i];
    const size_t event = Written();
    PutAttributes(kEventAttributes, e.attributes);
    if (!e.name.empty()) PutStringField(kEventName, e.name);
    if (e.time_unix_ns != 0) PutFixed64Field(kEventTime, e.time_unix_ns);
    EndMessage(kSpanEvents, event);
  }
  const OtlpSpanExtras extras = OtlpSpanExtrasOf(span);
  if (extras.add_incomplete) PutKeyValue(kSpanAttributes, kIncompleteKey, AttrValue(true));
  PutAttributes(kSpanAttributes, span.attributes);
  if (extras.add_kind) PutStringKeyValue(kSpanAttributes, kAgentKindKey, KindString(span.kind));
  if (span.end_unix_ns != 0) PutFixed64Field(kSpanEndTime, span.end_unix_ns);
  if (span.start_unix_ns != 0) PutFixed64Field(kSpanStartTime, span.start_unix_ns);
  PutVarintField(kSpanKind, static_cast<uint64_t>(OtlpSpanKind(span.kind)));
  if (!span.name.empty()) PutStringField(kSpanName, span.name);
  if (span.parent_span_id != 0) PutSpanId(kSpanParentSpanId, span.parent_span_id);
  PutSpanId(kSpanSpanId, span.span_id);
  PutTraceId(kSpanTraceId, span.trace_id);
  EndMessage(kScopeSpansSpans, mark);
}

void OtlpProtoEncoder::PutResourceSpans(const ProcessInfo* process,
                                        std::span<const SpanData* const> spans) {
  const size_t resource_spans = Written();
  PutStringField(kResourceSpansSchemaUrl, kOtlpSchemaUrl);

  const size_t scope_spans = Written();
  PutStringField(kScopeSpansSchemaUrl, kOtlpSchemaUrl);
  for (size_t i = spans.size(); i-- > 0;) PutSpan(*spans[i]);
  const size_t scope = Written();
  PutStringField(kScopeVersion, kOtlpScopeVersion);
  PutStringField(kScopeName, kOtlpScopeName);
  EndMessage(kScopeSpansScope, scope);
  EndMessage(kResourceSpansScopeSpans, scope_spans);

  const size_t resource = Written();
  BuildOtlpResource(process, defaults_, &resource_);
  for (size_t i = resource_.size(); i-- > 0;) {
    const OtlpResourceAttribute& a = resource_[i];
    if (a.is_int) {
      PutKeyValue(kResourceAttributes, a.key, AttrValue(a.int_value));
    } else {
      PutStringKeyValue(kResourceAttributes, a.key, a.string_value);
    }
  }
  EndMessage(kResourceSpansResource, resource);
  EndMessage(kRequestResourceSpans, resource_spans);
}

std::string_view OtlpProtoEncoder::Encode(std::span<const TraceBatch* const> traces) {
  if (storage_ == nullptr) Grow(kInitialBufferBytes);
  pos_ = end_;
  groups_.Build(traces);
  for (size_t g = groups_.size(); g-- > 0;) PutResourceSpans(groups_.process(g), groups_.spans(g));
  return {reinterpret_cast<const char*>(pos_), Written()};
}

}  // namespace agentring::reader
