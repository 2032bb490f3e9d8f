// Tests of the agent helpers (agentring/agent.hpp): the typed spans set their kinds, names and
// exact attribute names; content capture is off by default, follows the environment, and clips
// at code points with the "…[N chars elided]…" marker.
//
// The spans are written by forked children into this suite's own segment and read back through
// the real drain stage. A child, not this process: the unit_tests process's writer may already be
// attached to the segment of writer_test.cc, and content capture reads the environment only once
// per process (a fork starts with the parent's state, which these tests never initialise).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "agentring/agent.hpp"
#include "agentring/internal/segment_map.h"
#include "reader/drain/segment_reader.h"
#include "unit/span_capture.h"

namespace agentring {
namespace {

using SeenSpan = test::CapturedSpan;
using SeenSink = test::SpanCapture;
using test::Attr;
using test::Has;

using Env = std::vector<std::pair<const char*, const char*>>;  // nullptr value: unset

class AgentHelpersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    name_ = new std::string("ut-agent-" + std::to_string(getpid()));
    internal::SegmentMap::CreateOptions o;
    o.geometry = abi::Geometry{8, 4096, 8, 64 * 1024};
    bool created = false;
    internal::OpenStatus st;
    std::string err;
    auto seg = internal::SegmentMap::Create(*name_, o, &created, &st, &err);
    ASSERT_TRUE(seg) << err;
    drain_ = new reader::SegmentReader(std::move(seg));
  }
  static void TearDownTestSuite() {
    internal::SegmentMap::Remove(*name_);
    delete drain_;
    drain_ = nullptr;
  }

  // Runs `body` in a forked child that writes into this suite's segment with the capture
  // variables unset and then `env` applied; returns what the child wrote.
  SeenSink RunInChild(const Env& env, const std::function<void()>& body) {
    // The child inherits the capture switch: it must still be unread for the environment to count.
    EXPECT_EQ(internal::g_capture_content.load(), -1) << "this process read the capture switch";
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      for (const char* k : {"AGENTRING_CAPTURE_CONTENT", "AGENTRING_CAPTURE_MAX_CHARS",
                            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "TRACEPARENT"})
        unsetenv(k);
      for (const auto& [k, v] : env) v != nullptr ? setenv(k, v, 1) : unsetenv(k);
      SetSegmentName(*name_);
      SetEnabled(true);
      SetSampler("always_on");
      ClearInheritedParent();
      body();
      ReleaseThreadLane();
      _exit(0);
    }
    EXPECT_GT(pid, 0);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    SeenSink sink;
    drain_->ForceProbe();
    drain_->Pass(&sink);
    drain_->Pass(&sink);
    return sink;
  }

  static std::string* name_;
  static reader::SegmentReader* drain_;
};
std::string* AgentHelpersTest::name_ = nullptr;
reader::SegmentReader* AgentHelpersTest::drain_ = nullptr;

