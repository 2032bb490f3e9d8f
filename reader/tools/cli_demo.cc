// `agentring demo`: runs a small multi-process agent network (an orchestrator process that plans
// and fans out to two task-agent processes) through a real reader sidecar, and the two hidden
// subcommands that are those processes (`_demo-orchestrator`, `_demo-task`).
//
//   agentring demo ──fork/exec──▶ agentring-reader --create … (prints the tree, writes jsonl)
//                 └─fork/exec──▶ agentring _demo-orchestrator            (process 1)
//                                  └─fork/exec ×2, TRACEPARENT──▶ agentring _demo-task …
//                                                                        (processes 2 and 3)
//
// The spans follow the shape of an agent-network trace: run → plan (LLM call, parse) → workflow
// DAG → one invoke_agent span per agent, with its task process's task_execution under it (RAG
// retrieval, a ReAct loop of turns with LLM and tool calls, a guardrail; the reviewer's starts
// with a handoff linked to the coder's invocation) → synthesis, linked to both invocations (fan-in).
// Work is simulated with short sleeps. With AGENTRING_CAPTURE_CONTENT=1 the model and tool calls
// also record their content.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "agentring/agent.hpp"
#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "reader/tools/cli.h"

extern char** environ;

namespace agentring::cli {
namespace {

constexpr const char* kDemoUsage =
    "usage: agentring demo [--out-dir DIR] [--keep-segment] [--metrics-port PORT]";
constexpr int kSegmentWaitMs = 5000;        // bound on the reader creating the segment
constexpr int kOrchestratorWaitMs = 30000;  // bound on the agent network finishing
constexpr int kReaderIdleWaitMs = 30000;    // bound on the reader exiting by itself
constexpr int kTaskWaitMs = 20000;          // bound on one task process (orchestrator side)

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// A free TCP port on 127.0.0.1 for the reader's /metrics (0 when none could be found).
uint16_t FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// GET http://127.0.0.1:PORT/metrics (HTTP/1.0: the server closes after the body). Returns the
// body, or "" on any failure.
std::string ScrapeMetrics(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") > 12 || body == std::string::npos)
    return "";
  return response.substr(body + 4);
}

using EnvOverrides = std::vector<std::pair<std::string, std::string>>;

// The current environment with every variable named in `overrides` replaced (an empty value
// removes it) — built before fork so that the child only calls execve.
std::vector<std::string> EnvWith(const EnvOverrides& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    bool overridden = false;
    for (const auto& [key, value] : overrides) {
      if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 && kv[key.size()] == '=')
        overridden = true;
    }
    if (!overridden) env.emplace_back(kv);
  }
  for (const auto& [key, value] : overrides) {
    if (!value.empty()) env.push_back(key + "=" + value);
  }
  return env;
}

// Forks and execs `path` with `argv` and environment `env`. Returns the child's pid, or -1 with
// errno set when fork failed. A failed exec makes the child print one line and exit 127.
pid_t Spawn(const std::string& path, std::vector<std::string> argv, std::vector<std::string> env) {
  std::vector<char*> argv_c = ArgvOf(argv);
  std::vector<char*> env_c = ArgvOf(env);
  std::string exec_failed = "agentring demo: cannot execute " + path + "\n";
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    execve(path.c_str(), argv_c.data(), env_c.data());
    ssize_t ignored = write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
    (void)ignored;
    _exit(127);
  }
  return pid;
}

// Waits up to `timeout_ms` for child `pid` (polling every 10 ms). Returns true with *status set
// once it has exited; false on timeout (the child is still running) or if it is not our child.
bool WaitWithTimeout(pid_t pid, int timeout_ms, int* status) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return false;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    SleepMs(10);
  }
}

// SIGTERM, then (after `grace_ms`) SIGKILL; reaps the child.
void Stop(pid_t pid, int grace_ms, int* status) {
  kill(pid, SIGTERM);
  if (WaitWithTimeout(pid, grace_ms, status)) return;
  kill(pid, SIGKILL);
  waitpid(pid, status, 0);
}

bool ExitedCleanly(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by ") + strsignal(WTERMSIG(status));
  return "ended abnormally";
}

