// `agentring stats`: a snapshot of a live segment read straight from shared memory — geometry,
// owner and mode, full-lane policy, reader liveness and heartbeat, the lanes in use with their
// fill, drop and overwrite counters, the attached writer processes, totals by reason since the
// segment was created (live lanes and processes plus what the reader folded into the header
// when it freed them) and the reader's lag. Text or one JSON object.
//
// Everything here is read from memory other processes write: counters are relaxed loads of
// values that may change while we read, and every index, offset and length taken from the
// segment is range-checked before use (a hostile or torn value prints as "?", never crashes).
#include <grp.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agentring/abi/segment.h"
#include "agentring/internal/segment_map.h"
#include "reader/tools/cli.h"

namespace agentring::cli {
namespace {

constexpr const char* kStatsUsage =
    "usage: agentring stats [--segment NAME] [--json] [--allow-foreign-owner]";

const char* LaneStateName(uint32_t state) {
  if (abi::IsLaneClaiming(state)) return "claiming";
  switch (state) {
    case abi::kLaneFree: return "free";
    case abi::kLaneOwned: return "owned";
    case abi::kLaneReleased: return "released";
    default: return "invalid";
  }
}

const char* ProcessStateName(uint32_t state) {
  switch (state) {
    case abi::kProcessFree: return "free";
    case abi::kProcessClaiming: return "claiming";
    case abi::kProcessOwned: return "owned";
    default: return "invalid";
  }
}

// Printable ASCII only (for the terminal and for JSON): anything else becomes '?'.
std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return out;
}

// The value of `key` in the "key=value\n…" resource string of process slot `slot`, or "" when the
// slot has none or its entry is out of bounds. The entry (u32 length, bytes) must lie inside the
// published part of the block, [0, strings_used_bytes).
std::string ResourceValue(internal::SegmentMap& seg, uint32_t slot, std::string_view key) {
  abi::ProcessSlot* ps = seg.process_slot(slot);
  const uint32_t id_untrusted = ps->resource_string_id;
  // acquire: pairs with the writer's release in AppendStringLocked (the entry bytes below
  // `used` are published).
  const uint64_t used_untrusted = ps->strings_used_bytes.load(std::memory_order_acquire);
  const uint64_t used = used_untrusted < seg.string_block_bytes() ? used_untrusted : seg.string_block_bytes();
  if (id_untrusted < abi::kFirstStringOffset || uint64_t{id_untrusted} + 4 > used) return "";
  const uint8_t* block = seg.string_block(slot);
  uint32_t len_untrusted = 0;
  memcpy(&len_untrusted, block + id_untrusted, 4);
  if (len_untrusted > abi::kMaxStringEntryBytes ||
      uint64_t{id_untrusted} + 4 + len_untrusted > used)
    return "";
  std::string text(reinterpret_cast<const char*>(block + id_untrusted + 4), len_untrusted);
  std::string_view rest(text);
  std::string value;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    size_t eq = line.find('=');
    if (eq != std::string_view::npos && line.substr(0, eq) == key)
      value = line.substr(eq + 1);  // the last one wins, as in the reader
  }
  return Printable(value);
}

struct LaneRow {
  uint32_t lane = 0;
  const char* state = "";
  int64_t pid = -1;  // -1: unknown (bad slot index, or the slot changed owner)
  int32_t tid = 0;
  uint64_t head = 0;
  uint64_t tail = 0;
  uint64_t fill_records = 0;
  double fill_percent = 0;
  uint64_t span_starts_committed = 0;
  uint64_t span_starts_dropped_full = 0;
  uint64_t span_starts_dropped_too_big = 0;
  uint64_t spans_head_sampled_out = 0;
  uint64_t groups_dropped = 0;
  uint64_t records_overwritten = 0;
};

struct ProcessRow {
  uint32_t slot = 0;
  const char* state = "";
  int32_t pid = 0;
  bool alive = false;
  std::string service_name;
  uint64_t strings_used_bytes = 0;
};

