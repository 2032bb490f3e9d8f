// OTLP/JSON encoding of a TraceBatch: one ExportTraceServiceRequest, as the OpenTelemetry
// Collector's file exporter writes it and its otlpjsonfile receiver reads it (hex ids, 64-bit
// integers as decimal strings, enums as numbers, lowerCamelCase keys). Hand-rolled appends to a
// std::string because the jsonl exporter runs this for every span the reader drains.
#ifndef AGENTRING_READER_EXPORT_OTLP_JSON_H_
#define AGENTRING_READER_EXPORT_OTLP_JSON_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "agentring/agent.hpp"
#include "reader/model/span.h"

namespace agentring::reader {

// InstrumentationScope of every span we export.
inline constexpr std::string_view kOtlpScopeName = "agentring";
inline constexpr std::string_view kOtlpScopeVersion = "0.1.0";
// The semantic-conventions version the attribute names follow (the writer's helpers in
// agentring/agent.hpp use it), as ScopeSpans.schemaUrl and ResourceSpans.schemaUrl.
inline constexpr std::string_view kOtlpSchemaUrl = agentring::kSemConvSchemaUrl;

// Span.flags bits (opentelemetry/proto/trace/v1/trace.proto, SpanFlags): the W3C trace flags in
// the low byte (we export sampled spans only), then "is the parent remote known" and "is it".
inline constexpr uint32_t kOtlpFlagSampled = 0x01;
inline constexpr uint32_t kOtlpFlagHasIsRemote = 0x100;
inline constexpr uint32_t kOtlpFlagIsRemote = 0x200;

// Span.kind values we use: calls that leave the agent are CLIENT, the rest is INTERNAL.
inline constexpr int kOtlpSpanKindInternal = 1;
inline constexpr int kOtlpSpanKindClient = 3;

// The OTLP span kind of an agentring::Kind: CLIENT for llm (3), tool (4), embedding (6) and
// subagent (8), the calls of the GenAI conventions (chat, execute_tool, embeddings,
// invoke_agent); INTERNAL for everything else. invoke_agent is CLIENT even though the
// conventions allow INTERNAL for an agent run in-process: the kind does not say where the agent
// runs, and the common case (another process or service, as in `agentring demo`) is a call.
inline constexpr int OtlpSpanKind(uint8_t kind) {
  switch (static_cast<agentring::Kind>(kind)) {
    case agentring::Kind::kLlm:
    case agentring::Kind::kTool:
    case agentring::Kind::kEmbedding:
    case agentring::Kind::kSubagent:
      return kOtlpSpanKindClient;
    default:
      return kOtlpSpanKindInternal;
  }
}

// Attributes the exporter adds on top of a span's own: the agentring kind name (first, unless the
// span already carries one) and a marker on spans the reader had to close itself.
inline constexpr std::string_view kAgentKindKey = "agent.kind";
inline constexpr std::string_view kIncompleteKey = "agentring.incomplete";

// Appends one ExportTraceServiceRequest for `batch` to *out (no trailing newline): one
// resourceSpans entry per distinct SpanData::process pointer, in order of first appearance;
// spans without a process share a resource with service.name "unknown_service". Every
// resourceSpans entry and its one scopeSpans entry carry schemaUrl kOtlpSchemaUrl. Output is
// always valid UTF-8 JSON whatever bytes the strings hold. Thread-safe (no shared state).
void AppendOtlpJson(const TraceBatch& batch, std::string* out);

// Appends one ExportTraceServiceRequest for several traces (the body of one OTLP/HTTP request):
// as above, with spans of all traces grouped by process; `defaults` (may be null) adds the
// reader's fallback and host/SDK attributes to every resource (see otlp_content.h).
struct OtlpResourceDefaults;
void AppendOtlpJson(std::span<const TraceBatch* const> traces,
                    const OtlpResourceDefaults* defaults, std::string* out);

// Appends `s` as a quoted JSON string: escapes '"', '\\' and control characters (short forms for
// \b \f \n \r \t, \u00XX for the rest) and replaces every ill-formed UTF-8 subpart with U+FFFD.
void AppendJsonString(std::string_view s, std::string* out);

// Appends the 32 (trace) or 16 (span) lowercase hex digits OTLP/JSON uses for ids.
void AppendTraceIdHex(const TraceId& id, std::string* out);
void AppendSpanIdHex(uint64_t id, std::string* out);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_OTLP_JSON_H_
