// ReaderLoop: the reader pipeline's driver (see reader_loop.h).
#include "reader/pipeline/reader_loop.h"

#include <fcntl.h>
#include <unistd.h>

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
    bool created = false;
    seg = internal::SegmentMap::Create(opts.segment, co, &created, &st, error);
  } else {
    seg = internal::SegmentMap::Open(opts.segment, &st, error);
    if (!seg && st == internal::OpenStatus::kMissing)
      *error = "no segment named '" + opts.segment + "'; start the reader with --create to create it";
  }
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
  for (const ExporterSpec& spec : opts.exporters) {
    if (spec.type == "otlp") {  // a network exporter: no --out
      auto otlp = MakeOtlpHttpExporter(opts.otlp, error);
      if (!otlp) return nullptr;
      loop->exporters_.push_back(std::move(otlp));
      continue;
    }
    std::string path = spec.out.empty() ? "-" : spec.out;
    auto out = OpenOutput(path, error);
    if (!out) return nullptr;
    if (spec.type == "tree") {
      loop->exporters_.push_back(MakeTreeExporter(std::move(out)));
    } else if (spec.type == "jsonl") {
      loop->exporters_.push_back(MakeJsonlExporter(std::move(out)));
    } else {
      *error = "unknown exporter '" + spec.type + "' (expected tree, jsonl or otlp)";
      return nullptr;
    }
  }
  Enricher::Options eo;
  eo.pricing_path = opts.pricing_path;
  loop->enricher_ = Enricher::Create(eo, error);
  if (!loop->enricher_) return nullptr;
  loop->redactor_ = Redactor::Create(opts.redact_rules_path, error);
  if (!loop->redactor_) return nullptr;
  loop->drain_ = std::make_unique<SegmentReader>(std::move(seg));
  ReaderLoop* self = loop.get();
  loop->assembler_ = std::make_unique<TraceAssembler>(
      opts.assembler, [self](TraceBatch&& b) { self->Enqueue(std::move(b)); });
  loop->export_thread_ = std::thread([self] { self->ExportThread(); });
  return loop;
}

ReaderLoop::~ReaderLoop() { StopExportThread(); }

void ReaderLoop::Enqueue(TraceBatch&& batch) {
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

void ReaderLoop::ExportThread() {
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
    enricher_->Process(&b);
    redactor_->Process(&b);  // last: nothing leaves the machine unredacted
    for (auto& e : exporters_) {
      if (!e->Export(b)) export_failures_.fetch_add(1, std::memory_order_relaxed);
    }
    spans_exported_.fetch_add(n, std::memory_order_relaxed);
    if (!b.late) traces_exported_.fetch_add(1, std::memory_order_relaxed);
    b = TraceBatch();  // free the spans outside the lock
    lock.lock();
    queued_spans_ -= n;
    if (queue_.empty()) {
      lock.unlock();
      for (auto& e : exporters_) e->Flush();
      lock.lock();
    }
    space_cv_.notify_all();
  }
}

void ReaderLoop::StopExportThread() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!export_thread_.joinable()) return;
  stopping_ = true;
  cv_.notify_all();
  space_cv_.notify_all();
  // Bounded: an exporter stuck on a stalled pipe must not hang the reader's exit. What is still
  // queued then is counted as lost (export_shutdown_timeout).
  bool done = done_cv_.wait_for(lock, std::chrono::milliseconds(opts_.shutdown_timeout_ms),
                                [this] { return export_done_; });
  if (!done) {
    spans_lost_shutdown_timeout_ = queued_spans_;
    fprintf(stderr,
            "agentring-reader: exporters did not finish within %llu ms; %llu spans not delivered\n",
            static_cast<unsigned long long>(opts_.shutdown_timeout_ms),
            static_cast<unsigned long long>(queued_spans_));
    abandoned_ = true;
    export_thread_.detach();  // it may still be inside write(); process exit ends it
    return;
  }
  lock.unlock();
  export_thread_.join();
}

uint64_t ReaderLoop::RunOnePass() {
  uint64_t n = drain_->Pass(assembler_.get());
  assembler_->EndPass(drain_->passes(), internal::NowMonotonicNs());
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
  }
  assembler_->FlushAll("reader_shutdown", internal::NowUnixNs());
  StopExportThread();  // delivers everything queued first (and flushes), within the timeout
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
    if (s.size() > 1) s += ",";
    s += "\"";
    s += k;
    s += "\":";
    s += std::to_string(v);
  };
  add("records_read", d.records_read);
  add("records_rejected", d.records_rejected);
  add("spans_exported", spans_exported_.load());
  add("traces_exported", traces_exported_.load());
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
  add("records_orphaned", a.records_orphaned);
  add("groups_with_unresolved_strings", d.groups_with_unresolved_strings);
  add("string_tables_corrupt", d.string_tables_corrupt);
  add("string_pool_overflows", d.string_pool_overflows);
  add("duplicate_span_ids", a.duplicate_span_ids);
  add("export_failures", export_failures_.load());
  add("export_queue_high_water_spans", queue_high_water_spans_.load());
  add("spans_lost_shutdown_timeout", spans_lost_shutdown_timeout_);
  add("lanes_freed", d.lanes_freed);
  add("processes_reclaimed", d.processes_reclaimed);
  add("passes", drain_->passes());
  const EnrichStats& es = enricher_->stats();
  add("spans_priced", es.spans_priced.load());
  add("spans_unpriced_model", es.spans_unpriced_model.load());
  add("conversations_stamped", es.conversations_stamped.load());
  add("hotspots_marked", es.hotspots_marked.load());
  add("redactions", redactor_->redactions());
  s += ",\"pricing_source\":\"" + enricher_->pricing_source() + "\"";
  // Each exporter's own counters: "exporters":{"otlp":{"requests":…,"spans_failed":…}}.
  s += ",\"exporters\":{";
  bool first_exporter = true;
  for (size_t i = 0; i < exporters_.size(); ++i) {
    std::vector<std::pair<std::string, uint64_t>> counters;
    exporters_[i]->AppendCounters(&counters);
    if (counters.empty()) continue;  // the file exporters have none
    if (!first_exporter) s += ",";
    first_exporter = false;
    s += "\"" + std::string(exporters_[i]->name()) + "\":{";
    for (size_t c = 0; c < counters.size(); ++c)
      s += (c ? ",\"" : "\"") + counters[c].first + "\":" + std::to_string(counters[c].second);
    s += "}";
  }
  s += "}";
  s += ",\"records_rejected_by_reason\":{";
  for (size_t i = 0; i < d.rejected_by_reason.size(); ++i) {
    if (i) s += ",";
    s += "\"";
    s += RejectReasonName(static_cast<RejectReason>(i));
    s += "\":" + std::to_string(d.rejected_by_reason[i]);
  }
  s += "}}";
  return s;
}

}  // namespace agentring::reader
