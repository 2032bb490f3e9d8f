// ReaderLoop: the reader pipeline's driver (see reader_loop.h).
#include "reader/pipeline/reader_loop.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "reader/drain/decoder.h"
#include "reader/export/output_file.h"

namespace agentring::reader {

std::unique_ptr<ReaderLoop> ReaderLoop::Create(const ReaderOptions& opts, std::string* error) {
  std::unique_ptr<ReaderLoop> loop(new ReaderLoop());
  loop->opts_ = opts;
  internal::OpenStatus st;
  std::unique_ptr<internal::SegmentMap> seg;
  if (opts.create) {
    internal::SegmentMap::CreateOptions co;
    co.geometry = opts.geometry;
    co.full_policy = opts.full_policy;
    co.require_full_policy = opts.full_policy_set;
    co.group_gid = opts.group_gid;
    co.mode = opts.group_gid >= 0 ? 0660 : 0600;
    co.open.allow_foreign_owner = opts.allow_foreign_owner;
    bool created = false;
    seg = internal::SegmentMap::Create(opts.segment, co, &created, &st, error);
  } else {
    internal::OpenOptions oo;
    oo.allow_foreign_owner = opts.allow_foreign_owner;
    seg = internal::SegmentMap::Open(opts.segment, &st, error, oo);
    if (!seg && st == internal::OpenStatus::kMissing)
      *error = "no segment named '" + opts.segment + "'; start the reader with --create to create it";
  }
  if (!seg && st == internal::OpenStatus::kForeignOwner)
    *error += "; pass --allow-foreign-owner to read it anyway";
  if (!seg) return nullptr;
  // One reader per segment: the reader lock byte. A dead reader's lock is gone, so its
  // successor takes over.
  if (!seg->TryLockByte(abi::kReaderLockByte, true)) {
    uint32_t pid = seg->header()->reader_pid.load(std::memory_order_relaxed);
    *error = "another reader (pid " + std::to_string(pid) + ") is already draining segment '" +
             opts.segment + "'";
    return nullptr;
  }
  seg->header()->reader_pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
  // A reader restarted from its state continues its files: what the previous one delivered (and
  // acknowledged, so never sends again) stays.
  const bool resume =
      !opts.state_dir.empty() && access((opts.state_dir + "/state").c_str(), F_OK) == 0;
  for (const ExporterSpec& spec : opts.exporters) {
    std::string path = spec.out.empty() ? "-" : spec.out;
    std::unique_ptr<Exporter> e;
    ExporterQueueOptions qo = spec.queue;
    qo.synchronous = opts.synchronous;
    if (spec.type == "otlp") {  // a network exporter: no --out; a full queue drops and counts
      e = MakeOtlpHttpExporter(opts.otlp, error);
      if (!e) return nullptr;
      qo.block_when_full = false;
    } else if (IsFileExporter(spec.type)) {
      const RotationPolicy rotation{spec.out_max_bytes, spec.out_max_files ? spec.out_max_files
                                                                           : kDefaultRotationMaxFiles};
      e = MakeFileExporter(spec.type, path, rotation, error, resume);
      if (!e) return nullptr;
      qo.block_when_full = true;  // a local file: back-pressure, never drops
      qo.per_trace = true;
    } else {
      *error = "unknown exporter '" + spec.type + "' (expected tree, jsonl, chrome or otlp)";
      return nullptr;
    }
    loop->exporters_.push_back(std::make_unique<ExporterQueue>(std::move(e), qo));
  }
  Enricher::Options eo;
  eo.pricing_path = opts.pricing_path;
  loop->enricher_ = Enricher::Create(eo, error);
  if (!loop->enricher_) return nullptr;
  loop->redactor_ = Redactor::Create(opts.redact_rules_path, error);
  if (!loop->redactor_) return nullptr;
  loop->drain_ = std::make_unique<SegmentReader>(std::move(seg));
  ReaderLoop* self = loop.get();
  AssemblerOptions ao = opts.assembler;
  // A reader that follows another one (killed, or stopped) cannot judge parents the other one
  // may have exported: see AssemblerOptions::resumed_after_unix_ns.
  if (loop->drain_->resumed()) ao.resumed_after_unix_ns = internal::NowUnixNs();
  loop->assembler_ = std::make_unique<TraceAssembler>(ao, [self](TraceBatch&& b) {
    if (self->state_) self->Stage(std::move(b)); else self->Enqueue(std::move(b));
  });
  if (!opts.state_dir.empty()) {
    if (!StateDir::Prepare(opts.state_dir, error)) return nullptr;
    loop->state_ = std::make_unique<StateDir>(opts.state_dir);
    loop->drain_->SetDeferredCommit(true);
    if (!loop->RestoreState(error)) return nullptr;
  }
  if (opts.metrics_port >= 0) {
    auto metrics = std::make_shared<ReaderMetrics>();
    loop->metrics_ = metrics;
    // Every trace, kept or sampled out: the RED metrics count what happened, not what was kept.
    class MetricsProcessor final : public TraceProcessor {
     public:
      explicit MetricsProcessor(std::shared_ptr<ReaderMetrics> m) : m_(std::move(m)) {}
      std::string_view name() const override { return "metrics"; }
      void OnTraceEnd(const TraceBatch& trace, bool) override { m_->ObserveTrace(trace); }

     private:
      std::shared_ptr<ReaderMetrics> m_;
    };
    loop->AddProcessor(std::make_unique<MetricsProcessor>(metrics));
    loop->PublishHealth(internal::NowMonotonicNs());
    loop->metrics_server_ = MetricsServer::Start(
        opts.metrics_bind, static_cast<uint16_t>(opts.metrics_port),
        [metrics] { return metrics->Render(); }, error);
    if (!loop->metrics_server_) return nullptr;
    fprintf(stderr, "agentring-reader: metrics on http://%s:%u/metrics\n",
            opts.metrics_bind.c_str(), loop->metrics_server_->port());
  }
  if (!opts.synchronous) loop->export_thread_ = std::thread([self] { self->ProcessThread(); });
  return loop;
}

ReaderLoop::~ReaderLoop() {
  StopProcessing();
  // The exporters go first: a batch they still hold acks itself (Delivered) as it is freed,
  // which needs the ledger and the state directory declared after them.
  if (!export_abandoned()) exporters_.clear();
}

void ReaderLoop::Enqueue(TraceBatch&& batch) {
  if (opts_.synchronous) {
    Process(std::move(batch));
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  // Back-pressure: wait for room (a batch larger than the whole queue still goes in alone).
  space_cv_.wait(lock, [this] {
    return queued_spans_ < opts_.export_queue_spans || queue_.empty() || stopping_;
  });
  queued_spans_ += batch.spans.size();
  if (queued_spans_ > queue_high_water_spans_.load(std::memory_order_relaxed))
    queue_high_water_spans_.store(queued_spans_, std::memory_order_relaxed);
  queue_.push_back(std::move(batch));
  cv_.notify_one();
}

void ReaderLoop::Process(TraceBatch&& b) {
  enricher_->Process(&b);
  if (!processors_.empty()) {
    std::vector<const SpanData*> by_end;
    by_end.reserve(b.spans.size());
    for (auto& p : processors_) p->OnTraceStart(b);
    for (const auto& s : b.spans) {
      by_end.push_back(s.get());
      for (auto& p : processors_) p->OnSpanStart(*s);
    }
    std::stable_sort(by_end.begin(), by_end.end(), [](const SpanData* x, const SpanData* y) {
      return x->end_unix_ns < y->end_unix_ns;
    });
    for (const SpanData* s : by_end)
      for (auto& p : processors_) p->OnSpanEnd(*s);
  }
  const bool keep = !sampler_ || sampler_->Keep(b, internal::NowMonotonicNs());
  for (auto& p : processors_) p->OnTraceEnd(b, keep);
  const uint64_t n = b.spans.size() - b.placeholders;  // committed spans: the accounting's unit
  if (!keep) {
    spans_tail_sampled_out_.fetch_add(n, std::memory_order_relaxed);
    if (!b.late) traces_tail_sampled_out_.fetch_add(1, std::memory_order_relaxed);
    if (b.seq != 0) Delivered(b.seq);
    return;
  }
  redactor_->Process(&b);  // last: nothing leaves the machine unredacted
  if (!b.late) traces_processed_.fetch_add(1, std::memory_order_relaxed);
  // The last exporter done with the batch frees it; with --state-dir that acks it.
  std::shared_ptr<const TraceBatch> shared(new TraceBatch(std::move(b)), [this](const TraceBatch* t) {
    const uint64_t seq = t->seq;
    delete t;
    if (seq != 0) Delivered(seq);
  });
  for (auto& q : exporters_) q->Push(shared);
}

void ReaderLoop::ProcessThread() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) {  // stopping and drained
      export_done_ = true;
      done_cv_.notify_all();
      break;
    }
    TraceBatch b = std::move(queue_.front());
    queue_.pop_front();
    const uint64_t n = b.spans.size();
    lock.unlock();
    Process(std::move(b));
    lock.lock();
    queued_spans_ -= n;
    space_cv_.notify_all();
  }
}

