// The console tree rendering of a trace (the `--exporter tree` exporter and `agentring tree`):
// one line per span under box-drawing glyphs, with duration, the attributes a human debugging
// an agent looks at first (model, tokens, tool, agent), errors, process changes and hotspots.
#ifndef AGENTRING_READER_EXPORT_TREE_EXPORTER_H_
#define AGENTRING_READER_EXPORT_TREE_EXPORTER_H_

#include <cstdint>
#include <string>

#include "reader/model/span.h"

namespace agentring::reader {

// Appends the tree of `batch` to *out, '\n' after every line. As in seed 000, the header is the
// trace's root: "[Trace: ROOT] (Total: ROOT DURATION) trace=HEX spans=N processes=P" plus the
// root's key attributes and error, and the root's children are the first level. Spans whose
// parent is not in the batch (marked "(orphan)" unless the batch is late) and spans on a parent
// cycle (cut at one point) follow as further top-level entries. With no single root (late batches:
// "[Trace: NAME (late spans)]") every parentless span is a top-level entry and Total is the
// batch's extent. Siblings are ordered by start time. A child gets "  <-- HOTSPOT" by
// FindHotspots (reader/enrich/trace_tree.h: >= 50% of its parent, >= 2x each sibling, >= 1/5 of
// the trace). Spans with a gen_ai.cost_usd show "cost=$X" after their tokens; the header and run,
// turn and sub-agent spans show the enrich stage's roll-ups instead of their own usage,
// "tokens=IN/OUT cost=$X" ("cost≥$X" when some usage below them could not be priced).
// A "[pid N service]" tag marks a span whose process differs from its parent's. Names and values
// are made safe for a terminal (control bytes as \xNN, ill-formed UTF-8 as U+FFFD, long values
// cut). Thread-safe (no shared state).
void RenderTraceTree(const TraceBatch& batch, std::string* out);

// "$0", "$0.000015", "$0.0123", "$0.50", "$12.34": three significant digits below $1, cents above.
std::string FormatUsd(double usd);

// "850ns", "12µs", "3.2ms", "450ms", "1.2s", "125.0s", "1h02m03s".
std::string FormatDuration(uint64_t duration_ns);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_TREE_EXPORTER_H_
