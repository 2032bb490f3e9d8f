// Hostile shared memory (issue 3, item 6; Done-when line 4): while paced writers run through a
// reader, this test maps the live segment and writes garbage into it: records in the live
// window of lanes, lane-table entries (state, process slot, generation), lane heads (past the
// tail, backwards), the reader's own read position, process slots and their string tables, the
// segment header. The reader must not crash or loop, must count what it rejects by reason,
// must keep exporting, and writers started after the scribbling must arrive whole (an exact
// count) while its memory stays bounded.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agentring/abi/records.h"
#include "agentring/abi/segment.h"
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

// kB of a /proc/<pid>/status field ("VmHWM"), or 0.
uint64_t StatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return strtoull(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return 0;
}

// Waits until the reader has begun `n` more passes (so it has looked at what was just written).
::testing::AssertionResult WaitPasses(internal::SegmentMap& seg, ReaderProcess& reader, uint64_t n) {
  // (The counter lives in the header this test scribbles on: a value that goes down was
  // garbage the reader has since overwritten, so count from there.)
  uint64_t start = seg.header()->reader_passes.load();
  auto deadline = Clock::now() + kProcessTimeout;
  for (;;) {
    uint64_t now = seg.header()->reader_passes.load();
    if (now < start) start = now;
    if (now >= start + n) break;
    if (reader.child.Exited())
      return ::testing::AssertionFailure() << "the reader " << DescribeStatus(reader.child.status())
                                           << ": " << ReadFileOrEmpty(reader.stderr_path);
    if (Clock::now() > deadline) return ::testing::AssertionFailure() << "the reader stopped passing";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ::testing::AssertionSuccess();
}

// Writes a record head (type, group_remaining) plus fields at byte offsets into a lane record.
void PutRecord(abi::RawRecord* r, uint8_t type, uint16_t group_remaining,
               std::initializer_list<std::pair<uint32_t, uint64_t>> u64s = {},
               std::initializer_list<std::pair<uint32_t, uint32_t>> u32s = {},
               std::initializer_list<std::pair<uint32_t, uint8_t>> u8s = {}) {
  uint8_t b[abi::kRecordBytes] = {};
  abi::RecordHead h{type, 0, group_remaining, 0};
  memcpy(b, &h, sizeof(h));
  for (auto [off, v] : u64s) memcpy(b + off, &v, 8);
  for (auto [off, v] : u32s) memcpy(b + off, &v, 4);
  for (auto [off, v] : u8s) b[off] = v;
  memcpy(r->bytes, b, sizeof(b));
}

uint64_t SpansOfPids(const std::string& path, const std::set<int64_t>& pids, bool in) {
  TraceFile f;
  if (!ReadTraceFile(path, &f)) return 0;
  uint64_t n = 0;
  for (const auto& [id, spans] : f.traces)
    for (const ExportedSpan& s : spans) n += (pids.count(s.pid) != 0) == in ? 1 : 0;
  return n;
}

TEST(Scribble, HostileBytesInALiveSegment) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader",
                                     {"--create", "--lanes", "16", "--lane-kib", "64",
                                      "--process-slots", "16"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  internal::OpenStatus st;
  std::string err;
  std::unique_ptr<internal::SegmentMap> map = internal::SegmentMap::Open(seg.name(), &st, &err);
  ASSERT_NE(map, nullptr) << err;
  internal::SegmentMap& m = *map;
  const uint64_t capacity = m.lane_capacity_records();
  std::mt19937_64 rng(::testing::UnitTest::GetInstance()->random_seed() * 131 + getpid());

  // ---- Phase 1: paced writers (2 processes x 2 threads), scribbled on --------------------
  Child loadgen = Spawn({CliPath(), "loadgen", "--segment", seg.name(), "--processes", "2",
                         "--threads", "2", "--traces", "100000", "--spans-per-trace", "10",
                         "--attrs", "3", "--rate", "3000", "--span-us", "100"});
  ASSERT_TRUE(loadgen.valid());
  std::vector<uint32_t> owned;  // lanes of the phase-1 writers
  auto deadline = Clock::now() + kProcessTimeout;
  while (owned.size() < 4) {
    ASSERT_LT(Clock::now(), deadline) << "loadgen did not claim its lanes";
    ASSERT_FALSE(loadgen.Exited()) << DescribeStatus(loadgen.status());
    owned.clear();
    for (uint32_t i = 0; i < m.lane_count(); ++i)
      if (m.lane_slot(i)->entry.state.load() == abi::kLaneOwned &&
          m.lane_slot(i)->writer.head.load() >= 200)
        owned.push_back(i);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::vector<pid_t> writers = ChildrenOf(loadgen.pid());
  ASSERT_EQ(writers.size(), 2u);
  const std::set<int64_t> phase1(writers.begin(), writers.end());

  // 1. Records in the live window: with the reader stopped the window fills; then every kind
  //    of malformed record is written at its start, where the reader will read next.
  reader.child.Signal(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  for (uint32_t i : owned) {
    abi::LaneSlot* ls = m.lane_slot(i);
    uint64_t tail = ls->reader.tail.load();
    ASSERT_GE(ls->writer.head.load(), tail + 8) << "lane " << i << " did not fill while stopped";
    auto* ring = reinterpret_cast<abi::RawRecord*>(m.lane_records(i));
    auto at = [&](uint64_t k) { return &ring[(tail + k) & (capacity - 1)]; };
    PutRecord(at(0), 0xee, 0);                                  // bad_type
    PutRecord(at(1), static_cast<uint8_t>(abi::RecordType::Cont), 0);  // bad_type
    PutRecord(at(2), static_cast<uint8_t>(abi::RecordType::SpanStart), 0x3ff,
              {{8, 1}, {24, 1}, {32, 2}});                      // bad_group: 1024 records
    PutRecord(at(3), static_cast<uint8_t>(abi::RecordType::Attr), 0, {{8, 5}}, {}, {{24, 77}});  // bad_value
    PutRecord(at(4), static_cast<uint8_t>(abi::RecordType::Status), 0, {{8, 5}}, {{28, 5000}},
              {{24, 2}});                                        // bad_string
    PutRecord(at(5), static_cast<uint8_t>(abi::RecordType::SpanEnd), 0);  // bad_ids
    for (int k = 0; k < 8; ++k) at(6)->bytes[rng() % abi::kRecordBytes] = static_cast<uint8_t>(rng());
  }
  reader.child.Signal(SIGCONT);
  ASSERT_TRUE(WaitPasses(m, reader, 3));

  // 2. State words, with the writers stopped so that the reader sees each before a writer's
  //    next commit repairs it.
  for (pid_t w : writers) kill(w, SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(WaitPasses(m, reader, 2));  // drained up to the stopped heads
  abi::LaneSlot* l0 = m.lane_slot(owned[0]);
  abi::LaneSlot* l1 = m.lane_slot(owned[1]);
  abi::LaneSlot* l2 = m.lane_slot(owned[2]);
  abi::LaneSlot* l3 = m.lane_slot(owned[3]);
  const uint64_t head0 = l0->writer.head.load(), head1 = l1->writer.head.load();
  l0->writer.head.store(l0->reader.tail.load() + 3 * capacity);   // past the tail
  l1->writer.head.store(l1->reader.tail.load() - 100);            // backwards
  l2->reader.tail.store(l2->reader.tail.load() + 7);              // someone moved our tail
  l3->entry.process_slot = 9999;                                  // an owner that cannot be
  std::vector<uint32_t> free_lanes;
  for (uint32_t i = 0; i < m.lane_count(); ++i)
    if (m.lane_slot(i)->entry.state.load() == abi::kLaneFree) free_lanes.push_back(i);
  ASSERT_GE(free_lanes.size(), 3u);
  m.lane_slot(free_lanes[0])->entry.state.store(0x77);              // no writer's state
  m.lane_slot(free_lanes[1])->entry.state.store(abi::LaneClaimingBy(15));  // a free slot claims
  m.lane_slot(free_lanes[2])->entry.state.store(abi::kLaneOwned);   // owned by nobody
  m.lane_slot(free_lanes[2])->entry.process_generation = 12345;
  m.lane_slot(free_lanes[2])->writer.head.store(m.lane_slot(free_lanes[2])->reader.tail.load() + 50);
  uint32_t free_slot = 0;
  for (uint32_t p = 0; p < m.process_slot_count(); ++p)
    if (m.process_slot(p)->state.load() == abi::kProcessFree) free_slot = p;
  m.process_slot(free_slot)->state.store(0x55);                    // no writer's state
  // A live writer's string table: a length no entry can have, published (the reader looks
  // again only for an id it cannot resolve; it must not trust the length when it does).
  const uint32_t wslot = m.lane_slot(owned[0])->entry.process_slot;
  abi::ProcessSlot* wps = m.process_slot(wslot);
  uint64_t used = wps->strings_used_bytes.load();
  uint32_t bad_len = 0xfffffff0u;
  memcpy(m.string_block(wslot) + used, &bad_len, 4);
  wps->strings_used_bytes.store(used + 64);
  // The header, after the reader opened it: it must never read these again.
  uint8_t saved_header[2 * abi::kCacheLine];
  memcpy(saved_header, m.header(), sizeof(saved_header));
  abi::SegmentHeader* h = m.header();
  h->lane_count = 0xffffffffu;
  h->lane_capacity_records = 3;
  h->lanes_offset = 1;
  h->lane_table_offset = ~0ull;
  h->ticks_per_second = 0;
  ASSERT_TRUE(WaitPasses(m, reader, 3));
  l0->writer.head.store(head0);  // the writers commit from their own heads anyway
  l1->writer.head.store(head1);
  for (pid_t w : writers) kill(w, SIGCONT);

  // The reader keeps exporting the lanes it was not told lies about.
  const uint64_t before = SpansOfPids(reader.traces_path, phase1, true);
  deadline = Clock::now() + kProcessTimeout;
  while (SpansOfPids(reader.traces_path, phase1, true) < before + 200) {
    ASSERT_LT(Clock::now(), deadline) << "the reader stopped exporting the valid lanes";
    ASSERT_FALSE(reader.child.Exited()) << ReadFileOrEmpty(reader.stderr_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // 3. Random bytes anywhere but the header's identity lines, everything running.
  const uint64_t lanes_bytes = uint64_t{m.lane_count()} * capacity * abi::kRecordBytes;
  for (int round = 0; round < 400; ++round) {
    uint8_t* base;
    uint64_t len;
    switch (rng() % 6) {
      case 0: base = m.lane_records(0); len = lanes_bytes; break;
      case 1: base = reinterpret_cast<uint8_t*>(m.lane_slot(0)); len = m.lane_count() * abi::kLaneSlotBytes; break;
      case 2: base = reinterpret_cast<uint8_t*>(m.process_slot(0)); len = m.process_slot_count() * abi::kProcessSlotBytes; break;
      case 3: base = m.string_block(0); len = uint64_t{m.process_slot_count()} * m.string_block_bytes(); break;
      case 4: base = reinterpret_cast<uint8_t*>(h) + 2 * abi::kCacheLine; len = 2 * abi::kCacheLine; break;
      default: {  // a whole record of garbage in some lane's live window
        abi::LaneSlot* ls = m.lane_slot(owned[rng() % owned.size()]);
        auto* ring = reinterpret_cast<abi::RawRecord*>(m.lane_records(static_cast<uint32_t>(ls - m.lane_slot(0))));
        base = ring[(ls->reader.tail.load() + rng() % 4) & (capacity - 1)].bytes;
        len = abi::kRecordBytes;
        break;
      }
    }
    uint64_t off = rng() % len;
    uint64_t n = 1 + rng() % 16;
    for (uint64_t k = 0; k < n && off + k < len; ++k) base[off + k] = static_cast<uint8_t>(rng());
    if (round % 8 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(WaitPasses(m, reader, 3));
  ASSERT_FALSE(reader.child.Exited()) << ReadFileOrEmpty(reader.stderr_path);

  // ---- Phase 2: the scribbling stops; new writers must arrive whole ----------------------
  memcpy(static_cast<void*>(h), saved_header, sizeof(saved_header));  // so that new writers attach
  for (pid_t w : writers) kill(w, SIGKILL);
  loadgen.Signal(SIGKILL);
  ASSERT_TRUE(loadgen.Wait());
  // Every lane and process slot comes back free (the reader frees what it cannot trust).
  deadline = Clock::now() + kProcessTimeout;
  for (;;) {
    uint32_t busy = 0;
    for (uint32_t i = 0; i < m.lane_count(); ++i) busy += m.lane_slot(i)->entry.state.load() != abi::kLaneFree;
    for (uint32_t p = 0; p < m.process_slot_count(); ++p) busy += m.process_slot(p)->state.load() != abi::kProcessFree;
    if (busy == 0) break;
    ASSERT_LT(Clock::now(), deadline) << busy << " lanes or process slots never came back";
    ASSERT_FALSE(reader.child.Exited()) << ReadFileOrEmpty(reader.stderr_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  boost::json::object second;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "2", "--threads", "2", "--traces", "5",
                          "--spans-per-trace", "20", "--attrs", "2"},
                         &second));
  EXPECT_EQ(U64(second, "spans_committed"), 400u);
  EXPECT_EQ(U64(second, "records_dropped"), 0u);
  deadline = Clock::now() + kProcessTimeout;
  while (SpansOfPids(reader.traces_path, phase1, false) < 400) {
    ASSERT_LT(Clock::now(), deadline) << "the new writers' spans did not arrive";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const uint64_t hwm_kb = StatusKb(reader.child.pid(), "VmHWM");
  ASSERT_TRUE(StopReader(reader));

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  const boost::json::object& by = stats.at("records_rejected_by_reason").as_object();
  uint64_t sum = 0;
  for (const auto& kv : by) sum += kv.value().to_number<uint64_t>();
  EXPECT_EQ(sum, U64(stats, "records_rejected"));
  for (const char* reason : {"bad_type", "bad_group", "bad_value", "bad_string", "bad_ids",
                             "head_out_of_range", "lane_header", "lane_entry", "process_slot"})
    EXPECT_GE(U64(by, reason), 1u) << reason << ": " << boost::json::serialize(by);

  TraceFile file;
  ASSERT_TRUE(ReadTraceFile(reader.traces_path, &file));
  uint64_t newer = 0;
  for (const auto& [id, spans] : file.traces) {
    if (phase1.count(spans[0].pid) != 0) continue;
    ASSERT_EQ(spans.size(), 20u) << "trace " << id;
    EXPECT_TRUE(ParentsResolveWithinTrace(id, spans));
    EXPECT_TRUE(HasExactlyOneRoot(id, spans));
    for (const ExportedSpan& s : spans) {
      ++newer;
      EXPECT_EQ(phase1.count(s.pid), 0u) << "trace " << id << " mixes old and new writers";
      EXPECT_FALSE(s.HasAttribute("agentring.incomplete")) << s.span_id;
      EXPECT_EQ(s.attributes.size(), 3u) << s.span_id;  // agent.kind + 2
      EXPECT_EQ(s.StringAttribute("loadgen.attr0").rfind("value-0-of-thread-", 0), 0u) << s.span_id;
      EXPECT_EQ(s.name.rfind("loadgen.", 0), 0u) << s.name;
    }
  }
  EXPECT_EQ(newer, 400u);
  // Memory stays bounded whatever it was fed (the segment here is ~2 MiB).
  EXPECT_GT(hwm_kb, 0u);
  EXPECT_LT(hwm_kb, 256u * 1024u) << "reader VmHWM " << hwm_kb << " kB";
  printf("scribble: %llu records rejected %s, reader VmHWM %llu kB\n",
         static_cast<unsigned long long>(U64(stats, "records_rejected")),
         boost::json::serialize(by).c_str(), static_cast<unsigned long long>(hwm_kb));
}

}  // namespace
}  // namespace agentring::it
