// Integration tests of the binaries' command lines: the reader's and the CLI's error exits, one
// reader per segment, `agentring stats` on a live segment, and `agentring demo` end to end.
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agentring/agentring.hpp"
#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

TEST(ReaderCli, ReaderWithoutSegmentFails) {
  SegmentGuard seg(UniqueSegmentName());
  CommandResult r =
      RunCommand({ReaderPath(), "--segment", seg.name(), "--exporter", "jsonl", "--out", "/dev/null"});
  ASSERT_TRUE(r.finished) << r.Describe();
  EXPECT_EQ(r.exit_code(), 1) << r.Describe();
  EXPECT_NE(r.err.find("--create"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find(seg.name()), std::string::npos) << r.Describe();
  EXPECT_FALSE(SegmentExists(seg.name())) << "a reader without --create created the segment";
}

TEST(ReaderCli, UsageErrors) {
  SegmentGuard seg(UniqueSegmentName());

  CommandResult unknown = RunCommand({ReaderPath(), "--segment", seg.name(), "--no-such-flag"});
  EXPECT_EQ(unknown.exit_code(), 2) << unknown.Describe();
  EXPECT_NE(unknown.err.find("usage"), std::string::npos) << unknown.Describe();

  CommandResult lane = RunCommand({ReaderPath(), "--segment", seg.name(), "--create", "--lane-kib",
                                   "3", "--exporter", "jsonl", "--out", "/dev/null"});
  EXPECT_EQ(lane.exit_code(), 2) << lane.Describe();
  EXPECT_NE(lane.err.find("--lane-kib"), std::string::npos) << lane.Describe();
  EXPECT_FALSE(SegmentExists(seg.name())) << "a usage error still created the segment";

  CommandResult exporter = RunCommand({ReaderPath(), "--segment", seg.name(), "--create",
                                       "--exporter", "xml"});
  EXPECT_EQ(exporter.exit_code(), 2) << exporter.Describe();

  CommandResult loadgen = RunCommand({CliPath(), "loadgen", "--processes", "1"});
  EXPECT_EQ(loadgen.exit_code(), 2) << loadgen.Describe();
  EXPECT_NE(loadgen.err.find("--segment"), std::string::npos) << loadgen.Describe();

  CommandResult rm = RunCommand({CliPath(), "rm", seg.name()});
  EXPECT_EQ(rm.exit_code(), 1) << rm.Describe();
  EXPECT_NE(rm.err.find(seg.name()), std::string::npos) << rm.Describe();

  CommandResult command = RunCommand({CliPath(), "no-such-command"});
  EXPECT_EQ(command.exit_code(), 2) << command.Describe();
}

TEST(ReaderCli, RmRemovesALiveSegmentName) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  CommandResult rm = RunCommand({CliPath(), "rm", seg.name()});
  EXPECT_EQ(rm.exit_code(), 0) << rm.Describe();
  EXPECT_FALSE(SegmentExists(seg.name()));
  EXPECT_TRUE(StopReader(reader));  // its mapping stays valid after the name is gone
}

TEST(ReaderCli, SecondReaderRefused) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess first = StartReader(seg.name(), dir, "first", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), first));

  CommandResult second = RunCommand({ReaderPath(), "--segment", seg.name(), "--exporter", "jsonl",
                                     "--out", dir.File("second.jsonl")});
  ASSERT_TRUE(second.finished) << second.Describe();
  EXPECT_EQ(second.exit_code(), 1) << second.Describe();
  EXPECT_NE(second.err.find("another reader"), std::string::npos) << second.Describe();
  EXPECT_NE(second.err.find(std::to_string(first.child.pid())), std::string::npos)
      << second.Describe();

  // --create on an existing compatible segment is an attach, and is refused the same way.
  CommandResult third = RunCommand({ReaderPath(), "--segment", seg.name(), "--create",
                                    "--exporter", "jsonl", "--out", dir.File("third.jsonl")});
  EXPECT_EQ(third.exit_code(), 1) << third.Describe();
  EXPECT_NE(third.err.find("another reader"), std::string::npos) << third.Describe();

  EXPECT_FALSE(first.child.Exited()) << "the first reader died: " << DescribeStatus(first.child.status());
  EXPECT_TRUE(StopReader(first));

  // Once the first reader is gone, its lock is gone: a successor takes over.
  ReaderProcess successor = StartReader(seg.name(), dir, "successor", {"--exit-when-idle-ms", "0"});
  EXPECT_TRUE(WaitForReaderExit(successor));
}

