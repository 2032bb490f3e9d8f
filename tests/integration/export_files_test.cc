// Integration tests of the file exporters with real writer processes: `agentring loadgen` through
// agentring-reader's chrome exporter (every committed span once, as a complete event on its
// writer's process and thread row) and through the jsonl exporter with size-based rotation
// (every span once across the rotated files, none larger than the limit); and the usage errors
// of the rotation flags; and a reader killed with SIGKILL leaves a chrome file that parses once
// "]" is appended.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

namespace json = boost::json;

constexpr const char* kConcurrentIdleMs = "1000";
constexpr int64_t kFirstOverlapTid = int64_t{1} << 22;

std::string Str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t Int(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : -1;
}

double Num(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_double()) return v->as_double();
  if (v && v->is_int64()) return static_cast<double>(v->as_int64());
  return -1;
}

TEST(ExportFiles, LoadgenThroughChromeExporter) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  const std::string chrome_path = dir.File("trace.json");
  ReaderProcess reader =
      StartReader(seg.name(), dir, "reader",
                  {"--create", "--exit-when-idle-ms", kConcurrentIdleMs, "--exporter", "chrome",
                   "--out", chrome_path});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "3", "--threads", "2", "--traces", "10",
                          "--spans-per-trace", "20", "--attrs", "1"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader));
  ASSERT_EQ(U64(summary, "spans_committed"), 1200u);
  ASSERT_EQ(U64(summary, "records_dropped"), 0u);

  // The reference: the same spans through the jsonl exporter, with process.pid per span.
  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  ASSERT_EQ(file.spans, 1200u);

  // The chrome file: complete (closed by the reader's clean exit), a JSON array of events.
  const std::string text = ReadFileOrEmpty(chrome_path);
  ASSERT_GE(text.size(), 3u);
  EXPECT_EQ(text.substr(text.size() - 2), "]\n");
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parsed.is_array());

  struct Complete {
    int64_t pid, tid;
    std::string trace_id, parent_span_id, thread_attr;
    double ts, end;
  };
  std::map<std::string, Complete> by_span;  // span_id -> its complete event
  std::map<int64_t, int> process_names;
  std::map<std::pair<int64_t, int64_t>, int> thread_names;
  std::set<std::string> origins;
  for (const json::value& v : parsed.as_array()) {
    ASSERT_TRUE(v.is_object());
    const json::object& e = v.as_object();
    const std::string ph = Str(e, "ph");
    if (ph == "M") {
      if (Str(e, "name") == "process_name") {
        ++process_names[Int(e, "pid")];
        origins.insert(Str(e.at("args").as_object(), "time_origin_unix_ns"));
      }
      if (Str(e, "name") == "thread_name") ++thread_names[{Int(e, "pid"), Int(e, "tid")}];
      continue;
    }
    ASSERT_EQ(ph, "X") << "loadgen records no span events";
    const json::object& args = e.at("args").as_object();
    const std::string id = Str(args, "span_id");
    Complete c{Int(e, "pid"), Int(e, "tid"), Str(args, "trace_id"), Str(args, "parent_span_id"),
               Str(args, "loadgen.attr0"), Num(e, "ts"), Num(e, "ts") + Num(e, "dur")};
    ASSERT_TRUE(by_span.emplace(id, c).second) << "span " << id << " appears twice";
  }

  // Every committed span exactly once, on its writer's process row, with its ids and its times
  // (microseconds from the file's origin, to the nanosecond).
  EXPECT_EQ(by_span.size(), 1200u);
  ASSERT_EQ(origins.size(), 1u);
  const uint64_t origin_ns = std::stoull(*origins.begin());
  std::map<std::pair<int64_t, std::string>, std::set<int64_t>> tids_of_thread;  // (pid, attr)
  std::map<std::string, std::set<int64_t>> tids_of_trace;
  for (const auto& [trace_id, spans] : file.traces) {
    for (const ExportedSpan& s : spans) {
      auto it = by_span.find(s.span_id);
      ASSERT_NE(it, by_span.end()) << "span " << s.name << " missing from the chrome file";
      const Complete& c = it->second;
      EXPECT_EQ(c.pid, s.pid) << s.name;
      EXPECT_EQ(c.trace_id, s.trace_id) << s.name;
      EXPECT_EQ(c.parent_span_id, s.parent_span_id) << s.name;
      EXPECT_EQ(c.thread_attr, s.StringAttribute("loadgen.attr0")) << s.name;
      EXPECT_NEAR(c.ts, static_cast<double>(static_cast<int64_t>(s.start_unix_ns - origin_ns)) / 1000.0,
                  0.0005) << s.name;
      EXPECT_NEAR(c.end - c.ts, static_cast<double>(s.end_unix_ns - s.start_unix_ns) / 1000.0, 0.0005)
          << s.name;
      tids_of_thread[{c.pid, c.thread_attr}].insert(c.tid);
      tids_of_trace[trace_id].insert(c.tid);
    }
  }
  // Thread rows: each loadgen thread (named by its attribute "value-0-of-thread-<i>") of each
  // process wrote on one real thread: one tid, its own, not the process's main thread, and no
  // overlap rows (loadgen's spans nest).
  EXPECT_EQ(tids_of_thread.size(), 6u);
  std::set<std::pair<int64_t, int64_t>> rows;
  for (const auto& [thread, tids] : tids_of_thread) {
    ASSERT_EQ(tids.size(), 1u) << "pid " << thread.first << " " << thread.second;
    const int64_t tid = *tids.begin();
    EXPECT_GT(tid, 0);
    EXPECT_LT(tid, kFirstOverlapTid);
    EXPECT_NE(tid, thread.first) << "loadgen writes from worker threads, not the main thread";
    EXPECT_TRUE(rows.insert({thread.first, tid}).second) << "two loadgen threads share a row";
  }
  for (const auto& [trace_id, tids] : tids_of_trace) EXPECT_EQ(tids.size(), 1u) << trace_id;
  // Children lie inside their parents' times (same thread, so nested on the row).
  for (const auto& [id, c] : by_span) {
    if (c.parent_span_id.empty()) continue;
    auto parent = by_span.find(c.parent_span_id);
    ASSERT_NE(parent, by_span.end());
    EXPECT_GE(c.ts, parent->second.ts) << id;
    EXPECT_LE(c.end, parent->second.end) << id;
  }
  // Metadata: one process_name per writer process, one thread_name per row.
  EXPECT_EQ(process_names.size(), 3u);
  for (const auto& [pid, n] : process_names) EXPECT_EQ(n, 1) << "pid " << pid;
  EXPECT_EQ(thread_names.size(), 6u);
  for (const auto& [row, n] : thread_names) {
    EXPECT_EQ(n, 1) << "tid " << row.second;
    EXPECT_TRUE(rows.count(row)) << "thread_name for a row without spans";
  }
}

