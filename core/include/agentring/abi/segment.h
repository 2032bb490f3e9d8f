// agentring cross-process ABI: the shared-memory segment that writers (agents) and the reader
// (sidecar) map. This header is the whole contract together with the 64-byte records generated
// from schemas/ring_records.fbs (records.h). Nothing here depends on Boost or on the writer's or
// reader's internals; both sides include it.
//
// Segment layout (one POSIX shared-memory object, /dev/shm/agentring.<name>):
//
//   offset 0            +------------------------------------------+
//                       | SegmentHeader (4 KiB)                    |  magic, ABI version, sizes,
//                       |   line 0  identity + geometry            |  clock calibration, reader
//                       |   line 1  clock calibration              |  liveness, segment counters
//                       |   line 2  reader-owned                   |
//                       |   line 3  segment counters (writers)     |
//                       |   lines 4-5 folded totals (reader)       |
//   lane_table_offset   +------------------------------------------+
//                       | LaneSlot[lane_count]     256 B each      |  per lane: ownership line,
//                       |   line 0  LaneEntry  (claim, owner)      |  writer line (head alone),
//                       |   line 1  LaneWriter (head, overwrite)   |  reader line (tail), counters
//                       |   line 2  LaneReader (tail, counts)      |
//                       |   line 3  LaneCounters (writer's drops)  |
//   process_table_off   +------------------------------------------+
//                       | ProcessSlot[process_slot_count] 128 B    |  one per attached process
//   string_area_offset  +------------------------------------------+
//                       | string block [process_slot_count]        |  block p belongs to process
//                       |   entries: u32 len | bytes | pad to 4    |  slot p, append-only
//   lanes_offset        +------------------------------------------+
//                       | lane 0 records [capacity × 64 B]         |  page aligned; ring indexed
//                       | lane 1 records …                         |  by position % capacity
//                       +------------------------------------------+
//
// Positions (LaneWriter::head, LaneReader::tail) are 64-bit monotonic record counters; the
// record at position p lives at index p & (capacity - 1). The writer owns [tail, tail+capacity),
// the reader owns [tail, head). A record group becomes visible all at once when head moves past it.
//
// Full lanes (SegmentHeader::full_policy, fixed when the segment is created):
//   kFullDrop       the writer never writes at or past tail + capacity: a group that does not fit
//                   is dropped and counted (LaneCounters::*_dropped_full).
//   kFullOverwrite  flight recorder: the writer may run past tail + capacity, overwriting the
//                   oldest records. Before it writes any position at or past the last tail it
//                   read + capacity, it publishes LaneWriter::overwrite_reserved = R (every
//                   position it will write until it publishes again is < R) and issues a
//                   release fence; only then does it store records. The reader copies records
//                   out, issues an acquire fence, then loads overwrite_reserved: a copied record
//                   at position p is intact iff p + capacity >= R (its slot is rewritten only by
//                   position p + capacity). This is a seqlock whose sequence number is R
//                   (Boehm, "Can seqlocks get along with programming language memory models?",
//                   2012: the fence pairing). Records below R - capacity are skipped and counted
//                   as overwritten; the reader then resynchronises on a group boundary (a record
//                   after one whose group_remaining is 0, or a record of a type that only ever
//                   starts a group) and counts the records it skipped to get there as
//                   overwritten too. It stores tail only on group boundaries.
//
// State machines (every state word is a std::atomic<uint32_t>; all-zero bytes are FREE/empty):
//
//   ProcessSlot::state                      LaneEntry::state
//     kFree ──writer: OFD-lock byte,          kFree ──writer (its process slot OWNED): CAS──▶ kClaiming
//             CAS──▶ kClaiming                kClaiming ──writer: init header, release──▶ kOwned
//     kClaiming ──writer: init, release──▶    kOwned ──writer thread exits: release──▶ kReleased
//             kOwned                          kOwned/kReleased ──reader: drained and the
//     kOwned ──process dies (lock gone)       owner released or dead──▶ kFree
//             reader: lanes drained──▶ kFree
//
// Liveness: every writer process holds an open-file-description lock (F_OFD_SETLK, write) on
// byte kProcessLockBase + slot of the segment file for as long as it owns the slot; the kernel
// drops it when the process dies, whatever its PID namespace, and a reused pid cannot fake it.
// The reader holds a write lock on kReaderLockByte; every process that maps the segment holds a
// read lock on kMappedLockByte (so a replacement of an incompatible segment can tell whether
// anyone still maps it). These three byte positions are frozen across all ABI versions.
#ifndef AGENTRING_ABI_SEGMENT_H_
#define AGENTRING_ABI_SEGMENT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace agentring::abi {

