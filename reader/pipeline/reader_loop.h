// The reader's main loop: owns the segment, the drain and assemble stages and the exporters;
// runs passes until stopped; shuts down by draining, closing what is left open, exporting every
// trace and writing the stats file.
#ifndef AGENTRING_READER_PIPELINE_READER_LOOP_H_
#define AGENTRING_READER_PIPELINE_READER_LOOP_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <string>
#include <vector>

#include "reader/assemble/assembler.h"
#include "reader/drain/segment_reader.h"
#include "reader/enrich/enricher.h"
#include "reader/enrich/redactor.h"
#include "reader/export/exporter.h"
#include "reader/pipeline/exporter_queue.h"
#include "reader/pipeline/processor.h"
#include "reader/export/otlp_http.h"
#include "reader/metrics/metrics_server.h"
#include "reader/metrics/reader_metrics.h"
#include "reader/pipeline/state_file.h"
#include "reader/sample/tail_sampler.h"

namespace agentring::reader {

struct ExporterSpec {
  std::string type;  // "tree" | "jsonl" | "chrome" | "otlp"
  std::string out;   // "" = the exporter's default ("-")
  // Its queue. File exporters wait for room when it is full (a local file cannot be "down");
  // network exporters drop and count (a dead backend must not stall the reader).
  ExporterQueueOptions queue;
  uint64_t out_max_bytes = 0;  // --out-max-bytes: rotate `out` at this size (0 = never; jsonl)
  uint32_t out_max_files = 0;  // --out-max-files: files kept, `out` included (0 = kDefaultRotationMaxFiles)
};

// Every tunable of the reader; flags map onto these one to one.
struct ReaderOptions {
  std::string segment = "agentring";
  bool create = false;
  abi::Geometry geometry;
  uint32_t full_policy = abi::kFullDrop;  // --full-policy (a created segment)
  bool full_policy_set = false;           // given explicitly: an existing segment must match
  int64_t group_gid = -1;                 // --group: a created segment is 0660 and this group's
  bool allow_foreign_owner = false;       // --allow-foreign-owner
  std::vector<ExporterSpec> exporters;
  std::string stats_json;
  int64_t exit_when_idle_ms = -1;  // < 0: run until signalled
  uint64_t shutdown_timeout_ms = 30000;
  uint32_t idle_sleep_us = 1000;   // sleep between passes that found nothing
  uint32_t batch_records = 1024;   // a pass that drained fewer records than this …
  uint32_t batch_wait_us = 100;    // … waits this long before the next one
  // Spans queued between the pipeline thread and the processing thread. When full, the pipeline
  // waits (back-pressure): processing is local CPU work; the exporters' own queues absorb
  // slow backends.
  uint64_t export_queue_spans = 262144;
  // One thread does everything, exporters included (benchmarks; tests).
  bool synchronous = false;
  // Crash-safe state (state_file.h): "" = none (a killed reader loses what it held).
  std::string state_dir;
  uint64_t checkpoint_interval_ms = 200;  // the longest a finished trace waits for export …
  double checkpoint_lane_fill = 0.25;     // … or less, once a lane holds this much read data
  AssemblerOptions assembler;
  std::string pricing_path;        // --pricing: "" = the shipped table (see Enricher)
  std::string redact_rules_path;   // --redact-rules: "" = the default rules only
  // Prometheus /metrics: port < 0 = off, 0 = an ephemeral port (printed on stderr).
  int32_t metrics_port = -1;
  std::string metrics_bind = "127.0.0.1";
  uint64_t health_interval_ms = 250;  // how often the ring-health gauges are refreshed
  OtlpHttpOptions otlp;            // the otlp exporter's (environment, then --otlp-* flags)
};

class ReaderLoop {
 public:
  // Opens or creates the segment, takes the reader lock, opens every exporter's output.
  // Returns nullptr with a one-line *error on failure.
  static std::unique_ptr<ReaderLoop> Create(const ReaderOptions& opts, std::string* error);
  ~ReaderLoop();

