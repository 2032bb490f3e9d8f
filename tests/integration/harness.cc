// Implementation of the integration-test harness (see harness.h).
#include "integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"

extern char** environ;

namespace agentring::it {
namespace {

using Clock = std::chrono::steady_clock;

// Variables of the caller's environment that would change what a writer or the reader does.
constexpr const char* kScrubbed[] = {
    "AGENTRING_SEGMENT",       "AGENTRING_DISABLED",      "AGENTRING_MAX_ATTR_BYTES",
    "TRACEPARENT",             "OTEL_TRACES_SAMPLER",     "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SERVICE_NAME",       "OTEL_RESOURCE_ATTRIBUTES", "AGENTRING_ALLOW_FOREIGN_OWNER"};

bool IsScrubbed(std::string_view kv) {
  for (const char* name : kScrubbed) {
    size_t n = strlen(name);
    if (kv.size() > n && kv.compare(0, n, name) == 0 && kv[n] == '=') return true;
  }
  return false;
}

std::vector<std::string> BuildEnv(const EnvOverrides& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (IsScrubbed(kv)) continue;
    bool overridden = false;
    for (const auto& [key, value] : overrides)
      overridden |= kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 &&
                    kv[key.size()] == '=';
    if (!overridden) env.emplace_back(kv);
  }
  for (const auto& [key, value] : overrides)
    if (!value.empty()) env.push_back(key + "=" + value);
  return env;
}

std::vector<char*> CArray(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Reads what is available on fd into *out; returns false at EOF or error.
bool ReadSome(int fd, std::string* out) {
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Waits until fd is readable (or hung up) or the deadline passes. False on timeout.
bool PollReadable(int fd, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, RemainingMs(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

std::string ReaderPath() { return std::string(AGENTRING_BIN_DIR) + "/agentring-reader"; }
std::string CliPath() { return std::string(AGENTRING_BIN_DIR) + "/agentring"; }

std::string UniqueSegmentName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info != nullptr ? info->name() : "unknown";
  for (char& c : test) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return "it-" + test + "-" + std::to_string(getpid());
}

SegmentGuard::SegmentGuard(std::string name) : name_(std::move(name)) {
  internal::SegmentMap::Remove(name_);
}
SegmentGuard::~SegmentGuard() { internal::SegmentMap::Remove(name_); }

bool SegmentExists(const std::string& name) {
  internal::OpenStatus status;
  std::string error;
  return internal::SegmentMap::Open(name, &status, &error) != nullptr;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/agentring-it-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << strerror(errno);
    path_ = "/tmp";
    return;
  }
  path_ = tmpl;
}
TempDir::~TempDir() {
  if (path_ == "/tmp") return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- Child -----------------------------------------------------------------------------------

Child::Child(Child&& o) noexcept
    : pid_(o.pid_), report_fd_(o.report_fd_), report_buffer_(std::move(o.report_buffer_)),
      reaped_(o.reaped_), status_(o.status_) {
  o.pid_ = -1;
  o.report_fd_ = -1;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    Kill();
    pid_ = o.pid_;
    report_fd_ = o.report_fd_;
    report_buffer_ = std::move(o.report_buffer_);
    reaped_ = o.reaped_;
    status_ = o.status_;
    o.pid_ = -1;
    o.report_fd_ = -1;
  }
  return *this;
}

Child::~Child() { Kill(); }

void Child::Kill() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGCONT);  // a stopped child dies of SIGKILL too, but be explicit
    kill(pid_, SIGKILL);
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (report_fd_ >= 0) close(report_fd_);
  report_fd_ = -1;
}

bool Child::Exited() {
  if (pid_ <= 0) return true;
  if (reaped_) return true;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return reaped_;
}

bool Child::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return false;
  auto deadline = Clock::now() + timeout;
  auto sleep = std::chrono::milliseconds(1);
  while (!Exited()) {
    if (Clock::now() >= deadline) {
      Kill();
      return false;
    }
    std::this_thread::sleep_for(sleep);
    if (sleep < std::chrono::milliseconds(20)) sleep *= 2;
  }
  return true;
}

void Child::Signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