// ---- Constants -------------------------------------------------------------------------------

inline constexpr uint64_t kMagic = 0x3176474e52414741ull;  // "AGARNGv1" little-endian
inline constexpr uint16_t kAbiMajor = 1;                   // layout-breaking changes
inline constexpr uint16_t kAbiMinor = 1;                   // appended fields / flags only
                                                           // 1.1: overwrite policy, folded totals,
                                                           //      reader lane counters,
                                                           //      SpanEndRecord.groups_dropped
inline constexpr uint32_t kCacheLine = 64;                 // an ABI constant, not the host's
inline constexpr uint32_t kRecordBytes = 64;
inline constexpr uint32_t kHeaderBytes = 4096;
inline constexpr uint32_t kLaneSlotBytes = 256;
inline constexpr uint32_t kProcessSlotBytes = 128;
inline constexpr uint32_t kPageBytes = 4096;

// Lock bytes in the segment file (see above). Frozen across ABI versions.
inline constexpr uint64_t kReaderLockByte = 0;
inline constexpr uint64_t kMappedLockByte = 1;
inline constexpr uint64_t kProcessLockBase = 64;

// Limits that bound what a hostile segment can make the reader do.
inline constexpr uint32_t kMaxLanes = 4096;
inline constexpr uint32_t kMaxLaneRecords = 1u << 24;  // 1 GiB per lane
inline constexpr uint32_t kMaxProcessSlots = 4096;
inline constexpr uint32_t kMaxStringBlockBytes = 16u << 20;
inline constexpr uint32_t kMaxGroupRecords = 1024;     // 64 KiB: one group, e.g. a long string
inline constexpr uint32_t kMaxStringEntryBytes = 4096; // an interned name or key

// SegmentHeader::clock_source
enum ClockSource : uint32_t {
  kClockTsc = 1,        // rdtsc ticks; convert with the calibration below
  kClockMonotonicNs = 2 // CLOCK_MONOTONIC nanoseconds
};

// SegmentHeader::full_policy: what a writer does when its lane has no room for a group.
enum FullPolicy : uint32_t {
  kFullDrop = 0,       // drop the newest group, count it (default)
  kFullOverwrite = 1,  // flight recorder: overwrite the oldest records (ABI 1.1; see above)
};
inline constexpr uint32_t kFullPolicyMax = kFullOverwrite;  // an attacher refuses larger values

// Feature flags (SegmentHeader::feature_flags); a reader ignores bits it does not know.
inline constexpr uint32_t kFeatureNone = 0;
// ABI 1.1: the reader folds freed lanes' and reclaimed processes' counters into
// SegmentHeader::folded (so tools can show totals since creation).
inline constexpr uint32_t kFeatureFoldedTotals = 1u << 0;

// ---- Segment header --------------------------------------------------------------------------

// Counters the reader folds in (see SegmentHeader::folded); the names match LaneCounters,
// LaneReader and ProcessSlot.
struct alignas(kCacheLine) FoldedCounters {
  // line 0: span starts
  std::atomic<uint64_t> span_starts_committed;
  std::atomic<uint64_t> span_starts_dropped_full;
  std::atomic<uint64_t> span_starts_dropped_too_big;
  std::atomic<uint64_t> span_starts_dropped_no_lane;
  std::atomic<uint64_t> span_starts_dropped_no_segment;
  std::atomic<uint64_t> spans_head_sampled_out;
  std::atomic<uint64_t> span_starts_overwritten;  // committed - read, per freed lane
  std::atomic<uint64_t> strings_dropped;
  // line 1: records
  std::atomic<uint64_t> records_dropped_full;
  std::atomic<uint64_t> records_dropped_too_big;
  std::atomic<uint64_t> records_overwritten;
  std::atomic<uint64_t> groups_dropped;
  uint64_t reserved[4];
};

