// MakeFileExporter: the one place that turns `--exporter tree|jsonl|chrome --out PATH` (and the
// rotation flags) into an exporter writing into an opened file, so the pipeline needs one call.
#include <memory>
#include <string>
#include <string_view>

#include "reader/export/exporter.h"
#include "reader/export/output_file.h"

namespace agentring::reader {

bool IsFileExporter(std::string_view type) {
  return type == "tree" || type == "jsonl" || type == "chrome";
}

std::unique_ptr<Exporter> MakeFileExporter(std::string_view type, const std::string& path,
                                           const RotationPolicy& rotation, std::string* error,
                                           bool resume) {
  if (!IsFileExporter(type)) {
    *error = "unknown exporter '" + std::string(type) + "' (expected tree, jsonl or chrome)";
    return nullptr;
  }
  if (resume && type == "chrome" && path != "-") {
    // One JSON array per file: a restarted reader cannot continue it, and must not truncate what
    // the previous reader delivered.
    *error = "--exporter chrome cannot continue " + path +
             " after a reader restart (--state-dir): give it a new --out, or use jsonl or otlp";
    return nullptr;
  }
  std::unique_ptr<OutputFile> out;
  if (rotation.max_bytes != 0) {
    // Rotation cuts the file between two writes: only a format made of independent lines can
    // be cut there (a chrome file is one JSON array, a tree is read whole by a human).
    if (type != "jsonl") {
      *error = "--out-max-bytes applies to --exporter jsonl only, not " + std::string(type);
      return nullptr;
    }
    out = OpenRotatingOutput(path, rotation, error, resume);
  } else {
    out = OpenOutput(path, error, resume);
  }
  if (!out) return nullptr;
  if (type == "tree") return MakeTreeExporter(std::move(out));
  if (type == "jsonl") return MakeJsonlExporter(std::move(out));
  return MakeChromeExporter(std::move(out));
}

}  // namespace agentring::reader
