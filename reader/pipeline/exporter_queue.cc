// ExporterQueue: a bounded queue and batcher in front of one exporter (see exporter_queue.h).
#include "reader/pipeline/exporter_queue.h"

#include <chrono>
#include <cstdio>

namespace agentring::reader {
namespace {

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

ExporterQueue::ExporterQueue(std::unique_ptr<Exporter> exporter, const ExporterQueueOptions& opts)
    : exporter_(std::move(exporter)), name_(exporter_->name()), opts_(opts) {
  stats_.exporter = name_;
  if (!opts_.synchronous) thread_ = std::thread([this] { Run(); });
}

ExporterQueue::~ExporterQueue() {
  if (!abandoned_) Stop(0);
}

void ExporterQueue::Push(std::shared_ptr<const TraceBatch> trace) {
  const uint64_t n = trace->spans.size();
  // Losses are counted in committed spans (synthesized placeholders are not).
  const uint64_t committed = n - trace->placeholders;
  if (opts_.synchronous) {
    std::vector<std::shared_ptr<const TraceBatch>> one{std::move(trace)};
    Deliver(one, n);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (opts_.block_when_full) {
    // A trace larger than the whole queue still goes in alone.
    space_cv_.wait(lock, [&] {
      return queued_spans_ + n <= opts_.max_queue_spans || queue_.empty() || stopping_;
    });
  } else if (queued_spans_ + n > opts_.max_queue_spans && !queue_.empty()) {
    stats_.spans_lost_queue_full += committed;
    return;
  }
  if (stopping_ && done_) {  // nobody will deliver it
    stats_.spans_lost_shutdown_timeout += committed;
    return;
  }
  const bool was_empty = queue_.empty();
  if (was_empty) oldest_enqueued_ns_ = NowNs();
  queued_spans_ += n;
  if (queued_spans_ > stats_.queue_high_water_spans) stats_.queue_high_water_spans = queued_spans_;
  queue_.push_back(std::move(trace));
  // The thread sleeps without a deadline while the queue is empty: wake it to start the
  // schedule delay, and again once a batch is full.
  if (was_empty || queued_spans_ >= opts_.max_batch_spans) cv_.notify_one();
}

void ExporterQueue::Deliver(std::vector<std::shared_ptr<const TraceBatch>>& batch,
                            uint64_t spans) {
  std::vector<const TraceBatch*> ptrs;
  ptrs.reserve(batch.size());
  uint64_t placeholders = 0;
  for (const auto& t : batch) {
    ptrs.push_back(t.get());
    placeholders += t->placeholders;
  }
  uint64_t failed = 0;
  if (opts_.per_trace) {
    for (size_t i = 0; i < batch.size(); ++i) {
      failed += exporter_->ExportBatch({&ptrs[i], 1});
      batch[i].reset();  // released (and acknowledged) as soon as it is written
    }
  } else {
    failed = exporter_->ExportBatch(ptrs);
  }
  batch.clear();  // release the traces before taking the lock
  // In committed spans: a failure takes placeholders with it first (at most as many as it lost).
  const uint64_t committed = spans - placeholders;
  failed = failed > placeholders ? failed - placeholders : 0;
  if (failed > committed) failed = committed;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.export_calls++;
  stats_.spans_lost_export_failed += failed;
  stats_.spans_exported += committed - failed;
}

void ExporterQueue::Run() {
  std::vector<std::shared_ptr<const TraceBatch>> batch;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Wait for a full batch, the schedule delay of the oldest trace, a flush, or stop.
    while (true) {
      if (stopping_ || flush_requests_ != flushes_done_ || queued_spans_ >= opts_.max_batch_spans)
        break;
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const uint64_t due = oldest_enqueued_ns_ + opts_.schedule_delay_ms * 1000000ull;
      const uint64_t now = NowNs();
      if (now >= due) break;
      cv_.wait_for(lock, std::chrono::nanoseconds(due - now));
    }
    if (queue_.empty()) {
      if (flush_requests_ != flushes_done_) {
        const uint64_t asked = flush_requests_;
        busy_ = true;
        lock.unlock();
        exporter_->Flush();
        lock.lock();
        busy_ = false;
        flushes_done_ = asked;
        idle_cv_.notify_all();
        continue;
      }
      if (stopping_) break;
      continue;
    }
    uint64_t spans = 0;
    while (!queue_.empty() && (batch.empty() || spans + queue_.front()->spans.size() <=
                                                    opts_.max_batch_spans)) {
      spans += queue_.front()->spans.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_spans_ -= spans;
    if (!queue_.empty()) oldest_enqueued_ns_ = NowNs();
    space_cv_.notify_all();
    busy_ = true;
    lock.unlock();
    Deliver(batch, spans);
    lock.lock();
    busy_ = false;
  }
  lock.unlock();
  exporter_->Flush();
  lock.lock();
  done_ = true;
  idle_cv_.notify_all();
}

bool ExporterQueue::ForceFlush(uint64_t timeout_ms) {
  if (opts_.synchronous) {
    exporter_->Flush();
    return true;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (done_) return true;
  const uint64_t ticket = ++flush_requests_;
  cv_.notify_one();
  return idle_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    return done_ || (flushes_done_ >= ticket && queue_.empty() && !busy_);
  });
}

void ExporterQueue::Stop(uint64_t timeout_ms) {
  if (opts_.synchronous) {
    if (!done_) exporter_->Flush();
    done_ = true;
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  cv_.notify_all();
  space_cv_.notify_all();
  if (!idle_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return done_; })) {
    // Give up on what is queued, and ask the exporter to abandon the call it is blocked in.
    for (const auto& t : queue_) stats_.spans_lost_shutdown_timeout += t->spans.size() - t->placeholders;
    fprintf(stderr,
            "agentring-reader: exporter %s did not finish within %llu ms; %llu spans not "
            "delivered\n",
            name_.c_str(), static_cast<unsigned long long>(timeout_ms),
            static_cast<unsigned long long>(queued_spans_));
    queue_.clear();
    queued_spans_ = 0;
    lock.unlock();
    exporter_->Shutdown();
    lock.lock();
    if (!idle_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return done_; })) {
      abandoned_ = true;
      thread_.detach();  // stuck in a write(): process exit ends it
      return;
    }
  }
  lock.unlock();
  thread_.join();
}

ExporterQueueStats ExporterQueue::Stats() const {
  ExporterQueueStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
    s.queue_spans = queued_spans_;
  }
  exporter_->AppendCounters(&s.exporter_counters);
  return s;
}

}  // namespace agentring::reader
