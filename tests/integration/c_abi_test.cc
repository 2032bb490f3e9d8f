// Integration tests of the C ABI: core/include/agentring/agentring.h compiles alone as strict C11
// and as C++17; every function it declares is exported by build/lib/libagentring.so (a C program
// taking the address of each links against the shared library and runs); and the example C
// agent (build/bin/example_c_agent, linked to libagentring.so) run against a real reader exports
// the trace it means to, with correct parentage, attributes and status.
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

const std::string kSourceDir = AGENTRING_SOURCE_DIR;
const std::string kIncludeDir = kSourceDir + "/core/include";
const std::string kHeader = kIncludeDir + "/agentring/agentring.h";

void WriteFile(const std::string& path, const std::string& text) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(fwrite(text.data(), 1, text.size(), f), text.size());
  fclose(f);
}

// Runs a compiler found on PATH (cc, c++) with `args`.
CommandResult RunTool(const std::string& tool, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/env", tool};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

// The names of the functions agentring.h declares (each declaration starts with AGENTRING_API).
std::vector<std::string> DeclaredFunctions() {
  const std::string text = ReadFileOrEmpty(kHeader);
  std::regex decl(R"(AGENTRING_API[^;(]*?\b(agentring_[a-z_]+)\s*\()");
  std::vector<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), decl); it != std::sregex_iterator();
       ++it)
    names.push_back((*it)[1].str());
  return names;
}

TEST(CAbi, HeaderCompilesAloneAsStrictC11) {
  TempDir dir;
  // Only the header: it must bring everything it needs.
  WriteFile(dir.File("alone.c"), "#include \"agentring/agentring.h\"\n");
  CommandResult r = RunTool("cc", {"-std=c11", "-Wall", "-Werror", "-pedantic", "-I" + kIncludeDir,
                                   "-c", dir.File("alone.c"), "-o", dir.File("alone.o")});
  EXPECT_EQ(r.exit_code(), 0) << r.Describe();
  // And used: the documented initializer order of the structs, every constant.
  WriteFile(dir.File("use.c"), R"(#include "agentring/agentring.h"
int use_all(void);
int use_all(void) {
  agentring_span s;
  agentring_attr a = {"k", 1, AGENTRING_ATTR_INT64, 0, 1, 0.0, NULL, 0};
  agentring_suffix x = {AGENTRING_SUFFIX_INLINE, 0, 0, "abc", 3};
  agentring_context c = {1, 2, 3, 1, 0, {0, 0, 0, 0, 0, 0}};
  agentring_stats st;
  char tp[AGENTRING_TRACEPARENT_BUFFER_BYTES];
  st.struct_size = (uint32_t)sizeof(st);
  agentring_span_start_with_attrs(&s, "x", 1, AGENTRING_KIND_TOOL, &x, &c,
                                  AGENTRING_SPAN_DETACHED, &a, 1);
  agentring_span_set_status(&s, AGENTRING_STATUS_ERROR, "m", 1);
  agentring_span_end(&s);
  return (int)agentring_version() + (int)agentring_context_to_traceparent(&c, tp, sizeof(tp)) +
         agentring_get_stats(&st) + AGENTRING_MAX_ATTRS_PER_GROUP + AGENTRING_KIND_COUNT;
}
)");
  r = RunTool("cc", {"-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I" + kIncludeDir,
                     "-c", dir.File("use.c"), "-o", dir.File("use.o")});
  EXPECT_EQ(r.exit_code(), 0) << r.Describe();
}

TEST(CAbi, HeaderCompilesAsCxxWithNoexceptCLinkage) {
  TempDir dir;
  WriteFile(dir.File("use.cc"), R"(#include "agentring/agentring.h"
static_assert(noexcept(agentring_flush()), "the C functions are noexcept from C++");
extern "C" void (*const kStart)(agentring_span*, const char*, size_t, agentring_kind,
                                const agentring_suffix*, const agentring_context*,
                                uint32_t) noexcept = agentring_span_start;
int main() { return static_cast<int>(agentring_version()); }
)");
  CommandResult r = RunTool("c++", {"-std=c++17", "-Wall", "-Werror", "-I" + kIncludeDir, "-c",
                                    dir.File("use.cc"), "-o", dir.File("use.o")});
  EXPECT_EQ(r.exit_code(), 0) << r.Describe();
}

