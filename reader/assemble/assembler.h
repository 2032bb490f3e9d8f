// The assemble stage: turns decoded groups into spans, groups spans into traces across threads
// and processes, decides when a trace is complete, and hands complete traces (and late parts of
// traces already handed on) to the next stage.
//
// Completion: a trace is complete when its root has ended and a full drain pass that began
// after the root's end was read found no open span in it. If spans are still open then, the
// trace waits up to `decision_wait_ns` after the root's end, then goes out with what has ended;
// its open spans follow as a late part when they end (or are closed as incomplete). A trace
// whose root never ends goes out after `max_open_ns`. Spans arriving for a trace already sent
// go out as late parts with the same trace id.
#ifndef AGENTRING_READER_ASSEMBLE_ASSEMBLER_H_
#define AGENTRING_READER_ASSEMBLE_ASSEMBLER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "reader/drain/segment_reader.h"
#include "reader/model/span.h"

namespace agentring::reader {

struct AssemblerOptions {
  uint64_t decision_wait_ns = 5'000'000'000ull;  // after the root's end, for open spans
  uint64_t max_open_ns = 600'000'000'000ull;     // a trace whose root never ends
  uint64_t late_retention_ns = 60'000'000'000ull;  // remember sent traces for late spans
  uint64_t orphan_wait_ns = 2'000'000'000ull;    // records whose span start has not arrived
};

struct AssemblerStats {
  uint64_t spans_started = 0;     // span starts received
  uint64_t spans_emitted = 0;     // spans handed to the next stage
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
  void Apply(const DecodedGroup& g, const Strings& str, const TickClock* clock, SpanData* s,
             Trace* t);
  // Applies held groups whose span has started; with `expire`, counts and drops those older
  // than orphan_wait_ns.
  void ApplyPending(bool expire, uint64_t now_mono_ns);
  void Emit(Trace* t, bool all);
  void CloseIncomplete(SpanData* s, Trace* t, const char* reason, uint64_t end_unix_ns);
  bool IsLocalRoot(const SpanData& s, const Trace* t) const;

  AssemblerOptions opts_;
  EmitFn emit_;
  std::unordered_map<TraceId, std::unique_ptr<Trace>, TraceIdHash> traces_;
  struct SpanRef {
    Trace* trace;
    SpanData* span;
  };
  std::unordered_map<uint64_t, SpanRef> spans_;  // span id -> not yet emitted, or still open
  std::vector<Pending> pending_;                 // groups whose span start has not arrived
  // Traces already sent in full, remembered for late spans until their expiry.
  std::unordered_map<TraceId, uint64_t, TraceIdHash> recent_;
  std::deque<std::pair<uint64_t, TraceId>> recent_expiry_;
  uint64_t pass_ = 0;  // the last pass EndPass was called for; groups arrive during pass_ + 1
  AssemblerStats stats_;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ASSEMBLE_ASSEMBLER_H_