// Span starts that never reached a lane (or were overwritten there), by reason, and the
// records behind them. Totals since the segment was created.
struct Dropped {
  uint64_t full = 0;
  uint64_t too_big = 0;
  uint64_t no_lane = 0;
  uint64_t no_segment = 0;
  uint64_t sampled_out = 0;
  uint64_t overwritten = 0;          // span starts, lanes the reader has freed only
  uint64_t records_full = 0;
  uint64_t records_too_big = 0;
  uint64_t records_overwritten = 0;
};

std::string GroupName(uint32_t gid) {
  std::string out = "gid " + std::to_string(gid);
  group g{};
  group* found = nullptr;
  char buf[4096];
  if (getgrgid_r(gid, &g, buf, sizeof(buf), &found) == 0 && found != nullptr)
    out += std::string(" (") + found->gr_name + ")";
  return out;
}

struct Snapshot {
  std::string segment;
  uint32_t lanes = 0;
  uint32_t lane_kib = 0;
  uint32_t lane_capacity_records = 0;
  uint32_t process_slots = 0;
  uint64_t total_bytes = 0;
  const char* full_policy = "";
  uint32_t owner_uid = 0;
  uint32_t owner_gid = 0;
  uint32_t mode = 0;
  uint32_t reader_pid = 0;
  bool reader_alive = false;
  int64_t reader_heartbeat_age_ms = -1;  // -1: no heartbeat yet
  uint64_t reader_passes = 0;
  uint64_t processes_attached = 0;
  uint64_t processes_refused_no_slot = 0;
  std::vector<LaneRow> lane_table;  // lanes that are not free
  std::vector<ProcessRow> processes;  // slots that are not free
  Dropped dropped;
  uint64_t reader_lag_records = 0;
};

