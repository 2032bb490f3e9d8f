// A writer killed with SIGKILL (issue 3, item 1; Done-when line 2): `agentring loadgen`, paced,
// through a reader, its processes kill -9ed mid-run. The reader survives, exports what they
// committed (an exact count), closes their open spans as incomplete (`writer_exited`, ended at
// the last record seen from the writer) and exports those traces while it runs; `agentring
// stats`, a separate process, shows the lanes reclaimed; writers started afterwards get lanes
// and their spans arrive. Liveness is the writer's OFD lock, so it is not fooled by a writer in
// another PID namespace whose recorded pid names a live process in the reader's.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agentring/abi/segment.h"
#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  pid_t c;
  while (in >> c) out.push_back(c);
  return out;
}

// `agentring stats --segment S --json`, run as its own process.
::testing::AssertionResult SegmentStats(const std::string& segment, boost::json::object* out) {
  CommandResult r = RunCommand({CliPath(), "stats", "--segment", segment, "--json"});
  if (r.exit_code() != 0) return ::testing::AssertionFailure() << "agentring stats " << r.Describe();
  return ParseJsonObject(r.out, out);
}

// Polls `agentring stats` until no lane is in use and no process slot is taken.
::testing::AssertionResult WaitLanesReclaimed(const std::string& segment, boost::json::object* last) {
  auto deadline = Clock::now() + kProcessTimeout;
  while (Clock::now() < deadline) {
    if (auto r = SegmentStats(segment, last); !r) return r;
    if (U64(*last, "lanes_in_use") == 0 && last->at("processes").as_array().empty())
      return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ::testing::AssertionFailure() << "lanes not reclaimed: " << boost::json::serialize(*last);
}

// The spans closed by the reader (incomplete) must end at the last record seen from their
// writer: the newest start or end time of any span of that process. (Within 1 ms: the reader
// refines its tick-to-wall-clock rate while it runs, which may move a conversion slightly.)
void ExpectIncompleteEndAtLastRecord(const TraceFile& file, const std::set<int64_t>& pids) {
  std::map<int64_t, uint64_t> last;
  for (const auto& [id, spans] : file.traces)
    for (const ExportedSpan& s : spans) {
      uint64_t t = s.HasAttribute("agentring.incomplete") ? s.start_unix_ns : s.end_unix_ns;
      if (t > last[s.pid]) last[s.pid] = t;
    }
  for (const auto& [id, spans] : file.traces)
    for (const ExportedSpan& s : spans) {
      if (!s.HasAttribute("agentring.incomplete")) continue;
      EXPECT_EQ(pids.count(s.pid), 1u) << "span of pid " << s.pid << " closed as incomplete";
      EXPECT_EQ(s.StringAttribute("agentring.incomplete_reason"), "writer_exited") << s.span_id;
      EXPECT_EQ(s.status_code, 2) << s.span_id;
      EXPECT_GE(s.end_unix_ns, s.start_unix_ns) << s.span_id;
      uint64_t want = last[s.pid];
      uint64_t diff = s.end_unix_ns > want ? s.end_unix_ns - want : want - s.end_unix_ns;
      EXPECT_LE(diff, 1'000'000u) << "span " << s.span_id << " of pid " << s.pid << " ends at "
                                  << s.end_unix_ns << ", its writer's last record is at " << want;
    }
}

TEST(WriterKill, PacedLoadgenKilledMidRun) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  // 3 processes x 2 threads, 2000 spans/s each, every span held open 300 us: traces of 20 spans
  // that would run for 10 s.
  Child loadgen = Spawn({CliPath(), "loadgen", "--segment", seg.name(), "--processes", "3",
                         "--threads", "2", "--traces", "1000", "--spans-per-trace", "20",
                         "--attrs", "3", "--rate", "2000", "--span-us", "300"});
  ASSERT_TRUE(loadgen.valid());
  // Mid-run: every one of the 6 lanes has committed a few hundred spans.
  boost::json::object live;
  std::vector<pid_t> writers;
  auto deadline = Clock::now() + kProcessTimeout;
  for (;;) {
    ASSERT_LT(Clock::now(), deadline) << "loadgen did not get going";
    ASSERT_FALSE(loadgen.Exited()) << "loadgen " << DescribeStatus(loadgen.status());
    ASSERT_TRUE(SegmentStats(seg.name(), &live));
    uint64_t busy = 0;
    for (const boost::json::value& l : live.at("lane_table").as_array())
      busy += U64(l.as_object(), "span_starts_committed") >= 300 ? 1 : 0;
    if (busy == 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  writers = ChildrenOf(loadgen.pid());
  ASSERT_EQ(writers.size(), 3u);
  EXPECT_EQ(U64(live, "lanes_in_use"), 6u);
  for (pid_t w : writers) ASSERT_EQ(kill(w, SIGKILL), 0);
  loadgen.Signal(SIGKILL);
  ASSERT_TRUE(loadgen.Wait());

  // The reader notices (OFD locks gone), drains, closes and frees: `agentring stats` sees no
  // lane in use and no process attached.
  boost::json::object after;
  ASSERT_TRUE(WaitLanesReclaimed(seg.name(), &after));
  ASSERT_FALSE(reader.child.Exited()) << "the reader died: " << ReadFileOrEmpty(reader.stderr_path);

  // New writers get lanes and everything they commit arrives.
  boost::json::object second;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "2", "--threads", "2", "--traces", "5",
                          "--spans-per-trace", "20", "--attrs", "2"},
                         &second));
  EXPECT_EQ(U64(second, "spans_committed"), 400u);
  EXPECT_EQ(U64(second, "records_dropped"), 0u);

  // While the reader still runs: once the new writers' spans are in the file, so is every
  // trace the reader finished before them (one export queue, in order), which must include
  // the killed writers' traces with their incomplete spans: exported, not left waiting.
  const std::set<int64_t> killed(writers.begin(), writers.end());
  std::set<std::string> exported_while_running;
  deadline = Clock::now() + kProcessTimeout;
  for (;;) {
    ASSERT_LT(Clock::now(), deadline) << "the new writers' spans did not arrive";
    TraceFile now;
    ASSERT_TRUE(ReadTraceFile(reader.traces_path, &now));
    uint64_t newer = 0;
    for (const auto& [id, spans] : now.traces)
      for (const ExportedSpan& s : spans) {
        newer += killed.count(s.pid) == 0 ? 1 : 0;
        if (s.HasAttribute("agentring.incomplete")) exported_while_running.insert(s.span_id);
      }
    if (newer == 400) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(StopReader(reader));

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  EXPECT_EQ(U64(stats, "spans_exported"), file.spans);
  EXPECT_EQ(U64(stats, "spans_exported"), U64(stats, "span_starts_committed"));
  EXPECT_TRUE(stats.at("accounting").as_object().at("balanced").as_bool())
      << boost::json::serialize(stats.at("accounting"));
  EXPECT_EQ(U64(stats, "records_dropped_by_writers"), 0u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "records_orphaned"), 0u);
  EXPECT_EQ(U64(stats, "duplicate_span_ids"), 0u);
  EXPECT_EQ(U64(stats, "processes_reclaimed"), 3u + 2u);
  EXPECT_EQ(U64(stats, "lanes_freed"), 6u + 4u);
  EXPECT_TRUE(EveryTraceIsOneTree(file));
  EXPECT_TRUE(SpanIdsUnique(file));

  uint64_t incomplete = 0, from_killed = 0;
  for (const auto& [id, spans] : file.traces)
    for (const ExportedSpan& s : spans) {
      from_killed += killed.count(s.pid);
      if (!s.HasAttribute("agentring.incomplete")) continue;
      ++incomplete;
      EXPECT_EQ(exported_while_running.count(s.span_id), 1u)
          << "incomplete span " << s.span_id << " went out only at the reader's shutdown";
    }
  EXPECT_EQ(from_killed + 400, file.spans);
  EXPECT_GE(from_killed, 6u * 300u);
  // Every killed thread was inside a trace (spans are held open): at least its root is open.
  EXPECT_GE(incomplete, 6u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), incomplete);
  ExpectIncompleteEndAtLastRecord(file, killed);
  printf("loadgen kill: %llu spans of killed writers exported, %llu closed as incomplete\n",
         static_cast<unsigned long long>(from_killed), static_cast<unsigned long long>(incomplete));
}

