// The `--exporter jsonl` exporter: one OTLP/JSON ExportTraceServiceRequest per line, the file
// format of the Collector's file exporter, so `otelcol` (otlpjsonfile receiver), `jq` and
// `agentring tree FILE` can all read what the reader wrote.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "reader/export/exporter.h"
#include "reader/export/otlp_json.h"
#include "reader/export/output_file.h"

namespace agentring::reader {
namespace {

class JsonlExporter final : public Exporter {
 public:
  explicit JsonlExporter(std::unique_ptr<OutputFile> out) : out_(std::move(out)) {}

  std::string_view name() const override { return "jsonl"; }

  // One write() per line: a reader killed mid-run leaves only whole lines behind (up to the
  // last one), and lines from concurrent writers to one pipe never interleave below PIPE_BUF.
  bool Export(const TraceBatch& batch) override {
    line_.clear();  // keeps capacity: the buffer is reused across batches
    AppendOtlpJson(batch, &line_);
    line_.push_back('\n');
    return out_->WriteWhole(line_);
  }

  // With --out-max-bytes: rotations done and failed (see OutputFile::Rotate).
  void AppendCounters(std::vector<std::pair<std::string, uint64_t>>* out) const override {
    if (!out_->rotating()) return;
    out->emplace_back("rotations", out_->rotations());
    out->emplace_back("rotation_failures", out_->rotation_failures());
  }

 private:
  std::unique_ptr<OutputFile> out_;
  std::string line_;
};

}  // namespace

std::unique_ptr<Exporter> MakeJsonlExporter(std::unique_ptr<OutputFile> out) {
  if (!out) return nullptr;
  return std::make_unique<JsonlExporter>(std::move(out));
}

}  // namespace agentring::reader