Snapshot TakeSnapshot(internal::SegmentMap& seg) {
  const abi::SegmentHeader* h = seg.header();
  Snapshot s;
  s.segment = seg.name();
  s.lanes = seg.lane_count();
  s.lane_capacity_records = seg.lane_capacity_records();
  s.lane_kib = static_cast<uint32_t>(uint64_t{seg.lane_capacity_records()} * abi::kRecordBytes / 1024);
  s.process_slots = seg.process_slot_count();
  s.total_bytes = h->total_bytes;
  s.full_policy = internal::FullPolicyName(seg.full_policy());  // validated at Open
  struct stat st {};
  if (fstat(seg.fd(), &st) == 0) {
    s.owner_uid = st.st_uid;
    s.owner_gid = st.st_gid;
    s.mode = st.st_mode & 07777;
  }
  // Totals the reader folded in from lanes and processes it freed (relaxed: informational).
  const abi::FoldedCounters& f = h->folded;
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  s.dropped.full = ld(f.span_starts_dropped_full);
  s.dropped.too_big = ld(f.span_starts_dropped_too_big);
  s.dropped.no_lane = ld(f.span_starts_dropped_no_lane);
  s.dropped.no_segment = ld(f.span_starts_dropped_no_segment);
  s.dropped.sampled_out = ld(f.spans_head_sampled_out);
  s.dropped.overwritten = ld(f.span_starts_overwritten);
  s.dropped.records_full = ld(f.records_dropped_full);
  s.dropped.records_too_big = ld(f.records_dropped_too_big);
  s.dropped.records_overwritten = ld(f.records_overwritten);
  // relaxed: informational fields of the reader line.
  s.reader_pid = h->reader_pid.load(std::memory_order_relaxed);
  s.reader_alive = seg.IsByteLocked(abi::kReaderLockByte);
  uint64_t heartbeat = h->reader_heartbeat_unix_ns.load(std::memory_order_relaxed);
  if (heartbeat != 0) {
    uint64_t now = internal::NowUnixNs();
    s.reader_heartbeat_age_ms = now > heartbeat ? static_cast<int64_t>((now - heartbeat) / 1000000) : 0;
  }
  s.reader_passes = h->reader_passes.load(std::memory_order_relaxed);
  s.processes_attached = h->processes_attached.load(std::memory_order_relaxed);
  s.processes_refused_no_slot = h->processes_refused_no_slot.load(std::memory_order_relaxed);

  for (uint32_t i = 0; i < seg.lane_count(); ++i) {
    const abi::LaneSlot* slot = seg.lane_slot(i);
    // relaxed: a snapshot for display; nothing below is dereferenced on the strength of it.
    uint32_t state = slot->entry.state.load(std::memory_order_relaxed);
    uint64_t head = slot->writer.head.load(std::memory_order_relaxed);
    uint64_t tail = slot->reader.tail.load(std::memory_order_relaxed);
    uint64_t fill = head > tail ? head - tail : 0;
    if (fill > seg.lane_capacity_records()) fill = seg.lane_capacity_records();  // torn or hostile
    s.reader_lag_records += fill;
    const abi::LaneCounters& w = slot->counters;
    s.dropped.full += w.span_starts_dropped_full.load(std::memory_order_relaxed);
    s.dropped.too_big += w.span_starts_dropped_too_big.load(std::memory_order_relaxed);
    s.dropped.sampled_out += w.spans_head_sampled_out.load(std::memory_order_relaxed);
    s.dropped.records_full += w.records_dropped_full.load(std::memory_order_relaxed);
    s.dropped.records_too_big += w.records_dropped_too_big.load(std::memory_order_relaxed);
    const uint64_t overwritten = slot->reader.records_overwritten.load(std::memory_order_relaxed);
    s.dropped.records_overwritten += overwritten;
    if (state == abi::kLaneFree && fill == 0) continue;
    LaneRow r;
    r.lane = i;
    r.state = LaneStateName(state);
    const uint32_t owner_slot_untrusted = slot->entry.process_slot;
    if (owner_slot_untrusted < seg.process_slot_count()) {
      const abi::ProcessSlot* ps = seg.process_slot(owner_slot_untrusted);
      if (ps->generation == slot->entry.process_generation) r.pid = ps->pid;
    }
    r.tid = slot->entry.owner_tid;
    r.head = head;
    r.tail = tail;
    r.fill_records = fill;
    r.fill_percent = 100.0 * static_cast<double>(fill) / seg.lane_capacity_records();
    r.span_starts_committed = w.span_starts_committed.load(std::memory_order_relaxed);
    r.span_starts_dropped_full = w.span_starts_dropped_full.load(std::memory_order_relaxed);
    r.span_starts_dropped_too_big = w.span_starts_dropped_too_big.load(std::memory_order_relaxed);
    r.spans_head_sampled_out = w.spans_head_sampled_out.load(std::memory_order_relaxed);
    r.groups_dropped = w.groups_dropped.load(std::memory_order_relaxed);
    r.records_overwritten = overwritten;
    s.lane_table.push_back(r);
  }

  for (uint32_t p = 0; p < seg.process_slot_count(); ++p) {
    abi::ProcessSlot* ps = seg.process_slot(p);
    // acquire: pairs with the writer's release of kProcessOwned (identity fields published).
    uint32_t state = ps->state.load(std::memory_order_acquire);
    s.dropped.no_lane += ps->span_starts_dropped_no_lane.load(std::memory_order_relaxed);
    s.dropped.no_segment += ps->span_starts_dropped_no_segment.load(std::memory_order_relaxed);
    s.dropped.sampled_out += ps->spans_head_sampled_out_no_lane.load(std::memory_order_relaxed);
    if (state == abi::kProcessFree) continue;
    ProcessRow r;
    r.slot = p;
    r.state = ProcessStateName(state);
    r.pid = ps->pid;
    r.alive = seg.IsByteLocked(abi::kProcessLockBase + p);
    if (state == abi::kProcessOwned) r.service_name = ResourceValue(seg, p, "service.name");
    r.strings_used_bytes = ps->strings_used_bytes.load(std::memory_order_relaxed);
    s.processes.push_back(std::move(r));
  }
  return s;
}

