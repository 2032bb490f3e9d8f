// Tests for the console tree (reader/export/tree_exporter.h): glyphs, ordering, key attributes,
// the HOTSPOT rule, orphans and cycles, late batches, and the exporter writing through a real
// file.
#include "reader/export/tree_exporter.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agentring/agentring.hpp"
#include "reader/enrich/enricher.h"
#include "reader/export/exporter.h"
#include "reader/export/output_file.h"

namespace agentring::reader {
namespace {

constexpr TraceId kTrace{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kT0 = 1'700'000'000 * kSec;

std::unique_ptr<SpanData> Span(uint64_t id, uint64_t parent, const char* name, uint64_t start_s_x10,
                               uint64_t dur_s_x10,
                               std::shared_ptr<const ProcessInfo> process = nullptr) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = kTrace;
  s->span_id = id;
  s->parent_span_id = parent;
  s->name = name;
  s->start_unix_ns = kT0 + start_s_x10 * kSec / 10;
  s->end_unix_ns = s->start_unix_ns + dur_s_x10 * kSec / 10;
  s->ended = true;
  s->process = std::move(process);
  return s;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// The seed-000 shape, with times in tenths of a second.
TraceBatch SeedLikeBatch() {
  auto orchestrator = std::make_shared<ProcessInfo>();
  orchestrator->pid = 1000;
  orchestrator->service_name = "orchestrator";
  auto coder = std::make_shared<ProcessInfo>();
  coder->pid = 1234;
  coder->service_name = "task-agent";
  TraceBatch b;
  b.trace_id = kTrace;
  // Deliberately out of start order: the renderer sorts siblings.
  b.spans.push_back(Span(1, 0, "execute_query", 0, 1250, orchestrator));
  b.spans.push_back(Span(3, 1, "execute_workflow_dag", 55, 1180, orchestrator));
  b.spans.push_back(Span(2, 1, "orchestrator_decompose", 0, 50, orchestrator));
  auto llm = Span(4, 2, "llm_planning_call", 1, 12, orchestrator);
  llm->attributes = {{"gen_ai.request.model", std::string("llama3.1")},
                     {"gen_ai.usage.input_tokens", int64_t{450}},
                     {"gen_ai.usage.output_tokens", int64_t{120}}};
  b.spans.push_back(std::move(llm));
  b.spans.push_back(Span(5, 2, "parse_plan", 20, 0, orchestrator));
  b.spans.back()->end_unix_ns = b.spans.back()->start_unix_ns + 3'000'000;  // 3ms
  auto task = Span(6, 3, "task_execution", 60, 1102, coder);
  task->attributes = {{"agent.name", std::string("CodingAgent")}};
  b.spans.push_back(std::move(task));
  b.spans.push_back(Span(7, 6, "rag_context_retrieval", 61, 600, coder));
  b.spans.push_back(Span(8, 6, "react_loop", 700, 100, coder));
  auto tool = Span(9, 8, "tool_execute", 710, 10, coder);
  tool->attributes = {{"tool.name", std::string("filesystem")},
                      {"tool.action", std::string("read")},
                      {"tool.status", std::string("error")}};
  tool->status = SpanStatus::kError;
  tool->status_message = "locked";
  b.spans.push_back(std::move(tool));
  b.spans.push_back(Span(10, 1, "synthesize_results", 1240, 5, orchestrator));
  return b;
}

TEST(ExportTree, RendersSeedShapeWithGlyphsAttributesAndHotspot) {
  std::string out;
  RenderTraceTree(SeedLikeBatch(), &out);
  const std::vector<std::string> expected = {
      "[Trace: execute_query] (Total: 125.0s) trace=4bf92f3577b34da6a3ce929d0e0e4736 spans=10 "
      "processes=2",
      "├── [orchestrator_decompose] (5.0s)",
      "│   ├── [llm_planning_call] (1.2s) model=llama3.1 tokens=450/120",  // < 50%: no hotspot
      "│   └── [parse_plan] (3ms)",
      "├── [execute_workflow_dag] (118.0s)  <-- HOTSPOT",
      // One child only: never a hotspot, however long.
      "│   └── [task_execution] (110.2s) agent=CodingAgent [pid 1234 task-agent]",
      "│       ├── [rag_context_retrieval] (60.0s)  <-- HOTSPOT",
      "│       └── [react_loop] (10.0s)",
      "│           └── [tool_execute] (1.0s) tool=filesystem action=read tool_status=error ✗ "
      "ERROR: locked",
      "└── [synthesize_results] (500ms)",
  };
  EXPECT_EQ(Lines(out), expected) << out;
}

TEST(ExportTree, HotspotNeedsHalfOfParentAndTwiceEverySibling) {
  TraceBatch b;
  b.trace_id = kTrace;
  // Two roots (malformed), so both are top-level lines and the rule is checked below each.
  b.spans.push_back(Span(1, 0, "root", 0, 100));
  b.spans.push_back(Span(2, 1, "a", 0, 40));  // 40% of the parent: not a hotspot
  b.spans.push_back(Span(3, 1, "b", 40, 10));
  b.spans.push_back(Span(4, 1, "c", 50, 10));
  b.spans.push_back(Span(5, 4, "only_child", 50, 10));  // 100% of its parent, but alone
  b.spans.push_back(Span(6, 0, "root2", 100, 100));
  b.spans.push_back(Span(7, 6, "x", 100, 60));  // >= 50% but only 1.5x its sibling
  b.spans.push_back(Span(8, 6, "y", 160, 40));
  std::string out;
  RenderTraceTree(b, &out);
  EXPECT_EQ(out.find("HOTSPOT"), std::string::npos) << out;

  SpanData& a = *b.spans[1];
  SpanData& sibling = *b.spans[2];
  a.end_unix_ns = a.start_unix_ns + 5 * kSec;  // exactly 50% of root, 5x each sibling
  out.clear();
  RenderTraceTree(b, &out);
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 9u) << out;
  EXPECT_EQ(lines[1], "├── [root] (10.0s)") << out;
  EXPECT_EQ(lines[2], "│   ├── [a] (5.0s)  <-- HOTSPOT") << out;
  EXPECT_EQ(lines[5], "│       └── [only_child] (1.0s)") << out;
  EXPECT_EQ(out.find("HOTSPOT"), out.rfind("HOTSPOT")) << out;  // only one

  sibling.end_unix_ns = sibling.start_unix_ns + 25 * kSec / 10;  // a = exactly 2x sibling
  out.clear();
  RenderTraceTree(b, &out);
  EXPECT_EQ(Lines(out)[2], "│   ├── [a] (5.0s)  <-- HOTSPOT") << out;

  sibling.end_unix_ns = sibling.start_unix_ns + 26 * kSec / 10;  // a < 2x sibling
  out.clear();
  RenderTraceTree(b, &out);
  EXPECT_EQ(out.find("HOTSPOT"), std::string::npos) << out;

  // Dominating its parent is not enough when it is a small part of the whole trace: stretch
  // root2 so that the trace spans 60 s and a's 5 s is under a fifth of it.
  sibling.end_unix_ns = sibling.start_unix_ns + 1 * kSec;
  b.spans[5]->end_unix_ns = b.spans[5]->start_unix_ns + 50 * kSec;
  out.clear();
  RenderTraceTree(b, &out);
  EXPECT_EQ(Lines(out)[2], "│   ├── [a] (5.0s)") << out;
}

TEST(ExportTree, OrphansCyclesAndLateBatches) {
  TraceBatch b;
  b.trace_id = kTrace;
  b.late = true;
  b.spans.push_back(Span(20, 99, "late_child_b", 30, 5));  // parent 99 was exported earlier
  b.spans.push_back(Span(21, 99, "late_child_a", 10, 5));
  b.spans.push_back(Span(22, 21, "grandchild", 11, 1));
  b.spans.push_back(Span(30, 31, "cycle_x", 50, 1));  // malformed: 30 <-> 31
  b.spans.push_back(Span(31, 30, "cycle_y", 51, 1));
  b.spans.push_back(Span(40, 40, "self_parent", 60, 1));
  std::string out;
  RenderTraceTree(b, &out);
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 7u) << out;
  EXPECT_EQ(lines[0].rfind("[Trace: late_child_a (late spans)] (Total: 5.1s) trace=", 0), 0u) << out;
  EXPECT_EQ(lines[1], "├── [late_child_a] (500ms)");
  EXPECT_EQ(lines[2], "│   └── [grandchild] (100ms)");
  EXPECT_EQ(lines[3], "├── [late_child_b] (500ms)");
  // Every span appears exactly once even on a parent cycle.
  EXPECT_NE(out.find("cycle_x"), std::string::npos);
  EXPECT_NE(out.find("cycle_y"), std::string::npos);
  EXPECT_EQ(lines[6], "└── [self_parent] (100ms)");
}

TEST(ExportTree, OrphanOfACompleteTraceFollowsTheRootsChildren) {
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(Span(1, 0, "root", 0, 100));
  b.spans.push_back(Span(5, 77, "lost_parent", 5, 10));  // parent 77 was dropped
  b.spans.push_back(Span(2, 1, "child", 10, 20));
  std::string out;
  RenderTraceTree(b, &out);
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0].rfind("[Trace: root] (Total: 10.0s) trace=", 0), 0u) << out;
  EXPECT_EQ(lines[1], "├── [child] (2.0s)");
  EXPECT_EQ(lines[2], "└── [lost_parent] (1.0s) (orphan)");
}