std::string RandomHex(int digits) {
  std::random_device rd;
  std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < digits; ++i) s.push_back(kHex[rng() & 0xF]);
  return s;
}

// What the summary line reports about a trace file.
struct TraceFileCounts {
  size_t lines = 0;
  size_t traces = 0;     // distinct traceIds
  size_t spans = 0;
  size_t processes = 0;  // distinct process.pid (resources without one: distinct resources)
};

// The value of `key` in an OTLP attribute array, or nullptr.
const boost::json::object* FindAttributeValue(const boost::json::value* attributes,
                                              std::string_view key) {
  if (attributes == nullptr || !attributes->is_array()) return nullptr;
  for (const boost::json::value& kv : attributes->get_array()) {
    const boost::json::object* o = kv.if_object();
    if (o == nullptr) continue;
    const boost::json::value* k = o->if_contains("key");
    const boost::json::value* v = o->if_contains("value");
    if (k != nullptr && k->is_string() && k->get_string() == key && v != nullptr && v->is_object())
      return &v->get_object();
  }
  return nullptr;
}

// Reads an OTLP JSON Lines file and counts its traces, spans and writer processes. Returns false
// with *error set when the file cannot be read or a line is not an OTLP trace request.
bool CountTraceFile(const std::string& path, TraceFileCounts* counts, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::set<std::string> trace_ids;
  std::set<std::string> processes;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    ++counts->lines;
    boost::system::error_code ec;
    boost::json::value doc = boost::json::parse(line, ec);
    const boost::json::object* root = ec ? nullptr : doc.if_object();
    const boost::json::value* rs_list = root ? root->if_contains("resourceSpans") : nullptr;
    if (rs_list == nullptr || !rs_list->is_array()) {
      *error = path + ":" + std::to_string(line_no) + ": not an OTLP trace request";
      return false;
    }
    for (const boost::json::value& rs : rs_list->get_array()) {
      const boost::json::object* rso = rs.if_object();
      if (rso == nullptr) continue;
      const boost::json::value* attributes = nullptr;
      if (const boost::json::value* res = rso->if_contains("resource"); res && res->is_object())
        attributes = res->get_object().if_contains("attributes");
      if (const boost::json::object* pid = FindAttributeValue(attributes, "process.pid")) {
        processes.insert("pid:" + boost::json::serialize(*pid));
      } else if (attributes != nullptr) {
        processes.insert("resource:" + boost::json::serialize(*attributes));
      }
      const boost::json::value* scope_spans = rso->if_contains("scopeSpans");
      if (scope_spans == nullptr || !scope_spans->is_array()) continue;
      for (const boost::json::value& ss : scope_spans->get_array()) {
        const boost::json::object* sso = ss.if_object();
        const boost::json::value* spans = sso ? sso->if_contains("spans") : nullptr;
        if (spans == nullptr || !spans->is_array()) continue;
        for (const boost::json::value& span : spans->get_array()) {
          const boost::json::object* so = span.if_object();
          if (so == nullptr || !so->contains("spanId")) continue;
          ++counts->spans;
          if (const boost::json::value* t = so->if_contains("traceId"); t && t->is_string())
            trace_ids.insert(std::string(t->get_string()));
        }
      }
    }
  }
  counts->traces = trace_ids.size();
  counts->processes = processes.size();
  return true;
}

std::string Plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// ---- The agent network (one function per process) --------------------------------------------
//
// Spans come from the typed helpers of agentring/agent.hpp. With content capture on
// (AGENTRING_CAPTURE_CONTENT=1) the model calls record their prompts and completions and the tool
// calls their arguments and results; the planner's prompt holds a fake API key and an e-mail
// address, for the reader's redaction to catch.

// One message of gen_ai.input.messages / gen_ai.output.messages: {"role", "parts": [text]}.
boost::json::object TextMessage(std::string_view role, std::string_view text) {
  return {{"role", role},
          {"parts", boost::json::array{boost::json::object{{"type", "text"}, {"content", text}}}}};
}

// A simulated model response: text, or a tool call when `tool_call_arguments` is set.
struct Completion {
  std::string_view text;
  std::string_view tool_call_id;
  std::string_view tool_call_arguments;  // JSON object text
};

