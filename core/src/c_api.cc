// The C ABI (agentring/agentring.h) over the C++ writer API (agentring/agentring.hpp).
//
// A C span is an agentring::Span placement-constructed in the caller's agentring_span, with a
// tag in the storage's last word that says "a live Span is here": calls on storage without the
// tag (zero-filled, ended, never started) do nothing instead of touching a dead object.
//
// Attribute arrays become the std::initializer_list<Attr> the C++ API takes. An initializer_list
// can only be made by the compiler from a braced list of a length fixed at compile time, so the
// C attributes are first converted into a stack array of Attr and then passed through a table of
// functions, one per length 0..AGENTRING_MAX_ATTRS_PER_GROUP, each expanding `{a[0], ..., a[N-1]}`.
// Longer arrays go in consecutive groups.
//
// No exception crosses the ABI: every C++ call used here is noexcept and nothing here allocates,
// and every entry point is itself noexcept (a throw would terminate, not unwind into C).
#include "agentring/agentring.h"

#include <array>
#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"

namespace agentring {
namespace {

// ---- layout and value pins -----------------------------------------------------------------
// The numbers below are the ones agentring.h documents for bindings (ctypes mirrors them).

static_assert(AGENTRING_KIND_CUSTOM == static_cast<int>(Kind::kCustom));
static_assert(AGENTRING_KIND_RUN == static_cast<int>(Kind::kRun));
static_assert(AGENTRING_KIND_TURN == static_cast<int>(Kind::kTurn));
static_assert(AGENTRING_KIND_LLM == static_cast<int>(Kind::kLlm));
static_assert(AGENTRING_KIND_TOOL == static_cast<int>(Kind::kTool));
static_assert(AGENTRING_KIND_RETRIEVAL == static_cast<int>(Kind::kRetrieval));
static_assert(AGENTRING_KIND_EMBEDDING == static_cast<int>(Kind::kEmbedding));
static_assert(AGENTRING_KIND_VECTOR_SEARCH == static_cast<int>(Kind::kVectorSearch));
static_assert(AGENTRING_KIND_SUBAGENT == static_cast<int>(Kind::kSubagent));
static_assert(AGENTRING_KIND_HANDOFF == static_cast<int>(Kind::kHandoff));
static_assert(AGENTRING_KIND_GUARDRAIL == static_cast<int>(Kind::kGuardrail));
static_assert(AGENTRING_KIND_PLAN == static_cast<int>(Kind::kPlan));
static_assert(AGENTRING_KIND_TASK == static_cast<int>(Kind::kTask));
static_assert(AGENTRING_KIND_COUNT == kKindCount);

static_assert(AGENTRING_STATUS_UNSET == static_cast<int>(StatusCode::kUnset));
static_assert(AGENTRING_STATUS_OK == static_cast<int>(StatusCode::kOk));
static_assert(AGENTRING_STATUS_ERROR == static_cast<int>(StatusCode::kError));

static_assert(static_cast<int>(AGENTRING_ATTR_INT64) == static_cast<int>(Attr::kInt64));
static_assert(static_cast<int>(AGENTRING_ATTR_DOUBLE) == static_cast<int>(Attr::kDouble));
static_assert(static_cast<int>(AGENTRING_ATTR_BOOL) == static_cast<int>(Attr::kBool));
static_assert(static_cast<int>(AGENTRING_ATTR_STRING) == static_cast<int>(Attr::kString));

static_assert(static_cast<int>(AGENTRING_SUFFIX_NONE) == static_cast<int>(Suffix::kNone));
static_assert(static_cast<int>(AGENTRING_SUFFIX_INT) == static_cast<int>(Suffix::kInt));
static_assert(static_cast<int>(AGENTRING_SUFFIX_INTERNED) == static_cast<int>(Suffix::kInterned));
static_assert(static_cast<int>(AGENTRING_SUFFIX_INLINE) == static_cast<int>(Suffix::kInline));

static_assert(sizeof(void*) == 8 && sizeof(size_t) == 8, "the documented offsets are LP64");

static_assert(sizeof(agentring_span) == 128 && alignof(agentring_span) == 8);

static_assert(sizeof(agentring_context) == 32);
static_assert(offsetof(agentring_context, trace_id_hi) == 0);
static_assert(offsetof(agentring_context, trace_id_lo) == 8);
static_assert(offsetof(agentring_context, span_id) == 16);
static_assert(offsetof(agentring_context, trace_flags) == 24);
static_assert(offsetof(agentring_context, remote) == 25);
static_assert(offsetof(agentring_context, reserved) == 26);

static_assert(sizeof(agentring_attr) == 56);
static_assert(offsetof(agentring_attr, key) == 0);
static_assert(offsetof(agentring_attr, key_len) == 8);
static_assert(offsetof(agentring_attr, type) == 16);
static_assert(offsetof(agentring_attr, bool_value) == 20);
static_assert(offsetof(agentring_attr, int_value) == 24);
static_assert(offsetof(agentring_attr, double_value) == 32);
static_assert(offsetof(agentring_attr, str) == 40);
static_assert(offsetof(agentring_attr, str_len) == 48);

static_assert(sizeof(agentring_suffix) == 32);
static_assert(offsetof(agentring_suffix, type) == 0);
static_assert(offsetof(agentring_suffix, int_value) == 8);
static_assert(offsetof(agentring_suffix, str) == 16);
static_assert(offsetof(agentring_suffix, str_len) == 24);

static_assert(sizeof(agentring_stats) == 88);
static_assert(offsetof(agentring_stats, spans_started) == 8);
static_assert(offsetof(agentring_stats, strings_dropped) == 80);
// agentring_stats mirrors WriterStats field for field after its 8-byte header.
static_assert(sizeof(WriterStats) == sizeof(agentring_stats) - 8);

// ---- span storage ----------------------------------------------------------------------------

constexpr size_t kTagWord = AGENTRING_SPAN_OPAQUE_WORDS - 1;
constexpr uint64_t kLiveTag = 0x4c4956455350414eull;  // "LIVESPAN": a Span is constructed here
static_assert(sizeof(Span) <= kTagWord * sizeof(uint64_t), "agentring_span too small for Span");
static_assert(alignof(Span) <= alignof(agentring_span));

Span* LiveSpan(agentring_span* s) {
  if (s == nullptr || s->opaque[kTagWord] != kLiveTag) return nullptr;
  return std::launder(reinterpret_cast<Span*>(s->opaque));
}
const Span* LiveSpan(const agentring_span* s) {
  return LiveSpan(const_cast<agentring_span*>(s));
}

// ---- conversions -----------------------------------------------------------------------------

// A C string of explicit length; NULL is the empty string. Lengths past 4 GiB are cut (names
// keep a 32-bit size; values are clipped by the writer far below that).
inline std::string_view View(const char* p, size_t n) {
  if (p == nullptr) return {};
  return {p, n <= UINT32_MAX ? n : size_t{UINT32_MAX}};
}

inline Kind ToKind(agentring_kind k) {
  return k < static_cast<uint32_t>(kKindCount) ? static_cast<Kind>(k) : Kind::kCustom;
}

inline SpanContext ToCpp(const agentring_context& c) {
  SpanContext s;
  s.trace_id_hi = c.trace_id_hi;
  s.trace_id_lo = c.trace_id_lo;
  s.span_id = c.span_id;
  s.trace_flags = c.trace_flags;
  s.remote = c.remote != 0;
  return s;
}

inline void ToC(const SpanContext& s, agentring_context* c) {
  memset(c, 0, sizeof(*c));
  c->trace_id_hi = s.trace_id_hi;
  c->trace_id_lo = s.trace_id_lo;
  c->span_id = s.span_id;
  c->trace_flags = s.trace_flags;
  c->remote = s.remote ? 1 : 0;
}

inline Suffix ToSuffix(const agentring_suffix* s) {
  if (s == nullptr) return Suffix();
  switch (s->type) {
    case AGENTRING_SUFFIX_INT: return Suffix(s->int_value);
    case AGENTRING_SUFFIX_INTERNED: return Suffix::Interned(Name(View(s->str, s->str_len)));
    case AGENTRING_SUFFIX_INLINE: return Suffix::Inline(View(s->str, s->str_len));
    default: return Suffix();
  }
}

// Room for one group of converted attributes. A union so that no Attr is constructed until
// Convert() places one (Attr has no default constructor; it is trivially destructible).
union AttrBuffer {
  AttrBuffer() {}
  Attr a[AGENTRING_MAX_ATTRS_PER_GROUP];
};
static_assert(std::is_trivially_destructible_v<Attr>);

// Converts the valid attributes of [*next, end) into `buf`, up to one group's worth, advancing
// *next past what it consumed (including skipped invalid ones). Returns how many it placed.
size_t Convert(const agentring_attr** next, const agentring_attr* end, AttrBuffer* buf) {
  size_t m = 0;
  const agentring_attr* p = *next;
  for (; p != end && m < AGENTRING_MAX_ATTRS_PER_GROUP; ++p) {
    Key key(View(p->key, p->key_len));
    switch (p->type) {
      case AGENTRING_ATTR_INT64: new (&buf->a[m++]) Attr(key, p->int_value); break;
      case AGENTRING_ATTR_DOUBLE: new (&buf->a[m++]) Attr(key, p->double_value); break;
      case AGENTRING_ATTR_BOOL: new (&buf->a[m++]) Attr(key, p->bool_value != 0); break;
      case AGENTRING_ATTR_STRING: new (&buf->a[m++]) Attr(key, View(p->str, p->str_len)); break;
      default: break;  // unknown type: skipped, as documented
    }
  }
  *next = p;
  return m;
}

// What to do with one group of attributes (the initializer_list lives for the call only).
using GroupFn = void (*)(void* ctx, Attrs group);

template <size_t... I>
void CallExact(const Attr* a, GroupFn fn, void* ctx, std::index_sequence<I...>) {
  fn(ctx, Attrs{a[I]...});
}
template <size_t N>
void CallWithN(const Attr* a, GroupFn fn, void* ctx) {
  CallExact(a, fn, ctx, std::make_index_sequence<N>{});
}
template <size_t... N>
constexpr auto MakeCallTable(std::index_sequence<N...>) {
  return std::array<void (*)(const Attr*, GroupFn, void*), sizeof...(N)>{&CallWithN<N>...};
}
// kCallTable[n](a, fn, ctx) calls fn(ctx, {a[0], ..., a[n-1]}).
constexpr auto kCallTable =
    MakeCallTable(std::make_index_sequence<AGENTRING_MAX_ATTRS_PER_GROUP + 1>{});

// Calls fn once per group of up to AGENTRING_MAX_ATTRS_PER_GROUP valid attributes of
// [attrs, attrs + n), in order, and at least once (with an empty group when there are none)
// if `always_once`. Stops after the first group if `first_only`.
void ForEachGroup(const agentring_attr* attrs, size_t n, GroupFn fn, void* ctx, bool always_once,
                  bool first_only) {
  if (attrs == nullptr) n = 0;
  const agentring_attr* next = attrs;
  const agentring_attr* end = attrs + n;
  bool called = false;
  while (next != end) {
    AttrBuffer buf;
    size_t m = Convert(&next, end, &buf);
    if (m == 0) continue;  // a stretch of invalid attributes
    kCallTable[m](buf.a, fn, ctx);
    called = true;
    if (first_only) return;
  }
  if (!called && always_once) fn(ctx, {});
}

// ---- span start --------------------------------------------------------------------------------

struct StartArgs {
  agentring_span* out;
  Name name;
  Kind kind;
  Suffix suffix;
  const agentring_context* parent;
  bool detached;
  bool started;
};

// Constructs the Span in args->out with the first group of attributes; later groups are set on
// the running span.
void StartGroup(void* ctx, Attrs group) {
  auto* a = static_cast<StartArgs*>(ctx);
  if (a->started) {
    LiveSpan(a->out)->Set(group);
    return;
  }
  void* mem = a->out->opaque;
  if (a->parent == nullptr && !a->detached) {
    new (mem) Span(a->name, a->kind, a->suffix, group);  // the thread's current span is parent
  } else {
    // A detached span with an implicit parent takes the current span explicitly: the mode can
    // only be given with a parent.
    const SpanContext parent = a->parent != nullptr ? ToCpp(*a->parent) : CurrentContext();
    new (mem) Span(a->name, a->kind, parent, a->suffix, group,
                   a->detached ? Span::kDetached : Span::kScoped);
  }
  a->out->opaque[kTagWord] = kLiveTag;
  a->started = true;
}

void Start(agentring_span* out, const char* name, size_t name_len, agentring_kind kind,
           const agentring_suffix* suffix, const agentring_context* parent, uint32_t flags,
           const agentring_attr* attrs, size_t attr_count) {
  if (out == nullptr) return;
  StartArgs args{out,    Name(View(name, name_len)), ToKind(kind), ToSuffix(suffix), parent,
                 (flags & AGENTRING_SPAN_DETACHED) != 0, false};
  if (attr_count == 0) {
    StartGroup(&args, {});
    return;
  }
  ForEachGroup(attrs, attr_count, &StartGroup, &args, /*always_once=*/true, /*first_only=*/false);
}

// ---- traceparent -------------------------------------------------------------------------------

inline char* PutHex(char* p, uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) p[digits - 1 - i] = kHex[(v >> (4 * i)) & 0xf];
  return p + digits;
}

}  // namespace
}  // namespace agentring