void ReaderLoop::StopProcessing() {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.shutdown_timeout_ms);
  if (export_thread_.joinable()) {
    std::unique_lock<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
    space_cv_.notify_all();
    // Bounded: processing is CPU work, but it may wait on a blocking (file) exporter's queue
    // whose file is stuck. What is still queued then is counted as lost.
    if (!done_cv_.wait_until(lock, deadline, [this] { return export_done_; })) {
      spans_lost_shutdown_timeout_ = queued_spans_;
      // Counted lost here: settle them in the ledger, or the next reader would count them again.
      if (state_) {
        for (const TraceBatch& b : queue_)
          if (b.seq != 0) Delivered(b.seq);
      }
      fprintf(stderr,
              "agentring-reader: processing did not finish within %llu ms; %llu spans not "
              "delivered\n",
              static_cast<unsigned long long>(opts_.shutdown_timeout_ms),
              static_cast<unsigned long long>(queued_spans_));
      abandoned_ = true;
      export_thread_.detach();
      return;  // the exporters are still in use by the detached thread
    }
    lock.unlock();
    export_thread_.join();
  }
  for (auto& q : exporters_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    q->Stop(left.count() > 0 ? static_cast<uint64_t>(left.count()) : 0);
  }
}

void ReaderLoop::Stage(TraceBatch&& batch) {
  staged_spans_ += batch.spans.size();
  staged_.push_back(std::move(batch));
}

