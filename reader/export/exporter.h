// The exporter interface: the last stage of the reader pipeline. An exporter receives whole
// decided traces (and late parts of traces already sent) and delivers them somewhere.
#ifndef AGENTRING_READER_EXPORT_EXPORTER_H_
#define AGENTRING_READER_EXPORT_EXPORTER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reader/model/span.h"

namespace agentring::reader {

class Exporter {
 public:
  virtual ~Exporter() = default;
  virtual std::string_view name() const = 0;
  // Delivers one trace batch. Returns false when it could not be delivered (the caller counts
  // the batch's spans as lost with reason export_failed). Called from the reader's pipeline
  // thread only.
  virtual bool Export(const TraceBatch& batch) = 0;
  // Delivers several traces at once (a network exporter sends them as one request). Returns the
  // number of spans that could not be delivered; the caller counts them as lost with reason
  // export_failed. The default calls Export() per trace. Called from this exporter's own queue
  // thread only.
  virtual uint64_t ExportBatch(std::span<const TraceBatch* const> traces) {
    uint64_t failed = 0;
    for (const TraceBatch* t : traces)
      if (!Export(*t)) failed += t->spans.size();
    return failed;
  }
  // Delivers anything buffered. Called at shutdown and when the reader goes idle.
  virtual void Flush() {}
  // Stops waiting: may be called from another thread while Export/ExportBatch blocks (retry
  // backoff, a slow connection); the blocked call must then return promptly, failing what it
  // has not delivered. Called once, at shutdown, after the exporter's queue timed out.
  virtual void Shutdown() {}
  // Exporter-specific counters for the stats file and /metrics, e.g. {"retries", 3}. Called from
  // any thread while exports run: keep the counters atomic.
  virtual void AppendCounters(std::vector<std::pair<std::string, uint64_t>>* out) const {
    (void)out;
  }
};

// Where an exporter writes: `--out PATH` truncates PATH; "-" is standard output.
// Returns nullptr and sets *error on failure (one line, names the path and the reason).
class OutputFile;
// `resume` (a reader restarted from its --state-dir): PATH is not truncated; a torn last line
// (the previous reader killed inside a write; its batch was never acknowledged) is cut off and
// writing continues at the end, so what the previous reader delivered stays.
std::unique_ptr<OutputFile> OpenOutput(const std::string& path, std::string* error,
                                       bool resume = false);

// `--exporter tree`: the console tree (seed 000 style) for humans.
std::unique_ptr<Exporter> MakeTreeExporter(std::unique_ptr<OutputFile> out);
// `--exporter jsonl`: one OTLP/JSON ExportTraceServiceRequest per line, one write per line.
std::unique_ptr<Exporter> MakeJsonlExporter(std::unique_ptr<OutputFile> out);
// `--exporter chrome`: the Trace Event Format (JSON Array Format) for Perfetto UI,
// chrome://tracing, DevTools and speedscope; one write per batch, "]" written on destruction.
std::unique_ptr<Exporter> MakeChromeExporter(std::unique_ptr<OutputFile> out);

// The exporters that write into `--out PATH`: "tree", "jsonl", "chrome".
bool IsFileExporter(std::string_view type);
// Opens PATH ("-" = stdout) for the file exporter `type`, rotating it when rotation.max_bytes is
// set (jsonl only), and makes the exporter. Returns nullptr with a one-line *error for an unknown
// type, rotation asked of another type, or an output that cannot be opened (OpenOutput,
// OpenRotatingOutput). Thread-safe (no shared state).
struct RotationPolicy;
std::unique_ptr<Exporter> MakeFileExporter(std::string_view type, const std::string& path,
                                           const RotationPolicy& rotation, std::string* error,
                                           bool resume = false);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_EXPORTER_H_
