// The console tree exporter and the rendering it shares with `agentring tree FILE`.
#include "reader/export/tree_exporter.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "agentring/agentring.hpp"
#include "reader/enrich/enricher.h"
#include "reader/enrich/trace_tree.h"
#include "reader/export/exporter.h"
#include "reader/export/otlp_json.h"
#include "reader/export/output_file.h"
#include "reader/export/utf8.h"

namespace agentring::reader {
namespace {

constexpr std::string_view kBranch = "├── ";
constexpr std::string_view kLastBranch = "└── ";
constexpr std::string_view kPipe = "│   ";
constexpr std::string_view kSpace = "    ";
constexpr size_t kMaxValueBytes = 80;  // longer attribute values are cut with "…"

// Appends `s` for a terminal: control bytes (which could move the cursor or recolour the
// screen) as \xNN, ill-formed UTF-8 as U+FFFD; stops after about `max_bytes` and adds "…".
void AppendTerminalSafe(std::string_view s, std::string* out, size_t max_bytes = SIZE_MAX) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (i >= max_bytes) {
      out->append("…");
      return;
    }
    const unsigned char c = p[i];
    if (c < 0x20 || c == 0x7F) {
      char esc[5];
      std::snprintf(esc, sizeof(esc), "\\x%02x", c);
      out->append(esc, 4);
      ++i;
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++i;
    } else {
      i += AppendUtf8Sequence(s, i, out);
    }
  }
}

void AppendValue(const AttrValue& v, std::string* out) {
  char buf[32];
  switch (v.index()) {
    case 0:
      std::snprintf(buf, sizeof(buf), "%" PRId64, std::get<int64_t>(v));
      out->append(buf);
      break;
    case 1:
      std::snprintf(buf, sizeof(buf), "%g", std::get<double>(v));
      out->append(buf);
      break;
    case 2:
      out->append(std::get<bool>(v) ? "true" : "false");
      break;
    default:
      AppendTerminalSafe(std::get<std::string>(v), out, kMaxValueBytes);
  }
}

const AttrValue* FindAny(const SpanData& span, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys)
    if (const AttrValue* v = span.Find(k)) return v;
  return nullptr;
}

void AppendLabeled(const SpanData& span, std::string_view label,
                   std::initializer_list<std::string_view> keys, std::string* out) {
  if (const AttrValue* v = FindAny(span, keys)) {
    out->push_back(' ');
    out->append(label);
    out->push_back('=');
    AppendValue(*v, out);
  }
}

const int64_t* FindInt(const SpanData& span, std::string_view key) {
  const AttrValue* v = span.Find(key);
  return v ? std::get_if<int64_t>(v) : nullptr;
}

const double* FindDouble(const SpanData& span, std::string_view key) {
  const AttrValue* v = span.Find(key);
  return v ? std::get_if<double>(v) : nullptr;
}

// " tokens=IN/OUT cost=$X" from the enrich stage's roll-ups (agentring.tokens.*_total,
// agentring.cost.total_usd; "cost≥$X" when some usage below could not be priced). Returns false,
// appending nothing, when the span has no roll-up.
bool AppendRollup(const SpanData& span, std::string* out) {
  const int64_t* in = FindInt(span, kTokensInputTotalKey);
  const int64_t* gen = FindInt(span, kTokensOutputTotalKey);
  const double* cost = FindDouble(span, kCostTotalUsdKey);
  if (!in && !gen && !cost) return false;
  if (in || gen) {
    char buf[48];
    std::snprintf(buf, sizeof(buf), " tokens=%" PRId64 "/%" PRId64, in ? *in : 0,
                  gen ? *gen : 0);
    out->append(buf);
  }
  if (cost) {
    const int64_t* unpriced = FindInt(span, kCostUnpricedSpansKey);
    out->append(unpriced && *unpriced > 0 ? " cost≥" : " cost=");
    out->append(FormatUsd(*cost));
  }
  return true;
}