void ReaderLoop::Delivered(uint64_t seq) {
  // Under the ledger lock: an ack lands in the log that the next state file's ledger pairs with
  // (Checkpoint switches logs and snapshots the ledger under the same lock).
  std::lock_guard<std::mutex> lock(ledger_mu_);
  state_->Ack(seq);
  in_flight_.erase(seq);
}

bool ReaderLoop::Checkpoint() {
  ReaderState st;
  const uint64_t cp = checkpoint_ + 1;
  {
    std::lock_guard<std::mutex> lock(ledger_mu_);
    std::string error;
    if (!state_->OpenAckLog(cp, &error)) {
      if (checkpoint_failures_++ == 0) fprintf(stderr, "agentring-reader: %s\n", error.c_str());
      return false;
    }
    uint64_t seq = next_seq_;
    for (TraceBatch& b : staged_) {
      b.seq = seq++;
      in_flight_[b.seq] = b.spans.size() - b.placeholders;  // committed spans
    }
    st.in_flight.assign(in_flight_.begin(), in_flight_.end());
    st.next_batch_seq = seq;
  }
  st.checkpoint = cp;
  st.lanes = drain_->Positions();
  st.spans_unknown_after_reader_crash = spans_unknown_total_;
  assembler_->SaveState(&st.assembler);
  std::string error;
  if (!state_->Save(st, &error)) {
    // Nothing advances: the lanes keep the records (writers drop, counted, once they fill).
    std::lock_guard<std::mutex> lock(ledger_mu_);
    for (TraceBatch& b : staged_) {
      in_flight_.erase(b.seq);
      b.seq = 0;
    }
    if (checkpoint_failures_++ == 0) fprintf(stderr, "agentring-reader: %s\n", error.c_str());
    return false;
  }
  checkpoint_ = cp;
  next_seq_ = st.next_batch_seq;
  ++checkpoints_;
  state_->RemoveAckLogsBefore(cp);
  drain_->CommitPositions();
  std::vector<TraceBatch> out = std::move(staged_);
  staged_.clear();
  staged_spans_ = 0;
  for (TraceBatch& b : out) Enqueue(std::move(b));
  return true;
}