TEST(CAbi, SharedLibraryExportsEveryDeclaredFunction) {
  const std::vector<std::string> names = DeclaredFunctions();
  ASSERT_GE(names.size(), 25u) << "could not read the declarations of " << kHeader;
  std::string program = "#include <stdio.h>\n#include \"agentring/agentring.h\"\n"
                        "typedef void (*fn)(void);\nstatic const fn kAll[] = {\n";
  for (const std::string& n : names) program += "  (fn)" + n + ",\n";
  program += "};\nint main(void) {\n"
             "  printf(\"%u %s %u\\n\", agentring_version(), agentring_version_string(),\n"
             "         (unsigned)(sizeof(kAll) / sizeof(kAll[0])));\n  return 0;\n}\n";
  TempDir dir;
  WriteFile(dir.File("all.c"), program);
  const std::string lib_dir = AGENTRING_LIB_DIR;
  CommandResult r = RunTool("cc", {"-std=c11", "-Wall", "-Werror", "-pedantic", "-I" + kIncludeDir,
                                   dir.File("all.c"), "-o", dir.File("all"), "-L" + lib_dir,
                                   "-Wl,-rpath," + lib_dir, "-Wl,--no-undefined", "-lagentring"});
  ASSERT_EQ(r.exit_code(), 0) << "a declared function is not exported by " << lib_dir
                              << "/libagentring.so: " << r.Describe();
  // -lagentring could have picked the static library: make sure the program needs the .so.
  CommandResult ldd = RunCommand({"/usr/bin/env", "ldd", dir.File("all")});
  EXPECT_NE(ldd.out.find("libagentring.so"), std::string::npos) << ldd.Describe();
  r = RunCommand({dir.File("all")});
  ASSERT_EQ(r.exit_code(), 0) << r.Describe();

  // The version string is the project's release (CMakeLists.txt: project(agentring VERSION x)).
  const std::string cmake = ReadFileOrEmpty(kSourceDir + "/CMakeLists.txt");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(cmake, m, std::regex(R"(project\(agentring VERSION ([0-9.]+))")));
  EXPECT_EQ(r.out, "1 " + m[1].str() + " " + std::to_string(names.size()) + "\n");
}

// The OTLP JSON AnyValue of an attribute, e.g. {"intValue":"1500"}; "" when absent.
std::string AttrJson(const ExportedSpan& s, const std::string& key) {
  const boost::json::value* v = s.attributes.if_contains(key);
  return v != nullptr ? boost::json::serialize(*v) : "";
}