// The attributes shown after the duration, in the order a reader scans them. With `rollup` (the
// header, run, turn and sub-agent spans) tokens and cost are the subtree's totals when the enrich
// stage derived them; otherwise the span's own usage and gen_ai.cost_usd.
void AppendKeyAttributes(const SpanData& span, bool rollup, std::string* out) {
  AppendLabeled(span, "model", {"gen_ai.request.model", "llm.model"}, out);
  AppendLabeled(span, "provider", {"gen_ai.provider.name", "gen_ai.system", "llm.provider"}, out);
  if (!rollup || !AppendRollup(span, out)) {
    const AttrValue* in = FindAny(span, {"gen_ai.usage.input_tokens", "llm.token_count.prompt"});
    const AttrValue* gen =
        FindAny(span, {"gen_ai.usage.output_tokens", "llm.token_count.completion"});
    if (in && gen) {
      out->append(" tokens=");
      AppendValue(*in, out);
      out->push_back('/');
      AppendValue(*gen, out);
    } else if (in) {
      out->append(" input_tokens=");
      AppendValue(*in, out);
    } else if (gen) {
      out->append(" output_tokens=");
      AppendValue(*gen, out);
    }
    if (const double* cost = FindDouble(span, kCostUsdKey)) {
      out->append(" cost=");
      out->append(FormatUsd(*cost));
    }
  }
  AppendLabeled(span, "tool", {"tool.name"}, out);
  AppendLabeled(span, "action", {"tool.action"}, out);
  AppendLabeled(span, "target", {"tool.target"}, out);
  AppendLabeled(span, "tool_status", {"tool.status"}, out);
  AppendLabeled(span, "agent", {"agent.name"}, out);
  AppendLabeled(span, "iteration", {"agent.iteration"}, out);
  AppendLabeled(span, "hits", {"rag.sources_found"}, out);
}

bool SameProcess(const ProcessInfo* a, const ProcessInfo* b) {
  if (a == b) return true;
  if (!a || !b) return false;
  // Spans read back from a file get one ProcessInfo per line; compare what identifies a process.
  return a->pid == b->pid && a->service_name == b->service_name;
}

void AppendProcessTag(const ProcessInfo* p, std::string* out) {
  if (!p) {
    out->append(" [unknown process]");
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), " [pid %" PRId32, p->pid);
  out->append(buf);
  if (!p->service_name.empty()) {
    out->push_back(' ');
    AppendTerminalSafe(p->service_name, out, kMaxValueBytes);
  }
  out->push_back(']');
}

bool IsIncomplete(const SpanData& span) {
  if (span.incomplete) return true;
  const AttrValue* v = span.Find(kIncompleteKey);
  return v && v->index() == 2 && std::get<bool>(*v);
}

bool IsOpen(const SpanData& s) { return s.end_unix_ns == 0 && !s.ended; }

// "incomplete" and "✗ ERROR: message" after a span's attributes.
void AppendSpanMarks(const SpanData& s, std::string* out) {
  if (IsIncomplete(s)) out->append(" incomplete");
  if (s.status == SpanStatus::kError) {
    out->append(" ✗ ERROR");
    if (!s.status_message.empty()) {
      out->append(": ");
      AppendTerminalSafe(s.status_message, out, kMaxValueBytes);
    }
  }
}

// "12µs" / "3.2ms": one decimal below 10 (".0" dropped), none above.
void AppendSmall(double v, const char* unit, std::string* out) {
  char buf[32];
  if (v < 9.95) {
    std::snprintf(buf, sizeof(buf), "%.1f", v);
    std::string_view t(buf);
    if (t.size() > 2 && t.substr(t.size() - 2) == ".0") buf[t.size() - 2] = '\0';
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  }
  out->append(buf);
  out->append(unit);
}

}  // namespace

