// Tests for the sample stage (reader/sample/tail_sampler.h) on synthetic traces built directly as
// TraceBatch/SpanData: every policy type, the Collector's rules for combining decisions, late
// parts following the cached decision, LRU eviction, rate limiting against an injected clock, the
// probabilistic ratio over 20000 trace ids, a pasted Collector config, configuration errors, and
// the issue's scenario (only error traces plus 10% of the rest, sampled-out spans counted).
#include "reader/sample/tail_sampler.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace agentring::reader {
namespace {

constexpr uint64_t kMs = 1'000'000ull;
constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;

struct SpanSpec {
  uint64_t start_ms = 0;
  uint64_t dur_ms = 1;
  std::vector<Attribute> attrs;
  SpanStatus status = SpanStatus::kUnset;
  std::shared_ptr<const ProcessInfo> process;
};

// A trace: the first span is the root, the others its children.
TraceBatch Trace(TraceId id, std::vector<SpanSpec> specs, bool late = false) {
  TraceBatch b;
  b.trace_id = id;
  b.late = late;
  uint64_t next_id = 1;
  for (SpanSpec& sp : specs) {
    auto s = std::make_unique<SpanData>();
    s->trace_id = id;
    s->span_id = (id.lo << 8) + next_id++;
    s->parent_span_id = late || b.spans.empty() ? (late ? 1 : 0) : b.spans.front()->span_id;
    s->name = "span";
    s->start_unix_ns = kT0 + sp.start_ms * kMs;
    s->end_unix_ns = s->start_unix_ns + sp.dur_ms * kMs;
    s->ended = true;
    s->status = sp.status;
    s->attributes = std::move(sp.attrs);
    s->process = sp.process;
    b.spans.push_back(std::move(s));
  }
  return b;
}

TraceBatch Spans(TraceId id, size_t n, bool late = false) {
  return Trace(id, std::vector<SpanSpec>(n), late);
}

TraceId Id(uint64_t n) { return TraceId{0x1000 + n, n * 0x9E3779B97F4A7C15ull + 1}; }

std::unique_ptr<TailSampler> Make(const std::string& yaml) {
  std::string error;
  auto s = TailSampler::Create(YAML::Load(yaml), &error);
  EXPECT_NE(s, nullptr) << error;
  return s;
}

std::string ErrorOf(const std::string& yaml) {
  std::string error;
  auto s = TailSampler::Create(YAML::Load(yaml), &error);
  EXPECT_EQ(s, nullptr) << "accepted:\n" << yaml;
  return error;
}

std::string Policy(const std::string& one) { return "policies:\n  - " + one + "\n"; }

// ---- policy types ------------------------------------------------------------------------

TEST(TailSampler, AlwaysSampleKeepsEverythingAndCounts) {
  auto s = Make(Policy("{name: all, type: always_sample}"));
  EXPECT_TRUE(s->Keep(Spans(Id(1), 3), 0));
  EXPECT_TRUE(s->Keep(Spans(Id(2), 2), 0));
  EXPECT_EQ(s->stats().traces_kept, 2u);
  EXPECT_EQ(s->stats().spans_kept, 5u);
  EXPECT_EQ(s->stats().spans_sampled_out, 0u);
  ASSERT_EQ(s->policy_counts().size(), 1u);
  EXPECT_EQ(s->policy_counts()[0].name, "all");
  EXPECT_EQ(s->policy_counts()[0].sampled, 2u);
}

TEST(TailSampler, LatencyIsLatestEndMinusEarliestStart) {
  auto s = Make(Policy("{name: slow, type: latency, latency: {threshold_ms: 1000}}"));
  // Root 0..600 ms, child 700..1200 ms: 1200 ms although no span lasts 1000 ms.
  EXPECT_TRUE(s->Keep(Trace(Id(1), {{0, 600}, {700, 500}}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {{0, 10}, {995, 5}}), 0));   // 1000 ms exactly
  EXPECT_FALSE(s->Keep(Trace(Id(3), {{0, 10}, {994, 5}}), 0));  // 999 ms
  EXPECT_FALSE(s->Keep(Trace(Id(4), {{0, 999}}), 0));

  auto band = Make(
      Policy("{name: band, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 500}}"));
  EXPECT_FALSE(band->Keep(Trace(Id(5), {{0, 100}}), 0));  // threshold < d
  EXPECT_TRUE(band->Keep(Trace(Id(6), {{0, 101}}), 0));
  EXPECT_TRUE(band->Keep(Trace(Id(7), {{0, 500}}), 0));  // d <= upper
  EXPECT_FALSE(band->Keep(Trace(Id(8), {{0, 501}}), 0));
}

TEST(TailSampler, StatusCodeLooksAtEverySpan) {
  auto s = Make(Policy("{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}"));
  SpanSpec err;
  err.status = SpanStatus::kError;
  SpanSpec ok;
  ok.status = SpanStatus::kOk;
  EXPECT_TRUE(s->Keep(Trace(Id(1), {ok, {}, err}), 0));
  EXPECT_FALSE(s->Keep(Trace(Id(2), {ok, {}, ok}), 0));

  auto unset =
      Make(Policy("{name: quiet, type: status_code, status_code: {status_codes: [OK, UNSET]}}"));
  EXPECT_TRUE(unset->Keep(Trace(Id(3), {err, {}}), 0));
  EXPECT_FALSE(unset->Keep(Trace(Id(4), {err}), 0));
}

TEST(TailSampler, StringAttributeOnSpansAndResources) {
  auto s = Make(
      Policy("{name: tool-errors, type: string_attribute, string_attribute: {key: tool.status, "
             "values: [error, timeout]}}"));
  EXPECT_TRUE(s->Keep(Trace(Id(1), {{}, {.attrs = {{"tool.status", std::string("error")}}}}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {{.attrs = {{"tool.status", std::string("timeout")}}}}), 0));
  EXPECT_FALSE(s->Keep(Trace(Id(3), {{.attrs = {{"tool.status", std::string("ok")}}}}), 0));
  EXPECT_FALSE(
      s->Keep(Trace(Id(4), {{.attrs = {{"tool.status", int64_t{1}}}}}), 0));  // not a string
  EXPECT_FALSE(s->Keep(Trace(Id(5), {{.attrs = {{"other", std::string("error")}}}}), 0));

  // A writer process's resource attribute counts like a span attribute.
  auto svc =
      Make(Policy("{name: svc, type: string_attribute, string_attribute: {key: service.name, "
                  "values: [billing-agent]}}"));
  auto billing = std::make_shared<ProcessInfo>();
  billing->resource = {{"service.name", "billing-agent"}};
  auto other = std::make_shared<ProcessInfo>();
  other->resource = {{"service.name", "search-agent"}};
  EXPECT_TRUE(svc->Keep(Trace(Id(6), {{.process = other}, {.process = billing}}), 0));
  EXPECT_FALSE(svc->Keep(Trace(Id(7), {{.process = other}, {.process = other}}), 0));
}

TEST(TailSampler, StringAttributeRegexAndInvert) {
  auto re = Make(Policy(
      "{name: re, type: string_attribute, string_attribute: {key: gen_ai.request.model, "
      "values: ['^claude-.*-4', 'gpt-5$'], enabled_regex_matching: true, cache_max_size: 2}}"));
  for (int round = 0; round < 2; ++round) {  // the second round answers from the cache
    EXPECT_TRUE(
        re->Keep(Trace(Id(10 + round * 10),
                       {{.attrs = {{"gen_ai.request.model", std::string("claude-opus-4")}}}}),
                 0));
    EXPECT_TRUE(
        re->Keep(Trace(Id(11 + round * 10),
                       {{.attrs = {{"gen_ai.request.model", std::string("openai/gpt-5")}}}}),
                 0));
    EXPECT_FALSE(re->Keep(Trace(Id(12 + round * 10),
                                {{.attrs = {{"gen_ai.request.model", std::string("gpt-5-mini")}}}}),
                          0));
  }

  // invert_match: a match says InvertNotSampled (dropped even with always_sample); a trace
  // without a match (or without the key) says InvertSampled (kept on its own).
  auto inv = Make(
      "policies:\n"
      "  - {name: not-health, type: string_attribute, string_attribute: {key: http.route, "
      "values: [/health], invert_match: true}}\n");
  EXPECT_FALSE(inv->Keep(Trace(Id(1), {{.attrs = {{"http.route", std::string("/health")}}}}), 0));
  EXPECT_TRUE(inv->Keep(Trace(Id(2), {{.attrs = {{"http.route", std::string("/chat")}}}}), 0));
  EXPECT_TRUE(inv->Keep(Trace(Id(3), {{}}), 0));
}

TEST(TailSampler, NumericAttributeKeepsBigTokenCounts) {
  // "keep every trace whose gen_ai.usage.input_tokens > 50,000"
  auto s =
      Make(Policy("{name: big-prompts, type: numeric_attribute, numeric_attribute: "
                  "{key: gen_ai.usage.input_tokens, min_value: 50001}}"));
  auto tokens = [](int64_t n) { return SpanSpec{.attrs = {{"gen_ai.usage.input_tokens", n}}}; };
  EXPECT_FALSE(s->Keep(Trace(Id(1), {{}, tokens(50000)}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {{}, tokens(1200), tokens(50001)}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(3), {tokens(INT64_MAX)}), 0));
  EXPECT_FALSE(
      s->Keep(Trace(Id(4), {{.attrs = {{"gen_ai.usage.input_tokens", std::string("90000")}}}}),
              0));  // a string is not a number

  // Doubles compare as doubles (a derived cost in USD), with decimal bounds; max only.
  auto cost = Make(
      Policy("{name: pricey, type: numeric_attribute, numeric_attribute: {key: gen_ai.cost_usd, "
             "min_value: 0.5, max_value: 2}}"));
  EXPECT_TRUE(cost->Keep(Trace(Id(5), {{.attrs = {{"gen_ai.cost_usd", 0.75}}}}), 0));
  EXPECT_FALSE(cost->Keep(Trace(Id(6), {{.attrs = {{"gen_ai.cost_usd", 0.49}}}}), 0));
  EXPECT_FALSE(cost->Keep(Trace(Id(7), {{.attrs = {{"gen_ai.cost_usd", 2.01}}}}), 0));
  auto small = Make(
      Policy("{name: small, type: numeric_attribute, numeric_attribute: {key: n, max_value: -1}}"));
  EXPECT_TRUE(small->Keep(Trace(Id(8), {{.attrs = {{"n", int64_t{-5}}}}}), 0));
  EXPECT_FALSE(small->Keep(Trace(Id(9), {{.attrs = {{"n", int64_t{0}}}}}), 0));

  // Resource attributes are strings: they count when they parse as a number.
  auto res = Make(
      Policy("{name: shard, type: numeric_attribute, numeric_attribute: {key: shard, min_value: 3, "
             "max_value: 3}}"));
  auto p3 = std::make_shared<ProcessInfo>();
  p3->resource = {{"shard", "3"}};
  auto px = std::make_shared<ProcessInfo>();
  px->resource = {{"shard", "3x"}};
  EXPECT_TRUE(res->Keep(Trace(Id(10), {{.process = p3}}), 0));
  EXPECT_FALSE(res->Keep(Trace(Id(11), {{.process = px}}), 0));

  auto inv =
      Make(Policy("{name: inv, type: numeric_attribute, numeric_attribute: {key: n, min_value: 10, "
                  "invert_match: true}}"));
  EXPECT_FALSE(inv->Keep(Trace(Id(12), {{.attrs = {{"n", int64_t{10}}}}}), 0));
  EXPECT_TRUE(inv->Keep(Trace(Id(13), {{.attrs = {{"n", int64_t{9}}}}}), 0));
}

TEST(TailSampler, BooleanAttribute) {
  auto s = Make(
      Policy("{name: flagged, type: boolean_attribute, boolean_attribute: {key: agentring.hotspot, "
             "value: true}}"));
  EXPECT_TRUE(s->Keep(Trace(Id(1), {{}, {.attrs = {{"agentring.hotspot", true}}}}), 0));
  EXPECT_FALSE(s->Keep(Trace(Id(2), {{.attrs = {{"agentring.hotspot", false}}}}), 0));
  EXPECT_FALSE(s->Keep(Trace(Id(3), {{.attrs = {{"agentring.hotspot", std::string("true")}}}}), 0));
  auto p = std::make_shared<ProcessInfo>();
  p->resource = {{"agentring.hotspot", "true"}};
  EXPECT_TRUE(s->Keep(Trace(Id(4), {{.process = p}}), 0));

  auto inv = Make(
      Policy("{name: not-synthetic, type: boolean_attribute, boolean_attribute: {key: synthetic, "
             "value: true, invert_match: true}}"));
  EXPECT_FALSE(inv->Keep(Trace(Id(5), {{.attrs = {{"synthetic", true}}}}), 0));
  EXPECT_TRUE(inv->Keep(Trace(Id(6), {{.attrs = {{"synthetic", false}}}}), 0));
}

TEST(TailSampler, SpanCount) {
  auto s = Make(Policy("{name: mid, type: span_count, span_count: {min_spans: 2, max_spans: 3}}"));
  EXPECT_FALSE(s->Keep(Spans(Id(1), 1), 0));
  EXPECT_TRUE(s->Keep(Spans(Id(2), 2), 0));
  EXPECT_TRUE(s->Keep(Spans(Id(3), 3), 0));
  EXPECT_FALSE(s->Keep(Spans(Id(4), 4), 0));
  auto open = Make(Policy("{name: big, type: span_count, span_count: {min_spans: 3}}"));
  EXPECT_TRUE(open->Keep(Spans(Id(5), 1000), 0));
  EXPECT_FALSE(open->Keep(Spans(Id(6), 2), 0));
}

TEST(TailSampler, RateLimitingIsATokenBucketOnTheInjectedClock) {
  // 10 spans/s: the bucket holds 20 spans and starts full.
  auto s = Make(Policy("{name: cap, type: rate_limiting, rate_limiting: {spans_per_second: 10}}"));
  uint64_t t = 1000 * kSec;
  EXPECT_TRUE(s->Keep(Spans(Id(1), 15), t));  // 5 left
  EXPECT_FALSE(s->Keep(Spans(Id(2), 6), t));  // does not fit; takes nothing
  EXPECT_TRUE(s->Keep(Spans(Id(3), 5), t));   // 0 left
  EXPECT_FALSE(s->Keep(Spans(Id(4), 1), t));
  t += kSec / 2;  // +5 spans
  EXPECT_TRUE(s->Keep(Spans(Id(5), 5), t));
  EXPECT_FALSE(s->Keep(Spans(Id(6), 1), t));
  t += 100 * kSec;  // refills to 20, not more
  EXPECT_TRUE(s->Keep(Spans(Id(7), 20), t));
  EXPECT_FALSE(s->Keep(Spans(Id(8), 1), t));
  t += 1000 * kSec;
  EXPECT_FALSE(s->Keep(Spans(Id(9), 21), t));  // more than the bucket: never
  EXPECT_TRUE(s->Keep(Spans(Id(10), 1), t));
  EXPECT_EQ(s->stats().spans_kept, 15u + 5 + 5 + 20 + 1);
  EXPECT_EQ(s->stats().spans_sampled_out, 6u + 1 + 1 + 1 + 21);
}

TEST(TailSampler, AndNeedsEverySubPolicy) {
  auto s = Make(
      "policies:\n"
      "  - name: costly-errors\n"
      "    type: and\n"
      "    and:\n"
      "      and_sub_policy:\n"
      "        - {name: big, type: numeric_attribute, numeric_attribute: "
      "{key: gen_ai.usage.input_tokens, min_value: 50001}}\n"
      "        - {name: failed, type: status_code, status_code: {status_codes: [ERROR]}}\n");
  SpanSpec big{.attrs = {{"gen_ai.usage.input_tokens", int64_t{60000}}}};
  SpanSpec err{.status = SpanStatus::kError};
  EXPECT_TRUE(s->Keep(Trace(Id(1), {big, err}), 0));  // on different spans: a trace property
  EXPECT_FALSE(s->Keep(Trace(Id(2), {big}), 0));
  EXPECT_FALSE(s->Keep(Trace(Id(3), {err}), 0));
}

TEST(TailSampler, CompositeAllocatesSpansPerSecondInPolicyOrder) {
  auto s = Make(
      "policies:\n"
      "  - name: budget\n"
      "    type: composite\n"
      "    composite:\n"
      "      max_total_spans_per_second: 10\n"
      "      policy_order: [gold, rest]\n"
      "      composite_sub_policy:\n"
      "        - {name: rest, type: always_sample}\n"
      "        - {name: gold, type: string_attribute, string_attribute: {key: tier, "
      "values: [gold]}}\n"
      "      rate_allocation:\n"
      "        - {policy: gold, percent: 60}\n"
      "        - {policy: rest, percent: 40}\n");
  SpanSpec gold{.attrs = {{"tier", std::string("gold")}}};
  auto gold3 = [&](uint64_t n) { return Trace(Id(n), {gold, {}, {}}); };
  uint64_t t = 7 * kSec;
  EXPECT_TRUE(s->Keep(gold3(1), t));              // gold: 3 of 6
  EXPECT_TRUE(s->Keep(gold3(2), t + 1));          // gold: 6 of 6
  EXPECT_FALSE(s->Keep(gold3(3), t + 2));         // gold said yes first: over its budget, so no
  EXPECT_TRUE(s->Keep(Spans(Id(4), 4), t + 3));   // rest: 4 of 4
  EXPECT_FALSE(s->Keep(Spans(Id(5), 1), t + 4));  // rest: over
  t += kSec;                                      // a new second: budgets reset
  EXPECT_TRUE(s->Keep(gold3(6), t));
  EXPECT_TRUE(s->Keep(Spans(Id(7), 4), t));

  // policy_order decides who is asked first: with rest first, gold traces use rest's budget.
  auto rest_first = Make(
      "policies:\n"
      "  - name: budget\n"
      "    type: composite\n"
      "    composite:\n"
      "      max_total_spans_per_second: 10\n"
      "      policy_order: [rest, gold]\n"
      "      composite_sub_policy:\n"
      "        - {name: gold, type: string_attribute, string_attribute: {key: tier, "
      "values: [gold]}}\n"
      "        - {name: rest, type: always_sample}\n"
      "      rate_allocation: [{policy: gold, percent: 60}, {policy: rest, percent: 40}]\n");
  EXPECT_TRUE(rest_first->Keep(gold3(8), t));   // rest: 3 of 4
  EXPECT_FALSE(rest_first->Keep(gold3(9), t));  // rest: 6 > 4

  // A sub-policy without an allocation gets none (as in the Collector).
  auto unallocated = Make(
      "policies:\n"
      "  - name: c\n"
      "    type: composite\n"
      "    composite:\n"
      "      max_total_spans_per_second: 100\n"
      "      composite_sub_policy: [{name: all, type: always_sample}]\n");
  EXPECT_FALSE(unallocated->Keep(Spans(Id(10), 1), t));
}

// ---- combining decisions (the Collector's rules) --------------------------------------------

TEST(TailSampler, InvertNotSampledBeatsSampled) {
  auto s = Make(
      "policies:\n"
      "  - {name: all, type: always_sample}\n"
      "  - {name: not-test, type: string_attribute, string_attribute: {key: env, values: [test], "
      "invert_match: true}}\n");
  EXPECT_FALSE(s->Keep(Trace(Id(1), {{.attrs = {{"env", std::string("test")}}}}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {{.attrs = {{"env", std::string("prod")}}}}), 0));
  auto counts = s->policy_counts();
  EXPECT_EQ(counts[0].sampled, 2u);  // always_sample said Sampled both times
  EXPECT_EQ(counts[1].sampled, 1u);  // InvertSampled once
}

TEST(TailSampler, InvertSampledKeepsOnlyWithoutANotSampled) {
  auto s = Make(
      "policies:\n"
      "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n"
      "  - {name: not-test, type: string_attribute, string_attribute: {key: env, values: [test], "
      "invert_match: true}}\n");
  // InvertSampled + NotSampled -> drop; InvertSampled + Sampled -> keep.
  EXPECT_FALSE(s->Keep(Trace(Id(1), {{}}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {{.status = SpanStatus::kError}}), 0));
  // Alone, InvertSampled keeps.
  auto alone = Make(Policy(
      "{name: not-test, type: string_attribute, string_attribute: {key: env, values: [test], "
      "invert_match: true}}"));
  EXPECT_TRUE(alone->Keep(Trace(Id(3), {{}}), 0));
}

TEST(TailSampler, AnySampledKeepsAndNothingDrops) {
  auto s = Make(
      "policies:\n"
      "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n"
      "  - {name: slow, type: latency, latency: {threshold_ms: 100}}\n");
  EXPECT_TRUE(s->Keep(Trace(Id(1), {{0, 500}}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {{.status = SpanStatus::kError}}), 0));
  EXPECT_FALSE(s->Keep(Trace(Id(3), {{0, 5}}), 0));
  EXPECT_EQ(s->stats().traces_kept, 2u);
  EXPECT_EQ(s->stats().traces_dropped, 1u);
}

TEST(TailSampler, SampleOnFirstMatchStopsEvaluating) {
  const char* policies =
      "  - {name: all, type: always_sample}\n"
      "  - {name: cap, type: rate_limiting, rate_limiting: {spans_per_second: 1}}\n";
  auto first = Make(std::string("sample_on_first_match: true\npolicies:\n") + policies);
  auto every = Make(std::string("policies:\n") + policies);
  for (uint64_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(first->Keep(Spans(Id(i), 1), 0));
    EXPECT_TRUE(every->Keep(Spans(Id(i), 1), 0));
  }
  EXPECT_EQ(first->policy_counts()[1].sampled, 0u);  // never asked
  EXPECT_EQ(every->policy_counts()[1].sampled, 2u);  // asked: a bucket of 2 spans
}

// ---- late parts and the decision cache ------------------------------------------------------

TEST(TailSampler, LatePartsFollowTheCachedDecision) {
  auto s = Make(Policy("{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}"));
  SpanSpec err{.status = SpanStatus::kError};
  // Kept trace: its late part has no error and is kept.
  EXPECT_TRUE(s->Keep(Trace(Id(1), {{}, err}), 0));
  EXPECT_TRUE(s->Keep(Spans(Id(1), 2, /*late=*/true), 0));
  // Dropped trace: its late part holds an error and is still dropped, and counted.
  EXPECT_FALSE(s->Keep(Spans(Id(2), 3), 0));
  EXPECT_FALSE(s->Keep(Trace(Id(2), {err, {}}, /*late=*/true), 0));
  // A late part of a trace never seen is decided on what it holds.
  EXPECT_TRUE(s->Keep(Trace(Id(3), {err}, /*late=*/true), 0));
  EXPECT_TRUE(s->Keep(Spans(Id(3), 1, /*late=*/true), 0));  // and that decision is cached

  const TailSamplerStats& st = s->stats();
  EXPECT_EQ(st.traces_kept, 1u);
  EXPECT_EQ(st.traces_dropped, 1u);
  EXPECT_EQ(st.late_batches_kept, 3u);
  EXPECT_EQ(st.late_batches_dropped, 1u);
  EXPECT_EQ(st.late_undecided, 1u);
  EXPECT_EQ(st.spans_kept, 2u + 2 + 1 + 1);
  EXPECT_EQ(st.spans_sampled_out, 3u + 2);
  EXPECT_EQ(s->cached_decisions(), 3u);
}

TEST(TailSampler, DecisionCacheEvictsLeastRecentlyUsed) {
  auto s = Make("num_traces: 2\n" +
                Policy("{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}"));
  SpanSpec err{.status = SpanStatus::kError};
  EXPECT_TRUE(s->Keep(Trace(Id(1), {err}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {err}), 0));
  EXPECT_TRUE(s->Keep(Spans(Id(1), 1, true), 0));  // touches 1: 2 is now least recently used
  EXPECT_TRUE(s->Keep(Trace(Id(3), {err}), 0));    // evicts 2
  EXPECT_EQ(s->stats().decisions_evicted, 1u);
  EXPECT_EQ(s->cached_decisions(), 2u);
  // 1 is still cached: its error-free late part is kept. 2 was evicted: its error-free late part
  // is decided afresh, and dropped.
  EXPECT_TRUE(s->Keep(Spans(Id(1), 1, true), 0));
  EXPECT_FALSE(s->Keep(Spans(Id(2), 1, true), 0));
  EXPECT_EQ(s->stats().late_undecided, 1u);
}

TEST(TailSampler, DecisionCacheSizesPerOutcome) {
  // Kept decisions: room for 1; dropped ones: the default (num_traces).
  auto s = Make("num_traces: 100\ndecision_cache: {sampled_cache_size: 1}\n" +
                Policy("{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}"));
  SpanSpec err{.status = SpanStatus::kError};
  EXPECT_TRUE(s->Keep(Trace(Id(1), {err}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {err}), 0));  // evicts 1
  for (uint64_t i = 10; i < 20; ++i) EXPECT_FALSE(s->Keep(Spans(Id(i), 1), 0));
  EXPECT_EQ(s->stats().decisions_evicted, 1u);
  EXPECT_EQ(s->cached_decisions(), 11u);
}

// ---- probabilistic --------------------------------------------------------------------------

// FNV-1a 64, written again here from its definition (not from the sampler's code).
uint64_t Fnv1a(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string IdBytes(const TraceId& id) {
  std::string b;
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<char>(id.hi >> (8 * i)));
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<char>(id.lo >> (8 * i)));
  return b;
}

