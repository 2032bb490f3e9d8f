// Torn writes are impossible (issue 3, item 2) and a writer killed at any point loses nothing it
// committed (item 1): hundreds of writer processes, several at a time, each SIGKILLed 0-20 ms
// after it starts, while one reader drains the whole time. Every span a writer records carries
// content the test can check from the exported file alone (values derived from a per-thread
// sequence number and from the span id), in groups of every shape: several attributes, long
// strings in continuation records, events, links, status messages. A span's groups are written
// in a fixed order, so what arrives of a span must be a prefix of that order; anything else
// (a group half there, a later group without an earlier one) is a torn or lost write.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
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

// ---- Content every span carries, derived from numbers the export shows ----------------------

uint64_t Mix(uint64_t x, uint64_t salt) {  // splitmix64 of (x, salt)
  uint64_t z = x * 0x9e3779b97f4a7c15ull + salt * 0xbf58476d1ce4e5b9ull + 0x94d049bb133111ebull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A string of 0..799 printable bytes (most need continuation records, up to 14) that only
// (x, salt) make. Lowercase, digits and a little punctuation: nothing the reader's redaction
// rules (keys, tokens, e-mail addresses) could match.
constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789 .,:;";
std::string Blob(uint64_t x, uint64_t salt, uint32_t min_len = 0) {
  const uint64_t m = Mix(x, salt);
  uint32_t len = static_cast<uint32_t>(m % 800);
  if (len < min_len) len = min_len;
  std::string s(len, ' ');
  const uint32_t step = 1 + static_cast<uint32_t>((m >> 32) % 39);
  for (uint32_t i = 0; i < len; ++i) s[i] = kChars[((m >> 16 & 0xff) + i * step) % (sizeof(kChars) - 1)];
  return s;
}

// What the writer does for the span with sequence number `seq` (the "shape"), in this order:
// start group (attributes by variant), a Set group keyed by the span id, `events` events, a
// link, a status message, `children` child spans, the end.
struct Shape {
  uint32_t variant;   // 0..2: which start attributes
  uint32_t events;    // 0..3
  bool link;
  bool status;
  uint32_t children;  // 0..2 (depth < 2 only)
};
Shape ShapeOf(uint64_t seq, uint32_t depth) {
  uint64_t m = Mix(seq, 100);
  return Shape{static_cast<uint32_t>(m % 3), static_cast<uint32_t>((m >> 8) % 4),
               ((m >> 16) & 1) != 0, ((m >> 17) & 1) != 0,
               depth < 2 ? static_cast<uint32_t>((m >> 20) % 3) : 0};
}
SpanContext LinkTarget(uint64_t seq) {
  SpanContext c;
  c.trace_id_hi = Mix(seq, 6) | 1;
  c.trace_id_lo = Mix(seq, 7) | 1;
  c.span_id = Mix(seq, 8) | 1;
  c.trace_flags = 1;
  return c;
}

// Per writer thread, a word in memory the test shares with the writer (MAP_SHARED, mapped
// before the fork): 1 while the thread is inside a writer call that writes a group. The test
// stops the process (SIGSTOP) at a random point and kills it there; the word then tells
// whether that kill landed inside a group write.
std::atomic<uint32_t>* g_in_write = nullptr;  // [2] for this process; set in the child
thread_local std::atomic<uint32_t>* t_in_write = nullptr;
struct InWrite {
  InWrite() { t_in_write->store(1, std::memory_order_seq_cst); }
  ~InWrite() { t_in_write->store(0, std::memory_order_seq_cst); }
};

// Writes one span and its subtree. `seq` counts spans of this thread; thread t's sequence
// numbers are t << 40 | n, so (pid, seq) names a span uniquely.
void WriteSpan(uint64_t* seq, uint32_t depth) {
  const uint64_t my = (*seq)++;
  const Shape sh = ShapeOf(my, depth);
  const std::string blob = Blob(my, 1);
  const std::string blob2 = Blob(my, 3);
  const int64_t seq_attr = static_cast<int64_t>(my);
  const int64_t x = static_cast<int64_t>(Mix(my, 2) >> 1);
  const Suffix suffix(depth);
  constexpr Name kName("torn.span");
  std::optional<Span> s;
  {
    InWrite w;
    switch (sh.variant) {
      case 0:
        s.emplace(kName, Kind::kCustom, suffix, Attrs{{"t.seq", seq_attr}, {"t.blob", blob}});
        break;
      case 1:
        s.emplace(kName, Kind::kTool, suffix,
                  Attrs{{"t.seq", seq_attr}, {"t.blob", blob}, {"t.x", x},
                        {"t.d", static_cast<double>(my % 1000) * 0.5}, {"t.b", (my & 1) != 0}});
        break;
      default:
        s.emplace(kName, Kind::kLlm, suffix,
                  Attrs{{"t.seq", seq_attr}, {"t.blob", blob}, {"t.blob2", blob2}});
        break;
    }
  }
  const uint64_t span_id = s->context().span_id;
  const std::string late = Blob(span_id, 4);
  {
    InWrite w;
    s->Set({{"t.late", static_cast<int64_t>(Mix(span_id, 5) >> 1)}, {"t.late_s", late}});
  }
  for (uint32_t k = 0; k < sh.events; ++k) {
    const std::string ev = Blob(my * 16 + k, 5);
    InWrite w;
    s->AddEvent("torn.event", {{"e.k", static_cast<int64_t>(k)}, {"e.s", ev}});
  }
  if (sh.link) {
    InWrite w;
    s->AddLink(LinkTarget(my));
  }
  if (sh.status) {
    const std::string message = Blob(my, 9, 1);
    InWrite w;
    s->SetStatus(StatusCode::kError, message);
  }
  // A pause with the span open (so that many kills find spans open) that also keeps the lanes
  // from filling while the reader shares two cores with everything else: drops would make the
  // order check meaningless, and the test asserts there were none.
  if (depth == 0) std::this_thread::sleep_for(std::chrono::microseconds(100 + Mix(my, 11) % 200));
  for (uint32_t c = 0; c < sh.children; ++c) WriteSpan(seq, depth + 1);
  InWrite w;
  s->End();
}

// The body of a writer process: two threads writing trees until SIGKILL (or, as a bound if the
// test dies, 10 s).
int TornWriterBody(std::atomic<uint32_t>* in_write) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  g_in_write = in_write;
  auto run = [](uint64_t thread) {
    t_in_write = &g_in_write[thread];
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    uint64_t seq = thread << 40;
    while (std::chrono::steady_clock::now() < until) {
      // Below 7000 records in both lanes together, each lane (8192 records) holds everything
      // its thread wrote even if the reader drained nothing: no drops, however loaded the
      // machine. Past that the thread idles until it is killed.
      if (GetWriterStats().records_committed < 7000) {
        WriteSpan(&seq, 0);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  };
  std::thread second(run, 1);
  run(0);
  second.join();
  return 0;
}

// ---- Reading back everything a span carries -------------------------------------------------

struct FullEvent {
  std::string name;
  boost::json::object attributes;
};
struct FullSpan {
  ExportedSpan base;
  std::string status_message;
  std::vector<FullEvent> events;
  std::vector<std::pair<std::string, std::string>> links;  // traceId, spanId
};

boost::json::object Attrs(const boost::json::value* list) {
  boost::json::object out;
  if (list == nullptr || !list->is_array()) return out;
  for (const boost::json::value& kv : list->get_array()) {
    const boost::json::object& o = kv.as_object();
    out[o.at("key").as_string()] = o.at("value");
  }
  return out;
}

std::string Str(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
}

uint64_t Num(const boost::json::value* v) {
  if (v == nullptr) return 0;
  if (v->is_string()) return strtoull(v->as_string().c_str(), nullptr, 10);
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return static_cast<uint64_t>(v->as_int64());
  return 0;
}

::testing::AssertionResult ReadFullSpans(const std::string& path, std::vector<FullSpan>* out) {
  std::ifstream in(path);
  if (!in) return ::testing::AssertionFailure() << "cannot read " << path;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    boost::json::value doc = boost::json::parse(line, ec);
    if (ec || !doc.is_object()) return ::testing::AssertionFailure() << "bad line: " << line;
    for (const boost::json::value& rs : doc.as_object().at("resourceSpans").as_array()) {
      boost::json::object res = Attrs(rs.as_object().at("resource").as_object().if_contains("attributes"));
      int64_t pid = -1;
      if (const boost::json::value* p = res.if_contains("process.pid"))
        pid = static_cast<int64_t>(Num(p->as_object().if_contains("intValue")));
      for (const boost::json::value& ss : rs.as_object().at("scopeSpans").as_array()) {
        for (const boost::json::value& sv : ss.as_object().at("spans").as_array()) {
          const boost::json::object& so = sv.as_object();
          FullSpan f;
          f.base.trace_id = Str(so, "traceId");
          f.base.span_id = Str(so, "spanId");
          f.base.parent_span_id = Str(so, "parentSpanId");
          f.base.name = Str(so, "name");
          f.base.pid = pid;
          f.base.start_unix_ns = Num(so.if_contains("startTimeUnixNano"));
          f.base.end_unix_ns = Num(so.if_contains("endTimeUnixNano"));
          f.base.attributes = Attrs(so.if_contains("attributes"));
          const boost::json::object& st = so.at("status").as_object();
          f.base.status_code = static_cast<int>(Num(st.if_contains("code")));
          f.status_message = Str(st, "message");
          for (const boost::json::value& e : so.at("events").as_array())
            f.events.push_back({Str(e.as_object(), "name"), Attrs(e.as_object().if_contains("attributes"))});
          for (const boost::json::value& l : so.at("links").as_array())
            f.links.emplace_back(Str(l.as_object(), "traceId"), Str(l.as_object(), "spanId"));
          out->push_back(std::move(f));
        }
      }
    }
  }
  return ::testing::AssertionSuccess();
}

std::string SVal(const boost::json::object& attrs, const char* key, bool* present) {
  const boost::json::value* v = attrs.if_contains(key);
  *present = v != nullptr;
  if (v == nullptr) return "";
  const boost::json::value* s = v->as_object().if_contains("stringValue");
  return s != nullptr && s->is_string() ? std::string(s->as_string()) : "<not a string>";
}
bool IVal(const boost::json::object& attrs, const char* key, int64_t* out) {
  const boost::json::value* v = attrs.if_contains(key);
  if (v == nullptr || !v->as_object().contains("intValue")) return false;
  *out = static_cast<int64_t>(Num(v->as_object().if_contains("intValue")));
  return true;
}

std::string Hex16(uint64_t v) {
  char b[17];
  snprintf(b, sizeof(b), "%016llx", static_cast<unsigned long long>(v));
  return b;
}
std::string Hex32(uint64_t hi, uint64_t lo) { return Hex16(hi) + Hex16(lo); }

// How far the writer got with a span, checked group by group against what it must contain.
// Returns "" when the span is well formed, else what is wrong. `*all_before_children` says
// whether every group written before the span's children arrived; `*ended` whether its own
// end record did.
std::string CheckSpan(const FullSpan& f, bool* all_before_children, bool* ended) {
  const ExportedSpan& s = f.base;
  const boost::json::object& a = s.attributes;
  int64_t seq_attr;
  if (!IVal(a, "t.seq", &seq_attr)) return "no t.seq: the start group is torn";
  const uint64_t seq = static_cast<uint64_t>(seq_attr);
  size_t space = s.name.rfind(' ');
  if (space == std::string::npos || s.name.substr(0, space) != "torn.span") return "bad name " + s.name;
  const uint32_t depth = static_cast<uint32_t>(std::stoul(s.name.substr(space + 1)));
  const Shape sh = ShapeOf(seq, depth);
  bool present;
  // 1. The start group: every attribute of the variant, exactly.
  if (std::string got = SVal(a, "t.blob", &present); got != Blob(seq, 1) || !present) {
    std::string want = Blob(seq, 1);
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    return "t.blob differs: got " + std::to_string(got.size()) + " bytes, want " +
           std::to_string(want.size()) + ", first difference at " + std::to_string(i) + ": '" +
           got.substr(i, 16) + "' vs '" + want.substr(i, 16) + "'";
  }
  if (sh.variant == 1) {
    int64_t x;
    if (!IVal(a, "t.x", &x) || x != static_cast<int64_t>(Mix(seq, 2) >> 1)) return "t.x differs";
    const boost::json::value* d = a.if_contains("t.d");
    if (d == nullptr || std::fabs(d->as_object().at("doubleValue").to_number<double>() -
                                  static_cast<double>(seq % 1000) * 0.5) > 1e-9)
      return "t.d differs";
    const boost::json::value* b = a.if_contains("t.b");
    if (b == nullptr || b->as_object().at("boolValue").as_bool() != ((seq & 1) != 0))
      return "t.b differs";
  }
  if (sh.variant == 2 && (SVal(a, "t.blob2", &present) != Blob(seq, 3) || !present))
    return "t.blob2 differs";
  // 2. The Set group, derived from the span id: both attributes or neither.
  const uint64_t span_id = strtoull(s.span_id.c_str(), nullptr, 16);
  int64_t late_i;
  bool late_num = IVal(a, "t.late", &late_i);
  std::string late_s = SVal(a, "t.late_s", &present);
  if (late_num != present) return "half of the Set group arrived";
  if (late_num && (late_i != static_cast<int64_t>(Mix(span_id, 5) >> 1) || late_s != Blob(span_id, 4)))
    return "the Set group differs";
  uint32_t stage = late_num ? 1 : 0;  // groups of the fixed order that arrived
  uint32_t expect = 1;
  // 3. Events 0..m-1, each whole.
  if (f.events.size() > sh.events) return "more events than written";
  for (size_t k = 0; k < f.events.size(); ++k) {
    int64_t ek;
    if (f.events[k].name != "torn.event" || !IVal(f.events[k].attributes, "e.k", &ek) ||
        ek != static_cast<int64_t>(k) ||
        SVal(f.events[k].attributes, "e.s", &present) != Blob(seq * 16 + k, 5))
      return "event " + std::to_string(k) + " differs";
  }
  if (!f.events.empty() && stage != expect) return "an event without the Set group before it";
  stage += static_cast<uint32_t>(f.events.size());
  expect += sh.events;
  // 4. The link.
  if (f.links.size() > (sh.link ? 1u : 0u)) return "unexpected link";
  if (!f.links.empty()) {
    SpanContext t = LinkTarget(seq);
    if (f.links[0].first != Hex32(t.trace_id_hi, t.trace_id_lo) || f.links[0].second != Hex16(t.span_id))
      return "link differs";
    if (stage != expect) return "a link without the groups before it";
    ++stage;
  }
  if (sh.link) ++expect;
  // 5. The status message (or the reader's, on a span it closed).
  const bool incomplete = a.contains("agentring.incomplete");
  bool status_arrived = !f.status_message.empty() && f.status_message.rfind("incomplete:", 0) != 0;
  if (status_arrived) {
    if (!sh.status || f.status_message != Blob(seq, 9, 1)) return "status message differs";
    if (stage != expect) return "a status without the groups before it";
    ++stage;
  }
  if (sh.status) ++expect;
  *all_before_children = stage == expect;
  // 6. The end, or the reader's close.
  if (s.end_unix_ns < s.start_unix_ns) return "ends before it starts";
  if (incomplete) {
    if (s.StringAttribute("agentring.incomplete_reason") != "writer_exited")
      return "closed for '" + s.StringAttribute("agentring.incomplete_reason") + "'";
    if (s.status_code != 2) return "incomplete without status error";
    const boost::json::value* v = a.if_contains("agentring.incomplete");
    if (!v->as_object().contains("boolValue") || !v->as_object().at("boolValue").as_bool())
      return "agentring.incomplete is not true";
    *ended = false;
  } else {
    if (stage != expect) return "ended without all its groups";
    if (s.status_code != (sh.status ? 2 : 0)) return "status code " + std::to_string(s.status_code);
    *ended = true;
  }
  return "";
}

// Polls the segment until no process slot is taken and every lane is free: every killed writer
// was detected, drained, closed and reclaimed by the reader.
::testing::AssertionResult WaitAllReclaimed(const std::string& segment) {
  internal::OpenStatus st;
  std::string err;
  auto seg = internal::SegmentMap::Open(segment, &st, &err);
  if (!seg) return ::testing::AssertionFailure() << err;
  auto deadline = std::chrono::steady_clock::now() + kProcessTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    uint32_t busy = 0;
    for (uint32_t i = 0; i < seg->lane_count(); ++i)
      busy += seg->lane_slot(i)->entry.state.load(std::memory_order_acquire) != abi::kLaneFree;
    for (uint32_t p = 0; p < seg->process_slot_count(); ++p)
      busy += seg->process_slot(p)->state.load(std::memory_order_acquire) != abi::kProcessFree;
    if (busy == 0) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ::testing::AssertionFailure() << "lanes or process slots of dead writers were not reclaimed";
}

TEST(TornWrites, HundredsOfKilledWritersLeaveOnlyWholeGroups) {
  constexpr int kKills = 500;
  constexpr int kConcurrent = 4;
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  // Lanes and slots enough for the dead writers a liveness probe (every 200 ms) has not yet
  // found: a span that finds no lane is dropped, and the order check needs none dropped.
  ReaderProcess reader = StartReader(seg.name(), dir, "reader",
                                     {"--create", "--lanes", "256", "--lane-kib", "512",
                                      "--process-slots", "256"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));

  std::mt19937_64 rng(::testing::UnitTest::GetInstance()->random_seed() * 7919 + getpid());
  // Two "inside a group write" words per concurrent writer, shared with the children.
  void* shared = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  auto* words = static_cast<std::atomic<uint32_t>*>(shared);
  struct Running {
    Child child;
    std::atomic<uint32_t>* in_write = nullptr;
    std::chrono::steady_clock::time_point next_try;
    int tries = 0;
    bool anywhere = false;
  };
  std::vector<Running> running(kConcurrent);
  for (int i = 0; i < kConcurrent; ++i) running[i].in_write = words + 2 * i;
  int started = 0, killed = 0, killed_in_write = 0, exited_early = 0;
  while (killed + exited_early < kKills) {
    auto now = std::chrono::steady_clock::now();
    for (Running& r : running) {
      if (r.child.valid() && now >= r.next_try) {
        // Stop the whole process where it is. Three writers in four are killed there only if
        // a thread is inside a group write, else (up to 50 times) let run a little longer; the
        // fourth is killed wherever the first stop finds it (attaching, claiming a lane,
        // between groups). Either way it dies at the exact point it was stopped.
        r.child.Signal(SIGSTOP);
        siginfo_t si{};
        int w;
        do {
          w = waitid(P_PID, static_cast<id_t>(r.child.pid()), &si, WSTOPPED | WEXITED | WNOWAIT);
        } while (w != 0 && errno == EINTR);
        ASSERT_EQ(w, 0) << strerror(errno);
        if (si.si_code != CLD_STOPPED) {
          ++exited_early;  // a writer never exits by itself within the 10 s bound
          r.child.Wait();
          ADD_FAILURE() << "writer " << r.child.pid() << " " << DescribeStatus(r.child.status());
          r.child = Child();
        } else {
          siginfo_t consume{};
          waitid(P_PID, static_cast<id_t>(r.child.pid()), &consume, WSTOPPED);
          bool inside = r.in_write[0].load() != 0 || r.in_write[1].load() != 0;
          if (inside || r.anywhere || ++r.tries >= 50) {
            r.child.Signal(SIGKILL);
            r.child.Signal(SIGCONT);
            ASSERT_TRUE(r.child.Wait());
            ++killed;
            killed_in_write += inside ? 1 : 0;
            r.child = Child();
          } else {
            r.child.Signal(SIGCONT);
            r.next_try = now + std::chrono::microseconds(rng() % 200);
          }
        }
      }
      if (!r.child.valid() && started < kKills) {
        r.in_write[0].store(0);
        r.in_write[1].store(0);
        std::atomic<uint32_t>* in_write = r.in_write;
        r.child = ForkWriter(seg.name(), [in_write](int) { return TornWriterBody(in_write); });
        ASSERT_TRUE(r.child.valid());
        r.next_try = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 20001);
        r.tries = 0;
        r.anywhere = started % 4 == 3;
        ++started;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  munmap(shared, 4096);
  EXPECT_EQ(killed, kKills);
  EXPECT_EQ(exited_early, 0);
  ASSERT_TRUE(WaitAllReclaimed(seg.name()));
  ASSERT_FALSE(reader.child.Exited()) << "the reader died: " << ReadFileOrEmpty(reader.stderr_path);
  ASSERT_TRUE(StopReader(reader));

  boost::json::object stats;
  ASSERT_TRUE(ReadJsonObjectFile(reader.stats_path, &stats));
  std::vector<FullSpan> spans;
  ASSERT_TRUE(ReadFullSpans(reader.traces_path, &spans));
  // Every committed span arrived, exactly: the writers' own counters survive their death in
  // shared memory, and the reader sums them as it reclaims the lanes.
  EXPECT_EQ(U64(stats, "records_dropped_by_writers"), 0u)
      << "lanes filled: the order check is void; " << boost::json::serialize(stats);
  EXPECT_EQ(U64(stats, "records_rejected"), 0u);
  EXPECT_EQ(U64(stats, "spans_exported"), spans.size());
  EXPECT_EQ(U64(stats, "spans_exported"), U64(stats, "span_starts_committed"));
  EXPECT_EQ(U64(stats, "duplicate_span_ids"), 0u);
  EXPECT_EQ(U64(stats, "records_orphaned"), 0u);
  EXPECT_EQ(U64(stats, "groups_with_unresolved_strings"), 0u);
  EXPECT_GE(U64(stats, "processes_reclaimed"), static_cast<uint64_t>(kKills) / 2);

  TraceFile file;
  std::map<std::string, const FullSpan*> by_id;
  std::map<std::string, bool> before_children, ended;
  uint64_t incomplete = 0;
  int bad = 0;
  for (const FullSpan& f : spans) {
    EXPECT_TRUE(by_id.emplace(f.base.span_id, &f).second) << "span " << f.base.span_id << " exported twice";
    bool all = false, end = false;
    std::string why = CheckSpan(f, &all, &end);
    if (!why.empty() && ++bad <= 10)
      ADD_FAILURE() << "span " << f.base.span_id << " (pid " << f.base.pid << "): " << why;
    before_children[f.base.span_id] = all;
    ended[f.base.span_id] = end;
    incomplete += end ? 0 : 1;
    file.traces[f.base.trace_id].push_back(f.base);
    ++file.spans;
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(U64(stats, "spans_incomplete"), incomplete);
  EXPECT_TRUE(EveryTraceIsOneTree(file));
  // A child exists only if its parent's groups before it all arrived; a parent ended by its
  // writer ended every child first.
  for (const FullSpan& f : spans) {
    if (f.base.parent_span_id.empty()) continue;
    auto parent = by_id.find(f.base.parent_span_id);
    if (parent == by_id.end()) continue;  // reported by EveryTraceIsOneTree
    EXPECT_TRUE(before_children[f.base.parent_span_id])
        << "child " << f.base.span_id << " arrived but not all of its parent's earlier groups";
    if (ended[f.base.parent_span_id]) {
      EXPECT_TRUE(ended[f.base.span_id]) << "parent ended, child " << f.base.span_id << " did not";
    }
  }
  printf("torn writes: %d writers killed (%d inside a group write), %zu spans exported (%llu closed as incomplete), "
         "%llu processes reclaimed\n",
         killed, killed_in_write, spans.size(), static_cast<unsigned long long>(incomplete),
         static_cast<unsigned long long>(U64(stats, "processes_reclaimed")));
}

}  // namespace
}  // namespace agentring::it
