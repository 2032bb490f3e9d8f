// The `--exporter chrome` exporter: the Trace Event Format (the JSON that Perfetto UI,
// chrome://tracing, Chrome DevTools' Performance panel and speedscope open), in its JSON Array
// Format so that a file cut short by a crash still loads.
//
// File layout (one write() per trace batch, the closing bracket at destruction):
//
//   [
//   {"ph":"M","name":"process_name","pid":4242,"tid":0,"args":{"name":"orchestrator (pid 4242)",…}},
//   {"ph":"M","name":"thread_name","pid":4242,"tid":4250,"args":{"name":"thread 4250"}},
//   {"ph":"X","pid":4242,"tid":4250,"ts":1.250,"dur":90.001,"name":"run agent","cat":"agent",
//    "args":{"trace_id":"…","span_id":"…","parent_span_id":"","status":"ok",…attributes}},
//   {"ph":"i","s":"t","pid":4242,"tid":4250,"ts":3.000,"name":"first_token","cat":"event",…},
//   …
//   ]
//
// Every event after the first is preceded by ",\n", so a file cut after any whole batch is a
// valid JSON array once "]" is appended — which is what the format's own rule that the final
// "]" is optional relies on (the viewers append it themselves).
//
// Rows: pid is the writer process's pid, tid the writer thread that started the span; one
// process_name metadata event per pid and one thread_name per row, each emitted once per file.
//
// Times: ts and dur are microseconds with three decimals (exact nanoseconds in the text). ts
// counts from the file's time origin: the start of the earliest span of the first batch, rounded
// down to a whole second, recorded as "time_origin_unix_ns" in every process_name event. Absolute
// Unix microseconds (~1.7e15) do not fit a double with sub-microsecond precision (the grid there
// is 0.25 µs), and viewers parse numbers as doubles: a child ending 100 ns before its parent could
// then appear to end after it, which breaks nesting. A span of a later batch that started before
// the origin gets a negative ts.
//
// Overlapping spans: the viewers draw X events of one thread as a stack and require them to nest
// (Perfetto drops events that overlap without nesting). Spans of one writer thread normally do,
// but not always: asyncio-style agents run concurrent operations on one thread, and a span the
// reader closed itself (incomplete) ends when the reader noticed, not when the thread moved on.
// Each writer thread therefore has rows: row 0 is the thread itself (tid = the writer's tid);
// a span that would cross a span already on row k goes to row k+1, shown as a thread named
// "thread <tid> (overlap k)" with tid = <tid> + k × 2^22 (above Linux's PID_MAX_LIMIT, so no
// real tid collides). Spans are placed in start order (longest first on ties), so a well-nested
// thread stays on row 0. Each row remembers the kIntervalsPerRow latest-starting spans placed on
// it, so that spans of later batches (traces are exported when complete, not in time order) are
// checked against them too; a check that would look at more than kCrossCheckBudget spans answers
// "crosses" (the span moves down a row: never wrong, at worst an extra row). After
// kMaxRowsPerThread rows the span stays on the last row, counted (overlap_rows_exhausted). At
// most kMaxThreads writer threads are remembered (memory stays bounded when processes come and
// go); a forgotten thread seen again starts with fresh rows and gets its thread_name again.
//
// Not thread-safe: Export is called from one thread (the exporter's queue thread).
//
// Events of a span are thread-scoped instant events on the span's row.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "reader/export/exporter.h"
#include "reader/export/otlp_json.h"
#include "reader/export/output_file.h"

