// Integration tests of the full-lane policies with real processes and real shared memory:
//   - overwrite (flight recorder) with no reader running: a reader that attaches afterwards
//     exports only the newest spans, whole, and the accounting is exact;
//   - overwrite while a reader drains: a writer that laps a slow reader never yields a torn or
//     partial span in the exported file, and the accounting is exact; writers killed mid-write
//     leave nothing torn;
//   - drop: every drop reason (full, too big, no lane, no segment) counted exactly, by the writer,
//     by `agentring stats` before and after a reader ran, and in the reader's stats.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agentring/abi/records.h"
#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "integration/harness.h"

namespace agentring::it {
namespace {

// Spans of the drop test: a start group of 6 records (SpanStart, Attr "ow.i", Attr "ow.payload"
// of 150 bytes with three Cont records) and an end record: 7 records.
constexpr uint64_t kRecordsPerSpan = 7;
constexpr uint64_t kStartGroupRecords = 6;

// The overwrite tests vary the payload from 33 to 312 bytes (1 to 6 Cont records), so that
// group boundaries, and the positions where overwriting cuts into a group, fall everywhere.
uint32_t PayloadBytes(uint64_t i, bool vary) {
  return vary ? 33 + static_cast<uint32_t>((i * 53) % 280) : 150;
}
uint64_t RecordsOfSpan(uint64_t i, bool vary) {
  return 4 + abi::ContRecordsFor(PayloadBytes(i, vary));
}

// Bytes determined by i: a torn copy (parts of two spans) cannot match.
std::string Payload(uint64_t i, uint32_t bytes) {
  std::string s = "payload-" + std::to_string(i) + ":";
  while (s.size() < bytes) s += static_cast<char>('a' + (i * 7 + s.size()) % 26);
  s.resize(bytes);
  return s;
}

void WriteSpan(uint64_t i, bool vary) {
  const std::string index = std::to_string(i);
  const std::string payload = Payload(i, PayloadBytes(i, vary));
  Span s("ow.span", Kind::kTool, Suffix(i), {{"ow.i", index}, {"ow.payload", payload}});
}

uint64_t RecordsOfSpans(uint64_t spans, bool vary) {
  uint64_t n = 0;
  for (uint64_t i = 0; i < spans; ++i) n += RecordsOfSpan(i, vary);
  return n;
}

// A span of the exported file is whole: its name, index and payload agree, and it ended.
::testing::AssertionResult WholeSpan(const ExportedSpan& s, bool vary, uint64_t* index) {
  const std::string i = s.StringAttribute("ow.i");
  if (i.empty() || i.find_first_not_of("0123456789") != std::string::npos)
    return ::testing::AssertionFailure() << "span " << s.span_id << " has no ow.i: " << s.name;
  *index = std::stoull(i);
  if (s.name != "ow.span " + i)
    return ::testing::AssertionFailure() << "span " << i << " is named '" << s.name << "'";
  if (s.StringAttribute("ow.payload") != Payload(*index, PayloadBytes(*index, vary)))
    return ::testing::AssertionFailure()
           << "span " << i << " carries a torn payload: " << s.StringAttribute("ow.payload");
  if (s.end_unix_ns < s.start_unix_ns)
    return ::testing::AssertionFailure() << "span " << i << " ends before it starts";
  return ::testing::AssertionSuccess();
}

// Runs a writer child to completion and parses its report.
::testing::AssertionResult FinishWriter(Child& writer, std::map<std::string, std::string>* report) {
  if (!writer.valid()) return ::testing::AssertionFailure() << "the writer child was not forked";
  std::string text = writer.ReadReportToEof();
  *report = ParseReport(text);
  if (!writer.Wait()) return ::testing::AssertionFailure() << "the writer did not exit; " << text;
  if (!ExitedWith(writer.status(), 0))
    return ::testing::AssertionFailure() << "the writer " << DescribeStatus(writer.status());
  return ::testing::AssertionSuccess();
}

void ReportStats(int fd) {
  WriterStats s = GetWriterStats();
  Report(fd, "spans_started", std::to_string(s.spans_started));
  Report(fd, "committed", std::to_string(s.span_starts_committed));
  Report(fd, "records_committed", std::to_string(s.records_committed));
  Report(fd, "records_dropped", std::to_string(s.records_dropped));
  Report(fd, "dropped_full", std::to_string(s.span_starts_dropped_full));
  Report(fd, "dropped_too_big", std::to_string(s.span_starts_dropped_too_big));
  Report(fd, "dropped_no_lane", std::to_string(s.span_starts_dropped_no_lane));
  Report(fd, "dropped_no_segment", std::to_string(s.span_starts_dropped_no_segment));
}

// Creates the segment with a reader that exits at once (no reader runs afterwards).
::testing::AssertionResult CreateSegmentWithoutReader(const std::string& segment,
                                                      const TempDir& dir,
                                                      const std::vector<std::string>& flags) {
  std::vector<std::string> extra = {"--create", "--exit-when-idle-ms", "0"};
  extra.insert(extra.end(), flags.begin(), flags.end());
  ReaderProcess creator = StartReader(segment, dir, "creator", extra);
  return WaitForReaderExit(creator);
}

::testing::AssertionResult StatsJson(const std::string& segment, boost::json::object* out) {
  CommandResult r = RunCommand({CliPath(), "stats", "--segment", segment, "--json"});
  if (r.exit_code() != 0) return ::testing::AssertionFailure() << r.Describe();
  return ParseJsonObject(r.out, out);
}

uint64_t Field(const boost::json::object& o, const char* obj, const char* key) {
  const boost::json::value* v = o.if_contains(obj);
  if (v == nullptr || !v->is_object()) {
    ADD_FAILURE() << "no object '" << obj << "'";
    return UINT64_MAX;
  }
  return U64(v->get_object(), key);
}

// A writer fills a 64-record overwrite lane 110 times over with no reader running; a reader
// attached afterwards exports only the newest spans, every one whole, and
// committed = read + overwritten (records) and committed = exported + overwritten (span starts).
TEST(FullPolicy, OverwriteKeepsTheNewestForALateReader) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ASSERT_TRUE(CreateSegmentWithoutReader(
      seg.name(), dir, {"--full-policy", "overwrite", "--lanes", "2", "--lane-kib", "4"}));
  constexpr uint64_t kSpans = 1000;
  Child writer = ForkWriter(seg.name(), [](int report) {
    for (uint64_t i = 0; i < kSpans; ++i) WriteSpan(i, true);
    ReportStats(report);
    ReleaseThreadLane();
    return 0;
  });
  std::map<std::string, std::string> w;
  ASSERT_TRUE(FinishWriter(writer, &w));
  ASSERT_EQ(w["committed"], std::to_string(kSpans)) << "overwrite mode dropped spans";
  ASSERT_EQ(w["records_committed"], std::to_string(RecordsOfSpans(kSpans, true)));
  ASSERT_EQ(w["records_dropped"], "0");