std::string FormatDuration(uint64_t ns) {
  std::string out;
  char buf[48];
  if (ns < 1000) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 "ns", ns);
    out = buf;
  } else if (ns < 999'500) {
    AppendSmall(static_cast<double>(ns) / 1e3, "µs", &out);
  } else if (ns < 999'500'000) {
    AppendSmall(static_cast<double>(ns) / 1e6, "ms", &out);
  } else if (ns < 3'600'000'000'000ull) {
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ns) / 1e9);
    out = buf;
  } else {
    const uint64_t s = ns / 1'000'000'000ull;
    std::snprintf(buf, sizeof(buf), "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", s / 3600,
                  s / 60 % 60, s % 60);
    out = buf;
  }
  return out;
}

std::string FormatUsd(double usd) {
  if (!(usd > 0)) return "$0";
  // Three significant digits below $1 (at most 8 decimals), cents above; at least 2 decimals.
  int decimals = 2;
  if (usd < 1) decimals = std::clamp(static_cast<int>(std::ceil(2 - std::log10(usd))), 2, 8);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "$%.*f", decimals, usd);
  std::string s(buf);
  const size_t dot = s.find('.');
  while (s.size() > dot + 3 && s.back() == '0') s.pop_back();
  return s;
}

void RenderTraceTree(const TraceBatch& batch, std::string* out) {
  const TraceTree tree = BuildTraceTree(batch);
  const std::vector<SpanData*>& spans = tree.spans;  // indexes below are into this
  const size_t n = spans.size();
  constexpr uint32_t kNone = TraceTree::kNone;
  const std::vector<uint32_t>& parent = tree.parent;
  const std::vector<std::vector<uint32_t>>& children = tree.children;
  const std::vector<uint32_t>& roots = tree.roots;
  const std::vector<uint32_t>& orphans = tree.orphans;

  // As in seed 000, a trace's single root is the header line and its children are the first
  // level; spans whose parent is elsewhere follow them. With several roots (malformed) or none
  // (a late batch), every one of them is a top-level entry, roots first.
  const uint32_t folded_root = roots.size() == 1 ? roots[0] : kNone;
  std::vector<uint32_t> tops;
  if (folded_root != kNone) {
    tops = children[folded_root];
  } else {
    tops = roots;
  }
  tops.insert(tops.end(), orphans.begin(), orphans.end());

  // The same rule as the enrich stage's agentring.hotspot attribute (reader/enrich/trace_tree.h).
  const std::vector<uint8_t> hotspot = FindHotspots(tree);

  // Header: the root's name and duration (the batch's extent when no single root), then the
  // root's own key attributes and error.
  uint64_t min_start = UINT64_MAX, max_end = 0;
  std::vector<const ProcessInfo*> processes;
  for (const SpanData* s : spans) {
    if (s->start_unix_ns) min_start = std::min(min_start, s->start_unix_ns);
    max_end = std::max(max_end, s->end_unix_ns);
    const ProcessInfo* p = s->process.get();
    if (std::none_of(processes.begin(), processes.end(),
                     [&](const ProcessInfo* q) { return SameProcess(p, q); }))
      processes.push_back(p);
  }
  out->append("[Trace: ");
  if (folded_root != kNone) {
    AppendTerminalSafe(spans[folded_root]->name, out);
  } else if (!tops.empty()) {
    AppendTerminalSafe(spans[tops[0]]->name, out);
  }
  if (batch.late) out->append(" (late spans)");
  out->append("] (Total: ");
  if (folded_root != kNone) {
    out->append(IsOpen(*spans[folded_root]) ? std::string("open")
                                            : FormatDuration(spans[folded_root]->duration_ns()));
  } else {
    out->append(max_end > min_start && min_start != UINT64_MAX
                    ? FormatDuration(max_end - min_start)
                    : std::string("open"));
  }
  out->push_back(')');
  if (folded_root != kNone && spans[folded_root]->kind != 0) {
    out->push_back(' ');
    out->append(KindString(spans[folded_root]->kind));
  }
  out->append(" trace=");
  AppendTraceIdHex(batch.trace_id, out);
  char buf[64];
  std::snprintf(buf, sizeof(buf), " spans=%zu processes=%zu", n, processes.size());
  out->append(buf);
  if (folded_root != kNone) {
    AppendKeyAttributes(*spans[folded_root], /*rollup=*/true, out);
    AppendSpanMarks(*spans[folded_root], out);
  }
  out->push_back('\n');

  // Depth-first, with an explicit stack: agent traces can nest deeper than a thread's stack.
  struct Frame {
    uint32_t span;
    uint32_t depth;  // 1 for top-level entries
    bool last;       // last among its siblings
  };
  std::vector<Frame> stack;
  std::vector<uint8_t> last_at_depth;  // [d]: was the ancestor at depth d a last child
  const ProcessInfo* top_process = folded_root != kNone ? spans[folded_root]->process.get()
                                   : tops.empty()       ? nullptr
                                                        : spans[tops[0]]->process.get();
  for (size_t k = tops.size(); k-- > 0;)
    stack.push_back({tops[k], 1, k + 1 == tops.size()});
  while (!stack.empty()) {
    const Frame f = stack.back();
    stack.pop_back();
    const SpanData& s = *spans[f.span];
    if (last_at_depth.size() <= f.depth) last_at_depth.resize(f.depth + 1);
    last_at_depth[f.depth] = f.last;
    for (uint32_t d = 1; d < f.depth; ++d) out->append(last_at_depth[d] ? kSpace : kPipe);
    out->append(f.last ? kLastBranch : kBranch);

    out->push_back('[');
    AppendTerminalSafe(s.name, out);
    out->append("] (");
    out->append(IsOpen(s) ? std::string("open") : FormatDuration(s.duration_ns()));
    out->push_back(')');
    // The stable kind (agent.kind) right after the duration: what the span is, whatever its
    // name says. Custom spans show none.
    if (s.kind != 0) {
      out->push_back(' ');
      out->append(KindString(s.kind));
    }
    const bool rollup = s.kind == static_cast<uint8_t>(Kind::kRun) ||
                        s.kind == static_cast<uint8_t>(Kind::kTurn) ||
                        s.kind == static_cast<uint8_t>(Kind::kSubagent);
    AppendKeyAttributes(s, rollup, out);
    const ProcessInfo* parent_process =
        parent[f.span] != kNone ? spans[parent[f.span]]->process.get() : top_process;
    if (!SameProcess(s.process.get(), parent_process)) AppendProcessTag(s.process.get(), out);
    AppendSpanMarks(s, out);
    // Its parent should be here but is not (dropped, or malformed ids). Expected in late batches.
    if (!batch.late && parent[f.span] == kNone && s.parent_span_id != 0) out->append(" (orphan)");
    if (hotspot[f.span]) out->append("  <-- HOTSPOT");
    out->push_back('\n');

    const auto& c = children[f.span];
    for (size_t k = c.size(); k-- > 0;) stack.push_back({c[k], f.depth + 1, k + 1 == c.size()});
  }
}

namespace {

class TreeExporter final : public Exporter {
 public:
  explicit TreeExporter(std::unique_ptr<OutputFile> out) : out_(std::move(out)) {}

  std::string_view name() const override { return "tree"; }

  // One write per trace (blank line included) so traces from the pipeline never interleave
  // with other output on the terminal.
  bool Export(const TraceBatch& batch) override {
    text_.clear();
    RenderTraceTree(batch, &text_);
    text_.push_back('\n');
    return out_->WriteWhole(text_);
  }

 private:
  std::unique_ptr<OutputFile> out_;
  std::string text_;
};

}  // namespace

std::unique_ptr<Exporter> MakeTreeExporter(std::unique_ptr<OutputFile> out) {
  if (!out) return nullptr;
  return std::make_unique<TreeExporter>(std::move(out));
}

}  // namespace agentring::reader
