// agentring C++ writer API: RAII spans recorded into the shared-memory ring.
//
//   #include "agentring/agentring.hpp"
//
//   agentring::Span run("agent.run", agentring::Kind::kRun);
//   run.Set("agent.name", "CodingAgent");
//   {
//     agentring::Span turn("agent.turn", agentring::Kind::kTurn, agentring::Suffix(3));
//     agentring::Span tool("execute_tool", agentring::Kind::kTool,
//                          {{"tool.name", "filesystem"}, {"tool.target", path}});
//     tool.SetStatus(agentring::StatusCode::kError, "permission denied");
//   }  // spans end when they go out of scope
//
// Costs: a span is two 64-byte records (start, end) written into this thread's lane with plain
// stores and one release-store each; names and keys are interned once per process. No call here
// locks, blocks, throws, or allocates after the thread's first span; when the ring is full, the
// reader is absent or a lane cannot be had, the span is dropped and counted (WriterStats).
//
// Compile with -DAGENTRING_DISABLE to turn every call into nothing.
#ifndef AGENTRING_AGENTRING_HPP_
#define AGENTRING_AGENTRING_HPP_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace agentring {

// The stable role of a span (exported as the `agent.kind` attribute). Values are ABI: append only.
enum class Kind : uint8_t {
  kCustom = 0,
  kRun = 1,
  kTurn = 2,
  kLlm = 3,
  kTool = 4,
  kRetrieval = 5,
  kEmbedding = 6,
  kVectorSearch = 7,
  kSubagent = 8,
  kHandoff = 9,
  kGuardrail = 10,
  kPlan = 11,
  kTask = 12,
};
inline constexpr int kKindCount = 13;
// "run", "turn", "llm", … ("custom" for out-of-range values).
const char* KindName(Kind kind) noexcept;

enum class StatusCode : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

// FNV-1a, 64-bit: names and keys are identified by the hash of their bytes.
constexpr uint64_t HashBytes(const char* p, size_t n) noexcept {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(p[i]);
    h *= 0x100000001b3ull;
  }
  return h | 1;  // never 0: 0 marks an empty intern-cache entry
}

// A span name or attribute key. From a string literal the hash is computed at compile time;
// from any other string (std::string, string_view, const char*) at run time. Either way the
// string is interned once per process and records carry a 4-byte id.
class Name {
 public:
  constexpr Name() noexcept : data_(""), size_(0), hash_(HashBytes("", 0)) {}
  template <size_t N>
  consteval Name(const char (&literal)[N])  // NOLINT: implicit on purpose
      : data_(literal), size_(N - 1), hash_(HashBytes(literal, N - 1)) {}
  Name(std::string_view s) noexcept  // NOLINT: implicit on purpose
      : data_(s.data()), size_(static_cast<uint32_t>(s.size())), hash_(HashBytes(s.data(), s.size())) {}
  Name(const std::string& s) noexcept : Name(std::string_view(s)) {}  // NOLINT
  // A run-time C string. (A template, so that a literal still picks the consteval constructor:
  // partial ordering prefers the array reference. A non-const char array does not compile as a
  // name: pass std::string_view(buf) to say that it is a run-time string.)
  template <typename T, std::enable_if_t<std::is_same_v<T, const char*> || std::is_same_v<T, char*>, int> = 0>
  Name(T s) noexcept : Name(std::string_view(s ? s : "")) {}  // NOLINT

  const char* data() const noexcept { return data_; }
  uint32_t size() const noexcept { return size_; }
  uint64_t hash() const noexcept { return hash_; }

 private:
  const char* data_;
  uint32_t size_;
  uint64_t hash_;
};
using Key = Name;

// The variable part of a span name, rendered by the reader after the interned static part:
// "agent.turn" + Suffix(3) reads "agent.turn 3"; "chat" + Suffix::Interned(model) reads
// "chat gpt-4o". An Inline suffix holds up to 8 bytes; longer ones are cut.
class Suffix {
 public:
  enum Type : uint8_t { kNone = 0, kInt = 1, kInterned = 2, kInline = 3 };
  constexpr Suffix() noexcept : type_(kNone), value_(0), name_() {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  constexpr explicit Suffix(T v) noexcept : type_(kInt), value_(static_cast<int64_t>(v)), name_() {}
  static Suffix Interned(Name n) noexcept { return Suffix(kInterned, n); }
  static Suffix Inline(std::string_view s) noexcept { return Suffix(kInline, Name(s)); }

  Type type() const noexcept { return type_; }
  int64_t int_value() const noexcept { return value_; }
  const Name& name() const noexcept { return name_; }

 private:
  Suffix(Type t, Name n) noexcept : type_(t), value_(0), name_(n) {}
  Type type_;
  int64_t value_;
  Name name_;
};

// W3C trace context of a span. A zero span_id means "no span".
struct SpanContext {
  uint64_t trace_id_hi = 0;
  uint64_t trace_id_lo = 0;
  uint64_t span_id = 0;
  uint8_t trace_flags = 0;  // bit 0: sampled
  bool remote = false;      // came from TRACEPARENT or another process