  boost::json::object before;
  ASSERT_TRUE(StatsJson(seg.name(), &before));
  EXPECT_EQ(before["full_policy"].as_string(), "overwrite");

  ReaderProcess reader = StartReader(seg.name(), dir, "late", {"--exit-when-idle-ms", "300"});
  ASSERT_TRUE(WaitForReaderExit(reader));
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));

  std::set<uint64_t> indices;
  for (const auto& [trace, spans] : file.traces) {
    for (const ExportedSpan& s : spans) {
      uint64_t i = 0;
      ASSERT_TRUE(WholeSpan(s, true, &i));
      EXPECT_FALSE(s.HasAttribute("agentring.incomplete")) << "span " << i << " lost its end";
      EXPECT_TRUE(indices.insert(i).second) << "span " << i << " exported twice";
    }
  }
  // Only the newest survive: a contiguous run ending with the last span. The lane holds 64
  // records (of which the writer's reserve may keep 4 from the reader); a span takes 5 or more.
  ASSERT_FALSE(indices.empty()) << "nothing survived";
  EXPECT_EQ(*indices.rbegin(), kSpans - 1);
  EXPECT_EQ(*indices.rbegin() - *indices.begin() + 1, indices.size()) << "a gap among the newest";
  EXPECT_LE(indices.size(), 64 / 5);

  EXPECT_EQ(stats["full_policy"].as_string(), "overwrite");
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_exported"), indices.size());
  EXPECT_EQ(U64(stats, "span_starts_committed"), kSpans);
  EXPECT_TRUE(stats.at("accounting").as_object().at("balanced").as_bool())
      << boost::json::serialize(stats.at("accounting"));
  EXPECT_EQ(U64(stats, "records_read") + U64(stats, "records_overwritten"),
            RecordsOfSpans(kSpans, true));
  EXPECT_EQ(U64(stats, "spans_exported") + U64(stats, "span_starts_overwritten"), kSpans);
  EXPECT_EQ(U64(stats, "span_starts_dropped_full"), 0u);
  EXPECT_EQ(U64(stats, "records_dropped_full"), 0u);

  // `agentring stats` keeps the totals after the reader freed the lane.
  boost::json::object after;
  ASSERT_TRUE(StatsJson(seg.name(), &after));
  EXPECT_EQ(after["full_policy"].as_string(), "overwrite");
  EXPECT_EQ(Field(after, "records_dropped", "overwritten"), U64(stats, "records_overwritten"));
  EXPECT_EQ(Field(after, "dropped", "overwritten"), U64(stats, "span_starts_overwritten"));
  EXPECT_EQ(Field(after, "dropped", "full"), 0u);
  CommandResult text = RunCommand({CliPath(), "stats", "--segment", seg.name()});
  ASSERT_EQ(text.exit_code(), 0) << text.Describe();
  EXPECT_NE(text.out.find("full lanes: overwrite"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("overwritten " + std::to_string(U64(stats, "records_overwritten"))),
            std::string::npos)
      << text.out;
}

