// OTLP protobuf encoding, back to front (see otlp_proto.h for the design).
#include "reader/export/otlp_proto.h"

#include <bit>
#include <cstring>

#include "reader/export/utf8.h"

// The small writers are forced inline: the encoder is a long chain of them, and a call per byte
// sequence would cost more than the bytes.
#define AGENTRING_ALWAYS_INLINE inline __attribute__((always_inline))

namespace agentring::reader {

using namespace otlp_pb;  // NOLINT: the field numbers read best unqualified here

static_assert(std::endian::native == std::endian::little,
              "fixed64/fixed32 fields are memcpy'd: protobuf is little-endian on the wire");

namespace {

constexpr size_t kInitialBufferBytes = 64 * 1024;
// Room for a tag (2 bytes for field 16) and a length varint (10 bytes at most).
constexpr size_t kFieldOverheadBytes = 12;

// Bytes of the minimal varint encoding of v: one per started group of 7 bits.
AGENTRING_ALWAYS_INLINE size_t VarintSize(uint64_t v) {
  return static_cast<size_t>((std::bit_width(v | 1) + 6) / 7);
}

// The Put* helpers write backwards: each puts its bytes in front of p and returns the new p.
// The caller has reserved the room.
AGENTRING_ALWAYS_INLINE uint8_t* PutVarint(uint8_t* p, uint64_t v) {
  if (v < 0x80) {  // tags, most lengths, small ints
    *--p = static_cast<uint8_t>(v);
    return p;
  }
  p -= VarintSize(v);
  uint8_t* q = p;
  while (v >= 0x80) {
    *q++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *q = static_cast<uint8_t>(v);
  return p;
}

AGENTRING_ALWAYS_INLINE uint8_t* PutTag(uint8_t* p, uint32_t field, uint32_t wire) {
  return PutVarint(p, (field << 3) | wire);
}

AGENTRING_ALWAYS_INLINE uint8_t* PutRaw(uint8_t* p, const void* data, size_t n) {
  p -= n;
  memcpy(p, data, n);
  return p;
}

}  // namespace

OtlpProtoEncoder::OtlpProtoEncoder(const OtlpResourceDefaults* defaults) : defaults_(defaults) {}
OtlpProtoEncoder::~OtlpProtoEncoder() = default;

uint8_t* OtlpProtoEncoder::Grow(uint8_t* p, size_t need) {
  const size_t used = storage_ ? Written(p) : 0;
  const size_t cap = static_cast<size_t>(end_ - begin_);
  size_t new_cap = cap == 0 ? kInitialBufferBytes : cap * 2;
  while (new_cap < used + need) new_cap *= 2;
  auto bigger = std::make_unique<uint8_t[]>(new_cap);
  uint8_t* new_end = bigger.get() + new_cap;
  if (used) memcpy(new_end - used, p, used);
  storage_ = std::move(bigger);
  begin_ = storage_.get();
  end_ = new_end;
  return end_ - used;
}

AGENTRING_ALWAYS_INLINE uint8_t* OtlpProtoEncoder::PutBytesField(uint8_t* p, uint32_t field,
                                                                 const void* data, size_t n) {
  p = Reserve(p, n + kFieldOverheadBytes);
  p = PutRaw(p, data, n);
  p = PutVarint(p, n);
  return PutTag(p, field, kWireLen);
}

AGENTRING_ALWAYS_INLINE uint8_t* OtlpProtoEncoder::PutStringField(uint8_t* p, uint32_t field,
                                                                  std::string_view s) {
  if (__builtin_expect(IsWellFormedUtf8(s), 1)) return PutBytesField(p, field, s.data(), s.size());
  sanitized_.clear();
  AppendSanitizedUtf8(s, &sanitized_);
  return PutBytesField(p, field, sanitized_.data(), sanitized_.size());
}

AGENTRING_ALWAYS_INLINE uint8_t* OtlpProtoEncoder::PutFixed64Field(uint8_t* p, uint32_t field,
                                                                   uint64_t v) {
  p = Reserve(p, 8 + kFieldOverheadBytes);
  p = PutRaw(p, &v, 8);
  return PutTag(p, field, kWireFixed64);
}

AGENTRING_ALWAYS_INLINE uint8_t* OtlpProtoEncoder::PutVarintField(uint8_t* p, uint32_t field,
                                                                  uint64_t v) {
  p = Reserve(p, 10 + kFieldOverheadBytes);
  p = PutVarint(p, v);
  return PutTag(p, field, kWireVarint);
}

AGENTRING_ALWAYS_INLINE uint8_t* OtlpProtoEncoder::EndMessage(uint8_t* p, uint32_t field,
                                                              size_t mark) {
  p = Reserve(p, kFieldOverheadBytes);
  p = PutVarint(p, Written(p) - mark);
  return PutTag(p, field, kWireLen);
}

AGENTRING_ALWAYS_INLINE uint8_t* OtlpProtoEncoder::PutSpanId(uint8_t* p, uint32_t field,
                                                             uint64_t id) {
  const uint64_t be = __builtin_bswap64(id);  // ids are big-endian bytes, as their hex reads
  return PutBytesField(p, field, &be, 8);
}

AGENTRING_ALWAYS_INLINE uint8_t* OtlpProtoEncoder::PutTraceId(uint8_t* p, uint32_t field,
                                                              const TraceId& id) {
  const uint64_t be[2] = {__builtin_bswap64(id.hi), __builtin_bswap64(id.lo)};
  return PutBytesField(p, field, be, 16);
}

uint8_t* OtlpProtoEncoder::PutKeyValue(uint8_t* p, uint32_t field, std::string_view key,
                                       const AttrValue& value) {
  const size_t kv = Written(p);
  switch (value.index()) {
    case 0:
      p = PutVarintField(p, kAnyInt, static_cast<uint64_t>(*std::get_if<int64_t>(&value)));
      break;
    case 1:
      p = PutFixed64Field(p, kAnyDouble, std::bit_cast<uint64_t>(*std::get_if<double>(&value)));
      break;
    case 2:
      p = PutVarintField(p, kAnyBool, *std::get_if<bool>(&value) ? 1 : 0);
      break;
    default:
      p = PutStringField(p, kAnyString, *std::get_if<std::string>(&value));
      break;
  }
  p = EndMessage(p, kKeyValueValue, kv);  // the AnyValue is everything written so far
  p = PutStringField(p, kKeyValueKey, key);
  return EndMessage(p, field, kv);
}

uint8_t* OtlpProtoEncoder::PutStringKeyValue(uint8_t* p, uint32_t field, std::string_view key,
                                             std::string_view value) {
  const size_t kv = Written(p);
  p = PutStringField(p, kAnyString, value);
  p = EndMessage(p, kKeyValueValue, kv);
  p = PutStringField(p, kKeyValueKey, key);
  return EndMessage(p, field, kv);
}

uint8_t* OtlpProtoEncoder::PutAttributes(uint8_t* p, uint32_t field,
                                         const std::vector<Attribute>& attributes) {
  for (size_t i = attributes.size(); i-- > 0;)
    p = PutKeyValue(p, field, attributes[i].key, attributes[i].value);
  return p;
}

uint8_t* OtlpProtoEncoder::PutSpan(uint8_t* p, const SpanData& span) {
  const size_t mark = Written(p);
  // Fields in reverse field-number order.
  p = Reserve(p, 4 + kFieldOverheadBytes);
  const uint32_t flags = OtlpSpanFlags(span);
  p = PutRaw(p, &flags, 4);
  p = PutTag(p, kSpanFlags, kWireFixed32);

  if (span.status != SpanStatus::kUnset) {
    const size_t status = Written(p);
    p = PutVarintField(p, kStatusCode, span.status == SpanStatus::kOk ? 1 : 2);
    if (span.status == SpanStatus::kError && !span.status_message.empty())
      p = PutStringField(p, kStatusMessage, span.status_message);
    p = EndMessage(p, kSpanStatus, status);
  }
  for (size_t i = span.links.size(); i-- > 0;) {
    const size_t link = Written(p);
    p = PutSpanId(p, kLinkSpanId, span.links[i].span_id);
    p = PutTraceId(p, kLinkTraceId, span.links[i].trace_id);
    p = EndMessage(p, kSpanLinks, link);
  }
  for (size_t i = span.events.size(); i-- > 0;) {
    const SpanEvent& e = span.events[i];
    const size_t event = Written(p);
    p = PutAttributes(p, kEventAttributes, e.attributes);
    if (!e.name.empty()) p = PutStringField(p, kEventName, e.name);
    if (e.time_unix_ns != 0) p = PutFixed64Field(p, kEventTime, e.time_unix_ns);
    p = EndMessage(p, kSpanEvents, event);
  }
  const OtlpSpanExtras extras = OtlpSpanExtrasOf(span);
  if (extras.add_incomplete) p = PutKeyValue(p, kSpanAttributes, kIncompleteKey, AttrValue(true));
  p = PutAttributes(p, kSpanAttributes, span.attributes);
  if (extras.add_kind) p = PutStringKeyValue(p, kSpanAttributes, kAgentKindKey, KindString(span.kind));
  if (span.end_unix_ns != 0) p = PutFixed64Field(p, kSpanEndTime, span.end_unix_ns);
  if (span.start_unix_ns != 0) p = PutFixed64Field(p, kSpanStartTime, span.start_unix_ns);
  p = PutVarintField(p, kSpanKind, static_cast<uint64_t>(OtlpSpanKind(span.kind)));
  if (!span.name.empty()) p = PutStringField(p, kSpanName, span.name);
  if (span.parent_span_id != 0) p = PutSpanId(p, kSpanParentSpanId, span.parent_span_id);
  p = PutSpanId(p, kSpanSpanId, span.span_id);
  p = PutTraceId(p, kSpanTraceId, span.trace_id);
  return EndMessage(p, kScopeSpansSpans, mark);
}

uint8_t* OtlpProtoEncoder::PutResourceSpans(uint8_t* p, const ProcessInfo* process,
                                            std::span<const SpanData* const> spans) {
  const size_t resource_spans = Written(p);
  p = PutStringField(p, kResourceSpansSchemaUrl, kOtlpSchemaUrl);

  const size_t scope_spans = Written(p);
  p = PutStringField(p, kScopeSpansSchemaUrl, kOtlpSchemaUrl);
  for (size_t i = spans.size(); i-- > 0;) p = PutSpan(p, *spans[i]);
  const size_t scope = Written(p);
  p = PutStringField(p, kScopeVersion, kOtlpScopeVersion);
  p = PutStringField(p, kScopeName, kOtlpScopeName);
  p = EndMessage(p, kScopeSpansScope, scope);
  p = EndMessage(p, kResourceSpansScopeSpans, scope_spans);

  const size_t resource = Written(p);
  BuildOtlpResource(process, defaults_, &resource_);
  for (size_t i = resource_.size(); i-- > 0;) {
    const OtlpResourceAttribute& a = resource_[i];
    p = a.is_int ? PutKeyValue(p, kResourceAttributes, a.key, AttrValue(a.int_value))
                 : PutStringKeyValue(p, kResourceAttributes, a.key, a.string_value);
  }
  p = EndMessage(p, kResourceSpansResource, resource);
  return EndMessage(p, kRequestResourceSpans, resource_spans);
}

std::string_view OtlpProtoEncoder::Encode(std::span<const TraceBatch* const> traces) {
  uint8_t* p = storage_ ? end_ : Grow(nullptr, kInitialBufferBytes);
  groups_.Build(traces);
  for (size_t g = groups_.size(); g-- > 0;)
    p = PutResourceSpans(p, groups_.process(g), groups_.spans(g));
  return {reinterpret_cast<const char*>(p), Written(p)};
}

}  // namespace agentring::reader