std::string Child::ReadReportToEof(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (report_fd_ >= 0 && PollReadable(report_fd_, deadline)) {
    if (!ReadSome(report_fd_, &report_buffer_)) break;
  }
  std::string out = std::move(report_buffer_);
  report_buffer_.clear();
  return out;
}

std::optional<std::string> Child::ReadReportLine(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    size_t nl = report_buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = report_buffer_.substr(0, nl);
      report_buffer_.erase(0, nl + 1);
      return line;
    }
    if (report_fd_ < 0 || !PollReadable(report_fd_, deadline)) return std::nullopt;
    if (!ReadSome(report_fd_, &report_buffer_)) return std::nullopt;
  }
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by ") + strsignal(WTERMSIG(status));
  return "ended abnormally";
}

bool ExitedWith(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

Child Spawn(const std::vector<std::string>& argv_in, const EnvOverrides& env_in,
            const std::string& stdout_path, const std::string& stderr_path) {
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = BuildEnv(env_in);
  std::vector<char*> argv_c = CArray(argv);
  std::vector<char*> env_c = CArray(env);
  std::string out = stdout_path.empty() ? "/dev/null" : stdout_path;
  std::string err = stderr_path.empty() ? "/dev/null" : stderr_path;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    return Child();
  }
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o >= 0) dup2(o, STDOUT_FILENO);
    if (e >= 0) dup2(e, STDERR_FILENO);
    execve(argv_c[0], argv_c.data(), env_c.data());
    _exit(127);
  }
  return Child(pid);
}