TEST(ReaderCli, StatsCommand) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader =
      StartReader(seg.name(), dir, "reader", {"--create", "--lanes", "4", "--lane-kib", "16"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  // A writer process holding one span open on one lane while `stats` looks.
  Gate release;
  Child writer = ForkWriter(seg.name(), [&release](int report) {
    Span held("it.held", Kind::kRun);
    Report(report, "committed", std::to_string(GetWriterStats().span_starts_committed));
    if (!release.WaitInChild()) return 3;
    return 0;
  });
  ASSERT_TRUE(writer.valid());
  std::optional<std::string> line = writer.ReadReportLine();
  ASSERT_TRUE(line.has_value()) << "the writer child did not report";
  ASSERT_EQ(*line, "committed=1");

  CommandResult r = RunCommand({CliPath(), "stats", "--segment", seg.name(), "--json"});
  ASSERT_EQ(r.exit_code(), 0) << r.Describe();
  boost::json::object s;
  ASSERT_TRUE(ParseJsonObject(r.out, &s));
  EXPECT_EQ(boost::json::value_to<std::string>(s.at("segment")), seg.name());
  EXPECT_EQ(U64(s, "lanes"), 4u);
  EXPECT_EQ(U64(s, "lane_kib"), 16u);
  EXPECT_EQ(U64(s, "lane_capacity_records"), 256u);
  EXPECT_EQ(U64(s, "process_slots"), 64u);
  EXPECT_EQ(U64(s, "reader_pid"), static_cast<uint64_t>(reader.child.pid()));
  EXPECT_EQ(s.at("reader_alive"), boost::json::value(true));
  EXPECT_EQ(U64(s, "lanes_in_use"), 1u);
  EXPECT_EQ(U64(s, "processes_attached"), 1u);
  EXPECT_EQ(U64(s, "processes_refused_no_slot"), 0u);
  ASSERT_TRUE(s.at("lane_table").is_array());
  ASSERT_EQ(s.at("lane_table").get_array().size(), 1u) << r.out;
  const boost::json::object& lane = s.at("lane_table").get_array()[0].get_object();
  EXPECT_EQ(boost::json::value_to<std::string>(lane.at("state")), "owned");
  EXPECT_EQ(boost::json::value_to<int64_t>(lane.at("pid")), writer.pid()) << r.out;
  EXPECT_EQ(U64(lane, "span_starts_committed"), 1u);
  EXPECT_EQ(U64(lane, "groups_dropped"), 0u);
  ASSERT_TRUE(s.at("processes").is_array());
  ASSERT_EQ(s.at("processes").get_array().size(), 1u) << r.out;
  const boost::json::object& proc = s.at("processes").get_array()[0].get_object();
  EXPECT_EQ(boost::json::value_to<int64_t>(proc.at("pid")), writer.pid()) << r.out;
  EXPECT_EQ(proc.at("alive"), boost::json::value(true));
  const boost::json::object& dropped = s.at("dropped").get_object();
  for (const char* k : {"full", "too_big", "no_lane", "no_segment", "sampled_out"})
    EXPECT_EQ(U64(dropped, k), 0u) << k;

  CommandResult text = RunCommand({CliPath(), "stats", "--segment", seg.name()});
  EXPECT_EQ(text.exit_code(), 0) << text.Describe();
  EXPECT_NE(text.out.find(seg.name()), std::string::npos) << text.out;

  release.Open();
  ASSERT_TRUE(writer.Wait());
  EXPECT_TRUE(ExitedWith(writer.status(), 0)) << DescribeStatus(writer.status());
  ASSERT_TRUE(StopReader(reader));
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), 1u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);

  SegmentGuard missing(UniqueSegmentName() + "-missing");
  CommandResult none = RunCommand({CliPath(), "stats", "--segment", missing.name(), "--json"});
  EXPECT_EQ(none.exit_code(), 1) << none.Describe();
}

// Every span of an OTLP JSON Lines file as its raw JSON object, by spanId (for the fields
// ExportedSpan does not keep: kind, links).
std::map<std::string, boost::json::object> RawSpans(const std::string& path) {
  std::map<std::string, boost::json::object> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    boost::json::value doc = boost::json::parse(line);
    for (const boost::json::value& rs : doc.at("resourceSpans").as_array())
      for (const boost::json::value& ss : rs.at("scopeSpans").as_array())
        for (const boost::json::value& span : ss.at("spans").as_array())
          out[std::string(span.at("spanId").as_string())] = span.as_object();
  }
  return out;
}

