// The assemble stage: turns decoded groups into spans, groups spans into traces across threads
// and processes, decides when a trace is complete, and hands complete traces (and late parts of
// traces already handed on) to the next stage.
//
// Completion: a trace is complete when its root has ended and a full drain pass that began
// after the root's end was read found no open span in it. If spans are still open then, the
// trace waits up to `decision_wait_ns` after the root's end, then goes out with what has ended;
// its open spans follow as a late part when they end (or are closed as incomplete). A trace
// whose root never ends goes out after `max_open_ns`. Spans arriving for a trace already sent
// go out as late parts with the same trace id. A trace none of whose roots arrived (the root's
// start was dropped) goes out once nothing in it is open and nothing arrived for it for
// `decision_wait_ns`.
//
// Missing parents. No exported span points at a parent that is not in its trace: when a span's
// parent start never reached this reader (the writer dropped it: lane full, too big, no lane),
// the part that carries the span also carries a synthesized placeholder with the parent's span
// id: name "(missing span)", `agentring.placeholder=true`, status error, from the earliest start
// to the latest end of the children it goes out with, the process of its first child, and as
// parent the trace's root (its first span with no parent). The true parent of the missing span
// is unknown; "under the root" is all the reader can say. When no such root is here (the root's
// start was dropped too, or the trace came in through TRACEPARENT) the placeholder has no parent:
// parenting it to a span that may itself descend from it could close a cycle. A parent counts as
// never committed, not "not arrived yet", once a full pass that began after the child was read
// has found nothing and `parent_wait_ns` has passed since (a parent starts before its child, so
// it is in a lane by then; the wait covers a lane held for a string entry). Until then the child
// is kept back like an open span. No placeholder is made for
//   - a parent that went out in an earlier part of the trace (the span ids of parts already
//     sent are kept, also for `late_retention_ns` after the trace went out in full);
//   - a remote parent (TRACEPARENT) of a trace that has no root of its own here: the trace began
//     outside the ring and the parent is outside too. In a trace whose root is here, a remote
//     parent was another agentring process on this ring, so a missing one is synthesized;
//   - a parent the reader cannot judge: the ids of a sent trace were forgotten (over
//     `max_recent_span_ids`), the parent id belongs to another trace, or the child started
//     before this reader resumed a segment an earlier reader had drained (that reader may have
//     exported the parent). The trace is then marked `agentring.possible_loss`.
//
// Loss markers, on the root of the part (else on the earliest span of the part whose parent is
// not in the part), each counting only what was learnt since the trace's previous part, so their
// sum over a trace's spans is the trace's total:
//   agentring.dropped_records (int): record groups (a span start with its attributes, an end, an
//     attribute set, an event, a status, a link) this trace is known to have lost: one per
//     synthesized placeholder (its start), one per span closed incomplete (its end), one per
//     orphaned span end of this trace given up on, plus the groups each span's writer reports
//     dropped for it in its end record (SpanEndRecord.groups_dropped). A lower bound.
//   agentring.possible_loss (true): more may be missing than dropped_records says: a lane
//     dropped groups (LaneCounters::groups_dropped advanced, as seen once per pass) while a span
//     of this trace that started on that lane was open, or a missing parent could not be judged
//     (above). Traces with neither marker lost nothing the reader can see.
//
// Accounting: every span start received is, exactly once, emitted (spans_emitted), counted as a
// duplicate id (duplicate_span_ids), counted as arriving after its placeholder went out
// (starts_after_placeholder: exporting it would repeat a span id), or still held (open_spans).
// Placeholders are counted in spans_synthesized, never in spans_emitted, but they are spans of
// the batches handed on (TraceBatch::placeholders says how many).
//
// Thread safety: none; the pipeline thread makes every call.
#ifndef AGENTRING_READER_ASSEMBLE_ASSEMBLER_H_
#define AGENTRING_READER_ASSEMBLE_ASSEMBLER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "reader/assemble/u64_map.h"
#include "reader/drain/segment_reader.h"
#include "reader/model/span.h"

namespace agentring::reader {

struct AssemblerOptions {
  uint64_t decision_wait_ns = 5'000'000'000ull;  // after the root's end, for open spans
  uint64_t max_open_ns = 600'000'000'000ull;     // a trace whose root never ends
  uint64_t late_retention_ns = 60'000'000'000ull;  // remember sent traces for late spans
  uint64_t orphan_wait_ns = 2'000'000'000ull;    // records whose span start has not arrived
  uint64_t parent_wait_ns = 2'000'000'000ull;    // a missing parent, before a placeholder
  // Span ids of sent traces kept for late parts (8 bytes each); past this the oldest traces'
  // ids are forgotten (their late spans' missing parents are then not judged).
  uint64_t max_recent_span_ids = 1u << 22;
  // Unix time this reader started on a segment an earlier reader had drained
  // (SegmentReader::resumed()); 0 for a fresh segment.
  uint64_t resumed_after_unix_ns = 0;
};

struct AssemblerStats {
  uint64_t spans_started = 0;     // span starts received (duplicates included)
  uint64_t spans_emitted = 0;     // received spans handed to the next stage (no placeholders)
  uint64_t spans_synthesized = 0;  // placeholders for parents never committed
  uint64_t starts_after_placeholder = 0;  // a parent's start arriving after its placeholder
  uint64_t parents_unjudged = 0;  // spans sent with a missing parent the reader could not judge
  uint64_t parts_dropped_records = 0;  // trace parts that carried agentring.dropped_records
  uint64_t parts_possible_loss = 0;    // trace parts that carried agentring.possible_loss
  uint64_t traces_emitted = 0;    // traces handed on for the first time
  uint64_t late_batches = 0;
  uint64_t spans_incomplete = 0;  // closed by the reader
  uint64_t records_orphaned = 0;  // groups whose span never started here (given up)
  uint64_t records_late_dropped = 0;  // attributes/events for a span already sent and ended
  uint64_t duplicate_span_ids = 0;
  uint64_t open_traces = 0;
  uint64_t open_spans = 0;
};

class TraceAssembler : public GroupSink {
 public:
  using EmitFn = std::function<void(TraceBatch&&)>;
  TraceAssembler(const AssemblerOptions& opts, EmitFn emit);
  ~TraceAssembler() override;

