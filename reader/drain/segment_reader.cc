// SegmentReader: the drain stage (see segment_reader.h).
#include "reader/drain/segment_reader.h"

#include <cstring>

namespace agentring::reader {
namespace {

constexpr uint64_t kCopyWindowRecords = 4096;  // >= kMaxGroupRecords: a group always fits
constexpr uint32_t kMaxHoldPasses = 2000;      // ~2 s at 1 ms passes, then give up on a string
static_assert(kCopyWindowRecords >= abi::kMaxGroupRecords);

uint64_t Ld(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }
// For counters with one writer (this reader): a relaxed load/store pair.
void Add(std::atomic<uint64_t>& a, uint64_t n) {
  if (n != 0) a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// True for a record that can only be the first of its group (see ring_records.fbs: inside a
// group only Attr and Cont records follow the first).
bool OnlyStartsGroups(const abi::RawRecord& r) {
  switch (static_cast<abi::RecordType>(r.bytes[0])) {
    case abi::RecordType::SpanStart:
    case abi::RecordType::SpanEnd:
    case abi::RecordType::Event:
    case abi::RecordType::Status:
    case abi::RecordType::Link:
      return true;
    default:
      return false;
  }
}

uint16_t GroupRemaining(const abi::RawRecord& r) {
  abi::RecordHead h;
  memcpy(&h, r.bytes, sizeof(h));
  return h.group_remaining;
}

// Overwrite mode: the first group boundary at or after recs[from] within recs[0, n): the index
// of a record that starts a group (*found), or n with *found false when no boundary is known in
// the window (the caller skips it whole; if the window ends at head, that is a boundary).
uint64_t FindGroupBoundary(const abi::RawRecord* recs, uint64_t from, uint64_t n, bool* found) {
  for (uint64_t k = from; k < n; ++k) {
    if (OnlyStartsGroups(recs[k])) {
      *found = true;
      return k;
    }
    if (GroupRemaining(recs[k]) == 0) {  // ends a group: the next record starts one
      *found = true;
      return k + 1;
    }
  }
  *found = false;
  return n;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string Trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return std::string(s.substr(a, b - a));
}

}  // namespace

void StringMirror::Refresh(const abi::ProcessSlot& slot, const uint8_t* block,
                           uint32_t block_bytes, StringPool* pool) {
  // acquire: pairs with the writer's release in AppendStringLocked; entries below `used` are
  // complete.
  uint64_t used_untrusted = slot.strings_used_bytes.load(std::memory_order_acquire);
  uint32_t used = used_untrusted > block_bytes ? block_bytes : static_cast<uint32_t>(used_untrusted);
  while (!corrupt_ && parsed_ + 4 <= used) {
    uint32_t len_untrusted;
    memcpy(&len_untrusted, block + parsed_, 4);
    if (len_untrusted > abi::kMaxStringEntryBytes || parsed_ + 4 + len_untrusted > used) {
      corrupt_ = true;
      break;
    }
    char tmp[abi::kMaxStringEntryBytes];
    memcpy(tmp, block + parsed_ + 4, len_untrusted);  // copy out before use
    if (ids_.size() <= parsed_ / 4) ids_.resize(parsed_ / 4 + 1);
    ids_[parsed_ / 4] = pool->Intern(std::string_view(tmp, len_untrusted));
    parsed_ += 4 + ((len_untrusted + 3) & ~3u);
  }
}

std::string_view GroupContext::String(uint32_t id) const {
  if (id == 0) return {};
  if (const std::string_view* s = process->strings.Find(id)) return *s;
  return pool->Intern("?" + std::to_string(id));
}

SegmentReader::SegmentReader(std::unique_ptr<internal::SegmentMap> seg)
    : seg_(std::move(seg)), h_(seg_->header()), clock_(*h_),
      resumed_(h_->reader_passes.load(std::memory_order_relaxed) != 0) {
  procs_.resize(seg_->process_slot_count());
  hold_passes_.assign(seg_->lane_count(), 0);
  tails_.assign(seg_->lane_count(), 0);
  tail_known_.assign(seg_->lane_count(), 0);
  head_bad_.assign(seg_->lane_count(), 0);
  published_.assign(seg_->lane_count(), 0);
  free_at_commit_.assign(seg_->lane_count(), 0);
  buf_.resize(kCopyWindowRecords);
}

uint64_t SegmentReader::ReadPosition(uint32_t i) const {
  if (tail_known_[i]) return tails_[i];
  return seg_->lane_slot(i)->reader.tail.load(std::memory_order_relaxed);
}

void SegmentReader::StoreSharedTail(uint32_t i, uint64_t tail) {
  published_[i] = tail;
  // release: hands [old tail, tail) back to the writer; pairs with the acquire in Reserve.
  seg_->lane_slot(i)->reader.tail.store(tail, std::memory_order_release);
}

void SegmentReader::CommitPositions() {
  for (uint32_t i = 0; i < seg_->lane_count(); ++i)
    if (tail_known_[i] && tails_[i] != published_[i]) StoreSharedTail(i, tails_[i]);
  for (uint32_t i = 0; i < seg_->lane_count(); ++i) {
    if (!free_at_commit_[i]) continue;
    free_at_commit_[i] = 0;
    FreeLane(i);
  }
}

double SegmentReader::UncommittedFill() const {
  uint64_t worst = 0;
  for (uint32_t i = 0; i < seg_->lane_count(); ++i)
    if (tail_known_[i] && tails_[i] > published_[i] && tails_[i] - published_[i] > worst)
      worst = tails_[i] - published_[i];
  return static_cast<double>(worst) / static_cast<double>(seg_->lane_capacity_records());
}

std::vector<LanePosition> SegmentReader::Positions() const {
  std::vector<LanePosition> v;
  for (uint32_t i = 0; i < seg_->lane_count(); ++i) {
    if (!tail_known_[i]) continue;
    const abi::LaneEntry& e = seg_->lane_slot(i)->entry;
    v.push_back(LanePosition{i, e.process_slot, e.process_generation, e.claim_count, tails_[i]});
  }
  return v;
}

void SegmentReader::RestorePositions(const std::vector<LanePosition>& saved) {
  for (const LanePosition& p : saved) {
    if (p.lane >= seg_->lane_count()) continue;
    abi::LaneSlot* ls = seg_->lane_slot(p.lane);
    uint32_t state = ls->entry.state.load(std::memory_order_acquire);
    if (state != abi::kLaneOwned && state != abi::kLaneReleased) continue;
    if (ls->entry.process_slot != p.process_slot ||
        ls->entry.process_generation != p.process_generation ||
        ls->entry.claim_count != p.claim_count)
      continue;  // freed and claimed again since: nothing of the old claim is left
    uint64_t tail = ls->reader.tail.load(std::memory_order_relaxed);
    uint64_t head = ls->writer.head.load(std::memory_order_acquire);
    if (p.position <= tail || p.position > head) continue;
    tails_[p.lane] = p.position;
    tail_known_[p.lane] = 1;
    StoreSharedTail(p.lane, p.position);
  }
}

void SegmentReader::LaneFill(std::vector<std::pair<uint32_t, double>>* out) const {
  out->clear();
  const double cap = static_cast<double>(seg_->lane_capacity_records());
  for (uint32_t i = 0; i < seg_->lane_count(); ++i) {
    const abi::LaneSlot* ls = seg_->lane_slot(i);
    uint32_t state = ls->entry.state.load(std::memory_order_acquire);
    if (state != abi::kLaneOwned && state != abi::kLaneReleased) continue;
    uint64_t head = ls->writer.head.load(std::memory_order_acquire);
    uint64_t tail = ReadPosition(i);
    double fill = head > tail ? static_cast<double>(head - tail) / cap : 0.0;
    out->emplace_back(i, fill > 1.0 ? 1.0 : fill);
  }
}

void SegmentReader::ScanProcesses() {
  for (uint32_t i = 0; i < seg_->process_slot_count(); ++i) ScanProcess(i);
}

std::shared_ptr<const ProcessInfo> SegmentReader::LiveProcess(uint32_t slot,
                                                              uint32_t generation) const {
  if (slot >= procs_.size()) return nullptr;
  const ProcessState& p = procs_[slot];
  if (!p.active || p.generation != generation) return nullptr;
  return p.info;
}

void SegmentReader::RefreshStrings(uint32_t slot) {
  ProcessState& p = procs_[slot];
  p.strings.Refresh(*seg_->process_slot(slot), seg_->string_block(slot),
                    seg_->string_block_bytes(), &pool_);
  if (p.strings.TakeCorruptReport()) ++stats_.string_tables_corrupt;
}

uint64_t SegmentReader::TrustedTail(uint32_t i) {
  abi::LaneSlot* ls = seg_->lane_slot(i);
  const uint64_t shared_untrusted = ls->reader.tail.load(std::memory_order_relaxed);
  if (!tail_known_[i]) {
    // First sight of this owner: the claiming writer started its head at this value.
    tails_[i] = published_[i] = shared_untrusted;
    tail_known_[i] = 1;
  } else if (shared_untrusted != published_[i]) {
    // Only this reader stores the shared tail: someone else wrote it. Put ours back.
    Count(RejectReason::kLaneHeader, 1);
    StoreSharedTail(i, published_[i]);
  }
  return tails_[i];
}

void SegmentReader::PublishTail(uint32_t i, uint64_t tail) {
  tails_[i] = tail;
  tail_known_[i] = 1;
  // Deferred commit (--state-dir): the shared tail moves in CommitPositions, after the state
  // that holds what these records carried is saved.
  if (!deferred_) StoreSharedTail(i, tail);
}

void SegmentReader::Count(RejectReason r, uint64_t records) {
  stats_.records_rejected += records;
  stats_.rejected_by_reason[static_cast<size_t>(r)] += records;
}

void SegmentReader::ScanProcess(uint32_t i) {
  abi::ProcessSlot* s = seg_->process_slot(i);
  // acquire: pairs with the writer's release of kProcessOwned in AttachLocked.
  uint32_t state = s->state.load(std::memory_order_acquire);
  ProcessState& p = procs_[i];
  if (state != abi::kProcessOwned) return;
  if (p.active && p.generation == s->generation) return;
  // A process we have not seen in this slot (or a new generation of it).
  p = ProcessState();
  p.active = true;
  p.generation = s->generation;
  auto info = std::make_shared<ProcessInfo>();
  info->pid = s->pid;
  info->slot = i;
  info->generation = p.generation;
  RefreshStrings(i);
  if (const std::string_view* res = p.strings.Find(s->resource_string_id)) {
    std::string_view rs = *res;
    size_t pos = 0;
    while (pos < rs.size()) {
      size_t nl = rs.find('\n', pos);
      if (nl == std::string_view::npos) nl = rs.size();
      std::string_view line = rs.substr(pos, nl - pos);
      size_t eq = line.find('=');
      if (eq != std::string_view::npos && eq > 0) {
        std::string k = PercentDecode(Trim(line.substr(0, eq)));
        std::string v = PercentDecode(Trim(line.substr(eq + 1)));
        bool replaced = false;
        for (auto& kv : info->resource) {
          if (kv.first == k) {
            kv.second = v;
            replaced = true;
          }
        }
        if (!replaced) info->resource.emplace_back(k, v);
        if (k == "service.name") info->service_name = v;
      }
      pos = nl + 1;
    }
  }
  if (info->service_name.empty()) {
    info->service_name = "unknown_service";
    info->resource.emplace_back("service.name", info->service_name);
  }
  p.info = std::move(info);
}

ProcessState* SegmentReader::LaneOwner(const abi::LaneEntry& e) {
  const uint32_t slot = e.process_slot;  // untrusted until checked here
  const uint32_t generation = e.process_generation;
  if (slot >= procs_.size()) return nullptr;
  ProcessState& p = procs_[slot];
  // The process may have attached and claimed the lane after this pass scanned the process
  // table: scan its slot again before judging (the caller's acquire of the lane state makes
  // the process's claim visible).
  if (!p.active || p.generation != generation) ScanProcess(slot);
  if (!p.active || p.generation != generation) return nullptr;
  return &p;
}

void SegmentReader::ProbeLiveness() {
  for (uint32_t i = 0; i < seg_->process_slot_count(); ++i) {
    abi::ProcessSlot* s = seg_->process_slot(i);
    uint32_t state = s->state.load(std::memory_order_acquire);
    if (state == abi::kProcessFree) continue;
    bool alive = seg_->IsByteLocked(abi::kProcessLockBase + i);
    if (alive) continue;
    if (state != abi::kProcessClaiming && state != abi::kProcessOwned && !procs_[i].active) {
      // A state no writer stores, in a slot no live process holds and no process we know
      // owned: count it and free the slot (one we knew is reclaimed below, lanes first).
      Count(RejectReason::kProcessSlot, 1);
      s->state.store(abi::kProcessFree, std::memory_order_release);
      continue;
    }
    if (state == abi::kProcessClaiming) {
      // Died while claiming: no lane can name it yet (lanes are claimed after kOwned).
      s->state.store(abi::kProcessFree, std::memory_order_release);
      continue;
    }
    ScanProcess(i);
    procs_[i].dead = true;
  }
}

void SegmentReader::FreeLane(uint32_t i) {
  abi::LaneSlot* ls = seg_->lane_slot(i);
  // A writer counts a span start right after the head store that publishes it; one killed
  // between the two left its counter one short. What this reader read from the lane is then the
  // better count (it is never more than what was committed).
  const uint64_t counted = Ld(ls->counters.span_starts_committed);
  const uint64_t read = Ld(ls->reader.span_starts_read);
  const uint64_t committed = read > counted ? read : counted;
  // Every record of the lane has been read or skipped: the span starts not read were lost to
  // overwriting (0 in drop mode; a rejected span start would count here too).
  const uint64_t overwritten_starts = committed > read ? committed - read : 0;
  stats_.span_starts_overwritten += overwritten_starts;
  stats_.writer_span_starts_committed += committed;
  tail_known_[i] = 0;
  head_bad_[i] = 0;
  stats_.writer_records_dropped_full += Ld(ls->counters.records_dropped_full);
  stats_.writer_records_dropped_too_big += Ld(ls->counters.records_dropped_too_big);
  stats_.writer_span_starts_dropped_full += Ld(ls->counters.span_starts_dropped_full);
  stats_.writer_span_starts_dropped_too_big += Ld(ls->counters.span_starts_dropped_too_big);
  stats_.writer_spans_head_sampled_out += Ld(ls->counters.spans_head_sampled_out);
  stats_.writer_groups_dropped += Ld(ls->counters.groups_dropped);
  // Totals since creation, for tools (SegmentHeader::folded).
  abi::FoldedCounters& f = h_->folded;
  Add(f.span_starts_committed, committed);
  Add(f.span_starts_dropped_full, Ld(ls->counters.span_starts_dropped_full));
  Add(f.span_starts_dropped_too_big, Ld(ls->counters.span_starts_dropped_too_big));
  Add(f.spans_head_sampled_out, Ld(ls->counters.spans_head_sampled_out));
  Add(f.span_starts_overwritten, overwritten_starts);
  Add(f.records_dropped_full, Ld(ls->counters.records_dropped_full));
  Add(f.records_dropped_too_big, Ld(ls->counters.records_dropped_too_big));
  Add(f.records_overwritten, Ld(ls->reader.records_overwritten));
  Add(f.groups_dropped, Ld(ls->counters.groups_dropped));
  // Counters are folded in; zero them so Collect() never counts a freed lane twice.
  ls->counters.span_starts_committed.store(0, std::memory_order_relaxed);
  ls->counters.records_dropped_full.store(0, std::memory_order_relaxed);
  ls->counters.records_dropped_too_big.store(0, std::memory_order_relaxed);
  ls->counters.span_starts_dropped_full.store(0, std::memory_order_relaxed);
  ls->counters.span_starts_dropped_too_big.store(0, std::memory_order_relaxed);
  ls->counters.spans_head_sampled_out.store(0, std::memory_order_relaxed);
  ls->counters.groups_dropped.store(0, std::memory_order_relaxed);
  ls->reader.span_starts_read.store(0, std::memory_order_relaxed);
  ls->reader.records_overwritten.store(0, std::memory_order_relaxed);
  hold_passes_[i] = 0;
  free_at_commit_[i] = 0;
  // release: our reads of the lane happen before a new owner's writes (it acquires the state).
  ls->entry.state.store(abi::kLaneFree, std::memory_order_release);
  ++stats_.lanes_freed;
}

bool SegmentReader::ResolveAll(ProcessState& p, const DecodedGroup& g) {
  auto known = [&](uint32_t id) { return id == 0 || p.strings.Find(id) != nullptr; };
  auto all = [&]() {
    if (!known(g.name_id)) return false;
    if (g.type == abi::RecordType::SpanStart &&
        g.suffix_type == static_cast<uint8_t>(abi::SuffixType::StringId) &&
        !known(static_cast<uint32_t>(g.suffix)))
      return false;
    for (uint32_t k = 0; k < g.attr_count; ++k)
      if (!known(g.attrs[k].key_id)) return false;
    return true;
  };
  if (all()) return true;
  return false;
}

uint64_t SegmentReader::DrainLane(uint32_t i, GroupSink* sink) {
  abi::LaneSlot* ls = seg_->lane_slot(i);
  // acquire: pairs with the writer's release of kLaneOwned / kLaneReleased.
  uint32_t state = ls->entry.state.load(std::memory_order_acquire);
  if (state != abi::kLaneOwned && state != abi::kLaneReleased) return 0;
  ProcessState* owner = LaneOwner(ls->entry);
  if (owner == nullptr) return 0;  // freed (and counted) in ReclaimDeadProcesses
  ProcessState& p = *owner;
  const uint32_t slot_untrusted = ls->entry.process_slot;  // checked by LaneOwner
  const uint64_t capacity = seg_->lane_capacity_records();
  const uint64_t mask = capacity - 1;
  const bool overwrite = seg_->full_policy() == abi::kFullOverwrite;
  const abi::RawRecord* ring = reinterpret_cast<const abi::RawRecord*>(seg_->lane_records(i));
  // acquire: pairs with the writer's release in Commit; records below head are complete.
  uint64_t head = ls->writer.head.load(std::memory_order_acquire);
  uint64_t tail = TrustedTail(i);
  // An overwriting writer can lap the reader, but only after publishing a reserved bound past
  // every position it wrote (acquired with head above, loaded after it).
  const bool lapped = head >= tail && head - tail > capacity;
  if (head < tail || (lapped && (!overwrite || ls->writer.overwrite_reserved.load(
                                                   std::memory_order_relaxed) < head))) {
    // A head behind the tail (it jumped backwards) or more than a lane ahead cannot come from
    // a writer. Count it once and wait: the owner's next commit publishes its true head again,
    // so nothing is skipped or read twice; a lane whose owner released it or died is freed as
    // it is (ReclaimDeadProcesses).
    if (!head_bad_[i]) Count(RejectReason::kHeadOutOfRange, 1);
    head_bad_[i] = 1;
    return 0;
  }
  head_bad_[i] = 0;
  sink->OnLanePolled(i, Ld(ls->counters.groups_dropped));  // relaxed: a hint (see GroupSink)
  GroupContext ctx{i, ls->entry.owner_tid, &p, &clock_, &pool_};
  uint64_t drained = 0;
  uint64_t starts_read = 0;   // not yet added to ls->reader.span_starts_read
  uint64_t overwritten = 0;   // not yet added to ls->reader.records_overwritten
  // Stores the lane's counts and then its tail; called on group boundaries only.
  auto publish = [&] {
    Add(ls->reader.span_starts_read, starts_read);
    Add(ls->reader.records_overwritten, overwritten);
    stats_.records_overwritten += overwritten;
    starts_read = overwritten = 0;
    PublishTail(i, tail);
  };
  bool resync = false;  // overwrite: tail may be inside a group whose start was overwritten
  if (head - tail > capacity) {
    // Overwrite mode, lapped: everything below head - capacity is gone.
    overwritten += head - capacity - tail;
    drained += head - capacity - tail;
    tail = head - capacity;
    resync = true;
  }
  bool refreshed = false;
  while (tail < head) {
    uint64_t n = head - tail < kCopyWindowRecords ? head - tail : kCopyWindowRecords;
    // Copy out before decoding: the writer may reuse these slots once tail moves (or, in
    // overwrite mode, at any time: checked right below).
    uint64_t first = tail & mask;
    uint64_t part = n < capacity - first ? n : capacity - first;
    memcpy(buf_.data(), ring + first, part * abi::kRecordBytes);
    if (part < n) memcpy(buf_.data() + part, ring, (n - part) * abi::kRecordBytes);
    uint64_t skip = 0;  // leading records of the window not to decode
    if (overwrite) {
      // acquire fence: pairs with the release fence in the writer's ReserveOverwrite. If the
      // copy above read any byte the writer stored after publishing a reserved bound R, the
      // load below returns R or later, and position p was intact iff p + capacity >= R.
      std::atomic_thread_fence(std::memory_order_acquire);
      const uint64_t reserved_untrusted = ls->writer.overwrite_reserved.load(std::memory_order_relaxed);
      if (reserved_untrusted > tail + capacity) {
        const uint64_t torn = reserved_untrusted - capacity - tail;
        skip = torn < n ? torn : n;
        resync = true;
      }
      if (resync) {
        bool found = false;
        skip = FindGroupBoundary(buf_.data(), skip, n, &found);
        resync = !found && tail + n != head;  // head is always a group boundary
      }
    }
    if (skip != 0) {
      overwritten += skip;
      drained += skip;
      tail += skip;
      if (skip == n) continue;  // nothing intact here (or no boundary yet): next window
    }
    const abi::RawRecord* recs = buf_.data() + skip;
    const uint64_t available = n - skip;
    bool at_head = tail + available == head;
    uint64_t consumed = 0;
    while (consumed < available) {
      DecodeResult r = DecodeGroup(recs + consumed, available - consumed, at_head, &group_);
      if (r.kind == DecodeResult::kNeedMore) break;
      if (r.kind == DecodeResult::kReject) {
        Count(r.reason, r.records);
        abi::RecordHead first;
        memcpy(&first, buf_[consumed].bytes, sizeof(first));  // our copy, not the ring
        if (first.type == static_cast<uint8_t>(abi::RecordType::SpanStart)) {
          ++stats_.spans_rejected;
          ++stats_.spans_rejected_by_reason[static_cast<size_t>(r.reason)];
        }
        stats_.records_read += r.records;
        consumed += r.records;
        continue;
      }
      if (!ResolveAll(p, group_)) {
        if (!refreshed) {
          RefreshStrings(slot_untrusted);
          refreshed = true;
        }
        if (!ResolveAll(p, group_)) {
          // Held until the entry appears or the writer is gone (bounded).
          // (Not when the table is corrupt: the mirror stops there, the entry never comes.)
          if (!p.dead && !p.strings.corrupt() && ++hold_passes_[i] < kMaxHoldPasses) {
            tail += consumed;
            publish();
            return drained + consumed;
          }
          ++stats_.groups_with_unresolved_strings;  // delivered with "?<id>" placeholders
        }
      }
      hold_passes_[i] = 0;
      if (group_.ts > p.last_ticks) p.last_ticks = group_.ts;
      if (group_.type == abi::RecordType::SpanStart) {
        ++stats_.span_starts_read;
        ++starts_read;
      }
      sink->OnGroup(group_, ctx);
      ++stats_.groups_delivered;
      stats_.records_read += r.records;
      consumed += r.records;
    }
    if (consumed == 0) break;  // cannot happen (window >= max group); never spin
    tail += consumed;
    drained += consumed;
    publish();
  }
  // The last window may have been skipped whole: its end (head) is a group boundary.
  if (!resync && (starts_read != 0 || overwritten != 0 || tail != tails_[i])) publish();
  return drained;
}

void SegmentReader::ReclaimDeadProcesses(GroupSink* sink) {
  // Lanes: a released lane that is drained is free; so is a drained lane of a dead process.
  live_writer_lanes_ = 0;
  std::vector<uint32_t> lanes_left(procs_.size(), 0);
  for (uint32_t i = 0; i < seg_->lane_count(); ++i) {
    abi::LaneSlot* ls = seg_->lane_slot(i);
    uint32_t state = ls->entry.state.load(std::memory_order_acquire);
    if (abi::IsLaneClaiming(state)) {
      // A claimer that died mid-claim wrote no record yet: free the lane once its process is
      // known dead (or the claimer field is garbage).
      // A claimer's process slot is owned before it claims a lane, and only this reader frees
      // a slot (after the slot's lanes): a claim naming a free slot or none is corrupt.
      uint32_t claimer = abi::LaneClaimer(state);
      bool corrupt = claimer >= procs_.size() ||
                     seg_->process_slot(claimer)->state.load(std::memory_order_acquire) ==
                         abi::kProcessFree;
      if (corrupt || (procs_[claimer].active && procs_[claimer].dead)) {
        if (corrupt) Count(RejectReason::kLaneEntry, 1);
        uint32_t expected = state;
        if (ls->entry.state.compare_exchange_strong(expected, abi::kLaneFree,
                                                    std::memory_order_acq_rel)) {
          tail_known_[i] = 0;
          head_bad_[i] = 0;
        }
      } else {
        ++lanes_left[claimer];
      }
      continue;
    }
    if (state == abi::kLaneFree) continue;
    if (state != abi::kLaneOwned && state != abi::kLaneReleased) {
      // A state no writer stores: count it and free the lane (its records cannot be trusted).
      Count(RejectReason::kLaneEntry, 1);
      FreeLane(i);
      continue;
    }
    ProcessState* owner = LaneOwner(ls->entry);
    if (owner == nullptr) {
      // An owner that is not (or no longer) in the process table: corrupt. Its records cannot
      // be attributed or their strings resolved; count them and free the lane.
      uint64_t head = ls->writer.head.load(std::memory_order_acquire);
      uint64_t tail = TrustedTail(i);
      uint64_t lost = head > tail && head - tail <= seg_->lane_capacity_records() ? head - tail : 0;
      Count(RejectReason::kLaneEntry, lost + 1);
      PublishTail(i, head);
      FreeLane(i);
      continue;
    }
    ProcessState& p = *owner;
    const uint32_t slot = ls->entry.process_slot;
    bool owner_dead = p.dead;
    // An out-of-range head (counted when it was seen) will not heal once its owner is gone.
    bool drained = ls->writer.head.load(std::memory_order_acquire) == TrustedTail(i) ||
                   head_bad_[i] != 0;
    if ((state == abi::kLaneReleased || owner_dead) && drained) {
      if (!deferred_) {
        FreeLane(i);
        continue;
      }
      // Freed once its position is committed; until then the lane (and so its process, with
      // the string table the saved state may still need) stays.
      free_at_commit_[i] = 1;
    }
    if (state == abi::kLaneOwned && !owner_dead) ++live_writer_lanes_;
    ++lanes_left[slot];
  }
  for (uint32_t s = 0; s < procs_.size(); ++s) {
    ProcessState& p = procs_[s];
    if (!p.active || !p.dead || lanes_left[s] != 0) continue;
    abi::ProcessSlot* ps = seg_->process_slot(s);
    sink->OnProcessExit(p, clock_.ToUnixNs(p.last_ticks));
    stats_.writer_span_starts_dropped_no_lane += Ld(ps->span_starts_dropped_no_lane);
    stats_.writer_span_starts_dropped_no_segment += Ld(ps->span_starts_dropped_no_segment);
    stats_.writer_spans_head_sampled_out += Ld(ps->spans_head_sampled_out_no_lane);
    stats_.writer_strings_dropped += Ld(ps->strings_dropped);
    abi::FoldedCounters& f = h_->folded;
    Add(f.span_starts_dropped_no_lane, Ld(ps->span_starts_dropped_no_lane));
    Add(f.span_starts_dropped_no_segment, Ld(ps->span_starts_dropped_no_segment));
    Add(f.spans_head_sampled_out, Ld(ps->spans_head_sampled_out_no_lane));
    Add(f.strings_dropped, Ld(ps->strings_dropped));
    ps->span_starts_dropped_no_lane.store(0, std::memory_order_relaxed);
    ps->span_starts_dropped_no_segment.store(0, std::memory_order_relaxed);
    ps->spans_head_sampled_out_no_lane.store(0, std::memory_order_relaxed);
    ps->strings_dropped.store(0, std::memory_order_relaxed);
    p = ProcessState();
    // release: a new owner's claim (acquire CAS) sees our final reads done.
    ps->state.store(abi::kProcessFree, std::memory_order_release);
    ++stats_.processes_reclaimed;
  }
}

uint64_t SegmentReader::Pass(GroupSink* sink) {
  ++passes_;
  for (uint32_t i = 0; i < seg_->process_slot_count(); ++i) ScanProcess(i);
  uint64_t now = internal::NowMonotonicNs();
  bool probe = now - last_probe_ns_ >= probe_interval_ns;
  if (probe) {
    last_probe_ns_ = now;
    ProbeLiveness();
  }
  uint64_t drained = 0;
  for (uint32_t i = 0; i < seg_->lane_count(); ++i) drained += DrainLane(i, sink);
  ReclaimDeadProcesses(sink);
  clock_.Refine();
  h_->reader_passes.store(passes_, std::memory_order_relaxed);
  h_->reader_heartbeat_unix_ns.store(internal::NowUnixNs(), std::memory_order_relaxed);
  return drained;
}

DrainStats SegmentReader::Collect() const {
  DrainStats s = stats_;
  s.string_pool_overflows = pool_.overflows();
  for (uint32_t i = 0; i < seg_->lane_count(); ++i) {
    abi::LaneSlot* ls = seg_->lane_slot(i);
    uint32_t state = ls->entry.state.load(std::memory_order_acquire);
    if (state != abi::kLaneOwned && state != abi::kLaneReleased) continue;
    s.writer_span_starts_committed += Ld(ls->counters.span_starts_committed);
    s.writer_records_dropped_full += Ld(ls->counters.records_dropped_full);
    s.writer_records_dropped_too_big += Ld(ls->counters.records_dropped_too_big);
    s.writer_span_starts_dropped_full += Ld(ls->counters.span_starts_dropped_full);
    s.writer_span_starts_dropped_too_big += Ld(ls->counters.span_starts_dropped_too_big);
    s.writer_spans_head_sampled_out += Ld(ls->counters.spans_head_sampled_out);
    s.writer_groups_dropped += Ld(ls->counters.groups_dropped);
  }
  for (uint32_t p = 0; p < seg_->process_slot_count(); ++p) {
    abi::ProcessSlot* ps = seg_->process_slot(p);
    if (ps->state.load(std::memory_order_acquire) != abi::kProcessOwned) continue;
    s.writer_span_starts_dropped_no_lane += Ld(ps->span_starts_dropped_no_lane);
    s.writer_span_starts_dropped_no_segment += Ld(ps->span_starts_dropped_no_segment);
    s.writer_spans_head_sampled_out += Ld(ps->spans_head_sampled_out_no_lane);
    s.writer_strings_dropped += Ld(ps->strings_dropped);
  }
  return s;
}

}  // namespace agentring::reader