// One simulated chat completion: "chat MODEL" with the GenAI semantic-convention attributes.
void ChatCompletion(std::string_view provider, std::string_view model, int64_t input_tokens,
                    int64_t output_tokens, int64_t cache_read_tokens,
                    std::string_view finish_reason, int latency_ms, std::string_view system_prompt,
                    std::string_view user_prompt, const Completion& completion) {
  LlmSpan llm(provider, model);
  if (CaptureContentEnabled()) {
    CaptureInputMessages(llm, boost::json::serialize(boost::json::array{
                                  TextMessage("system", system_prompt),
                                  TextMessage("user", user_prompt)}));
  }
  SleepMs(latency_ms);
  llm.SetResponseModel(model);
  llm.SetUsage(input_tokens, output_tokens, cache_read_tokens);
  llm.SetFinishReasons(finish_reason);
  llm.SetCached(false);
  if (CaptureContentEnabled()) {
    boost::json::object out = TextMessage("assistant", completion.text);
    if (!completion.tool_call_arguments.empty()) {
      out["parts"].as_array().push_back(
          boost::json::object{{"type", "tool_call"},
                              {"id", completion.tool_call_id},
                              {"name", "filesystem"},
                              {"arguments", boost::json::parse(completion.tool_call_arguments)}});
    }
    out["finish_reason"] = finish_reason;
    CaptureOutputMessages(llm, boost::json::serialize(boost::json::array{out}));
  }
}

// One filesystem tool call; `fail` makes it a permission error.
void FilesystemTool(std::string_view call_id, std::string_view action, std::string_view target,
                    int latency_ms, bool fail) {
  ToolSpan tool("filesystem", action, target);
  tool.SetCallId(call_id);
  if (CaptureContentEnabled()) {
    CaptureToolArguments(tool, boost::json::serialize(
                                   boost::json::object{{"action", action}, {"path", target}}));
  }
  SleepMs(latency_ms);
  if (fail) {
    const std::string message = "permission denied: " + std::string(target);
    CaptureToolResult(tool, message);
    tool.SetError("PermissionError", message);
  } else {
    CaptureToolResult(tool, action == "read" ? "def binary_search(items, x):\n    lo, hi = 0, "
                                               "len(items)\n    ..."
                                             : "ok: 1 file written");
    tool.SetResult(true);
  }
}

}  // namespace