  bool valid() const noexcept { return span_id != 0 && (trace_id_hi | trace_id_lo) != 0; }
  bool sampled() const noexcept { return (trace_flags & 1) != 0; }

  // "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"; empty when !valid().
  std::string ToTraceparent() const;
  // Parses a W3C traceparent (version 00, or a later version's first four fields). Returns false
  // on anything malformed, including all-zero ids and version ff.
  static bool FromTraceparent(std::string_view text, SpanContext* out) noexcept;
};

// One attribute, for the constructors and events that take several at once (a single record
// group: all of them become visible to the reader together, or none do).
class Attr {
 public:
  enum Type : uint8_t { kInt64 = 1, kDouble = 2, kBool = 3, kString = 4 };
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Attr(Key k, T v) noexcept : key_(k), type_(kInt64), i_(static_cast<int64_t>(v)) {}
  Attr(Key k, double v) noexcept : key_(k), type_(kDouble), d_(v) {}
  Attr(Key k, bool v) noexcept : key_(k), type_(kBool), b_(v) {}
  Attr(Key k, std::string_view v) noexcept : key_(k), type_(kString), s_{v.data(), v.size()} {}
  Attr(Key k, const char* v) noexcept : Attr(k, std::string_view(v ? v : "")) {}
  Attr(Key k, const std::string& v) noexcept : Attr(k, std::string_view(v)) {}

  const Key& key() const noexcept { return key_; }
  Type type() const noexcept { return type_; }
  int64_t int_value() const noexcept { return i_; }
  double double_value() const noexcept { return d_; }
  bool bool_value() const noexcept { return b_; }
  std::string_view string_value() const noexcept { return {s_.p, s_.n}; }

 private:
  Key key_;
  Type type_;
  union {
    int64_t i_;
    double d_;
    bool b_;
    struct {
      const char* p;
      size_t n;
    } s_;
  };
};
using Attrs = std::initializer_list<Attr>;

// Counters of this process's writer (all threads, including exited ones). The identity
//   spans_started = span_starts_committed + span_starts_dropped_full + span_starts_dropped_too_big
//                 + span_starts_dropped_no_lane + span_starts_dropped_no_segment
//                 + spans_head_sampled_out
// always holds.
struct WriterStats {
  uint64_t spans_started = 0;
  uint64_t span_starts_committed = 0;
  uint64_t span_starts_dropped_full = 0;
  uint64_t span_starts_dropped_too_big = 0;
  uint64_t span_starts_dropped_no_lane = 0;
  uint64_t span_starts_dropped_no_segment = 0;
  uint64_t spans_head_sampled_out = 0;
  uint64_t records_committed = 0;
  uint64_t records_dropped = 0;  // every record of every dropped group, any reason
  uint64_t strings_dropped = 0;  // names that could not be interned (string block full)
};
WriterStats GetWriterStats() noexcept;

// Turns recording on or off at run time for the whole process (one relaxed load per call).
void SetEnabled(bool enabled) noexcept;
bool IsEnabled() noexcept;

// Head sampling, decided once at the root of a trace (OpenTelemetry's samplers, with the names
// and argument of OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, which are read at the first
// span): always_on, always_off, traceidratio, parentbased_always_on (default),
// parentbased_always_off, parentbased_traceidratio. Returns false (and changes nothing) for an
// unknown name or a ratio outside [0, 1].
bool SetSampler(std::string_view name, double ratio = 1.0) noexcept;

// Parent for spans with no local parent in this process: read from the TRACEPARENT environment
// variable at the first span. A long-lived worker that must not nest under its spawner calls
// ClearInheritedParent() (or its spawner does not set TRACEPARENT).
void ClearInheritedParent() noexcept;
void SetInheritedParent(const SpanContext& ctx) noexcept;

// The current span of this thread (what a new span would be parented under), or an invalid
// context. Put ToTraceparent() of it into a child process's TRACEPARENT.
SpanContext CurrentContext() noexcept;

// Test and tool hooks: which segment writers attach to (default: $AGENTRING_SEGMENT or
// "agentring"). Must be called before the first span of the process.
void SetSegmentName(std::string_view name) noexcept;
// Releases this thread's lane now (it is released at thread exit anyway).
void ReleaseThreadLane() noexcept;

namespace internal {
struct ThreadState;
// Run-time switch (SetEnabled); read inline by every span with one relaxed load.
extern std::atomic<bool> g_enabled;
// Bumped in every forked child (see Span::OwnedByThisProcess).
extern std::atomic<uint32_t> g_fork_epoch;
}  // namespace internal

#ifndef AGENTRING_DISABLE

// A span, started on construction and ended by End() or the destructor. By default it becomes
// the current span of the constructing thread (children nest under it) until it ends; pass
// Span::kDetached for a span that another thread will end. Movable, not copyable.
class Span {
 public:
  enum Mode : uint8_t { kScoped = 0, kDetached = 1 };