// A writer killed after the head store that published a span start and before the store that
// counts it (a window of a few instructions the torn-write test hits now and then): the span
// arrived, so it was committed, and the reader's span_starts_committed must say so. The child
// reproduces the window exactly: it takes its count back by one, then SIGKILLs itself.
TEST(WriterKill, KilledBetweenPublishingAndCountingASpanStart) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  const std::string segment = seg.name();
  Child writer = ForkWriter(segment, [&segment](int report) {
    { Span done("it.ended", Kind::kRun); }
    Span open("it.open", Kind::kRun);
    internal::OpenStatus st;
    std::string err;
    auto map = internal::SegmentMap::Open(segment, &st, &err);
    if (!map) return 3;
    for (uint32_t i = 0; i < map->lane_count(); ++i) {
      abi::LaneSlot* ls = map->lane_slot(i);
      if (ls->entry.state.load() != abi::kLaneOwned || ls->entry.owner_tid != gettid()) continue;
      ls->counters.span_starts_committed.fetch_sub(1);
      Report(report, "counted", std::to_string(ls->counters.span_starts_committed.load()));
      raise(SIGKILL);
    }
    return 4;
  });
  ASSERT_TRUE(writer.valid());
  std::string text = writer.ReadReportToEof();
  ASSERT_TRUE(writer.Wait());
  ASSERT_TRUE(WIFSIGNALED(writer.status())) << DescribeStatus(writer.status()) << " " << text;
  EXPECT_EQ(ParseReport(text)["counted"], "1");
  boost::json::object after;
  ASSERT_TRUE(WaitLanesReclaimed(seg.name(), &after));
  ASSERT_TRUE(StopReader(reader));
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(U64(stats, "spans_exported"), 2u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 1u);
  EXPECT_EQ(U64(stats, "span_starts_committed"), 2u);
}