// The process state letter from /proc/PID/stat ('T' = stopped), or 0.
char ProcessState(pid_t pid) {
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : 0;
}

TEST(ExportFiles, ChromeFileOfAKilledReaderParsesWithClosingBracket) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  const std::string chrome_path = dir.File("trace.json");
  // No idle exit: the reader runs until killed, so it never writes the closing bracket.
  ReaderProcess reader = StartReader(seg.name(), dir, "reader",
                                     {"--create", "--exporter", "chrome", "--out", chrome_path});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "2", "--threads", "2", "--traces", "10",
                          "--spans-per-trace", "10"},
                         &summary));
  ASSERT_EQ(U64(summary, "spans_committed"), 400u);
  // Wait for the first batch, then stop the reader (a stopped process is never inside a
  // write(), so the kill cannot cut a batch in half) and kill it.
  auto deadline = std::chrono::steady_clock::now() + kProcessTimeout;
  while (ReadFileOrEmpty(chrome_path).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  reader.child.Signal(SIGSTOP);
  while (ProcessState(reader.child.pid()) != 'T' && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(ProcessState(reader.child.pid()), 'T');
  reader.child.Signal(SIGKILL);
  ASSERT_TRUE(reader.child.Wait());

  const std::string text = ReadFileOrEmpty(chrome_path);
  ASSERT_FALSE(text.empty());
  EXPECT_NE(text.back(), ']') << "a killed reader cannot have closed the array";
  boost::system::error_code ec;
  json::value parsed = json::parse(text + "]", ec);
  ASSERT_FALSE(ec) << ec.message() << " in: " << text.substr(text.size() > 300 ? text.size() - 300 : 0);
  ASSERT_TRUE(parsed.is_array());
  std::set<std::string> span_ids;
  std::set<int64_t> named_pids;
  for (const json::value& v : parsed.as_array()) {
    const json::object& e = v.as_object();
    if (Str(e, "name") == "process_name") named_pids.insert(Int(e, "pid"));
    if (Str(e, "ph") != "X") continue;
    EXPECT_TRUE(named_pids.count(Int(e, "pid"))) << "a span before its process_name";
    EXPECT_TRUE(span_ids.insert(Str(e.at("args").as_object(), "span_id")).second);
  }
  EXPECT_GT(span_ids.size(), 0u);
  EXPECT_LE(span_ids.size(), 400u);
}

TEST(ExportFiles, LoadgenThroughRotatingJsonl) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  // The harness's jsonl exporter is the last --exporter: the rotation flags bind to it.
  ReaderProcess reader =
      StartReader(seg.name(), dir, "reader",
                  {"--create", "--exit-when-idle-ms", kConcurrentIdleMs, "--out-max-bytes", "8K",
                   "--out-max-files", "1000"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "2", "--threads", "2", "--traces", "10",
                          "--spans-per-trace", "10", "--attrs", "2"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader));
  ASSERT_EQ(U64(summary, "spans_committed"), 400u);

  // Files PATH, PATH.1 … PATH.n with no gap, each at most 8 KiB of whole OTLP lines, together
  // every span exactly once.
  size_t n = 0;
  struct stat st;
  while (stat((reader.traces_path + "." + std::to_string(n + 1)).c_str(), &st) == 0) ++n;
  EXPECT_GT(n, 2u) << "400 spans should need several 8 KiB files";
  std::set<std::string> span_ids;
  size_t spans = 0;
  for (size_t i = 0; i <= n; ++i) {
    const std::string f = i ? reader.traces_path + "." + std::to_string(i) : reader.traces_path;
    ASSERT_EQ(stat(f.c_str(), &st), 0) << f;
    EXPECT_LE(st.st_size, 8192) << f;
    TraceFile part;
    ASSERT_TRUE(ReadTraceFile(f, &part));
    EXPECT_GT(part.lines, 0u) << f;
    spans += part.spans;
    for (const auto& [trace_id, list] : part.traces)
      for (const ExportedSpan& s : list) EXPECT_TRUE(span_ids.insert(s.span_id).second) << s.span_id;
  }
  EXPECT_EQ(spans, 400u);
  EXPECT_EQ(span_ids.size(), 400u);
}

