// agentring loadgen: forks P processes × T threads; every thread writes N traces of K spans
// (a root over a tree of children, fan-out 4, A attributes each), optionally paced and with
// spans held open. Prints one JSON line summing the writer counters of every process.
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "reader/tools/cli.h"

namespace agentring::cli {
namespace {

namespace po = boost::program_options;

struct LoadgenConfig {
  std::string segment;
  uint32_t processes = 1;
  uint32_t threads = 1;
  uint64_t traces = 1;
  uint32_t spans_per_trace = 1;
  uint32_t attrs = 0;
  uint64_t rate = 0;     // spans per second per thread, 0 = unpaced
  uint64_t span_us = 0;  // how long each span stays open
};

constexpr uint32_t kFanout = 4;

// Paces a thread to `rate` spans/s without sleeping for every span (sleeps only once it is
// more than 200 µs ahead of schedule).
class Pacer {
 public:
  explicit Pacer(uint64_t rate) : interval_ns_(rate ? 1000000000ull / rate : 0) {
    next_ns_ = internal::NowMonotonicNs();
  }
  void Tick() {
    if (interval_ns_ == 0) return;
    next_ns_ += interval_ns_;
    uint64_t now = internal::NowMonotonicNs();
    if (next_ns_ > now + 200000) {
      uint64_t d = next_ns_ - now;
      timespec ts{static_cast<time_t>(d / 1000000000ull), static_cast<long>(d % 1000000000ull)};
      nanosleep(&ts, nullptr);
    }
  }

 private:
  uint64_t interval_ns_;
  uint64_t next_ns_;
};

void HoldOpen(uint64_t us) {
  if (us == 0) return;
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>((us % 1000000) * 1000)};
  nanosleep(&ts, nullptr);
}

struct ThreadCtx {
  const LoadgenConfig* cfg;
  std::vector<std::string> keys;  // attribute keys, built once
  std::vector<std::string> values;
  Pacer pacer;
  uint32_t thread_index;
};

// Writes one span and, depth-first, `*remaining` more below it (fan-out kFanout).
void EmitSubtree(ThreadCtx& c, uint32_t depth, uint32_t* remaining) {
  Span s(depth == 0 ? Name("loadgen.root") : Name("loadgen.span"),
         depth == 0 ? Kind::kRun : Kind::kCustom, Suffix(depth));
  for (uint32_t a = 0; a < c.cfg->attrs; ++a) {
    switch (a % 4) {
      case 0: s.Set(Name(c.keys[a]), std::string_view(c.values[a])); break;
      case 1: s.Set(Name(c.keys[a]), static_cast<int64_t>(a * 1000 + depth)); break;
      case 2: s.Set(Name(c.keys[a]), (a & 4) != 0); break;
      default: s.Set(Name(c.keys[a]), 0.5 * a); break;
    }
  }
  c.pacer.Tick();
  for (uint32_t k = 0; k < kFanout && *remaining > 0; ++k) {
    --*remaining;
    EmitSubtree(c, depth + 1, remaining);
  }
  HoldOpen(c.cfg->span_us);
}

void RunThread(const LoadgenConfig* cfg, uint32_t index) {
  ThreadCtx c{cfg, {}, {}, Pacer(cfg->rate), index};
  for (uint32_t a = 0; a < cfg->attrs; ++a) {
    c.keys.push_back("loadgen.attr" + std::to_string(a));
    c.values.push_back("value-" + std::to_string(a) + "-of-thread-" + std::to_string(index));
  }
  for (uint64_t t = 0; t < cfg->traces; ++t) {
    uint32_t remaining = cfg->spans_per_trace - 1;
    EmitSubtree(c, 0, &remaining);
  }
  ReleaseThreadLane();
}

// In a forked child: run the threads, then report this process's counters on `fd`.
[[noreturn]] void RunChild(const LoadgenConfig& cfg, int fd) {
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < cfg.threads; ++i) threads.emplace_back(RunThread, &cfg, i);
  for (auto& t : threads) t.join();
  WriterStats s = GetWriterStats();
  char line[512];
  int n = snprintf(line, sizeof(line), "%llu %llu %llu %llu %llu\n",
                   static_cast<unsigned long long>(s.spans_started),
                   static_cast<unsigned long long>(s.span_starts_committed),
                   static_cast<unsigned long long>(s.records_dropped +
                                                   s.span_starts_dropped_no_lane +
                                                   s.span_starts_dropped_no_segment),
                   static_cast<unsigned long long>(s.records_committed),
                   static_cast<unsigned long long>(s.spans_head_sampled_out));
  ssize_t w = write(fd, line, static_cast<size_t>(n));
  (void)w;
  close(fd);
  _exit(0);
}

}  // namespace

