/* agentring C ABI: spans recorded into the shared-memory ring, for C and for other languages'
 * foreign-function interfaces (Python's ctypes, Rust, Go's cgo, ...).
 *
 *   #include "agentring/agentring.h"    link libagentring.so (or libagentring.a -lstdc++ -lpthread)
 *
 *   agentring_span run;
 *   agentring_span_start(&run, "agent.run", 9, AGENTRING_KIND_RUN, NULL, NULL, 0);
 *   agentring_span_set_string(&run, "agent.name", 10, "CodingAgent", 11);
 *   {
 *     agentring_attr attrs[2] = {
 *         {"tool.name", 9, AGENTRING_ATTR_STRING, 0, 0, 0.0, "filesystem", 10},
 *         {"tool.bytes", 10, AGENTRING_ATTR_INT64, 0, 4096, 0.0, NULL, 0}};
 *     agentring_span tool;
 *     agentring_span_start_with_attrs(&tool, "execute_tool", 12, AGENTRING_KIND_TOOL, NULL, NULL,
 *                                     0, attrs, 2);
 *     agentring_span_set_status(&tool, AGENTRING_STATUS_ERROR, "permission denied", 17);
 *     agentring_span_end(&tool);
 *   }
 *   agentring_span_end(&run);
 *
 * This header is hermetic: it needs only <stddef.h> and <stdint.h>, compiles as C11 (-Wall -Werror
 * -pedantic) and as C++ (every function is extern "C" and, from C++, noexcept).
 *
 * Design, for binding authors:
 *   - Plain structs with fixed-width fields; their sizes and offsets (LP64) are written next to
 *     each struct and asserted in c_api.cc. No unions, varargs or callbacks.
 *   - Every string is (const char* p, size_t len): no NUL terminator is needed or read; a NULL
 *     pointer is read as the empty string. Strings are copied or hashed during the call and
 *     never kept, so the caller may free them as soon as the call returns.
 *   - A span lives in caller-allocated storage (agentring_span): no heap allocation per span.
 *     A zero-filled agentring_span is an ended span; every call on it does nothing.
 *   - No span call (agentring_span_*) locks, blocks or allocates after a thread's first span;
 *     the process-wide settings and agentring_get_stats may take the writer's lock. Failure
 *     (ring full, no reader, tracing disabled, a span not sampled) is never reported to the
 *     caller: the span is dropped and counted (agentring_get_stats). Functions that can reject
 *     an argument return int: 1 for success, 0 for rejection.
 *   - No C++ exception ever crosses this ABI: the implementation is noexcept throughout.
 *   - Costs are those of the C++ API (agentring.hpp) plus run-time hashing of every name and
 *     key (FNV-1a over its bytes; a C++ string literal is hashed at compile time).
 *
 * Threads. The global functions are safe to call from any thread. A span is the current span of
 * the thread that started it (children started on that thread with a NULL parent nest under it)
 * until it ends, so a span must be ended on the thread that started it unless it was started
 * with AGENTRING_SPAN_DETACHED. One agentring_span must not be used by two threads at once; its
 * calls write to the lane of the calling thread.
 *
 * Versioning. AGENTRING_ABI_VERSION changes only when an existing function or struct changes
 * incompatibly; functions, constants and trailing struct fields (agentring_stats) are added
 * without changing it. Compare it with agentring_version() at load time. */
#ifndef AGENTRING_AGENTRING_H_
#define AGENTRING_AGENTRING_H_

#include <stddef.h>
#include <stdint.h>

#define AGENTRING_ABI_VERSION 1