TEST(ExportTree, SanitizesTerminalOutputAndMarksIncompleteAndOpen) {
  TraceBatch b;
  b.trace_id = kTrace;
  b.spans.push_back(Span(1, 0, "evil\x1b[2J\xFFname", 0, 10));
  b.spans[0]->incomplete = true;
  b.spans[0]->status = SpanStatus::kError;
  b.spans[0]->status_message = "bad\nline";
  b.spans.push_back(Span(2, 1, "running", 1, 0));
  b.spans[1]->end_unix_ns = 0;
  b.spans[1]->ended = false;
  b.spans[1]->attributes = {{"llm.model", std::string(200, 'm')},
                            {"llm.token_count.prompt", int64_t{7}}};
  std::string out;
  RenderTraceTree(b, &out);
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_EQ(lines[0],
            "[Trace: evil\\x1b[2J\xEF\xBF\xBDname] (Total: 1.0s) trace="
            "4bf92f3577b34da6a3ce929d0e0e4736 spans=2 processes=1 incomplete ✗ ERROR: bad\\x0aline");
  EXPECT_EQ(lines[1], "└── [running] (open) model=" + std::string(80, 'm') + "… input_tokens=7");
}

TEST(ExportTree, ShowsCostOnCallsAndRollUpsOnTurnsAndTheRun) {
  TraceBatch b;
  b.trace_id = kTrace;
  auto add = [&](uint64_t id, uint64_t parent, const char* name, Kind kind, uint64_t start,
                 uint64_t dur, std::vector<Attribute> attrs = {}) {
    b.spans.push_back(Span(id, parent, name, start, dur));
    b.spans.back()->kind = static_cast<uint8_t>(kind);
    b.spans.back()->attributes = std::move(attrs);
  };
  auto llm = [](const char* model, int64_t in, int64_t out) {
    return std::vector<Attribute>{{"gen_ai.request.model", std::string(model)},
                                  {"gen_ai.usage.input_tokens", in},
                                  {"gen_ai.usage.output_tokens", out}};
  };
  add(1, 0, "agent.run", Kind::kRun, 0, 100, {{"gen_ai.conversation.id", std::string("c")}});
  add(2, 1, "agent.turn 1", Kind::kTurn, 0, 40);
  add(3, 2, "chat gpt-4o", Kind::kLlm, 0, 30, llm("gpt-4o", 2048, 150));
  add(4, 2, "execute_tool", Kind::kTool, 30, 10);
  add(5, 1, "agent.turn 2", Kind::kTurn, 40, 60);
  add(6, 5, "chat llama3.1", Kind::kLlm, 40, 10, llm("llama3.1", 500, 50));
  add(7, 5, "chat my-model", Kind::kLlm, 50, 10, llm("my-model", 100, 10));

  // Before enrichment: no cost anywhere, turns show nothing.
  std::string out;
  RenderTraceTree(b, &out);
  EXPECT_EQ(out.find("cost"), std::string::npos) << out;

  std::string error;
  auto enricher = Enricher::Create({}, &error);
  ASSERT_NE(enricher, nullptr) << error;
  enricher->Process(&b);
  out.clear();
  RenderTraceTree(b, &out);
  // gpt-4o: (2048 * 2.50 + 150 * 10.00) / 1M = $0.00662; llama3.1 is self-hosted ($0); my-model
  // is unknown, so the totals above it are lower bounds ("cost≥").
  const std::vector<std::string> expected = {
      "[Trace: agent.run] (Total: 10.0s) run trace=4bf92f3577b34da6a3ce929d0e0e4736 spans=7 "
      "processes=1 tokens=2648/210 cost≥$0.00662",
      "├── [agent.turn 1] (4.0s) turn tokens=2048/150 cost=$0.00662",
      "│   ├── [chat gpt-4o] (3.0s) llm model=gpt-4o tokens=2048/150 cost=$0.00662  <-- HOTSPOT",
      "│   └── [execute_tool] (1.0s) tool",
      "└── [agent.turn 2] (6.0s) turn tokens=600/60 cost≥$0",
      "    ├── [chat llama3.1] (1.0s) llm model=llama3.1 tokens=500/50 cost=$0",
      "    └── [chat my-model] (1.0s) llm model=my-model tokens=100/10",
  };
  EXPECT_EQ(Lines(out), expected) << out;
}