void PrintJson(const Snapshot& s) {
  boost::json::object o;
  o["segment"] = Printable(s.segment);
  o["lanes"] = s.lanes;
  o["lane_kib"] = s.lane_kib;
  o["lane_capacity_records"] = s.lane_capacity_records;
  o["process_slots"] = s.process_slots;
  o["total_bytes"] = s.total_bytes;
  o["full_policy"] = s.full_policy;
  o["owner_uid"] = s.owner_uid;
  o["owner_gid"] = s.owner_gid;
  char mode[8];
  snprintf(mode, sizeof(mode), "%04o", s.mode);
  o["mode"] = mode;
  o["lanes_in_use"] = s.lane_table.size();
  boost::json::array lanes;
  for (const LaneRow& r : s.lane_table) {
    boost::json::object l;
    l["lane"] = r.lane;
    l["state"] = r.state;
    if (r.pid >= 0) {
      l["pid"] = r.pid;
    } else {
      l["pid"] = nullptr;
    }
    l["tid"] = r.tid;
    l["head"] = r.head;
    l["tail"] = r.tail;
    l["fill_records"] = r.fill_records;
    l["fill_percent"] = r.fill_percent;
    l["span_starts_committed"] = r.span_starts_committed;
    l["span_starts_dropped_full"] = r.span_starts_dropped_full;
    l["span_starts_dropped_too_big"] = r.span_starts_dropped_too_big;
    l["spans_head_sampled_out"] = r.spans_head_sampled_out;
    l["groups_dropped"] = r.groups_dropped;
    l["records_overwritten"] = r.records_overwritten;
    lanes.push_back(std::move(l));
  }
  o["lane_table"] = std::move(lanes);
  boost::json::array procs;
  for (const ProcessRow& r : s.processes) {
    boost::json::object p;
    p["slot"] = r.slot;
    p["state"] = r.state;
    p["pid"] = r.pid;
    p["alive"] = r.alive;
    if (r.service_name.empty()) {
      p["service_name"] = nullptr;
    } else {
      p["service_name"] = r.service_name;
    }
    p["strings_used_bytes"] = r.strings_used_bytes;
    procs.push_back(std::move(p));
  }
  o["processes"] = std::move(procs);
  o["processes_attached"] = s.processes_attached;
  o["processes_refused_no_slot"] = s.processes_refused_no_slot;
  o["dropped"] = {{"full", s.dropped.full},
                  {"too_big", s.dropped.too_big},
                  {"no_lane", s.dropped.no_lane},
                  {"no_segment", s.dropped.no_segment},
                  {"sampled_out", s.dropped.sampled_out},
                  {"overwritten", s.dropped.overwritten}};
  o["records_dropped"] = {{"full", s.dropped.records_full},
                          {"too_big", s.dropped.records_too_big},
                          {"overwritten", s.dropped.records_overwritten}};
  o["reader_pid"] = s.reader_pid;
  o["reader_alive"] = s.reader_alive;
  if (s.reader_heartbeat_age_ms >= 0) {
    o["reader_heartbeat_age_ms"] = s.reader_heartbeat_age_ms;
  } else {
    o["reader_heartbeat_age_ms"] = nullptr;
  }
  o["reader_passes"] = s.reader_passes;
  o["reader_lag_records"] = s.reader_lag_records;
  printf("%s\n", boost::json::serialize(o).c_str());
}

