// OTLP protobuf encoding of traces: one opentelemetry.proto.collector.trace.v1
// ExportTraceServiceRequest, the body of an `application/x-protobuf` POST to /v1/traces. Carries
// exactly what the OTLP/JSON encoding carries (otlp_content.h decides it for both).
//
// How: hand-written, back to front. The encoder fills one reused buffer from its end towards its
// start, writing every message's fields in reverse order and its children before it; when a
// nested message is done its length is known (bytes written since it began), so the length
// varint and the tag are written in front of it, minimal, in one pass. The result is canonical
// protobuf: fields in field-number order, minimal varints, proto3 defaults (0, "", empty bytes)
// omitted, oneof members (AnyValue) always written; byte for byte what libprotobuf's serializer
// produces for the same message. No libprotobuf (no generated code, no arena, no second pass to
// compute sizes), no allocation per span once the buffer has grown to the largest request.
// Strings are checked to be UTF-8 (proto3 `string` fields must be; the Collector rejects a
// request otherwise) with an 8-bytes-at-a-time ASCII fast path; ill-formed subparts become
// U+FFFD exactly as in the JSON encoding.
#ifndef AGENTRING_READER_EXPORT_OTLP_PROTO_H_
#define AGENTRING_READER_EXPORT_OTLP_PROTO_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reader/export/otlp_content.h"
#include "reader/model/span.h"

namespace agentring::reader {

// Field numbers of the OTLP protos we write (opentelemetry/proto/{collector/trace,trace,resource,
// common}/v1/*.proto). The test decoder uses the same names.
namespace otlp_pb {
// ExportTraceServiceRequest
inline constexpr uint32_t kRequestResourceSpans = 1;
// ResourceSpans
inline constexpr uint32_t kResourceSpansResource = 1;
inline constexpr uint32_t kResourceSpansScopeSpans = 2;
inline constexpr uint32_t kResourceSpansSchemaUrl = 3;
// Resource
inline constexpr uint32_t kResourceAttributes = 1;
// ScopeSpans
inline constexpr uint32_t kScopeSpansScope = 1;
inline constexpr uint32_t kScopeSpansSpans = 2;
inline constexpr uint32_t kScopeSpansSchemaUrl = 3;
// InstrumentationScope
inline constexpr uint32_t kScopeName = 1;
inline constexpr uint32_t kScopeVersion = 2;
// Span
inline constexpr uint32_t kSpanTraceId = 1;
inline constexpr uint32_t kSpanSpanId = 2;
inline constexpr uint32_t kSpanParentSpanId = 4;
inline constexpr uint32_t kSpanName = 5;
inline constexpr uint32_t kSpanKind = 6;
inline constexpr uint32_t kSpanStartTime = 7;   // fixed64
inline constexpr uint32_t kSpanEndTime = 8;     // fixed64
inline constexpr uint32_t kSpanAttributes = 9;
inline constexpr uint32_t kSpanEvents = 11;
inline constexpr uint32_t kSpanLinks = 13;
inline constexpr uint32_t kSpanStatus = 15;
inline constexpr uint32_t kSpanFlags = 16;      // fixed32
// Span.Event
inline constexpr uint32_t kEventTime = 1;       // fixed64
inline constexpr uint32_t kEventName = 2;
inline constexpr uint32_t kEventAttributes = 3;
// Span.Link
inline constexpr uint32_t kLinkTraceId = 1;
inline constexpr uint32_t kLinkSpanId = 2;
// Status
inline constexpr uint32_t kStatusMessage = 2;
inline constexpr uint32_t kStatusCode = 3;
// KeyValue
inline constexpr uint32_t kKeyValueKey = 1;
inline constexpr uint32_t kKeyValueValue = 2;
// AnyValue (a oneof)
inline constexpr uint32_t kAnyString = 1;
inline constexpr uint32_t kAnyBool = 2;
inline constexpr uint32_t kAnyInt = 3;
inline constexpr uint32_t kAnyDouble = 4;       // fixed64 (IEEE 754 bits)
// Wire types
inline constexpr uint32_t kWireVarint = 0;
inline constexpr uint32_t kWireFixed64 = 1;
inline constexpr uint32_t kWireLen = 2;
inline constexpr uint32_t kWireFixed32 = 5;
}  // namespace otlp_pb

// Encodes ExportTraceServiceRequests. Keeps its buffer between calls. Not thread-safe: one
// encoder per exporter thread.
class OtlpProtoEncoder {
 public:
  // `defaults` (may be null, else must outlive the encoder): see BuildOtlpResource.
  explicit OtlpProtoEncoder(const OtlpResourceDefaults* defaults = nullptr);
  ~OtlpProtoEncoder();
  OtlpProtoEncoder(const OtlpProtoEncoder&) = delete;
  OtlpProtoEncoder& operator=(const OtlpProtoEncoder&) = delete;

  // Encodes one request for `traces` (spans grouped by process as OtlpSpanGroups does). The
  // returned bytes live in the encoder until the next call.
  std::string_view Encode(std::span<const TraceBatch* const> traces);

 private:
  // Every Put* takes the write position `p` and returns the new one (bytes go in front of p).
  // Passing it by value keeps it in a register: a member written through uint8_t* stores would
  // be reloaded after every byte (char stores may alias anything).
  uint8_t* Grow(uint8_t* p, size_t need);
  uint8_t* Reserve(uint8_t* p, size_t n) {
    return static_cast<size_t>(p - begin_) < n ? Grow(p, n) : p;
  }
  size_t Written(const uint8_t* p) const { return static_cast<size_t>(end_ - p); }
  uint8_t* PutBytesField(uint8_t* p, uint32_t field, const void* data, size_t n);
  uint8_t* PutStringField(uint8_t* p, uint32_t field, std::string_view s);
  uint8_t* PutFixed64Field(uint8_t* p, uint32_t field, uint64_t v);
  uint8_t* PutVarintField(uint8_t* p, uint32_t field, uint64_t v);
  // Writes the length of what was written since `mark` (a Written() value) and the tag.
  uint8_t* EndMessage(uint8_t* p, uint32_t field, size_t mark);
  uint8_t* PutSpanId(uint8_t* p, uint32_t field, uint64_t id);
  uint8_t* PutTraceId(uint8_t* p, uint32_t field, const TraceId& id);
  // A KeyValue as field `field` (Span.attributes, Event.attributes, Resource.attributes).
  uint8_t* PutKeyValue(uint8_t* p, uint32_t field, std::string_view key, const AttrValue& value);
  uint8_t* PutStringKeyValue(uint8_t* p, uint32_t field, std::string_view key,
                             std::string_view value);
  uint8_t* PutAttributes(uint8_t* p, uint32_t field, const std::vector<Attribute>& attributes);
  uint8_t* PutSpan(uint8_t* p, const SpanData& span);
  uint8_t* PutResourceSpans(uint8_t* p, const ProcessInfo* process,
                            std::span<const SpanData* const> spans);

  const OtlpResourceDefaults* defaults_;
  // The buffer is written from end_ downwards; Encode returns [p, end_).
  std::unique_ptr<uint8_t[]> storage_;
  uint8_t* begin_ = nullptr;
  uint8_t* end_ = nullptr;
  std::string sanitized_;  // an ill-formed UTF-8 string with U+FFFD replacements
  OtlpSpanGroups groups_;
  std::vector<OtlpResourceAttribute> resource_;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_OTLP_PROTO_H_
