// The parent/child structure of one TraceBatch, shared by the enrich stage (roll-ups, hotspots)
// and the console tree, and the hotspot rule itself, so that the "<-- HOTSPOT" a human sees and
// the `agentring.hotspot` attribute a backend sees can never disagree.
#ifndef AGENTRING_READER_ENRICH_TRACE_TREE_H_
#define AGENTRING_READER_ENRICH_TRACE_TREE_H_

#include <cstdint>
#include <vector>

#include "reader/model/span.h"

namespace agentring::reader {

struct TraceTree {
  static constexpr uint32_t kNone = UINT32_MAX;
  // The batch's non-null spans in batch order; every index below is into this. The batch owns
  // them (its constness is shallow, as unique_ptr's is).
  std::vector<SpanData*> spans;
  // The parent's index, kNone when the parent is not in the batch, the span is a root, or a
  // parent cycle (malformed ids) was cut above it.
  std::vector<uint32_t> parent;
  std::vector<std::vector<uint32_t>> children;  // by start time, then batch order
  std::vector<uint32_t> roots;    // parent_span_id == 0, by start time
  std::vector<uint32_t> orphans;  // parent_span_id != 0 but parent[i] == kNone, by start time
};

// Links every span to its parent within the batch (the first span wins when an id repeats; a
// span naming itself as parent is an orphan) and cuts parent cycles at one point so that every
// span is reachable from exactly one root or orphan. O(n log n). Thread-safe (no shared state).
TraceTree BuildTraceTree(const TraceBatch& batch);

// Post-order: every span after all of its descendants (for roll-ups). O(n).
std::vector<uint32_t> PostOrder(const TraceTree& tree);

// The hotspots of the tree, indexed like tree.spans (1 = hotspot). A hotspot dominates its parent
// and matters to the whole trace: its parent has >= 2 children, it takes >= 50% of the parent's
// duration and >= 2x every sibling's, and >= 1/5 of the batch's extent (earliest start to latest
// end) — so a 5 ms call next to a 2 ms one in a 2-minute run is not flagged. At most one child
// per parent. Thread-safe (no shared state).
std::vector<uint8_t> FindHotspots(const TraceTree& tree);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ENRICH_TRACE_TREE_H_
