// Tests for the OTLP/JSON encoding (reader/export/otlp_json.h): the output is parsed back with
// boost::json (which rejects ill-formed UTF-8) and checked field by field against the OTLP/JSON
// rules the Collector's otlpjsonfile receiver applies.
#include "reader/export/otlp_json.h"
#include "unit/span_builders.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace agentring::reader {
namespace {

namespace json = boost::json;

constexpr TraceId kTrace{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};



// root (run, orchestrator pid 100) -> llm (ok) ; root -> tool (remote parent, task-agent pid 200,
// error, incomplete, one event, one link).
TraceBatch ThreeSpanBatch() {
  auto orchestrator = MakeProcess(100, "orchestrator", {"host.name", "box"});
  auto task_agent = MakeProcess(200, "task-agent", {"host.name", "box"});
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(MakeSpan(kTrace, 0x1111, 0, "execute_query", 1, 1'000'000'000, 9'000'000'000, orchestrator));
  auto llm = MakeSpan(kTrace, 0x2222, 0x1111, "llm_call", 3, 2'000'000'000, 3'000'000'000, orchestrator);
  llm->status = SpanStatus::kOk;
  llm->attributes = {{"gen_ai.request.model", std::string("llama3.1")},
                     {"gen_ai.usage.input_tokens", int64_t{450}},
                     {"gen_ai.request.temperature", 0.5},
                     {"gen_ai.request.stream", false},
                     {"big", int64_t{std::numeric_limits<int64_t>::min()}}};
  b.spans.push_back(std::move(llm));
  auto tool = MakeSpan(kTrace, 0x3333, 0x1111, "tool_execute", 4, 4'000'000'000, 5'000'000'000, task_agent);
  tool->parent_remote = true;
  tool->status = SpanStatus::kError;
  tool->status_message = "boom";
  tool->incomplete = true;
  tool->attributes = {{"tool.name", std::string("filesystem")}};
  tool->events.push_back(SpanEvent{4'500'000'000, "retry", {{"attempt", int64_t{2}}}});
  tool->links.push_back(SpanLink{TraceId{1, 2}, 0xabcdef});
  b.spans.push_back(std::move(tool));
  return b;
}

const json::object& Attr(const json::array& attrs, std::string_view key) {
  for (const json::value& kv : attrs)
    if (kv.at("key").as_string() == key) return kv.at("value").as_object();
  ADD_FAILURE() << "no attribute " << key;
  static const json::object kEmpty;
  return kEmpty;
}

TEST(ExportOtlpJson, ThreeSpanTraceFieldByField) {
  std::string out;
  AppendOtlpJson(ThreeSpanBatch(), &out);
  ASSERT_FALSE(out.empty());
  EXPECT_NE(out.back(), '\n');
  json::value v = json::parse(out);
  const json::array& rs = v.at("resourceSpans").as_array();
  ASSERT_EQ(rs.size(), 2u);  // one per writer process

  const json::array& res0 = rs[0].at("resource").at("attributes").as_array();
  EXPECT_EQ(Attr(res0, "service.name").at("stringValue").as_string(), "orchestrator");
  EXPECT_EQ(Attr(res0, "host.name").at("stringValue").as_string(), "box");
  EXPECT_EQ(Attr(res0, "process.pid").at("intValue").as_string(), "100");
  const json::array& res1 = rs[1].at("resource").at("attributes").as_array();
  EXPECT_EQ(Attr(res1, "process.pid").at("intValue").as_string(), "200");

  const json::object& scope = rs[0].at("scopeSpans").at(0).at("scope").as_object();
  EXPECT_EQ(scope.at("name").as_string(), "agentring");
  EXPECT_EQ(scope.at("version").as_string(), "0.1.0");
  // The semantic-conventions version of the names, on the scope and on the resource.
  for (const json::value& r : rs) {
    EXPECT_EQ(r.at("schemaUrl").as_string(), "https://opentelemetry.io/schemas/1.37.0");
    EXPECT_EQ(r.at("scopeSpans").at(0).at("schemaUrl").as_string(),
              "https://opentelemetry.io/schemas/1.37.0");
  }

  const json::array& spans0 = rs[0].at("scopeSpans").at(0).at("spans").as_array();
  const json::array& spans1 = rs[1].at("scopeSpans").at(0).at("spans").as_array();
  ASSERT_EQ(spans0.size(), 2u);
  ASSERT_EQ(spans1.size(), 1u);
  const json::object& root = spans0[0].as_object();
  const json::object& llm = spans0[1].as_object();
  const json::object& tool = spans1[0].as_object();

  EXPECT_EQ(root.at("traceId").as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(root.at("spanId").as_string(), "0000000000001111");
  EXPECT_EQ(root.at("parentSpanId").as_string(), "");  // present and empty, never zeros
  EXPECT_EQ(llm.at("parentSpanId").as_string(), "0000000000001111");
  EXPECT_EQ(root.at("flags").as_int64(), 257);
  EXPECT_EQ(llm.at("flags").as_int64(), 257);
  EXPECT_EQ(tool.at("flags").as_int64(), 769);
  EXPECT_EQ(root.at("kind").as_int64(), 1);
  EXPECT_EQ(llm.at("kind").as_int64(), 3);
  EXPECT_EQ(tool.at("kind").as_int64(), 3);
  EXPECT_EQ(root.at("name").as_string(), "execute_query");
  EXPECT_EQ(root.at("startTimeUnixNano").as_string(), "1000000000");
  EXPECT_EQ(root.at("endTimeUnixNano").as_string(), "9000000000");

  // agent.kind comes first; values have their proto3 JSON types.
  const json::array& la = llm.at("attributes").as_array();
  EXPECT_EQ(la.at(0).at("key").as_string(), "agent.kind");
  EXPECT_EQ(la.at(0).at("value").at("stringValue").as_string(), "llm");
  EXPECT_EQ(Attr(la, "gen_ai.request.model").at("stringValue").as_string(), "llama3.1");
  EXPECT_EQ(Attr(la, "gen_ai.usage.input_tokens").at("intValue").as_string(), "450");
  EXPECT_EQ(Attr(la, "gen_ai.request.temperature").at("doubleValue").as_double(), 0.5);
  EXPECT_EQ(Attr(la, "gen_ai.request.stream").at("boolValue").as_bool(), false);
  EXPECT_EQ(Attr(la, "big").at("intValue").as_string(), "-9223372036854775808");

  const json::array& ta = tool.at("attributes").as_array();
  EXPECT_EQ(ta.at(0).at("value").at("stringValue").as_string(), "tool");
  EXPECT_EQ(ta.back().at("key").as_string(), "agentring.incomplete");
  EXPECT_EQ(ta.back().at("value").at("boolValue").as_bool(), true);
  EXPECT_EQ(root.at("attributes").as_array().size(), 1u);  // only agent.kind: not incomplete

  EXPECT_TRUE(root.at("status").as_object().empty());
  EXPECT_EQ(llm.at("status").as_object(), json::parse(R"({"code":1})").as_object());
  EXPECT_EQ(tool.at("status").as_object(), json::parse(R"({"code":2,"message":"boom"})").as_object());

  const json::object& ev = tool.at("events").at(0).as_object();
  EXPECT_EQ(ev.at("timeUnixNano").as_string(), "4500000000");
  EXPECT_EQ(ev.at("name").as_string(), "retry");
  EXPECT_EQ(Attr(ev.at("attributes").as_array(), "attempt").at("intValue").as_string(), "2");
  const json::object& link = tool.at("links").at(0).as_object();
  EXPECT_EQ(link.at("traceId").as_string(), "00000000000000010000000000000002");
  EXPECT_EQ(link.at("spanId").as_string(), "0000000000abcdef");
  EXPECT_TRUE(root.at("events").as_array().empty());

  // Only OTLP keys.
  for (const auto& kv : root) {
    static const std::string_view kAllowed[] = {
        "traceId", "spanId", "parentSpanId", "flags", "name", "kind", "startTimeUnixNano",
        "endTimeUnixNano", "attributes", "events", "links", "status"};
    EXPECT_NE(std::find(std::begin(kAllowed), std::end(kAllowed), kv.key()), std::end(kAllowed))
        << kv.key();
  }
}

TEST(ExportOtlpJson, NullProcessAndExistingAgentKind) {
  TraceBatch b;
  b.trace_id = kTrace;
  auto s = MakeSpan(kTrace, 1, 0, "x", 5, 10, 20, nullptr);
  s->attributes = {{"agent.kind", std::string("my_kind")}};
  s->status = SpanStatus::kError;  // no message: no "message" key
  b.spans.push_back(std::move(s));
  b.spans.push_back(MakeSpan(kTrace, 2, 1, "y", 0, 11, 12, nullptr));
  std::string out;
  AppendOtlpJson(b, &out);
  json::value v = json::parse(out);
  const json::array& rs = v.at("resourceSpans").as_array();
  ASSERT_EQ(rs.size(), 1u);
  const json::array& res = rs[0].at("resource").at("attributes").as_array();
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(Attr(res, "service.name").at("stringValue").as_string(), "unknown_service");
  const json::array& spans = rs[0].at("scopeSpans").at(0).at("spans").as_array();
  ASSERT_EQ(spans.size(), 2u);
  const json::array& a = spans[0].at("attributes").as_array();
  ASSERT_EQ(a.size(), 1u);  // not duplicated
  EXPECT_EQ(a[0].at("value").at("stringValue").as_string(), "my_kind");
  EXPECT_EQ(spans[0].at("status").as_object(), json::parse(R"({"code":2})").as_object());
  EXPECT_EQ(spans[1].at("attributes").at(0).at("value").at("stringValue").as_string(), "custom");
}

TEST(ExportOtlpJson, EscapesControlCharsAndReplacesInvalidUtf8) {
  // "\x01\n\t\"\\", then: overlong C0 AF (2 maximal subparts), surrogate ED A0 80 (3), byte F5
  // (1), valid é € 😀, and a sequence truncated by the end of the string E2 82 (1 subpart).
  const std::string raw =
      "a\x01\n\t\"\\\x1f\x7f|\xC0\xAF|\xED\xA0\x80|\xF5|\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|\xE2\x82";
  std::string quoted;
  AppendJsonString(raw, &quoted);
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(quoted, "\"a\\u0001\\n\\t\\\"\\\\\\u001f\x7f|" + r + r + "|" + r + r + r + "|" + r +
                        "|\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|" + r + "\"");

  TraceBatch b;
  b.trace_id = kTrace;
  auto s = MakeSpan(kTrace, 1, 0, raw.c_str(), 1, 1, 2, nullptr);
  s->attributes = {{"v", raw},
                   {"nan", std::numeric_limits<double>::quiet_NaN()},
                   {"inf", std::numeric_limits<double>::infinity()},
                   {"ninf", -std::numeric_limits<double>::infinity()}};
  b.spans.push_back(std::move(s));
  std::string out;
  AppendOtlpJson(b, &out);
  json::error_code ec;
  json::value v = json::parse(out, ec);  // boost::json rejects ill-formed UTF-8
  ASSERT_FALSE(ec) << ec.message() << "\n" << out;
  const json::object& span = v.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").at(0).as_object();
  const std::string decoded = "a\x01\n\t\"\\\x1f\x7f|" + r + r + "|" + r + r + r + "|" + r +
                              "|\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|" + r;
  EXPECT_EQ(span.at("name").as_string(), decoded);
  const json::array& a = span.at("attributes").as_array();
  EXPECT_EQ(Attr(a, "v").at("stringValue").as_string(), decoded);
  EXPECT_EQ(Attr(a, "nan").at("doubleValue").as_string(), "NaN");
  EXPECT_EQ(Attr(a, "inf").at("doubleValue").as_string(), "Infinity");
  EXPECT_EQ(Attr(a, "ninf").at("doubleValue").as_string(), "-Infinity");
}

TEST(ExportOtlpJson, StatusMessageWithNulAndInvalidBytes) {
  std::string msg("\xFF", 1);
  msg.push_back('\0');
  msg.push_back('z');
  TraceBatch b;
  b.trace_id = kTrace;
  auto s = MakeSpan(kTrace, 1, 0, "n", 1, 1, 2, nullptr);
  s->status = SpanStatus::kError;
  s->status_message = msg;
  b.spans.push_back(std::move(s));
  std::string out;
  AppendOtlpJson(b, &out);
  EXPECT_NE(out.find("\"message\":\"\xEF\xBF\xBD\\u0000z\""), std::string::npos) << out;
  json::value v = json::parse(out);
  EXPECT_EQ(v.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").at(0).at("status").at("message").as_string(),
            std::string("\xEF\xBF\xBD\0z", 5));
}

TEST(ExportOtlpJson, SpanKindClientForCallsInternalOtherwise) {
  auto p = MakeProcess(1, "svc", {"host.name", "box"});
  TraceBatch b;
  b.trace_id = kTrace;
  for (uint8_t kind = 0; kind <= 13; ++kind)
    b.spans.push_back(MakeSpan(kTrace, 0x100 + kind, 0, "s", kind, 1, 2, p));
  std::string out;
  AppendOtlpJson(b, &out);
  json::value v = json::parse(out);
  const json::array& spans =
      v.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array();
  ASSERT_EQ(spans.size(), 14u);
  for (uint8_t kind = 0; kind <= 13; ++kind) {
    // llm, tool, embedding and subagent (invoke_agent) are calls: CLIENT (3); the rest INTERNAL.
    const bool client = kind == 3 || kind == 4 || kind == 6 || kind == 8;
    EXPECT_EQ(spans[kind].at("kind").as_int64(), client ? 3 : 1) << "agentring kind " << int{kind};
  }
}

}  // namespace
}  // namespace agentring::reader