bool ReaderLoop::RestoreState(std::string* error) {
  ReaderState st;
  bool found = false;
  if (!state_->Load(&st, &found, error)) return false;
  if (!found) {
    state_->RemoveLeftovers();
    return true;
  }
  // Batches the previous reader handed to exporters without an ack may or may not have been
  // delivered: count them, never send them again.
  std::vector<uint64_t> acks = state_->ReadAcks();
  std::sort(acks.begin(), acks.end());
  for (const auto& [seq, spans] : st.in_flight)
    if (!std::binary_search(acks.begin(), acks.end(), seq)) spans_unknown_after_reader_crash_ += spans;
  spans_unknown_total_ = st.spans_unknown_after_reader_crash + spans_unknown_after_reader_crash_;
  drain_->ScanProcesses();
  drain_->RestorePositions(st.lanes);
  SegmentReader* d = drain_.get();
  if (!assembler_->LoadState(
          st.assembler, &d->pool(), &d->clock(),
          [d](uint32_t slot, uint32_t gen) { return d->LiveProcess(slot, gen); }, error))
    return false;
  checkpoint_ = st.checkpoint;
  next_seq_ = st.next_batch_seq;
  // A state without the old ledger before anything else happens (its acks are consumed).
  if (!Checkpoint()) {
    *error = "cannot write the reader state in " + opts_.state_dir;
    return false;
  }
  if (spans_unknown_after_reader_crash_ != 0)
    fprintf(stderr,
            "agentring-reader: resumed from %s; %llu spans were being exported when the previous "
            "reader died and are counted as spans_unknown_after_reader_crash\n",
            opts_.state_dir.c_str(),
            static_cast<unsigned long long>(spans_unknown_after_reader_crash_));
  return true;
}

uint16_t ReaderLoop::metrics_port() const {
  return metrics_server_ ? metrics_server_->port() : 0;
}

void ReaderLoop::PublishHealth(uint64_t now) {
  last_health_ns_ = now;
  ReaderHealth h;
  FillFromDrainStats(drain_->Collect(), &h);
  h.lanes_total = drain_->segment().lane_count();
  std::vector<std::pair<uint32_t, double>> fill;
  drain_->LaneFill(&fill);
  h.lanes_in_use = static_cast<uint32_t>(fill.size());
  bool caught_up = true;
  for (const auto& [lane, ratio] : fill) {
    h.lane_fill.push_back(ReaderHealth::LaneFill{lane, ratio});
    if (ratio > 0) caught_up = false;
  }
  // Lag: how long the reader has not been caught up (some lane held unread records at every
  // update since), at the resolution of these updates.
  if (caught_up || last_caught_up_ns_ == 0) last_caught_up_ns_ = now;
  h.reader_lag_seconds = static_cast<double>(now - last_caught_up_ns_) / 1e9;
  h.passes = drain_->passes();
  h.spans_incomplete = assembler_->stats().spans_incomplete;
  h.spans_sampled_out = spans_tail_sampled_out_.load(std::memory_order_relaxed);
  h.traces_exported = traces_processed_.load(std::memory_order_relaxed);
  for (const ExporterQueueStats& e : ExporterStats()) {
    ReaderHealth::Exporter x;
    x.name = e.exporter;
    x.spans_exported = e.spans_exported;
    x.queue_spans = e.queue_spans;
    x.export_failures = e.spans_lost_export_failed;
    x.spans_dropped_by_reason = {{"queue_full", e.spans_lost_queue_full},
                                 {"export_failed", e.spans_lost_export_failed},
                                 {"shutdown_timeout", e.spans_lost_shutdown_timeout}};
    x.events = e.exporter_counters;
    h.exporters.push_back(std::move(x));
  }
  metrics_->SetHealth(h);
}

