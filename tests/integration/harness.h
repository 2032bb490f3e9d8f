// Harness of the integration tests: real child processes (the agentring-reader and agentring
// binaries, and forked children that use the in-process writer API), real shared-memory
// segments, and readers of what those processes leave behind (the OTLP JSON Lines trace file and
// the reader's stats JSON).
//
// Every wait is bounded (kProcessTimeout): a hung child is SIGKILLed and the test fails instead
// of hanging. Nothing here asserts how long anything took.
//
// Thread safety: none of this is meant to be shared between threads; each test drives its own
// children from the gtest thread.
#ifndef AGENTRING_TESTS_INTEGRATION_HARNESS_H_
#define AGENTRING_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace agentring::it {

// Bound on every wait for a child process or a file to appear.
inline constexpr std::chrono::milliseconds kProcessTimeout{60000};

std::string ReaderPath();  // AGENTRING_BIN_DIR "/agentring-reader"
std::string CliPath();     // AGENTRING_BIN_DIR "/agentring"

// "it-<test name>-<pid>", restricted to the characters a segment name may use.
std::string UniqueSegmentName();

// Removes a segment on construction (a leftover of a dead run) and on destruction.
class SegmentGuard {
 public:
  explicit SegmentGuard(std::string name);
  ~SegmentGuard();
  SegmentGuard(const SegmentGuard&) = delete;
  SegmentGuard& operator=(const SegmentGuard&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// True when SegmentMap::Open finds the segment (the mapping is dropped right away).
bool SegmentExists(const std::string& name);

// A directory made with mkdtemp under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFileOrEmpty(const std::string& path);

// Environment overrides for a spawned program: (name, value); an empty value removes the
// variable. Every spawned program also starts without the variables that would make a test
// depend on its caller's environment (AGENTRING_*, TRACEPARENT, OTEL_*).
using EnvOverrides = std::vector<std::pair<std::string, std::string>>;

// A child process owned by the test: killed (SIGKILL) and reaped on destruction if still
// running. `report_fd` (optional) is the read end of a pipe the child writes to.
class Child {
 public:
  Child() = default;
  explicit Child(pid_t pid, int report_fd = -1) : pid_(pid), report_fd_(report_fd) {}
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  ~Child();

  pid_t pid() const { return pid_; }
  bool valid() const { return pid_ > 0; }
  bool reaped() const { return reaped_; }
  int status() const { return status_; }

  // Waits up to `timeout` for the child to exit. Returns true with status() set; on timeout the
  // child is SIGKILLed and reaped and false is returned.
  bool Wait(std::chrono::milliseconds timeout = kProcessTimeout);
  // Non-blocking: true (and status() set) once the child has exited.
  bool Exited();
  void Signal(int sig);
  // Reads the report pipe until EOF (every holder of its write end closed it) or `timeout`.
  std::string ReadReportToEof(std::chrono::milliseconds timeout = kProcessTimeout);
  // Reads one '\n'-terminated line of the report pipe (without the newline), or nullopt on EOF
  // or timeout.
  std::optional<std::string> ReadReportLine(std::chrono::milliseconds timeout = kProcessTimeout);

 private:
  void Kill();
  pid_t pid_ = -1;
  int report_fd_ = -1;
  std::string report_buffer_;
  bool reaped_ = false;
  int status_ = 0;
};

// "exited with status N" / "was killed by SIGNAME" / "did not exit in time".
std::string DescribeStatus(int status);
bool ExitedWith(int status, int code);

// Forks and execs `argv[0]` with `argv`, the scrubbed environment plus `env`; stdout and stderr
// go to the given files ("" = /dev/null). Returns an invalid Child if fork failed.
Child Spawn(const std::vector<std::string>& argv, const EnvOverrides& env = {},
            const std::string& stdout_path = "", const std::string& stderr_path = "");

// Result of RunCommand.
struct CommandResult {
  pid_t pid = -1;
  bool finished = false;  // false: timed out and was killed
  int status = 0;
  std::string out;
  std::string err;
  int exit_code() const;  // -1 unless it exited normally
  std::string Describe() const;  // status plus stderr, for failure messages
};
// Runs a command to completion (bounded by `timeout`), capturing stdout and stderr.
CommandResult RunCommand(const std::vector<std::string>& argv, const EnvOverrides& env = {},
                         std::chrono::milliseconds timeout = kProcessTimeout);

// A one-way gate between the test and a forked child: the child blocks in WaitInChild() until
// the parent calls Open() (or dies). Create it before forking.
class Gate {
 public:
  Gate();
  ~Gate();
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void Open();  // parent: closes the write end
  // Child: drops its copy of the write end and waits for EOF. False on timeout.
  bool WaitInChild(std::chrono::milliseconds timeout = kProcessTimeout);

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// Forks a child that uses the in-process writer API: it clears the environment the writer reads
// (TRACEPARENT, samplers), points the writer at `segment` (SetSegmentName, before its first span)
// and runs `body(report_fd)`, then _exits with body's return value without unwinding (no gtest
// state or destructors of the parent run in the child). Lines the body writes with Report()
// arrive on the returned Child's report pipe.
Child ForkWriter(const std::string& segment, const std::function<int(int report_fd)>& body);
// Writes "key=value\n" to a report pipe (one write: atomic below PIPE_BUF).
void Report(int fd, const std::string& key, const std::string& value);
// Parses "key=value" lines.
std::map<std::string, std::string> ParseReport(const std::string& text);

// ---- The reader ------------------------------------------------------------------------------

struct ReaderProcess {
  Child child;
  std::string traces_path;  // --out of the jsonl exporter
  std::string stats_path;   // --stats-json
  std::string stderr_path;
};

// Starts agentring-reader --segment S --exporter jsonl --out DIR/<tag>.jsonl
// --stats-json DIR/<tag>.stats.json plus `extra` (e.g. --create, --exit-when-idle-ms 300).
ReaderProcess StartReader(const std::string& segment, const TempDir& dir, const std::string& tag,
                          const std::vector<std::string>& extra);
// Waits until the segment exists and its header names `reader` as the reader holding the lock.
::testing::AssertionResult WaitForReader(const std::string& segment, ReaderProcess& reader);
// Waits for the reader to exit by itself (idle exit) with status 0.
::testing::AssertionResult WaitForReaderExit(ReaderProcess& reader);
// SIGTERM, then waits for exit status 0 (a reader delivers everything on SIGTERM).
::testing::AssertionResult StopReader(ReaderProcess& reader);

// ---- Output files ----------------------------------------------------------------------------

// One exported span, as read back from the OTLP JSON Lines file.
struct ExportedSpan {
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;  // "" for a root
  std::string name;
  int64_t pid = -1;            // resource attribute process.pid
  uint64_t start_unix_ns = 0;
  uint64_t end_unix_ns = 0;
  int status_code = 0;
  boost::json::object attributes;  // key -> OTLP AnyValue object ({"stringValue": …})

  bool HasAttribute(const std::string& key) const { return attributes.contains(key); }
  // The attribute's string value, or "" when absent or not a string.
  std::string StringAttribute(const std::string& key) const;
};

struct TraceFile {
  size_t lines = 0;
  size_t spans = 0;
  std::map<std::string, std::vector<ExportedSpan>> traces;  // traceId -> spans (all lines)
};

// Reads a trace file. Fails (with the file and line) on anything that is not an OTLP request.
::testing::AssertionResult ReadTraceFile(const std::string& path, TraceFile* out);

// Parses a JSON object from a file or a string.
::testing::AssertionResult ReadJsonObjectFile(const std::string& path, boost::json::object* out);
::testing::AssertionResult ParseJsonObject(const std::string& text, boost::json::object* out);
// The unsigned integer at `key`; records a test failure and returns UINT64_MAX when missing.
uint64_t U64(const boost::json::object& o, const std::string& key);

// Runs `agentring loadgen --segment S <args>`; asserts it exited 0 and parses its JSON line.
::testing::AssertionResult RunLoadgen(const std::string& segment,
                                      const std::vector<std::string>& args,
                                      boost::json::object* summary);

}  // namespace agentring::it

#endif  // AGENTRING_TESTS_INTEGRATION_HARNESS_H_
