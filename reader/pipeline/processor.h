// The extension points of the reader pipeline after assembly, in the spirit of the agent SDKs'
// tracing processors (seed 004): a TraceProcessor observes every trace the reader assembles; an
// Exporter (export/exporter.h) delivers the kept ones, each behind its own ExporterQueue.
//
// The reader sees whole traces, not live spans: assembly has already waited for a trace to be
// complete (or for its decision wait to pass) when processors run. So for each trace, and for each
// late part of one, a processor receives, on the reader's processing thread, in this order:
//   OnTraceStart(trace)      the trace entered the export stage, derivations applied
//   OnSpanStart(span) …      each span, in start order
//   OnSpanEnd(span) …        each span again, in end order
//   OnTraceEnd(trace, kept)  after the tail-sampling decision (kept = it goes to the exporters)
// Processors see sampled-out traces too (metrics must count what sampling drops), before
// redaction: they must not send what they see anywhere; exporters receive redacted traces.
#ifndef AGENTRING_READER_PIPELINE_PROCESSOR_H_
#define AGENTRING_READER_PIPELINE_PROCESSOR_H_

#include <cstdint>
#include <string_view>

#include "reader/model/span.h"

namespace agentring::reader {

class TraceProcessor {
 public:
  virtual ~TraceProcessor() = default;
  virtual std::string_view name() const = 0;
  virtual void OnTraceStart(const TraceBatch& trace) { (void)trace; }
  virtual void OnSpanStart(const SpanData& span) { (void)span; }
  virtual void OnSpanEnd(const SpanData& span) { (void)span; }
  virtual void OnTraceEnd(const TraceBatch& trace, bool kept) { (void)trace, (void)kept; }
  // Delivers anything the processor buffers; returns false if it could not within the timeout.
  virtual bool ForceFlush(uint64_t timeout_ms) { (void)timeout_ms; return true; }
  // The reader is stopping; no further calls follow.
  virtual void Shutdown() {}
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_PIPELINE_PROCESSOR_H_
