// The agentring writer: per-thread lanes in the shared-memory segment, the span hot path, string
// interning, head sampling, lazy attach, fork and thread-exit handling.
//
// Hot path (a thread that already owns a lane): read the thread state (one TLS block), take ids
// from a thread-local RNG, look the name up in a thread-local intern cache, read the TSC, check
// room against a cached limit, store 64-byte records with plain stores, and publish them with one
// release-store of the lane head. Everything else (attach, claiming a process slot or a lane,
// interning a new string, refreshing the cached tail) is a slow path taken once per thread, once
// per string, or when the lane looks full.
#include <pthread.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "agentring/abi/records.h"
#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "agentring/internal/writer_config.h"

namespace agentring {
namespace internal {
namespace {

using abi::RawRecord;

// Per-thread intern cache: 64 sets × 4 ways by name hash. Set-associative so that two names in
// use that share a set do not evict each other on every span (each miss takes the process
// mutex). A name the full string block could not take is cached with id 0 (read as "").
constexpr uint32_t kInternWays = 4;
constexpr uint32_t kInternSets = 64;
constexpr uint32_t kInternCacheSize = kInternWays * kInternSets;
constexpr uint64_t kRetryIntervalNs = 100'000'000;  // attach / lane retries: at most every 100 ms

struct InternEntry {
  uint64_t hash;
  uint32_t id;
  uint32_t reserved;
};

// Sampler of OTEL_TRACES_SAMPLER. Every decision is a function of the trace id alone (so a whole
// trace gets one decision wherever it is made); parent-based ones follow a parent's flag.
enum class SamplerKind { kAlwaysOn, kAlwaysOff, kRatio };
struct Sampler {
  SamplerKind root = SamplerKind::kAlwaysOn;
  bool parent_based = true;
  uint64_t threshold = 0;  // kRatio: sampled iff (trace_id_lo & 2^56-1) < threshold

  // Packed into one word so that SetSampler can change it while other threads decide:
  // bits 0-1 kind, bit 2 parent_based, bits 7-63 threshold (<= 2^56).
  uint64_t Pack() const {
    return static_cast<uint64_t>(root) | (parent_based ? 4u : 0u) | (threshold << 7);
  }
  static Sampler Unpack(uint64_t w) {
    return Sampler{static_cast<SamplerKind>(w & 3), (w & 4) != 0, w >> 7};
  }
  bool Decide(uint64_t trace_lo) const {
    switch (root) {
      case SamplerKind::kAlwaysOn: return true;
      case SamplerKind::kAlwaysOff: return false;
      case SamplerKind::kRatio: return (trace_lo & 0x00ffffffffffffffull) < threshold;
    }
    return true;
  }
};

// Process-wide writer state. Leaked on purpose: threads may trace during static destruction.
struct Process {
  std::mutex mu;  // attach, claims, interning, stats; never taken on the fast path
  bool env_read = false;
  std::string segment_name = "agentring";
  WriterConfig config;
  std::atomic<uint64_t> sampler{Sampler().Pack()};  // relaxed: a configuration word
  // TRACEPARENT (or SetInheritedParent). Read without the lock by roots: an immutable context
  // published by pointer (release/acquire); replaced ones are leaked (a few per process).
  std::atomic<const SpanContext*> inherited_parent{nullptr};

  SegmentMap* seg = nullptr;  // null until attached
  uint32_t slot = 0;
  abi::ProcessSlot* ps = nullptr;
  uint8_t* strings = nullptr;
  uint32_t strings_cap = 0;
  uint32_t strings_used = 0;
  bool clock_tsc = true;
  uint64_t attach_generation = 1;  // bumped at attach and fork: thread caches compare it
  std::unordered_map<uint64_t, uint32_t> interned;  // name hash -> string id
  uint64_t next_attach_ns = 0;
  bool warned = false;

