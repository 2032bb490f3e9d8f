// Tests for the OTLP protobuf encoding (reader/export/otlp_proto.h): synthetic traces are encoded,
// decoded back with the strict test-side decoder (tests/integration/otlp_decode.h, which rejects
// anything non-canonical) and checked field by field, and against what the OTLP/JSON encoding of
// the same traces carries.
#include "reader/export/otlp_proto.h"
#include "unit/span_builders.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/otlp_decode.h"
#include "reader/export/otlp_content.h"
#include "reader/export/otlp_json.h"

namespace agentring::reader {
namespace {

using otlp_test::Request;
using otlp_test::Value;

constexpr TraceId kTrace{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
constexpr TraceId kOtherTrace{0x0102030405060708ull, 0x090a0b0c0d0e0f10ull};



// root (run, orchestrator pid 100) -> llm (ok, every value type) ; root -> tool (remote parent,
// task-agent pid 200, error, incomplete, one event, one link).
TraceBatch ThreeSpanBatch() {
  auto orchestrator = MakeProcess(100, "orchestrator");
  auto task_agent = MakeProcess(200, "task-agent");
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(MakeSpan(kTrace, 0x1111, 0, "execute_query", 1, 1'000'000'000, 9'000'000'000,
                             orchestrator));
  auto llm = MakeSpan(kTrace, 0x2222, 0x1111, "chat gpt-4o", 3, 2'000'000'000, 3'000'000'000,
                      orchestrator);
  llm->status = SpanStatus::kOk;
  llm->attributes = {{"gen_ai.request.model", std::string("gpt-4o")},
                     {"gen_ai.usage.input_tokens", int64_t{450}},
                     {"gen_ai.request.temperature", 0.5},
                     {"gen_ai.request.stream", false},
                     {"zero", int64_t{0}},
                     {"empty", std::string()},
                     {"min", int64_t{std::numeric_limits<int64_t>::min()}},
                     {"max", int64_t{std::numeric_limits<int64_t>::max()}},
                     {"negative", int64_t{-1}}};
  b.spans.push_back(std::move(llm));
  auto tool = MakeSpan(kTrace, 0xfedcba9876543210ull, 0x1111, "execute_tool filesystem", 4,
                       4'000'000'000, 5'000'000'000, task_agent);
  tool->parent_remote = true;
  tool->incomplete = true;
  tool->status = SpanStatus::kError;
  tool->status_message = "permission denied";
  tool->attributes = {{"tool.name", std::string("filesystem")}};
  tool->events.push_back({4'500'000'000, "exception", {{"exception.type", std::string("IOError")}}});
  tool->links.push_back({kOtherTrace, 0xabcdef0123456789ull});
  b.spans.push_back(std::move(tool));
  return b;
}

Request DecodeProto(std::string_view body) {
  Request r;
  std::string error;
  EXPECT_TRUE(otlp_test::DecodeProtoRequest(body, &r, &error)) << error;
  return r;
}

Request DecodeJson(std::span<const TraceBatch* const> traces, const OtlpResourceDefaults* d) {
  std::string text;
  AppendOtlpJson(traces, d, &text);
  Request r;
  std::string error;
  EXPECT_TRUE(otlp_test::DecodeJsonRequest(text, &r, &error)) << error;
  return r;
}

Value Str(const std::string& s) {
  Value v;
  v.type = Value::kString;
  v.s = s;
  return v;
}
Value Int(int64_t i) {
  Value v;
  v.type = Value::kInt;
  v.i = i;
  return v;
}

TEST(OtlpProto, EveryFieldOfThreeSpans) {
  TraceBatch b = ThreeSpanBatch();
  const TraceBatch* traces[] = {&b};
  OtlpProtoEncoder enc;
  Request r = DecodeProto(enc.Encode(traces));

  ASSERT_EQ(r.resource_spans.size(), 2u);
  const auto& orch = r.resource_spans[0];
  EXPECT_EQ(orch.resource.size(), 3u);
  EXPECT_EQ(*orch.FindResource("service.name"), Str("orchestrator"));
  EXPECT_EQ(*orch.FindResource("deployment.environment"), Str("test"));
  EXPECT_EQ(*orch.FindResource("process.pid"), Int(100));
  EXPECT_EQ(orch.schema_url, std::string(kOtlpSchemaUrl));
  EXPECT_EQ(orch.scope_name, "agentring");
  EXPECT_EQ(orch.scope_version, std::string(kOtlpScopeVersion));
  EXPECT_EQ(orch.scope_schema_url, std::string(kOtlpSchemaUrl));
  ASSERT_EQ(orch.spans.size(), 2u);

  const auto& root = orch.spans[0];
  EXPECT_EQ(root.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(root.span_id, "0000000000001111");
  EXPECT_EQ(root.parent_span_id, "");
  EXPECT_EQ(root.flags, kOtlpFlagSampled | kOtlpFlagHasIsRemote);
  EXPECT_EQ(root.name, "execute_query");
  EXPECT_EQ(root.kind, kOtlpSpanKindInternal);
  EXPECT_EQ(root.start_unix_ns, 1'000'000'000u);
  EXPECT_EQ(root.end_unix_ns, 9'000'000'000u);
  ASSERT_EQ(root.attributes.size(), 1u);
  EXPECT_EQ(root.attributes[0].key, "agent.kind");
  EXPECT_EQ(root.attributes[0].value, Str("run"));
  EXPECT_EQ(root.status_code, 0);

  const auto& llm = orch.spans[1];
  EXPECT_EQ(llm.parent_span_id, "0000000000001111");
  EXPECT_EQ(llm.kind, kOtlpSpanKindClient);
  EXPECT_EQ(llm.status_code, 1);
  ASSERT_EQ(llm.attributes.size(), 10u);
  EXPECT_EQ(llm.attributes[0].value, Str("llm"));
  EXPECT_EQ(*llm.Find("gen_ai.request.model"), Str("gpt-4o"));
  EXPECT_EQ(*llm.Find("gen_ai.usage.input_tokens"), Int(450));
  EXPECT_EQ(llm.Find("gen_ai.request.temperature")->type, Value::kDouble);
  EXPECT_EQ(llm.Find("gen_ai.request.temperature")->d, 0.5);
  EXPECT_EQ(llm.Find("gen_ai.request.stream")->type, Value::kBool);  // false is still written
  EXPECT_FALSE(llm.Find("gen_ai.request.stream")->b);
  EXPECT_EQ(*llm.Find("zero"), Int(0));                             // so is 0 in a oneof …
  EXPECT_EQ(*llm.Find("empty"), Str(""));                           // … and ""
  EXPECT_EQ(*llm.Find("min"), Int(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(*llm.Find("max"), Int(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(*llm.Find("negative"), Int(-1));

  const auto& task = r.resource_spans[1];
  EXPECT_EQ(*task.FindResource("service.name"), Str("task-agent"));
  EXPECT_EQ(*task.FindResource("process.pid"), Int(200));
  ASSERT_EQ(task.spans.size(), 1u);
  const auto& tool = task.spans[0];
  EXPECT_EQ(tool.span_id, "fedcba9876543210");
  EXPECT_EQ(tool.flags, kOtlpFlagSampled | kOtlpFlagHasIsRemote | kOtlpFlagIsRemote);
  EXPECT_EQ(tool.status_code, 2);
  EXPECT_EQ(tool.status_message, "permission denied");
  ASSERT_EQ(tool.attributes.size(), 3u);
  EXPECT_EQ(tool.attributes[0].value, Str("tool"));
  EXPECT_EQ(tool.attributes[1].key, "tool.name");
  EXPECT_EQ(tool.attributes[2].key, "agentring.incomplete");
  EXPECT_EQ(tool.attributes[2].value.type, Value::kBool);
  EXPECT_TRUE(tool.attributes[2].value.b);
  ASSERT_EQ(tool.events.size(), 1u);
  EXPECT_EQ(tool.events[0].time_unix_ns, 4'500'000'000u);
  EXPECT_EQ(tool.events[0].name, "exception");
  ASSERT_EQ(tool.events[0].attributes.size(), 1u);
  EXPECT_EQ(tool.events[0].attributes[0].value, Str("IOError"));
  ASSERT_EQ(tool.links.size(), 1u);
  EXPECT_EQ(tool.links[0].trace_id, "0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(tool.links[0].span_id, "abcdef0123456789");
}

TEST(OtlpProto, SameContentAsJson) {
  TraceBatch a = ThreeSpanBatch();
  TraceBatch b = ThreeSpanBatch();
  for (size_t i = 0; i < b.spans.size(); ++i) {
    b.spans[i]->trace_id = kOtherTrace;
    b.spans[i]->span_id += 7;
    b.spans[i]->process = a.spans[i]->process;  // the same writer processes
  }
  const TraceBatch* traces[] = {&a, &b};
  OtlpResourceDefaults defaults;
  defaults.added_attributes = {{"host.name", "box"}, {"telemetry.sdk.name", "agentring"}};
  const OtlpResourceDefaults* const variants[] = {nullptr, &defaults};
  for (const OtlpResourceDefaults* d : variants) {
    OtlpProtoEncoder enc(d);
    Request proto = DecodeProto(enc.Encode(traces));
    Request json = DecodeJson(traces, d);
    EXPECT_EQ(proto, json);
    ASSERT_EQ(proto.resource_spans.size(), 2u);  // grouped by process across both traces
    EXPECT_EQ(proto.resource_spans[0].spans.size(), 4u);
    EXPECT_EQ(proto.resource_spans[1].spans.size(), 2u);
    // Within a group, trace order then span order.
    EXPECT_EQ(proto.resource_spans[0].spans[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(proto.resource_spans[0].spans[2].trace_id, "0102030405060708090a0b0c0d0e0f10");
  }
}

TEST(OtlpProto, ResourceDefaultsApplyOnlyWhereTheWriterSetNone) {
  auto named = MakeProcess(1, "coder");
  named->resource.emplace_back("host.name", "writer-host");
  auto unnamed = std::make_shared<ProcessInfo>();
  unnamed->pid = 2;
  unnamed->service_name = "unknown_service:python3";
  unnamed->resource = {{"service.name", "unknown_service:python3"}};
  TraceBatch b;
  b.spans.push_back(MakeSpan(kTrace, 1, 0, "a", 1, 1, 2, named));
  b.spans.push_back(MakeSpan(kTrace, 2, 1, "b", 1, 1, 2, unnamed));
  b.spans.push_back(MakeSpan(kTrace, 3, 1, "c", 1, 1, 2, nullptr));

  OtlpResourceDefaults d;
  d.fallback_service_name = "reader-svc";
  d.fallback_attributes = {{"service.name", "reader-svc"}, {"deployment.environment", "prod"},
                           {"team", "agents"}};
  d.added_attributes = {{"host.name", "reader-host"}, {"telemetry.sdk.name", "agentring"},
                        {"telemetry.sdk.language", "cpp"}, {"telemetry.sdk.version", "0.1.0"}};
  const TraceBatch* traces[] = {&b};
  OtlpProtoEncoder enc(&d);
  Request r = DecodeProto(enc.Encode(traces));
  ASSERT_EQ(r.resource_spans.size(), 3u);

  const auto& n = r.resource_spans[0];
  EXPECT_EQ(*n.FindResource("service.name"), Str("coder"));
  EXPECT_EQ(*n.FindResource("deployment.environment"), Str("test"));  // the writer's wins
  EXPECT_EQ(*n.FindResource("host.name"), Str("writer-host"));
  EXPECT_EQ(*n.FindResource("team"), Str("agents"));
  EXPECT_EQ(*n.FindResource("telemetry.sdk.language"), Str("cpp"));
  EXPECT_EQ(n.resource.size(), 8u);  // service.name, env, host, pid, team, 3 sdk

  const auto& u = r.resource_spans[1];
  EXPECT_EQ(*u.FindResource("service.name"), Str("reader-svc"));
  EXPECT_EQ(*u.FindResource("deployment.environment"), Str("prod"));
  EXPECT_EQ(*u.FindResource("host.name"), Str("reader-host"));
  EXPECT_EQ(*u.FindResource("process.pid"), Int(2));

  const auto& none = r.resource_spans[2];
  EXPECT_EQ(*none.FindResource("service.name"), Str("reader-svc"));
  EXPECT_EQ(none.FindResource("process.pid"), nullptr);

  EXPECT_EQ(r, DecodeJson(traces, &d));
}

TEST(OtlpProto, IllFormedUtf8IsReplacedAsInJson) {
  auto p = MakeProcess(7, "svc\xff");
  TraceBatch b;
  auto s = MakeSpan(kTrace, 1, 0, "bad \xC3\x28 name \xE2\x82", 1, 1, 2, p);
  s->attributes = {{"k\x80", std::string("caf\xC3\xA9 \xF0\x9F\x98\x80 \xED\xA0\x80")}};
  b.spans.push_back(std::move(s));
  const TraceBatch* traces[] = {&b};
  OtlpProtoEncoder enc;
  Request r = DecodeProto(enc.Encode(traces));
  ASSERT_EQ(r.resource_spans.size(), 1u);
  const auto& span = r.resource_spans[0].spans[0];
  EXPECT_EQ(span.name, "bad \xEF\xBF\xBD( name \xEF\xBF\xBD");
  EXPECT_EQ(span.attributes[1].key, "k\xEF\xBF\xBD");
  EXPECT_EQ(span.attributes[1].value,
            Str("caf\xC3\xA9 \xF0\x9F\x98\x80 \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(*r.resource_spans[0].FindResource("service.name"), Str("svc\xEF\xBF\xBD"));
  EXPECT_EQ(r, DecodeJson(traces, nullptr));
}

// Lengths above 127 need two-byte varints, above 16383 three: nested lengths must be minimal at
// every size, and the buffer must grow (and be reused) without corrupting what it holds.
TEST(OtlpProto, LargeAndGrowingBodiesStayCanonical) {
  auto p = MakeProcess(1, "svc");
  std::vector<TraceBatch> batches(3);
  for (size_t t = 0; t < batches.size(); ++t) {
    for (uint64_t i = 1; i <= 2000; ++i) {
      auto s = MakeSpan({t + 1, i}, i, i / 2, "span", static_cast<uint8_t>(i % 13), i, i + 1, p);
      s->attributes = {{"payload", std::string(i % 300, 'x')},
                       {"n", static_cast<int64_t>(i << 40)}};
      batches[t].spans.push_back(std::move(s));
    }
  }
  std::vector<const TraceBatch*> traces;
  for (const TraceBatch& b : batches) traces.push_back(&b);
  OtlpProtoEncoder enc;
  const TraceBatch* small[] = {&batches[0]};
  const std::string first_small(enc.Encode(small));
  const std::string_view big = enc.Encode(traces);
  EXPECT_GT(big.size(), 1u << 20);
  Request r = DecodeProto(big);
  ASSERT_EQ(r.resource_spans.size(), 1u);
  EXPECT_EQ(r.resource_spans[0].spans.size(), 6000u);
  EXPECT_EQ(r, DecodeJson(traces, nullptr));
  EXPECT_EQ(std::string(enc.Encode(small)), first_small);  // same bytes after the buffer grew
}

TEST(OtlpProto, EmptyInputIsAnEmptyRequest) {
  OtlpProtoEncoder enc;
  EXPECT_EQ(enc.Encode({}).size(), 0u);
  TraceBatch empty;
  const TraceBatch* traces[] = {&empty};
  EXPECT_EQ(enc.Encode(traces).size(), 0u);
}

// The decoder the tests rely on must itself reject what is not canonical: otherwise the tests
// above could not fail.
TEST(OtlpProto, DecoderRejectsNonCanonicalEncodings) {
  Request r;
  std::string error;
  // resource_spans (field 1) of length 2 spelled as a 2-byte varint 0x82 0x00.
  const std::string non_minimal("\x0a\x82\x00\x12\x00", 5);
  EXPECT_FALSE(otlp_test::DecodeProtoRequest(non_minimal, &r, &error));
  EXPECT_NE(error.find("non-minimal"), std::string::npos) << error;

  // A valid encoding, then the same with a span's fields out of order.
  TraceBatch b;
  b.spans.push_back(MakeSpan(kTrace, 1, 0, "a", 1, 5, 6, nullptr));
  const TraceBatch* traces[] = {&b};
  OtlpProtoEncoder enc;
  std::string body(enc.Encode(traces));
  ASSERT_TRUE(otlp_test::DecodeProtoRequest(body, &r, &error)) << error;
  // Truncated by one byte.
  EXPECT_FALSE(otlp_test::DecodeProtoRequest(body.substr(0, body.size() - 1), &r, &error));
  // A proto3 default written out: an explicit kind 0 appended to a standalone span message.
  std::string span_bytes("\x30\x00", 2);  // Span.kind = 0
  otlp_test::Span s;
  EXPECT_FALSE(otlp_test::detail::DecodeSpan(span_bytes, &s, &error));
  // Fields out of order: name (5) before trace_id (1).
  std::string out_of_order("\x2a\x01" "a" "\x0a\x10" "0123456789abcdef", 21);
  otlp_test::Span s2;
  error.clear();
  EXPECT_FALSE(otlp_test::detail::DecodeSpan(out_of_order, &s2, &error));
  EXPECT_NE(error.find("order"), std::string::npos) << error;
}

TEST(OtlpContent, KeyValueListParsing) {
  std::vector<std::pair<std::string, std::string>> kv;
  std::string error;
  ASSERT_TRUE(ParseOtlpKeyValueList(" a = b ,c=d%2Ce%3D,, x-api-key=s%20p ", &kv, &error)) << error;
  ASSERT_EQ(kv.size(), 3u);
  EXPECT_EQ(kv[0], (std::pair<std::string, std::string>{"a", "b"}));
  EXPECT_EQ(kv[1], (std::pair<std::string, std::string>{"c", "d,e="}));
  EXPECT_EQ(kv[2], (std::pair<std::string, std::string>{"x-api-key", "s p"}));
  kv.clear();
  EXPECT_FALSE(ParseOtlpKeyValueList("a=b,novalue", &kv, &error));
  EXPECT_NE(error.find("novalue"), std::string::npos) << error;
  EXPECT_FALSE(ParseOtlpKeyValueList("=v", &kv, &error));
}

}  // namespace
}  // namespace agentring::reader
