// SpanCapture: a GroupSink for unit tests that keeps what the real drain stage delivered, span by
// span, with attribute values rendered as text. Records whose span start is in a lane drained
// later (a span ended on another thread) are held until Settle().
#ifndef AGENTRING_TESTS_UNIT_SPAN_CAPTURE_H_
#define AGENTRING_TESTS_UNIT_SPAN_CAPTURE_H_

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reader/drain/segment_reader.h"

namespace agentring::test {

struct CapturedSpan {
  uint64_t span_id = 0, parent = 0, trace_hi = 0, trace_lo = 0;
  std::string name;  // with its suffix, as the reader composes it
  uint8_t kind = 0, flags = 0;
  bool ended = false;
  int ends = 0;  // SpanEnd records seen
  uint8_t status = 0;
  std::string status_message;
  std::vector<std::pair<std::string, std::string>> attrs;  // key -> rendered value
  std::vector<std::string> events;
  std::vector<std::pair<std::string, std::string>> event_attrs;
  std::vector<uint64_t> links;  // linked span ids
};

// int64 as decimal, double as %g, bool as true/false, strings as they are.
inline std::string RenderValue(const reader::DecodedAttr& a) {
  switch (a.type) {
    case abi::ValueType::Int64: return std::to_string(static_cast<int64_t>(a.num));
    case abi::ValueType::Double: {
      double d;
      memcpy(&d, &a.num, sizeof(d));
      char buf[32];
      snprintf(buf, sizeof(buf), "%g", d);
      return buf;
    }
    case abi::ValueType::Bool: return a.num != 0 ? "true" : "false";
    case abi::ValueType::String: return a.str;
    default: return "<none>";
  }
}

// The value of a span's attribute, "<missing>" (or "<no span>" for nullptr).
inline std::string Attr(const CapturedSpan* s, std::string_view key) {
  if (s == nullptr) return "<no span>";
  for (auto& [k, v] : s->attrs)
    if (k == key) return v;
  return "<missing>";
}
inline bool Has(const CapturedSpan* s, std::string_view key) {
  return s != nullptr && Attr(s, key) != "<missing>";
}

class SpanCapture : public reader::GroupSink {
 public:
  void OnGroup(const reader::DecodedGroup& g, const reader::GroupContext& ctx) override {
    CapturedSpan* s = nullptr;
    if (g.type == abi::RecordType::SpanStart) {
      s = &spans.emplace_back();
      s->span_id = g.span_id;
      s->parent = g.parent_span_id;
      s->trace_hi = g.trace_hi;
      s->trace_lo = g.trace_lo;
      s->kind = g.kind;
      s->flags = g.flags;
      s->name = std::string(ctx.String(g.name_id));
      if (g.suffix_type == 1) s->name += " " + std::to_string(static_cast<int64_t>(g.suffix));
      if (g.suffix_type == 2)
        s->name += " " + std::string(ctx.String(static_cast<uint32_t>(g.suffix)));
      if (g.suffix_type == 3)
        s->name += " " + std::string(reinterpret_cast<const char*>(&g.suffix), g.suffix_len);
    } else {
      for (auto& c : spans)
        if (c.span_id == g.span_id) s = &c;
      if (s == nullptr) {
        held.push_back({g, ctx});  // its start is in a lane drained later
        return;
      }
    }
    for (uint32_t k = 0; k < g.attr_count; ++k) {
      const auto& a = g.attrs[k];
      auto& list = a.of_event ? s->event_attrs : s->attrs;
      list.emplace_back(std::string(ctx.String(a.key_id)), RenderValue(a));
    }
    if (g.type == abi::RecordType::SpanEnd) {
      ++s->ends;
      s->ended = true;
      s->status = g.status;
    }
    if (g.type == abi::RecordType::Status) {
      s->status = g.status;
      s->status_message = g.message;
    }
    if (g.type == abi::RecordType::Event) s->events.emplace_back(ctx.String(g.name_id));
    if (g.type == abi::RecordType::Link) s->links.push_back(g.link_span_id);
  }
  void OnProcessExit(const reader::ProcessState&, uint64_t) override {}

  // Re-applies held records; what still has no start is an orphan.
  void Settle() {
    std::vector<std::pair<reader::DecodedGroup, reader::GroupContext>> h;
    h.swap(held);
    for (auto& [g, ctx] : h) OnGroup(g, ctx);
    orphans += static_cast<int>(held.size());
    held.clear();
  }
  const CapturedSpan* Find(std::string_view name) const {
    for (auto& s : spans)
      if (s.name == name) return &s;
    return nullptr;
  }
  static std::string Attr(const CapturedSpan* s, std::string_view key) {
    return test::Attr(s, key);
  }

  std::vector<CapturedSpan> spans;
  std::vector<std::pair<reader::DecodedGroup, reader::GroupContext>> held;
  int orphans = 0;
};

}  // namespace agentring::test

#endif  // AGENTRING_TESTS_UNIT_SPAN_CAPTURE_H_
