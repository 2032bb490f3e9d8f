// The drain stage: polls every lane of a segment, copies committed records out, decodes and
// validates them, resolves string ids against per-process mirrors of the string tables, and
// hands decoded groups to a GroupSink. It also tracks writer processes (liveness through their
// OFD locks), frees lanes whose owners released them or died, and reclaims dead processes.
#ifndef AGENTRING_READER_DRAIN_SEGMENT_READER_H_
#define AGENTRING_READER_DRAIN_SEGMENT_READER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agentring/internal/segment_map.h"
#include "reader/assemble/string_pool.h"
#include "reader/drain/decoder.h"
#include "reader/drain/tick_clock.h"
#include "reader/model/span.h"

namespace agentring::reader {

// A mirror of one writer process's string table, copied out of shared memory.
class StringMirror {
 public:
  // Copies newly published entries (acquire of strings_used_bytes). Malformed entries stop the
  // mirror at that point (counted by the caller through `corrupt()`).
  void Refresh(const abi::ProcessSlot& slot, const uint8_t* block, uint32_t block_bytes,
               StringPool* pool);
  // The string for `id`, or nullptr when it has not appeared (yet).
  const std::string_view* Find(uint32_t id) const {
    // Entries are 4-byte aligned: slot id/4 of a flat table (O(1), no hashing per key).
    if ((id & 3) != 0 || id / 4 >= ids_.size() || ids_[id / 4].data() == nullptr) return nullptr;
    return &ids_[id / 4];
  }
  void Reset() {
    ids_.clear();
    parsed_ = abi::kFirstStringOffset;
    corrupt_ = false;
    corrupt_reported_ = false;
  }
  bool corrupt() const { return corrupt_; }
  // True the first time corrupt() is seen (so the caller counts each table once).
  bool TakeCorruptReport() {
    if (!corrupt_ || corrupt_reported_) return false;
    corrupt_reported_ = true;
    return true;
  }

 private:
  std::vector<std::string_view> ids_;  // by offset / 4; data() == nullptr: no entry there
  uint32_t parsed_ = abi::kFirstStringOffset;
  bool corrupt_ = false;
  bool corrupt_reported_ = false;
};

// What the reader knows about one process slot.
struct ProcessState {
  bool active = false;      // slot owned by a process we have seen
  bool dead = false;        // its OFD lock is gone
  uint32_t generation = 0;
  std::shared_ptr<ProcessInfo> info;
  StringMirror strings;
  uint64_t last_ticks = 0;  // newest timestamp seen in its records
};

// Context handed with each group.
struct GroupContext {
  uint32_t lane;
  int32_t tid;
  ProcessState* process;
  const TickClock* clock;
  // Resolves a string id of this process (always succeeds for ids the drain stage checked;
  // placeholders "?<id>" for ids that were given up on).
  std::string_view String(uint32_t id) const;
  StringPool* pool;
};

class GroupSink {
 public:
  virtual ~GroupSink() = default;
  virtual void OnGroup(const DecodedGroup& g, const GroupContext& ctx) = 0;
  // A writer process is gone and all its lanes are drained: close what it left open.
  virtual void OnProcessExit(const ProcessState& p, uint64_t last_unix_ns) = 0;
  // Once per pass for each owned lane, before its groups are delivered: the lane's
  // LaneCounters::groups_dropped as read now (a relaxed hint; it restarts at 0 when the lane
  // changes owner). Lets the sink see which lanes dropped groups while its spans were open.
  virtual void OnLanePolled(uint32_t lane, uint64_t groups_dropped) {
    (void)lane;
    (void)groups_dropped;
  }
};

// Counters of the drain stage (reader-side accounting).
struct DrainStats {
  uint64_t records_read = 0;       // records copied out and decoded (accepted or rejected)
  uint64_t records_rejected = 0;
  std::array<uint64_t, static_cast<size_t>(RejectReason::kCount)> rejected_by_reason{};
  uint64_t groups_delivered = 0;
  uint64_t groups_with_unresolved_strings = 0;  // a string id never appeared: "?<id>" used
  uint64_t string_tables_corrupt = 0;   // a process's table held a malformed entry (once each)
  uint64_t string_pool_overflows = 0;   // distinct strings past StringPool::kMaxStrings
  // kFullOverwrite: records this reader skipped because the writer had overwritten them (or
  // they were the rest of a group whose start was overwritten: see segment.h, "Full lanes").
  uint64_t records_overwritten = 0;
  // Span starts lost to overwriting: span_starts_committed - span_starts_read of every lane
  // this reader freed (a drained lane: exact). Live lanes are not included.
  uint64_t span_starts_overwritten = 0;
  uint64_t span_starts_read = 0;       // span starts delivered to the sink
  // Rejected ranges that began with a SpanStart record head (a committed start the reader could
  // not use), by reason; their records are in records_rejected too.
  uint64_t spans_rejected = 0;
  std::array<uint64_t, static_cast<size_t>(RejectReason::kCount)> spans_rejected_by_reason{};
  uint64_t lanes_freed = 0;
  uint64_t processes_reclaimed = 0;
  // Writers' own counters, folded in when a lane is freed or a process reclaimed; Collect()
  // adds the live ones.
  uint64_t writer_span_starts_committed = 0;
  uint64_t writer_records_dropped_full = 0;
  uint64_t writer_records_dropped_too_big = 0;
  uint64_t writer_span_starts_dropped_full = 0;
  uint64_t writer_span_starts_dropped_too_big = 0;
  uint64_t writer_span_starts_dropped_no_lane = 0;
  uint64_t writer_span_starts_dropped_no_segment = 0;
  uint64_t writer_spans_head_sampled_out = 0;
  uint64_t writer_strings_dropped = 0;
  uint64_t writer_groups_dropped = 0;
};

// One lane's read position, with the identity of the claim it belongs to (a lane freed and
// claimed again holds a different writer's records). Saved in the reader's state file.
struct LanePosition {
  uint32_t lane = 0;
  uint32_t process_slot = 0;
  uint32_t process_generation = 0;
  uint32_t claim_count = 0;
  uint64_t position = 0;
};

class SegmentReader {
 public:
  // Takes ownership of the mapping. Thread-compatible: one pipeline thread calls everything.
  explicit SegmentReader(std::unique_ptr<internal::SegmentMap> seg);

