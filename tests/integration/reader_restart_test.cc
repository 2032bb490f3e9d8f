// A reader killed with SIGKILL under paced load and restarted with the same --state-dir: every
// span the writers committed is exported by one of the two readers or counted as
// spans_unknown_after_reader_crash, none is exported twice, and the writers never notice.
#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/trace_tree_assertions.h"

namespace agentring::it {
namespace {

// A file a killed reader was writing may end in a torn line (the kill landed inside a write):
// keep whole lines only. The torn line's batch was never acknowledged, so the restarted reader
// counts its spans as unknown rather than exported.
std::string WholeLines(const std::string& path, const std::string& copy) {
  std::string text = ReadFileOrEmpty(path);
  size_t end = text.rfind('\n');
  text = end == std::string::npos ? "" : text.substr(0, end + 1);
  std::ofstream(copy, std::ios::trunc) << text;
  return copy;
}

// Waits (bounded) until `path` has at least `lines` lines.
bool WaitForLines(const std::string& path, size_t lines) {
  auto deadline = std::chrono::steady_clock::now() + kProcessTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string t = ReadFileOrEmpty(path);
    if (static_cast<size_t>(std::count(t.begin(), t.end(), '\n')) >= lines) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// `same_out`: the restarted reader is started exactly as the first one (same --out file): it
// must continue that file, not truncate what the first one delivered.
void KillAndRestartUnderLoad(bool same_out) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  const std::string state = dir.File("state");
  ReaderProcess a = StartReader(seg.name(), dir, "a", {"--create", "--state-dir", state});
  ASSERT_TRUE(WaitForReader(seg.name(), a));

  // 2 processes x 2 threads x 100 traces x 20 spans at 1000 spans/s per thread: ~2 s of load.
  Child loadgen = Spawn({CliPath(), "loadgen", "--segment", seg.name(), "--processes", "2",
                         "--threads", "2", "--traces", "100", "--spans-per-trace", "20",
                         "--attrs", "2", "--rate", "1000", "--span-us", "200"},
                        {}, dir.File("loadgen.json"), dir.File("loadgen.err"));
  ASSERT_TRUE(loadgen.valid());
  // Kill the reader mid-run, once it has exported something.
  ASSERT_TRUE(WaitForLines(a.traces_path, 5));
  a.child.Signal(SIGKILL);
  ASSERT_TRUE(a.child.Wait());
  ASSERT_TRUE(WIFSIGNALED(a.child.status()));
  // No reader for a while: writers go on (records wait in their lanes).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  const std::string a_whole = WholeLines(a.traces_path, dir.File("a.whole.jsonl"));
  ReaderProcess b = StartReader(seg.name(), dir, same_out ? "a" : "b",
                                {"--state-dir", state, "--exit-when-idle-ms", "1000"});
  ASSERT_TRUE(loadgen.Wait());
  ASSERT_TRUE(ExitedWith(loadgen.status(), 0)) << ReadFileOrEmpty(dir.File("loadgen.err"));
  ASSERT_TRUE(WaitForReaderExit(b)) << ReadFileOrEmpty(b.stderr_path);

  boost::json::object summary;
  ASSERT_TRUE(ParseJsonObject(ReadFileOrEmpty(dir.File("loadgen.json")), &summary));
  const uint64_t committed = U64(summary, "spans_committed");
  EXPECT_EQ(committed, 8000u);
  EXPECT_EQ(U64(summary, "records_dropped"), 0u);

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(b.stats_path, &stats));
  const uint64_t unknown = U64(stats, "spans_unknown_after_reader_crash");
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_incomplete"), 0u);  // the writers finished normally
  EXPECT_EQ(U64(stats, "duplicate_span_ids"), 0u);

  TraceFile fa, fb;
  if (same_out) {
    // One file: the first reader's whole lines, then the second one's.
    ASSERT_TRUE(ReadTraceFile(b.traces_path, &fb));
    const std::string before = ReadFileOrEmpty(a_whole);
    EXPECT_EQ(ReadFileOrEmpty(b.traces_path).compare(0, before.size(), before), 0)
        << "the restarted reader did not keep what the first one wrote";
    EXPECT_GT(fb.spans, 0u);
  } else {
    ASSERT_TRUE(ReadTraceFile(a_whole, &fa));
    ASSERT_TRUE(ReadTraceFile(b.traces_path, &fb));
    EXPECT_GT(fa.spans, 0u);
    EXPECT_GT(fb.spans, 0u);
  }
  // The exact account: exported by either reader, or counted as unknown.
  EXPECT_EQ(fa.spans + fb.spans + unknown, committed)
      << "a=" << fa.spans << " b=" << fb.spans << " unknown=" << unknown;