using agentring::LiveSpan;
using agentring::View;

extern "C" {

uint32_t agentring_version(void) noexcept { return AGENTRING_ABI_VERSION; }

// Kept equal to project(agentring VERSION ...) in CMakeLists.txt by CAbi.VersionStringMatchesProject.
const char* agentring_version_string(void) noexcept { return "0.1.0"; }

void agentring_span_start(agentring_span* out, const char* name, size_t name_len,
                          agentring_kind kind, const agentring_suffix* suffix,
                          const agentring_context* parent, uint32_t flags) noexcept {
  agentring::Start(out, name, name_len, kind, suffix, parent, flags, nullptr, 0);
}

void agentring_span_start_with_attrs(agentring_span* out, const char* name, size_t name_len,
                                     agentring_kind kind, const agentring_suffix* suffix,
                                     const agentring_context* parent, uint32_t flags,
                                     const agentring_attr* attrs, size_t attr_count) noexcept {
  agentring::Start(out, name, name_len, kind, suffix, parent, flags, attrs, attr_count);
}

void agentring_span_end(agentring_span* span) noexcept {
  agentring::Span* s = LiveSpan(span);
  if (s == nullptr) return;
  s->End();
  s->~Span();
  span->opaque[agentring::kTagWord] = 0;
}

void agentring_span_set_int(agentring_span* span, const char* key, size_t key_len,
                            int64_t value) noexcept {
  if (agentring::Span* s = LiveSpan(span)) s->Set(agentring::Key(View(key, key_len)), value);
}

void agentring_span_set_double(agentring_span* span, const char* key, size_t key_len,
                               double value) noexcept {
  if (agentring::Span* s = LiveSpan(span)) s->Set(agentring::Key(View(key, key_len)), value);
}

void agentring_span_set_bool(agentring_span* span, const char* key, size_t key_len,
                             int32_t value) noexcept {
  if (agentring::Span* s = LiveSpan(span)) s->Set(agentring::Key(View(key, key_len)), value != 0);
}

void agentring_span_set_string(agentring_span* span, const char* key, size_t key_len,
                               const char* value, size_t value_len) noexcept {
  if (agentring::Span* s = LiveSpan(span))
    s->Set(agentring::Key(View(key, key_len)), View(value, value_len));
}

void agentring_span_set_attrs(agentring_span* span, const agentring_attr* attrs,
                              size_t attr_count) noexcept {
  agentring::Span* s = LiveSpan(span);
  if (s == nullptr || attr_count == 0) return;
  agentring::ForEachGroup(
      attrs, attr_count,
      [](void* ctx, agentring::Attrs group) { static_cast<agentring::Span*>(ctx)->Set(group); }, s,
      /*always_once=*/false, /*first_only=*/false);
}

void agentring_span_add_event(agentring_span* span, const char* name, size_t name_len,
                              const agentring_attr* attrs, size_t attr_count) noexcept {
  agentring::Span* s = LiveSpan(span);
  if (s == nullptr) return;
  struct EventArgs {
    agentring::Span* span;
    agentring::Name name;
  } args{s, agentring::Name(View(name, name_len))};
  agentring::ForEachGroup(
      attrs, attr_count,
      [](void* ctx, agentring::Attrs group) {
        auto* a = static_cast<EventArgs*>(ctx);
        a->span->AddEvent(a->name, group);
      },
      &args, /*always_once=*/true, /*first_only=*/true);
}

void agentring_span_add_link(agentring_span* span, const agentring_context* linked) noexcept {
  agentring::Span* s = LiveSpan(span);
  if (s == nullptr || linked == nullptr) return;
  s->AddLink(agentring::ToCpp(*linked));
}

void agentring_span_set_status(agentring_span* span, agentring_status_code code,
                               const char* message, size_t message_len) noexcept {
  agentring::Span* s = LiveSpan(span);
  if (s == nullptr || code > AGENTRING_STATUS_ERROR) return;
  s->SetStatus(static_cast<agentring::StatusCode>(code), View(message, message_len));
}

int agentring_span_context(const agentring_span* span, agentring_context* out) noexcept {
  if (out == nullptr) return 0;
  const agentring::Span* s = LiveSpan(span);
  agentring::ToC(s != nullptr ? s->context() : agentring::SpanContext(), out);
  return s != nullptr && s->context().valid() ? 1 : 0;
}

int agentring_span_is_recording(const agentring_span* span) noexcept {
  const agentring::Span* s = LiveSpan(span);
  return s != nullptr && s->recording() ? 1 : 0;
}

int agentring_current_context(agentring_context* out) noexcept {
  if (out == nullptr) return 0;
  const agentring::SpanContext c = agentring::CurrentContext();
  agentring::ToC(c, out);
  return c.valid() ? 1 : 0;
}

size_t agentring_context_to_traceparent(const agentring_context* ctx, char* buf,
                                        size_t buf_len) noexcept {
  if (ctx == nullptr || buf == nullptr || buf_len < AGENTRING_TRACEPARENT_BUFFER_BYTES) return 0;
  if (!agentring::ToCpp(*ctx).valid()) return 0;
  // Formatted here rather than with SpanContext::ToTraceparent, which returns a std::string.
  char* p = buf;
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  p = agentring::PutHex(p, ctx->trace_id_hi, 16);
  p = agentring::PutHex(p, ctx->trace_id_lo, 16);
  *p++ = '-';
  p = agentring::PutHex(p, ctx->span_id, 16);
  *p++ = '-';
  p = agentring::PutHex(p, ctx->trace_flags, 2);
  *p = '\0';
  return static_cast<size_t>(p - buf);
}

int agentring_context_from_traceparent(const char* text, size_t text_len,
                                       agentring_context* out) noexcept {
  if (text == nullptr || out == nullptr) return 0;
  agentring::SpanContext c;
  if (!agentring::SpanContext::FromTraceparent(std::string_view(text, text_len), &c)) return 0;
  agentring::ToC(c, out);
  return 1;
}

void agentring_set_inherited_parent(const agentring_context* ctx) noexcept {
  if (ctx == nullptr) {
    agentring::ClearInheritedParent();
    return;
  }
  agentring::SetInheritedParent(agentring::ToCpp(*ctx));
}

void agentring_clear_inherited_parent(void) noexcept { agentring::ClearInheritedParent(); }

int agentring_set_segment_name(const char* name, size_t name_len) noexcept {
  const std::string_view n = View(name, name_len);
  if (!agentring::internal::IsValidSegmentName(n)) return 0;
  agentring::SetSegmentName(n);
  return 1;
}

void agentring_set_enabled(int32_t enabled) noexcept { agentring::SetEnabled(enabled != 0); }

int agentring_is_enabled(void) noexcept { return agentring::IsEnabled() ? 1 : 0; }

int agentring_set_sampler(const char* name, size_t name_len, double ratio) noexcept {
  return agentring::SetSampler(View(name, name_len), ratio) ? 1 : 0;
}

void agentring_flush(void) noexcept {}

void agentring_release_thread_lane(void) noexcept { agentring::ReleaseThreadLane(); }

int agentring_get_stats(agentring_stats* out) noexcept {
  if (out == nullptr || out->struct_size < 8) return 0;
  const agentring::WriterStats w = agentring::GetWriterStats();
  agentring_stats s;
  memset(&s, 0, sizeof(s));
  s.spans_started = w.spans_started;
  s.span_starts_committed = w.span_starts_committed;
  s.span_starts_dropped_full = w.span_starts_dropped_full;
  s.span_starts_dropped_too_big = w.span_starts_dropped_too_big;
  s.span_starts_dropped_no_lane = w.span_starts_dropped_no_lane;
  s.span_starts_dropped_no_segment = w.span_starts_dropped_no_segment;
  s.spans_head_sampled_out = w.spans_head_sampled_out;
  s.records_committed = w.records_committed;
  s.records_dropped = w.records_dropped;
  s.strings_dropped = w.strings_dropped;
  const size_t n = out->struct_size < sizeof(s) ? out->struct_size : sizeof(s);
  s.struct_size = static_cast<uint32_t>(n);
  memcpy(out, &s, n);
  return 1;
}

const char* agentring_kind_name(agentring_kind kind) noexcept {
  return agentring::KindName(agentring::ToKind(kind));
}

}  // extern "C"
