// Tests for the enrich stage (reader/enrich/): conversation ids (late parts via the cache), the
// pricing table (matching, the shipped JSON file against the built-in copy, bad files), cost,
// cache hit ratio, latency per token, roll-ups across a sub-agent, and the hotspot attribute.
#include "reader/enrich/enricher.h"

#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "agentring/agentring.hpp"
#include "reader/enrich/pricing.h"
#include "reader/enrich/trace_tree.h"
#include "reader/export/tree_exporter.h"

namespace agentring::reader {
namespace {

constexpr TraceId kTrace{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
constexpr uint64_t kMs = 1'000'000ull;
constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;

std::unique_ptr<SpanData> Span(uint64_t id, uint64_t parent, Kind kind, uint64_t start_ms,
                               uint64_t dur_ms, std::vector<Attribute> attrs = {},
                               TraceId trace = kTrace) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = trace;
  s->span_id = id;
  s->parent_span_id = parent;
  s->name = "span" + std::to_string(id);
  s->kind = static_cast<uint8_t>(kind);
  s->start_unix_ns = kT0 + start_ms * kMs;
  s->end_unix_ns = s->start_unix_ns + dur_ms * kMs;
  s->ended = true;
  s->attributes = std::move(attrs);
  return s;
}

std::vector<Attribute> Llm(const char* model, int64_t in, int64_t out) {
  return {{"gen_ai.request.model", std::string(model)},
          {"gen_ai.usage.input_tokens", in},
          {"gen_ai.usage.output_tokens", out}};
}

std::unique_ptr<Enricher> MakeEnricher(Enricher::Options opts = {}) {
  // The built-in table unless a test names a file: the environment must not leak in.
  unsetenv(kPricingEnvVar);
  // Without a path, a checkout's pricing/pricing.json next to the binary may be found: it is the
  // same table as the built-in one (ShippedJsonFileMatchesTheBuiltinTable).
  std::string error;
  auto e = Enricher::Create(opts, &error);
  EXPECT_NE(e, nullptr) << error;
  return e;
}

const SpanData* ById(const TraceBatch& b, uint64_t id) {
  for (const auto& s : b.spans)
    if (s->span_id == id) return s.get();
  return nullptr;
}

std::optional<double> Dbl(const SpanData* s, std::string_view key) {
  const AttrValue* v = s->Find(key);
  if (!v || !std::holds_alternative<double>(*v)) return std::nullopt;
  return std::get<double>(*v);
}

std::optional<int64_t> Int(const SpanData* s, std::string_view key) {
  const AttrValue* v = s->Find(key);
  if (!v || !std::holds_alternative<int64_t>(*v)) return std::nullopt;
  return std::get<int64_t>(*v);
}

std::optional<std::string> Str(const SpanData* s, std::string_view key) {
  const AttrValue* v = s->Find(key);
  if (!v || !std::holds_alternative<std::string>(*v)) return std::nullopt;
  return std::get<std::string>(*v);
}

int CountKey(const SpanData* s, std::string_view key) {
  int n = 0;
  for (const Attribute& a : s->attributes) n += a.key == key;
  return n;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name + "_" + std::to_string(getpid()) + ".json";
  std::ofstream(path) << text;
  return path;
}

// ---- conversation ids ----

TEST(EnrichConversation, RunsIdIsStampedOnEverySpanThatLacksIt) {
  auto e = MakeEnricher();
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(
      Span(1, 0, Kind::kRun, 0, 100, {{"gen_ai.conversation.id", std::string("c1")}}));
  b.spans.push_back(Span(2, 1, Kind::kTurn, 1, 50));
  b.spans.push_back(Span(3, 2, Kind::kLlm, 2, 10));
  // A sub-agent that records its own agent.conversation_id keeps it.
  b.spans.push_back(
      Span(4, 2, Kind::kSubagent, 20, 10, {{"agent.conversation_id", std::string("sub")}}));
  e->Process(&b);
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(Str(ById(b, id), kConversationIdKey), "c1") << id;
    EXPECT_EQ(Str(ById(b, id), kAgentConversationIdKey), "c1") << id;
  }
  EXPECT_EQ(Str(ById(b, 4), kAgentConversationIdKey), "sub");
  EXPECT_EQ(Str(ById(b, 4), kConversationIdKey), "c1");
  EXPECT_EQ(CountKey(ById(b, 1), kConversationIdKey), 1);
  EXPECT_EQ(e->stats().conversations_stamped.load(), 4u);  // 1 gets its twin, 2-4 the rest
}

TEST(EnrichConversation, RunBeatsOtherSpansAndAgentKeyAloneSetsBoth) {
  auto e = MakeEnricher();
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(Span(1, 0, Kind::kCustom, 0, 100));
  b.spans.push_back(
      Span(2, 1, Kind::kTool, 1, 10, {{"agent.conversation_id", std::string("from-tool")}}));
  b.spans.push_back(
      Span(3, 1, Kind::kRun, 20, 50, {{"agent.conversation_id", std::string("from-run")}}));
  e->Process(&b);
  EXPECT_EQ(Str(ById(b, 1), kConversationIdKey), "from-run");
  EXPECT_EQ(Str(ById(b, 1), kAgentConversationIdKey), "from-run");
  EXPECT_EQ(Str(ById(b, 3), kConversationIdKey), "from-run");
  EXPECT_EQ(Str(ById(b, 2), kAgentConversationIdKey), "from-tool");
}

TEST(EnrichConversation, LatePartsAreStampedFromTheBoundedCache) {
  Enricher::Options opts;
  opts.conversation_cache_entries = 2;
  auto e = MakeEnricher(opts);
  auto first_part = [&](TraceId t, const char* id) {
    TraceBatch b;
    b.trace_id = t;
    b.spans.push_back(
        Span(1, 0, Kind::kRun, 0, 100, {{"gen_ai.conversation.id", std::string(id)}}, t));
    e->Process(&b);
  };
  auto late_part = [&](TraceId t) {
    TraceBatch b;
    b.trace_id = t;
    b.late = true;
    b.spans.push_back(Span(9, 1, Kind::kTool, 150, 10, {}, t));
    e->Process(&b);
    return Str(b.spans[0].get(), kConversationIdKey);
  };
  const TraceId a{1, 1}, b{2, 2}, c{3, 3}, unknown{4, 4};
  first_part(a, "conv-a");
  EXPECT_EQ(late_part(a), "conv-a");
  EXPECT_EQ(late_part(unknown), std::nullopt);
  first_part(b, "conv-b");
  first_part(c, "conv-c");  // evicts a (FIFO, 2 entries)
  EXPECT_EQ(late_part(a), std::nullopt);
  EXPECT_EQ(late_part(b), "conv-b");
  EXPECT_EQ(late_part(c), "conv-c");
}

// ---- pricing table ----

TEST(EnrichPricing, MatchesExactThenLongestNameWithAVersionSuffix) {
  auto t = PricingTable::Builtin();
  auto price_of = [&](const char* model) -> std::optional<double> {
    const ModelPrice* p = t->Find(model);
    return p ? std::optional<double>(p->input_per_mtok) : std::nullopt;
  };
  EXPECT_EQ(price_of("gpt-4o"), 2.50);
  EXPECT_EQ(price_of("GPT-4o-2024-08-06"), 2.50);
  EXPECT_EQ(price_of("gpt-4o-2024-05-13"), 5.00);  // its own (older, dearer) entry
  EXPECT_EQ(price_of("gpt-4o-mini"), 0.15);
  EXPECT_EQ(price_of("gpt-4o-mini-2024-07-18"), 0.15);
  EXPECT_EQ(price_of("o3-mini-2025-01-31"), 1.10);
  EXPECT_EQ(price_of("claude-sonnet-4-20250514"), 3.00);
  EXPECT_EQ(price_of("claude-opus-4-5-20251101"), 5.00);
  EXPECT_EQ(price_of("claude-3-5-haiku-latest"), 0.80);
  EXPECT_EQ(price_of("claude-3-5-haiku@20241022"), 0.80);
  EXPECT_EQ(price_of("gemini-2.0-flash-001"), 0.10);
  EXPECT_EQ(price_of("mistral-large-2411"), 2.00);
  EXPECT_EQ(price_of("llama3.1:70b-instruct-q4_K_M"), 0.0);
  EXPECT_EQ(price_of("openai/gpt-4.1"), 2.00);
  EXPECT_EQ(price_of("sentence-transformers/all-MiniLM-L6-v2"), 0.0);
  // A different model that merely starts with a known name is unknown, not its sibling's price.
  EXPECT_EQ(price_of("gpt-4o-realtime-preview"), std::nullopt);
  EXPECT_EQ(price_of("claude-opus-4-7"), std::nullopt);
  EXPECT_EQ(price_of("gemini-2.0-flash-exp"), std::nullopt);
  EXPECT_EQ(price_of("gpt-4"), std::nullopt);
  EXPECT_EQ(price_of("o3-pro"), std::nullopt);
  EXPECT_EQ(price_of("my-finetune"), std::nullopt);
  EXPECT_EQ(price_of(""), std::nullopt);
  EXPECT_EQ(t->Find("gpt-4o-2024-05-13")->cached_input_per_mtok, 5.00);  // not discounted
}

TEST(EnrichPricing, ShippedJsonFileMatchesTheBuiltinTable) {
  const std::string path = std::string(AGENTRING_SOURCE_DIR) + "/pricing/pricing.json";
  std::string error;
  auto file = PricingTable::TryLoadFile(path, &error);
  ASSERT_NE(file, nullptr) << error;
  auto builtin = PricingTable::Builtin();
  EXPECT_EQ(file->version(), builtin->version());
  ASSERT_EQ(file->models().size(), builtin->models().size());
  for (const auto& [name, p] : builtin->models()) {
    auto it = file->models().find(name);
    ASSERT_NE(it, file->models().end()) << name << " is built in but not in " << path;
    // Boost.JSON 1.81 may convert decimal text one ulp off.
    EXPECT_DOUBLE_EQ(it->second.input_per_mtok, p.input_per_mtok) << name;
    EXPECT_DOUBLE_EQ(it->second.output_per_mtok, p.output_per_mtok) << name;
    EXPECT_DOUBLE_EQ(it->second.cached_input_per_mtok, p.cached_input_per_mtok) << name;
  }
  for (const char* required : {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "claude-sonnet-4",
                               "claude-3-5-haiku", "gemini-2.0-flash", "llama3.1",
                               "mistral-large", "text-embedding-3-small", "all-minilm-l6-v2"})
    EXPECT_NE(builtin->Find(required), nullptr) << required;
}

TEST(EnrichPricing, BadFilesGiveOneLineSayingWhereAndWhy) {
  struct Case {
    const char* text;
    const char* expected;  // after "pricing PATH: "
  };
  const Case cases[] = {
      {"{\n  \"models\": {\n    \"m\": {\"input\": 1,, \"output\": 2}\n  }\n}",
       "line 3 column 22: syntax error"},
      {"{\"models\": {\"m\": {\"input\": -1, \"output\": 2}}}",
       "models.\"m\".input: expected a non-negative number (USD per 1M tokens)"},
      {"{\"models\": {\"m\": {\"input\": 1, \"ouput\": 2}}}",
       "models.\"m\": unknown field \"ouput\""},
      {"{\"models\": {\"m\": {\"input\": 1}}}", "models.\"m\": missing \"output\""},
      {"{\"models\": {\"M\": {\"input\": 1, \"output\": 1}, \"m\": {\"input\": 1, \"output\": 1}}}",
       "models.\"m\": listed twice"},
      {"{\"currency\": \"EUR\", \"models\": {}}", "currency: only \"USD\" is supported"},
      {"{\"version\": \"x\"}", "missing \"models\""},
      {"[1]", "expected a JSON object at the top level"},
      {"{\"models\": {}", "line 1 column 14: incomplete JSON"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTemp("bad_pricing", c.text);
    Enricher::Options opts;
    opts.pricing_path = path;
    std::string error;
    EXPECT_EQ(Enricher::Create(opts, &error), nullptr) << c.text;
    EXPECT_EQ(error.rfind("pricing " + path + ": " + c.expected, 0), 0u) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    unlink(path.c_str());
  }
  Enricher::Options missing;
  missing.pricing_path = "/nonexistent/pricing.json";
  std::string error;
  EXPECT_EQ(Enricher::Create(missing, &error), nullptr);
  EXPECT_EQ(error, "pricing /nonexistent/pricing.json: cannot read: No such file or directory");
}

TEST(EnrichPricing, FileFromOptionOrEnvironmentReplacesTheDefault) {
  const std::string path = WriteTemp(
      "custom_pricing",
      R"({"_comment": "test", "version": "t1",
          "models": {"House-Model": {"input": 4, "output": 8}}})");
  Enricher::Options opts;
  opts.pricing_path = path;
  std::string error;
  auto e = Enricher::Create(opts, &error);
  ASSERT_NE(e, nullptr) << error;
  EXPECT_EQ(e->pricing_source(), path);
  EXPECT_EQ(e->pricing().version(), "t1");
  EXPECT_EQ(e->pricing().Find("gpt-4o"), nullptr);  // replaced, not merged
  ASSERT_NE(e->pricing().Find("house-model"), nullptr);
  EXPECT_EQ(e->pricing().Find("house-model")->cached_input_per_mtok, 4.0);

  setenv(kPricingEnvVar, path.c_str(), 1);
  e = Enricher::Create({}, &error);
  unsetenv(kPricingEnvVar);
  ASSERT_NE(e, nullptr) << error;
  EXPECT_EQ(e->pricing_source(), path);
  unlink(path.c_str());
}

// ---- per-span derivations ----

TEST(EnrichCost, PricesCachedInputAndDerivesRatioAndLatency) {
  auto e = MakeEnricher();
  TraceBatch b;
  b.trace_id = kTrace;
  auto attrs = Llm("gpt-4o-2024-08-06", 1000, 200);
  attrs.push_back({"gen_ai.usage.cache_read.input_tokens", int64_t{400}});
  b.spans.push_back(Span(1, 0, Kind::kLlm, 0, 2000, attrs));
  e->Process(&b);
  const SpanData* s = ById(b, 1);
  // (600 * 2.50 + 400 * 1.25 + 200 * 10.00) / 1M
  ASSERT_TRUE(Dbl(s, kCostUsdKey));
  EXPECT_NEAR(*Dbl(s, kCostUsdKey), 0.004, 1e-15);
  EXPECT_EQ(Dbl(s, kCostSelfUsdKey), Dbl(s, kCostUsdKey));
  EXPECT_EQ(Dbl(s, kCostTotalUsdKey), Dbl(s, kCostUsdKey));
  EXPECT_DOUBLE_EQ(*Dbl(s, kCacheHitRatioKey), 0.4);
  EXPECT_DOUBLE_EQ(*Dbl(s, kLatencyPerTokenKey), 0.01);  // 2 s / 200 tokens, in seconds
  EXPECT_EQ(e->stats().spans_priced.load(), 1u);
  // Processing again adds nothing twice.
  e->Process(&b);
  EXPECT_EQ(CountKey(s, kCostUsdKey), 1);
  EXPECT_EQ(CountKey(s, kCacheHitRatioKey), 1);
}

TEST(EnrichCost, UnknownModelGetsNoCostButOtherDerivations) {
  auto e = MakeEnricher();
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(Span(1, 0, Kind::kRun, 0, 1000));
  auto attrs = Llm("my-finetune", 100, 10);
  attrs.push_back({"gen_ai.usage.cache_read.input_tokens", int64_t{25}});
  b.spans.push_back(Span(2, 1, Kind::kLlm, 0, 500, attrs));
  // The OpenInference names, and the response model before the request model.
  b.spans.push_back(Span(3, 1, Kind::kLlm, 500, 100,
                         {{"llm.model", std::string("gpt-4o-mini")},
                          {"llm.token_count.prompt", int64_t{1000}},
                          {"llm.token_count.completion", int64_t{100}}}));
  b.spans.push_back(Span(4, 1, Kind::kLlm, 600, 100,
                         {{"gen_ai.response.model", std::string("gpt-4.1-2025-04-14")},
                          {"gen_ai.request.model", std::string("gpt-4o")},
                          {"gen_ai.usage.input_tokens", int64_t{1000}}}));
  e->Process(&b);
  const SpanData* unknown = ById(b, 2);
  EXPECT_EQ(unknown->Find(kCostUsdKey), nullptr);
  EXPECT_EQ(unknown->Find(kCostSelfUsdKey), nullptr);
  EXPECT_EQ(unknown->Find(kCostTotalUsdKey), nullptr);
  EXPECT_DOUBLE_EQ(*Dbl(unknown, kCacheHitRatioKey), 0.25);
  EXPECT_DOUBLE_EQ(*Dbl(unknown, kLatencyPerTokenKey), 0.05);
  EXPECT_NEAR(*Dbl(ById(b, 3), kCostUsdKey), (1000 * 0.15 + 100 * 0.60) / 1e6, 1e-15);
  EXPECT_NEAR(*Dbl(ById(b, 4), kCostUsdKey), 1000 * 2.00 / 1e6, 1e-15);  // gpt-4.1
  EXPECT_EQ(ById(b, 4)->Find(kLatencyPerTokenKey), nullptr);               // no output tokens
  // The run's total is a lower bound and says so.
  const SpanData* run = ById(b, 1);
  EXPECT_NEAR(*Dbl(run, kCostTotalUsdKey), (150 + 60 + 2000) / 1e6, 1e-15);
  EXPECT_EQ(Int(run, kCostUnpricedSpansKey), 1);
  EXPECT_EQ(Int(run, kTokensInputTotalKey), 2100);
  EXPECT_EQ(Int(run, kTokensOutputTotalKey), 110);
  EXPECT_EQ(Int(run, kTokensCacheReadTotalKey), 25);
  EXPECT_EQ(e->stats().spans_priced.load(), 2u);
  EXPECT_EQ(e->stats().spans_unpriced_model.load(), 1u);
}

TEST(EnrichCost, MalformedUsageIsSkippedAndWriterCostIsKept) {
  auto e = MakeEnricher();
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(Span(1, 0, Kind::kRun, 0, 1000));
  auto bad = Llm("gpt-4o", 100, 10);
  bad.push_back({"gen_ai.usage.cache_read.input_tokens", int64_t{101}});  // more than the input
  b.spans.push_back(Span(2, 1, Kind::kLlm, 0, 100, bad));
  b.spans.push_back(Span(3, 1, Kind::kLlm, 100, 100, Llm("gpt-4o", -5, 10)));
  auto own = Llm("gpt-4o", 100, 10);
  own.push_back({"gen_ai.cost_usd", 0.5});
  b.spans.push_back(Span(4, 1, Kind::kLlm, 200, 100, own));
  auto open = Llm("gpt-4o", 100, 10);
  b.spans.push_back(Span(5, 1, Kind::kLlm, 300, 0, open));
  b.spans.back()->end_unix_ns = 0;
  b.spans.back()->ended = false;
  e->Process(&b);
  EXPECT_EQ(ById(b, 2)->Find(kCostUsdKey), nullptr);
  EXPECT_EQ(ById(b, 2)->Find(kCacheHitRatioKey), nullptr);
  EXPECT_EQ(ById(b, 3)->Find(kCostUsdKey), nullptr);
  EXPECT_EQ(e->stats().spans_bad_usage.load(), 2u);
  EXPECT_EQ(CountKey(ById(b, 4), kCostUsdKey), 1);
  EXPECT_EQ(Dbl(ById(b, 4), kCostSelfUsdKey), 0.5);
  EXPECT_EQ(ById(b, 5)->Find(kLatencyPerTokenKey), nullptr);  // still open: no duration
  EXPECT_NE(ById(b, 5)->Find(kCostUsdKey), nullptr);
  EXPECT_NEAR(*Dbl(ById(b, 1), kCostTotalUsdKey), 0.5 + (100 * 2.5 + 10 * 10.0) / 1e6, 1e-15);
}

// ---- roll-ups ----

// run
// └── turn 1 ── llm A (gpt-4o)
//     └── tool ── sub-agent (records its aggregate usage and model itself)
//                 └── turn ── llm B (gpt-4o-mini)
//                          └── wrapper (custom, repeats C's usage) ── llm C (claude-3-5-haiku)
TEST(EnrichRollup, SubAgentCostIsCountedOnceAtEveryLevel) {
  auto e = MakeEnricher();
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(Span(1, 0, Kind::kRun, 0, 10000));
  b.spans.push_back(Span(2, 1, Kind::kTurn, 0, 9000));
  b.spans.push_back(Span(3, 2, Kind::kLlm, 0, 1000, Llm("gpt-4o", 1000, 100)));
  b.spans.push_back(Span(4, 2, Kind::kTool, 1000, 8000));
  auto sub = Llm("gpt-4o", 3000, 300);  // aggregate: must not be priced again
  b.spans.push_back(Span(5, 4, Kind::kSubagent, 1000, 8000, sub));
  b.spans.push_back(Span(6, 5, Kind::kTurn, 1000, 8000));
  b.spans.push_back(Span(7, 6, Kind::kLlm, 1000, 1000, Llm("gpt-4o-mini", 1000, 100)));
  b.spans.push_back(Span(8, 6, Kind::kCustom, 2000, 5000, Llm("claude-3-5-haiku", 2000, 200)));
  b.spans.push_back(Span(9, 8, Kind::kLlm, 2000, 5000, Llm("claude-3-5-haiku", 2000, 200)));
  e->Process(&b);

  const double a = (1000 * 2.50 + 100 * 10.00) / 1e6;
  const double bb = (1000 * 0.15 + 100 * 0.60) / 1e6;
  const double c = (2000 * 0.80 + 200 * 4.00) / 1e6;
  // Only the innermost calls have a cost of their own.
  for (uint64_t id : {3, 7, 9}) EXPECT_NE(ById(b, id)->Find(kCostSelfUsdKey), nullptr) << id;
  for (uint64_t id : {1, 2, 4, 5, 6, 8}) {
    EXPECT_EQ(ById(b, id)->Find(kCostSelfUsdKey), nullptr) << id;
    EXPECT_EQ(ById(b, id)->Find(kCostUsdKey), nullptr) << id;
  }
  EXPECT_NEAR(*Dbl(ById(b, 5), kCostTotalUsdKey), bb + c, 1e-15);
  EXPECT_NEAR(*Dbl(ById(b, 4), kCostTotalUsdKey), bb + c, 1e-15);
  EXPECT_NEAR(*Dbl(ById(b, 2), kCostTotalUsdKey), a + bb + c, 1e-15);
  EXPECT_NEAR(*Dbl(ById(b, 1), kCostTotalUsdKey), a + bb + c, 1e-15);
  EXPECT_EQ(Int(ById(b, 1), kTokensInputTotalKey), 4000);
  EXPECT_EQ(Int(ById(b, 1), kTokensOutputTotalKey), 400);
  EXPECT_EQ(Int(ById(b, 5), kTokensInputTotalKey), 3000);
  EXPECT_EQ(ById(b, 1)->Find(kCostUnpricedSpansKey), nullptr);
  // Everywhere: total = own self cost + the children's totals.
  const TraceTree tree = BuildTraceTree(b);
  for (size_t i = 0; i < tree.spans.size(); ++i) {
    double expected = Dbl(tree.spans[i], kCostSelfUsdKey).value_or(0);
    for (uint32_t ch : tree.children[i])
      expected += Dbl(tree.spans[ch], kCostTotalUsdKey).value_or(0);
    EXPECT_NEAR(Dbl(tree.spans[i], kCostTotalUsdKey).value_or(0), expected, 1e-15)
        << tree.spans[i]->span_id;
  }
  EXPECT_EQ(e->stats().spans_priced.load(), 3u);
}

TEST(EnrichRollup, NoTotalsWithoutUsageAndLateBatchesRollUpWithinThemselves) {
  auto e = MakeEnricher();
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(Span(1, 0, Kind::kRun, 0, 1000));
  b.spans.push_back(Span(2, 1, Kind::kTool, 0, 500));
  e->Process(&b);
  for (uint64_t id : {1, 2}) {
    EXPECT_EQ(ById(b, id)->Find(kCostTotalUsdKey), nullptr);
    EXPECT_EQ(ById(b, id)->Find(kTokensInputTotalKey), nullptr);
  }

  TraceBatch late;
  late.trace_id = kTrace;
  late.late = true;
  late.spans.push_back(Span(10, 1, Kind::kTurn, 1000, 500));  // parent 1 went out before
  late.spans.push_back(Span(11, 10, Kind::kLlm, 1000, 400, Llm("llama3.1", 50, 5)));
  e->Process(&late);
  EXPECT_EQ(Dbl(ById(late, 11), kCostUsdKey), 0.0);  // self-hosted: priced, at zero
  EXPECT_EQ(Dbl(ById(late, 10), kCostTotalUsdKey), 0.0);
  EXPECT_EQ(Int(ById(late, 10), kTokensInputTotalKey), 50);
}

// ---- hotspot ----

TEST(EnrichHotspot, MarksTheSpanTheTreeMarks) {
  auto e = MakeEnricher();
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(Span(1, 0, Kind::kRun, 0, 10000));
  b.spans.push_back(Span(2, 1, Kind::kRetrieval, 0, 6000));  // 60%, 6x its sibling
  b.spans.push_back(Span(3, 1, Kind::kTool, 6000, 1000));
  b.spans.push_back(Span(4, 2, Kind::kEmbedding, 0, 100));  // only child: never
  e->Process(&b);
  EXPECT_EQ(ById(b, 2)->Find(kHotspotKey) ? std::get<bool>(*ById(b, 2)->Find(kHotspotKey)) : false,
            true);
  for (uint64_t id : {1, 3, 4}) EXPECT_EQ(ById(b, id)->Find(kHotspotKey), nullptr) << id;
  EXPECT_EQ(e->stats().hotspots_marked.load(), 1u);
  std::string tree;
  RenderTraceTree(b, &tree);
  EXPECT_NE(tree.find("[span2] (6.0s) retrieval  <-- HOTSPOT"), std::string::npos) << tree;
  EXPECT_EQ(tree.find("HOTSPOT"), tree.rfind("HOTSPOT")) << tree;
}

TEST(EnrichHotspot, EmptyAndNullSpansAreHarmless) {
  auto e = MakeEnricher();
  TraceBatch b;
  e->Process(&b);
  b.spans.push_back(nullptr);
  b.spans.push_back(Span(1, 0, Kind::kLlm, 0, 10, Llm("gpt-4o", 1, 1)));
  e->Process(&b);
  EXPECT_NE(b.spans[1]->Find(kCostUsdKey), nullptr);
}

}  // namespace
}  // namespace agentring::reader