  // Nothing exported twice, and every parent is in its trace across both files (spans whose
  // parents went out before the kill still carry their trace and parent ids).
  std::set<std::string> ids;
  std::map<std::string, std::set<std::string>> trace_spans;
  for (const TraceFile* f : {&fa, &fb})
    for (const auto& [trace, spans] : f->traces)
      for (const ExportedSpan& s : spans) {
        EXPECT_TRUE(ids.insert(s.span_id).second) << "span " << s.span_id << " exported twice";
        trace_spans[trace].insert(s.span_id);
      }
  size_t missing_parents = 0;
  for (const TraceFile* f : {&fa, &fb})
    for (const auto& [trace, spans] : f->traces)
      for (const ExportedSpan& s : spans)
        if (!s.parent_span_id.empty() && trace_spans[trace].count(s.parent_span_id) == 0)
          ++missing_parents;
  if (unknown == 0) EXPECT_EQ(missing_parents, 0u);
  else EXPECT_LE(missing_parents, unknown);  // a parent in an unknown batch may be missing here
}

TEST(ReaderRestart, KilledReaderResumesWithoutLossOrDuplicates) { KillAndRestartUnderLoad(false); }

TEST(ReaderRestart, RestartedWithTheSameOutputContinuesIt) { KillAndRestartUnderLoad(true); }

TEST(ReaderRestart, CorruptStateIsRefusedWithAMessage) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  const std::string state = dir.File("state");
  ASSERT_EQ(mkdir(state.c_str(), 0700), 0);
  std::ofstream(state + "/state") << "not a state file";
  CommandResult r = RunCommand({ReaderPath(), "--segment", seg.name(), "--create", "--state-dir",
                                state, "--exit-when-idle-ms", "0"});
  EXPECT_TRUE(ExitedWith(r.status, 1)) << DescribeStatus(r.status);
  EXPECT_NE(r.err.find("remove it to start over"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(ReaderRestart, CleanShutdownLeavesAStateTheNextReaderContinuesFrom) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  const std::string state = dir.File("state");
  ReaderProcess a = StartReader(seg.name(), dir, "a",
                                {"--create", "--state-dir", state, "--exit-when-idle-ms", "1000"});
  ASSERT_TRUE(WaitForReader(seg.name(), a));
  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "1", "--threads", "2", "--traces", "10",
                          "--spans-per-trace", "5"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(a));
  ReaderProcess b = StartReader(seg.name(), dir, "b",
                                {"--state-dir", state, "--exit-when-idle-ms", "300"});
  ASSERT_TRUE(WaitForReaderExit(b));
  boost::json::object sa, sb;
  ASSERT_TRUE(ReadJsonObjectFile(a.stats_path, &sa));
  ASSERT_TRUE(ReadJsonObjectFile(b.stats_path, &sb));
  EXPECT_EQ(U64(sa, "spans_exported"), 100u);
  // The first reader really ran on its state: it checkpointed, and its last checkpoint (after
  // every exporter was done) left nothing in the ledger for the second one to count.
  EXPECT_GE(U64(sa, "checkpoints"), 2u);
  EXPECT_EQ(U64(sa, "checkpoint_failures"), 0u);
  EXPECT_FALSE(ReadFileOrEmpty(state + "/state").empty());
  EXPECT_GE(U64(sb, "checkpoints"), 1u);  // the restore's own checkpoint at least
  EXPECT_EQ(U64(sb, "spans_exported"), 0u);  // nothing again
  EXPECT_EQ(U64(sb, "spans_unknown_after_reader_crash"), 0u);
  EXPECT_EQ(U64(sb, "spans_unknown_after_reader_crash_total"), 0u);
  EXPECT_EQ(U64(sb, "records_read"), 0u);
}

}  // namespace
}  // namespace agentring::it