int Demo(const Args& args) {
  std::string out_dir = "out/demo";
  bool keep_segment = false;
  uint16_t metrics_port = 0;  // 0: a free one
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--out-dir" && i + 1 < args.size()) {
      out_dir = args[++i];
    } else if (a.rfind("--out-dir=", 0) == 0) {
      out_dir = a.substr(strlen("--out-dir="));
    } else if (a == "--keep-segment") {
      keep_segment = true;
    } else if (a == "--metrics-port" && i + 1 < args.size()) {
      char* end = nullptr;
      unsigned long p = strtoul(args[++i].c_str(), &end, 10);
      if (end == nullptr || *end != '\0' || p == 0 || p > 65535) {
        fprintf(stderr, "agentring demo: --metrics-port needs a port 1..65535\n%s\n", kDemoUsage);
        return 2;
      }
      metrics_port = static_cast<uint16_t>(p);
    } else if (a == "-h" || a == "--help") {
      printf("%s\n", kDemoUsage);
      return 0;
    } else {
      fprintf(stderr, "agentring demo: unexpected argument '%s'\n%s\n", a.c_str(), kDemoUsage);
      return 2;
    }
  }
  if (out_dir.empty()) {
    fprintf(stderr, "agentring demo: --out-dir needs a directory\n%s\n", kDemoUsage);
    return 2;
  }

  const std::string segment = "agentring-demo-" + std::to_string(getpid());
  const std::string traces_path = out_dir + "/traces.jsonl";
  const std::string stats_path = out_dir + "/stats.json";
  std::error_code fs_error;
  std::filesystem::create_directories(out_dir, fs_error);
  if (fs_error) {
    fprintf(stderr, "agentring demo: cannot create %s: %s\n", out_dir.c_str(),
            fs_error.message().c_str());
    return 1;
  }
  std::filesystem::remove(traces_path, fs_error);  // never report a previous run's file
  std::filesystem::remove(stats_path, fs_error);
  internal::SegmentMap::Remove(segment);  // a leftover of a dead process with our pid

  // 1. The reader sidecar, creating the segment.
  const std::string reader_path = SelfDir() + "/agentring-reader";
  if (access(reader_path.c_str(), X_OK) != 0) {
    fprintf(stderr, "agentring demo: %s not found (build the agentring-reader target)\n",
            reader_path.c_str());
    return 1;
  }
  if (metrics_port == 0) metrics_port = FreeLoopbackPort();
  std::vector<std::string> reader_args = {
      "agentring-reader", "--segment", segment, "--create", "--lanes", "16", "--lane-kib", "256",
      "--exporter", "tree", "--out", "-", "--exporter", "jsonl", "--out", traces_path,
      "--stats-json", stats_path, "--exit-when-idle-ms", "1500", "--decision-wait-ms", "1000"};
  if (metrics_port != 0) {
    reader_args.push_back("--metrics-port");
    reader_args.push_back(std::to_string(metrics_port));
  }
  pid_t reader = Spawn(reader_path, reader_args, EnvWith({}));
  if (reader < 0) {
    fprintf(stderr, "agentring demo: fork: %s\n", strerror(errno));
    return 1;
  }
  int reader_status = 0;
  bool reader_exited = false;
  bool segment_ready = false;
  for (int waited_ms = 0; waited_ms < kSegmentWaitMs; waited_ms += 10) {
    internal::OpenStatus open_status;
    std::string open_error;
    if (internal::SegmentMap::Open(segment, &open_status, &open_error) != nullptr) {
      segment_ready = true;  // the mapping is dropped right away
      break;
    }
    if (waitpid(reader, &reader_status, WNOHANG) == reader) {
      reader_exited = true;
      break;
    }
    SleepMs(10);
  }
  if (!segment_ready) {
    if (reader_exited) {
      fprintf(stderr, "agentring demo: the reader %s before creating segment '%s'\n",
              DescribeStatus(reader_status).c_str(), segment.c_str());
    } else {
      Stop(reader, 1000, &reader_status);
      fprintf(stderr, "agentring demo: the reader did not create segment '%s' within %d ms\n",
              segment.c_str(), kSegmentWaitMs);
    }
    internal::SegmentMap::Remove(segment);
    return 1;
  }

  // 2. The agent network: the orchestrator process, which starts the task processes.
  bool ok = true;
  pid_t orchestrator =
      Spawn("/proc/self/exe", {"agentring", "_demo-orchestrator"},
            EnvWith({{"AGENTRING_SEGMENT", segment},
                     {"OTEL_SERVICE_NAME", "orchestrator"},
                     {"TRACEPARENT", ""},  // the demo's trace is a root
                     {"AGENTRING_DISABLED", ""},
                     {"OTEL_TRACES_SAMPLER", ""},
                     {"OTEL_TRACES_SAMPLER_ARG", ""}}));
  if (orchestrator < 0) {
    fprintf(stderr, "agentring demo: fork: %s\n", strerror(errno));
    ok = false;
  } else {
    int status = 0;
    if (!WaitWithTimeout(orchestrator, kOrchestratorWaitMs, &status)) {
      Stop(orchestrator, 1000, &status);
      fprintf(stderr, "agentring demo: the orchestrator did not finish within %d ms\n",
              kOrchestratorWaitMs);
      ok = false;
    } else if (!ExitedCleanly(status)) {
      fprintf(stderr, "agentring demo: the orchestrator %s\n", DescribeStatus(status).c_str());
      ok = false;
    }
  }

  // 3. Prometheus metrics, scraped while the reader still runs (it waits 1.5 s idle before it
  // exits): the same text `curl http://127.0.0.1:PORT/metrics` shows.
  const std::string metrics_path = out_dir + "/metrics.txt";
  std::string metrics_note;
  if (ok && metrics_port != 0) {
    SleepMs(600);  // the last trace's decision and processing
    std::string text = ScrapeMetrics(metrics_port);
    if (text.empty()) {
      metrics_note = "; /metrics did not answer";
    } else {
      std::ofstream(metrics_path, std::ios::trunc) << text;
      metrics_note = "; metrics from http://127.0.0.1:" + std::to_string(metrics_port) +
                     "/metrics in " + metrics_path;
    }
  }

  // 4. The reader exits by itself once no writer is left and it has been idle.
  if (!WaitWithTimeout(reader, kReaderIdleWaitMs, &reader_status)) {
    fprintf(stderr, "agentring demo: the reader did not exit within %d ms; stopping it\n",
            kReaderIdleWaitMs);
    Stop(reader, 5000, &reader_status);
    ok = false;
  } else if (!ExitedCleanly(reader_status)) {
    fprintf(stderr, "agentring demo: the reader %s\n", DescribeStatus(reader_status).c_str());
    ok = false;
  }
  if (!keep_segment) internal::SegmentMap::Remove(segment);

  TraceFileCounts counts;
  std::string error;
  if (!CountTraceFile(traces_path, &counts, &error)) {
    fprintf(stderr, "agentring demo: %s\n", error.c_str());
    return 1;
  }
  if (counts.spans == 0) {
    fprintf(stderr, "agentring demo: no spans in %s\n", traces_path.c_str());
    ok = false;
  }
  if (access(stats_path.c_str(), R_OK) != 0) {
    fprintf(stderr, "agentring demo: the reader wrote no %s\n", stats_path.c_str());
    ok = false;
  }
  std::string kept = keep_segment ? "; segment '" + segment + "' kept" : "";
  printf("demo: wrote %s (%s, %s, %s); stats in %s%s%s\n", traces_path.c_str(),
         Plural(counts.traces, "trace", "traces").c_str(),
         Plural(counts.spans, "span", "spans").c_str(),
         Plural(counts.processes, "process", "processes").c_str(), stats_path.c_str(),
         metrics_note.c_str(), kept.c_str());
  fflush(stdout);
  return ok ? 0 : 1;
}

