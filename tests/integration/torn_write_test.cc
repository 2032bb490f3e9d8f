// Torn writes are impossible (issue 3, item 2) and a writer killed at any point loses nothing it
// committed (item 1): 500 writer processes of two threads, four at a time, each SIGKILLed at a
// random point (stopped 0-20 ms after it starts and killed where it stands; or stopped until a
// thread is caught inside a group write; or killed by its own CPU-time timer), while one
// reader drains the whole time. Every span a writer records carries
// content the test can check from the exported file alone (values derived from a per-thread
// sequence number and from the span id), in groups of every shape: several attributes, long
// strings in continuation records, events, links, status messages. A span's groups are written
// in a fixed order, so what arrives of a span must be a prefix of that order; anything else
// (a group half there, a later group without an earlier one) is a torn or lost write.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
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
const std::string& Pattern() {  // 1824 bytes: a substring of it is cheap to make (a memcpy)
  static const std::string p = [] {
    std::string s(1824, ' ');
    for (size_t i = 0; i < s.size(); ++i) s[i] = kChars[Mix(i, 77) % (sizeof(kChars) - 1)];
    return s;
  }();
  return p;
}
std::string Blob(uint64_t x, uint64_t salt, uint32_t min_len = 0) {
  const uint64_t m = Mix(x, salt);
  uint32_t len = static_cast<uint32_t>(m % 800);
  if (len < min_len) len = min_len;
  return Pattern().substr((m >> 16) % 1024, len);
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
  const std::string fresh_key = "t.u" + std::to_string(span_id);
  {
    InWrite w;
    // A key no span used before: interning it (the process mutex, an append to the string
    // table in shared memory) happens between the group's first record and its commit.
    s->Set({{"t.late", static_cast<int64_t>(Mix(span_id, 5) >> 1)}, {Name(fresh_key), seq_attr},
            {"t.late_s", late}});
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
// test dies, 10 s). With `cpu_kill_ns` != 0 the process arms a timer that sends it SIGKILL once
// it has used that much CPU time: CPU time accrues where the threads run, so these deaths land
// inside group writes far more often than deaths at a random wall-clock time do.
int TornWriterBody(std::atomic<uint32_t>* in_write, long cpu_kill_ns) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  g_in_write = in_write;
  if (cpu_kill_ns != 0) {
    sigevent ev{};
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGKILL;
    timer_t timer;
    itimerspec when{};
    when.it_value.tv_sec = cpu_kill_ns / 1000000000;
    when.it_value.tv_nsec = cpu_kill_ns % 1000000000;
    if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &timer) != 0 ||
        timer_settime(timer, 0, &when, nullptr) != 0)
      return 5;
  }
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
  int64_t fresh;
  const bool fresh_present = IVal(a, ("t.u" + std::to_string(span_id)).c_str(), &fresh);
  if (late_num != present || late_num != fresh_present) return "part of the Set group arrived";
  if (late_num && (late_i != static_cast<int64_t>(Mix(span_id, 5) >> 1) ||
                   late_s != Blob(span_id, 4) || fresh != seq_attr))
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
    std::chrono::steady_clock::time_point kill_at;
    bool self_kill = false;
    bool seek = false;
    int tries = 0;
  };
  std::vector<Running> running(kConcurrent);
  for (int i = 0; i < kConcurrent; ++i) running[i].in_write = words + 2 * i;
  int started = 0, killed = 0, self_killed = 0, killed_in_write = 0;
  while (killed + self_killed < kKills) {
    auto now = std::chrono::steady_clock::now();
    for (Running& r : running) {
      if (r.child.valid() && r.self_kill && r.child.Exited()) {
        // Its CPU-time timer went off.
        ASSERT_TRUE(WIFSIGNALED(r.child.status()) && WTERMSIG(r.child.status()) == SIGKILL)
            << "writer " << r.child.pid() << " " << DescribeStatus(r.child.status());
        ++self_killed;
        killed_in_write += r.in_write[0].load() != 0 || r.in_write[1].load() != 0;
        r.child = Child();
      } else if (r.child.valid() && now >= r.kill_at) {
        // Stop the whole process where it is, then kill it there: the words then tell
        // whether a thread was inside a group write.
        if (r.child.Exited()) {  // only a self-killer whose timer just went off, counted next
          ASSERT_TRUE(r.self_kill) << "writer " << DescribeStatus(r.child.status());
          continue;
        }
        r.child.Signal(SIGSTOP);
        siginfo_t si{};
        int w;
        do {
          w = waitid(P_PID, static_cast<id_t>(r.child.pid()), &si, WSTOPPED | WEXITED | WNOWAIT);
        } while (w != 0 && errno == EINTR);
        ASSERT_EQ(w, 0) << strerror(errno);
        if (si.si_code != CLD_STOPPED) {  // a self-killer's timer went off first: counted next
          ASSERT_TRUE(r.self_kill) << "writer " << r.child.pid() << " died by itself";
          continue;
        }
        const bool inside = r.in_write[0].load() != 0 || r.in_write[1].load() != 0;
        if (r.seek && !inside && ++r.tries < 50) {
          // A seeker: not inside a group write this time; let it run a little and look again.
          siginfo_t consume{};
          waitid(P_PID, static_cast<id_t>(r.child.pid()), &consume, WSTOPPED);
          r.child.Signal(SIGCONT);
          r.kill_at = now + std::chrono::microseconds(rng() % 200);
          continue;
        }
        r.child.Signal(SIGKILL);
        r.child.Signal(SIGCONT);
        ASSERT_TRUE(r.child.Wait());
        ASSERT_TRUE(WIFSIGNALED(r.child.status()) && WTERMSIG(r.child.status()) == SIGKILL)
            << DescribeStatus(r.child.status());
        ++killed;
        killed_in_write += r.in_write[0].load() != 0 || r.in_write[1].load() != 0;
        r.child = Child();
      }
      if (!r.child.valid() && started < kKills) {
        r.in_write[0].store(0);
        r.in_write[1].store(0);
        // Writers 4k+1 kill themselves after 0.02-0.8 ms of CPU time (or, if they idle first,
        // the test kills them after 100 ms); the others are stopped 0-20 ms after they start
        // and killed there, except that writers 4k+3 (first stopped 0-5 ms after they start,
        // while they still write) seek a stop inside a group write (up to 50 stops, 0-200 us
        // apart) before they are killed.
        r.self_kill = started % 4 == 1;
        r.seek = started % 4 == 3;
        r.tries = 0;
        const long cpu_ns = r.self_kill ? static_cast<long>(20000 + rng() % 780000) : 0;
        std::atomic<uint32_t>* in_write = r.in_write;
        r.child = ForkWriter(seg.name(), [in_write, cpu_ns](int) { return TornWriterBody(in_write, cpu_ns); });
        ASSERT_TRUE(r.child.valid());
        r.kill_at = std::chrono::steady_clock::now() +
                    (r.self_kill ? std::chrono::microseconds(100000)
                     : r.seek    ? std::chrono::microseconds(rng() % 5001)
                                 : std::chrono::microseconds(rng() % 20001));
        ++started;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  munmap(shared, 4096);
  EXPECT_EQ(killed + self_killed, kKills);
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
  EXPECT_TRUE(stats.at("accounting").as_object().at("balanced").as_bool())
      << boost::json::serialize(stats.at("accounting"));
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
  printf("torn writes: %d writers killed (%d by the test, %d by their own CPU-time timer; %d "
         "inside a group write), %zu spans exported (%llu closed as incomplete), "
         "%llu processes reclaimed\n",
         killed + self_killed, killed, self_killed, killed_in_write, spans.size(), static_cast<unsigned long long>(incomplete),
         static_cast<unsigned long long>(U64(stats, "processes_reclaimed")));
}

}  // namespace
}  // namespace agentring::it