int Loadgen(const Args& args) {
  const char* usage =
      "usage: agentring loadgen --segment NAME --processes P --threads T --traces N "
      "--spans-per-trace K [--attrs A] [--rate SPANS_PER_S] [--span-us US]";
  LoadgenConfig cfg;
  po::options_description desc("loadgen");
  desc.add_options()
      ("segment", po::value<std::string>(&cfg.segment))
      ("processes", po::value<uint32_t>(&cfg.processes)->default_value(1))
      ("threads", po::value<uint32_t>(&cfg.threads)->default_value(1))
      ("traces", po::value<uint64_t>(&cfg.traces)->default_value(1))
      ("spans-per-trace", po::value<uint32_t>(&cfg.spans_per_trace)->default_value(1))
      ("attrs", po::value<uint32_t>(&cfg.attrs)->default_value(0))
      ("rate", po::value<uint64_t>(&cfg.rate)->default_value(0))
      ("span-us", po::value<uint64_t>(&cfg.span_us)->default_value(0));
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fprintf(stderr, "agentring loadgen: %s\n%s\n", e.what(), usage);
    return 2;
  }
  if (cfg.segment.empty()) {
    if (const char* env = getenv("AGENTRING_SEGMENT")) cfg.segment = env;
  }
  if (cfg.segment.empty() || !internal::IsValidSegmentName(cfg.segment)) {
    fprintf(stderr, "agentring loadgen: --segment NAME is required (letters, digits, . _ -)\n%s\n",
            usage);
    return 2;
  }
  if (cfg.processes == 0 || cfg.processes > 256 || cfg.threads == 0 || cfg.threads > 256 ||
      cfg.spans_per_trace == 0 || cfg.spans_per_trace > 100000 || cfg.attrs > 64) {
    fprintf(stderr,
            "agentring loadgen: out of range (processes 1..256, threads 1..256, "
            "spans-per-trace 1..100000, attrs 0..64)\n%s\n", usage);
    return 2;
  }
  setenv("AGENTRING_SEGMENT", cfg.segment.c_str(), 1);
  SetSegmentName(cfg.segment);

  std::vector<pid_t> pids;
  std::vector<int> fds;
  for (uint32_t p = 0; p < cfg.processes; ++p) {
    int pipefd[2];
    if (pipe(pipefd) != 0) {
      perror("agentring loadgen: pipe");
      return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
      perror("agentring loadgen: fork");
      return 1;
    }
    if (pid == 0) {
      close(pipefd[0]);
      RunChild(cfg, pipefd[1]);
    }
    close(pipefd[1]);
    pids.push_back(pid);
    fds.push_back(pipefd[0]);
  }
  unsigned long long started = 0, committed = 0, dropped = 0, records = 0, sampled_out = 0;
  int failures = 0;
  for (size_t i = 0; i < pids.size(); ++i) {
    std::string text;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[i], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
    close(fds[i]);
    int status = 0;
    waitpid(pids[i], &status, 0);
    unsigned long long a = 0, b = 0, c = 0, d = 0, e = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(text.c_str(), "%llu %llu %llu %llu %llu", &a, &b, &c, &d, &e) != 5) {
      ++failures;
      continue;
    }
    started += a;
    committed += b;
    dropped += c;
    records += d;
    sampled_out += e;
  }
  printf("{\"spans_started\":%llu,\"spans_committed\":%llu,\"records_dropped\":%llu,"
         "\"records_committed\":%llu,\"spans_head_sampled_out\":%llu,\"processes_failed\":%d}\n",
         started, committed, dropped, records, sampled_out, failures);
  fflush(stdout);
  return failures == 0 ? 0 : 1;
}

}  // namespace agentring::cli
