// OTLP/JSON encoding of trace batches (see otlp_json.h for the format decisions).
#include "reader/export/otlp_json.h"

#include <array>
#include <charconv>
#include <cmath>
#include <vector>

#include "reader/export/otlp_content.h"
#include "reader/export/utf8.h"

namespace agentring::reader {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// Per byte: 0 = printable ASCII copied as is, 1 = needs a JSON escape, 2 = starts (or is part of)
// a multi-byte UTF-8 sequence that must be validated.
constexpr std::array<uint8_t, 256> MakeByteClass() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c) t[c] = 2;
  return t;
}
constexpr std::array<uint8_t, 256> kByteClass = MakeByteClass();

void AppendHex64(uint64_t v, std::string* out) {
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = kHexDigits[v & 0xF];
    v >>= 4;
  }
  out->append(buf, 16);
}

template <typename Int>
void AppendInt(Int v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// A decimal number in quotes: proto3 JSON's form for 64-bit integers (JSON numbers lose
// precision above 2^53 in most parsers).
template <typename Int>
void AppendQuotedInt(Int v, std::string* out) {
  out->push_back('"');
  AppendInt(v, out);
  out->push_back('"');
}

void AppendDouble(double v, std::string* out) {
  // proto3 JSON spells the non-finite values as strings.
  if (std::isnan(v)) {
    out->append("\"NaN\"");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
    out->append(buf, r.ptr);
  }
}

// {"key":"...","value":{...}} for one attribute.
void AppendKeyValue(std::string_view key, const AttrValue& value, std::string* out) {
  out->append("{\"key\":");
  AppendJsonString(key, out);
  out->append(",\"value\":{");
  switch (value.index()) {
    case 0:
      out->append("\"intValue\":");
      AppendQuotedInt(std::get<int64_t>(value), out);
      break;
    case 1:
      out->append("\"doubleValue\":");
      AppendDouble(std::get<double>(value), out);
      break;
    case 2:
      out->append(std::get<bool>(value) ? "\"boolValue\":true" : "\"boolValue\":false");
      break;
    default:
      out->append("\"stringValue\":");
      AppendJsonString(std::get<std::string>(value), out);
      break;
  }
  out->append("}}");
}

void AppendStringKeyValue(std::string_view key, std::string_view value, std::string* out) {
  out->append("{\"key\":");
  AppendJsonString(key, out);
  out->append(",\"value\":{\"stringValue\":");
  AppendJsonString(value, out);
  out->append("}}");
}

// Appends the elements of an attributes array (without brackets); returns whether any was written.
bool AppendAttributeList(const std::vector<Attribute>& attributes, bool need_comma,
                         std::string* out) {
  for (const Attribute& a : attributes) {
    if (need_comma) out->push_back(',');
    AppendKeyValue(a.key, a.value, out);
    need_comma = true;
  }
  return need_comma;
}

void AppendResource(const ProcessInfo* process, const OtlpResourceDefaults* defaults,
                    std::string* out) {
  thread_local std::vector<OtlpResourceAttribute> attrs;  // kept: no allocation once warm
  BuildOtlpResource(process, defaults, &attrs);
  out->append("{\"resource\":{\"attributes\":[");
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (i) out->push_back(',');
    if (attrs[i].is_int) {
      AppendKeyValue(attrs[i].key, AttrValue(attrs[i].int_value), out);
    } else {
      AppendStringKeyValue(attrs[i].key, attrs[i].string_value, out);
    }
  }
  out->append("]},\"schemaUrl\":\"");
  out->append(kOtlpSchemaUrl);
  out->append("\",\"scopeSpans\":[{\"scope\":{\"name\":\"");
  out->append(kOtlpScopeName);
  out->append("\",\"version\":\"");
  out->append(kOtlpScopeVersion);
  out->append("\"},\"schemaUrl\":\"");
  out->append(kOtlpSchemaUrl);
  out->append("\",\"spans\":[");
}