#ifdef __cplusplus
#define AGENTRING_NOEXCEPT noexcept
extern "C" {
#else
#define AGENTRING_NOEXCEPT
#endif

#if defined(__GNUC__) || defined(__clang__)
#define AGENTRING_API __attribute__((visibility("default")))
#else
#define AGENTRING_API
#endif

/* ---- Constants ------------------------------------------------------------------------------ */

/* The stable role of a span (exported as the `agent.kind` attribute); equal to agentring::Kind.
 * Values are ABI: append only. A value >= AGENTRING_KIND_COUNT is recorded as CUSTOM. */
typedef uint32_t agentring_kind;
enum {
  AGENTRING_KIND_CUSTOM = 0,
  AGENTRING_KIND_RUN = 1,
  AGENTRING_KIND_TURN = 2,
  AGENTRING_KIND_LLM = 3,
  AGENTRING_KIND_TOOL = 4,
  AGENTRING_KIND_RETRIEVAL = 5,
  AGENTRING_KIND_EMBEDDING = 6,
  AGENTRING_KIND_VECTOR_SEARCH = 7,
  AGENTRING_KIND_SUBAGENT = 8,
  AGENTRING_KIND_HANDOFF = 9,
  AGENTRING_KIND_GUARDRAIL = 10,
  AGENTRING_KIND_PLAN = 11,
  AGENTRING_KIND_TASK = 12,
  AGENTRING_KIND_COUNT = 13
};

/* Span status (OpenTelemetry's); equal to agentring::StatusCode. */
typedef uint32_t agentring_status_code;
enum { AGENTRING_STATUS_UNSET = 0, AGENTRING_STATUS_OK = 1, AGENTRING_STATUS_ERROR = 2 };

/* agentring_attr.type; equal to agentring::Attr::Type. */
enum {
  AGENTRING_ATTR_INT64 = 1,  /* int_value */
  AGENTRING_ATTR_DOUBLE = 2, /* double_value */
  AGENTRING_ATTR_BOOL = 3,   /* bool_value: 0 is false, anything else true */
  AGENTRING_ATTR_STRING = 4  /* str, str_len */
};

/* agentring_suffix.type; equal to agentring::Suffix::Type. */
enum {
  AGENTRING_SUFFIX_NONE = 0,
  AGENTRING_SUFFIX_INT = 1,      /* int_value: "agent.turn" + 3 reads "agent.turn 3" */
  AGENTRING_SUFFIX_INTERNED = 2, /* str: interned once per process, e.g. a model name */
  AGENTRING_SUFFIX_INLINE = 3    /* str: up to 8 bytes carried in the record; longer is cut */
};

/* agentring_span_start flags. Other bits are reserved and must be 0. */
enum {
  /* The span does not become the current span of the starting thread: start it this way when
   * another thread will end it, or when the caller tracks parents itself (e.g. asyncio tasks
   * interleaved on one thread) and passes them explicitly. */
  AGENTRING_SPAN_DETACHED = 1
};

/* At most this many attributes travel in one record group (visible to the reader together, or
 * dropped together). agentring_span_start_with_attrs and agentring_span_set_attrs split a longer
 * array into consecutive groups; agentring_span_add_event keeps the first this-many. */
#define AGENTRING_MAX_ATTRS_PER_GROUP 32

/* Bytes a traceparent needs: 55 characters and a NUL. */
#define AGENTRING_TRACEPARENT_BUFFER_BYTES 56

/* ---- Structs (sizes and offsets for LP64, asserted in c_api.cc) ----------------------------- */

/* A span's storage, allocated by the caller (on the stack, in a struct, in a ctypes buffer) and
 * filled by agentring_span_start*. Opaque: do not read, write, copy or move a started span; pass
 * its address. 128 bytes, 8-byte aligned. All-zero bytes are an ended span. */
#define AGENTRING_SPAN_OPAQUE_WORDS 16
typedef struct agentring_span {
  uint64_t opaque[AGENTRING_SPAN_OPAQUE_WORDS];
} agentring_span;

/* W3C trace context of a span; equal in meaning to agentring::SpanContext. span_id 0 (or a
 * zero trace id) means "no span". 32 bytes:
 *   0 trace_id_hi, 8 trace_id_lo, 16 span_id, 24 trace_flags, 25 remote, 26 reserved[6]. */
typedef struct agentring_context {
  uint64_t trace_id_hi; /* the first 16 hex digits of the 32-digit trace id */
  uint64_t trace_id_lo;
  uint64_t span_id;
  uint8_t trace_flags; /* bit 0: sampled */
  uint8_t remote;      /* 1: came from a traceparent / another process */
  uint8_t reserved[6]; /* 0 */
} agentring_context;

/* One attribute. Only the field that `type` names is read. 56 bytes:
 *   0 key, 8 key_len, 16 type, 20 bool_value, 24 int_value, 32 double_value, 40 str, 48 str_len.
 * An attribute with another `type` is skipped. Strings up to 32 bytes take one record; longer
 * ones continue in more, up to AGENTRING_MAX_ATTR_BYTES (default 16384) and are clipped beyond
 * (head and tail kept, at UTF-8 code-point boundaries). */
typedef struct agentring_attr {
  const char* key;
  size_t key_len;
  uint32_t type;       /* AGENTRING_ATTR_* */
  int32_t bool_value;  /* AGENTRING_ATTR_BOOL */
  int64_t int_value;   /* AGENTRING_ATTR_INT64 */
  double double_value; /* AGENTRING_ATTR_DOUBLE */
  const char* str;     /* AGENTRING_ATTR_STRING */
  size_t str_len;
} agentring_attr;

/* The variable part of a span name, rendered by the reader after the interned static part, so
 * that "agent.turn 3" does not intern a new string per turn. 32 bytes:
 *   0 type, 4 reserved, 8 int_value, 16 str, 24 str_len. */
typedef struct agentring_suffix {
  uint32_t type;     /* AGENTRING_SUFFIX_* (another value: no suffix) */
  uint32_t reserved; /* 0 */
  int64_t int_value; /* AGENTRING_SUFFIX_INT */
  const char* str;   /* AGENTRING_SUFFIX_INTERNED / _INLINE */
  size_t str_len;
} agentring_suffix;

/* Counters of this process's writer (all threads, including exited ones); agentring::WriterStats
 * with a size header so the struct can grow at its end. 88 bytes (version 1):
 *   0 struct_size, 4 reserved, then the uint64_t counters from offset 8 in the order below.
 * spans_started = span_starts_committed + span_starts_dropped_full + span_starts_dropped_too_big
 *               + span_starts_dropped_no_lane + span_starts_dropped_no_segment
 *               + spans_head_sampled_out. */
typedef struct agentring_stats {
  uint32_t struct_size; /* in: sizeof(agentring_stats) of the caller; out: bytes filled */
  uint32_t reserved;
  uint64_t spans_started;
  uint64_t span_starts_committed;
  uint64_t span_starts_dropped_full;      /* the lane was full (reader slow or absent) */
  uint64_t span_starts_dropped_too_big;   /* the group exceeded a lane or group limit */
  uint64_t span_starts_dropped_no_lane;   /* every lane was taken */
  uint64_t span_starts_dropped_no_segment;/* no segment (no reader yet) */
  uint64_t spans_head_sampled_out;
  uint64_t records_committed;
  uint64_t records_dropped;               /* every record of every dropped group, any reason */
  uint64_t strings_dropped;               /* names that could not be interned (block full) */
} agentring_stats;

/* ---- Version ---------------------------------------------------------------------------------- */

/* The AGENTRING_ABI_VERSION the library was built with. A binding built against another major
 * ABI must refuse to load. Thread-safe. */
AGENTRING_API uint32_t agentring_version(void) AGENTRING_NOEXCEPT;

/* The library's release as a static NUL-terminated string, e.g. "0.1.0". Thread-safe. */
AGENTRING_API const char* agentring_version_string(void) AGENTRING_NOEXCEPT;

/* ---- Spans ------------------------------------------------------------------------------------ */

/* Starts a span in `out` (caller storage; its previous content is overwritten, so do not pass a
 * span that has not ended: it would never end).
 *   name, name_len  the static part of the name; interned once per process.
 *   kind            AGENTRING_KIND_*.
 *   suffix          NULL for none, else the variable part of the name (agentring_suffix).
 *   parent          NULL: the calling thread's current span (or, if it has none, the inherited
 *                   parent: TRACEPARENT or agentring_set_inherited_parent; else a new trace).
 *                   Else an explicit parent, e.g. a span of another thread or a context parsed
 *                   from a traceparent; a zero-filled context asks for a root (or the inherited
 *                   parent) regardless of the thread's current span.
 *   flags           0, or AGENTRING_SPAN_DETACHED.
 * Unless detached, the span becomes the current span of the calling thread until it ends.
 * A span that is not recorded (tracing disabled, not sampled, ring full, no reader) is still
 * started: it ends, and propagates context, like any other. No error is returned. `out` NULL:
 * nothing happens. Thread-safe (touches the calling thread's state only). */
AGENTRING_API void agentring_span_start(agentring_span* out, const char* name, size_t name_len,
                                        agentring_kind kind, const agentring_suffix* suffix,
                                        const agentring_context* parent,
                                        uint32_t flags) AGENTRING_NOEXCEPT;

/* agentring_span_start with attributes written in the same record group as the start (one call
 * for a whole span's attributes; the reader sees them together with the start). `attrs` may be
 * NULL when attr_count is 0. Attributes beyond AGENTRING_MAX_ATTRS_PER_GROUP follow in further
 * groups, as agentring_span_set_attrs writes them; attributes of an unknown type are skipped.
 * Thread-safe as agentring_span_start. */
AGENTRING_API void agentring_span_start_with_attrs(
    agentring_span* out, const char* name, size_t name_len, agentring_kind kind,
    const agentring_suffix* suffix, const agentring_context* parent, uint32_t flags,
    const agentring_attr* attrs, size_t attr_count) AGENTRING_NOEXCEPT;

/* Ends a span: writes its end record (with the last status set) and, if it is the current span
 * of the calling thread, makes its parent current again. Ending an ended (or zero-filled) span,
 * or NULL, does nothing. After this the storage may be reused or freed. Call it on the starting
 * thread unless the span was started detached. */
AGENTRING_API void agentring_span_end(agentring_span* span) AGENTRING_NOEXCEPT;

/* Sets one attribute on a running span (a record group of its own; the last value of a key
 * wins in the export). An ended span or NULL: nothing happens. `value` of set_bool: 0 is false,
 * anything else true. Not to be called on one span from two threads at once. */
AGENTRING_API void agentring_span_set_int(agentring_span* span, const char* key, size_t key_len,
                                          int64_t value) AGENTRING_NOEXCEPT;
AGENTRING_API void agentring_span_set_double(agentring_span* span, const char* key,
                                             size_t key_len, double value) AGENTRING_NOEXCEPT;
AGENTRING_API void agentring_span_set_bool(agentring_span* span, const char* key, size_t key_len,
                                           int32_t value) AGENTRING_NOEXCEPT;
AGENTRING_API void agentring_span_set_string(agentring_span* span, const char* key,
                                             size_t key_len, const char* value,
                                             size_t value_len) AGENTRING_NOEXCEPT;

/* Sets several attributes at once: up to AGENTRING_MAX_ATTRS_PER_GROUP per record group (all
 * of a group reach the reader together, or none do). Unknown types are skipped. An ended span,
 * NULL, or attr_count 0: nothing happens. */
AGENTRING_API void agentring_span_set_attrs(agentring_span* span, const agentring_attr* attrs,
                                            size_t attr_count) AGENTRING_NOEXCEPT;

/* Adds a timestamped event with optional attributes (the first AGENTRING_MAX_ATTRS_PER_GROUP
 * valid ones; the rest are dropped). An ended span or NULL: nothing happens. */
AGENTRING_API void agentring_span_add_event(agentring_span* span, const char* name,
                                            size_t name_len, const agentring_attr* attrs,
                                            size_t attr_count) AGENTRING_NOEXCEPT;

/* Links the span to another span's context (e.g. the source of a handoff). An invalid context,
 * an ended span or NULL: nothing happens. */
AGENTRING_API void agentring_span_add_link(agentring_span* span,
                                           const agentring_context* linked) AGENTRING_NOEXCEPT;

/* Sets the span's status (AGENTRING_STATUS_*), with an optional message written now (message
 * NULL or message_len 0: none). The last status set is the one exported. An unknown code, an
 * ended span or NULL: nothing happens. */
AGENTRING_API void agentring_span_set_status(agentring_span* span, agentring_status_code code,
                                             const char* message,
                                             size_t message_len) AGENTRING_NOEXCEPT;

/* Copies the span's context to `out` (for explicit parents on other threads, and traceparent
 * headers). Returns 1 if the context is valid, else 0 with `out` zero-filled (an ended or
 * zero-filled span, or tracing disabled when it started). `out` NULL: returns 0. */
AGENTRING_API int agentring_span_context(const agentring_span* span,
                                         agentring_context* out) AGENTRING_NOEXCEPT;

/* 1 if the span is running and being recorded (started while enabled, sampled, and its start
 * was not dropped), else 0. A binding may skip building attributes for a span that is not. */
AGENTRING_API int agentring_span_is_recording(const agentring_span* span) AGENTRING_NOEXCEPT;

/* ---- Context ---------------------------------------------------------------------------------- */

/* Copies the calling thread's current span context (the local parent a span started now with a
 * NULL parent would get; the inherited parent is not reported here) to `out`. Returns 1 if valid, else 0 with `out`
 * zero-filled. `out` NULL: returns 0. Reads the calling thread's state only. */
AGENTRING_API int agentring_current_context(agentring_context* out) AGENTRING_NOEXCEPT;

/* Formats a W3C traceparent "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>" and a NUL into
 * buf (buf_len >= AGENTRING_TRACEPARENT_BUFFER_BYTES). Returns the length without the NUL (55),
 * or 0 (buf untouched) if the context is invalid, buf is NULL or too small. Thread-safe. */
AGENTRING_API size_t agentring_context_to_traceparent(const agentring_context* ctx, char* buf,
                                                      size_t buf_len) AGENTRING_NOEXCEPT;

/* Parses a W3C traceparent (version 00, or a later version's first four fields) into `out`
 * with remote = 1. Returns 1, or 0 (out untouched) on anything malformed, including all-zero
 * ids, version ff and upper-case hex. Thread-safe. */
AGENTRING_API int agentring_context_from_traceparent(const char* text, size_t text_len,
                                                     agentring_context* out) AGENTRING_NOEXCEPT;

/* Sets the parent of spans that have no local parent in this process (replacing the one read
 * from TRACEPARENT at the first span); `ctx` NULL or invalid: such spans become roots. The
 * context is marked remote. Thread-safe; takes effect for spans started afterwards. */
AGENTRING_API void agentring_set_inherited_parent(const agentring_context* ctx) AGENTRING_NOEXCEPT;

/* Forgets the inherited parent: a long-lived worker that must not nest under its spawner calls
 * this. Thread-safe. */
AGENTRING_API void agentring_clear_inherited_parent(void) AGENTRING_NOEXCEPT;

/* ---- Process-wide settings -------------------------------------------------------------------- */

/* Chooses the segment writers attach to (default: $AGENTRING_SEGMENT, else "agentring"). Call it
 * before the first span of the process; later it has no effect on an attached writer. Returns 0
 * (and changes nothing) unless the name is 1..200 characters of [A-Za-z0-9._-]. Thread-safe. */
AGENTRING_API int agentring_set_segment_name(const char* name, size_t name_len) AGENTRING_NOEXCEPT;

/* Turns recording on (non-zero) or off (0) for the whole process; spans started while off are
 * not recorded. $AGENTRING_DISABLED=1 starts the process off. Thread-safe. */
AGENTRING_API void agentring_set_enabled(int32_t enabled) AGENTRING_NOEXCEPT;
AGENTRING_API int agentring_is_enabled(void) AGENTRING_NOEXCEPT;

/* Sets the head sampler, decided once at the root of a trace: always_on, always_off,
 * traceidratio, parentbased_always_on (the default), parentbased_always_off,
 * parentbased_traceidratio (OTEL_TRACES_SAMPLER's names; `ratio` is OTEL_TRACES_SAMPLER_ARG, used
 * by the ratio samplers). Returns 0 (and changes nothing) for an unknown name or a ratio outside
 * [0, 1]. Thread-safe. */
AGENTRING_API int agentring_set_sampler(const char* name, size_t name_len,
                                        double ratio) AGENTRING_NOEXCEPT;

/* A flush hint, for symmetry with other tracing APIs: it does nothing, because nothing is
 * buffered in the process. Every record is published to the reader before the call that wrote
 * it returns; the reader exports on its own schedule. Thread-safe. */
AGENTRING_API void agentring_flush(void) AGENTRING_NOEXCEPT;

/* Releases the calling thread's lane now, so the reader can drain and reuse it (it is released
 * at thread exit anyway). A thread from a pool that will trace no more calls this. The thread
 * claims a lane again at its next span. */
AGENTRING_API void agentring_release_thread_lane(void) AGENTRING_NOEXCEPT;

/* Copies the writer's counters into `out`. The caller sets out->struct_size to the size of its
 * agentring_stats; at most that many bytes are filled, and struct_size is set to the number
 * filled (a newer library fills no more than an older caller knows; an older library leaves a
 * newer caller's extra fields untouched). Returns 0 if out is NULL or struct_size < 8, else 1.
 * Takes the writer's process lock: call it from a monitoring path, not per span. */
AGENTRING_API int agentring_get_stats(agentring_stats* out) AGENTRING_NOEXCEPT;

/* "run", "turn", "llm", ... for a kind ("custom" for unknown values): a static string. */
AGENTRING_API const char* agentring_kind_name(agentring_kind kind) AGENTRING_NOEXCEPT;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* AGENTRING_AGENTRING_H_ */