namespace agentring::reader {
namespace {

// Synthetic tids of overflow rows: tid + row × kTidRowStride. Linux's PID_MAX_LIMIT is 2^22.
constexpr int64_t kTidRowStride = int64_t{1} << 22;
constexpr size_t kMaxRowsPerThread = 64;
constexpr size_t kIntervalsPerRow = 256;
// Writer threads remembered; beyond this the least recently used half is forgotten (a thread seen
// again gets its thread_name metadata again). Bounds memory when processes come and go for days.
constexpr size_t kMaxThreads = 4096;
constexpr int kCrossCheckBudget = 256;
// Integers beyond ±2^53 lose digits in a double: written as strings.
constexpr int64_t kMaxExactDoubleInt = int64_t{1} << 53;

template <typename Int>
void AppendInt(Int v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// Nanoseconds as microseconds with exactly three decimals ("-1.005", "90.000").
void AppendMicros(int64_t ns, std::string* out) {
  uint64_t abs_ns;
  if (ns < 0) {
    out->push_back('-');
    abs_ns = static_cast<uint64_t>(-(ns + 1)) + 1;  // no overflow at INT64_MIN
  } else {
    abs_ns = static_cast<uint64_t>(ns);
  }
  AppendInt(abs_ns / 1000, out);
  const unsigned frac = static_cast<unsigned>(abs_ns % 1000);
  const char digits[4] = {'.', static_cast<char>('0' + frac / 100),
                          static_cast<char>('0' + frac / 10 % 10), static_cast<char>('0' + frac % 10)};
  out->append(digits, 4);
}

void AppendArgValue(const AttrValue& value, std::string* out) {
  switch (value.index()) {
    case 0: {
      const int64_t v = std::get<int64_t>(value);
      if (v > -kMaxExactDoubleInt && v < kMaxExactDoubleInt) {
        AppendInt(v, out);
      } else {
        out->push_back('"');
        AppendInt(v, out);
        out->push_back('"');
      }
      break;
    }
    case 1: {
      const double v = std::get<double>(value);
      if (std::isnan(v)) {
        out->append("\"NaN\"");
      } else if (std::isinf(v)) {
        out->append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
      } else {
        char buf[32];
        auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
        out->append(buf, r.ptr);
      }
      break;
    }
    case 2:
      out->append(std::get<bool>(value) ? "true" : "false");
      break;
    default:
      AppendJsonString(std::get<std::string>(value), out);
      break;
  }
}

// Keys the exporter writes into a span's args itself; an attribute with one of these names is
// left out rather than producing a duplicate key.
bool IsReservedArgKey(std::string_view key) {
  return key == "trace_id" || key == "span_id" || key == "parent_span_id" || key == "status" ||
         key == "status_message" || key == "links" || key == kIncompleteKey;
}

const char* StatusName(SpanStatus s) {
  switch (s) {
    case SpanStatus::kOk: return "ok";
    case SpanStatus::kError: return "error";
    default: return "unset";
  }
}

// The spans already on one row, as closed intervals [start, end] in nanoseconds, indexed by
// start and by end so that a crossing check looks only at the spans that begin or end inside
// the new one.
class Row {
 public:
  // True when [s, e] overlaps a span of this row without one containing the other, or when
  // answering would take more than the budget (conservative: the caller moves to another row).
  bool Crosses(uint64_t s, uint64_t e) const {
    int budget = kCrossCheckBudget;
    // A span that starts strictly inside and ends strictly after: s < a < e < b.
    for (auto it = by_start_.upper_bound(s); it != by_start_.end() && it->first < e; ++it) {
      if (it->second > e || --budget == 0) return true;
    }
    // A span that starts strictly before and ends strictly inside: a < s < b < e.
    for (auto it = by_end_.upper_bound(s); it != by_end_.end() && it->first < e; ++it) {
      if (it->second < s || --budget == 0) return true;
    }
    return false;
  }

  void Add(uint64_t s, uint64_t e) {
    by_start_.emplace(s, e);
    by_end_.emplace(e, s);
    if (by_start_.size() <= kIntervalsPerRow) return;
    // Forget the earliest span: later batches are unlikely to reach that far back.
    auto oldest = by_start_.begin();
    auto [lo, hi] = by_end_.equal_range(oldest->second);
    for (auto it = lo; it != hi; ++it) {
      if (it->second == oldest->first) {
        by_end_.erase(it);
        break;
      }
    }
    by_start_.erase(oldest);
  }

 private:
  std::multimap<uint64_t, uint64_t> by_start_;  // start -> end
  std::multimap<uint64_t, uint64_t> by_end_;    // end -> start
};

struct ThreadRows {
  std::vector<Row> rows;
  std::vector<bool> named;  // thread_name emitted for rows[k]
  uint64_t last_batch = 0;  // sequence number of the last batch with a span on this thread
};

class ChromeExporter final : public Exporter {
 public:
  explicit ChromeExporter(std::unique_ptr<OutputFile> out) : out_(std::move(out)) {}

  // Closes the JSON array. A reader that dies before this leaves a file without the final "]",
  // which the viewers accept (and which parses once "]" is appended).
  ~ChromeExporter() override { out_->WriteWhole(started_ ? "\n]\n" : "[]\n"); }

  std::string_view name() const override { return "chrome"; }

  // Appends the batch's metadata (for processes and rows seen for the first time), complete
  // events and instant events, in one write(). Returns false when the write failed; metadata
  // that did not reach the file is then emitted again with the next batch.
  bool Export(const TraceBatch& batch) override {
    buf_.clear();
    first_in_buffer_ = !started_;
    if (!started_) buf_.append("[\n");
    new_pids_.clear();
    new_rows_.clear();

    order_.clear();
    for (const auto& s : batch.spans)
      if (s) order_.push_back(s.get());
    if (order_.empty()) return true;
    if (!have_origin_) {
      uint64_t earliest = UINT64_MAX;
      for (const SpanData* s : order_) earliest = std::min(earliest, s->start_unix_ns);
      origin_ns_ = earliest - earliest % 1'000'000'000ull;
      have_origin_ = true;
    }
    // Start order, the longest first on ties: a parent is placed before the children it holds.
    std::sort(order_.begin(), order_.end(), [](const SpanData* a, const SpanData* b) {
      if (a->start_unix_ns != b->start_unix_ns) return a->start_unix_ns < b->start_unix_ns;
      if (EndOf(*a) != EndOf(*b)) return EndOf(*a) > EndOf(*b);
      return a->span_id < b->span_id;
    });
    ++batch_seq_;
    for (const SpanData* s : order_) AppendSpan(*s);

    const bool written = out_->WriteWhole(buf_);
    if (written) {
      started_ = true;
    } else {
      // Nothing (or part of the batch) reached the file: forget that its metadata was written.
      for (int32_t pid : new_pids_) named_pids_.erase(pid);
      for (const auto& [key, row] : new_rows_) threads_[key].named[row] = false;
    }
    if (threads_.size() > kMaxThreads) ForgetIdleThreads();
    return written;
  }

  void AppendCounters(std::vector<std::pair<std::string, uint64_t>>* out) const override {
    out->emplace_back("spans_on_overlap_rows", spans_on_overlap_rows_);
    out->emplace_back("overlap_rows_exhausted", overlap_rows_exhausted_);
  }

 private:
  // Drops the least recently used half of threads_.
  void ForgetIdleThreads() {
    std::vector<uint64_t> last;
    last.reserve(threads_.size());
    for (const auto& [key, t] : threads_) last.push_back(t.last_batch);
    auto mid = last.begin() + static_cast<std::ptrdiff_t>(last.size() / 2);
    std::nth_element(last.begin(), mid, last.end());
    const uint64_t cutoff = *mid;
    for (auto it = threads_.begin(); it != threads_.end();)
      it = it->second.last_batch < cutoff ? threads_.erase(it) : std::next(it);
  }

  // A span without an end (still open in a late batch) is drawn with zero duration.
  static uint64_t EndOf(const SpanData& s) {
    return s.end_unix_ns > s.start_unix_ns ? s.end_unix_ns : s.start_unix_ns;
  }

  void BeginEvent() {
    if (!first_in_buffer_) buf_.append(",\n");
    first_in_buffer_ = false;
  }

  void AppendTs(uint64_t unix_ns) {
    AppendMicros(static_cast<int64_t>(unix_ns - origin_ns_), &buf_);  // wraps to negative
  }

  void AppendProcessName(const SpanData& span, int32_t pid) {
    BeginEvent();
    buf_.append("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":");
    AppendInt(pid, &buf_);
    buf_.append(",\"tid\":0,\"args\":{\"name\":");
    std::string label;
    if (!span.process) {
      label = "unknown_service";
    } else {
      label = span.process->service_name.empty() ? "unknown_service" : span.process->service_name;
      label += " (pid " + std::to_string(pid) + ")";
    }
    AppendJsonString(label, &buf_);
    buf_.append(",\"time_origin_unix_ns\":\"");
    AppendInt(origin_ns_, &buf_);
    buf_.append("\"}}");
  }

  void AppendThreadName(int32_t pid, int32_t tid, size_t row, int64_t row_tid) {
    BeginEvent();
    buf_.append("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":");
    AppendInt(pid, &buf_);
    buf_.append(",\"tid\":");
    AppendInt(row_tid, &buf_);
    buf_.append(",\"args\":{\"name\":\"thread ");
    AppendInt(tid, &buf_);
    if (row != 0) {
      buf_.append(" (overlap ");
      AppendInt(row, &buf_);
      buf_.push_back(')');
    }
    buf_.append("\"}}");
  }

  // Chooses the span's row (see the file comment) and returns it.
  size_t PlaceOnRow(ThreadRows* t, uint64_t s, uint64_t e) {
    size_t k = 0;
    while (k < t->rows.size() && t->rows[k].Crosses(s, e)) ++k;
    if (k == kMaxRowsPerThread) {
      --k;
      ++overlap_rows_exhausted_;
    }
    if (k == t->rows.size()) {
      t->rows.emplace_back();
      t->named.push_back(false);
    }
    t->rows[k].Add(s, e);
    if (k != 0) ++spans_on_overlap_rows_;
    return k;
  }

  void AppendSpan(const SpanData& span) {
    const int32_t pid = span.process ? span.process->pid : 0;
    if (named_pids_.insert(pid).second) {
      new_pids_.push_back(pid);
      AppendProcessName(span, pid);
    }
    const uint64_t key = (uint64_t{static_cast<uint32_t>(pid)} << 32) | static_cast<uint32_t>(span.tid);
    ThreadRows& thread = threads_[key];
    thread.last_batch = batch_seq_;
    const uint64_t end_ns = EndOf(span);
    const size_t row = PlaceOnRow(&thread, span.start_unix_ns, end_ns);
    const int64_t row_tid = span.tid + static_cast<int64_t>(row) * kTidRowStride;
    if (!thread.named[row]) {
      thread.named[row] = true;
      new_rows_.emplace_back(key, row);
      AppendThreadName(pid, span.tid, row, row_tid);
    }

    BeginEvent();
    buf_.append("{\"ph\":\"X\",\"pid\":");
    AppendInt(pid, &buf_);
    buf_.append(",\"tid\":");
    AppendInt(row_tid, &buf_);
    buf_.append(",\"ts\":");
    AppendTs(span.start_unix_ns);
    buf_.append(",\"dur\":");
    AppendMicros(static_cast<int64_t>(end_ns - span.start_unix_ns), &buf_);
    buf_.append(",\"name\":");
    AppendJsonString(span.name, &buf_);
    buf_.append(",\"cat\":");
    const AttrValue* kind = span.Find(kAgentKindKey);
    if (kind != nullptr && kind->index() == 3)
      AppendJsonString(std::get<std::string>(*kind), &buf_);
    else
      AppendJsonString(KindString(span.kind), &buf_);

    buf_.append(",\"args\":{\"trace_id\":\"");
    AppendTraceIdHex(span.trace_id, &buf_);
    buf_.append("\",\"span_id\":\"");
    AppendSpanIdHex(span.span_id, &buf_);
    buf_.append("\",\"parent_span_id\":\"");
    if (span.parent_span_id != 0) AppendSpanIdHex(span.parent_span_id, &buf_);
    buf_.append("\",\"status\":\"");
    buf_.append(StatusName(span.status));
    buf_.push_back('"');
    if (!span.status_message.empty()) {
      buf_.append(",\"status_message\":");
      AppendJsonString(span.status_message, &buf_);
    }
    if (span.incomplete) buf_.append(",\"agentring.incomplete\":true");
    if (!span.links.empty()) {
      buf_.append(",\"links\":[");
      for (size_t i = 0; i < span.links.size(); ++i) {
        if (i) buf_.push_back(',');
        buf_.push_back('"');
        AppendTraceIdHex(span.links[i].trace_id, &buf_);
        buf_.push_back('-');
        AppendSpanIdHex(span.links[i].span_id, &buf_);
        buf_.push_back('"');
      }
      buf_.push_back(']');
    }
    AppendAttributes(span.attributes, /*skip_reserved=*/true);
    buf_.append("}}");

    for (const SpanEvent& e : span.events) {
      BeginEvent();
      buf_.append("{\"ph\":\"i\",\"s\":\"t\",\"pid\":");
      AppendInt(pid, &buf_);
      buf_.append(",\"tid\":");
      AppendInt(row_tid, &buf_);
      buf_.append(",\"ts\":");
      AppendTs(e.time_unix_ns);
      buf_.append(",\"name\":");
      AppendJsonString(e.name, &buf_);
      buf_.append(",\"cat\":\"event\",\"args\":{\"span_id\":\"");
      AppendSpanIdHex(span.span_id, &buf_);
      buf_.push_back('"');
      AppendAttributes(e.attributes, /*skip_reserved=*/false);
      buf_.append("}}");
    }
  }

  // ,"key":value for each attribute (the first key of the object is already written); a key
  // seen twice keeps its first value.
  void AppendAttributes(const std::vector<Attribute>& attributes, bool skip_reserved) {
    for (size_t i = 0; i < attributes.size(); ++i) {
      const Attribute& a = attributes[i];
      if (a.key == "span_id" || (skip_reserved && IsReservedArgKey(a.key))) continue;
      bool seen = false;
      for (size_t j = 0; j < i && !seen; ++j) seen = attributes[j].key == a.key;
      if (seen) continue;
      buf_.push_back(',');
      AppendJsonString(a.key, &buf_);
      buf_.push_back(':');
      AppendArgValue(a.value, &buf_);
    }
  }

  std::unique_ptr<OutputFile> out_;
  std::string buf_;
  bool started_ = false;          // "[" and at least one batch reached the file
  bool first_in_buffer_ = true;   // the next event needs no leading ",\n"
  bool have_origin_ = false;
  uint64_t origin_ns_ = 0;
  std::vector<const SpanData*> order_;
  std::unordered_set<int32_t> named_pids_;
  std::unordered_map<uint64_t, ThreadRows> threads_;  // (pid << 32 | tid) -> rows
  // Metadata added by the batch being written, undone if its write fails.
  std::vector<int32_t> new_pids_;
  std::vector<std::pair<uint64_t, size_t>> new_rows_;
  uint64_t batch_seq_ = 0;
  uint64_t spans_on_overlap_rows_ = 0;
  uint64_t overlap_rows_exhausted_ = 0;
};

}  // namespace

std::unique_ptr<Exporter> MakeChromeExporter(std::unique_ptr<OutputFile> out) {
  if (!out) return nullptr;
  return std::make_unique<ChromeExporter>(std::move(out));
}

}  // namespace agentring::reader