  // The constructors and the destructor are inline: a disabled span is one relaxed load and a
  // branch, and the name and suffix reach the out-of-line part by reference, not copied.
  explicit Span(Name name, Kind kind = Kind::kCustom, Suffix suffix = Suffix()) noexcept {
    if (Enabled()) Start(name, kind, nullptr, suffix, {}, kScoped);
  }
  Span(Name name, Kind kind, Attrs attrs) noexcept {
    if (Enabled()) Start(name, kind, nullptr, Suffix(), attrs, kScoped);
  }
  Span(Name name, Kind kind, Suffix suffix, Attrs attrs) noexcept {
    if (Enabled()) Start(name, kind, nullptr, suffix, attrs, kScoped);
  }
  // Explicit parent (work handed to another thread or process).
  Span(Name name, Kind kind, const SpanContext& parent, Suffix suffix = Suffix(),
       Attrs attrs = {}, Mode mode = kScoped) noexcept {
    if (Enabled()) Start(name, kind, &parent, suffix, attrs, mode);
  }
  ~Span() {
    if (state_ != kEnded) End();
  }

  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) = delete;

  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  void Set(Key key, T v) noexcept { SetAttr(Attr(key, static_cast<int64_t>(v))); }
  void Set(Key key, double v) noexcept { SetAttr(Attr(key, v)); }
  void Set(Key key, bool v) noexcept { SetAttr(Attr(key, v)); }
  void Set(Key key, std::string_view v) noexcept { SetAttr(Attr(key, v)); }
  void Set(Key key, const char* v) noexcept { SetAttr(Attr(key, v)); }
  void Set(Key key, const std::string& v) noexcept { SetAttr(Attr(key, std::string_view(v))); }
  void Set(Attrs attrs) noexcept;

  void AddEvent(Name name, Attrs attrs = {}) noexcept;
  void AddLink(const SpanContext& linked) noexcept;
  // Status with an optional message (written now; the last one wins).
  void SetStatus(StatusCode code, std::string_view message = {}) noexcept;

  void End() noexcept;

  const SpanContext& context() const noexcept { return ctx_; }
  bool recording() const noexcept { return state_ == kRecording; }

 private:
  enum State : uint8_t { kEnded = 0, kRecording = 1, kNotRecording = 2 };
  static bool Enabled() noexcept {
    return __builtin_expect(internal::g_enabled.load(std::memory_order_relaxed), 1);
  }
  void Start(const Name& name, Kind kind, const SpanContext* parent, const Suffix& suffix,
             Attrs attrs, Mode mode) noexcept;
  struct Impl;  // the out-of-line slow paths (writer.cc)
  // False for a span this process inherited through fork() (it is the parent's to end).
  bool OwnedByThisProcess() const noexcept {
    return fork_epoch_ == internal::g_fork_epoch.load(std::memory_order_relaxed);
  }
  void SetAttr(const Attr& a) noexcept;

  SpanContext ctx_;
  SpanContext prev_;                 // the thread's current span before this one
  internal::ThreadState* owner_ = nullptr;  // thread that made it current (kScoped)
  State state_ = kEnded;
  StatusCode status_ = StatusCode::kUnset;
  // Groups of this span (attributes, events, status, links) dropped by a full lane; carried in
  // its end record (saturating) so the reader can mark the trace. Sits in what was padding.
  uint16_t groups_dropped_ = 0;
  uint32_t fork_epoch_ = 0;  // a span a process inherited through fork() is not its to end
};

#else  // AGENTRING_DISABLE: every call compiles to nothing.

class Span {
 public:
  enum Mode : uint8_t { kScoped = 0, kDetached = 1 };
  explicit Span(Name, Kind = Kind::kCustom, Suffix = Suffix()) noexcept {}
  Span(Name, Kind, Attrs) noexcept {}
  Span(Name, Kind, Suffix, Attrs) noexcept {}
  Span(Name, Kind, const SpanContext&, Suffix = Suffix(), Attrs = {}, Mode = kScoped) noexcept {}
  template <typename T>
  void Set(Key, const T&) noexcept {}
  void Set(Attrs) noexcept {}
  void AddEvent(Name, Attrs = {}) noexcept {}
  void AddLink(const SpanContext&) noexcept {}
  void SetStatus(StatusCode, std::string_view = {}) noexcept {}
  void End() noexcept {}
  SpanContext context() const noexcept { return {}; }
  bool recording() const noexcept { return false; }
};

#endif  // AGENTRING_DISABLE

}  // namespace agentring

#endif  // AGENTRING_AGENTRING_HPP_