TEST_F(AgentHelpersTest, SpansCarryKindsNamesAndExactAttributeNames) {
  SeenSink s = RunInChild({}, [] {
    RunSpan run("CodingAgent", "conv-42");
    run.SetAgentId("agent-7");
    run.SetState("done");
    run.SetStopReason("stop");
    {
      PlanSpan plan("CodingAgent");
      plan.SetTaskCount(2);
    }
    TaskSpan task("task-1", "CodingAgent", "task_execution");
    TurnSpan turn(3, "CodingAgent");
    turn.SetState("tool_use");
    {
      LlmSpan llm("openai", "gpt-4o");
      llm.SetUsage(2048, 150, 1024);
      llm.SetFinishReasons("tool_call");
      llm.SetResponseModel("gpt-4o-2024-08-06");
      llm.SetCached(false);
    }
    { LlmSpan no_cache("ollama", "llama3.1", "text_completion"); no_cache.SetUsage(10, 20); }
    {
      ToolSpan tool("read_file", "read", "/src/main.rs");
      tool.SetCallId("call_1");
      tool.SetError("PermissionError", "permission denied");
    }
    { ToolSpan ok("grep"); ok.SetResult(true); }
    {
      RetrievalSpan rag("binary search implementation");
      EmbeddingSpan embed("ort", "all-MiniLM-L6-v2");
      embed.SetUsage(6);
      embed.End();
      VectorSearchSpan search("qdrant", "repo-chunks");
      search.SetHits(15, 0.85);
      search.End();
      rag.SetSourcesFound(15);
      rag.SetEmbeddingTimeMs(1500);
    }
    SpanContext coder_ctx;
    {
      // Side by side under the turn: siblings, not nested.
      SubagentSpan coder("CoderAgent", turn.context());
      SubagentSpan reviewer("ReviewAgent", turn.context());
      coder_ctx = coder.context();
      SubagentSpan nested("HelperAgent");  // scoped: a child of the turn (the current span)
    }
    { HandoffSpan handoff("CoderAgent", "ReviewAgent", coder_ctx); }
    { HandoffSpan no_link("CoderAgent", "ReviewAgent"); }
    {
      GuardrailSpan guard("no_secrets");
      guard.SetResult(false, "api key in output");
    }
    {
      AgentSpan custom("custom.step", Kind::kCustom);
      custom.SetError("Timeout");
    }
  });

  const SeenSpan* run = s.Find("agent.run");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->kind, static_cast<uint8_t>(Kind::kRun));
  EXPECT_EQ(Attr(run, "agent.name"), "CodingAgent");
  EXPECT_EQ(Attr(run, "gen_ai.agent.name"), "CodingAgent");
  EXPECT_EQ(Attr(run, "gen_ai.conversation.id"), "conv-42");
  EXPECT_EQ(Attr(run, "gen_ai.agent.id"), "agent-7");
  EXPECT_EQ(Attr(run, "agent.state"), "done");
  EXPECT_EQ(Attr(run, "agent.stop_reason"), "stop");

  const SeenSpan* plan = s.Find("agent.plan");
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->kind, static_cast<uint8_t>(Kind::kPlan));
  EXPECT_EQ(Attr(plan, "agent.name"), "CodingAgent");
  EXPECT_EQ(Attr(plan, "plan.tasks"), "2");

  const SeenSpan* task = s.Find("task_execution");
  ASSERT_TRUE(task);
  EXPECT_EQ(task->kind, static_cast<uint8_t>(Kind::kTask));
  EXPECT_EQ(Attr(task, "task.id"), "task-1");
  EXPECT_EQ(task->parent, run->span_id);

  const SeenSpan* turn = s.Find("agent.turn 3");
  ASSERT_TRUE(turn);
  EXPECT_EQ(turn->kind, static_cast<uint8_t>(Kind::kTurn));
  EXPECT_EQ(Attr(turn, "agent.iteration"), "3");
  EXPECT_EQ(Attr(turn, "agent.name"), "CodingAgent");
  EXPECT_EQ(Attr(turn, "agent.state"), "tool_use");

  const SeenSpan* llm = s.Find("chat gpt-4o");
  ASSERT_TRUE(llm);
  EXPECT_EQ(llm->kind, static_cast<uint8_t>(Kind::kLlm));
  EXPECT_EQ(llm->parent, turn->span_id);
  EXPECT_EQ(Attr(llm, "gen_ai.operation.name"), "chat");
  EXPECT_EQ(Attr(llm, "gen_ai.provider.name"), "openai");
  EXPECT_EQ(Attr(llm, "gen_ai.request.model"), "gpt-4o");
  EXPECT_EQ(Attr(llm, "gen_ai.response.model"), "gpt-4o-2024-08-06");
  EXPECT_EQ(Attr(llm, "gen_ai.usage.input_tokens"), "2048");
  EXPECT_EQ(Attr(llm, "gen_ai.usage.output_tokens"), "150");
  EXPECT_EQ(Attr(llm, "gen_ai.usage.cache_read.input_tokens"), "1024");
  EXPECT_EQ(Attr(llm, "gen_ai.response.finish_reasons"), "tool_call");
  EXPECT_EQ(Attr(llm, "llm.cached"), "false");
  const SeenSpan* completion = s.Find("text_completion llama3.1");
  ASSERT_TRUE(completion);
  EXPECT_EQ(Attr(completion, "gen_ai.operation.name"), "text_completion");
  EXPECT_FALSE(Has(completion, "gen_ai.usage.cache_read.input_tokens"));

  const SeenSpan* tool = s.Find("execute_tool read_file");
  ASSERT_TRUE(tool);
  EXPECT_EQ(tool->kind, static_cast<uint8_t>(Kind::kTool));
  EXPECT_EQ(Attr(tool, "tool.name"), "read_file");
  EXPECT_EQ(Attr(tool, "gen_ai.tool.name"), "read_file");
  EXPECT_EQ(Attr(tool, "gen_ai.operation.name"), "execute_tool");
  EXPECT_EQ(Attr(tool, "tool.action"), "read");
  EXPECT_EQ(Attr(tool, "tool.target"), "/src/main.rs");
  EXPECT_EQ(Attr(tool, "gen_ai.tool.call.id"), "call_1");
  EXPECT_EQ(Attr(tool, "tool.status"), "error");
  EXPECT_EQ(Attr(tool, "error.type"), "PermissionError");
  EXPECT_EQ(tool->status, static_cast<uint8_t>(StatusCode::kError));
  EXPECT_EQ(tool->status_message, "permission denied");
  const SeenSpan* ok = s.Find("execute_tool grep");
  ASSERT_TRUE(ok);
  EXPECT_EQ(Attr(ok, "tool.status"), "ok");
  EXPECT_FALSE(Has(ok, "tool.action"));
  EXPECT_FALSE(Has(ok, "tool.target"));
  EXPECT_EQ(ok->status, static_cast<uint8_t>(StatusCode::kUnset));

  const SeenSpan* rag = s.Find("retrieval");
  ASSERT_TRUE(rag);
  EXPECT_EQ(rag->kind, static_cast<uint8_t>(Kind::kRetrieval));
  EXPECT_EQ(Attr(rag, "rag.query"), "binary search implementation");
  EXPECT_EQ(Attr(rag, "rag.sources_found"), "15");
  EXPECT_EQ(Attr(rag, "rag.embedding_time_ms"), "1500");
  const SeenSpan* embed = s.Find("embeddings all-MiniLM-L6-v2");
  ASSERT_TRUE(embed);
  EXPECT_EQ(embed->kind, static_cast<uint8_t>(Kind::kEmbedding));
  EXPECT_EQ(embed->parent, rag->span_id);
  EXPECT_EQ(Attr(embed, "gen_ai.operation.name"), "embeddings");
  EXPECT_EQ(Attr(embed, "gen_ai.provider.name"), "ort");
  EXPECT_EQ(Attr(embed, "gen_ai.usage.input_tokens"), "6");
  const SeenSpan* search = s.Find("vector_search");
  ASSERT_TRUE(search);
  EXPECT_EQ(search->kind, static_cast<uint8_t>(Kind::kVectorSearch));
  EXPECT_EQ(search->parent, rag->span_id);
  EXPECT_EQ(Attr(search, "db.system.name"), "qdrant");
  EXPECT_EQ(Attr(search, "db.collection.name"), "repo-chunks");
  EXPECT_EQ(Attr(search, "vector_search.hits"), "15");

  const SeenSpan* coder = s.Find("invoke_agent CoderAgent");
  const SeenSpan* reviewer = s.Find("invoke_agent ReviewAgent");
  const SeenSpan* nested = s.Find("invoke_agent HelperAgent");
  ASSERT_TRUE(coder && reviewer && nested);
  EXPECT_EQ(coder->kind, static_cast<uint8_t>(Kind::kSubagent));
  EXPECT_EQ(Attr(coder, "gen_ai.operation.name"), "invoke_agent");
  EXPECT_EQ(Attr(coder, "gen_ai.agent.name"), "CoderAgent");
  EXPECT_EQ(coder->parent, turn->span_id);
  EXPECT_EQ(reviewer->parent, turn->span_id);  // detached: not nested under the coder
  EXPECT_EQ(nested->parent, turn->span_id);

  std::vector<const SeenSpan*> handoffs;
  for (const SeenSpan& sp : s.spans)
    if (sp.name == "handoff ReviewAgent") handoffs.push_back(&sp);
  ASSERT_EQ(handoffs.size(), 2u);
  EXPECT_EQ(handoffs[0]->kind, static_cast<uint8_t>(Kind::kHandoff));
  EXPECT_EQ(Attr(handoffs[0], "agent.handoff.from"), "CoderAgent");
  EXPECT_EQ(Attr(handoffs[0], "agent.handoff.to"), "ReviewAgent");
  ASSERT_EQ(handoffs[0]->links.size(), 1u);
  EXPECT_EQ(handoffs[0]->links[0], coder->span_id);
  EXPECT_TRUE(handoffs[1]->links.empty());

  const SeenSpan* guard = s.Find("guardrail no_secrets");
  ASSERT_TRUE(guard);
  EXPECT_EQ(guard->kind, static_cast<uint8_t>(Kind::kGuardrail));
  EXPECT_EQ(Attr(guard, "guardrail.name"), "no_secrets");
  EXPECT_EQ(Attr(guard, "guardrail.result"), "fail");
  EXPECT_EQ(Attr(guard, "guardrail.reason"), "api key in output");
  EXPECT_EQ(guard->status, static_cast<uint8_t>(StatusCode::kUnset));

  const SeenSpan* custom = s.Find("custom.step");
  ASSERT_TRUE(custom);
  EXPECT_EQ(Attr(custom, "error.type"), "Timeout");
  EXPECT_EQ(custom->status, static_cast<uint8_t>(StatusCode::kError));
}

