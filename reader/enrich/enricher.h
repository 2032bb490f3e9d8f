// The enrich stage: what the reader derives from recorded spans, so that the writer's hot path
// only records ("the reader derives, the writer records"). It runs on the export thread, on every
// TraceBatch (complete traces and late parts) before any exporter sees it, and adds attributes;
// it never changes or removes what the writer recorded (an attribute the span already carries is
// left as it is).
//
// Attributes added (units in the name or stated):
//   gen_ai.conversation.id, agent.conversation_id  (string) on every span of a trace that lacks
//       them, from the span that set either: the trace's run (kind run) root first, then any run
//       span, then (for late parts) the id remembered for the trace, then the root, then the
//       earliest span. Late parts are stamped from a bounded FIFO cache trace_id -> id.
//   gen_ai.cost_usd (double, USD) and agentring.cost.self_usd (double, USD) on a usage span (below)
//       whose model the pricing table knows: (input - cached) * input price + cached * cached
//       price + output * output price, prices per 1M tokens. An unknown model gets neither:
//       absent, never 0, never a guess. A cost the writer recorded in gen_ai.cost_usd is kept and
//       used as the self cost.
//   gen_ai.cache_hit_ratio (double, 0..1) = cache_read / input tokens on any span with input > 0
//       and gen_ai.usage.cache_read.input_tokens present (and <= input).
//   llm.latency_per_token (double, SECONDS per output token) = duration / output tokens on an
//       ended, reader-complete usage span with output > 0.
//   agentring.cost.total_usd (double, USD) = own self cost + the totals of the span's children in
//       the batch, on every span whose subtree holds a priced usage span; with it
//       agentring.cost.unpriced_spans (int) when some usage span of the subtree could not be
//       priced (the total is then a lower bound).
//   agentring.tokens.input_total / .output_total / .cache_read_total (int, tokens) = the usage
//       spans' tokens summed over the subtree, where > 0.
//   agentring.hotspot (bool, true) on the span the console tree marks "<-- HOTSPOT"
//       (FindHotspots in trace_tree.h).
//
// Usage spans: where tokens are counted and priced once. A span is one when it carries
// gen_ai.usage.input_tokens / output_tokens (or llm.token_count.prompt / .completion), is not a
// structural kind (run, turn, tool, sub-agent, handoff, plan, task: on those, usage attributes are
// read as aggregates of their children) and no descendant in the batch is one (an outer wrapper
// repeating its inner call's usage is an aggregate too). So a sub-agent's cost shows in its own
// total and in every ancestor's total, and is counted once in each. The model is the first of
// gen_ai.response.model, gen_ai.request.model, llm.model that is present.
//
// Roll-ups see one batch: a late part of a trace rolls up within itself only (its totals cover
// the late spans; the earlier part's totals were already exported and are not revised).
#ifndef AGENTRING_READER_ENRICH_ENRICHER_H_
#define AGENTRING_READER_ENRICH_ENRICHER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reader/enrich/pricing.h"
#include "reader/model/span.h"

namespace agentring::reader {

// Attribute keys (string literals: SpanData::attributes keys must outlive the reader).
inline constexpr std::string_view kConversationIdKey = "gen_ai.conversation.id";
inline constexpr std::string_view kAgentConversationIdKey = "agent.conversation_id";
inline constexpr std::string_view kCostUsdKey = "gen_ai.cost_usd";
inline constexpr std::string_view kCacheHitRatioKey = "gen_ai.cache_hit_ratio";
inline constexpr std::string_view kLatencyPerTokenKey = "llm.latency_per_token";
inline constexpr std::string_view kCostSelfUsdKey = "agentring.cost.self_usd";
inline constexpr std::string_view kCostTotalUsdKey = "agentring.cost.total_usd";
inline constexpr std::string_view kCostUnpricedSpansKey = "agentring.cost.unpriced_spans";
inline constexpr std::string_view kTokensInputTotalKey = "agentring.tokens.input_total";
inline constexpr std::string_view kTokensOutputTotalKey = "agentring.tokens.output_total";
inline constexpr std::string_view kTokensCacheReadTotalKey = "agentring.tokens.cache_read_total";
inline constexpr std::string_view kHotspotKey = "agentring.hotspot";

// Counters, written by the thread running Process and readable from any thread (relaxed loads).
struct EnrichStats {
  std::atomic<uint64_t> spans_priced{0};          // usage spans given a gen_ai.cost_usd
  std::atomic<uint64_t> spans_unpriced_model{0};  // usage spans whose model is not in the table
  std::atomic<uint64_t> conversations_stamped{0};  // spans given a conversation id they lacked
  std::atomic<uint64_t> spans_bad_usage{0};  // negative/non-integral tokens, cached > input
  std::atomic<uint64_t> hotspots_marked{0};
};

class Enricher {
 public:
  struct Options {
    std::string pricing_path;  // "" = FindDefaultPricingFile(), else the built-in table
    size_t conversation_cache_entries = 65536;  // traces remembered for late parts; >= 1
  };

  // Loads the pricing table. Returns null and sets *error to one line when the file (given, from
  // $AGENTRING_PRICING, or found next to the program) cannot be read or is not a valid pricing
  // table ("pricing FILE: line N column M: reason"; see PricingTable::TryParse), or when
  // conversation_cache_entries is 0.
  static std::unique_ptr<Enricher> Create(const Options& options, std::string* error);

  // Adds the derived attributes above to the spans of *batch. Never fails: malformed values are
  // skipped and counted. Not thread-safe: one thread (the export thread) calls it, in the order
  // the batches are exported.
  void Process(TraceBatch* batch);

  const EnrichStats& stats() const { return stats_; }
  const PricingTable& pricing() const { return *pricing_; }
  // Where the pricing table came from: the file's path or "built-in".
  const std::string& pricing_source() const { return pricing_source_; }

 private:
  struct Conversation {
    AttrValue gen_ai_id;  // value for gen_ai.conversation.id
    AttrValue agent_id;   // value for agent.conversation_id
    bool from_run = false;
  };

  Enricher(const Options& options, std::unique_ptr<PricingTable> pricing, std::string source);
  void StampConversation(const TraceBatch& batch, const std::vector<SpanData*>& spans);
  void Remember(const TraceId& trace, const Conversation& c);

  Options options_;
  std::unique_ptr<PricingTable> pricing_;
  std::string pricing_source_;
  EnrichStats stats_;
  // trace_id -> conversation, bounded: ring_ holds the keys in insertion order and the oldest is
  // evicted when a new trace arrives at capacity (FIFO).
  std::unordered_map<TraceId, Conversation, TraceIdHash> conversations_;
  std::vector<TraceId> ring_;
  size_t ring_next_ = 0;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ENRICH_ENRICHER_H_