TEST(ExportFiles, RotationUsageErrors) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  const std::string out = dir.File("t.jsonl");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--exporter", "chrome", "--out", out, "--out-max-bytes", "1M"}, "jsonl only"},
      {{"--exporter", "jsonl", "--out", out, "--out-max-files", "3"}, "needs --out-max-bytes"},
      {{"--exporter", "jsonl", "--out", out, "--out-max-bytes", "0"}, "--out-max-bytes '0'"},
      {{"--exporter", "jsonl", "--out", out, "--out-max-bytes", "12X"}, "--out-max-bytes '12X'"},
      {{"--exporter", "jsonl", "--out", out, "--out-max-bytes", "1M", "--out-max-files", "0"},
       "--out-max-files '0'"},
      {{"--exporter", "jsonl", "--out", "-", "--out-max-bytes", "1M"}, "standard output"},
      {{"--out-max-bytes", "1M", "--exporter", "jsonl"}, "must follow the --exporter"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {ReaderPath(), "--segment", seg.name(), "--create"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code(), 2) << r.Describe();
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.Describe();
    EXPECT_FALSE(SegmentExists(seg.name())) << "a usage error still created the segment";
  }
  // A path that is not a regular file is refused when the reader opens it (exit 1).
  CommandResult r = RunCommand({ReaderPath(), "--segment", seg.name(), "--create", "--exporter",
                                "jsonl", "--out", "/dev/null", "--out-max-bytes", "1M"});
  EXPECT_EQ(r.exit_code(), 1) << r.Describe();
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace agentring::it
