// Reading OTLP/JSON lines (what the jsonl exporter and the Collector's file exporter write) back
// into TraceBatch values, for `agentring tree FILE`; and JsonStringPool, the owner of the
// strings the model holds as string_view (attribute keys, event names).
#ifndef AGENTRING_READER_EXPORT_JSONL_READER_H_
#define AGENTRING_READER_EXPORT_JSONL_READER_H_

#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "reader/model/span.h"

namespace agentring::reader {

// Interns strings: equal strings share one copy whose address never changes (std::deque never
// moves its elements on push_back), so views stay valid for the pool's lifetime. Neither
// copyable nor movable, so nothing can outlive it by accident. Not thread-safe.
class JsonStringPool {
 public:
  JsonStringPool() = default;
  JsonStringPool(const JsonStringPool&) = delete;
  JsonStringPool& operator=(const JsonStringPool&) = delete;

  std::string_view Intern(std::string_view s);
  size_t size() const { return storage_.size(); }

 private:
  std::deque<std::string> storage_;
  std::unordered_set<std::string_view> index_;
};

// Parses each non-empty line of `path` ("-" = standard input) as one ExportTraceServiceRequest
// and appends the spans to *out, one TraceBatch per traceId (lines with the same traceId are
// merged; spans sorted by start time; `late` is false). Attribute keys and event names point into
// *pool, so the batches are valid while *pool lives. One ProcessInfo per distinct resource
// (pid from process.pid, service_name from service.name); the resource the jsonl exporter writes
// for spans without a process (only service.name "unknown_service") maps back to a null process.
// The exporter's own additions are undone: a leading `agent.kind` naming a known kind sets
// SpanData::kind and is dropped, a trailing `agentring.incomplete`=true sets `incomplete` and is
// dropped, flags bit 0x200 sets `parent_remote`, `ended` = end time non-zero. What OTLP does not
// carry (lane, tid, slot, generation) is left zero.
// Returns false with *error = "PATH:LINE: reason" on the first line that is not JSON or not an
// ExportTraceServiceRequest (bad ids, wrong field types), or "PATH: reason" when the file cannot
// be read; *out then holds the spans of the lines before. Not thread-safe (uses *pool).
bool ReadOtlpJsonLines(const std::string& path, JsonStringPool* pool, std::vector<TraceBatch>* out,
                       std::string* error);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_JSONL_READER_H_