struct alignas(kCacheLine) SegmentHeader {
  // lines 0-1: identity, geometry and clock. Written once by the creating reader before it
  // release-stores `magic`; read-only afterwards. An attacher acquire-loads `magic` before it
  // trusts anything else here, and re-derives every offset from the geometry.
  std::atomic<uint64_t> magic;         // release: publishes the header; pairs with the acquire
                                       // in SegmentMap::Open (both sides)
  uint16_t abi_major;
  uint16_t abi_minor;
  uint32_t header_bytes;               // sizeof(SegmentHeader) == kHeaderBytes
  uint32_t record_bytes;               // kRecordBytes
  uint32_t lane_slot_bytes;            // kLaneSlotBytes
  uint32_t process_slot_bytes;         // kProcessSlotBytes
  uint32_t lane_count;
  uint32_t lane_capacity_records;      // power of two
  uint32_t process_slot_count;
  uint32_t string_block_bytes;         // multiple of kPageBytes
  uint32_t full_policy;                // FullPolicy
  uint64_t lane_table_offset;
  uint64_t process_table_offset;
  uint64_t string_area_offset;
  uint64_t lanes_offset;
  uint64_t total_bytes;                // size of the whole segment file
  uint32_t clock_source;               // ClockSource
  uint32_t feature_flags;
  uint64_t calib_ticks;                // a clock reading …
  uint64_t calib_unix_ns;              // … and the wall-clock time it was taken at
  uint64_t ticks_per_second;           // measured by the creator (1e9 for kClockMonotonicNs)
  uint32_t creator_uid;
  uint32_t reserved1;

  // line 2: reader-owned. Written by the reader that holds kReaderLockByte; read by tools.
  std::atomic<uint32_t> reader_pid;    // relaxed: informational (stats)
  uint32_t reserved3;
  std::atomic<uint64_t> reader_heartbeat_unix_ns;  // relaxed: informational (stats, lag)
  std::atomic<uint64_t> reader_passes;             // relaxed: informational
  uint64_t reserved4[5];

  // line 3: segment-level counters. Writers fetch_add them off the fast path (relaxed: counters).
  std::atomic<uint64_t> processes_refused_no_slot;  // a process found no free process slot
  std::atomic<uint64_t> processes_attached;
  uint64_t reserved5[6];

  // lines 4-5 (ABI 1.1): totals folded in by the reader from lanes it freed and processes it
  // reclaimed (whose own counters it then zeroes). Written only by the reader that holds
  // kReaderLockByte (relaxed load/store pairs: one writer), read relaxed by tools; a tool adds
  // the live lanes' and processes' counters to get totals since the segment was created.
  FoldedCounters folded;

  uint8_t padding[kHeaderBytes - 6 * kCacheLine];
};

// ---- Lane table ------------------------------------------------------------------------------

enum LaneState : uint32_t {
  kLaneFree = 0,
  kLaneClaiming = 1,  // the low byte; bits 8-31 hold the claimer's process slot + 1, so that
                      // the reader can free a lane whose claimer died mid-claim
  kLaneOwned = 2,
  kLaneReleased = 3,
};
constexpr uint32_t LaneClaimingBy(uint32_t process_slot) { return kLaneClaiming | ((process_slot + 1) << 8); }
constexpr bool IsLaneClaiming(uint32_t state) { return (state & 0xff) == kLaneClaiming; }
constexpr uint32_t LaneClaimer(uint32_t state) { return (state >> 8) - 1; }  // ~0u: unknown

// Line 0 of a lane slot: who owns the lane. Written by the claiming writer while the state is
// kLaneClaiming, published by the release-store of kLaneOwned; reset by the reader with kLaneFree.
struct alignas(kCacheLine) LaneEntry {
  std::atomic<uint32_t> state;         // LaneState. release (writer, kOwned/kReleased): publishes
                                       // the owner fields and every record below head; pairs with
                                       // the acquire in SegmentReader::DrainLane.
  uint32_t process_slot;               // owner's ProcessSlot index
  uint32_t process_generation;         // owner's ProcessSlot::generation at claim time
  int32_t owner_tid;                   // informational (stats)
  uint32_t claim_count;                // how many times this lane was claimed (informational)
  uint32_t reserved0;
  uint64_t claimed_unix_ns;            // informational (stats)
  uint64_t reserved1[4];
};

// Line 1: written only by the owning writer thread: its publication point, alone on its line
// (the reader polls it; nothing else the writer stores per span may share that line).
struct alignas(kCacheLine) LaneWriter {
  std::atomic<uint64_t> head;          // release: publishes records [tail, head); pairs with the
                                       // acquire in SegmentReader::DrainLane
  // kFullOverwrite only (ABI 1.1): every position the writer has written or is writing is below
  // this. Written by the owning writer off the fast path (once per capacity/16 records at
  // most), reset to tail at claim. relaxed store followed by a release fence, before the
  // records it covers are stored; pairs with the acquire fence the reader issues after copying
  // records and before loading this (see "Full lanes" above).
  std::atomic<uint64_t> overwrite_reserved;
  uint64_t reserved[6];
};