int DemoOrchestrator(const Args& args) {
  if (!args.empty()) {
    fprintf(stderr, "agentring _demo-orchestrator: unexpected argument '%s'\n", args[0].c_str());
    return 2;
  }
  const std::string conversation_id = "conv-" + RandomHex(16);
  RunSpan run("Orchestrator", conversation_id, "execute_query");
  run.Set("agent.task", "refactor search module");
  {
    PlanSpan plan("Orchestrator", "orchestrator_decompose");
    SleepMs(3);
    ChatCompletion("ollama", "llama3.1", 450, 120, -1, "stop", 45,
                   "You are the orchestrator. Split the request into tasks for CodingAgent and "
                   "ReviewAgent. Answer with a JSON plan.",
                   "Refactor the search module to use binary search. The package index needs "
                   "api key sk-test-1234567890abcdef1234; send the summary to "
                   "alice.dev@example.com.",
                   {R"({"tasks":[{"id":"task-1","agent":"CodingAgent"},)"
                    R"({"id":"task-2","agent":"ReviewAgent"}]})"});
    Span parse("parse_plan", Kind::kCustom);
    SleepMs(2);
    parse.Set("plan.tasks", 2);
    plan.SetTaskCount(2);
  }

  bool tasks_ok = true;
  SpanContext invoked[2];  // the invoke_agent spans, for the fan-in links of the synthesis
  {
    Span dag("execute_workflow_dag", Kind::kCustom, {{"tasks", 2}, {"strategy", "parallel"}});
    // Both agents run side by side: their invoke_agent spans are siblings under the DAG span
    // (explicit parent, detached), and each task process nests under its own through TRACEPARENT.
    SubagentSpan coder("CodingAgent", dag.context());
    SubagentSpan reviewer("ReviewAgent", dag.context());
    coder.SetAgentId("agent-coding-1");
    reviewer.SetAgentId("agent-review-1");
    struct Task {
      const char* id;
      const char* agent;
      const char* service;
      SubagentSpan* invoke;
      std::string handoff_from;  // traceparent of the span the work is handed off from
      pid_t pid = -1;
    };
    Task tasks[] = {{"task-1", "CodingAgent", "coding-agent", &coder, ""},
                    {"task-2", "ReviewAgent", "review-agent", &reviewer,
                     coder.context().ToTraceparent()}};
    for (Task& t : tasks) {
      std::vector<std::string> argv = {"agentring", "_demo-task", "--task-id", t.id, "--agent",
                                       t.agent};
      if (!t.handoff_from.empty()) {
        argv.push_back("--handoff-from");
        argv.push_back(t.handoff_from);
      }
      t.pid = Spawn("/proc/self/exe", argv,
                    EnvWith({{"TRACEPARENT", t.invoke->context().ToTraceparent()},
                             {"OTEL_SERVICE_NAME", t.service}}));
      if (t.pid < 0) {
        fprintf(stderr, "agentring _demo-orchestrator: fork: %s\n", strerror(errno));
        tasks_ok = false;
        t.invoke->SetError("SpawnError", strerror(errno));
      }
      SleepMs(2);  // dispatch in order, so that task-1 starts (and renders) first
    }
    for (Task& t : tasks) {
      if (t.pid < 0) continue;
      int status = 0;
      if (!WaitWithTimeout(t.pid, kTaskWaitMs, &status)) {
        Stop(t.pid, 1000, &status);
        fprintf(stderr, "agentring _demo-orchestrator: %s did not finish in time\n", t.id);
        tasks_ok = false;
        t.invoke->SetError("Timeout", "the agent process did not finish in time");
      } else if (!ExitedCleanly(status)) {
        fprintf(stderr, "agentring _demo-orchestrator: %s %s\n", t.id,
                DescribeStatus(status).c_str());
        tasks_ok = false;
        t.invoke->SetError("AgentFailed", DescribeStatus(status));
      }
    }
    invoked[0] = coder.context();
    invoked[1] = reviewer.context();
    coder.End();
    reviewer.End();
    dag.Set("tasks.failed", tasks_ok ? 0 : 1);
    if (!tasks_ok) dag.SetStatus(StatusCode::kError, "a task process failed");
  }

  {
    // Fan-in: the synthesis consumes both agents' results, so it links to both invocations.
    Span synthesize("synthesize_results", Kind::kCustom, {{"agent.name", "Orchestrator"}});
    for (const SpanContext& c : invoked) synthesize.AddLink(c);
    SleepMs(2);
    ChatCompletion("ollama", "llama3.1", 1320, 210, -1, "stop", 20,
                   "Summarise the agents' results for the user.",
                   "CodingAgent: search.py rewritten. ReviewAgent: approved after one retry.",
                   {"The search module now uses binary search; the review passed."});
    synthesize.Set("result.files_changed", 1);
  }
  run.SetState(tasks_ok ? "done" : "failed");
  if (!tasks_ok) run.SetError("TaskFailed", "a task failed");
  return tasks_ok ? 0 : 1;
}