TEST(CAbi, ExampleCAgentTraceArrivesWithParentageAndAttributes) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  CommandResult agent = RunCommand({std::string(AGENTRING_BIN_DIR) + "/example_c_agent"},
                                   {{"AGENTRING_SEGMENT", seg.name()}});
  ASSERT_EQ(agent.exit_code(), 0) << agent.Describe();
  ASSERT_TRUE(StopReader(reader));

  // The agent printed its run's traceparent, formatted by agentring_context_to_traceparent.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(agent.out, m,
                                std::regex("traceparent=00-([0-9a-f]{32})-([0-9a-f]{16})-01\n")))
      << agent.out;
  const std::string trace_id = m[1].str();
  const std::string run_id = m[2].str();

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  ASSERT_EQ(file.traces.size(), 1u);
  ASSERT_EQ(file.traces.count(trace_id), 1u);
  const std::vector<ExportedSpan>& spans = file.traces.at(trace_id);
  EXPECT_EQ(spans.size(), 8u);
  EXPECT_TRUE(ParentsResolveWithinTrace(trace_id, spans));
  EXPECT_TRUE(HasExactlyOneRoot(trace_id, spans));
  EXPECT_TRUE(SpanIdsUnique(file));
  EXPECT_EQ(NamesOf(spans),
            (std::set<std::string>{"agent.run", "agent.turn 1", "agent.turn 2", "chat gpt-4o",
                                   "execute_tool filesystem", "summarize"}));

  std::vector<const ExportedSpan*> run = FindByName(spans, "agent.run");
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0]->span_id, run_id);
  EXPECT_EQ(run[0]->parent_span_id, "");
  EXPECT_EQ(run[0]->StringAttribute("agent.name"), "ExampleCAgent");
  EXPECT_EQ(run[0]->StringAttribute("agent.kind"), "run");

  // Turns under the run; each turn's LLM and tool spans under that turn.
  for (int turn_index = 1; turn_index <= 2; ++turn_index) {
    const std::string name = "agent.turn " + std::to_string(turn_index);
    std::vector<const ExportedSpan*> turn = FindByName(spans, name);
    ASSERT_EQ(turn.size(), 1u) << name;
    EXPECT_EQ(turn[0]->parent_span_id, run_id) << name;
    EXPECT_EQ(AttrJson(*turn[0], "agent.iteration"),
              "{\"intValue\":\"" + std::to_string(turn_index) + "\"}");
    const ExportedSpan* llm = nullptr;
    const ExportedSpan* tool = nullptr;
    for (const ExportedSpan& s : spans) {
      if (s.parent_span_id != turn[0]->span_id) continue;
      if (s.name == "chat gpt-4o") llm = &s;
      if (s.name == "execute_tool filesystem") tool = &s;
    }
    ASSERT_TRUE(llm != nullptr && tool != nullptr) << "children of " << name;
    EXPECT_EQ(llm->StringAttribute("agent.kind"), "llm");
    EXPECT_EQ(llm->StringAttribute("gen_ai.request.model"), "gpt-4o");
    EXPECT_EQ(llm->StringAttribute("gen_ai.provider.name"), "openai");
    EXPECT_EQ(AttrJson(*llm, "gen_ai.usage.input_tokens"),
              "{\"intValue\":\"" + std::to_string(1200 + 300 * turn_index) + "\"}");
    EXPECT_EQ(AttrJson(*llm, "gen_ai.usage.output_tokens"), R"({"intValue":"80"})");
    const boost::json::value* temperature = llm->attributes.if_contains("gen_ai.request.temperature");
    ASSERT_TRUE(temperature != nullptr && temperature->is_object()) << AttrJson(*llm, "gen_ai.request.temperature");
    const boost::json::value* d = temperature->get_object().if_contains("doubleValue");
    ASSERT_TRUE(d != nullptr && d->is_double()) << AttrJson(*llm, "gen_ai.request.temperature");
    EXPECT_EQ(d->get_double(), 0.2);
    EXPECT_EQ(tool->StringAttribute("agent.kind"), "tool");
    EXPECT_EQ(tool->StringAttribute("tool.target"), "/etc/hosts");
    EXPECT_EQ(AttrJson(*tool, "tool.cached"), R"({"boolValue":false})");
    EXPECT_EQ(tool->StringAttribute("tool.status"), turn_index == 2 ? "error" : "ok");
    EXPECT_EQ(tool->status_code, turn_index == 2 ? 2 : 0) << "OTLP STATUS_CODE_ERROR is 2";
  }

  // The worker thread's span, parented explicitly under the run.
  std::vector<const ExportedSpan*> summarize = FindByName(spans, "summarize");
  ASSERT_EQ(summarize.size(), 1u);
  EXPECT_EQ(summarize[0]->parent_span_id, run_id);
  EXPECT_EQ(summarize[0]->StringAttribute("agent.kind"), "task");
}

}  // namespace
}  // namespace agentring::it
