// The enrich stage: conversation ids, cost, cache hit ratio, latency per token, roll-ups and the
// hotspot mark (see enricher.h for the attributes and their rules).
#include "reader/enrich/enricher.h"

#include <climits>
#include <cmath>
#include <algorithm>
#include <optional>
#include <utility>

#include "agentring/agentring.hpp"
#include "reader/enrich/trace_tree.h"

namespace agentring::reader {
namespace {

constexpr std::string_view kInputTokenKeys[] = {"gen_ai.usage.input_tokens",
                                                "llm.token_count.prompt"};
constexpr std::string_view kOutputTokenKeys[] = {"gen_ai.usage.output_tokens",
                                                 "llm.token_count.completion"};
constexpr std::string_view kCacheReadTokenKey = "gen_ai.usage.cache_read.input_tokens";
constexpr std::string_view kModelKeys[] = {"gen_ai.response.model", "gen_ai.request.model",
                                           "llm.model"};
constexpr double kTokensPerPriceUnit = 1e6;  // prices are per 1M tokens

// Kinds whose usage attributes are aggregates of their children, never a call of their own.
bool IsStructuralKind(uint8_t kind) {
  switch (static_cast<Kind>(kind)) {
    case Kind::kRun:
    case Kind::kTurn:
    case Kind::kTool:
    case Kind::kSubagent:
    case Kind::kHandoff:
    case Kind::kPlan:
    case Kind::kTask:
      return true;
    default:
      return false;
  }
}

// Adds key=value unless the span already has key (the writer's value wins). Returns whether added.
bool SetIfAbsent(SpanData* s, std::string_view key, AttrValue value) {
  if (s->Find(key)) return false;
  s->attributes.push_back({key, std::move(value)});
  return true;
}

enum class Read { kAbsent, kOk, kBad };

// A token count: the first of `keys` present, as a non-negative integer (an integral double below
// 2^53 is accepted, as JSON readers produce them); anything else is kBad.
template <size_t N>
Read ReadTokens(const SpanData& s, const std::string_view (&keys)[N], int64_t* out) {
  for (std::string_view k : keys) {
    const AttrValue* v = s.Find(k);
    if (!v) continue;
    if (const int64_t* i = std::get_if<int64_t>(v)) {
      if (*i < 0) return Read::kBad;
      *out = *i;
      return Read::kOk;
    }
    if (const double* d = std::get_if<double>(v)) {
      if (!(*d >= 0 && *d < 9007199254740992.0) || std::floor(*d) != *d) return Read::kBad;
      *out = static_cast<int64_t>(*d);
      return Read::kOk;
    }
    return Read::kBad;
  }
  return Read::kAbsent;
}

const std::string* FindModel(const SpanData& s) {
  for (std::string_view k : kModelKeys)
    if (const AttrValue* v = s.Find(k)) return std::get_if<std::string>(v);
  return nullptr;
}

std::optional<double> NonNegativeNumber(const AttrValue* v) {
  if (!v) return std::nullopt;
  if (const double* d = std::get_if<double>(v))
    return std::isfinite(*d) && *d >= 0 ? std::optional<double>(*d) : std::nullopt;
  if (const int64_t* i = std::get_if<int64_t>(v))
    return *i >= 0 ? std::optional<double>(static_cast<double>(*i)) : std::nullopt;
  return std::nullopt;
}

bool IsUsableId(const AttrValue* v) {
  if (!v) return false;
  if (const std::string* s = std::get_if<std::string>(v)) return !s->empty();
  return true;
}

// What one span contributes before roll-up.
struct SpanUsage {
  bool candidate = false;  // carries valid usage and is not structural
  bool usage = false;      // candidate with no candidate below it: counted here
  bool has_input = false, has_output = false, has_cached = false;
  int64_t input = 0, output = 0, cached = 0;
};

// The roll-up state of a subtree.
struct Totals {
  bool any_usage = false;   // a usage span in the subtree
  bool any_priced = false;  // a priced usage span in the subtree
  double cost_usd = 0;
  int64_t unpriced = 0;
  int64_t input = 0, output = 0, cached = 0;
};

}  // namespace

Enricher::Enricher(const Options& options, std::unique_ptr<PricingTable> pricing,
                   std::string source)
    : options_(options), pricing_(std::move(pricing)), pricing_source_(std::move(source)) {
  ring_.reserve(std::min<size_t>(options_.conversation_cache_entries, 4096));
}

std::unique_ptr<Enricher> Enricher::Create(const Options& options, std::string* error) {
  if (options.conversation_cache_entries == 0) {
    *error = "enrich: conversation_cache_entries must be at least 1";
    return nullptr;
  }
  const std::string path =
      options.pricing_path.empty() ? FindDefaultPricingFile() : options.pricing_path;
  std::unique_ptr<PricingTable> table;
  std::string source;
  if (path.empty()) {
    table = PricingTable::Builtin();
    source = "built-in";
  } else {
    table = PricingTable::TryLoadFile(path, error);
    if (!table) return nullptr;
    source = path;
  }
  return std::unique_ptr<Enricher>(new Enricher(options, std::move(table), std::move(source)));
}

void Enricher::Remember(const TraceId& trace, const Conversation& c) {
  auto it = conversations_.find(trace);
  if (it != conversations_.end()) {
    if (c.from_run || !it->second.from_run) it->second = c;
    return;
  }
  // FIFO eviction: the ring slot we are about to reuse holds the oldest trace.
  if (ring_.size() < options_.conversation_cache_entries) {
    ring_.push_back(trace);
  } else {
    conversations_.erase(ring_[ring_next_]);
    ring_[ring_next_] = trace;
    ring_next_ = (ring_next_ + 1) % ring_.size();
  }
  conversations_.emplace(trace, c);
}

void Enricher::StampConversation(const TraceBatch& batch, const std::vector<SpanData*>& spans) {
  // Rank the spans that set an id: the run root, any run, (the cache), the root, the earliest.
  const SpanData* best = nullptr;
  int best_rank = INT_MAX;
  for (const SpanData* s : spans) {
    const AttrValue* g = s->Find(kConversationIdKey);
    const AttrValue* a = s->Find(kAgentConversationIdKey);
    if (!IsUsableId(g) && !IsUsableId(a)) continue;
    const bool run = s->kind == static_cast<uint8_t>(Kind::kRun);
    const int rank = run && s->parent_span_id == 0 ? 0 : run ? 1 : s->parent_span_id == 0 ? 2 : 3;
    if (rank < best_rank || (rank == best_rank && s->start_unix_ns < best->start_unix_ns)) {
      best = s;
      best_rank = rank;
    }
  }
  Conversation c;
  const bool cacheable = batch.trace_id.valid();
  auto cached = cacheable ? conversations_.find(batch.trace_id) : conversations_.end();
  if (best && (best_rank <= 1 || cached == conversations_.end())) {
    const AttrValue* g = best->Find(kConversationIdKey);
    const AttrValue* a = best->Find(kAgentConversationIdKey);
    c.gen_ai_id = IsUsableId(g) ? *g : *a;
    c.agent_id = IsUsableId(a) ? *a : *g;
    c.from_run = best_rank <= 1;
    if (cacheable) Remember(batch.trace_id, c);
  } else if (cached != conversations_.end()) {
    c = cached->second;
  } else {
    return;
  }
  uint64_t stamped = 0;
  for (SpanData* s : spans) {
    bool added = SetIfAbsent(s, kConversationIdKey, c.gen_ai_id);
    added |= SetIfAbsent(s, kAgentConversationIdKey, c.agent_id);
    stamped += added;
  }
  stats_.conversations_stamped.fetch_add(stamped, std::memory_order_relaxed);
}

void Enricher::Process(TraceBatch* batch) {
  const TraceTree tree = BuildTraceTree(*batch);
  const size_t n = tree.spans.size();
  if (n == 0) return;
  StampConversation(*batch, tree.spans);

  // Token counts and the cache hit ratio, span by span.
  std::vector<SpanUsage> u(n);
  uint64_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    SpanData* s = tree.spans[i];
    SpanUsage& x = u[i];
    const Read in = ReadTokens(*s, kInputTokenKeys, &x.input);
    const Read out = ReadTokens(*s, kOutputTokenKeys, &x.output);
    const std::string_view cached_keys[] = {kCacheReadTokenKey};
    const Read cached = ReadTokens(*s, cached_keys, &x.cached);
    x.has_input = in == Read::kOk;
    x.has_output = out == Read::kOk;
    x.has_cached = cached == Read::kOk;
    if (!x.has_input && !x.has_output) continue;
    if (in == Read::kBad || out == Read::kBad || cached == Read::kBad ||
        (x.has_cached && x.cached > x.input)) {
      ++bad;  // not trusted for anything: no cost, ratio or roll-up from this span
      continue;
    }
    x.candidate = !IsStructuralKind(s->kind);
    if (x.has_cached && x.input > 0) {
      SetIfAbsent(s, kCacheHitRatioKey,
                  static_cast<double>(x.cached) / static_cast<double>(x.input));
    }
  }