int DemoTask(const Args& args) {
  std::string task_id;
  std::string agent;
  std::string handoff_from;
  bool usage_ok = args.size() % 2 == 0;
  for (size_t i = 0; usage_ok && i + 1 < args.size(); i += 2) {
    if (args[i] == "--task-id") {
      task_id = args[i + 1];
    } else if (args[i] == "--agent") {
      agent = args[i + 1];
    } else if (args[i] == "--handoff-from") {
      handoff_from = args[i + 1];
    } else {
      usage_ok = false;
    }
  }
  SpanContext handed_off_from;
  if (!usage_ok || task_id.empty() || agent.empty() ||
      (!handoff_from.empty() && !SpanContext::FromTraceparent(handoff_from, &handed_off_from))) {
    fprintf(stderr,
            "usage: agentring _demo-task --task-id ID --agent NAME [--handoff-from TRACEPARENT]\n");
    return 2;
  }
  // task-1 is the slow coder (its retrieval is the hotspot); task-2 reviews what the coder hands
  // off and hits a permission error on one tool call, then recovers.
  const bool coder = task_id == "task-1";

  // No local parent: task_execution nests under the orchestrator's invoke_agent span through
  // TRACEPARENT.
  TaskSpan task(task_id, agent, "task_execution");
  if (handed_off_from.valid()) {
    // The coder's work passes to this agent: a link to where it came from (not a parent).
    HandoffSpan handoff("CodingAgent", agent, handed_off_from);
    SleepMs(1);
  }
  {
    const int embedding_ms = coder ? 20 : 6;
    RetrievalSpan rag(coder ? "binary search implementation" : "search module review notes",
                      "rag_context_retrieval");
    rag.Set("rag.top_k", 15);
    {
      EmbeddingSpan embed("ort", "all-MiniLM-L6-v2");
      SleepMs(embedding_ms);
      embed.SetUsage(6);
    }
    {
      VectorSearchSpan search("qdrant", "repo-chunks");
      SleepMs(coder ? 30 : 8);
      search.SetHits(15, 0.85);
    }
    rag.SetSourcesFound(coder ? 15 : 6);
    rag.SetEmbeddingTimeMs(embedding_ms);
  }
  constexpr std::string_view kSystem =
      "You are a careful software agent. Use the filesystem tool to read and write files.";
  {
    Span loop("react_loop", Kind::kCustom, {{"agent.name", agent}, {"agent.max_iterations", 10}});
    int iterations = 0;
    if (coder) {
      {
        TurnSpan turn(1, agent);
        ChatCompletion("openai", "gpt-4o", 2048, 150, 0, "tool_call", 6, kSystem,
                       "Task task-1: rewrite /src/search.py to use binary search.",
                       {"Reading the current implementation first.", "call_read_1",
                        R"({"action":"read","path":"/src/main.rs"})"});
        FilesystemTool("call_read_1", "read", "/src/main.rs", 4, false);
        turn.SetState("tool_use");
      }
      {
        TurnSpan turn(2, agent);
        ChatCompletion("openai", "gpt-4o", 2300, 50, 1920, "stop", 6, kSystem,
                       "Tool result: def binary_search(items, x): ...",
                       {"Writing the new search module.", "call_write_2",
                        R"({"action":"write","path":"/src/search.py"})"});
        FilesystemTool("call_write_2", "write", "/src/search.py", 4, false);
        turn.SetState("done");
        turn.SetStopReason("stop");
      }
      iterations = 2;
    } else {
      {
        TurnSpan turn(1, agent);
        ChatCompletion("openai", "gpt-4o", 1800, 120, 0, "tool_call", 5, kSystem,
                       "Task task-2: review the new /src/search.py.",
                       {"Reading the changed file.", "call_read_1",
                        R"({"action":"read","path":"/src/search.py"})"});
        FilesystemTool("call_read_1", "read", "/src/search.py", 3, false);
        turn.SetState("tool_use");
      }
      {
        TurnSpan turn(2, agent);
        ChatCompletion("openai", "gpt-4o", 2100, 80, 1536, "tool_call", 5, kSystem,
                       "Tool result: def binary_search(items, x): ...",
                       {"Adding review notes to the file.", "call_write_2",
                        R"({"action":"write","path":"/src/search.py"})"});
        FilesystemTool("call_write_2", "write", "/src/search.py", 3, true);
        turn.AddEvent("retry", {{"attempt", 1}});
        turn.SetState("tool_use");
      }
      {
        TurnSpan turn(3, agent);
        ChatCompletion("openai", "gpt-4o", 2350, 60, 1792, "stop", 4, kSystem,
                       "Tool error: permission denied: /src/search.py",
                       {"Review complete: approved, notes left in the summary instead."});
        turn.SetState("done");
        turn.SetStopReason("stop");
      }
      iterations = 3;
    }
    loop.Set({{"agent.iterations", iterations}, {"agent.stop_reason", "stop_sequence"}});
  }
  {
    GuardrailSpan validate(coder ? "tests_pass" : "review_complete");
    SleepMs(2);
    validate.SetResult(true);
    validate.SetStatus(StatusCode::kOk);
  }
  task.Set("task.status", "success");
  return 0;
}

}  // namespace agentring::cli