TEST_F(AgentHelpersTest, EmptyVariablePartsLeaveNoTrailingSuffix) {
  SeenSink s = RunInChild({}, [] {
    LlmSpan llm("openai", "");
    ToolSpan tool("");
  });
  EXPECT_TRUE(s.Find("chat"));
  EXPECT_TRUE(s.Find("execute_tool"));
}

// Writes one span with every kind of content and reports the switch as an attribute.
void WriteContentSpan() {
  LlmSpan llm("openai", "gpt-4o");
  llm.Set("capture.enabled", CaptureContentEnabled());
  llm.Set("capture.max_chars", static_cast<int64_t>(ContentCaptureMaxChars()));
  CaptureInputMessages(llm, R"([{"role":"user","parts":[{"type":"text","content":"hi"}]}])");
  CaptureOutputMessages(llm, std::string(1000, 'o'));
  CaptureToolArguments(llm, R"({"path":"/src/main.rs"})");
  CaptureToolResult(llm, "fn main() {}");
}

constexpr const char* kContentKeys[] = {"gen_ai.input.messages", "gen_ai.output.messages",
                                        "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"};

TEST_F(AgentHelpersTest, ContentCaptureIsOffByDefault) {
  SeenSink s = RunInChild({}, WriteContentSpan);
  const SeenSpan* llm = s.Find("chat gpt-4o");
  ASSERT_TRUE(llm);
  EXPECT_EQ(Attr(llm, "capture.enabled"), "false");
  EXPECT_EQ(Attr(llm, "capture.max_chars"), "12000");
  for (const char* k : kContentKeys) EXPECT_FALSE(Has(llm, k)) << k;
}