std::vector<std::string> LinkedSpanIds(const boost::json::object& span) {
  std::vector<std::string> ids;
  for (const boost::json::value& l : span.at("links").as_array())
    ids.emplace_back(l.at("spanId").as_string());
  return ids;
}

TEST(ReaderCli, DemoEndToEnd) {
  TempDir dir;
  const std::string out_dir = dir.File("demo");
  CommandResult r = RunCommand({CliPath(), "demo", "--out-dir", out_dir},
                               {{"AGENTRING_CAPTURE_CONTENT", ""},
                                {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", ""}});
  SegmentGuard demo_segment("agentring-demo-" + std::to_string(r.pid));
  ASSERT_EQ(r.exit_code(), 0) << r.Describe();
  EXPECT_FALSE(SegmentExists(demo_segment.name())) << "the demo left its segment behind";

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(out_dir + "/traces.jsonl", &file));
  ASSERT_EQ(file.traces.size(), 1u);
  const auto& [trace_id, spans] = *file.traces.begin();
  EXPECT_TRUE(ParentsResolveWithinTrace(trace_id, spans));
  EXPECT_TRUE(HasExactlyOneRoot(trace_id, spans));
  EXPECT_TRUE(SpanIdsUnique(file));
  EXPECT_EQ(PidsOf(spans).size(), 3u);
  std::set<std::string> names = NamesOf(spans);
  for (const char* n : {"execute_query", "chat gpt-4o", "chat llama3.1", "agent.turn 1",
                        "execute_tool filesystem", "task_execution", "invoke_agent CodingAgent",
                        "invoke_agent ReviewAgent", "embeddings all-MiniLM-L6-v2",
                        "rag_context_retrieval", "handoff ReviewAgent", "guardrail tests_pass"})
    EXPECT_EQ(names.count(n), 1u) << "no span named '" << n << "'";

  // The reader's /metrics, scraped by the demo while the reader ran: the RED, GenAI and ring
  // families with the demo's values (5 turns, 4 filesystem calls of which 1 failed).
  const std::string metrics = ReadFileOrEmpty(out_dir + "/metrics.txt");
  for (const char* line :
       {"agent_turns_total 5\n", "agent_tool_calls_total{tool=\"filesystem\",ok=\"false\"} 1\n",
        "agent_tool_calls_total{tool=\"filesystem\",ok=\"true\"} 3\n",
        "# TYPE gen_ai_client_token_usage histogram\n",
        "# TYPE gen_ai_client_operation_duration_seconds histogram\n",
        "# TYPE agent_errors_total counter\n", "# TYPE agentring_lanes_in_use gauge\n",
        "# TYPE agentring_records_rejected_total counter\n"})
    EXPECT_NE(metrics.find(line), std::string::npos) << "no '" << line << "' in\n" << metrics;

  // The root is the run, with the conversation id.
  std::vector<const ExportedSpan*> root = FindByName(spans, "execute_query");
  ASSERT_EQ(root.size(), 1u);
  EXPECT_EQ(root[0]->StringAttribute("agent.kind"), "run");
  EXPECT_EQ(root[0]->StringAttribute("gen_ai.conversation.id").rfind("conv-", 0), 0u);

  // Each task process nests its task_execution under its agent's invoke_agent span, and both
  // invocations are siblings under the orchestrator's DAG span.
  std::vector<const ExportedSpan*> dag = FindByName(spans, "execute_workflow_dag");
  std::vector<const ExportedSpan*> tasks = FindByName(spans, "task_execution");
  ASSERT_EQ(dag.size(), 1u);
  ASSERT_EQ(tasks.size(), 2u);
  std::map<std::string, const ExportedSpan*> invoke;
  for (const char* agent : {"CodingAgent", "ReviewAgent"}) {
    std::vector<const ExportedSpan*> v = FindByName(spans, std::string("invoke_agent ") + agent);
    ASSERT_EQ(v.size(), 1u) << agent;
    invoke[agent] = v[0];
    EXPECT_EQ(v[0]->parent_span_id, dag[0]->span_id);
    EXPECT_EQ(v[0]->pid, dag[0]->pid);
    EXPECT_EQ(v[0]->StringAttribute("gen_ai.agent.name"), agent);
  }
  for (const ExportedSpan* t : tasks) {
    const std::string agent = t->StringAttribute("agent.name");
    ASSERT_EQ(invoke.count(agent), 1u) << agent;
    EXPECT_EQ(t->parent_span_id, invoke[agent]->span_id) << agent;
    EXPECT_NE(t->pid, dag[0]->pid);
  }
  EXPECT_NE(tasks[0]->pid, tasks[1]->pid);

  // Links: the reviewer's handoff points at the coder's invocation; the synthesis (fan-in) at
  // both invocations. Model, tool and agent calls are CLIENT spans.
  std::map<std::string, boost::json::object> raw = RawSpans(out_dir + "/traces.jsonl");
  std::vector<const ExportedSpan*> handoff = FindByName(spans, "handoff ReviewAgent");
  ASSERT_EQ(handoff.size(), 1u);
  EXPECT_EQ(handoff[0]->StringAttribute("agent.handoff.from"), "CodingAgent");
  EXPECT_EQ(LinkedSpanIds(raw[handoff[0]->span_id]),
            std::vector<std::string>{invoke["CodingAgent"]->span_id});
  std::vector<const ExportedSpan*> synth = FindByName(spans, "synthesize_results");
  ASSERT_EQ(synth.size(), 1u);
  EXPECT_EQ(LinkedSpanIds(raw[synth[0]->span_id]),
            (std::vector<std::string>{invoke["CodingAgent"]->span_id,
                                      invoke["ReviewAgent"]->span_id}));
  for (const ExportedSpan& s : spans) {
    const std::string kind = s.StringAttribute("agent.kind");
    const bool client =
        kind == "llm" || kind == "tool" || kind == "embedding" || kind == "subagent";
    EXPECT_EQ(raw[s.span_id].at("kind").as_int64(), client ? 3 : 1) << s.name;
    // Content capture is off: no prompts, completions or tool I/O.
    for (const char* k : {"gen_ai.input.messages", "gen_ai.output.messages",
                          "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"})
      EXPECT_FALSE(s.HasAttribute(k)) << s.name << " has " << k;
  }
  // One tool error, typed.
  size_t tool_errors = 0;
  for (const ExportedSpan& s : spans)
    if (s.StringAttribute("agent.kind") == "tool" && s.status_code == 2) {
      ++tool_errors;
      EXPECT_EQ(s.StringAttribute("error.type"), "PermissionError");
    }
  EXPECT_EQ(tool_errors, 1u);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(out_dir + "/stats.json", &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), file.spans);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "records_dropped_by_writers"), 0u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);
}