void AppendSpan(const SpanData& span, std::string* out) {
  out->append("{\"traceId\":\"");
  AppendTraceIdHex(span.trace_id, out);
  out->append("\",\"spanId\":\"");
  AppendSpanIdHex(span.span_id, out);
  out->append("\",\"parentSpanId\":\"");
  if (span.parent_span_id != 0) AppendSpanIdHex(span.parent_span_id, out);
  out->append("\",\"flags\":");
  AppendInt(OtlpSpanFlags(span), out);
  out->append(",\"name\":");
  AppendJsonString(span.name, out);
  out->append(",\"kind\":");
  AppendInt(OtlpSpanKind(span.kind), out);
  out->append(",\"startTimeUnixNano\":");
  AppendQuotedInt(span.start_unix_ns, out);
  out->append(",\"endTimeUnixNano\":");
  AppendQuotedInt(span.end_unix_ns, out);

  out->append(",\"attributes\":[");
  const OtlpSpanExtras extras = OtlpSpanExtrasOf(span);
  bool comma = false;
  if (extras.add_kind) {
    AppendStringKeyValue(kAgentKindKey, KindString(span.kind), out);
    comma = true;
  }
  comma = AppendAttributeList(span.attributes, comma, out);
  if (extras.add_incomplete) {
    if (comma) out->push_back(',');
    AppendKeyValue(kIncompleteKey, AttrValue(true), out);
  }

  out->append("],\"events\":[");
  for (size_t i = 0; i < span.events.size(); ++i) {
    const SpanEvent& e = span.events[i];
    if (i) out->push_back(',');
    out->append("{\"timeUnixNano\":");
    AppendQuotedInt(e.time_unix_ns, out);
    out->append(",\"name\":");
    AppendJsonString(e.name, out);
    out->append(",\"attributes\":[");
    AppendAttributeList(e.attributes, false, out);
    out->append("]}");
  }

  out->append("],\"links\":[");
  for (size_t i = 0; i < span.links.size(); ++i) {
    if (i) out->push_back(',');
    out->append("{\"traceId\":\"");
    AppendTraceIdHex(span.links[i].trace_id, out);
    out->append("\",\"spanId\":\"");
    AppendSpanIdHex(span.links[i].span_id, out);
    out->append("\"}");
  }

  out->append("],\"status\":{");
  if (span.status == SpanStatus::kOk) {
    out->append("\"code\":1");
  } else if (span.status == SpanStatus::kError) {
    out->append("\"code\":2");
    if (!span.status_message.empty()) {
      out->append(",\"message\":");
      AppendJsonString(span.status_message, out);
    }
  }
  out->append("}}");
}

}  // namespace

void AppendTraceIdHex(const TraceId& id, std::string* out) {
  AppendHex64(id.hi, out);
  AppendHex64(id.lo, out);
}

void AppendSpanIdHex(uint64_t id, std::string* out) { AppendHex64(id, out); }

void AppendJsonString(std::string_view s, std::string* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  out->push_back('"');
  size_t i = 0;
  while (i < n) {
    // Copy the longest run of bytes that need nothing in one append.
    size_t run = i;
    while (run < n && kByteClass[p[run]] == 0) ++run;
    if (run > i) {
      out->append(s.data() + i, run - i);
      i = run;
      if (i == n) break;
    }
    const unsigned char c = p[i];
    if (kByteClass[c] == 1) {
      switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\b': out->append("\\b"); break;
        case '\f': out->append("\\f"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        default: {
          const char esc[6] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xF]};
          out->append(esc, 6);
        }
      }
      ++i;
      continue;
    }
    i += AppendUtf8Sequence(s, i, out);
  }
  out->push_back('"');
}

void AppendOtlpJson(std::span<const TraceBatch* const> traces,
                    const OtlpResourceDefaults* defaults, std::string* out) {
  thread_local OtlpSpanGroups groups;  // kept: no allocation once warm
  groups.Build(traces);
  out->append("{\"resourceSpans\":[");
  for (size_t g = 0; g < groups.size(); ++g) {
    if (g) out->push_back(',');
    AppendResource(groups.process(g), defaults, out);
    bool comma = false;
    for (const SpanData* span : groups.spans(g)) {
      if (comma) out->push_back(',');
      AppendSpan(*span, out);
      comma = true;
    }
    out->append("]}]}");
  }
  out->append("]}");
}

void AppendOtlpJson(const TraceBatch& batch, std::string* out) {
  const TraceBatch* one[] = {&batch};
  AppendOtlpJson(one, nullptr, out);
}

}  // namespace agentring::reader