TEST_F(AgentHelpersTest, ContentCaptureFromEnvironmentClipsLongValues) {
  SeenSink s = RunInChild(
      {{"AGENTRING_CAPTURE_CONTENT", "1"}, {"AGENTRING_CAPTURE_MAX_CHARS", "200"}},
      WriteContentSpan);
  const SeenSpan* llm = s.Find("chat gpt-4o");
  ASSERT_TRUE(llm);
  EXPECT_EQ(Attr(llm, "capture.enabled"), "true");
  EXPECT_EQ(Attr(llm, "capture.max_chars"), "200");
  EXPECT_EQ(Attr(llm, "gen_ai.input.messages"),
            R"([{"role":"user","parts":[{"type":"text","content":"hi"}]}])");
  EXPECT_EQ(Attr(llm, "gen_ai.tool.call.arguments"), R"({"path":"/src/main.rs"})");
  EXPECT_EQ(Attr(llm, "gen_ai.tool.call.result"), "fn main() {}");
  // 1000 'o' at 200: 140 head, 28 tail, 832 elided.
  EXPECT_EQ(Attr(llm, "gen_ai.output.messages"),
            std::string(140, 'o') + "\xE2\x80\xA6[832 chars elided]\xE2\x80\xA6" +
                std::string(28, 'o'));
}

