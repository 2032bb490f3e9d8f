// Trace tree construction and the hotspot rule (moved here from the tree exporter unchanged).
#include "reader/enrich/trace_tree.h"

#include <algorithm>
#include <unordered_map>

namespace agentring::reader {

TraceTree BuildTraceTree(const TraceBatch& batch) {
  TraceTree t;
  t.spans.reserve(batch.spans.size());
  for (const auto& s : batch.spans)
    if (s) t.spans.push_back(s.get());
  const size_t n = t.spans.size();
  constexpr uint32_t kNone = TraceTree::kNone;

  std::unordered_map<uint64_t, uint32_t> index_of;
  index_of.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (t.spans[i]->span_id != 0) index_of.emplace(t.spans[i]->span_id, static_cast<uint32_t>(i));
  t.parent.assign(n, kNone);
  for (size_t i = 0; i < n; ++i) {
    if (t.spans[i]->parent_span_id == 0) continue;
    auto it = index_of.find(t.spans[i]->parent_span_id);
    if (it != index_of.end() && it->second != i) t.parent[i] = it->second;
  }
  // Cut parent cycles (malformed input) so that every span is reachable from a top-level entry:
  // walk up from each span; meeting a span of the current walk again means a cycle, which is
  // cut above that span. Each span is walked once: O(n).
  {
    std::vector<uint8_t> state(n, 0);  // 0 unseen, 1 on the current walk, 2 done
    std::vector<uint32_t> walk;
    for (size_t i = 0; i < n; ++i) {
      walk.clear();
      uint32_t j = static_cast<uint32_t>(i);
      while (j != kNone && state[j] == 0) {
        state[j] = 1;
        walk.push_back(j);
        j = t.parent[j];
      }
      if (j != kNone && state[j] == 1) t.parent[j] = kNone;
      for (uint32_t w : walk) state[w] = 2;
    }
  }

  auto by_start = [&](uint32_t a, uint32_t b) {
    if (t.spans[a]->start_unix_ns != t.spans[b]->start_unix_ns)
      return t.spans[a]->start_unix_ns < t.spans[b]->start_unix_ns;
    return a < b;
  };
  t.children.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (t.parent[i] != kNone) t.children[t.parent[i]].push_back(static_cast<uint32_t>(i));
    else if (t.spans[i]->parent_span_id == 0) t.roots.push_back(static_cast<uint32_t>(i));
    else t.orphans.push_back(static_cast<uint32_t>(i));
  }
  for (auto& c : t.children) std::sort(c.begin(), c.end(), by_start);
  std::sort(t.roots.begin(), t.roots.end(), by_start);
  std::sort(t.orphans.begin(), t.orphans.end(), by_start);
  return t;
}

std::vector<uint32_t> PostOrder(const TraceTree& tree) {
  // Pre-order with an explicit stack (agent traces can nest deeper than a thread's stack),
  // reversed: every parent then comes after all of its descendants.
  std::vector<uint32_t> order, stack;
  order.reserve(tree.spans.size());
  stack.insert(stack.end(), tree.roots.begin(), tree.roots.end());
  stack.insert(stack.end(), tree.orphans.begin(), tree.orphans.end());
  while (!stack.empty()) {
    const uint32_t i = stack.back();
    stack.pop_back();
    order.push_back(i);
    stack.insert(stack.end(), tree.children[i].begin(), tree.children[i].end());
  }
  std::reverse(order.begin(), order.end());
  return order;
}

std::vector<uint8_t> FindHotspots(const TraceTree& tree) {
  const auto& spans = tree.spans;
  const size_t n = spans.size();
  uint64_t extent_start = UINT64_MAX, extent_end = 0;
  for (const SpanData* s : spans) {
    if (s->start_unix_ns) extent_start = std::min(extent_start, s->start_unix_ns);
    extent_end = std::max(extent_end, s->end_unix_ns);
  }
  const uint64_t extent = extent_end > extent_start ? extent_end - extent_start : 0;
  std::vector<uint8_t> hotspot(n, 0);
  for (size_t p = 0; p < n; ++p) {
    const auto& c = tree.children[p];
    if (c.size() < 2) continue;
    uint32_t best = c[0];
    uint64_t second = 0;
    for (size_t k = 1; k < c.size(); ++k) {
      const uint64_t d = spans[c[k]]->duration_ns();
      if (d > spans[best]->duration_ns()) {
        second = spans[best]->duration_ns();
        best = c[k];
      } else {
        second = std::max(second, d);
      }
    }
    const uint64_t d = spans[best]->duration_ns();
    const uint64_t parent_d = spans[p]->duration_ns();
    // Integer forms of d >= parent_d / 2 and d >= 2 * second that cannot overflow.
    if (d > 0 && parent_d > 0 && d >= parent_d - parent_d / 2 && d / 2 >= second &&
        d >= extent / 5)
      hotspot[best] = 1;
  }
  return hotspot;
}

}  // namespace agentring::reader