int CommandResult::exit_code() const {
  return finished && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string CommandResult::Describe() const {
  return std::string(finished ? DescribeStatus(status) : "did not finish in time (killed)") +
         "; stdout: " + out + "; stderr: " + err;
}

CommandResult RunCommand(const std::vector<std::string>& argv_in, const EnvOverrides& env_in,
                         std::chrono::milliseconds timeout) {
  CommandResult result;
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = BuildEnv(env_in);
  std::vector<char*> argv_c = CArray(argv);
  std::vector<char*> env_c = CArray(env);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return result;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    return result;
  }
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);  // dup2 clears FD_CLOEXEC on the copy
    dup2(err_pipe[1], STDERR_FILENO);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execve(argv_c[0], argv_c.data(), env_c.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  result.pid = pid;
  Child child(pid);
  auto deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && Clock::now() < deadline) {
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    int r = poll(fds, 2, RemainingMs(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
      out_open = ReadSome(out_pipe[0], &result.out);
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
      err_open = ReadSome(err_pipe[0], &result.err);
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  result.finished = child.Wait(std::chrono::milliseconds(RemainingMs(deadline)));
  result.status = child.status();
  return result;
}

// ---- Gate and forked writers -----------------------------------------------------------------

Gate::Gate() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return;
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
}

Gate::~Gate() {
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

void Gate::Open() {
  if (write_fd_ >= 0) close(write_fd_);
  write_fd_ = -1;
}

bool Gate::WaitInChild(std::chrono::milliseconds timeout) {
  Open();
  auto deadline = Clock::now() + timeout;
  std::string ignored;
  while (PollReadable(read_fd_, deadline)) {
    if (!ReadSome(read_fd_, &ignored)) return true;  // EOF: the parent opened the gate
  }
  return false;
}

void Report(int fd, const std::string& key, const std::string& value) {
  std::string line = key + "=" + value + "\n";
  ssize_t w = write(fd, line.data(), line.size());
  (void)w;
}

std::map<std::string, std::string> ParseReport(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

Child ForkWriter(const std::string& segment, const std::function<int(int report_fd)>& body) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return Child();
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return Child();
  }
  if (pid == 0) {
    close(fds[0]);
    for (const char* name : kScrubbed) unsetenv(name);
    SetSegmentName(segment);
    ClearInheritedParent();  // reads the (scrubbed) environment now
    int rc = body(fds[1]);
    close(fds[1]);
    _exit(rc);
  }
  close(fds[1]);
  return Child(pid, fds[0]);
}

// ---- The reader ------------------------------------------------------------------------------

ReaderProcess StartReader(const std::string& segment, const TempDir& dir, const std::string& tag,
                          const std::vector<std::string>& extra) {
  ReaderProcess r;
  r.traces_path = dir.File(tag + ".jsonl");
  r.stats_path = dir.File(tag + ".stats.json");
  r.stderr_path = dir.File(tag + ".stderr");
  std::vector<std::string> argv = {ReaderPath(), "--segment",    segment,
                                   "--exporter", "jsonl",        "--out",
                                   r.traces_path, "--stats-json", r.stats_path};
  argv.insert(argv.end(), extra.begin(), extra.end());
  r.child = Spawn(argv, {}, dir.File(tag + ".stdout"), r.stderr_path);
  return r;
}

::testing::AssertionResult WaitForReader(const std::string& segment, ReaderProcess& reader) {
  if (!reader.child.valid()) return ::testing::AssertionFailure() << "the reader was not started";
  auto deadline = Clock::now() + kProcessTimeout;
  while (Clock::now() < deadline) {
    if (reader.child.Exited()) {
      return ::testing::AssertionFailure()
             << "the reader " << DescribeStatus(reader.child.status())
             << " before taking segment '" << segment
             << "'; stderr: " << ReadFileOrEmpty(reader.stderr_path);
    }
    internal::OpenStatus status;
    std::string error;
    auto seg = internal::SegmentMap::Open(segment, &status, &error);
    if (seg != nullptr &&
        seg->header()->reader_pid.load(std::memory_order_relaxed) ==
            static_cast<uint32_t>(reader.child.pid()))
      return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return ::testing::AssertionFailure() << "the reader did not take segment '" << segment
                                       << "' in time";
}

::testing::AssertionResult WaitForReaderExit(ReaderProcess& reader) {
  if (!reader.child.Wait()) {
    return ::testing::AssertionFailure()
           << "the reader did not exit by itself in time (killed); stderr: "
           << ReadFileOrEmpty(reader.stderr_path);
  }
  if (!ExitedWith(reader.child.status(), 0)) {
    return ::testing::AssertionFailure() << "the reader " << DescribeStatus(reader.child.status())
                                         << "; stderr: " << ReadFileOrEmpty(reader.stderr_path);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult StopReader(ReaderProcess& reader) {
  reader.child.Signal(SIGTERM);
  return WaitForReaderExit(reader);
}

// ---- Output files ----------------------------------------------------------------------------

std::string ExportedSpan::StringAttribute(const std::string& key) const {
  const boost::json::value* v = attributes.if_contains(key);
  if (v == nullptr || !v->is_object()) return "";
  const boost::json::value* s = v->get_object().if_contains("stringValue");
  return s != nullptr && s->is_string() ? std::string(s->get_string()) : "";
}

namespace {

std::string StringField(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
}

// OTLP JSON carries 64-bit integers as strings; accept numbers too.
int64_t IntOf(const boost::json::value* v) {
  if (v == nullptr) return -1;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_string()) return strtoll(v->get_string().c_str(), nullptr, 10);
  return -1;
}

uint64_t UintOf(const boost::json::value* v) {
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64()) return static_cast<uint64_t>(v->get_int64());
  if (v->is_string()) return strtoull(v->get_string().c_str(), nullptr, 10);
  return 0;
}

boost::json::object AttributeMap(const boost::json::value* list) {
  boost::json::object out;
  if (list == nullptr || !list->is_array()) return out;
  for (const boost::json::value& kv : list->get_array()) {
    const boost::json::object* o = kv.if_object();
    if (o == nullptr) continue;
    std::string key = StringField(*o, "key");
    const boost::json::value* v = o->if_contains("value");
    if (!key.empty() && v != nullptr) out[key] = *v;
  }
  return out;
}

}  // namespace

::testing::AssertionResult ReadTraceFile(const std::string& path, TraceFile* out) {
  std::ifstream in(path);
  if (!in) return ::testing::AssertionFailure() << "cannot read " << path;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    ++out->lines;
    boost::system::error_code ec;
    boost::json::value doc = boost::json::parse(line, ec);
    const boost::json::object* root = ec ? nullptr : doc.if_object();
    const boost::json::value* rs_list = root ? root->if_contains("resourceSpans") : nullptr;
    if (rs_list == nullptr || !rs_list->is_array())
      return ::testing::AssertionFailure()
             << path << ":" << line_no << ": not an OTLP ExportTraceServiceRequest";
    for (const boost::json::value& rs : rs_list->get_array()) {
      const boost::json::object* rso = rs.if_object();
      if (rso == nullptr) return ::testing::AssertionFailure() << path << ":" << line_no;
      int64_t pid = -1;
      if (const boost::json::value* res = rso->if_contains("resource"); res && res->is_object()) {
        boost::json::object attrs = AttributeMap(res->get_object().if_contains("attributes"));
        if (const boost::json::value* p = attrs.if_contains("process.pid"); p && p->is_object())
          pid = IntOf(p->get_object().if_contains("intValue"));
      }
      const boost::json::value* scope_spans = rso->if_contains("scopeSpans");
      if (scope_spans == nullptr || !scope_spans->is_array())
        return ::testing::AssertionFailure() << path << ":" << line_no << ": no scopeSpans";
      for (const boost::json::value& ss : scope_spans->get_array()) {
        const boost::json::object* sso = ss.if_object();
        const boost::json::value* spans = sso ? sso->if_contains("spans") : nullptr;
        if (spans == nullptr || !spans->is_array())
          return ::testing::AssertionFailure() << path << ":" << line_no << ": no spans";
        for (const boost::json::value& sv : spans->get_array()) {
          const boost::json::object* so = sv.if_object();
          if (so == nullptr) return ::testing::AssertionFailure() << path << ":" << line_no;
          ExportedSpan s;
          s.trace_id = StringField(*so, "traceId");
          s.span_id = StringField(*so, "spanId");
          s.parent_span_id = StringField(*so, "parentSpanId");
          s.name = StringField(*so, "name");
          s.pid = pid;
          s.start_unix_ns = UintOf(so->if_contains("startTimeUnixNano"));
          s.end_unix_ns = UintOf(so->if_contains("endTimeUnixNano"));
          if (const boost::json::value* st = so->if_contains("status"); st && st->is_object())
            s.status_code = static_cast<int>(IntOf(st->get_object().if_contains("code")) < 0
                                                 ? 0
                                                 : IntOf(st->get_object().if_contains("code")));
          s.attributes = AttributeMap(so->if_contains("attributes"));
          if (s.trace_id.size() != 32 || s.span_id.size() != 16)
            return ::testing::AssertionFailure()
                   << path << ":" << line_no << ": malformed ids in span '" << s.name << "'";
          ++out->spans;
          out->traces[s.trace_id].push_back(std::move(s));
        }
      }
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ParseJsonObject(const std::string& text, boost::json::object* out) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object())
    return ::testing::AssertionFailure() << "not a JSON object: '" << text << "'";
  *out = std::move(v.get_object());
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ReadJsonObjectFile(const std::string& path, boost::json::object* out) {
  if (access(path.c_str(), R_OK) != 0)
    return ::testing::AssertionFailure() << path << " was not written";
  return ParseJsonObject(ReadFileOrEmpty(path), out);
}

uint64_t U64(const boost::json::object& o, const std::string& key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !(v->is_uint64() || (v->is_int64() && v->get_int64() >= 0))) {
    ADD_FAILURE() << "no unsigned integer '" << key << "' in " << boost::json::serialize(o);
    return UINT64_MAX;
  }
  return v->is_uint64() ? v->get_uint64() : static_cast<uint64_t>(v->get_int64());
}

::testing::AssertionResult RunLoadgen(const std::string& segment,
                                      const std::vector<std::string>& args,
                                      boost::json::object* summary) {
  std::vector<std::string> argv = {CliPath(), "loadgen", "--segment", segment};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  if (r.exit_code() != 0) return ::testing::AssertionFailure() << "loadgen " << r.Describe();
  std::string last = r.out;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  if (size_t nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
  return ParseJsonObject(last, summary);
}

}  // namespace agentring::it
