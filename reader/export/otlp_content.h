// What an OTLP export carries, independent of how it is encoded: the one place that decides the
// resource of a writer process, the attributes the exporter adds to a span, the span flags, and
// how spans are grouped into ResourceSpans. Both encodings use it (otlp_json.cc for the jsonl
// file and http/json bodies, otlp_proto.cc for http/protobuf bodies), so they cannot drift.
#ifndef AGENTRING_READER_EXPORT_OTLP_CONTENT_H_
#define AGENTRING_READER_EXPORT_OTLP_CONTENT_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reader/export/otlp_json.h"
#include "reader/model/span.h"

namespace agentring::reader {

// What the network exporter adds to every writer's resource. The jsonl file exporter passes none
// (its files carry exactly what the writers published).
struct OtlpResourceDefaults {
  // The reader's own OTEL_SERVICE_NAME (else service.name of its OTEL_RESOURCE_ATTRIBUTES): used
  // for writers whose service.name is "unknown_service" or "unknown_service:<exe>" (a writer
  // that set none). "" = keep the writer's.
  std::string fallback_service_name;
  // The reader's OTEL_RESOURCE_ATTRIBUTES: added for every key the writer did not set.
  std::vector<std::pair<std::string, std::string>> fallback_attributes;
  // host.name, telemetry.sdk.name/language/version: added unless the writer set the key.
  std::vector<std::pair<std::string, std::string>> added_attributes;
};

// The defaults of this reader process: host.name from gethostname(), telemetry.sdk.name
// "agentring", telemetry.sdk.language "cpp", telemetry.sdk.version kOtlpScopeVersion, and the
// reader's OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (k=v pairs, percent-decoded).
OtlpResourceDefaults OtlpResourceDefaultsFromEnv();

// "a=b,c=d%2Ce" -> {{"a","b"},{"c","d,e"}}: the W3C Baggage-like list OTEL_RESOURCE_ATTRIBUTES
// and OTEL_EXPORTER_OTLP_HEADERS use (keys and values trimmed and percent-decoded). Returns false
// with *error naming the bad entry when an entry has no '=' or an empty key.
bool ParseOtlpKeyValueList(std::string_view text, std::vector<std::pair<std::string, std::string>>* out,
                           std::string* error);

// One resource attribute: a string, or (process.pid) an int.
struct OtlpResourceAttribute {
  std::string_view key;
  std::string_view string_value;
  int64_t int_value = 0;
  bool is_int = false;
};

// The resource of spans from `process` (nullptr: spans whose process is unknown), in export
// order: the writer's attributes as published (service.name first if the writer's list lacks
// it; a writer's own process.pid is replaced by the real pid, an int, last among the writer's),
// then with `defaults` the reader's fallbacks and additions for keys still missing. Views point
// into `process` and `defaults`. Clears *out first.
void BuildOtlpResource(const ProcessInfo* process, const OtlpResourceDefaults* defaults,
                       std::vector<OtlpResourceAttribute>* out);

// The exporter's additions to a span's own attributes: agent.kind (KindString) first unless the
// span has one, agentring.incomplete=true last on spans the reader closed, unless present.
struct OtlpSpanExtras {
  bool add_kind = false;
  bool add_incomplete = false;
};
OtlpSpanExtras OtlpSpanExtrasOf(const SpanData& span);

// Span.flags: sampled, "has is_remote", and is_remote when the parent came from another process.
inline uint32_t OtlpSpanFlags(const SpanData& span) {
  return kOtlpFlagSampled | kOtlpFlagHasIsRemote | (span.parent_remote ? kOtlpFlagIsRemote : 0);
}

// Spans of one or more traces grouped by writer process: groups in order of the process's first
// appearance, spans of a group in their order across the traces. Null spans are skipped. The
// vectors are kept across calls, so grouping allocates nothing once warm. Not thread-safe.
class OtlpSpanGroups {
 public:
  void Build(std::span<const TraceBatch* const> traces);
  size_t size() const { return processes_.size(); }
  const ProcessInfo* process(size_t g) const { return processes_[g]; }
  std::span<const SpanData* const> spans(size_t g) const {
    return {ordered_.data() + begin_[g], ordered_.data() + begin_[g + 1]};
  }

 private:
  std::vector<const ProcessInfo*> processes_;
  std::vector<uint32_t> group_of_;  // per span (in trace order)
  std::vector<uint32_t> begin_;     // group g's spans are ordered_[begin_[g], begin_[g+1])
  std::vector<const SpanData*> ordered_;
  std::vector<uint32_t> cursor_;    // next free slot per group while sorting
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_OTLP_CONTENT_H_
