// agentring tree FILE: renders an OTLP JSON Lines file (the jsonl exporter's output, or the
// OpenTelemetry Collector's file exporter's) as console trees.
#include <cstdio>
#include <string>
#include <vector>

#include "reader/export/exporter.h"
#include "reader/export/jsonl_reader.h"
#include "reader/export/output_file.h"
#include "reader/tools/cli.h"

namespace agentring::cli {

int Tree(const Args& args) {
  if (args.size() != 1 || (args[0].size() > 1 && args[0][0] == '-')) {
    fprintf(stderr, "agentring tree: expected one file\nusage: agentring tree FILE ('-' = stdin)\n");
    return 2;
  }
  reader::JsonStringPool pool;
  std::vector<reader::TraceBatch> traces;
  std::string error;
  if (!reader::ReadOtlpJsonLines(args[0], &pool, &traces, &error)) {
    fprintf(stderr, "agentring tree: %s\n", error.c_str());
    return 1;
  }
  auto out = reader::OpenOutput("-", &error);
  if (!out) {
    fprintf(stderr, "agentring tree: %s\n", error.c_str());
    return 1;
  }
  auto tree = reader::MakeTreeExporter(std::move(out));
  for (const reader::TraceBatch& t : traces) {
    if (!tree->Export(t)) return 1;
  }
  tree->Flush();
  if (traces.empty()) fprintf(stderr, "agentring tree: %s holds no spans\n", args[0].c_str());
  return 0;
}

}  // namespace agentring::cli
