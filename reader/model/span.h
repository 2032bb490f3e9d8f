// The reader's in-memory model of spans and traces: what the drain stage decodes records into,
// what assembly groups into traces, and what every exporter receives. Plain values; no shared
// memory pointers survive in here (strings are copied or point into the reader's StringPool).
#ifndef AGENTRING_READER_MODEL_SPAN_H_
#define AGENTRING_READER_MODEL_SPAN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace agentring::reader {

struct TraceId {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const TraceId&) const = default;
  bool valid() const { return (hi | lo) != 0; }
};

struct TraceIdHash {
  size_t operator()(const TraceId& t) const { return static_cast<size_t>(t.hi ^ (t.lo * 0x9E3779B97F4A7C15ull)); }
};

// Attribute value: OTLP AnyValue restricted to what writers record.
using AttrValue = std::variant<int64_t, double, bool, std::string>;

struct Attribute {
  std::string_view key;  // interned in the reader's StringPool (lives as long as the reader)
  AttrValue value;
};

struct SpanEvent {
  uint64_t time_unix_ns = 0;
  std::string_view name;  // StringPool
  std::vector<Attribute> attributes;
};

struct SpanLink {
  TraceId trace_id;
  uint64_t span_id = 0;
};

enum class SpanStatus : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

// The writer process a span came from (its resource). Shared by all spans of that process.
struct ProcessInfo {
  int32_t pid = 0;
  std::string service_name;                                       // "service.name"
  std::vector<std::pair<std::string, std::string>> resource;      // all resource attributes,
                                                                  // service.name included
  uint32_t slot = 0;                                              // segment process slot
  uint32_t generation = 0;
};

struct SpanData {
  TraceId trace_id;
  uint64_t span_id = 0;
  uint64_t parent_span_id = 0;  // 0 = root
  bool parent_remote = false;   // parent came from TRACEPARENT / another process
  std::string name;             // static part + " " + suffix, as the human reads it
  uint8_t kind = 0;             // agentring::Kind
  uint64_t start_unix_ns = 0;
  uint64_t end_unix_ns = 0;     // 0 while open
  bool ended = false;
  bool incomplete = false;      // closed by the reader (writer exited, shutdown)
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;
  std::vector<Attribute> attributes;
  std::vector<SpanEvent> events;
  std::vector<SpanLink> links;
  std::shared_ptr<const ProcessInfo> process;
  uint32_t lane = 0;            // the lane its start record came from (chrome/tree rows)
  int32_t tid = 0;              // the writer thread that started it

  uint64_t duration_ns() const { return end_unix_ns > start_unix_ns ? end_unix_ns - start_unix_ns : 0; }
  // Returns the attribute's value or nullptr.
  const AttrValue* Find(std::string_view key) const {
    for (const Attribute& a : attributes)
      if (a.key == key) return &a.value;
    return nullptr;
  }
};

// A trace (or, for spans that arrive after their trace went out, a further part of one) as
// handed to exporters: spans in the order they started.
struct TraceBatch {
  TraceId trace_id;
  std::vector<std::unique_ptr<SpanData>> spans;
  bool late = false;  // these spans arrived after the trace was already exported
  uint64_t seq = 0;    // its number in the reader's delivery ledger (--state-dir), 0 = none
  // Placeholders among `spans` (agentring.placeholder=true): synthesized for parents whose
  // start never arrived, not committed spans, so span accounting leaves them out.
  uint32_t placeholders = 0;
};

// "agent.kind" values for agentring::Kind, "custom" when out of range.
const char* KindString(uint8_t kind);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_MODEL_SPAN_H_