void PrintText(const Snapshot& s) {
  printf("segment '%s': %u lanes x %u KiB, %u process slots, %.1f MiB, full lanes: %s\n",
         Printable(s.segment).c_str(), s.lanes, s.lane_kib, s.process_slots,
         static_cast<double>(s.total_bytes) / (1024.0 * 1024.0), s.full_policy);
  printf("owner: %s, group %s, mode %04o\n", internal::DescribeUid(s.owner_uid).c_str(),
         GroupName(s.owner_gid).c_str(), s.mode);
  std::string heartbeat = s.reader_heartbeat_age_ms < 0
                              ? "none"
                              : std::to_string(s.reader_heartbeat_age_ms) + " ms ago";
  printf("reader: pid %u, %s, heartbeat %s, %" PRIu64 " passes\n", s.reader_pid,
         s.reader_alive ? "alive (reader lock held)" : "not running (reader lock free)",
         heartbeat.c_str(), s.reader_passes);
  printf("lanes in use: %zu of %u\n", s.lane_table.size(), s.lanes);
  if (!s.lane_table.empty()) {
    printf("  %5s  %-8s  %8s  %8s  %10s  %6s  %10s  %9s  %9s  %9s  %10s\n", "lane", "state",
           "pid", "tid", "fill", "fill%", "committed", "drop_full", "drop_big", "groups_dr",
           "overwr_rec");
    for (const LaneRow& r : s.lane_table) {
      std::string pid = r.pid >= 0 ? std::to_string(r.pid) : "?";
      printf("  %5u  %-8s  %8s  %8d  %10" PRIu64 "  %5.1f%%  %10" PRIu64 "  %9" PRIu64
             "  %9" PRIu64 "  %9" PRIu64 "  %10" PRIu64 "\n",
             r.lane, r.state, pid.c_str(), r.tid, r.fill_records, r.fill_percent,
             r.span_starts_committed, r.span_starts_dropped_full, r.span_starts_dropped_too_big,
             r.groups_dropped, r.records_overwritten);
    }
  }
  printf("processes: %zu of %u slots (%" PRIu64 " attached since creation, %" PRIu64
         " refused for want of a slot)\n",
         s.processes.size(), s.process_slots, s.processes_attached, s.processes_refused_no_slot);
  if (!s.processes.empty()) {
    printf("  %5s  %-8s  %8s  %-5s  %s\n", "slot", "state", "pid", "alive", "service.name");
    for (const ProcessRow& r : s.processes) {
      printf("  %5u  %-8s  %8d  %-5s  %s\n", r.slot, r.state, r.pid, r.alive ? "yes" : "no",
             r.service_name.empty() ? "-" : r.service_name.c_str());
    }
  }
  printf("dropped span starts: full %" PRIu64 ", too_big %" PRIu64 ", no_lane %" PRIu64
         ", no_segment %" PRIu64 ", sampled_out %" PRIu64 ", overwritten %" PRIu64 "\n",
         s.dropped.full, s.dropped.too_big, s.dropped.no_lane, s.dropped.no_segment,
         s.dropped.sampled_out, s.dropped.overwritten);
  printf("dropped records: full %" PRIu64 ", too_big %" PRIu64 ", overwritten %" PRIu64 "\n",
         s.dropped.records_full, s.dropped.records_too_big, s.dropped.records_overwritten);
  printf("reader lag: %" PRIu64 " records\n", s.reader_lag_records);
}

}  // namespace

int Stats(const Args& args) {
  std::string segment = "agentring";
  if (const char* env = getenv("AGENTRING_SEGMENT"); env != nullptr && *env != '\0') segment = env;
  bool json = false;
  internal::OpenOptions open_options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--segment" && i + 1 < args.size()) {
      segment = args[++i];
    } else if (a.rfind("--segment=", 0) == 0) {
      segment = a.substr(strlen("--segment="));
    } else if (a == "--json") {
      json = true;
    } else if (a == "--allow-foreign-owner") {
      open_options.allow_foreign_owner = true;
    } else if (a == "-h" || a == "--help") {
      printf("%s\n", kStatsUsage);
      return 0;
    } else {
      fprintf(stderr, "agentring stats: unexpected argument '%s'\n%s\n", a.c_str(), kStatsUsage);
      return 2;
    }
  }
  if (!internal::IsValidSegmentName(segment)) {
    fprintf(stderr, "agentring stats: invalid segment name '%s' (letters, digits, . _ -)\n%s\n",
            Printable(segment).c_str(), kStatsUsage);
    return 2;
  }
  internal::OpenStatus status;
  std::string error;
  std::unique_ptr<internal::SegmentMap> seg = internal::SegmentMap::Open(segment, &status, &error, open_options);
  if (!seg) {
    if (status == internal::OpenStatus::kMissing) {
      fprintf(stderr,
              "agentring stats: no segment named '%s' (is the reader running with --create?)\n",
              segment.c_str());
    } else {
      fprintf(stderr, "agentring stats: cannot open segment '%s': %s%s\n", segment.c_str(),
              error.c_str(),
              status == internal::OpenStatus::kForeignOwner
                  ? "; pass --allow-foreign-owner to read it anyway"
                  : "");
    }
    return 1;
  }
  Snapshot s = TakeSnapshot(*seg);
  if (json) {
    PrintJson(s);
  } else {
    PrintText(s);
  }
  return 0;
}

}  // namespace agentring::cli