bool ReaderLoop::export_abandoned() const {
  if (abandoned_) return true;
  for (const auto& q : exporters_)
    if (q->abandoned()) return true;
  return false;
}

std::vector<ExporterQueueStats> ReaderLoop::ExporterStats() const {
  std::vector<ExporterQueueStats> v;
  for (const auto& q : exporters_) v.push_back(q->Stats());
  return v;
}

uint64_t ReaderLoop::RunOnePass() {
  uint64_t n = drain_->Pass(assembler_.get());
  const uint64_t now = internal::NowMonotonicNs();
  assembler_->EndPass(drain_->passes(), now);
  if (metrics_ && now - last_health_ns_ >= opts_.health_interval_ms * 1000000ull)
    PublishHealth(now);
  if (state_) {
    // A checkpoint writes the whole state: only when something changed (records read, traces
    // finished), and after a failed one not again before the interval (a full disk must not
    // turn every pass into a rewrite).
    state_dirty_ |= n > 0 || !staged_.empty();
    const bool due = now - last_checkpoint_ns_ >= opts_.checkpoint_interval_ms * 1000000ull;
    if (state_dirty_ &&
        (due || (!checkpoint_failing_ && drain_->UncommittedFill() >= opts_.checkpoint_lane_fill))) {
      last_checkpoint_ns_ = now;
      checkpoint_failing_ = !Checkpoint();
      state_dirty_ = checkpoint_failing_;
    }
  }
  return n;
}

int ReaderLoop::Run(const std::atomic<bool>* stop) {
  uint64_t last_activity = internal::NowMonotonicNs();
  while (!stop->load(std::memory_order_relaxed)) {
    uint64_t n = RunOnePass();
    uint64_t now = internal::NowMonotonicNs();
    if (n > 0) {
      last_activity = now;
      // Drain in batches: re-polling a lane after every few records pulls the writer's newest
      // cache lines across cores and costs the agent (measured in BM_Writer_*). A pass that
      // found little waits briefly; lanes hold far more than this wait accumulates.
      if (n < opts_.batch_records)
        std::this_thread::sleep_for(std::chrono::microseconds(opts_.batch_wait_us));
      continue;
    }
    if (opts_.exit_when_idle_ms >= 0 && !drain_->HasLiveWriters() &&
        now - last_activity >= static_cast<uint64_t>(opts_.exit_when_idle_ms) * 1000000ull)
      break;
    std::this_thread::sleep_for(std::chrono::microseconds(opts_.idle_sleep_us));
  }
  Shutdown();
  return 0;
}

void ReaderLoop::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Drain everything, detect every dead writer, free their lanes and close their open spans.
  for (int i = 0; i < 3; ++i) {
    drain_->ForceProbe();
    RunOnePass();
    // With --state-dir, drained lanes are freed (and dead writers' processes reclaimed, their
    // open spans closed as writer_exited) only after a checkpoint.
    if (state_) Checkpoint();
  }
  assembler_->FlushAll("reader_shutdown", internal::NowUnixNs());
  if (state_) Checkpoint();  // everything is staged now: save, commit, release
  StopProcessing();
  if (state_) Checkpoint();  // the ledger is settled: the state a successor starts from  // delivers everything queued first (and flushes), within the timeout
  if (!opts_.stats_json.empty()) {
    std::string s = StatsJson() + "\n";
    int fd = open(opts_.stats_json.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size()))
      fprintf(stderr, "agentring-reader: cannot write stats to %s\n", opts_.stats_json.c_str());
    if (fd >= 0) close(fd);
  }
}