  // Usage spans, cost and roll-ups in one post-order pass: children are final before a parent.
  std::vector<Totals> t(n);
  uint64_t priced = 0, unpriced_model = 0;
  for (uint32_t i : PostOrder(tree)) {
    SpanData* s = tree.spans[i];
    Totals& mine = t[i];
    bool candidate_below = false;
    for (uint32_t c : tree.children[i]) {
      const Totals& ct = t[c];
      candidate_below |= u[c].candidate || ct.any_usage;
      mine.any_usage |= ct.any_usage;
      mine.any_priced |= ct.any_priced;
      mine.cost_usd += ct.cost_usd;
      mine.unpriced += ct.unpriced;
      mine.input += ct.input;
      mine.output += ct.output;
      mine.cached += ct.cached;
    }
    SpanUsage& x = u[i];
    x.usage = x.candidate && !candidate_below;
    if (x.usage) {
      mine.any_usage = true;
      mine.input += x.input;
      mine.output += x.output;
      mine.cached += x.has_cached ? x.cached : 0;
      std::optional<double> self_usd = NonNegativeNumber(s->Find(kCostUsdKey));  // the writer's
      if (!self_usd && x.has_input) {
        const std::string* model = FindModel(*s);
        const ModelPrice* p = model ? pricing_->Find(*model) : nullptr;
        if (p) {
          const int64_t cached = x.has_cached ? x.cached : 0;
          self_usd = (static_cast<double>(x.input - cached) * p->input_per_mtok +
                      static_cast<double>(cached) * p->cached_input_per_mtok +
                      static_cast<double>(x.output) * p->output_per_mtok) /
                     kTokensPerPriceUnit;
          SetIfAbsent(s, kCostUsdKey, *self_usd);
          ++priced;
        } else if (model) {
          ++unpriced_model;
        }
      }
      if (self_usd) {
        SetIfAbsent(s, kCostSelfUsdKey, *self_usd);
        mine.any_priced = true;
        mine.cost_usd += *self_usd;
      } else {
        ++mine.unpriced;
      }
      const uint64_t d = s->duration_ns();
      if (x.has_output && x.output > 0 && s->ended && !s->incomplete && d > 0) {
        SetIfAbsent(s, kLatencyPerTokenKey,
                    static_cast<double>(d) / 1e9 / static_cast<double>(x.output));
      }
    }
    if (mine.any_priced) {
      SetIfAbsent(s, kCostTotalUsdKey, mine.cost_usd);
      if (mine.unpriced > 0) SetIfAbsent(s, kCostUnpricedSpansKey, mine.unpriced);
    }
    if (mine.input > 0) SetIfAbsent(s, kTokensInputTotalKey, mine.input);
    if (mine.output > 0) SetIfAbsent(s, kTokensOutputTotalKey, mine.output);
    if (mine.cached > 0) SetIfAbsent(s, kTokensCacheReadTotalKey, mine.cached);
  }

  const std::vector<uint8_t> hot = FindHotspots(tree);
  uint64_t hotspots = 0;
  for (size_t i = 0; i < n; ++i)
    if (hot[i]) hotspots += SetIfAbsent(tree.spans[i], kHotspotKey, true);

  stats_.spans_priced.fetch_add(priced, std::memory_order_relaxed);
  stats_.spans_unpriced_model.fetch_add(unpriced_model, std::memory_order_relaxed);
  stats_.spans_bad_usage.fetch_add(bad, std::memory_order_relaxed);
  stats_.hotspots_marked.fetch_add(hotspots, std::memory_order_relaxed);
}

}  // namespace agentring::reader