TEST_F(AgentHelpersTest, ContentCaptureFollowsTheOtelVariableUnlessOverridden) {
  SeenSink otel = RunInChild({{"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true"}},
                             WriteContentSpan);
  ASSERT_TRUE(otel.Find("chat gpt-4o"));
  EXPECT_EQ(Attr(otel.Find("chat gpt-4o"), "capture.enabled"), "true");
  EXPECT_TRUE(Has(otel.Find("chat gpt-4o"), "gen_ai.input.messages"));

  SeenSink off = RunInChild({{"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true"},
                             {"AGENTRING_CAPTURE_CONTENT", "0"}},
                            WriteContentSpan);
  ASSERT_TRUE(off.Find("chat gpt-4o"));
  EXPECT_EQ(Attr(off.Find("chat gpt-4o"), "capture.enabled"), "false");
  EXPECT_FALSE(Has(off.Find("chat gpt-4o"), "gen_ai.input.messages"));

  SeenSink set = RunInChild({}, [] {
    SetContentCapture(true);
    WriteContentSpan();
  });
  ASSERT_TRUE(set.Find("chat gpt-4o"));
  EXPECT_TRUE(Has(set.Find("chat gpt-4o"), "gen_ai.output.messages"));
}

// ---- clipping (no segment needed) --------------------------------------------------------------

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

::testing::AssertionResult ValidUtf8(std::string_view v) {
  for (size_t i = 0; i < v.size();) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > v.size())
      return ::testing::AssertionFailure() << "bad lead byte at " << i;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(v[i + k]) & 0xC0) != 0x80)
        return ::testing::AssertionFailure() << "bad continuation at " << i + k;
    i += n;
  }
  return ::testing::AssertionSuccess();
}

TEST(AgentClip, ShortValuesAreUnchanged) {
  std::string out;
  EXPECT_EQ(ClipContent("hello", 12000, &out), 0u);
  EXPECT_EQ(out, "hello");
  // Exactly at the limit, in code points (3 bytes each): 12000 code points, 36000 bytes.
  std::string euro;
  for (int i = 0; i < 12000; ++i) euro += "\xE2\x82\xAC";
  EXPECT_EQ(ClipContent(euro, 12000, &out), 0u);
  EXPECT_EQ(out, euro);
}

TEST(AgentClip, KeepsSeventyPercentHeadAndTheTailAtCodePoints) {
  // 3-byte code points so that a byte cut would show; "HEAD" and "TAIL" at the ends.
  std::string big = "HEAD";
  for (int i = 0; i < 20000; ++i) big += "\xE2\x82\xAC";
  big += "TAIL";
  std::string out;
  // 20008 code points at 12000: head 8400, tail 12000 - 8400 - 32 = 3568, elided 8040.
  EXPECT_EQ(ClipContent(big, 12000, &out), 8040u);
  EXPECT_TRUE(ValidUtf8(out));
  EXPECT_LE(CodePoints(out), 12000u);
  EXPECT_EQ(out.substr(0, 4), "HEAD");
  EXPECT_EQ(out.substr(out.size() - 4), "TAIL");
  const std::string marker = "\xE2\x80\xA6[8040 chars elided]\xE2\x80\xA6";
  size_t at = out.find(marker);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(CodePoints(std::string_view(out).substr(0, at)), 8400u);
  EXPECT_EQ(CodePoints(std::string_view(out).substr(at + marker.size())), 3568u);
}

TEST(AgentClip, FourByteCodePointsAndTheMinimumLimit) {
  std::string emoji;
  for (int i = 0; i < 1000; ++i) emoji += "\xF0\x9F\x98\x80";  // U+1F600
  std::string out;
  // A limit below the minimum (128) is raised to it: head 89, tail 7, elided 904.
  EXPECT_EQ(ClipContent(emoji, 10, &out), 904u);
  EXPECT_TRUE(ValidUtf8(out));
  EXPECT_LE(CodePoints(out), 128u);
  EXPECT_NE(out.find("[904 chars elided]"), std::string::npos);
}

TEST(AgentClip, InvalidBytesStayWithTheirCodePoint) {
  // Stray continuation bytes count as part of the code point before them, so no cut separates
  // them from it, and the count stays in code points.
  std::string s;
  for (int i = 0; i < 300; ++i) s += "a\x80";
  std::string out;
  EXPECT_EQ(ClipContent(s, 200, &out), 300u - 140u - 28u);
  EXPECT_EQ(out.substr(0, 280), s.substr(0, 280));
  EXPECT_EQ(out.substr(out.size() - 56), s.substr(s.size() - 56));
}

}  // namespace
}  // namespace agentring