TEST(ExportTree, FormatUsdKeepsThreeSignificantDigitsBelowADollar) {
  EXPECT_EQ(FormatUsd(0), "$0");
  EXPECT_EQ(FormatUsd(0.000015), "$0.000015");
  EXPECT_EQ(FormatUsd(0.0123), "$0.0123");
  EXPECT_EQ(FormatUsd(0.001), "$0.001");
  EXPECT_EQ(FormatUsd(0.5), "$0.50");
  EXPECT_EQ(FormatUsd(0.999), "$0.999");
  EXPECT_EQ(FormatUsd(1.0), "$1.00");
  EXPECT_EQ(FormatUsd(12.3), "$12.30");
}

TEST(ExportTree, FormatDurationPicksUnitAndPrecision) {
  EXPECT_EQ(FormatDuration(0), "0ns");
  EXPECT_EQ(FormatDuration(850), "850ns");
  EXPECT_EQ(FormatDuration(1'500), "1.5µs");
  EXPECT_EQ(FormatDuration(12'000), "12µs");
  EXPECT_EQ(FormatDuration(999'400), "999µs");
  EXPECT_EQ(FormatDuration(999'600), "1ms");
  EXPECT_EQ(FormatDuration(3'000'000), "3ms");
  EXPECT_EQ(FormatDuration(3'240'000), "3.2ms");
  EXPECT_EQ(FormatDuration(450'000'000), "450ms");
  EXPECT_EQ(FormatDuration(1'200'000'000), "1.2s");
  EXPECT_EQ(FormatDuration(125 * kSec), "125.0s");
  EXPECT_EQ(FormatDuration(3723 * kSec), "1h02m03s");
}

TEST(ExportTree, ExporterWritesOneTraceAndABlankLineToAFile) {
  const std::string path = ::testing::TempDir() + "export_tree_" + std::to_string(getpid()) + ".txt";
  std::string error;
  auto out = OpenOutput(path, &error);
  ASSERT_NE(out, nullptr) << error;
  auto exporter = MakeTreeExporter(std::move(out));
  ASSERT_NE(exporter, nullptr);
  EXPECT_EQ(exporter->name(), "tree");
  TraceBatch b = SeedLikeBatch();
  ASSERT_TRUE(exporter->Export(b));
  ASSERT_TRUE(exporter->Export(b));
  exporter.reset();  // closes the file
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string expected;
  RenderTraceTree(b, &expected);
  expected += "\n";
  EXPECT_EQ(ss.str(), expected + expected);
  unlink(path.c_str());
}

}  // namespace
}  // namespace agentring::reader
