// Assertions over exported traces (as read back by ReadTraceFile): parentage inside a trace,
// roots, span-id uniqueness, and lookups by name.
#ifndef AGENTRING_TESTS_INTEGRATION_TRACE_TREE_ASSERTIONS_H_
#define AGENTRING_TESTS_INTEGRATION_TRACE_TREE_ASSERTIONS_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/harness.h"

namespace agentring::it {

// Every span carries `trace_id`, and every non-empty parentSpanId is the spanId of another span
// of the same trace (no dangling parent, no self-parent).
inline ::testing::AssertionResult ParentsResolveWithinTrace(const std::string& trace_id,
                                                            const std::vector<ExportedSpan>& spans) {
  std::set<std::string> ids;
  for (const ExportedSpan& s : spans) ids.insert(s.span_id);
  for (const ExportedSpan& s : spans) {
    if (s.trace_id != trace_id)
      return ::testing::AssertionFailure()
             << "span " << s.span_id << " '" << s.name << "' has traceId " << s.trace_id
             << ", filed under " << trace_id;
    if (s.parent_span_id.empty()) continue;
    if (s.parent_span_id == s.span_id)
      return ::testing::AssertionFailure() << "span " << s.span_id << " is its own parent";
    if (ids.count(s.parent_span_id) == 0)
      return ::testing::AssertionFailure()
             << "span " << s.span_id << " '" << s.name << "' (pid " << s.pid << ") of trace "
             << trace_id << " has parent " << s.parent_span_id << ", which is not in the trace";
  }
  return ::testing::AssertionSuccess();
}

inline size_t CountRoots(const std::vector<ExportedSpan>& spans) {
  size_t roots = 0;
  for (const ExportedSpan& s : spans) roots += s.parent_span_id.empty() ? 1 : 0;
  return roots;
}

inline ::testing::AssertionResult HasExactlyOneRoot(const std::string& trace_id,
                                                    const std::vector<ExportedSpan>& spans) {
  size_t roots = CountRoots(spans);
  if (roots == 1) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "trace " << trace_id << " has " << roots
                                       << " roots among " << spans.size() << " spans";
}

// ParentsResolveWithinTrace and HasExactlyOneRoot for every trace of a file.
inline ::testing::AssertionResult EveryTraceIsOneTree(const TraceFile& file) {
  for (const auto& [trace_id, spans] : file.traces) {
    if (auto r = ParentsResolveWithinTrace(trace_id, spans); !r) return r;
    if (auto r = HasExactlyOneRoot(trace_id, spans); !r) return r;
  }
  return ::testing::AssertionSuccess();
}

// No spanId appears twice in the whole file.
inline ::testing::AssertionResult SpanIdsUnique(const TraceFile& file) {
  std::set<std::string> seen;
  for (const auto& [trace_id, spans] : file.traces) {
    for (const ExportedSpan& s : spans) {
      if (!seen.insert(s.span_id).second)
        return ::testing::AssertionFailure()
               << "spanId " << s.span_id << " ('" << s.name << "') exported twice";
    }
  }
  return ::testing::AssertionSuccess();
}

inline std::set<int64_t> PidsOf(const std::vector<ExportedSpan>& spans) {
  std::set<int64_t> pids;
  for (const ExportedSpan& s : spans) pids.insert(s.pid);
  return pids;
}

inline std::set<int64_t> PidsOf(const TraceFile& file) {
  std::set<int64_t> pids;
  for (const auto& [trace_id, spans] : file.traces)
    for (const ExportedSpan& s : spans) pids.insert(s.pid);
  return pids;
}

// Spans named `name` in a trace.
inline std::vector<const ExportedSpan*> FindByName(const std::vector<ExportedSpan>& spans,
                                                   const std::string& name) {
  std::vector<const ExportedSpan*> out;
  for (const ExportedSpan& s : spans)
    if (s.name == name) out.push_back(&s);
  return out;
}

inline std::set<std::string> NamesOf(const std::vector<ExportedSpan>& spans) {
  std::set<std::string> names;
  for (const ExportedSpan& s : spans) names.insert(s.name);
  return names;
}

}  // namespace agentring::it

#endif  // AGENTRING_TESTS_INTEGRATION_TRACE_TREE_ASSERTIONS_H_
