// The exporter interface: the last stage of the reader pipeline. An exporter receives whole
// decided traces (and late parts of traces already sent) and delivers them somewhere.
#ifndef AGENTRING_READER_EXPORT_EXPORTER_H_
#define AGENTRING_READER_EXPORT_EXPORTER_H_

#include <memory>
#include <string>
#include <string_view>

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
  // Delivers anything buffered. Called at shutdown and when the reader goes idle.
  virtual void Flush() {}
};

// Where an exporter writes: `--out PATH` truncates PATH; "-" is standard output.
// Returns nullptr and sets *error on failure (one line, names the path and the reason).
class OutputFile;
std::unique_ptr<OutputFile> OpenOutput(const std::string& path, std::string* error);

// `--exporter tree`: the console tree (seed 000 style) for humans.
std::unique_ptr<Exporter> MakeTreeExporter(std::unique_ptr<OutputFile> out);
// `--exporter jsonl`: one OTLP/JSON ExportTraceServiceRequest per line, one write per line.
std::unique_ptr<Exporter> MakeJsonlExporter(std::unique_ptr<OutputFile> out);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_EXPORTER_H_