  // Runs passes until *stop is set or the idle condition holds, then shuts down. Returns 0.
  int Run(const std::atomic<bool>* stop);
  // One pass (drain + assemble + export). Returns records drained. For tests and benchmarks.
  uint64_t RunOnePass();
  // Adds an exporter of the caller's own behind its own queue (before Run). In synchronous mode
  // it runs on the caller's thread.
  void AddExporter(std::unique_ptr<Exporter> e, ExporterQueueOptions q = {}) {
    q.synchronous = opts_.synchronous;
    exporters_.push_back(std::make_unique<ExporterQueue>(std::move(e), q));
  }
  // Adds a processor (before Run): it observes every trace, kept or not (processor.h).
  void AddProcessor(std::unique_ptr<TraceProcessor> p) { processors_.push_back(std::move(p)); }
  // Tail sampling: decides per trace (late parts follow the trace's decision). Before Run.
  void SetTailSampler(std::unique_ptr<TailSampler> s) { sampler_ = std::move(s); }
  // Shutdown without the loop (tests): drain, close, export, write stats.
  void Shutdown();

  std::string StatsJson() const;
  SegmentReader& drain() { return *drain_; }
  const TraceAssembler& assembler() const { return *assembler_; }
  // The /metrics port (the ephemeral one when asked for 0); 0 when metrics are off.
  uint16_t metrics_port() const;
  // Per exporter, cumulative.
  std::vector<ExporterQueueStats> ExporterStats() const;
  // True when shutdown gave up on a stuck exporter: the process must exit without destroying
  // this object (the abandoned threads still use it).
  bool export_abandoned() const;

 private:
  ReaderLoop() = default;
  void Enqueue(TraceBatch&& batch);
  void ProcessThread();
  // Derive, observe, sample, redact, fan out to the exporter queues.
  void Process(TraceBatch&& batch);
  // Stops the processing thread (after it processed everything queued, within the timeout)
  // and then every exporter queue (sharing what is left of the timeout).
  void StopProcessing();
  // --state-dir: saves state, commits lane positions, releases staged traces (state_file.h).
  bool Checkpoint();
  bool RestoreState(std::string* error);
  void Delivered(uint64_t seq);  // every exporter is done with batch `seq`
  void Stage(TraceBatch&& batch);

  ReaderOptions opts_;
  std::unique_ptr<SegmentReader> drain_;
  std::unique_ptr<TraceAssembler> assembler_;
  std::unique_ptr<Enricher> enricher_;   // derive (cost, conversation id, roll-ups) …
  std::unique_ptr<Redactor> redactor_;   // … then redact, on the export thread, before export
  std::vector<std::unique_ptr<TraceProcessor>> processors_;
  std::unique_ptr<TailSampler> sampler_;
  std::shared_ptr<ReaderMetrics> metrics_;
  std::unique_ptr<MetricsServer> metrics_server_;
  uint64_t last_health_ns_ = 0;
  uint64_t last_caught_up_ns_ = 0;  // the last health update that found every lane read
  void PublishHealth(uint64_t now_mono_ns);
  std::vector<std::unique_ptr<ExporterQueue>> exporters_;
  // The processing thread and its queue. The pipeline thread drains and assembles; the
  // processing thread derives, samples and redacts; each exporter encodes and writes on its own
  // thread.
  std::thread export_thread_;
  std::mutex mu_;
  std::condition_variable cv_;       // queue not empty, or stopping
  std::condition_variable space_cv_; // queue has room
  std::condition_variable done_cv_;  // the export thread delivered everything and stopped
  bool export_done_ = false;
  uint64_t spans_lost_shutdown_timeout_ = 0;
  bool abandoned_ = false;
  std::deque<TraceBatch> queue_;
  uint64_t queued_spans_ = 0;
  std::atomic<uint64_t> queue_high_water_spans_{0};
  bool stopping_ = false;
  std::atomic<uint64_t> traces_processed_{0};      // first parts of traces
  std::atomic<uint64_t> spans_tail_sampled_out_{0};
  std::atomic<uint64_t> traces_tail_sampled_out_{0};
  bool shut_down_ = false;
  // --state-dir.
  std::unique_ptr<StateDir> state_;
  std::vector<TraceBatch> staged_;         // finished, waiting for the next checkpoint
  uint64_t staged_spans_ = 0;
  uint64_t checkpoint_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t last_checkpoint_ns_ = 0;
  uint64_t checkpoints_ = 0;
  uint64_t checkpoint_failures_ = 0;
  uint64_t spans_unknown_after_reader_crash_ = 0;  // found at this start
  uint64_t spans_unknown_total_ = 0;       // over every restart of this state directory
  bool state_dirty_ = true;         // records read or traces staged since the last checkpoint
  bool checkpoint_failing_ = false; // the last checkpoint failed: retry only at the interval
  std::mutex ledger_mu_;                   // in_flight_ and the ack log switch
  std::unordered_map<uint64_t, uint64_t> in_flight_;  // batch seq -> spans
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_PIPELINE_READER_LOOP_H_
