// One exporter behind its own bounded queue, batcher and thread, so a slow or dead backend never
// stalls draining, the other exporters, or the writers. Every span that does not reach the
// exporter is counted by reason.
#ifndef AGENTRING_READER_PIPELINE_EXPORTER_QUEUE_H_
#define AGENTRING_READER_PIPELINE_EXPORTER_QUEUE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "reader/export/exporter.h"
#include "reader/model/span.h"

namespace agentring::reader {

struct ExporterQueueOptions {
  uint64_t max_queue_spans = 131072;  // spans waiting for this exporter
  uint64_t max_batch_spans = 4096;    // spans handed to one ExportBatch call (one request)
  uint64_t schedule_delay_ms = 200;   // a partial batch waits at most this long
  // Full queue: drop the newest trace and count it (network exporters: a dead backend must not
  // stall the reader), or wait for room (local files, which cannot be "down").
  bool block_when_full = false;
  // No thread: Push exports at once on the caller's thread (benchmarks, tests).
  bool synchronous = false;
  // Hand the exporter one trace at a time and release each as soon as it is written (file
  // exporters: one write per trace anyway). A trace's release is its acknowledgement in the
  // reader's ledger (--state-dir), so a reader killed in the middle of a batch has acknowledged
  // every trace already in the file, not none of them.
  bool per_trace = false;
};

// Cumulative counters of one exporter (spans; a trace part counts all its spans).
struct ExporterQueueStats {
  std::string exporter;
  uint64_t spans_exported = 0;
  uint64_t spans_lost_queue_full = 0;
  uint64_t spans_lost_export_failed = 0;
  uint64_t spans_lost_shutdown_timeout = 0;
  uint64_t export_calls = 0;
  uint64_t queue_spans = 0;            // waiting now
  uint64_t queue_high_water_spans = 0;
  std::vector<std::pair<std::string, uint64_t>> exporter_counters;  // Exporter::AppendCounters
};

class ExporterQueue {
 public:
  ExporterQueue(std::unique_ptr<Exporter> exporter, const ExporterQueueOptions& opts);
  ~ExporterQueue();  // Stop(0) if still running
  ExporterQueue(const ExporterQueue&) = delete;
  ExporterQueue& operator=(const ExporterQueue&) = delete;

  // Queues a trace (or late part). Never blocks unless block_when_full; a trace that does not
  // fit is dropped and counted (spans_lost_queue_full). The queue keeps its reference until the
  // exporter is done with it, so a batch shared by several exporters is freed by the last one.
  void Push(std::shared_ptr<const TraceBatch> trace);
  // Waits until everything queued was handed to the exporter and it flushed; false on timeout.
  bool ForceFlush(uint64_t timeout_ms);
  // Delivers what is queued, within the timeout; then stops the thread. On timeout it tells the
  // exporter to give up (Exporter::Shutdown), counts what is left as spans_lost_shutdown_timeout,
  // and, if the exporter still does not return, abandons its thread (abandoned() = true: the
  // process must then exit without destroying this object).
  void Stop(uint64_t timeout_ms);
  bool abandoned() const { return abandoned_; }

  std::string_view name() const { return name_; }
  ExporterQueueStats Stats() const;

 private:
  void Run();
  void Deliver(std::vector<std::shared_ptr<const TraceBatch>>& batch, uint64_t spans);

  std::unique_ptr<Exporter> exporter_;
  const std::string name_;
  const ExporterQueueOptions opts_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;        // work arrived, flush asked, or stopping
  std::condition_variable space_cv_;  // room in the queue (block_when_full)
  std::condition_variable idle_cv_;   // queue empty and the exporter flushed; or thread done
  std::deque<std::shared_ptr<const TraceBatch>> queue_;
  uint64_t queued_spans_ = 0;
  uint64_t oldest_enqueued_ns_ = 0;   // monotonic time the oldest queued trace arrived
  bool busy_ = false;                 // the thread is inside the exporter
  uint64_t flush_requests_ = 0;       // ForceFlush asks; the thread answers with flushes_done_
  uint64_t flushes_done_ = 0;
  bool stopping_ = false;
  bool done_ = false;
  bool abandoned_ = false;
  ExporterQueueStats stats_;          // guarded by mu_
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_PIPELINE_EXPORTER_QUEUE_H_
