// The reader's main loop: owns the segment, the drain and assemble stages and the exporters;
// runs passes until stopped; shuts down by draining, closing what is left open, exporting every
// trace and writing the stats file.
#ifndef AGENTRING_READER_PIPELINE_READER_LOOP_H_
#define AGENTRING_READER_PIPELINE_READER_LOOP_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "reader/assemble/assembler.h"
#include "reader/drain/segment_reader.h"
#include "reader/export/exporter.h"

namespace agentring::reader {

struct ExporterSpec {
  std::string type;  // "tree" | "jsonl"
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
  AssemblerOptions assembler;
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
  uint64_t export_failures() const { return export_failures_; }

 private:
  ReaderLoop() = default;
  void Export(TraceBatch&& batch);

  ReaderOptions opts_;
  std::unique_ptr<SegmentReader> drain_;
  std::unique_ptr<TraceAssembler> assembler_;
  std::vector<std::unique_ptr<Exporter>> exporters_;
  uint64_t export_failures_ = 0;
  uint64_t spans_exported_ = 0;
  uint64_t traces_exported_ = 0;
  bool shut_down_ = false;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_PIPELINE_READER_LOOP_H_