  // One full pass: scans the process table, probes liveness (at most every probe_interval),
  // drains every lane up to the head it reads, frees released and dead lanes, reclaims dead
  // processes. Returns the number of records drained.
  uint64_t Pass(GroupSink* sink);
  // Forces the next Pass to probe liveness (shutdown, tests).
  void ForceProbe() { last_probe_ns_ = 0; }

  // True if some lane is owned by a process whose lock is held (as of the last probe).
  bool HasLiveWriters() const { return live_writer_lanes_ > 0; }
  uint64_t passes() const { return passes_; }
  // True when an earlier reader had drained this segment before this one attached (its pass
  // counter was not zero): spans it read may be the parents of spans this reader sees.
  bool resumed() const { return resumed_; }
  // Drain counters with the live lanes' and processes' writer counters added.
  DrainStats Collect() const;
  internal::SegmentMap& segment() { return *seg_; }

  // Deferred commit (the reader's --state-dir): lane tails in shared memory stay where they are
  // while records are read; CommitPositions() stores the read positions (after the caller saved
  // what those records hold) and only then frees drained lanes and lets dead processes be
  // reclaimed. Without it every pass advances tails and frees lanes at once.
  void SetDeferredCommit(bool on) { deferred_ = on; }
  void CommitPositions();
  // Records read but not committed, in the fullest lane, as a fraction of the lane (0..1).
  double UncommittedFill() const;
  // Read positions of every lane with records read by this reader (deferred mode).
  std::vector<LanePosition> Positions() const;
  // A restarted reader: moves each lane whose claim is unchanged to its saved position (which
  // completes a commit the previous reader was killed in the middle of).
  void RestorePositions(const std::vector<LanePosition>& saved);
  // Lanes held by writers (owned or released, not yet freed) and, for each, the records
  // committed but not read yet as a fraction of the lane. For metrics.
  void LaneFill(std::vector<std::pair<uint32_t, double>>* out) const;
  // Scans the process table now (before restoring state that refers to writer processes).
  void ScanProcesses();
  // The ProcessInfo of the writer process in `slot` if it is still that `generation`.
  std::shared_ptr<const ProcessInfo> LiveProcess(uint32_t slot, uint32_t generation) const;
  const TickClock& clock() const { return clock_; }
  StringPool& pool() { return pool_; }
  uint64_t probe_interval_ns = 200'000'000;  // liveness probes: one fcntl per process slot

 private:
  void ScanProcess(uint32_t slot);
  void ProbeLiveness();
  // Drains lane i; returns records consumed.
  uint64_t DrainLane(uint32_t i, GroupSink* sink);
  void FreeLane(uint32_t i);
  void ReclaimDeadProcesses(GroupSink* sink);
  bool ResolveAll(ProcessState& p, const DecodedGroup& g);
  void Count(RejectReason r, uint64_t records);
  // The live process that owns a lane entry (Owned/Released lanes; state acquired by the
  // caller), or nullptr when the entry names no such process (corrupt: the caller frees it).
  ProcessState* LaneOwner(const abi::LaneEntry& e);
  void RefreshStrings(uint32_t slot);  // copies new entries; counts a corrupt table once
  // The lane's read position: this reader's own copy once it has one (a different shared
  // value is counted as kLaneHeader and overwritten), else the shared one.
  uint64_t TrustedTail(uint32_t i);
  void PublishTail(uint32_t i, uint64_t tail);

  std::unique_ptr<internal::SegmentMap> seg_;
  abi::SegmentHeader* h_;
  TickClock clock_;
  StringPool pool_;
  std::vector<ProcessState> procs_;
  std::vector<uint32_t> hold_passes_;   // per lane: passes a group has waited for its strings
  // Per lane: this reader's read position, and whether it has one (from the first pass that
  // sees the lane owned until the lane is freed). The shared copy is only published, never
  // trusted once known: anyone can write it.
  std::vector<uint64_t> tails_;
  std::vector<uint8_t> tail_known_;
  std::vector<uint8_t> head_bad_;  // per lane: an out-of-range head was counted, not yet healed
  // Deferred commit (--state-dir): the shared tail lags tails_ until CommitPositions; lanes
  // drained and ready to be freed wait for the commit too.
  bool deferred_ = false;
  std::vector<uint64_t> published_;     // per lane: the shared tail this reader last stored
  std::vector<uint8_t> free_at_commit_;
  uint64_t ReadPosition(uint32_t i) const;  // tails_[i] once known, else the shared tail
  void StoreSharedTail(uint32_t i, uint64_t tail);
  std::vector<abi::RawRecord> buf_;     // copy-out window
  DecodedGroup group_;
  DrainStats stats_;
  uint64_t passes_ = 0;
  uint64_t last_probe_ns_ = 0;
  uint32_t live_writer_lanes_ = 0;
  bool resumed_ = false;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_DRAIN_SEGMENT_READER_H_