// Line 3: the owning writer's counters: plain relaxed load/store pairs (single writer), read
// relaxed by the reader when it frees the lane and by stats tools, never polled.
struct alignas(kCacheLine) LaneCounters {
  std::atomic<uint64_t> span_starts_committed;
  std::atomic<uint64_t> span_starts_dropped_full;
  std::atomic<uint64_t> span_starts_dropped_too_big;
  std::atomic<uint64_t> records_dropped_full;
  std::atomic<uint64_t> records_dropped_too_big;
  std::atomic<uint64_t> spans_head_sampled_out;
  std::atomic<uint64_t> groups_dropped;  // every dropped group, any reason
  uint64_t reserved;
};

// Line 2: written only by the reader.
struct alignas(kCacheLine) LaneReader {
  std::atomic<uint64_t> tail;          // release: frees [old tail, tail) for the writer; pairs
                                       // with the acquire in the writer's Reserve
  // ABI 1.1: the reader's own counts for this lane since it was claimed, stored (relaxed) just
  // before the tail they go with and zeroed by the reader when it frees the lane, so that a
  // restarted reader and `agentring stats` see them. span_starts_committed - span_starts_read
  // of a drained lane is the number of span starts lost to overwriting.
  std::atomic<uint64_t> span_starts_read;
  std::atomic<uint64_t> records_overwritten;  // skipped: overwritten, or cut off by a resync
  uint64_t reserved[5];
};

struct alignas(kCacheLine) LaneSlot {
  LaneEntry entry;
  LaneWriter writer;
  LaneReader reader;
  LaneCounters counters;
};

// ---- Process table ---------------------------------------------------------------------------

enum ProcessState : uint32_t {
  kProcessFree = 0,
  kProcessClaiming = 1,
  kProcessOwned = 2,
};

struct alignas(kCacheLine) ProcessSlot {
  // line 0: identity, written by the claiming process while kProcessClaiming.
  std::atomic<uint32_t> state;         // ProcessState. release (writer, kOwned): publishes the
                                       // identity fields; pairs with the reader's acquire.
  uint32_t generation;                 // bumped at every claim; lanes remember it
  int32_t pid;                         // in the writer's PID namespace (informational)
  uint32_t resource_string_id;         // "key=value\n…" resource attributes, 0 = none
  uint64_t start_time_ticks;           // /proc/self/stat starttime: pid-reuse guard (informational)
  std::atomic<uint64_t> strings_used_bytes;  // release (writer, after appending an entry):
                                             // publishes [0, used) of the block; pairs with
                                             // the acquire in StringMirror::Refresh
  uint64_t claimed_unix_ns;
  uint64_t reserved0[3];
  // line 1: process-level counters, fetch_add by any thread of the owner, off the fast path.
  std::atomic<uint64_t> span_starts_dropped_no_lane;
  std::atomic<uint64_t> span_starts_dropped_no_segment;  // before attaching; published on attach
  std::atomic<uint64_t> strings_dropped;                 // the block was full
  std::atomic<uint64_t> spans_head_sampled_out_no_lane;
  uint64_t reserved1[4];
};

// A string entry in a block: u32 length, then the bytes, padded to 4. A string id is the byte
// offset of its entry within the owner's block; offsets below kFirstStringOffset are never used,
// so id 0 means "no string".
inline constexpr uint32_t kFirstStringOffset = 8;

// ---- Layout pins -----------------------------------------------------------------------------

static_assert(std::atomic<uint64_t>::is_always_lock_free && sizeof(std::atomic<uint64_t>) == 8);
static_assert(std::atomic<uint32_t>::is_always_lock_free && sizeof(std::atomic<uint32_t>) == 4);
static_assert(sizeof(SegmentHeader) == kHeaderBytes && alignof(SegmentHeader) == kCacheLine);
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, abi_major) == 8);
static_assert(offsetof(SegmentHeader, abi_minor) == 10);
static_assert(offsetof(SegmentHeader, header_bytes) == 12);
static_assert(offsetof(SegmentHeader, lane_count) == 28);
static_assert(offsetof(SegmentHeader, lane_table_offset) == 48);
static_assert(offsetof(SegmentHeader, total_bytes) == 80);
static_assert(offsetof(SegmentHeader, clock_source) == 88);
static_assert(offsetof(SegmentHeader, ticks_per_second) == 112);
static_assert(offsetof(SegmentHeader, creator_uid) == 128 - 8);
static_assert(offsetof(SegmentHeader, reader_pid) == 2 * kCacheLine);
static_assert(offsetof(SegmentHeader, processes_refused_no_slot) == 3 * kCacheLine);
static_assert(offsetof(SegmentHeader, folded) == 4 * kCacheLine);
static_assert(sizeof(FoldedCounters) == 2 * kCacheLine);
static_assert(offsetof(FoldedCounters, records_dropped_full) == kCacheLine);
static_assert(sizeof(LaneEntry) == kCacheLine && sizeof(LaneWriter) == kCacheLine &&
              sizeof(LaneReader) == kCacheLine && sizeof(LaneCounters) == kCacheLine);