TEST(TailSampler, ProbabilisticHashIsTheCollectorsFnv1a) {
  // Published FNV-1a 64 test vectors check the reference implementation above.
  EXPECT_EQ(Fnv1a(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv1a("foobar"), 0x85944171f73967e8ull);
  const TraceId id{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
  EXPECT_EQ(ProbabilisticHash("salt", id), Fnv1a("salt" + IdBytes(id)));
  EXPECT_EQ(ProbabilisticHash("", id), Fnv1a("default-hash-seed" + IdBytes(id)));
  EXPECT_EQ(ProbabilisticThreshold(0), 0u);
  EXPECT_EQ(ProbabilisticThreshold(100), UINT64_MAX);
  EXPECT_EQ(ProbabilisticThreshold(250), UINT64_MAX);
  // (2^64-1) * 0.5 = 2^63 - 0.5 exactly (64 significant bits), truncated as big.Float.Uint64 does.
  EXPECT_EQ(ProbabilisticThreshold(50), (1ull << 63) - 1);
}

TEST(TailSampler, ProbabilisticRatioWithinBinomialBounds) {
  auto s =
      Make(Policy("{name: tenth, type: probabilistic, probabilistic: {sampling_percentage: 10}}"));
  auto salted =
      Make(Policy("{name: tenth, type: probabilistic, probabilistic: {hash_salt: other, "
                  "sampling_percentage: 10}}"));
  std::mt19937_64 rng(20260522);
  constexpr int kN = 20000;
  int kept = 0, both = 0;
  const uint64_t threshold = ProbabilisticThreshold(10);
  for (int i = 0; i < kN; ++i) {
    TraceId id{rng(), rng()};
    bool k = s->Keep(Spans(id, 1), 0);
    EXPECT_EQ(k, ProbabilisticHash("", id) <= threshold);
    kept += k;
    both += k && salted->Keep(Spans(id, 1), 0);
  }
  // Binomial(20000, 0.1): mean 2000, sd 42.4; +-6 sd cannot fail by chance in practice (1e-9).
  EXPECT_GT(kept, 2000 - 255);
  EXPECT_LT(kept, 2000 + 255);
  // Another salt picks an independent 10%: about 1% of all ids are in both (sd 14).
  EXPECT_GT(both, 200 - 85);
  EXPECT_LT(both, 200 + 85);
  // Deterministic per trace id: a new sampler gives the same answers.
  auto again =
      Make(Policy("{name: tenth, type: probabilistic, probabilistic: {sampling_percentage: 10}}"));
  std::mt19937_64 replay(20260522);
  int kept_again = 0;
  for (int i = 0; i < kN; ++i) kept_again += again->Keep(Spans(TraceId{replay(), replay()}, 1), 0);
  EXPECT_EQ(kept_again, kept);
}

// ---- the issue's scenario -------------------------------------------------------------------

TEST(TailSampler, ErrorsPlusTenPercentKeepsExactlyThatSetAndCountsTheRest) {
  auto s = Make(
      "decision_wait: 10s\n"
      "num_traces: 100000\n"
      "policies:\n"
      "  - name: errors\n"
      "    type: status_code\n"
      "    status_code: {status_codes: [ERROR]}\n"
      "  - name: ten-percent\n"
      "    type: probabilistic\n"
      "    probabilistic: {sampling_percentage: 10}\n");
  std::mt19937_64 rng(4);
  const uint64_t threshold = ProbabilisticThreshold(10);
  std::set<std::pair<uint64_t, uint64_t>> expected, got;
  uint64_t spans_in = 0, spans_out_expected = 0, errors = 0, plain_kept = 0;
  constexpr int kTraces = 5000;
  for (int i = 0; i < kTraces; ++i) {
    TraceId id{rng(), rng()};
    const size_t n = 1 + rng() % 6;
    const bool error = rng() % 5 == 0;
    std::vector<SpanSpec> specs(n);
    if (error) specs[rng() % n].status = SpanStatus::kError;
    const bool want = error || ProbabilisticHash("", id) <= threshold;
    spans_in += n;
    if (want)
      expected.insert({id.hi, id.lo});
    else
      spans_out_expected += n;
    errors += error;
    plain_kept += want && !error;
    if (s->Keep(Trace(id, std::move(specs)), 0)) got.insert({id.hi, id.lo});
    // Every fourth trace has a late part (with an error half of the time): it follows.
    if (i % 4 == 0) {
      std::vector<SpanSpec> late(2);
      if (rng() % 2) late[0].status = SpanStatus::kError;
      spans_in += 2;
      if (!want) spans_out_expected += 2;
      EXPECT_EQ(s->Keep(Trace(id, std::move(late), /*late=*/true), 0), want);
    }
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(s->stats().spans_sampled_out, spans_out_expected);
  EXPECT_EQ(s->stats().spans_kept + s->stats().spans_sampled_out, spans_in);
  EXPECT_EQ(s->stats().traces_kept + s->stats().traces_dropped, uint64_t{kTraces});
  EXPECT_EQ(s->stats().late_undecided, 0u);
  EXPECT_EQ(s->policy_counts()[0].sampled, errors);
  // About 10% of the error-free traces (binomial, +-6 sd).
  const double plain = kTraces - static_cast<double>(errors);
  EXPECT_NEAR(static_cast<double>(plain_kept), plain * 0.1, 6 * std::sqrt(plain * 0.09));
  EXPECT_EQ(s->decision_wait_ns(), 10 * kSec);
}

// ---- configuration --------------------------------------------------------------------------

TEST(TailSampler, PastedCollectorConfigParses) {
  // A processors.tail_sampling block in the style of the Collector's README, with the policy
  // types this reader implements (flow and block style mixed, as people write them).
  const char* collector = R"(
decision_wait: 10s
num_traces: 100
expected_new_traces_per_sec: 10
decision_cache:
  sampled_cache_size: 100000
  non_sampled_cache_size: 100000
policies:
  [
    { name: test-policy-1, type: always_sample },
    { name: test-policy-2, type: latency, latency: { threshold_ms: 5000, upper_threshold_ms: 10000 } },
    { name: test-policy-3, type: numeric_attribute, numeric_attribute: { key: key1, min_value: 50, max_value: 100 } },
    { name: test-policy-4, type: probabilistic, probabilistic: { sampling_percentage: 10 } },
    { name: test-policy-5, type: status_code, status_code: { status_codes: [ERROR, UNSET] } },
    { name: test-policy-6, type: string_attribute, string_attribute: { key: key2, values: [value1, value2] } },
    { name: test-policy-7, type: string_attribute,
      string_attribute: { key: key2, values: [value1, val*], enabled_regex_matching: true, cache_max_size: 10 } },
    { name: test-policy-8, type: rate_limiting, rate_limiting: { spans_per_second: 35 } },
    { name: test-policy-9, type: string_attribute,
      string_attribute: { key: http.url, values: [\/health, \/metrics], enabled_regex_matching: true, invert_match: true } },
    { name: test-policy-10, type: span_count, span_count: { min_spans: 2, max_spans: 20 } },
    { name: test-policy-11, type: boolean_attribute, boolean_attribute: { key: key4, value: true } },
    {
      name: and-policy-1,
      type: and,
      and: {
        and_sub_policy: [
          { name: test-and-policy-1, type: numeric_attribute, numeric_attribute: { key: key1, min_value: 50, max_value: 100 } },
          { name: test-and-policy-2, type: string_attribute, string_attribute: { key: key2, values: [value1, value2] } },
        ]
      }
    },
    {
      name: composite-policy-1,
      type: composite,
      composite: {
        max_total_spans_per_second: 1000,
        policy_order: [test-composite-policy-1, test-composite-policy-2, test-composite-policy-3],
        composite_sub_policy: [
          { name: test-composite-policy-1, type: numeric_attribute, numeric_attribute: { key: key1, min_value: 50, max_value: 100 } },
          { name: test-composite-policy-2, type: string_attribute, string_attribute: { key: key2, values: [value1, value2] } },
          { name: test-composite-policy-3, type: always_sample }
        ],
        rate_allocation: [
          { policy: test-composite-policy-1, percent: 50 },
          { policy: test-composite-policy-2, percent: 25 }
        ]
      }
    },
  ]
)";
  auto s = Make(collector);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->policy_counts().size(), 13u);
  EXPECT_EQ(s->policy_counts()[12].name, "composite-policy-1");
  EXPECT_EQ(s->decision_wait_ns(), 10 * kSec);
  // test-policy-9 (inverted) drops a health check even though test-policy-1 samples everything.
  EXPECT_FALSE(s->Keep(Trace(Id(1), {{.attrs = {{"http.url", std::string("/health")}}}}), 0));
  EXPECT_TRUE(s->Keep(Trace(Id(2), {{.attrs = {{"http.url", std::string("/chat")}}}}), 0));
}

TEST(TailSampler, DecisionWait) {
  EXPECT_EQ(Make(Policy("{name: a, type: always_sample}"))->decision_wait_ns(), 0u);
  EXPECT_EQ(
      Make("decision_wait: 1m30s\n" + Policy("{name: a, type: always_sample}"))->decision_wait_ns(),
      90 * kSec);
  EXPECT_EQ(
      Make("decision_wait: 1.5s\n" + Policy("{name: a, type: always_sample}"))->decision_wait_ns(),
      1500 * kMs);
  EXPECT_EQ(
      Make("decision_wait: 300us\n" + Policy("{name: a, type: always_sample}"))->decision_wait_ns(),
      300'000u);
  // The Collector's root-based wait is ours; it wins over decision_wait.
  EXPECT_EQ(Make("decision_wait: 30s\ndecision_wait_after_root_received: 2s\n" +
                 Policy("{name: a, type: always_sample}"))
                ->decision_wait_ns(),
            2 * kSec);
}

TEST(TailSampler, ConfigErrorsNameTheFieldAndTheLine) {
  EXPECT_EQ(ErrorOf("decision_wiat: 10s\n" + Policy("{name: a, type: always_sample}")),
            "line 1 column 1: tail_sampling: unknown key 'decision_wiat' (expected one of: "
            "decision_wait, decision_wait_after_root_received, num_traces, "
            "expected_new_traces_per_sec, sample_on_first_match, decision_cache, "
            "block_on_overflow, drop_pending_traces_on_shutdown, policies)");
  EXPECT_EQ(ErrorOf("decision_wait: 10\n" + Policy("{name: a, type: always_sample}")),
            "line 1 column 16: tail_sampling.decision_wait: expected a duration like 10s, 500ms "
            "or 1m30s, got '10'");
  EXPECT_EQ(ErrorOf("policies:\n"
                    "  - name: errors\n"
                    "    type: status_code\n"
                    "    status_code:\n"
                    "      status_codes: [ERROR, ERR]\n"),
            "line 5 column 29: tail_sampling.policies[0] (errors).status_code.status_codes[1]: "
            "unknown status code 'ERR' (expected ERROR, OK or UNSET)");
  EXPECT_EQ(ErrorOf("num_traces: 10\n"),
            "line 1 column 1: tail_sampling: missing 'policies' (a list of policies)");

  struct Case {
    std::string yaml;
    std::string expected;  // a part of the message
  } cases[] = {
      {"policies: []", "tail_sampling.policies: expected a non-empty list of policies"},
      {Policy("{type: always_sample}"), "tail_sampling.policies[0]: missing 'name'"},
      {Policy("{name: x, type: sometimes}"),
       "policies[0] (x).type: unknown policy type 'sometimes' (supported: always_sample, "},
      {Policy("{name: x, type: ottl_condition, ottl_condition: {span: []}}"),
       "policy type 'ottl_condition' is not supported by agentring-reader"},
      {Policy("{name: x, type: latency}"), "policy of type latency needs a 'latency' block"},
      {Policy("{name: x, type: latency, latency: {threshold_ms: 5}, numeric_attribute: {}}"),
       "a 'numeric_attribute' block does not apply to a policy of type latency"},
      {Policy("{name: x, type: latency, latency: {treshold_ms: 5}}"),
       "(x).latency: unknown key 'treshold_ms' (expected one of: threshold_ms, "
       "upper_threshold_ms)"},
      {Policy("{name: x, type: latency, latency: {threshold_ms: fast}}"),
       "(x).latency.threshold_ms: expected an integer, got 'fast'"},
      {Policy("{name: x, type: latency, latency: {threshold_ms: 500, upper_threshold_ms: 100}}"),
       "upper_threshold_ms: must be greater than threshold_ms"},
      {Policy("{name: x, type: probabilistic, probabilistic: {sampling_percentage: -1}}"),
       "sampling_percentage: must be between 0 and 100"},
      {Policy("{name: x, type: string_attribute, string_attribute: {key: k, values: ['('],"
              " enabled_regex_matching: true}}"),
       "(x).string_attribute.values[0]: invalid regex '('"},
      {Policy("{name: x, type: string_attribute, string_attribute: {values: [a]}}"),
       "(x).string_attribute: missing 'key'"},
      {Policy("{name: x, type: string_attribute, string_attribute: {key: k, values: a}}"),
       "(x).string_attribute.values: expected a list, got 'a'"},
      {Policy("{name: x, type: numeric_attribute, numeric_attribute: {key: k}}"),
       "needs min_value, max_value or both"},
      {Policy("{name: x, type: numeric_attribute, numeric_attribute: {key: k, min_value: 5, "
              "max_value: 1}}"),
       "max_value: is less than min_value"},
      {Policy("{name: x, type: boolean_attribute, boolean_attribute: {key: k, value: maybe}}"),
       "(x).boolean_attribute.value: expected true or false, got 'maybe'"},
      {Policy("{name: x, type: rate_limiting, rate_limiting: {spans_per_second: 0}}"),
       "spans_per_second: '0' is out of range [1, 1000000000]"},
      {"policies:\n  - {name: x, type: always_sample}\n  - {name: x, type: always_sample}\n",
       "tail_sampling.policies[1]: duplicate policy name 'x'"},
      {Policy("{name: c, type: composite, composite: {max_total_spans_per_second: 10, "
              "policy_order: [a, b], composite_sub_policy: [{name: a, type: always_sample}]}}"),
       "(c).composite.policy_order[1]: no composite_sub_policy is named 'b'"},
      {Policy("{name: c, type: composite, composite: {max_total_spans_per_second: 10, "
              "composite_sub_policy: [{name: a, type: composite, composite: {}}]}}"),
       "policy type 'composite' cannot be nested here"},
      {Policy("{name: c, type: composite, composite: {max_total_spans_per_second: 10, "
              "composite_sub_policy: [{name: a, type: always_sample}], "
              "rate_allocation: [{policy: z, percent: 10}]}}"),
       "rate_allocation[0].policy: no composite_sub_policy is named 'z'"},
      {Policy("{name: a, type: and, and: {and_sub_policy: [{name: b, type: and, and: {}}]}}"),
       "policy type 'and' cannot be nested here"},
      {"decision_cache: {sampled_cache: 5}\n" + Policy("{name: a, type: always_sample}"),
       "tail_sampling.decision_cache: unknown key 'sampled_cache'"},
      {"- a\n- b\n", "tail_sampling: expected a mapping, got a list"},
  };
  for (const Case& c : cases) {
    std::string error = ErrorOf(c.yaml);
    EXPECT_NE(error.find(c.expected), std::string::npos)
        << "config:\n"
        << c.yaml << "\nerror: " << error << "\nexpected: " << c.expected;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace agentring::reader
