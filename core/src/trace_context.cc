// W3C trace context (https://www.w3.org/TR/trace-context/): traceparent formatting and parsing.
#include <cstdio>
#include <string>

#include "agentring/agentring.hpp"

namespace agentring {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

bool ParseHex(std::string_view s, uint64_t* out) {
  uint64_t v = 0;
  for (char c : s) {
    int h = HexValue(c);
    if (h < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(h);
  }
  *out = v;
  return true;
}

}  // namespace

std::string SpanContext::ToTraceparent() const {
  if (!valid()) return "";
  char buf[64];
  snprintf(buf, sizeof(buf), "00-%016llx%016llx-%016llx-%02x",
           static_cast<unsigned long long>(trace_id_hi),
           static_cast<unsigned long long>(trace_id_lo), static_cast<unsigned long long>(span_id),
           static_cast<unsigned>(trace_flags));
  return buf;
}

bool SpanContext::FromTraceparent(std::string_view t, SpanContext* out) noexcept {
  // version "-" trace-id(32) "-" parent-id(16) "-" flags(2) [ "-" … for versions > 00 ]
  if (t.size() < 55 || t[2] != '-' || t[35] != '-' || t[52] != '-') return false;
  uint64_t version = 0, hi = 0, lo = 0, span = 0, flags = 0;
  if (!ParseHex(t.substr(0, 2), &version) || version == 0xff) return false;
  if (version == 0 && t.size() != 55) return false;
  if (version != 0 && t.size() > 55 && t[55] != '-') return false;
  if (!ParseHex(t.substr(3, 16), &hi) || !ParseHex(t.substr(19, 16), &lo) ||
      !ParseHex(t.substr(36, 16), &span) || !ParseHex(t.substr(53, 2), &flags))
    return false;
  if ((hi | lo) == 0 || span == 0) return false;
  out->trace_id_hi = hi;
  out->trace_id_lo = lo;
  out->span_id = span;
  out->trace_flags = static_cast<uint8_t>(flags);
  out->remote = true;
  return true;
}

}  // namespace agentring
