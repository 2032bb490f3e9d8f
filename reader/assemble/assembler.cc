// TraceAssembler: spans -> traces -> complete traces (see assembler.h).
#include "reader/assemble/assembler.h"

#include "reader/pipeline/state_file.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>

namespace agentring::reader {

struct TraceAssembler::Trace {
  TraceId id;
  std::vector<std::unique_ptr<SpanData>> spans;  // not yet emitted (ended or still open)
  uint32_t open = 0;                             // spans started here and not ended
  uint32_t ended_unsent = 0;                     // ended spans in `spans`
  bool root_ended = false;
  uint64_t root_end_pass = 0;
  uint64_t root_end_mono_ns = 0;
  uint64_t first_mono_ns = 0;
  bool emitted = false;        // its first part went out; more spans are late parts
  bool queued = false;         // in check_ (waiting for a decision or a late part)
  uint64_t last_change_mono_ns = 0;  // a span of it started or ended (pass time)
  uint64_t root_span_id = 0;   // its first span with no parent, when true_root
  bool true_root = false;
  bool ids_complete = true;    // sent_ids holds every id sent so far (none forgotten)
  std::vector<uint64_t> sent_ids;         // sorted: spans and placeholders of parts sent
  std::vector<uint64_t> placeholder_ids;  // sorted: the placeholders among them
  uint64_t known_loss = 0;     // groups lost, for the next part's agentring.dropped_records
  bool possible_loss = false;  // for the next part's agentring.possible_loss
};

// A trace sent in full, kept for its late parts until expiry_mono_ns.
struct TraceAssembler::Recent {
  uint64_t expiry_mono_ns = 0;
  uint64_t root_span_id = 0;
  bool true_root = false;
  bool ids_complete = true;
  std::vector<uint64_t> sent_ids;
  std::vector<uint64_t> placeholder_ids;
};

namespace {

constexpr size_t kMaxPending = 1 << 20;  // held groups; past this new orphans are counted at once
constexpr uint32_t kMaxLanes = 1 << 20;  // bound on the per-lane drop table (lanes are far fewer)

bool Contains(const std::vector<uint64_t>& sorted, uint64_t id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

// Adds ids to a sorted vector, keeping it sorted.
void AddSorted(std::vector<uint64_t>* sorted, const std::vector<uint64_t>& ids) {
  size_t mid = sorted->size();
  sorted->insert(sorted->end(), ids.begin(), ids.end());
  std::sort(sorted->begin() + static_cast<std::ptrdiff_t>(mid), sorted->end());
  std::inplace_merge(sorted->begin(), sorted->begin() + static_cast<std::ptrdiff_t>(mid),
                     sorted->end());
}

uint64_t MonoNow() { return internal::NowMonotonicNs(); }

AttrValue ToValue(const DecodedAttr& a) {
  switch (a.type) {
    case abi::ValueType::Int64: return static_cast<int64_t>(a.num);
    case abi::ValueType::Double: {
      double d;
      memcpy(&d, &a.num, 8);
      return d;
    }
    case abi::ValueType::Bool: return a.num != 0;
    case abi::ValueType::String: return a.str;
    default: return std::string();
  }
}

void SetAttr(std::vector<Attribute>* attrs, std::string_view key, AttrValue v) {
  for (Attribute& a : *attrs) {
    if (a.key == key) {
      a.value = std::move(v);  // last write wins, as in OpenTelemetry
      return;
    }
  }
  attrs->push_back(Attribute{key, std::move(v)});
}

}  // namespace

TraceAssembler::TraceAssembler(const AssemblerOptions& opts, EmitFn emit)
    : opts_(opts), emit_(std::move(emit)), pass_mono_ns_(MonoNow()) {}

TraceAssembler::~TraceAssembler() = default;

// A root of this reader's view of the trace: no parent, or a remote parent (TRACEPARENT from
// outside) that is not among the trace's spans here. Its end starts the trace's decision.
bool TraceAssembler::IsLocalRoot(const SpanData& s, const Trace* t) const {
  if (s.parent_span_id == 0) return true;
  if (!s.parent_remote) return false;
  const SpanRef* parent = spans_.find(s.parent_span_id);
  return parent == nullptr || parent->trace != t;
}

std::string_view TraceAssembler::Strings::operator()(uint32_t id) const {
  if (held == nullptr) return ctx->String(id);
  for (const auto& [k, v] : *held)
    if (k == id) return v;
  return {};
}

void TraceAssembler::Apply(const DecodedGroup& g, const Strings& str, const TickClock* clock,
                           const SpanRef& ref) {
  SpanData* s = ref.span;
  Trace* t = ref.trace;
  switch (g.type) {
    case abi::RecordType::SpanEnd: {
      if (s->ended) return;
      s->ended = true;
      s->end_unix_ns = std::max(clock->ToUnixNs(g.ts), s->start_unix_ns);
      if (g.status != 0) s->status = static_cast<SpanStatus>(g.status);
      --t->open;
      ++t->ended_unsent;
      t->last_change_mono_ns = pass_mono_ns_;
      t->known_loss += g.groups_dropped;  // the span's own groups its writer dropped
      // Its lane dropped groups while it was open: some may have been this trace's.
      if (s->lane < lanes_.size() && lanes_[s->lane].total > ref.lane_dropped_mark)
        t->possible_loss = true;
      if (IsLocalRoot(*s, t) && !t->root_ended) {
        t->root_ended = true;
        t->root_end_pass = pass_ + 1;  // the pass in progress (EndPass(pass_) was the last)
        t->root_end_mono_ns = MonoNow();
      }
      if (!t->queued && (t->root_ended || t->emitted)) {
        t->queued = true;
      }
      break;
    }
    case abi::RecordType::Attr:
      for (uint32_t k = 0; k < g.attr_count; ++k)
        SetAttr(&s->attributes, str(g.attrs[k].key_id), ToValue(g.attrs[k]));
      break;
    case abi::RecordType::Event: {
      SpanEvent e;
      e.time_unix_ns = clock->ToUnixNs(g.ts);
      e.name = str(g.name_id);
      for (uint32_t k = 0; k < g.attr_count; ++k)
        e.attributes.push_back(Attribute{str(g.attrs[k].key_id), ToValue(g.attrs[k])});
      s->events.push_back(std::move(e));
      break;
    }
    case abi::RecordType::Status:
      s->status = static_cast<SpanStatus>(g.status);
      s->status_message = g.message;
      break;
    case abi::RecordType::Link:
      s->links.push_back(SpanLink{TraceId{g.link_trace_hi, g.link_trace_lo}, g.link_span_id});
      break;
    default:
      break;
  }
}

void TraceAssembler::OnGroup(const DecodedGroup& g, const GroupContext& ctx) {
  if (g.type != abi::RecordType::SpanStart) {
    SpanRef* ref = spans_.find(g.span_id);
    if (ref == nullptr) {
      // Its start may be in a lane this pass has not reached yet (a span ended on another
      // thread): hold it for a while, with its strings resolved now.
      if (pending_.size() >= kMaxPending) {
        ++stats_.records_orphaned;  // bounded: a flood of orphans cannot grow the reader
        return;
      }
      Pending p{g, ctx.clock, {}, MonoNow()};
      if (g.name_id != 0) p.strings.emplace_back(g.name_id, ctx.String(g.name_id));
      for (uint32_t k = 0; k < g.attr_count; ++k)
        p.strings.emplace_back(g.attrs[k].key_id, ctx.String(g.attrs[k].key_id));
      pending_.push_back(std::move(p));
      return;
    }
    Apply(g, Strings{&ctx, nullptr}, ctx.clock, *ref);
    return;
  }
  ++stats_.spans_started;
  if (spans_.contains(g.span_id)) {
    ++stats_.duplicate_span_ids;
    return;
  }
  TraceId tid{g.trace_hi, g.trace_lo};
  auto& slot = traces_[tid];
  if (!slot) {
    slot = std::make_unique<Trace>();
    slot->id = tid;
    slot->first_mono_ns = MonoNow();
    if (auto r = recent_.find(tid); r != recent_.end()) {
      // A late part of a trace already sent: take back what is known of it (its entry in
      // recent_expiry_ goes stale; expiry is matched before erasing).
      slot->emitted = true;
      slot->root_span_id = r->second.root_span_id;
      slot->true_root = r->second.true_root;
      slot->ids_complete = r->second.ids_complete;
      recent_span_ids_ -= r->second.sent_ids.size();
      slot->sent_ids = std::move(r->second.sent_ids);
      slot->placeholder_ids = std::move(r->second.placeholder_ids);
      recent_.erase(r);
    }
  }
  Trace* t = slot.get();
  if (Contains(t->placeholder_ids, g.span_id)) {
    // The real start of a parent given up on: its placeholder went out with this id, so
    // exporting it now would repeat the id. Counted (see assembler.h), not exported.
    ++stats_.starts_after_placeholder;
    return;
  }
  if (Contains(t->sent_ids, g.span_id)) {
    ++stats_.duplicate_span_ids;
    return;
  }
  auto s = std::make_unique<SpanData>();
  s->trace_id = tid;
  s->span_id = g.span_id;
  s->parent_span_id = g.parent_span_id;
  s->parent_remote = (g.flags & static_cast<uint8_t>(abi::SpanFlags::ParentRemote)) != 0;
  std::string_view base = ctx.String(g.name_id);
  s->name.assign(base.data(), base.size());
  switch (static_cast<abi::SuffixType>(g.suffix_type)) {
    case abi::SuffixType::Int:
      s->name += ' ';
      s->name += std::to_string(static_cast<int64_t>(g.suffix));
      break;
    case abi::SuffixType::StringId: {
      std::string_view suf = ctx.String(static_cast<uint32_t>(g.suffix));
      s->name += ' ';
      s->name.append(suf.data(), suf.size());
      break;
    }
    case abi::SuffixType::Inline: {
      char buf[8];
      memcpy(buf, &g.suffix, 8);
      s->name += ' ';
      s->name.append(buf, g.suffix_len);
      break;
    }
    default:
      break;
  }
  s->kind = g.kind;
  s->start_unix_ns = ctx.clock->ToUnixNs(g.ts);
  s->process = ctx.process->info;
  s->lane = ctx.lane;
  s->tid = ctx.tid;
  s->attributes.reserve(g.attr_count + 8);  // attributes set after the start arrive later
  for (uint32_t k = 0; k < g.attr_count; ++k)
    SetAttr(&s->attributes, ctx.String(g.attrs[k].key_id), ToValue(g.attrs[k]));
  if (g.parent_span_id == 0 && !t->true_root) {
    t->true_root = true;
    t->root_span_id = g.span_id;
  }
  const uint64_t mark = ctx.lane < lanes_.size() ? lanes_[ctx.lane].before_pass : 0;
  *spans_.try_emplace(g.span_id).first = SpanRef{t, s.get(), pass_ + 1, pass_mono_ns_, mark};
  t->spans.push_back(std::move(s));
  ++t->open;
  t->last_change_mono_ns = pass_mono_ns_;
}

void TraceAssembler::OnLanePolled(uint32_t lane, uint64_t groups_dropped) {
  if (lane >= lanes_.size()) {
    if (lane >= kMaxLanes) return;
    lanes_.resize(lane + 1);
  }
  LaneDrops& l = lanes_[lane];
  l.before_pass = l.total;
  // The counter restarts at 0 when the lane changes owner: a smaller value is a new count.
  l.total += groups_dropped >= l.last_raw ? groups_dropped - l.last_raw : groups_dropped;
  l.last_raw = groups_dropped;
}

void TraceAssembler::CloseIncomplete(SpanData* s, Trace* t, const char* reason,
                                     uint64_t end_unix_ns) {
  if (s->ended) return;
  s->ended = true;
  s->incomplete = true;
  s->end_unix_ns = std::max(end_unix_ns, s->start_unix_ns);
  s->status = SpanStatus::kError;
  if (s->status_message.empty()) s->status_message = std::string("incomplete: ") + reason;
  SetAttr(&s->attributes, "agentring.incomplete", true);
  SetAttr(&s->attributes, "agentring.incomplete_reason", std::string(reason));
  --t->open;
  ++t->ended_unsent;
  ++t->known_loss;  // its end never arrived
  ++stats_.spans_incomplete;
  if (IsLocalRoot(*s, t) && !t->root_ended) {
    t->root_ended = true;
    t->root_end_pass = pass_ + 1;  // the pass in progress (EndPass(pass_) was the last)
    t->root_end_mono_ns = MonoNow();
  }
}

void TraceAssembler::OnProcessExit(const ProcessState& p, uint64_t last_unix_ns) {
  // Apply what is held first: the real end of a span, read before its start in this pass,
  // must win over closing it as incomplete.
  ApplyPending(/*expire=*/false, MonoNow());
  spans_.for_each([&](uint64_t, SpanRef& ref) {
    if (ref.span->process.get() == p.info.get() && !ref.span->ended)
      CloseIncomplete(ref.span, ref.trace, "writer_exited", last_unix_ns);
  });
}

TraceAssembler::ParentIs TraceAssembler::FindParent(const Trace& t, const SpanRef& ref,
                                                    bool final, uint64_t now_mono_ns) const {
  const SpanData& s = *ref.span;
  if (s.parent_span_id == 0) return ParentIs::kNone;
  if (const SpanRef* parent = spans_.find(s.parent_span_id))
    return parent->trace == &t ? ParentIs::kHere : ParentIs::kUnjudged;
  if (Contains(t.sent_ids, s.parent_span_id)) return ParentIs::kHere;
  // TRACEPARENT into a trace that began outside the ring: the parent is outside too.
  if (s.parent_remote && !t.true_root) return ParentIs::kOutside;
  if (!t.ids_complete) return ParentIs::kUnjudged;
  if (opts_.resumed_after_unix_ns != 0 && s.start_unix_ns < opts_.resumed_after_unix_ns)
    return ParentIs::kUnjudged;  // the earlier reader may have exported the parent
  // A parent starts before its child: a full pass begun after the child was read has drained
  // every lane past it, unless a lane was held for a string entry (bounded by the wait).
  if (!final &&
      (pass_ <= ref.arrival_pass || now_mono_ns < ref.arrival_mono_ns + opts_.parent_wait_ns))
    return ParentIs::kWaiting;
  return ParentIs::kMissing;
}

bool TraceAssembler::HasWaitingParent(const Trace& t, uint64_t now_mono_ns) const {
  for (const auto& s : t.spans) {
    const SpanRef* ref = spans_.find(s->span_id);
    if (ref != nullptr && FindParent(t, *ref, false, now_mono_ns) == ParentIs::kWaiting)
      return true;
  }
  return false;
}

void TraceAssembler::Emit(Trace* t, bool all, uint64_t now_mono_ns) {
  // Judge every parent before anything moves: a parent may be among the spans going out.
  struct Missing {
    uint64_t id;
    uint64_t start_unix_ns;
    uint64_t end_unix_ns;
    const SpanData* child;
  };
  std::vector<Missing> missing;
  std::vector<uint8_t> stay(t->spans.size(), 0);
  for (size_t i = 0; i < t->spans.size(); ++i) {
    SpanData* s = t->spans[i].get();
    if (!s->ended && !all) {
      stay[i] = 1;
      continue;
    }
    const SpanRef* ref = spans_.find(s->span_id);
    if (ref == nullptr) continue;  // cannot happen: every held span is in spans_
    switch (FindParent(*t, *ref, all, now_mono_ns)) {
      case ParentIs::kWaiting:
        stay[i] = 1;
        break;
      case ParentIs::kUnjudged:
        t->possible_loss = true;
        ++stats_.parents_unjudged;
        break;
      case ParentIs::kMissing: {
        auto m = std::find_if(missing.begin(), missing.end(),
                              [&](const Missing& x) { return x.id == s->parent_span_id; });
        if (m == missing.end()) {
          missing.push_back(Missing{s->parent_span_id, s->start_unix_ns, s->end_unix_ns, s});
        } else {
          m->start_unix_ns = std::min(m->start_unix_ns, s->start_unix_ns);
          m->end_unix_ns = std::max(m->end_unix_ns, s->end_unix_ns);
        }
        break;
      }
      case ParentIs::kNone:
      case ParentIs::kHere:
      case ParentIs::kOutside:
        break;
    }
  }
  TraceBatch batch;
  batch.trace_id = t->id;
  batch.late = t->emitted;
  std::vector<std::unique_ptr<SpanData>> keep;
  uint32_t kept_ended = 0;
  for (size_t i = 0; i < t->spans.size(); ++i) {
    auto& s = t->spans[i];
    if (stay[i] == 0) {
      spans_.erase(s->span_id);
      batch.spans.push_back(std::move(s));
    } else {
      kept_ended += s->ended ? 1 : 0;
      keep.push_back(std::move(s));
    }
  }
  t->spans = std::move(keep);
  t->ended_unsent = kept_ended;  // spans waiting for a parent are retried each pass
  if (batch.spans.empty()) return;
  const uint64_t real_spans = batch.spans.size();
  for (const Missing& m : missing) {
    auto p = std::make_unique<SpanData>();
    p->trace_id = t->id;
    p->span_id = m.id;
    p->parent_span_id = t->true_root && t->root_span_id != m.id ? t->root_span_id : 0;
    p->name = "(missing span)";
    p->start_unix_ns = m.start_unix_ns;
    p->end_unix_ns = m.end_unix_ns;
    p->ended = true;
    p->status = SpanStatus::kError;
    p->status_message = "span start never received (dropped by its writer or rejected)";
    p->attributes.push_back(Attribute{"agentring.placeholder", true});
    p->process = m.child->process;  // a guess: the usual missing parent is on the same thread
    p->lane = m.child->lane;
    p->tid = m.child->tid;
    ++t->known_loss;  // the placeholder's start group
    ++stats_.spans_synthesized;
    batch.spans.push_back(std::move(p));
  }
  batch.placeholders = static_cast<uint32_t>(missing.size());
  if (!missing.empty()) {
    std::vector<uint64_t> ids;
    for (const Missing& m : missing) ids.push_back(m.id);
    AddSorted(&t->placeholder_ids, ids);
  }
  {
    std::vector<uint64_t> ids;
    ids.reserve(batch.spans.size());
    for (const auto& s : batch.spans) ids.push_back(s->span_id);
    AddSorted(&t->sent_ids, ids);
  }
  std::sort(batch.spans.begin(), batch.spans.end(),
            [](const auto& a, const auto& b) { return a->start_unix_ns < b->start_unix_ns; });
  if (t->known_loss != 0 || t->possible_loss) {
    // The markers go on the trace's root, or on the earliest span whose parent is not in
    // this part (the top of a late part).
    SpanData* target = nullptr;
    if (t->true_root) {
      for (auto& s : batch.spans)
        if (s->span_id == t->root_span_id) target = s.get();
    }
    if (target == nullptr) {
      std::unordered_set<uint64_t> here;
      for (const auto& s : batch.spans) here.insert(s->span_id);
      for (auto& s : batch.spans) {
        if (s->parent_span_id == 0 || here.count(s->parent_span_id) == 0) {
          target = s.get();
          break;
        }
      }
    }
    if (target == nullptr) target = batch.spans.front().get();  // only a parent cycle
    if (t->known_loss != 0) {
      SetAttr(&target->attributes, "agentring.dropped_records",
              static_cast<int64_t>(t->known_loss));
      ++stats_.parts_dropped_records;
    }
    if (t->possible_loss) {
      SetAttr(&target->attributes, "agentring.possible_loss", true);
      ++stats_.parts_possible_loss;
    }
    t->known_loss = 0;
    t->possible_loss = false;
  }
  if (!t->emitted) ++stats_.traces_emitted; else ++stats_.late_batches;
  t->emitted = true;
  stats_.spans_emitted += real_spans;
  emit_(std::move(batch));
}

void TraceAssembler::Remember(Trace* t, uint64_t now_mono_ns) {
  Recent r;
  r.expiry_mono_ns = now_mono_ns + opts_.late_retention_ns;
  r.root_span_id = t->root_span_id;
  r.true_root = t->true_root;
  r.ids_complete = t->ids_complete;
  r.sent_ids = std::move(t->sent_ids);
  r.placeholder_ids = std::move(t->placeholder_ids);
  recent_span_ids_ += r.sent_ids.size();
  recent_expiry_.emplace_back(r.expiry_mono_ns, t->id);
  auto [it, inserted] = recent_.try_emplace(t->id);
  if (!inserted) recent_span_ids_ -= it->second.sent_ids.size();
  it->second = std::move(r);
  if (recent_span_ids_ > opts_.max_recent_span_ids) ForgetOldestIds();
}

void TraceAssembler::ForgetOldestIds() {
  while (recent_span_ids_ > opts_.max_recent_span_ids &&
         recent_forgotten_ < recent_expiry_.size()) {
    const auto [expiry, id] = recent_expiry_[recent_forgotten_++];
    auto it = recent_.find(id);
    if (it == recent_.end() || it->second.expiry_mono_ns != expiry) continue;  // stale entry
    recent_span_ids_ -= it->second.sent_ids.size();
    std::vector<uint64_t>().swap(it->second.sent_ids);
    it->second.ids_complete = false;
  }
}

void TraceAssembler::EndPass(uint64_t pass, uint64_t now_mono_ns) {
  pass_ = pass;
  pass_mono_ns_ = now_mono_ns;
  ApplyPending(/*expire=*/true, now_mono_ns);
  // Decisions. Traces are few compared to spans; a linear scan per pass keeps the logic plain.
  for (auto it = traces_.begin(); it != traces_.end();) {
    Trace* t = it->second.get();
    if (!t->emitted) {
      bool complete = t->root_ended && pass > t->root_end_pass && t->open == 0 &&
                      !HasWaitingParent(*t, now_mono_ns);
      bool waited = t->root_ended && now_mono_ns - t->root_end_mono_ns >= opts_.decision_wait_ns;
      bool too_old = now_mono_ns - t->first_mono_ns >= opts_.max_open_ns;
      // No root arrived (its start was dropped), nothing is open and nothing happened for a
      // decision wait: nothing will end it.
      bool rootless = !t->root_ended && t->open == 0 &&
                      now_mono_ns >= t->last_change_mono_ns + opts_.decision_wait_ns;
      if (complete || waited || too_old || rootless) Emit(t, false, now_mono_ns);
    } else if (t->ended_unsent > 0) {
      Emit(t, false, now_mono_ns);  // a late part
    }
    if (t->emitted && t->spans.empty()) {
      // Sent in full: remember it for late spans, stop scanning it.
      Remember(t, now_mono_ns);
      it = traces_.erase(it);
      continue;
    }
    ++it;
  }
  while (!recent_expiry_.empty() && recent_expiry_.front().first <= now_mono_ns) {
    const auto& [expiry, id] = recent_expiry_.front();
    auto r = recent_.find(id);
    if (r != recent_.end() && r->second.expiry_mono_ns == expiry) {
      recent_span_ids_ -= r->second.sent_ids.size();
      recent_.erase(r);
    }
    recent_expiry_.pop_front();
    if (recent_forgotten_ > 0) --recent_forgotten_;
  }
  stats_.open_traces = traces_.size();
  stats_.open_spans = spans_.size();
}

void TraceAssembler::ApplyPending(bool expire, uint64_t now_mono_ns) {
  if (pending_.empty()) return;
  std::vector<Pending> still;
  for (Pending& p : pending_) {
    if (SpanRef* ref = spans_.find(p.group.span_id)) {
      Apply(p.group, Strings{nullptr, &p.strings}, p.clock, *ref);
    } else if (expire && now_mono_ns - p.since_mono_ns >= opts_.orphan_wait_ns) {
      GiveUp(p);
    } else {
      still.push_back(std::move(p));
    }
  }
  pending_ = std::move(still);
}

void TraceAssembler::GiveUp(const Pending& p) {
  ++stats_.records_orphaned;
  // Only an end names its trace: that trace lost this span's start.
  if (p.group.type != abi::RecordType::SpanEnd) return;
  auto t = traces_.find(TraceId{p.group.trace_hi, p.group.trace_lo});
  if (t != traces_.end()) ++t->second->known_loss;
}

void TraceAssembler::FlushAll(const char* reason, uint64_t now_unix_ns) {
  const uint64_t now_mono_ns = MonoNow();
  ApplyPending(/*expire=*/false, now_mono_ns);
  for (const Pending& p : pending_) GiveUp(p);
  pending_.clear();
  spans_.for_each([&](uint64_t, SpanRef& ref) {
    if (!ref.span->ended) CloseIncomplete(ref.span, ref.trace, reason, now_unix_ns);
  });
  for (auto& [id, t] : traces_) Emit(t.get(), true, now_mono_ns);
  traces_.clear();
  spans_.clear();
  stats_.open_traces = 0;
  stats_.open_spans = 0;
}

// ---- Crash-safe state ------------------------------------------------------------------------

namespace {

constexpr uint32_t kStateFormat = 2;  // 2: loss markers and sent span ids
constexpr size_t kStateRecentTraces = 4096;  // recently sent traces a state remembers

void PutValue(BinWriter& w, const AttrValue& v) {
  w.U8(static_cast<uint8_t>(v.index()));
  switch (v.index()) {
    case 0: w.I64(std::get<int64_t>(v)); break;
    case 1: w.F64(std::get<double>(v)); break;
    case 2: w.U8(std::get<bool>(v) ? 1 : 0); break;
    default: w.Str(std::get<std::string>(v)); break;
  }
}

void PutIds(BinWriter& w, const std::vector<uint64_t>& ids) {
  w.U64(ids.size());
  for (uint64_t id : ids) w.U64(id);
}

void GetIds(BinReader& r, std::vector<uint64_t>* ids) {
  uint64_t n = r.Count(8);
  ids->reserve(n);
  for (uint64_t i = 0; i < n && r.ok(); ++i) ids->push_back(r.U64());
  std::sort(ids->begin(), ids->end());  // kept sorted (a corrupt file must not break that)
}

AttrValue GetValue(BinReader& r) {
  switch (r.U8()) {
    case 0: return r.I64();
    case 1: return r.F64();
    case 2: return r.U8() != 0;
    default: return std::string(r.Str());
  }
}

void PutAttrs(BinWriter& w, const std::vector<Attribute>& attrs) {
  w.U64(attrs.size());
  for (const Attribute& a : attrs) {
    w.Str(a.key);
    PutValue(w, a.value);
  }
}

void GetAttrs(BinReader& r, StringPool* pool, std::vector<Attribute>* attrs) {
  uint64_t n = r.Count(6);
  attrs->reserve(n);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string_view key = pool->Intern(r.Str());
    attrs->push_back(Attribute{key, GetValue(r)});
  }
}

}  // namespace

void TraceAssembler::SaveState(std::string* out) const {
  BinWriter w;
  w.U32(kStateFormat);
  // Writer processes, once each; spans refer to them by index.
  std::unordered_map<const ProcessInfo*, uint64_t> proc_index;
  std::vector<const ProcessInfo*> procs;
  for (const auto& [id, t] : traces_)
    for (const auto& s : t->spans)
      if (s->process && proc_index.emplace(s->process.get(), procs.size()).second)
        procs.push_back(s->process.get());
  w.U64(procs.size());
  for (const ProcessInfo* p : procs) {
    w.U32(p->slot);
    w.U32(p->generation);
    w.I64(p->pid);
    w.Str(p->service_name);
    w.U64(p->resource.size());
    for (const auto& [k, v] : p->resource) {
      w.Str(k);
      w.Str(v);
    }
  }
  // Recently sent traces: the newest kStateRecentTraces only, and without their span ids (a
  // state is written several times a second; at 400 k spans/s a minute of ids is tens of MB).
  // A restored entry has ids_complete = false: a late span's missing parent is then not judged
  // (agentring.possible_loss) rather than synthesized, and the trace still goes out as late.
  std::vector<std::pair<const TraceId*, const Recent*>> newest;
  for (auto it = recent_expiry_.rbegin();
       it != recent_expiry_.rend() && newest.size() < kStateRecentTraces; ++it) {
    auto r = recent_.find(it->second);
    if (r != recent_.end() && r->second.expiry_mono_ns == it->first)
      newest.emplace_back(&r->first, &r->second);
  }
  w.U64(newest.size());
  for (const auto& [id, r] : newest) {
    w.U64(id->hi);
    w.U64(id->lo);
    w.U64(r->root_span_id);
    w.U8(r->true_root ? 1 : 0);
    w.U8(0);  // ids_complete: the ids are not saved
    PutIds(w, {});
    PutIds(w, {});
  }
  w.U64(traces_.size());
  for (const auto& [id, t] : traces_) {
    w.U64(id.hi);
    w.U64(id.lo);
    w.U8(t->emitted ? 1 : 0);
    w.U64(t->root_span_id);
    w.U8(t->true_root ? 1 : 0);
    w.U8(t->ids_complete ? 1 : 0);
    PutIds(w, t->sent_ids);
    PutIds(w, t->placeholder_ids);
    w.U64(t->known_loss);
    w.U8(t->possible_loss ? 1 : 0);
    w.U64(t->spans.size());
    for (const auto& s : t->spans) {
      w.U64(s->span_id);
      w.U64(s->parent_span_id);
      w.U8(s->parent_remote ? 1 : 0);
      w.Str(s->name);
      w.U8(s->kind);
      w.U64(s->start_unix_ns);
      w.U64(s->end_unix_ns);
      w.U8(s->ended ? 1 : 0);
      w.U8(s->incomplete ? 1 : 0);
      w.U8(static_cast<uint8_t>(s->status));
      w.Str(s->status_message);
      PutAttrs(w, s->attributes);
      w.U64(s->events.size());
      for (const SpanEvent& e : s->events) {
        w.U64(e.time_unix_ns);
        w.Str(e.name);
        PutAttrs(w, e.attributes);
      }
      w.U64(s->links.size());
      for (const SpanLink& l : s->links) {
        w.U64(l.trace_id.hi);
        w.U64(l.trace_id.lo);
        w.U64(l.span_id);
      }
      w.U64(s->process ? proc_index.at(s->process.get()) : ~0ull);
      w.U32(s->lane);
      w.I64(s->tid);
    }
  }
  // Held groups, with their strings already resolved.
  w.U64(pending_.size());
  for (const Pending& p : pending_) {
    const DecodedGroup& g = p.group;
    w.U8(static_cast<uint8_t>(g.type));
    w.U32(g.records);
    w.U32(g.name_id);
    w.U64(g.ts);
    w.U64(g.trace_hi);
    w.U64(g.trace_lo);
    w.U64(g.span_id);
    w.U64(g.parent_span_id);
    w.U8(g.flags);
    w.U8(g.kind);
    w.U8(g.suffix_type);
    w.U8(g.suffix_len);
    w.U64(g.suffix);
    w.U8(g.status);
    w.Str(g.message);
    w.U64(g.link_trace_hi);
    w.U64(g.link_trace_lo);
    w.U64(g.link_span_id);
    w.U64(g.attr_count);
    for (uint32_t k = 0; k < g.attr_count; ++k) {
      const DecodedAttr& a = g.attrs[k];
      w.U32(a.key_id);
      w.U8(a.of_event ? 1 : 0);
      w.U8(a.clipped ? 1 : 0);
      w.U8(static_cast<uint8_t>(a.type));
      w.U64(a.num);
      w.Str(a.str);
    }
    w.U64(p.strings.size());
    for (const auto& [id, str] : p.strings) {
      w.U32(id);
      w.Str(str);
    }
  }
  *out = std::move(w.buffer());
}

bool TraceAssembler::LoadState(std::string_view in, StringPool* pool, const TickClock* clock,
                               const ProcessResolver& live, std::string* error) {
  BinReader r(in);
  if (r.U32() != kStateFormat) {
    *error = "reader state: unknown assembler format";
    return false;
  }
  const uint64_t now = MonoNow();
  struct Proc {
    std::shared_ptr<const ProcessInfo> info;
    bool gone;
  };
  std::vector<Proc> procs(r.Count(24));
  for (Proc& p : procs) {
    auto info = std::make_shared<ProcessInfo>();
    info->slot = r.U32();
    info->generation = r.U32();
    info->pid = static_cast<int32_t>(r.I64());
    info->service_name = std::string(r.Str());
    uint64_t n = r.Count(8);
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      std::string k(r.Str());
      info->resource.emplace_back(std::move(k), std::string(r.Str()));
    }
    p.info = live ? live(info->slot, info->generation) : nullptr;
    p.gone = p.info == nullptr;
    if (p.gone) p.info = std::move(info);
  }
  uint64_t n = r.Count(42);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    TraceId id;
    id.hi = r.U64();
    id.lo = r.U64();
    Recent rec;
    rec.expiry_mono_ns = now + opts_.late_retention_ns;
    rec.root_span_id = r.U64();
    rec.true_root = r.U8() != 0;
    rec.ids_complete = r.U8() != 0;
    GetIds(r, &rec.sent_ids);
    GetIds(r, &rec.placeholder_ids);
    if (!r.ok() || recent_.count(id) != 0) break;
    recent_span_ids_ += rec.sent_ids.size();
    recent_expiry_.emplace_back(rec.expiry_mono_ns, id);
    recent_.emplace(id, std::move(rec));
  }
  std::vector<std::pair<SpanData*, Trace*>> orphaned;  // open spans of processes that are gone
  n = r.Count(60);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    auto t = std::make_unique<Trace>();
    t->id.hi = r.U64();
    t->id.lo = r.U64();
    t->emitted = r.U8() != 0;
    t->root_span_id = r.U64();
    t->true_root = r.U8() != 0;
    t->ids_complete = r.U8() != 0;
    GetIds(r, &t->sent_ids);
    GetIds(r, &t->placeholder_ids);
    t->known_loss = r.U64();
    t->possible_loss = r.U8() != 0;
    t->first_mono_ns = now;
    t->last_change_mono_ns = now;
    uint64_t spans = r.Count(60);
    for (uint64_t k = 0; k < spans && r.ok(); ++k) {
      auto s = std::make_unique<SpanData>();
      s->trace_id = t->id;
      s->span_id = r.U64();
      s->parent_span_id = r.U64();
      s->parent_remote = r.U8() != 0;
      s->name = std::string(r.Str());
      s->kind = r.U8();
      s->start_unix_ns = r.U64();
      s->end_unix_ns = r.U64();
      s->ended = r.U8() != 0;
      s->incomplete = r.U8() != 0;
      s->status = static_cast<SpanStatus>(r.U8() % 3);
      s->status_message = std::string(r.Str());
      GetAttrs(r, pool, &s->attributes);
      uint64_t ne = r.Count(20);
      for (uint64_t e = 0; e < ne && r.ok(); ++e) {
        SpanEvent ev;
        ev.time_unix_ns = r.U64();
        ev.name = pool->Intern(r.Str());
        GetAttrs(r, pool, &ev.attributes);
        s->events.push_back(std::move(ev));
      }
      uint64_t nl = r.Count(24);
      for (uint64_t l = 0; l < nl && r.ok(); ++l) {
        SpanLink link;
        link.trace_id.hi = r.U64();
        link.trace_id.lo = r.U64();
        link.span_id = r.U64();
        s->links.push_back(link);
      }
      uint64_t pi = r.U64();
      bool gone = false;
      if (pi < procs.size()) {
        s->process = procs[pi].info;
        gone = procs[pi].gone;
      }
      s->lane = r.U32();
      s->tid = static_cast<int32_t>(r.I64());
      if (!r.ok() || spans_.contains(s->span_id)) break;
      if (s->ended) {
        ++t->ended_unsent;
      } else {
        ++t->open;
        if (gone) orphaned.emplace_back(s.get(), t.get());
      }
      *spans_.try_emplace(s->span_id).first = SpanRef{t.get(), s.get()};
      t->spans.push_back(std::move(s));
    }
    for (const auto& s : t->spans)
      if (s->ended && IsLocalRoot(*s, t.get())) t->root_ended = true;
    if (t->root_ended) t->root_end_mono_ns = now;  // decide after the next full pass
    t->queued = t->root_ended || t->emitted;
    TraceId id = t->id;
    if (!r.ok() || traces_.count(id) != 0) {
      *error = "reader state: the assembler's part is corrupt (a trace twice)";
      return false;
    }
    traces_[id] = std::move(t);
  }
  n = r.Count(90);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    Pending p;
    DecodedGroup& g = p.group;
    g.type = static_cast<abi::RecordType>(r.U8());
    g.records = r.U32();
    g.name_id = r.U32();
    g.ts = r.U64();
    g.trace_hi = r.U64();
    g.trace_lo = r.U64();
    g.span_id = r.U64();
    g.parent_span_id = r.U64();
    g.flags = r.U8();
    g.kind = r.U8();
    g.suffix_type = r.U8();
    g.suffix_len = r.U8();
    g.suffix = r.U64();
    g.status = r.U8();
    g.message = std::string(r.Str());
    g.link_trace_hi = r.U64();
    g.link_trace_lo = r.U64();
    g.link_span_id = r.U64();
    uint64_t na = r.Count(19);
    g.attrs.resize(na);
    g.attr_count = static_cast<uint32_t>(na);
    for (DecodedAttr& a : g.attrs) {
      a.key_id = r.U32();
      a.of_event = r.U8() != 0;
      a.clipped = r.U8() != 0;
      a.type = static_cast<abi::ValueType>(r.U8());
      a.num = r.U64();
      a.str = std::string(r.Str());
    }
    uint64_t ns = r.Count(8);
    for (uint64_t k = 0; k < ns && r.ok(); ++k) {
      uint32_t id = r.U32();
      p.strings.emplace_back(id, pool->Intern(r.Str()));
    }
    p.clock = clock;
    p.since_mono_ns = now;
    pending_.push_back(std::move(p));
  }
  if (!r.ok() || !r.done()) {
    *error = "reader state: the assembler's part is truncated or corrupt";
    return false;
  }
  // Writers that died while no reader ran: their open spans end where their records end.
  for (auto& [s, t] : orphaned) {
    uint64_t last = s->start_unix_ns;
    for (const auto& o : t->spans)
      if (o->process == s->process) last = std::max({last, o->start_unix_ns, o->end_unix_ns});
    CloseIncomplete(s, t, "writer_exited", last);
  }
  stats_.open_traces = traces_.size();
  stats_.open_spans = spans_.size();
  return true;
}

}  // namespace agentring::reader
