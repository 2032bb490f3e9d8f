// The reader's main loop: owns the segment, the drain and assemble stages and the exporters;
// runs passes until stopped; shuts down by draining, closing what is left open, exporting every
// trace and writing the stats file.
#ifndef AGENTRING_READER_PIPELINE_READER_LOOP_H_
#define AGENTRING_READER_PIPELINE_READER_LOOP_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "reader/assemble/assembler.h"
#include "reader/drain/segment_reader.h"
#include "reader/enrich/enricher.h"
#include "reader/enrich/redactor.h"
#include "reader/export/exporter.h"
#include "reader/export/otlp_http.h"

namespace agentring::reader {

struct ExporterSpec {
  std::string type;  // "tree" | "jsonl" | "otlp"
  std::string out;   // "" = the exporter's default ("-")
};

// Every tunable of the reader; flags map onto these one to one.
struct ReaderOptions {
  std::string segment = "agentring";
  bool create = false;
  abi::Geometry geometry;
  std::vector<ExporterSpec> exporters;
  std::string stats_json;
  int64_t exit_when_idle_ms = -1;  // < 0: run until signalled
  uint64_t shutdown_timeout_ms = 30000;
  uint32_t idle_sleep_us = 1000;   // sleep between passes that found nothing
  uint32_t batch_records = 1024;   // a pass that drained fewer records than this …
  uint32_t batch_wait_us = 100;    // … waits this long before the next one
  // Spans queued between the pipeline thread and the export thread. When full, the pipeline
  // waits (back-pressure): the exporters here are local files, which cannot be "down".
  uint64_t export_queue_spans = 262144;
  AssemblerOptions assembler;
  std::string pricing_path;        // --pricing: "" = the shipped table (see Enricher)
  std::string redact_rules_path;   // --redact-rules: "" = the default rules only
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
  // Shutdown without the loop (tests): drain, close, export, write stats.
  void Shutdown();

  std::string StatsJson() const;
  SegmentReader& drain() { return *drain_; }
  const TraceAssembler& assembler() const { return *assembler_; }
  uint64_t export_failures() const { return export_failures_.load(); }
  // True when shutdown gave up on a stuck exporter: the process must exit without destroying
  // this object (the abandoned export thread still uses it).
  bool export_abandoned() const { return spans_lost_shutdown_timeout_ != 0 || abandoned_; }

 private:
  ReaderLoop() = default;
  void Enqueue(TraceBatch&& batch);
  void ExportThread();
  void StopExportThread();

  ReaderOptions opts_;
  std::unique_ptr<SegmentReader> drain_;
  std::unique_ptr<TraceAssembler> assembler_;
  std::unique_ptr<Enricher> enricher_;   // derive (cost, conversation id, roll-ups) …
  std::unique_ptr<Redactor> redactor_;   // … then redact, on the export thread, before export
  std::vector<std::unique_ptr<Exporter>> exporters_;
  // Export thread and its queue. The pipeline thread drains and assembles; the export thread
  // encodes and writes, so the two use both cores.
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
  std::atomic<uint64_t> export_failures_{0};
  std::atomic<uint64_t> spans_exported_{0};
  std::atomic<uint64_t> traces_exported_{0};
  bool shut_down_ = false;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_PIPELINE_READER_LOOP_H_