// A writer that is PID 1 of its own PID namespace (as in a sidecar container): the pid it
// records, 1, names a live process in the reader's namespace, so a pid-based liveness check
// would keep it alive forever. The reader must still see it die.
TEST(WriterKill, WriterInAnotherPidNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for unshare(CLONE_NEWPID)";
  ASSERT_EQ(kill(1, 0), 0) << "pid 1 of this namespace is expected to be alive";
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  Child outer = ForkWriter(seg.name(), [](int report) {
    if (unshare(CLONE_NEWPID) != 0) {
      Report(report, "error", std::string("unshare: ") + strerror(errno));
      return 3;
    }
    pid_t inner = fork();
    if (inner == 0) {  // PID 1 of the new namespace
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      Report(report, "inner_pid", std::to_string(getpid()));
      for (int i = 0;; ++i) {
        Span root("pidns.root", Kind::kRun, {{"i", i}});
        { Span child("pidns.child", Kind::kTool); }
        if (i == 50) Report(report, "committed", std::to_string(GetWriterStats().span_starts_committed));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    if (inner < 0) return 4;
    Report(report, "host_pid", std::to_string(inner));
    Child c(inner);
    c.Wait(kProcessTimeout * 2);
    return 0;
  });
  ASSERT_TRUE(outer.valid());
  std::map<std::string, std::string> r;
  while (r.count("committed") == 0) {
    std::optional<std::string> line = outer.ReadReportLine();
    ASSERT_TRUE(line.has_value()) << "the writer did not report; " << r["error"];
    auto kv = ParseReport(*line);
    r.insert(kv.begin(), kv.end());
  }
  ASSERT_EQ(r["inner_pid"], "1");
  EXPECT_EQ(r["committed"], "102");
  const pid_t host_pid = static_cast<pid_t>(std::stol(r["host_pid"]));
  ASSERT_EQ(kill(host_pid, SIGKILL), 0);
  ASSERT_TRUE(outer.Wait());

  boost::json::object after;
  ASSERT_TRUE(WaitLanesReclaimed(seg.name(), &after));
  ASSERT_TRUE(StopReader(reader));
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  EXPECT_EQ(U64(stats, "spans_exported"), file.spans);
  EXPECT_EQ(U64(stats, "spans_exported"), U64(stats, "span_starts_committed"));
  EXPECT_TRUE(stats.at("accounting").as_object().at("balanced").as_bool())
      << boost::json::serialize(stats.at("accounting"));
  EXPECT_GE(file.spans, 102u);
  EXPECT_EQ(PidsOf(file), (std::set<int64_t>{1}));
  EXPECT_EQ(U64(stats, "processes_reclaimed"), 1u);
  EXPECT_GE(U64(stats, "spans_incomplete"), 1u);
  EXPECT_TRUE(EveryTraceIsOneTree(file));
  ExpectIncompleteEndAtLastRecord(file, {1});
}

}  // namespace
}  // namespace agentring::it