  void OnGroup(const DecodedGroup& g, const GroupContext& ctx) override;
  void OnProcessExit(const ProcessState& p, uint64_t last_unix_ns) override;
  void OnLanePolled(uint32_t lane, uint64_t groups_dropped) override;

  // After each full drain pass: retries orphans, decides traces, emits.
  void EndPass(uint64_t pass, uint64_t now_mono_ns);
  // Shutdown: closes every open span as incomplete (`reason`) and emits every trace.
  void FlushAll(const char* reason, uint64_t now_unix_ns);

  const AssemblerStats& stats() const { return stats_; }

  // Crash-safe state (pipeline/state_file.h; assembler_state.cc): every span not yet emitted,
  // every held group, and the recently sent trace ids, so that a restarted reader continues
  // where this one stopped.
  void SaveState(std::string* out) const;
  // Restores a saved state into this fresh assembler. `live` maps a writer process (slot,
  // generation) to the drain stage's ProcessInfo when that process still owns its slot, else
  // nullptr: spans of processes that are gone are closed as incomplete (writer_exited).
  using ProcessResolver =
      std::function<std::shared_ptr<const ProcessInfo>(uint32_t slot, uint32_t generation)>;
  bool LoadState(std::string_view in, StringPool* pool, const TickClock* clock,
                 const ProcessResolver& live, std::string* error);

 private:
  struct Trace;
  struct Recent;
  struct SpanRef {
    Trace* trace;
    SpanData* span;
    uint64_t arrival_pass;     // the pass its start was read in
    uint64_t arrival_mono_ns;
    uint64_t lane_dropped_mark;  // its lane's drop total before the pass that read its start
  };
  // Where the parent of a span about to go out is.
  enum class ParentIs { kNone, kHere, kOutside, kWaiting, kMissing, kUnjudged };
  ParentIs FindParent(const Trace& t, const SpanRef& ref, bool final, uint64_t now_mono_ns) const;
  // Resolves the string ids of a group: through the live process table, or through the copy
  // taken when the group was held (the writer's table may be reclaimed meanwhile).
  struct Strings {
    const GroupContext* ctx = nullptr;
    const std::vector<std::pair<uint32_t, std::string_view>>* held = nullptr;
    std::string_view operator()(uint32_t id) const;
  };
  struct Pending {
    DecodedGroup group;
    const TickClock* clock;
    std::vector<std::pair<uint32_t, std::string_view>> strings;  // resolved when held
    uint64_t since_mono_ns;
  };
  void Apply(const DecodedGroup& g, const Strings& str, const TickClock* clock,
             const SpanRef& ref);
  // Applies held groups whose span has started; with `expire`, counts and drops those older
  // than orphan_wait_ns.
  void ApplyPending(bool expire, uint64_t now_mono_ns);
  void GiveUp(const Pending& p);  // counts a held group as orphaned (and its trace's loss)
  bool HasWaitingParent(const Trace& t, uint64_t now_mono_ns) const;
  // Hands on the ended spans of `t` (all of them with `all`, the final flush) with the
  // placeholders and loss markers they need; spans whose parent may still arrive stay back.
  void Emit(Trace* t, bool all, uint64_t now_mono_ns);
  void Remember(Trace* t, uint64_t now_mono_ns);  // a trace sent in full
  void ForgetOldestIds();  // keeps the recent traces' ids under max_recent_span_ids
  void CloseIncomplete(SpanData* s, Trace* t, const char* reason, uint64_t end_unix_ns);
  bool IsLocalRoot(const SpanData& s, const Trace* t) const;

  AssemblerOptions opts_;
  EmitFn emit_;
  std::unordered_map<TraceId, std::unique_ptr<Trace>, TraceIdHash> traces_;
  U64Map<SpanRef> spans_;  // span id -> not yet emitted, or still open
  std::vector<Pending> pending_;                 // groups whose span start has not arrived
  // Traces already sent in full, remembered for late spans until their expiry.
  std::unordered_map<TraceId, Recent, TraceIdHash> recent_;
  std::deque<std::pair<uint64_t, TraceId>> recent_expiry_;  // (expiry, id), oldest first
  size_t recent_forgotten_ = 0;   // entries at the front of recent_expiry_ whose ids are gone
  uint64_t recent_span_ids_ = 0;  // ids held by recent_
  // Per lane: LaneCounters::groups_dropped made monotonic across owner changes.
  struct LaneDrops {
    uint64_t last_raw = 0;
    uint64_t total = 0;
    uint64_t before_pass = 0;  // total as of the previous poll
  };
  std::vector<LaneDrops> lanes_;
  uint64_t pass_ = 0;  // the last pass EndPass was called for; groups arrive during pass_ + 1
  uint64_t pass_mono_ns_ = 0;  // the time EndPass(pass_) was given (arrival times use it)
  AssemblerStats stats_;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ASSEMBLE_ASSEMBLER_H_