  // Counters for spans that never reached a lane (also published in the process slot).
  std::atomic<uint64_t> dropped_no_segment{0};
  std::atomic<uint64_t> dropped_no_lane{0};
  std::atomic<uint64_t> sampled_out_no_lane{0};
  std::atomic<uint64_t> strings_dropped{0};
  // Counters of lanes this process released (a released lane's counters are reset at its next
  // claim, so they are folded in here first).
  WriterStats retired;
  std::vector<uint32_t> owned_lanes;
  std::vector<uint64_t> lane_start;  // per lane index: head when this process claimed it
};

Process& P() {
  static Process* p = new Process();
  return *p;
}

std::atomic<bool> g_env_read{false};

}  // namespace

std::atomic<bool> g_enabled{true};
// Bumped in a forked child: Span objects the child inherited belong to the parent's process
// (their records, their ends); the child must not end or annotate them.
std::atomic<uint32_t> g_fork_epoch{0};

// Per-thread state. Trivially constructible so that TLS access is a plain offset (no guard).
struct ThreadState {
  abi::LaneWriter* lane = nullptr;
  abi::LaneCounters* counters = nullptr;
  RawRecord* ring = nullptr;
  uint64_t mask = 0;
  uint64_t head = 0;
  uint64_t limit = 0;  // head may grow to here without reading the reader's tail
  const std::atomic<uint64_t>* tail = nullptr;
  uint64_t capacity = 0;
  uint32_t lane_index = 0;
  bool clock_tsc = true;
  bool overwrite = false;  // the segment's full policy is kFullOverwrite
  uint8_t reserved[2] = {};
  InternEntry* intern = nullptr;
  uint64_t attach_generation = 0;
  uint64_t rng = 0;
  uint64_t next_lane_retry_ns = 0;
  uint32_t max_string_bytes = 0;  // WriterConfig::max_string_bytes, copied at lane claim
  SpanContext current;
};

namespace {

constinit thread_local ThreadState t_state;

// Registers the thread-exit release of the lane (a thread_local with a destructor needs a guard
// on access, so it lives apart from the hot ThreadState and is touched on the slow path only).
struct LaneReleaser {
  bool armed = false;
  bool owns_intern = false;
  ~LaneReleaser() {
    if (armed) ReleaseThreadLane();
    // The thread's intern cache goes with the thread (LeakSanitizer: 4 KiB per exited thread).
    if (owns_intern) {
      free(t_state.intern);
      t_state.intern = nullptr;
    }
  }
};
thread_local LaneReleaser t_releaser;

// ---- small helpers ---------------------------------------------------------------------------

inline uint64_t ReadTicks(const ThreadState& t) {
  return t.clock_tsc ? __rdtsc() : NowMonotonicNs();
}

// wyrand (Wang Yi): a 64-bit generator with one add and one 128-bit multiply.
inline uint64_t NextRandom(ThreadState& t) {
  t.rng += 0xa0761d6478bd642full;
  __uint128_t m = static_cast<__uint128_t>(t.rng) * (t.rng ^ 0xe7037ed1a0b428dbull);
  return static_cast<uint64_t>(m >> 64) ^ static_cast<uint64_t>(m);
}

void SeedRandom(ThreadState& t) {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
    seed = __rdtsc() ^ (static_cast<uint64_t>(getpid()) << 32) ^
           reinterpret_cast<uintptr_t>(&t);
  }
  t.rng = seed | 1;
}

inline uint64_t NonZeroRandom(ThreadState& t) {
  uint64_t v;
  do {
    if (__builtin_expect(t.rng == 0, 0)) SeedRandom(t);
    v = NextRandom(t);
  } while (v == 0);
  return v;
}

// Copies a span context field by field with 8-byte (and 1-byte) accesses. Every span saves the
// thread's current context and restores it when it ends; if the compiler merges those copies
// into 16-byte vector stores (GCC's SLP vectorizer does), the next span's 8-byte load of a field
// in the upper half of such a store cannot be store-forwarded, a stall on every child span
// (BM_Writer_SpanStartEnd 96 ns -> 77 ns, docs/BENCHMARKS.md). Relaxed atomic builtins on plain
// fields are never merged, so the copy stays scalar whatever the optimiser does.
inline void CopyContext(SpanContext* dst, const SpanContext& src) {
  __atomic_store_n(&dst->trace_id_hi, __atomic_load_n(&src.trace_id_hi, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  __atomic_store_n(&dst->trace_id_lo, __atomic_load_n(&src.trace_id_lo, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  __atomic_store_n(&dst->span_id, __atomic_load_n(&src.span_id, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  __atomic_store_n(&dst->trace_flags, __atomic_load_n(&src.trace_flags, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  __atomic_store_n(&dst->remote, __atomic_load_n(&src.remote, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

inline void Bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  // Single writer (the lane's owner thread): a relaxed load/store pair, no read-modify-write.
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

uint64_t ParseU64Env(const char* name, uint64_t def, uint64_t lo, uint64_t hi) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return def;
  char* end = nullptr;
  unsigned long long x = strtoull(v, &end, 10);
  if (end == v || *end != '\0' || x < lo || x > hi) {
    fprintf(stderr, "agentring: ignoring %s=%s (expected %llu..%llu)\n", name, v,
            static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi));
    return def;
  }
  return x;
}

bool ParseSampler(std::string_view name, double ratio, Sampler* out) {
  if (!(ratio >= 0.0 && ratio <= 1.0)) return false;
  Sampler sm;
  if (name == "parentbased_always_on") {
    sm = {SamplerKind::kAlwaysOn, true, 0};
  } else if (name == "always_on") {
    sm = {SamplerKind::kAlwaysOn, false, 0};
  } else if (name == "always_off") {
    sm = {SamplerKind::kAlwaysOff, false, 0};
  } else if (name == "parentbased_always_off") {
    sm = {SamplerKind::kAlwaysOff, true, 0};
  } else if (name == "traceidratio" || name == "parentbased_traceidratio") {
    sm.root = SamplerKind::kRatio;
    sm.parent_based = name != "traceidratio";
    // The lower 56 bits of a W3C trace id are random: compare them with ratio * 2^56.
    sm.threshold = ratio >= 1.0 ? (1ull << 56) : static_cast<uint64_t>(ratio * 72057594037927936.0);
  } else {
    return false;
  }
  *out = sm;
  return true;
}

// Reads the environment once (first span or first explicit call). Caller holds P().mu.
void ReadEnvLocked(Process& p) {
  if (p.env_read) return;
  p.env_read = true;
  if (const char* s = getenv("AGENTRING_SEGMENT"); s != nullptr && *s != '\0' &&
                                                   p.segment_name == "agentring")
    p.segment_name = s;
  if (const char* d = getenv("AGENTRING_DISABLED"); d != nullptr && strcmp(d, "1") == 0)
    g_enabled.store(false, std::memory_order_relaxed);
  p.config.max_string_bytes = static_cast<uint32_t>(
      ParseU64Env("AGENTRING_MAX_ATTR_BYTES", p.config.max_string_bytes, 64,
                  WriterConfig::kMaxStringBytesLimit));
  if (const char* f = getenv("AGENTRING_ALLOW_FOREIGN_OWNER"); f != nullptr && *f != '\0') {
    if (strcmp(f, "1") == 0 || strcmp(f, "0") == 0) {
      p.config.allow_foreign_owner = strcmp(f, "1") == 0;
    } else {
      fprintf(stderr, "agentring: ignoring AGENTRING_ALLOW_FOREIGN_OWNER=%s (expected 0 or 1)\n", f);
    }
  }

  // OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (OpenTelemetry SDK environment variables).
  std::string sampler = getenv("OTEL_TRACES_SAMPLER") ? getenv("OTEL_TRACES_SAMPLER") : "";
  double ratio = 1.0;
  if (const char* a = getenv("OTEL_TRACES_SAMPLER_ARG"); a != nullptr && *a != '\0') {
    char* end = nullptr;
    double r = strtod(a, &end);
    if (end != a && *end == '\0' && r >= 0.0 && r <= 1.0) {
      ratio = r;
    } else {
      fprintf(stderr, "agentring: ignoring OTEL_TRACES_SAMPLER_ARG=%s (expected 0..1)\n", a);
    }
  }
  Sampler sm;
  if (!ParseSampler(sampler.empty() ? "parentbased_always_on" : sampler, ratio, &sm)) {
    fprintf(stderr, "agentring: unknown OTEL_TRACES_SAMPLER=%s, using parentbased_always_on\n",
            sampler.c_str());
    ParseSampler("parentbased_always_on", 1.0, &sm);
  }
  p.sampler.store(sm.Pack(), std::memory_order_relaxed);

  if (const char* tp = getenv("TRACEPARENT"); tp != nullptr && *tp != '\0') {
    SpanContext ctx;
    if (SpanContext::FromTraceparent(tp, &ctx)) {
      ctx.remote = true;
      p.inherited_parent.store(new SpanContext(ctx), std::memory_order_release);
    } else {
      fprintf(stderr, "agentring: ignoring malformed TRACEPARENT=%s\n", tp);
    }
  }
}

void EnsureEnv() {
  if (__builtin_expect(g_env_read.load(std::memory_order_acquire), 1)) return;
  Process& p = P();
  std::lock_guard<std::mutex> lock(p.mu);
  ReadEnvLocked(p);
  g_env_read.store(true, std::memory_order_release);
}

std::string ResourceString() {
  // "key=value\n" lines: OTEL_RESOURCE_ATTRIBUTES (k=v,k=v, percent-decoded by the reader),
  // then service.name from OTEL_SERVICE_NAME, else the executable's name.
  std::string out;
  if (const char* ra = getenv("OTEL_RESOURCE_ATTRIBUTES"); ra != nullptr) {
    std::string s(ra);
    size_t i = 0;
    while (i <= s.size()) {
      size_t j = s.find(',', i);
      if (j == std::string::npos) j = s.size();
      std::string kv = s.substr(i, j - i);
      if (kv.find('=') != std::string::npos && kv.find('\n') == std::string::npos) out += kv + "\n";
      i = j + 1;
    }
  }
  std::string service;
  if (const char* sn = getenv("OTEL_SERVICE_NAME"); sn != nullptr && *sn != '\0') service = sn;
  if (service.empty() && out.find("service.name=") == std::string::npos) {
    char exe[256] = {};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    std::string path = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "unknown";
    service = "unknown_service:" + path.substr(path.rfind('/') + 1);
  }
  if (!service.empty()) out += "service.name=" + service + "\n";
  return out;
}

// Appends a string to this process's block and returns its id (0 if the block is full).
// Caller holds P().mu and is attached.
uint32_t AppendStringLocked(Process& p, const char* data, uint32_t len) {
  if (len > abi::kMaxStringEntryBytes) len = abi::kMaxStringEntryBytes;
  uint32_t need = 4 + ((len + 3) & ~3u);
  if (p.strings_used + need > p.strings_cap) {
    p.strings_dropped.fetch_add(1, std::memory_order_relaxed);
    p.ps->strings_dropped.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  uint32_t id = p.strings_used;
  memcpy(p.strings + id, &len, 4);
  memcpy(p.strings + id + 4, data, len);
  p.strings_used += need;
  // release: publishes the entry bytes; pairs with the acquire in StringMirror::Refresh. Every
  // record naming this id is published later by its lane's head release, so the reader that
  // sees the record also sees the entry.
  p.ps->strings_used_bytes.store(p.strings_used, std::memory_order_release);
  return id;
}

int32_t Gettid() { return static_cast<int32_t>(syscall(SYS_gettid)); }

uint64_t ProcStartTime() {
  FILE* f = fopen("/proc/self/stat", "r");
  if (f == nullptr) return 0;
  char buf[1024] = {};
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char* rp = strrchr(buf, ')');
  if (rp == nullptr) return 0;
  // Fields after the comm: state is field 3; starttime is field 22.
  int field = 2;
  const char* c = rp + 1;
  while (*c != '\0' && field < 21) {
    if (*c == ' ') ++field;
    ++c;
  }
  return strtoull(c, nullptr, 10);
}

// Attaches to the segment and claims a process slot. Caller holds P().mu. Rate-limited.
bool AttachLocked(Process& p) {
  if (p.seg != nullptr) return true;
  uint64_t now = NowMonotonicNs();
  if (now < p.next_attach_ns) return false;
  p.next_attach_ns = now + kRetryIntervalNs;
  OpenStatus st;
  std::string err;
  OpenOptions open_options;
  open_options.allow_foreign_owner = p.config.allow_foreign_owner;
  std::unique_ptr<SegmentMap> seg = SegmentMap::Open(p.segment_name, &st, &err, open_options);
  if (!seg) {
    if (st == OpenStatus::kForeignOwner)
      err += "; set AGENTRING_ALLOW_FOREIGN_OWNER=1 to write to it anyway";
    if (st != OpenStatus::kMissing && !p.warned) {
      fprintf(stderr, "agentring: not tracing: %s\n", err.c_str());
      p.warned = true;
    }
    return false;
  }
  abi::SegmentHeader* h = seg->header();
  for (uint32_t i = 0; i < seg->process_slot_count(); ++i) {
    if (!seg->TryLockByte(abi::kProcessLockBase + i, true)) continue;  // a live process owns it
    abi::ProcessSlot* ps = seg->process_slot(i);
    uint32_t expected = abi::kProcessFree;
    if (!ps->state.compare_exchange_strong(expected, abi::kProcessClaiming,
                                           std::memory_order_acquire)) {
      seg->UnlockByte(abi::kProcessLockBase + i);  // a dead owner the reader has not reclaimed
      continue;
    }
    ps->generation += 1;
    ps->pid = getpid();
    ps->start_time_ticks = ProcStartTime();
    ps->claimed_unix_ns = NowUnixNs();
    ps->span_starts_dropped_no_lane.store(0, std::memory_order_relaxed);
    ps->strings_dropped.store(0, std::memory_order_relaxed);
    ps->spans_head_sampled_out_no_lane.store(0, std::memory_order_relaxed);
    ps->span_starts_dropped_no_segment.store(p.dropped_no_segment.load(std::memory_order_relaxed),
                                             std::memory_order_relaxed);
    ps->strings_used_bytes.store(abi::kFirstStringOffset, std::memory_order_relaxed);
    p.slot = i;
    p.ps = ps;
    p.strings = seg->string_block(i);
    p.strings_cap = seg->string_block_bytes();
    p.strings_used = abi::kFirstStringOffset;
    madvise(p.strings, p.strings_cap, MADV_POPULATE_WRITE);
    p.interned.clear();
    p.clock_tsc = h->clock_source == abi::kClockTsc;
    p.seg = seg.release();
    std::string res = ResourceString();
    ps->resource_string_id = AppendStringLocked(p, res.data(), static_cast<uint32_t>(res.size()));
    // release: publishes the identity fields above; pairs with the acquire in the reader's
    // process table scan.
    ps->state.store(abi::kProcessOwned, std::memory_order_release);
    h->processes_attached.fetch_add(1, std::memory_order_relaxed);
    p.attach_generation += 1;
    return true;
  }
  h->processes_refused_no_slot.fetch_add(1, std::memory_order_relaxed);
  if (!p.warned) {
    fprintf(stderr, "agentring: not tracing: every process slot of segment '%s' is taken\n",
            p.segment_name.c_str());
    p.warned = true;
  }
  return false;  // seg unmaps: retry later
}

enum class LaneFailure { kNone, kNoSegment, kNoLane };

// Claims a lane for this thread. Caller does not hold the mutex.
[[gnu::noinline]] LaneFailure AcquireLaneSlow(ThreadState& t) {
  Process& p = P();
  uint64_t now = NowMonotonicNs();
  if (now < t.next_lane_retry_ns) return p.seg ? LaneFailure::kNoLane : LaneFailure::kNoSegment;
  std::lock_guard<std::mutex> lock(p.mu);
  ReadEnvLocked(p);
  if (!AttachLocked(p)) {
    t.next_lane_retry_ns = now + kRetryIntervalNs;
    return LaneFailure::kNoSegment;
  }
  if (t.intern == nullptr) {
    t.intern = static_cast<InternEntry*>(calloc(kInternCacheSize, sizeof(InternEntry)));
    if (t.intern == nullptr) return LaneFailure::kNoLane;
    t_releaser.owns_intern = true;  // frees it at thread exit
  }
  if (t.attach_generation != p.attach_generation) {
    memset(t.intern, 0, kInternCacheSize * sizeof(InternEntry));
    t.attach_generation = p.attach_generation;
  }
  SegmentMap& seg = *p.seg;
  uint32_t n = seg.lane_count();
  uint32_t start = static_cast<uint32_t>(Gettid()) % n;
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t i = (start + k) % n;
    abi::LaneSlot* ls = seg.lane_slot(i);
    uint32_t expected = abi::kLaneFree;
    if (ls->entry.state.load(std::memory_order_relaxed) != abi::kLaneFree) continue;
    if (!ls->entry.state.compare_exchange_strong(expected, abi::LaneClaimingBy(p.slot),
                                                 std::memory_order_acquire))
      continue;
    // The lane is ours: re-initialise its header whatever it held (a hostile or stale value
    // must not survive a claim). The reader does not look at kLaneClaiming lanes.
    uint64_t tail = ls->reader.tail.load(std::memory_order_acquire);
    ls->writer.head.store(tail, std::memory_order_relaxed);
    // Nothing at or past tail + capacity is written yet (see Reserve). Published by the
    // release of kLaneOwned below, before any record of ours.
    ls->writer.overwrite_reserved.store(tail, std::memory_order_relaxed);
    ls->counters.span_starts_committed.store(0, std::memory_order_relaxed);
    ls->counters.span_starts_dropped_full.store(0, std::memory_order_relaxed);
    ls->counters.span_starts_dropped_too_big.store(0, std::memory_order_relaxed);
    ls->counters.records_dropped_full.store(0, std::memory_order_relaxed);
    ls->counters.records_dropped_too_big.store(0, std::memory_order_relaxed);
    ls->counters.spans_head_sampled_out.store(0, std::memory_order_relaxed);
    ls->counters.groups_dropped.store(0, std::memory_order_relaxed);
    ls->entry.process_slot = p.slot;
    ls->entry.process_generation = p.ps->generation;
    ls->entry.owner_tid = Gettid();
    ls->entry.claim_count += 1;
    ls->entry.claimed_unix_ns = NowUnixNs();
    uint8_t* records = seg.lane_records(i);
    uint64_t bytes = uint64_t{seg.lane_capacity_records()} * abi::kRecordBytes;
    if (madvise(records, bytes, MADV_POPULATE_WRITE) != 0) {
      // Older kernels: touch every page with a write that changes nothing.
      for (uint64_t off = 0; off < bytes; off += abi::kPageBytes)
        reinterpret_cast<std::atomic<uint64_t>*>(records + off)
            ->fetch_add(0, std::memory_order_relaxed);
    }
    // release: publishes the owner fields and the reset header; pairs with the acquire in
    // LaneDrainer::Poll.
    ls->entry.state.store(abi::kLaneOwned, std::memory_order_release);

    t.lane = &ls->writer;
    t.counters = &ls->counters;
    t.ring = reinterpret_cast<RawRecord*>(records);
    t.capacity = seg.lane_capacity_records();
    t.mask = t.capacity - 1;
    t.head = tail;
    t.tail = &ls->reader.tail;
    t.limit = tail + t.capacity;
    t.lane_index = i;
    t.clock_tsc = p.clock_tsc;
    t.overwrite = seg.full_policy() == abi::kFullOverwrite;
    t.max_string_bytes = p.config.max_string_bytes;
    if (t.rng == 0) SeedRandom(t);
    p.owned_lanes.push_back(i);
    if (p.lane_start.size() < n) p.lane_start.resize(n, 0);
    p.lane_start[i] = tail;
    t_releaser.armed = true;
    return LaneFailure::kNone;
  }
  t.next_lane_retry_ns = now + kRetryIntervalNs;
  return LaneFailure::kNoLane;
}

inline bool EnsureLane(ThreadState& t, LaneFailure* why) {
  if (__builtin_expect(t.lane != nullptr, 1)) return true;
  *why = AcquireLaneSlow(t);
  return *why == LaneFailure::kNone;
}

[[gnu::noinline]] uint32_t InternSlow(const Name& n, InternEntry* set) {
  Process& p = P();
  uint32_t id;
  {
    std::lock_guard<std::mutex> lock(p.mu);
    if (p.seg == nullptr) return 0;
    auto it = p.interned.find(n.hash());
    if (it != p.interned.end()) {
      id = it->second;
    } else {
      // 0 when the block is full: counted once, and remembered (as id 0) so that the name
      // does not come back here on every span.
      id = AppendStringLocked(p, n.data(), n.size());
      p.interned.emplace(n.hash(), id);
    }
  }
  // A free way, else the one the hash picks (a cheap, stateless replacement choice).
  uint32_t way = static_cast<uint32_t>(n.hash() >> 60) % kInternWays;
  for (uint32_t w = 0; w < kInternWays; ++w) {
    if (set[w].hash == 0) {
      way = w;
      break;
    }
  }
  set[way].hash = n.hash();
  set[way].id = id;
  return id;
}

// Interned id of a name; a thread-local cache hit costs a load and a compare (or four).
inline uint32_t InternId(ThreadState& t, const Name& n) {
  InternEntry* set = &t.intern[(n.hash() & (kInternSets - 1)) * kInternWays];
  if (__builtin_expect(set[0].hash == n.hash(), 1)) return set[0].id;
  for (uint32_t w = 1; w < kInternWays; ++w)
    if (set[w].hash == n.hash()) return set[w].id;
  return InternSlow(n, set);
}

// Records an overwriting writer reserves beyond the group it is about to write, so that it
// publishes LaneWriter::overwrite_reserved once per capacity/16 records rather than per group.
// The price: a reader racing it discards up to that many intact records (counted as
// overwritten), and a reader attaching afterwards finds up to that many fewer of the oldest.
constexpr uint64_t kOverwriteSlackDivisor = 16;

// kFullOverwrite, the lane is full: lets the writer run over the oldest records. Publishes the
// new reserved bound before any of those records is touched (segment.h, "Full lanes"). False
// for a group that can never fit (the caller drops it and counts it too big).
[[gnu::noinline]] bool ReserveOverwrite(ThreadState& t, uint64_t n) {
  if (n > t.capacity || n > abi::kMaxGroupRecords) return false;
  const uint64_t reserved = t.head + n + t.capacity / kOverwriteSlackDivisor;
  t.lane->overwrite_reserved.store(reserved, std::memory_order_relaxed);
  // release fence: orders the store above before every record store that follows (up to the
  // next publication); pairs with the acquire fence in SegmentReader::DrainLane that precedes
  // its load of overwrite_reserved, so a reader that copied any byte we write next also sees
  // `reserved` (or a later value) and discards the copy.
  std::atomic_thread_fence(std::memory_order_release);
  t.limit = reserved;
  return true;
}

// The cached limit is reached: refreshes it from the reader's tail and, when the lane is full,
// applies the full policy. Out of line: taken about once per lane's worth of records.
[[gnu::noinline]] bool ReserveSlow(ThreadState& t, uint64_t n) {
  // acquire: pairs with the reader's release of tail, so the slots it freed are no longer read.
  uint64_t tail = t.tail->load(std::memory_order_acquire);
  if (tail > t.head) tail = t.head;  // a tail past head is corrupt: never trust it for room
  t.limit = tail + t.capacity;
  if (t.head + n <= t.limit) return true;
  return t.overwrite && ReserveOverwrite(t, n);
}

// Room for n records at t.head? The fast path is one compare against a cached limit.
inline bool Reserve(ThreadState& t, uint64_t n) {
  if (__builtin_expect(t.head + n <= t.limit, 1)) return true;
  return ReserveSlow(t, n);
}

inline RawRecord* Slot(ThreadState& t, uint64_t pos) { return t.ring + (pos & t.mask); }

inline void Commit(ThreadState& t, uint64_t n) {
  t.head += n;
  // release: publishes records [old head, head); pairs with the acquire in LaneDrainer::Poll.
  t.lane->head.store(t.head, std::memory_order_release);
}

[[gnu::noinline]] void CountDrop(ThreadState& t, uint64_t n, bool has_span_start) {
  bool too_big = n > t.capacity || n > abi::kMaxGroupRecords;
  Bump(too_big ? t.counters->records_dropped_too_big : t.counters->records_dropped_full, n);
  Bump(t.counters->groups_dropped);
  if (has_span_start)
    Bump(too_big ? t.counters->span_starts_dropped_too_big : t.counters->span_starts_dropped_full);
}

// A group of a recording span was dropped: count it on the span too (its end record carries
// the count to the reader). Slow path only; saturates instead of wrapping.
[[gnu::noinline]] void CountSpanDrop(ThreadState& t, uint64_t n, uint16_t* span_groups_dropped) {
  CountDrop(t, n, false);
  if (*span_groups_dropped != UINT16_MAX) ++*span_groups_dropped;
}

// ---- strings in records ----------------------------------------------------------------------

// A string value as written: up to three pieces (head, elision marker, tail) after clipping.
struct StringPieces {
  const char* p[3];
  uint32_t n[3];
  uint32_t total;
  char marker[48];
};

// Start of the UTF-8 code point containing byte i (i < s.size()).
inline size_t CodePointStart(std::string_view s, size_t i) {
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Clips s to at most `cap` bytes keeping ~70% head and the tail, cut at code-point boundaries,
// with "…[N bytes elided]…" between them. Without clipping it is one piece.
void MakePieces(std::string_view s, uint32_t cap, StringPieces* out) {
  if (s.size() <= cap) {
    *out = {{s.data(), nullptr, nullptr}, {static_cast<uint32_t>(s.size()), 0, 0},
            static_cast<uint32_t>(s.size()), {}};
    return;
  }
  // Marker length depends on the elided count; size it for the worst case first.
  uint32_t marker_max = 40;
  uint32_t budget = cap > marker_max ? cap - marker_max : 0;
  size_t head = CodePointStart(s, budget * 7 / 10);
  // The tail gets what the head left of the budget, rounded forward to a code point (never over).
  size_t tail_start = s.size() - (budget - head);
  while (tail_start < s.size() && (static_cast<uint8_t>(s[tail_start]) & 0xC0) == 0x80) ++tail_start;
  if (tail_start < head) tail_start = head;
  size_t elided = tail_start - head;
  int m = snprintf(out->marker, sizeof(out->marker), "\xE2\x80\xA6[%zu bytes elided]\xE2\x80\xA6",
                   elided);
  out->p[0] = s.data();
  out->n[0] = static_cast<uint32_t>(head);
  out->p[1] = out->marker;
  out->n[1] = static_cast<uint32_t>(m);
  out->p[2] = s.data() + tail_start;
  out->n[2] = static_cast<uint32_t>(s.size() - tail_start);
  out->total = out->n[0] + out->n[1] + out->n[2];
}

// Writes the pieces into the inline bytes of the record at `first` and the Cont records after
// it; `remaining` is the group_remaining of the first Cont record.
void WriteStringBody(ThreadState& t, uint64_t first, uint8_t* inline_bytes,
                     const StringPieces& sp, uint16_t remaining) {
  uint32_t cont = abi::ContRecordsFor(sp.total);
  uint32_t rest = sp.total > abi::kInlineStringBytes ? sp.total - abi::kInlineStringBytes : 0;
  for (uint32_t c = 0; c < cont; ++c) {
    RawRecord* r = Slot(t, first + 1 + c);
    uint32_t len = rest < abi::kContPayloadBytes ? rest : abi::kContPayloadBytes;
    rest -= len;
    abi::RecordHead head{static_cast<uint8_t>(abi::RecordType::Cont), 0,
                         static_cast<uint16_t>(remaining - c), len};
    memcpy(r->bytes, &head, sizeof(head));
  }
  // Copy the pieces into the logical byte stream: [0, 32) inline, then 56 bytes per Cont.
  uint32_t off = 0;
  for (int k = 0; k < 3; ++k) {
    const char* src = sp.p[k];
    uint32_t n = sp.n[k];
    while (n > 0) {
      uint8_t* dst;
      uint32_t room;
      if (off < abi::kInlineStringBytes) {
        dst = inline_bytes + off;
        room = abi::kInlineStringBytes - off;
      } else {
        uint32_t o = off - abi::kInlineStringBytes;
        uint32_t c = o / abi::kContPayloadBytes;
        uint32_t within = o % abi::kContPayloadBytes;
        dst = Slot(t, first + 1 + c)->bytes + 8 + within;
        room = abi::kContPayloadBytes - within;
      }
      uint32_t take = n < room ? n : room;
      memcpy(dst, src, take);
      src += take;
      n -= take;
      off += take;
    }
  }
}

// Records an attribute takes. A string over the cap is sized by MakePieces itself, the same
// function that writes it, so what is reserved is exactly what is written.
inline uint32_t AttrRecords(const Attr& a, uint32_t cap) {
  if (a.type() != Attr::kString) return 1;
  size_t n = a.string_value().size();
  if (n <= cap) return 1 + abi::ContRecordsFor(static_cast<uint32_t>(n));
  StringPieces sp;
  MakePieces(a.string_value(), cap, &sp);
  return 1 + abi::ContRecordsFor(sp.total);
}

// Fills the fields of an Attr record in place. The generated mutators are plain stores, and
// unlike the generated constructor they do not zero the 32 inline bytes first (only str_len of
// them are meaningful to the reader).
inline abi::AttrRecord* PutAttrHead(RawRecord* r, uint8_t flags, uint16_t remaining, uint32_t key,
                                    uint64_t span_id, uint64_t num, abi::ValueType vt,
                                    uint32_t str_len) {
  auto* rec = reinterpret_cast<abi::AttrRecord*>(r->bytes);
  rec->mutate_type(static_cast<uint8_t>(abi::RecordType::Attr));
  rec->mutate_flags(flags);
  rec->mutate_group_remaining(remaining);
  rec->mutate_key_id(key);
  rec->mutate_span_id(span_id);
  rec->mutate_num(num);
  rec->mutate_value_type(static_cast<uint8_t>(vt));
  rec->mutate_reserved0(0);
  rec->mutate_reserved1(0);
  rec->mutate_str_len(str_len);
  return rec;
}

// A string longer than the inline bytes: clipped if over the cap, continued in Cont records.
[[gnu::noinline]] uint32_t WriteLongStringAttr(ThreadState& t, uint64_t pos, uint64_t span_id,
                                               uint32_t key, std::string_view v, uint8_t flags,
                                               uint16_t remaining, uint32_t cap) {
  StringPieces sp;
  MakePieces(v, cap, &sp);
  if (sp.n[1] != 0) flags |= static_cast<uint8_t>(abi::AttrFlags::Clipped);
  abi::AttrRecord* rec = PutAttrHead(Slot(t, pos), flags, remaining, key, span_id, 0,
                                     abi::ValueType::String, sp.total);
  WriteStringBody(t, pos, rec->mutable_inline_bytes()->Data(), sp,
                  static_cast<uint16_t>(remaining - 1));
  return 1 + abi::ContRecordsFor(sp.total);
}

// Writes one Attr record (and its Cont records) at pos; returns the records used.
inline uint32_t WriteAttr(ThreadState& t, uint64_t pos, uint64_t span_id, const Attr& a,
                          uint8_t flags, uint16_t remaining, uint32_t cap) {
  RawRecord* r = Slot(t, pos);
  const uint32_t key = InternId(t, a.key());
  switch (a.type()) {
    case Attr::kInt64:
      PutAttrHead(r, flags, remaining, key, span_id, static_cast<uint64_t>(a.int_value()),
                  abi::ValueType::Int64, 0);
      return 1;
    case Attr::kDouble: {
      uint64_t bits;
      double d = a.double_value();
      memcpy(&bits, &d, 8);
      PutAttrHead(r, flags, remaining, key, span_id, bits, abi::ValueType::Double, 0);
      return 1;
    }
    case Attr::kBool:
      PutAttrHead(r, flags, remaining, key, span_id, a.bool_value() ? 1 : 0, abi::ValueType::Bool, 0);
      return 1;
    case Attr::kString:
      break;
  }
  const std::string_view v = a.string_value();
  if (v.size() > abi::kInlineStringBytes)
    return WriteLongStringAttr(t, pos, span_id, key, v, flags, remaining, cap);
  abi::AttrRecord* rec = PutAttrHead(r, flags, remaining, key, span_id, 0, abi::ValueType::String,
                                     static_cast<uint32_t>(v.size()));
  // An empty value may have a null data(): memcpy from null is undefined even for 0 bytes.
  if (!v.empty()) memcpy(rec->mutable_inline_bytes()->Data(), v.data(), v.size());
  return 1;
}

uint32_t AttrsRecords(Attrs attrs, uint32_t cap) {
  uint32_t n = 0;
  for (const Attr& a : attrs) n += AttrRecords(a, cap);
  return n;
}

// Writes attrs at pos.. with group_remaining counting down from `remaining`.
void WriteAttrs(ThreadState& t, uint64_t pos, uint64_t span_id, Attrs attrs, uint8_t flags,
                uint32_t remaining, uint32_t cap) {
  for (const Attr& a : attrs) {
    uint32_t used = WriteAttr(t, pos, span_id, a, flags, static_cast<uint16_t>(remaining), cap);
    pos += used;
    remaining -= used;
  }
}

inline uint32_t Cap() { return t_state.max_string_bytes; }

}  // namespace

void SetMaxStringBytesForTesting(uint32_t bytes) noexcept {
  if (bytes < 64 || bytes > WriterConfig::kMaxStringBytesLimit) return;
  EnsureEnv();
  std::lock_guard<std::mutex> lock(P().mu);
  P().config.max_string_bytes = bytes;
  t_state.max_string_bytes = bytes;
}

void ReleaseThreadLaneImpl() {
  ThreadState& t = t_state;
  if (t.lane == nullptr) return;
  Process& p = P();
  std::lock_guard<std::mutex> lock(p.mu);
  abi::LaneCounters* w = t.counters;
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  p.retired.span_starts_committed += ld(w->span_starts_committed);
  p.retired.span_starts_dropped_full += ld(w->span_starts_dropped_full);
  p.retired.span_starts_dropped_too_big += ld(w->span_starts_dropped_too_big);
  p.retired.spans_head_sampled_out += ld(w->spans_head_sampled_out);
  p.retired.records_dropped += ld(w->records_dropped_full) + ld(w->records_dropped_too_big);
  if (p.seg != nullptr) {
    abi::LaneSlot* ls = p.seg->lane_slot(t.lane_index);
    p.retired.records_committed += t.head - p.lane_start[t.lane_index];
    // release: publishes every record below head and the final counters; pairs with the
    // acquire in LaneDrainer::Poll, which then drains the lane and frees it.
    ls->entry.state.store(abi::kLaneReleased, std::memory_order_release);
    for (size_t k = 0; k < p.owned_lanes.size(); ++k) {
      if (p.owned_lanes[k] == t.lane_index) {
        p.owned_lanes[k] = p.owned_lanes.back();
        p.owned_lanes.pop_back();
        break;
      }
    }
  }
  t.lane = nullptr;
  t.ring = nullptr;
  t.tail = nullptr;
  t.limit = t.head = 0;
}

// ---- fork ------------------------------------------------------------------------------------

namespace {
void AtforkPrepare() { P().mu.lock(); }
void AtforkParent() { P().mu.unlock(); }
void AtforkChild() {
  Process& p = P();
  // The child shares the parent's open file description (and so its process-slot lock) and
  // would write into the parent's lanes and string block: give all of that up and attach anew
  // at the next span, under a process slot of its own.
  if (p.seg != nullptr) {
    p.seg->AbandonAfterFork();  // leaked: its destructor must not run in the child
    p.seg = nullptr;
  }
  p.ps = nullptr;
  p.strings = nullptr;
  p.interned.clear();
  p.owned_lanes.clear();
  p.lane_start.clear();
  p.retired = WriterStats{};
  p.next_attach_ns = 0;
  p.attach_generation += 1;
  p.dropped_no_segment.store(0);
  p.dropped_no_lane.store(0);
  p.sampled_out_no_lane.store(0);
  p.strings_dropped.store(0);
  ThreadState& t = t_state;  // the only thread in the child
  t.lane = nullptr;
  t.ring = nullptr;
  t.tail = nullptr;
  t.head = t.limit = 0;
  t.next_lane_retry_ns = 0;
  t.rng = 0;  // reseed: the child must not repeat the parent's ids
  t_releaser.armed = false;
  g_fork_epoch.fetch_add(1, std::memory_order_relaxed);
  p.mu.unlock();
}
struct ForkHandlerRegistration {
  ForkHandlerRegistration() { pthread_atfork(AtforkPrepare, AtforkParent, AtforkChild); }
};
ForkHandlerRegistration g_fork_registration;
}  // namespace

}  // namespace internal

// ---- public API ------------------------------------------------------------------------------

using internal::ThreadState;

const char* KindName(Kind kind) noexcept {
  static constexpr const char* kNames[kKindCount] = {
      "custom", "run", "turn", "llm", "tool", "retrieval", "embedding", "vector_search",
      "subagent", "handoff", "guardrail", "plan", "task"};
  auto i = static_cast<unsigned>(kind);
  return i < static_cast<unsigned>(kKindCount) ? kNames[i] : "custom";
}

void SetEnabled(bool enabled) noexcept {
  internal::EnsureEnv();
  internal::g_enabled.store(enabled, std::memory_order_relaxed);
}
bool IsEnabled() noexcept { return internal::g_enabled.load(std::memory_order_relaxed); }

bool SetSampler(std::string_view name, double ratio) noexcept {
  internal::EnsureEnv();
  internal::Sampler sm;
  if (!internal::ParseSampler(name, ratio, &sm)) return false;
  internal::P().sampler.store(sm.Pack(), std::memory_order_relaxed);
  return true;
}

void ClearInheritedParent() noexcept {
  internal::EnsureEnv();
  internal::P().inherited_parent.store(nullptr, std::memory_order_release);
}

void SetInheritedParent(const SpanContext& ctx) noexcept {
  internal::EnsureEnv();
  SpanContext* c = new (std::nothrow) SpanContext(ctx);
  if (c == nullptr) return;
  c->remote = true;
  internal::P().inherited_parent.store(c, std::memory_order_release);
}

SpanContext CurrentContext() noexcept { return internal::t_state.current; }

void SetSegmentName(std::string_view name) noexcept {
  std::lock_guard<std::mutex> lock(internal::P().mu);
  try {
    internal::P().segment_name = std::string(name);
  } catch (...) {
  }
}

void ReleaseThreadLane() noexcept { internal::ReleaseThreadLaneImpl(); }

WriterStats GetWriterStats() noexcept {
  internal::Process& p = internal::P();
  std::lock_guard<std::mutex> lock(p.mu);
  WriterStats s = p.retired;
  if (p.seg != nullptr) {
    for (uint32_t i : p.owned_lanes) {
      abi::LaneSlot* ls = p.seg->lane_slot(i);
      auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
      s.span_starts_committed += ld(ls->counters.span_starts_committed);
      s.span_starts_dropped_full += ld(ls->counters.span_starts_dropped_full);
      s.span_starts_dropped_too_big += ld(ls->counters.span_starts_dropped_too_big);
      s.spans_head_sampled_out += ld(ls->counters.spans_head_sampled_out);
      s.records_dropped += ld(ls->counters.records_dropped_full) + ld(ls->counters.records_dropped_too_big);
      s.records_committed += ld(ls->writer.head) - p.lane_start[i];
    }
  }
  s.span_starts_dropped_no_lane = p.dropped_no_lane.load(std::memory_order_relaxed);
  s.span_starts_dropped_no_segment = p.dropped_no_segment.load(std::memory_order_relaxed);
  s.spans_head_sampled_out += p.sampled_out_no_lane.load(std::memory_order_relaxed);
  s.strings_dropped = p.strings_dropped.load(std::memory_order_relaxed);
  s.spans_started = s.span_starts_committed + s.span_starts_dropped_full +
                    s.span_starts_dropped_too_big + s.span_starts_dropped_no_lane +
                    s.span_starts_dropped_no_segment + s.spans_head_sampled_out;
  return s;
}

#ifndef AGENTRING_DISABLE

namespace {

inline void CountSampledOut(ThreadState& t) {
  if (t.lane != nullptr) {
    internal::Bump(t.counters->spans_head_sampled_out);
  } else {
    internal::Process& p = internal::P();
    p.sampled_out_no_lane.fetch_add(1, std::memory_order_relaxed);
    if (p.ps != nullptr) p.ps->spans_head_sampled_out_no_lane.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

Span::Span(Span&& o) noexcept
    : ctx_(o.ctx_), prev_(o.prev_), owner_(o.owner_), state_(o.state_), status_(o.status_),
      groups_dropped_(o.groups_dropped_), fork_epoch_(o.fork_epoch_) {
  o.state_ = kEnded;
  o.owner_ = nullptr;
}

using namespace internal;  // this file is the writer: its helpers are used unqualified below

// The slow and rare paths of a span start, kept out of line so that the common case (a child of
// a local, sampled parent, on a thread that owns a lane) stays a short straight line of code.
struct Span::Impl {
  // A root or a child of a remote parent: runs the sampler. Returns false if the span is not
  // sampled (it is then fully set up as a non-recording span).
  [[gnu::noinline]] static bool BeginRoot(Span& s, ThreadState& t, const SpanContext& par,
                                          Mode mode, uint8_t* flags, uint64_t* parent_id) {
    using namespace internal;
    EnsureEnv();
    const Process& p = P();
    // acquire: pairs with the release in ReadEnvLocked / SetInheritedParent.
    const SpanContext* inherited = p.inherited_parent.load(std::memory_order_acquire);
    static constexpr SpanContext kNoParent{};
    const SpanContext& remote = par.valid() ? par : inherited ? *inherited : kNoParent;
    const Sampler sampler = Sampler::Unpack(p.sampler.load(std::memory_order_relaxed));
    bool sampled;
    if (remote.valid()) {
      s.ctx_.trace_id_hi = remote.trace_id_hi;
      s.ctx_.trace_id_lo = remote.trace_id_lo;
      sampled = sampler.parent_based ? remote.sampled() : sampler.Decide(remote.trace_id_lo);
      *flags |= static_cast<uint8_t>(abi::SpanFlags::ParentRemote);
      *parent_id = remote.span_id;
    } else {
      s.ctx_.trace_id_hi = NonZeroRandom(t);
      s.ctx_.trace_id_lo = NonZeroRandom(t);
      sampled = sampler.Decide(s.ctx_.trace_id_lo);
      *parent_id = 0;
    }
    s.ctx_.trace_flags = sampled ? 1 : 0;
    if (sampled) return true;
    CountSampledOut(t);
    s.ctx_.span_id = NonZeroRandom(t);
    s.ctx_.remote = false;
    s.state_ = kNotRecording;
    if (mode == kScoped) {
      CopyContext(&s.prev_, t.current);
      CopyContext(&t.current, s.ctx_);
      s.owner_ = &t;
    }
    return false;
  }

  // No lane could be had: count why; the span stays a valid, sampled parent for its children.
  [[gnu::noinline]] static void NoLane(Span& s, LaneFailure why) {
    using namespace internal;
    Process& p = P();
    auto& c = why == LaneFailure::kNoSegment ? p.dropped_no_segment : p.dropped_no_lane;
    c.fetch_add(1, std::memory_order_relaxed);
    if (p.ps != nullptr) {
      auto& pc = why == LaneFailure::kNoSegment ? p.ps->span_starts_dropped_no_segment
                                                : p.ps->span_starts_dropped_no_lane;
      pc.fetch_add(1, std::memory_order_relaxed);
    }
    s.state_ = kNotRecording;
  }

  [[gnu::noinline]] static void Drop(Span& s, ThreadState& t, uint64_t n) {
    CountDrop(t, n, true);
    s.state_ = kNotRecording;
  }

  [[gnu::noinline]] static void SuffixValue(ThreadState& t, const Suffix& suffix, uint64_t* value,
                                            uint8_t* len) {
    switch (suffix.type()) {
      case Suffix::kNone: break;
      case Suffix::kInt: *value = static_cast<uint64_t>(suffix.int_value()); break;
      case Suffix::kInterned: *value = InternId(t, suffix.name()); break;
      case Suffix::kInline:
        *len = static_cast<uint8_t>(suffix.name().size() < 8 ? suffix.name().size() : 8);
        memcpy(value, suffix.name().data(), *len);
        break;
    }
  }

  // The start record and its attribute records as one group.
  [[gnu::noinline]] static void WriteWithAttrs(Span& s, ThreadState& t, const Name& name,
                                               Kind kind, const Suffix& suffix, Attrs attrs,
                                               uint8_t flags, uint64_t parent_id) {
    const uint32_t cap = t.max_string_bytes;
    const uint32_t attr_records = AttrsRecords(attrs, cap);
    const uint64_t n = 1 + attr_records;
    const uint64_t ts = ReadTicks(t);
    if (!Reserve(t, n) || n > abi::kMaxGroupRecords) {
      Drop(s, t, n);
      return;
    }
    uint64_t suffix_value = 0;
    uint8_t suffix_len = 0;
    if (suffix.type() != Suffix::kNone) SuffixValue(t, suffix, &suffix_value, &suffix_len);
    const uint64_t pos = t.head;
    new (Slot(t, pos)) abi::SpanStartRecord(
        static_cast<uint8_t>(abi::RecordType::SpanStart), flags, static_cast<uint16_t>(n - 1),
        InternId(t, name), ts, s.ctx_.trace_id_hi, s.ctx_.trace_id_lo, s.ctx_.span_id,
        parent_id, suffix_value, static_cast<uint8_t>(kind),
        static_cast<uint8_t>(suffix.type()), suffix_len, 0, 0);
    WriteAttrs(t, pos + 1, s.ctx_.span_id, attrs, 0, attr_records - 1, cap);
    Commit(t, n);
    Bump(t.counters->span_starts_committed);
  }
};

void Span::Start(const Name& name, Kind kind, const SpanContext* parent, const Suffix& suffix,
                 Attrs attrs, Mode mode) noexcept {
  using namespace internal;
  ThreadState& t = t_state;
  const SpanContext& par = parent != nullptr ? *parent : t.current;
  uint8_t flags = static_cast<uint8_t>(abi::SpanFlags::Sampled);
  uint64_t parent_id;
  if (__builtin_expect(par.span_id != 0 && !par.remote, 1) &&
      (par.trace_id_hi | par.trace_id_lo) != 0) {
    if (__builtin_expect(!par.sampled(), 0)) {
      // Unsampled child of a local parent: record nothing, keep the parent as context.
      CountSampledOut(t);
      CopyContext(&ctx_, par);
      state_ = kNotRecording;
      return;
    }
    ctx_.trace_id_hi = par.trace_id_hi;
    ctx_.trace_id_lo = par.trace_id_lo;
    ctx_.trace_flags = par.trace_flags;
    parent_id = par.span_id;  // read before this span becomes current: `par` may alias it
  } else if (!Impl::BeginRoot(*this, t, par, mode, &flags, &parent_id)) {
    return;
  }
  ctx_.span_id = NonZeroRandom(t);
  ctx_.remote = false;
  if (mode == kScoped) {
    CopyContext(&prev_, t.current);
    CopyContext(&t.current, ctx_);
    owner_ = &t;
  }
  state_ = kRecording;
  fork_epoch_ = g_fork_epoch.load(std::memory_order_relaxed);
  LaneFailure why;
  if (__builtin_expect(!EnsureLane(t, &why), 0)) {
    Impl::NoLane(*this, why);
    return;
  }
  if (attrs.size() != 0) {
    Impl::WriteWithAttrs(*this, t, name, kind, suffix, attrs, flags, parent_id);
    return;
  }
  const uint32_t name_id = InternId(t, name);
  uint64_t suffix_value = 0;
  uint8_t suffix_len = 0;
  if (suffix.type() == Suffix::kInt) {
    suffix_value = static_cast<uint64_t>(suffix.int_value());
  } else if (suffix.type() != Suffix::kNone) {
    Impl::SuffixValue(t, suffix, &suffix_value, &suffix_len);
  }
  const uint64_t ts = ReadTicks(t);
  if (__builtin_expect(!Reserve(t, 1), 0)) {
    Impl::Drop(*this, t, 1);
    return;
  }
  new (Slot(t, t.head)) abi::SpanStartRecord(
      static_cast<uint8_t>(abi::RecordType::SpanStart), flags, 0, name_id, ts, ctx_.trace_id_hi,
      ctx_.trace_id_lo, ctx_.span_id, parent_id, suffix_value, static_cast<uint8_t>(kind),
      static_cast<uint8_t>(suffix.type()), suffix_len, 0, 0);
  Commit(t, 1);
  Bump(t.counters->span_starts_committed);
}

void Span::SetAttr(const Attr& a) noexcept { Set({a}); }

void Span::Set(Attrs attrs) noexcept {
  using namespace internal;
  if (state_ != kRecording || attrs.size() == 0 || !OwnedByThisProcess()) return;
  ThreadState& t = t_state;
  LaneFailure why;
  if (!EnsureLane(t, &why)) return;
  uint32_t cap = Cap();
  uint64_t n = AttrsRecords(attrs, cap);
  if (!Reserve(t, n) || n > abi::kMaxGroupRecords) {
    CountSpanDrop(t, n, &groups_dropped_);
    return;
  }
  WriteAttrs(t, t.head, ctx_.span_id, attrs, 0, static_cast<uint32_t>(n - 1), cap);
  Commit(t, n);
}

void Span::AddEvent(Name name, Attrs attrs) noexcept {
  using namespace internal;
  if (state_ != kRecording || !OwnedByThisProcess()) return;
  ThreadState& t = t_state;
  LaneFailure why;
  if (!EnsureLane(t, &why)) return;
  uint32_t cap = Cap();
  uint64_t attr_records = attrs.size() == 0 ? 0 : AttrsRecords(attrs, cap);
  uint64_t n = 1 + attr_records;
  if (!Reserve(t, n) || n > abi::kMaxGroupRecords) {
    CountSpanDrop(t, n, &groups_dropped_);
    return;
  }
  uint64_t ts = ReadTicks(t);
  uint64_t pos = t.head;
  auto* r = new (Slot(t, pos)) abi::EventRecord();
  r->mutate_type(static_cast<uint8_t>(abi::RecordType::Event));
  r->mutate_group_remaining(static_cast<uint16_t>(n - 1));
  r->mutate_name_id(InternId(t, name));
  r->mutate_span_id(ctx_.span_id);
  r->mutate_ts(ts);
  if (attr_records != 0)
    WriteAttrs(t, pos + 1, ctx_.span_id, attrs, static_cast<uint8_t>(abi::AttrFlags::OfEvent),
               static_cast<uint32_t>(attr_records - 1), cap);
  Commit(t, n);
}

void Span::AddLink(const SpanContext& linked) noexcept {
  using namespace internal;
  if (state_ != kRecording || !linked.valid() || !OwnedByThisProcess()) return;
  ThreadState& t = t_state;
  LaneFailure why;
  if (!EnsureLane(t, &why)) return;
  if (!Reserve(t, 1)) {
    CountSpanDrop(t, 1, &groups_dropped_);
    return;
  }
  auto* r = new (Slot(t, t.head)) abi::LinkRecord();
  r->mutate_type(static_cast<uint8_t>(abi::RecordType::Link));
  r->mutate_span_id(ctx_.span_id);
  r->mutate_linked_trace_id_hi(linked.trace_id_hi);
  r->mutate_linked_trace_id_lo(linked.trace_id_lo);
  r->mutate_linked_span_id(linked.span_id);
  Commit(t, 1);
}

void Span::SetStatus(StatusCode code, std::string_view message) noexcept {
  using namespace internal;
  if (state_ == kEnded) return;
  status_ = code;
  if (state_ != kRecording || message.empty() || !OwnedByThisProcess()) return;
  ThreadState& t = t_state;
  LaneFailure why;
  if (!EnsureLane(t, &why)) return;
  uint32_t cap = Cap();
  StringPieces sp;
  MakePieces(message, cap, &sp);
  uint64_t n = 1 + abi::ContRecordsFor(sp.total);
  if (!Reserve(t, n) || n > abi::kMaxGroupRecords) {
    CountSpanDrop(t, n, &groups_dropped_);
    return;
  }
  uint64_t pos = t.head;
  auto* r = new (Slot(t, pos)) abi::StatusRecord();
  r->mutate_type(static_cast<uint8_t>(abi::RecordType::Status));
  r->mutate_group_remaining(static_cast<uint16_t>(n - 1));
  r->mutate_span_id(ctx_.span_id);
  r->mutate_code(static_cast<uint8_t>(code));
  r->mutate_str_len(sp.total);
  WriteStringBody(t, pos, r->mutable_inline_bytes()->Data(), sp, static_cast<uint16_t>(n - 2));
  Commit(t, n);
}

void Span::End() noexcept {
  using namespace internal;
  if (state_ == kEnded) return;
  ThreadState& t = t_state;
  if (state_ == kRecording && OwnedByThisProcess()) {
    LaneFailure why;
    if (EnsureLane(t, &why)) {
      uint64_t ts = ReadTicks(t);
      if (__builtin_expect(Reserve(t, 1), 1)) {
        new (Slot(t, t.head)) abi::SpanEndRecord(
            static_cast<uint8_t>(abi::RecordType::SpanEnd), 0, 0, groups_dropped_, ts,
            ctx_.trace_id_hi, ctx_.trace_id_lo, ctx_.span_id, static_cast<uint8_t>(status_), 0,
            0);
        Commit(t, 1);
      } else {
        CountDrop(t, 1, false);
      }
    }
  }
  if (owner_ == &t && t.current.span_id == ctx_.span_id) CopyContext(&t.current, prev_);
  owner_ = nullptr;
  state_ = kEnded;
}

#endif  // AGENTRING_DISABLE

}  // namespace agentring