// A writer process laps a small overwrite lane thousands of times while a reader drains it:
// every exported span is whole (no record the writer was overwriting was accepted), nothing is
// rejected, and the accounting is exact.
TEST(FullPolicy, OverwriteUnderAConcurrentReaderNeverTears) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(
      seg.name(), dir, "reader",
      {"--create", "--full-policy", "overwrite", "--lanes", "2", "--lane-kib", "4"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  constexpr uint64_t kSpans = 200000;
  Child writer = ForkWriter(seg.name(), [](int report) {
    for (uint64_t i = 0; i < kSpans; ++i) WriteSpan(i, true);
    ReportStats(report);
    ReleaseThreadLane();
    return 0;
  });
  std::map<std::string, std::string> w;
  ASSERT_TRUE(FinishWriter(writer, &w));
  ASSERT_EQ(w["committed"], std::to_string(kSpans));
  ASSERT_TRUE(StopReader(reader));

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  uint64_t exported = 0;
  uint64_t incomplete = 0;
  std::set<uint64_t> indices;
  for (const auto& [trace, spans] : file.traces) {
    for (const ExportedSpan& s : spans) {
      uint64_t i = 0;
      ASSERT_TRUE(WholeSpan(s, true, &i));
      EXPECT_TRUE(indices.insert(i).second) << "span " << i << " exported twice";
      // A start read before its end was overwritten is closed by the reader, never torn.
      if (s.HasAttribute("agentring.incomplete")) ++incomplete;
      ++exported;
    }
  }
  EXPECT_GT(U64(stats, "records_overwritten"), 0u) << "the writer never lapped the reader";
  EXPECT_GT(exported, 0u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_exported"), exported);
  EXPECT_EQ(U64(stats, "spans_incomplete"), incomplete);
  EXPECT_EQ(U64(stats, "span_starts_committed"), kSpans);
  EXPECT_TRUE(stats.at("accounting").as_object().at("balanced").as_bool())
      << boost::json::serialize(stats.at("accounting"));
  EXPECT_EQ(U64(stats, "records_read") + U64(stats, "records_overwritten"),
            RecordsOfSpans(kSpans, true));
  EXPECT_EQ(U64(stats, "spans_exported") + U64(stats, "span_starts_overwritten"), kSpans);
  EXPECT_EQ(U64(stats, "spans_started_read"), exported);
}

// Writers killed (SIGKILL) at arbitrary points while they lap an overwrite lane under a draining
// reader: the reserved bound is published before any record is touched, so a writer that dies
// mid-group leaves nothing torn behind. Every exported span is whole and nothing is rejected.
// (Exact counts are not asserted here: a kill between a commit and its counter update is
// allowed to leave the writer's own counter one short.)
TEST(FullPolicy, OverwriteWritersKilledMidWriteLeaveNothingTorn) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(
      seg.name(), dir, "reader",
      {"--create", "--full-policy", "overwrite", "--lanes", "2", "--lane-kib", "4"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  for (int round = 0; round < 12; ++round) {
    Child writer = ForkWriter(seg.name(), [round](int report) {
      for (uint64_t i = 0;; ++i) {
        WriteSpan(i, true);
        if (i == 1000) Report(report, "lapping", std::to_string(round));
      }
      return 0;
    });
    ASSERT_TRUE(writer.valid());
    ASSERT_EQ(writer.ReadReportLine().value_or(""), "lapping=" + std::to_string(round));
    std::this_thread::sleep_for(std::chrono::microseconds(500 + 1700 * round));
    writer.Signal(SIGKILL);
    ASSERT_TRUE(writer.Wait());
  }
  ASSERT_TRUE(StopReader(reader));
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  uint64_t exported = 0;
  for (const auto& [trace, spans] : file.traces) {
    for (const ExportedSpan& s : spans) {
      uint64_t i = 0;
      ASSERT_TRUE(WholeSpan(s, true, &i));
      ++exported;
    }
  }
  EXPECT_GT(exported, 0u);
  EXPECT_GT(U64(stats, "records_overwritten"), 0u);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_exported"), exported);
  EXPECT_EQ(U64(stats, "processes_reclaimed"), 12u);
}

// Drop mode: a 64-record lane and no reader. The writer commits what fits, then every reason
// is counted exactly: 3 spans before the segment exists (no_segment), one span too big for a
// lane (too_big), 91 that find the lane full (full), 4 on a second thread with no lane left
// (no_lane). `agentring stats` shows them before and after a reader ran; the reader's stats
// agree, and every committed span is exported.
TEST(FullPolicy, DropCountsEveryReasonExactly) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  Gate segment_ready;
  const std::string name = seg.name();
  Child writer = ForkWriter(name, [&segment_ready](int report) {
    for (int i = 0; i < 3; ++i) Span s("ow.before_segment", Kind::kRun);  // no segment yet
    Report(report, "waiting", "1");
    if (!segment_ready.WaitInChild()) return 3;
    // Attach retries are rate-limited to one per 100 ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    {
      // 1 + 1 + 89 records: more than the lane holds.
      Span big("ow.too_big", Kind::kTool, {{"ow.big", std::string(5000, 'x')}});
    }
    for (uint64_t i = 0; i < 100; ++i) WriteSpan(i, false);  // 9 fit (63 records), 91 do not
    std::thread other([] {
      for (int i = 0; i < 4; ++i) Span s("ow.no_lane", Kind::kRun);  // the only lane is taken
    });
    other.join();
    ReportStats(report);
    return 0;  // exits owning its lane: the reader drains and frees it as a dead writer's
  });
  ASSERT_TRUE(writer.valid());
  ASSERT_EQ(writer.ReadReportLine().value_or(""), "waiting=1");
  ASSERT_TRUE(CreateSegmentWithoutReader(name, dir, {"--lanes", "1", "--lane-kib", "4"}));
  segment_ready.Open();
  std::map<std::string, std::string> w;
  ASSERT_TRUE(FinishWriter(writer, &w));
  EXPECT_EQ(w["spans_started"], "108");
  EXPECT_EQ(w["committed"], "9");
  EXPECT_EQ(w["dropped_no_segment"], "3");
  EXPECT_EQ(w["dropped_too_big"], "1");
  EXPECT_EQ(w["dropped_full"], "91");
  EXPECT_EQ(w["dropped_no_lane"], "4");
  EXPECT_EQ(w["records_committed"], std::to_string(9 * kRecordsPerSpan));
  EXPECT_EQ(w["records_dropped"], std::to_string(91 + 91 * kStartGroupRecords));

  auto check_stats = [](const boost::json::object& o) {
    EXPECT_EQ(o.at("full_policy").as_string(), "drop");
    EXPECT_EQ(Field(o, "dropped", "full"), 91u);
    EXPECT_EQ(Field(o, "dropped", "too_big"), 1u);
    EXPECT_EQ(Field(o, "dropped", "no_lane"), 4u);
    EXPECT_EQ(Field(o, "dropped", "no_segment"), 3u);
    EXPECT_EQ(Field(o, "dropped", "overwritten"), 0u);
    EXPECT_EQ(Field(o, "records_dropped", "full"), 91 * kStartGroupRecords);
    EXPECT_EQ(Field(o, "records_dropped", "too_big"), 91u);
    EXPECT_EQ(Field(o, "records_dropped", "overwritten"), 0u);
  };
  boost::json::object before;
  ASSERT_TRUE(StatsJson(name, &before));
  {
    SCOPED_TRACE("agentring stats before a reader ran");
    check_stats(before);
  }

  ReaderProcess reader = StartReader(name, dir, "reader", {"--exit-when-idle-ms", "300"});
  ASSERT_TRUE(WaitForReaderExit(reader));
  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  EXPECT_EQ(stats["full_policy"].as_string(), "drop");
  EXPECT_EQ(U64(stats, "span_starts_committed"), 9u);
  EXPECT_EQ(U64(stats, "spans_exported"), 9u);
  EXPECT_EQ(U64(stats, "span_starts_dropped_full"), 91u);
  EXPECT_EQ(U64(stats, "span_starts_dropped_too_big"), 1u);
  EXPECT_EQ(U64(stats, "span_starts_dropped_no_lane"), 4u);
  EXPECT_EQ(U64(stats, "span_starts_dropped_no_segment"), 3u);
  EXPECT_EQ(U64(stats, "records_dropped_full"), 91 * kStartGroupRecords);
  EXPECT_EQ(U64(stats, "records_dropped_too_big"), 91u);
  EXPECT_EQ(U64(stats, "groups_dropped"), 92u);
  EXPECT_EQ(U64(stats, "records_overwritten"), 0u);
  EXPECT_EQ(U64(stats, "span_starts_overwritten"), 0u);
  EXPECT_EQ(U64(stats, "records_read"), 9 * kRecordsPerSpan);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  std::set<uint64_t> indices;
  for (const auto& [trace, spans] : file.traces) {
    for (const ExportedSpan& s : spans) {
      uint64_t i = 0;
      ASSERT_TRUE(WholeSpan(s, false, &i));
      indices.insert(i);
    }
  }
  EXPECT_EQ(indices, (std::set<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8})) << "drop keeps the oldest";

  boost::json::object after;
  ASSERT_TRUE(StatsJson(name, &after));
  {
    SCOPED_TRACE("agentring stats after the reader freed the lane and the process");
    check_stats(after);
    EXPECT_TRUE(after["lane_table"].as_array().empty());
  }
}

}  // namespace
}  // namespace agentring::it