TEST(ReaderCli, DemoRecordsContentWithCaptureOn) {
  TempDir dir;
  const std::string out_dir = dir.File("demo");
  CommandResult r = RunCommand({CliPath(), "demo", "--out-dir", out_dir},
                               {{"AGENTRING_CAPTURE_CONTENT", "1"}});
  SegmentGuard demo_segment("agentring-demo-" + std::to_string(r.pid));
  ASSERT_EQ(r.exit_code(), 0) << r.Describe();
  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(out_dir + "/traces.jsonl", &file));
  ASSERT_EQ(file.traces.size(), 1u);
  const std::vector<ExportedSpan>& spans = file.traces.begin()->second;
  size_t llm = 0, tools = 0;
  bool planner_prompt = false;
  for (const ExportedSpan& s : spans) {
    const std::string kind = s.StringAttribute("agent.kind");
    if (kind == "llm") {
      ++llm;
      EXPECT_TRUE(s.HasAttribute("gen_ai.input.messages")) << s.name;
      EXPECT_TRUE(s.HasAttribute("gen_ai.output.messages")) << s.name;
      boost::json::value messages = boost::json::parse(s.StringAttribute("gen_ai.input.messages"));
      EXPECT_EQ(messages.at(0).at("role").as_string(), "system") << s.name;
      const std::string input = s.StringAttribute("gen_ai.input.messages");
      // The reader redacts before anything is exported: the planner's fake key and address
      // arrive as markers, never in clear.
      EXPECT_EQ(input.find("@example.com"), std::string::npos) << s.name;
      EXPECT_EQ(input.find("sk-test-"), std::string::npos) << s.name;
      planner_prompt |= input.find("[REDACTED:email]") != std::string::npos &&
                        input.find("[REDACTED:openai_api_key]") != std::string::npos;
    } else if (kind == "tool") {
      ++tools;
      EXPECT_TRUE(s.HasAttribute("gen_ai.tool.call.arguments")) << s.name;
      EXPECT_TRUE(s.HasAttribute("gen_ai.tool.call.result")) << s.name;
    }
  }
  EXPECT_EQ(llm, 7u);
  EXPECT_EQ(tools, 4u);
  // The planner's prompt carried a fake key and an address: both redacted.
  EXPECT_TRUE(planner_prompt);
}

}  // namespace
}  // namespace agentring::it
