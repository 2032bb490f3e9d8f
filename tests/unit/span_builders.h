// Spans and writer processes built by hand for the exporter tests (the OTLP encodings compare
// their output for the same input, so they build it the same way).
#ifndef AGENTRING_TESTS_UNIT_SPAN_BUILDERS_H_
#define AGENTRING_TESTS_UNIT_SPAN_BUILDERS_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "reader/model/span.h"

namespace agentring::reader {

// An ended span.
inline std::unique_ptr<SpanData> MakeSpan(TraceId trace, uint64_t id, uint64_t parent,
                                          std::string_view name, uint8_t kind, uint64_t start_ns,
                                          uint64_t end_ns,
                                          std::shared_ptr<const ProcessInfo> process) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = trace;
  s->span_id = id;
  s->parent_span_id = parent;
  s->name = std::string(name);
  s->kind = kind;
  s->start_unix_ns = start_ns;
  s->end_unix_ns = end_ns;
  s->ended = true;
  s->process = std::move(process);
  return s;
}

// A writer process whose resource is service.name plus one more attribute.
inline std::shared_ptr<ProcessInfo> MakeProcess(
    int32_t pid, const std::string& service,
    std::pair<std::string, std::string> extra = {"deployment.environment", "test"}) {
  auto p = std::make_shared<ProcessInfo>();
  p->pid = pid;
  p->service_name = service;
  p->resource = {{"service.name", service}, std::move(extra)};
  return p;
}

}  // namespace agentring::reader

#endif  // AGENTRING_TESTS_UNIT_SPAN_BUILDERS_H_