static_assert(sizeof(LaneSlot) == kLaneSlotBytes && alignof(LaneSlot) == kCacheLine);
static_assert(offsetof(LaneSlot, writer) == kCacheLine);   // writer and reader words on
static_assert(offsetof(LaneSlot, reader) == 2 * kCacheLine);  // different cache lines
static_assert(offsetof(LaneEntry, process_slot) == 4 && offsetof(LaneEntry, claimed_unix_ns) == 24);
static_assert(offsetof(LaneSlot, counters) == 3 * kCacheLine);
static_assert(offsetof(LaneWriter, head) == 0 && offsetof(LaneCounters, groups_dropped) == 48);
static_assert(offsetof(LaneWriter, overwrite_reserved) == 8);
static_assert(offsetof(LaneReader, span_starts_read) == 8 &&
              offsetof(LaneReader, records_overwritten) == 16);
static_assert(sizeof(ProcessSlot) == kProcessSlotBytes);
static_assert(offsetof(ProcessSlot, strings_used_bytes) == 24);
static_assert(offsetof(ProcessSlot, span_starts_dropped_no_lane) == kCacheLine);
static_assert(std::is_standard_layout_v<SegmentHeader> && std::is_standard_layout_v<LaneSlot> &&
              std::is_standard_layout_v<FoldedCounters> &&
              std::is_standard_layout_v<ProcessSlot>);

// ---- Geometry --------------------------------------------------------------------------------

// Sizes a segment is created with. Constraints are checked by Validate().
struct Geometry {
  uint32_t lane_count = 64;
  uint32_t lane_capacity_records = 16384;  // 1 MiB of records per lane
  uint32_t process_slot_count = 64;
  uint32_t string_block_bytes = 64 * 1024;

  // Returns nullptr when valid, else a static message naming the violated constraint.
  constexpr const char* Validate() const {
    if (lane_count == 0 || lane_count > kMaxLanes) return "lane count must be 1..4096";
    if (lane_capacity_records < 64 || lane_capacity_records > kMaxLaneRecords ||
        (lane_capacity_records & (lane_capacity_records - 1)) != 0)
      return "lane size must be a power of two between 4 KiB and 1 GiB";
    if (process_slot_count == 0 || process_slot_count > kMaxProcessSlots)
      return "process slots must be 1..4096";
    if (string_block_bytes < kPageBytes || string_block_bytes > kMaxStringBlockBytes ||
        string_block_bytes % kPageBytes != 0)
      return "string block must be a multiple of 4 KiB up to 16 MiB";
    return nullptr;
  }
};

// Offsets of every region for a geometry; used by the creator, and re-derived by every attacher to
// check the header's stored offsets (a header whose offsets disagree is refused).
struct Layout {
  uint64_t lane_table_offset;
  uint64_t process_table_offset;
  uint64_t string_area_offset;
  uint64_t lanes_offset;
  uint64_t lane_bytes;
  uint64_t total_bytes;
};

constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

constexpr Layout ComputeLayout(const Geometry& g) {
  Layout l{};
  l.lane_table_offset = kHeaderBytes;
  l.process_table_offset =
      AlignUp(l.lane_table_offset + uint64_t{g.lane_count} * kLaneSlotBytes, kCacheLine);
  l.string_area_offset = AlignUp(
      l.process_table_offset + uint64_t{g.process_slot_count} * kProcessSlotBytes, kPageBytes);
  l.lanes_offset = AlignUp(
      l.string_area_offset + uint64_t{g.process_slot_count} * g.string_block_bytes, kPageBytes);
  l.lane_bytes = uint64_t{g.lane_capacity_records} * kRecordBytes;
  l.total_bytes = l.lanes_offset + uint64_t{g.lane_count} * l.lane_bytes;
  return l;
}

// The shared-memory object name for a segment name ("demo" -> "/agentring.demo").
inline constexpr const char* kShmPrefix = "/agentring.";

}  // namespace agentring::abi

#endif  // AGENTRING_ABI_SEGMENT_H_