std::string ReaderLoop::StatsJson() const {
  DrainStats d = drain_->Collect();
  const AssemblerStats& a = assembler_->stats();
  uint64_t dropped_by_writers = d.writer_records_dropped_full + d.writer_records_dropped_too_big +
                                d.writer_span_starts_dropped_no_lane +
                                d.writer_span_starts_dropped_no_segment;
  std::string s = "{";
  auto add = [&s](const char* k, uint64_t v) {
    if (s.back() != '{') s += ",";
    s += "\"";
    s += k;
    s += "\":";
    s += std::to_string(v);
  };
  add("records_read", d.records_read);
  add("records_rejected", d.records_rejected);
  const std::vector<ExporterQueueStats> ex = ExporterStats();
  uint64_t export_failed = 0;
  for (const ExporterQueueStats& e : ex) export_failed += e.spans_lost_export_failed;
  // With several exporters these top-level figures are the first one's; "exporters" has each.
  add("spans_exported", ex.empty() ? 0 : ex[0].spans_exported);
  add("traces_exported", traces_processed_.load());
  add("spans_tail_sampled_out", spans_tail_sampled_out_.load());
  add("traces_tail_sampled_out", traces_tail_sampled_out_.load());
  add("late_batches", a.late_batches);
  add("records_dropped_by_writers", dropped_by_writers);
  add("spans_incomplete", a.spans_incomplete);
  add("spans_started_read", a.spans_started);
  add("span_starts_committed", d.writer_span_starts_committed);
  add("span_starts_dropped_full", d.writer_span_starts_dropped_full);
  add("span_starts_dropped_too_big", d.writer_span_starts_dropped_too_big);
  add("span_starts_dropped_no_lane", d.writer_span_starts_dropped_no_lane);
  add("span_starts_dropped_no_segment", d.writer_span_starts_dropped_no_segment);
  add("spans_head_sampled_out", d.writer_spans_head_sampled_out);
  add("records_dropped_full", d.writer_records_dropped_full);
  add("records_dropped_too_big", d.writer_records_dropped_too_big);
  add("strings_dropped", d.writer_strings_dropped);
  add("groups_dropped", d.writer_groups_dropped);
  add("records_overwritten", d.records_overwritten);
  add("span_starts_overwritten", d.span_starts_overwritten);
  s += std::string(",\"full_policy\":\"") +
       internal::FullPolicyName(drain_->segment().full_policy()) + "\"";
  add("records_orphaned", a.records_orphaned);
  add("groups_with_unresolved_strings", d.groups_with_unresolved_strings);
  add("string_tables_corrupt", d.string_tables_corrupt);
  add("string_pool_overflows", d.string_pool_overflows);
  add("duplicate_span_ids", a.duplicate_span_ids);
  add("spans_synthesized", a.spans_synthesized);
  add("starts_after_placeholder", a.starts_after_placeholder);
  add("parents_unjudged", a.parents_unjudged);
  add("trace_parts_dropped_records", a.parts_dropped_records);
  add("trace_parts_possible_loss", a.parts_possible_loss);
  add("span_starts_read", d.span_starts_read);
  add("spans_rejected", d.spans_rejected);
  add("export_failures", export_failed);
  add("export_queue_high_water_spans", queue_high_water_spans_.load());
  add("spans_lost_shutdown_timeout", spans_lost_shutdown_timeout_);
  add("spans_unknown_after_reader_crash", spans_unknown_after_reader_crash_);
  add("spans_unknown_after_reader_crash_total", spans_unknown_total_);
  add("checkpoints", checkpoints_);
  add("checkpoint_failures", checkpoint_failures_);
  add("lanes_freed", d.lanes_freed);
  add("processes_reclaimed", d.processes_reclaimed);
  add("passes", drain_->passes());
  const EnrichStats& es = enricher_->stats();
  add("spans_priced", es.spans_priced.load());
  add("spans_unpriced_model", es.spans_unpriced_model.load());
  add("conversations_stamped", es.conversations_stamped.load());
  add("hotspots_marked", es.hotspots_marked.load());
  add("redactions", redactor_->redactions());
  if (sampler_) {
    const TailSamplerStats& ts = sampler_->stats();
    add("tail_traces_kept", ts.traces_kept.load());
    add("tail_traces_dropped", ts.traces_dropped.load());
    add("tail_late_batches_kept", ts.late_batches_kept.load());
    add("tail_late_batches_dropped", ts.late_batches_dropped.load());
    add("tail_late_undecided", ts.late_undecided.load());
    add("tail_decisions_evicted", ts.decisions_evicted.load());
  }
  s += ",\"pricing_source\":\"" + enricher_->pricing_source() + "\"";
  s += ",\"records_rejected_by_reason\":{";
  for (size_t i = 0; i < d.rejected_by_reason.size(); ++i) {
    if (i) s += ",";
    s += "\"";
    s += RejectReasonName(static_cast<RejectReason>(i));
    s += "\":" + std::to_string(d.rejected_by_reason[i]);
  }
  s += "},\"spans_rejected_by_reason\":{";
  for (size_t i = 0; i < d.spans_rejected_by_reason.size(); ++i) {
    if (i) s += ",";
    s += "\"";
    s += RejectReasonName(static_cast<RejectReason>(i));
    s += "\":" + std::to_string(d.spans_rejected_by_reason[i]);
  }
  s += "}";
  // Per exporter, and the accounting invariant for each (issue 3, item 5): every committed span
  // start is exported, sampled out, rejected, lost for a counted reason, or still in flight
  // (0 after shutdown).
  // The reader side of the accounting invariant (issue 3, item 5), for the first exporter (the
  // others' figures are under "exporters"): every committed span start is exported, sampled
  // out, rejected, lost for a counted reason, or unknown after a reader crash. In flight: what
  // is still queued or open (0 after a clean shutdown, unless spans were committed while an
  // earlier reader ran: they were accounted by that one).
  {
    const uint64_t committed = d.writer_span_starts_committed;
    const ExporterQueueStats none;
    const ExporterQueueStats& e0 = ex.empty() ? none : ex[0];
    const uint64_t rejected = d.spans_rejected + a.duplicate_span_ids + a.starts_after_placeholder;
    const uint64_t lost_shutdown = e0.spans_lost_shutdown_timeout + spans_lost_shutdown_timeout_;
    const uint64_t accounted = e0.spans_exported + spans_tail_sampled_out_.load() + rejected +
                               d.span_starts_overwritten + e0.spans_lost_queue_full +
                               e0.spans_lost_export_failed + lost_shutdown +
                               spans_unknown_after_reader_crash_;
    s += ",\"accounting\":{";
    add("span_starts_committed", committed);
    add("spans_exported", e0.spans_exported);
    add("spans_tail_sampled_out", spans_tail_sampled_out_.load());
    add("spans_rejected", rejected);
    s += ",\"spans_lost\":{";
    add("overwritten", d.span_starts_overwritten);
    add("exporter_queue_full", e0.spans_lost_queue_full);
    add("export_failed", e0.spans_lost_export_failed);
    add("shutdown_timeout", lost_shutdown);
    s += "}";
    add("spans_unknown_after_reader_crash", spans_unknown_after_reader_crash_);
    s += ",\"spans_in_flight\":" +
         std::to_string(static_cast<int64_t>(committed) - static_cast<int64_t>(accounted));
    s += std::string(",\"balanced\":") + (committed == accounted ? "true" : "false") + "}";
  }
  s += ",\"exporters\":{";
  for (size_t i = 0; i < ex.size(); ++i) {
    const ExporterQueueStats& e = ex[i];
    if (i) s += ",";
    s += "\"" + e.exporter + "\":{";
    add("spans_exported", e.spans_exported);
    add("spans_lost_queue_full", e.spans_lost_queue_full);
    add("spans_lost_export_failed", e.spans_lost_export_failed);
    add("spans_lost_shutdown_timeout", e.spans_lost_shutdown_timeout);
    add("export_calls", e.export_calls);
    add("queue_spans", e.queue_spans);
    add("queue_high_water_spans", e.queue_high_water_spans);
    for (const auto& [k, v] : e.exporter_counters) add(k.c_str(), v);
    s += "}";
  }
  s += "}}";
  return s;
}

}  // namespace agentring::reader
