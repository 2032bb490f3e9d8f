// Tests for the chrome exporter (reader/export/chrome_exporter.cc) through real files, parsed
// back with boost::json: one process row per writer process and one thread row per writer
// thread, metadata once, complete events nested per row with microsecond times exact to the
// nanosecond, attributes and ids as args, events as instants; a file cut before the closing
// bracket parses once "]" is appended; spans that overlap without nesting move to overlap rows.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "reader/export/exporter.h"
#include "reader/export/output_file.h"

namespace agentring::reader {
namespace {

namespace json = boost::json;

constexpr TraceId kTraceA{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
constexpr TraceId kTraceB{0x1ull, 0x2ull};
// 2023-11-14T22:13:20.123456789Z: the origin is the whole second before the earliest start.
constexpr uint64_t kSecond = 1'700'000'000'000'000'000ull;
constexpr uint64_t kT0 = kSecond + 123'456'789ull;
constexpr int64_t kRowStride = int64_t{1} << 22;

std::string TempPath(const char* tag) {
  return ::testing::TempDir() + "export_chrome_" + tag + "_" + std::to_string(getpid()) + ".json";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<SpanData> MakeSpan(TraceId trace, uint64_t id, uint64_t parent, std::string name,
                                   uint8_t kind, uint64_t start_ns, uint64_t end_ns, int32_t tid,
                                   std::shared_ptr<const ProcessInfo> process) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = trace;
  s->span_id = id;
  s->parent_span_id = parent;
  s->name = std::move(name);
  s->kind = kind;
  s->start_unix_ns = start_ns;
  s->end_unix_ns = end_ns;
  s->ended = end_ns != 0;
  s->tid = tid;
  s->process = std::move(process);
  return s;
}

std::shared_ptr<ProcessInfo> Process(int32_t pid, std::string service) {
  auto p = std::make_shared<ProcessInfo>();
  p->pid = pid;
  p->service_name = service;
  p->resource = {{"service.name", std::move(service)}};
  return p;
}

// Parses the whole file as a JSON array of objects.
::testing::AssertionResult ParseEvents(const std::string& text, std::vector<json::object>* out) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return ::testing::AssertionFailure() << "not JSON (" << ec.message() << "): " << text;
  if (!v.is_array()) return ::testing::AssertionFailure() << "not an array";
  out->clear();
  for (const json::value& e : v.as_array()) {
    if (!e.is_object()) return ::testing::AssertionFailure() << "an event is not an object";
    out->push_back(e.as_object());
  }
  return ::testing::AssertionSuccess();
}

std::string Str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t Int(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : std::numeric_limits<int64_t>::min();
}

double Num(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::nan("");
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  return std::nan("");
}

// ts/dur are the nanoseconds in microseconds: compared to half a nanosecond.
void ExpectMicros(double got, int64_t want_ns, const std::string& where) {
  EXPECT_NEAR(got, static_cast<double>(want_ns) / 1000.0, 0.0005) << where;
}

// Every row (pid, tid) holds complete events that nest: sorted by start (longest first), each
// lies inside the innermost still-open one or after it. Returns the rows seen.
std::set<std::pair<int64_t, int64_t>> ExpectRowsNest(const std::vector<json::object>& events) {
  std::map<std::pair<int64_t, int64_t>, std::vector<std::pair<double, double>>> rows;
  for (const json::object& e : events)
    if (Str(e, "ph") == "X")
      rows[{Int(e, "pid"), Int(e, "tid")}].push_back({Num(e, "ts"), Num(e, "ts") + Num(e, "dur")});
  std::set<std::pair<int64_t, int64_t>> keys;
  for (auto& [key, spans] : rows) {
    keys.insert(key);
    std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second > b.second;
    });
    std::vector<double> open_ends;
    for (const auto& [s, e] : spans) {
      while (!open_ends.empty() && open_ends.back() <= s) open_ends.pop_back();
      if (!open_ends.empty()) {
        EXPECT_LE(e, open_ends.back()) << "row pid " << key.first << " tid " << key.second
                                       << ": [" << s << ", " << e << "] crosses its enclosing span";
      }
      open_ends.push_back(e);
    }
  }
  return keys;
}

const json::object* FindSpan(const std::vector<json::object>& events, const std::string& span_id) {
  const json::object* found = nullptr;
  for (const json::object& e : events) {
    if (Str(e, "ph") != "X") continue;
    const json::value* args = e.if_contains("args");
    if (args && args->is_object() && Str(args->as_object(), "span_id") == span_id) {
      EXPECT_EQ(found, nullptr) << "span " << span_id << " appears twice";
      found = &e;
    }
  }
  return found;
}

// Two processes, three threads, two batches (the second late): rows, metadata once, times,
// nesting, args and instant events.
TEST(ExportChrome, RowsMetadataTimesArgsAndEvents) {
  auto orchestrator = Process(4242, "orchestrator");
  auto worker = Process(7, "worker");
  std::vector<TraceBatch> batches(2);
  batches[0].trace_id = kTraceA;
  batches[0].spans.push_back(MakeSpan(kTraceA, 1, 0, "run agent", 1, kT0, kT0 + 90'000'001, 10, orchestrator));
  auto llm = MakeSpan(kTraceA, 2, 1, "chat llama3", 3, kT0 + 1'000, kT0 + 2'001, 10, orchestrator);
  llm->status = SpanStatus::kOk;
  llm->attributes = {{"gen_ai.request.model", std::string("llama3")},
                     {"gen_ai.usage.input_tokens", int64_t{51'000}},
                     {"big", int64_t{std::numeric_limits<int64_t>::max()}},
                     {"temp", 0.25},
                     {"nan", std::numeric_limits<double>::quiet_NaN()},
                     {"cached", true},
                     {"span_id", std::string("an attribute must not override the id")}};
  llm->events.push_back(SpanEvent{kT0 + 1'500, "first_token", {{"n", int64_t{-1}}}});
  batches[0].spans.push_back(std::move(llm));
  // Another thread of the same process.
  batches[0].spans.push_back(MakeSpan(kTraceA, 3, 1, "tool grep", 4, kT0 + 3'000, kT0 + 8'000, 11, orchestrator));
  // Another process: a remote child with an error and a link.
  auto tool = MakeSpan(kTraceA, 4, 3, "tool \"sed\"\n", 4, kT0 + 4'000, kT0 + 6'000, 20, worker);
  tool->parent_remote = true;
  tool->status = SpanStatus::kError;
  tool->status_message = "exit 2";
  tool->incomplete = true;
  tool->links.push_back(SpanLink{kTraceB, 0x99});
  batches[0].spans.push_back(std::move(tool));
  batches[1].trace_id = kTraceA;
  batches[1].late = true;
  // Same threads again (no new metadata) and a span without an end.
  batches[1].spans.push_back(MakeSpan(kTraceA, 5, 1, "late child", 12, kT0 + 10'000, kT0 + 20'000, 10, orchestrator));
  batches[1].spans.push_back(MakeSpan(kTraceA, 6, 4, "open", 12, kT0 + 5'000, 0, 20, worker));

  const std::string path = TempPath("rows");
  {
    std::string error;
    auto exporter = MakeChromeExporter(OpenOutput(path, &error));
    ASSERT_NE(exporter, nullptr) << error;
    EXPECT_EQ(exporter->name(), "chrome");
    for (const TraceBatch& b : batches) ASSERT_TRUE(exporter->Export(b));
  }
  const std::string text = ReadAll(path);
  std::vector<json::object> events;
  ASSERT_TRUE(ParseEvents(text, &events));
  EXPECT_EQ(text.substr(0, 2), "[\n");
  EXPECT_EQ(text.substr(text.size() - 3), "\n]\n");

  // Metadata: one process_name per pid, one thread_name per (pid, tid), before any event of it.
  std::map<int64_t, std::string> process_names;
  std::map<std::pair<int64_t, int64_t>, std::string> thread_names;
  for (const json::object& e : events) {
    if (Str(e, "ph") != "M") continue;
    const json::object& args = e.at("args").as_object();
    if (Str(e, "name") == "process_name") {
      EXPECT_TRUE(process_names.emplace(Int(e, "pid"), Str(args, "name")).second)
          << "process_name twice for pid " << Int(e, "pid");
      EXPECT_EQ(Str(args, "time_origin_unix_ns"), std::to_string(kSecond));
    } else {
      ASSERT_EQ(Str(e, "name"), "thread_name");
      EXPECT_TRUE(thread_names.emplace(std::make_pair(Int(e, "pid"), Int(e, "tid")), Str(args, "name")).second)
          << "thread_name twice for tid " << Int(e, "tid");
    }
  }
  EXPECT_EQ(process_names, (std::map<int64_t, std::string>{{4242, "orchestrator (pid 4242)"},
                                                           {7, "worker (pid 7)"}}));
  EXPECT_EQ(thread_names, (std::map<std::pair<int64_t, int64_t>, std::string>{
                              {{4242, 10}, "thread 10"}, {{4242, 11}, "thread 11"}, {{7, 20}, "thread 20"}}));

  // One complete event per span, on its writer's row, nested per row.
  size_t complete = 0;
  for (const json::object& e : events) complete += Str(e, "ph") == "X";
  EXPECT_EQ(complete, 6u);
  EXPECT_EQ(ExpectRowsNest(events),
            (std::set<std::pair<int64_t, int64_t>>{{4242, 10}, {4242, 11}, {7, 20}}));

  const json::object* root = FindSpan(events, "0000000000000001");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(Int(*root, "pid"), 4242);
  EXPECT_EQ(Int(*root, "tid"), 10);
  EXPECT_EQ(Str(*root, "name"), "run agent");
  EXPECT_EQ(Str(*root, "cat"), "run");
  ExpectMicros(Num(*root, "ts"), 123'456'789, "root ts");
  ExpectMicros(Num(*root, "dur"), 90'000'001, "root dur");
  EXPECT_NE(text.find("\"ts\":123456.789,\"dur\":90000.001"), std::string::npos)
      << "times must be written with three decimals";
  const json::object& root_args = root->at("args").as_object();
  EXPECT_EQ(Str(root_args, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(Str(root_args, "parent_span_id"), "");
  EXPECT_EQ(Str(root_args, "status"), "unset");

  const json::object* chat = FindSpan(events, "0000000000000002");
  ASSERT_NE(chat, nullptr);
  EXPECT_EQ(Str(*chat, "cat"), "llm");
  ExpectMicros(Num(*chat, "ts"), 123'457'789, "chat ts");
  ExpectMicros(Num(*chat, "dur"), 1'001, "chat dur (sub-microsecond)");
  const json::object& chat_args = chat->at("args").as_object();
  EXPECT_EQ(Str(chat_args, "parent_span_id"), "0000000000000001");
  EXPECT_EQ(Str(chat_args, "status"), "ok");
  EXPECT_EQ(Str(chat_args, "gen_ai.request.model"), "llama3");
  EXPECT_EQ(Int(chat_args, "gen_ai.usage.input_tokens"), 51'000);
  EXPECT_EQ(Str(chat_args, "big"), "9223372036854775807");  // beyond 2^53: kept exact as text
  EXPECT_EQ(Num(chat_args, "temp"), 0.25);
  EXPECT_EQ(Str(chat_args, "nan"), "NaN");
  EXPECT_EQ(chat_args.at("cached"), json::value(true));
  EXPECT_FALSE(chat_args.contains("status_message"));

  const json::object* sed = FindSpan(events, "0000000000000004");
  ASSERT_NE(sed, nullptr);
  EXPECT_EQ(Int(*sed, "pid"), 7);
  EXPECT_EQ(Int(*sed, "tid"), 20);
  EXPECT_EQ(Str(*sed, "name"), "tool \"sed\"\n");
  const json::object& sed_args = sed->at("args").as_object();
  EXPECT_EQ(Str(sed_args, "status"), "error");
  EXPECT_EQ(Str(sed_args, "status_message"), "exit 2");
  EXPECT_EQ(sed_args.at("agentring.incomplete"), json::value(true));
  ASSERT_TRUE(sed_args.contains("links"));
  EXPECT_EQ(sed_args.at("links"),
            json::parse("[\"00000000000000010000000000000002-0000000000000099\"]"));

  const json::object* open = FindSpan(events, "0000000000000006");
  ASSERT_NE(open, nullptr);
  EXPECT_EQ(Num(*open, "dur"), 0.0);

  // The span event: a thread-scoped instant on its span's row.
  size_t instants = 0;
  for (const json::object& e : events) {
    if (Str(e, "ph") != "i") continue;
    ++instants;
    EXPECT_EQ(Str(e, "s"), "t");
    EXPECT_EQ(Str(e, "name"), "first_token");
    EXPECT_EQ(Int(e, "pid"), 4242);
    EXPECT_EQ(Int(e, "tid"), 10);
    ExpectMicros(Num(e, "ts"), 123'458'289, "instant ts");
    EXPECT_EQ(Str(e.at("args").as_object(), "span_id"), "0000000000000002");
    EXPECT_EQ(Int(e.at("args").as_object(), "n"), -1);
  }
  EXPECT_EQ(instants, 1u);
  unlink(path.c_str());
}

// A reader killed mid-run leaves no "]": the file is the events written so far, and it parses
// once "]" is appended, after every batch.
TEST(ExportChrome, TruncatedFileParsesWithClosingBracket) {
  auto p = Process(100, "svc");
  const std::string path = TempPath("truncated");
  std::string error;
  auto exporter = MakeChromeExporter(OpenOutput(path, &error));
  ASSERT_NE(exporter, nullptr) << error;
  size_t spans = 0;
  for (uint64_t t = 0; t < 5; ++t) {
    TraceBatch b;
    b.trace_id = TraceId{0, t + 1};
    const uint64_t start = kT0 + t * 1'000'000;
    b.spans.push_back(MakeSpan(b.trace_id, 10 * t + 1, 0, "root", 1, start, start + 500'000, 1, p));
    b.spans.push_back(MakeSpan(b.trace_id, 10 * t + 2, 10 * t + 1, "child", 4, start + 1, start + 2, 1, p));
    ASSERT_TRUE(exporter->Export(b));
    spans += 2;
    const std::string cut = ReadAll(path);
    ASSERT_NE(cut.back(), ']');
    std::vector<json::object> events;
    ASSERT_TRUE(ParseEvents(cut + "]", &events)) << "after batch " << t;
    size_t complete = 0;
    for (const json::object& e : events) complete += Str(e, "ph") == "X";
    EXPECT_EQ(complete, spans);
    EXPECT_EQ(events.size(), spans + 2);  // + process_name + thread_name, once
  }
  exporter.reset();
  std::vector<json::object> events;
  ASSERT_TRUE(ParseEvents(ReadAll(path), &events));
  EXPECT_EQ(events.size(), spans + 2);
  unlink(path.c_str());
}

TEST(ExportChrome, NothingExportedIsAnEmptyArray) {
  const std::string path = TempPath("empty");
  std::string error;
  auto exporter = MakeChromeExporter(OpenOutput(path, &error));
  ASSERT_NE(exporter, nullptr) << error;
  exporter.reset();
  EXPECT_EQ(ReadAll(path), "[]\n");
  unlink(path.c_str());
}

// Spans of one thread that overlap without nesting (concurrent async work, a span closed late by
// the reader) go to overlap rows, also across batches; every row still nests.
TEST(ExportChrome, OverlappingSpansMoveToOverlapRows) {
  auto p = Process(300, "async");
  auto span = [&](uint64_t id, uint64_t s_us, uint64_t e_us) {
    return MakeSpan(kTraceA, id, 0, "s" + std::to_string(id), 4, kT0 + s_us * 1000,
                    kT0 + e_us * 1000, 5, p);
  };
  const std::string path = TempPath("overlap");
  std::vector<std::pair<uint64_t, int64_t>> want_tid;  // span id -> expected tid
  {
    std::string error;
    auto exporter = MakeChromeExporter(OpenOutput(path, &error));
    ASSERT_NE(exporter, nullptr) << error;
    TraceBatch b1;
    b1.spans.push_back(span(1, 0, 100));   // row 0
    b1.spans.push_back(span(2, 50, 150));  // crosses 1: row 1
    b1.spans.push_back(span(3, 60, 70));   // inside 1 (and 2): row 0
    b1.spans.push_back(span(4, 0, 100));   // same interval as 1: nests, row 0
    ASSERT_TRUE(exporter->Export(b1));
    TraceBatch b2;
    b2.spans.push_back(span(5, 120, 200));  // after 1 and 3: row 0
    ASSERT_TRUE(exporter->Export(b2));
    TraceBatch b3;
    b3.spans.push_back(span(6, 90, 130));   // crosses 1 and 5 (row 0), inside 2: row 1
    b3.spans.push_back(span(7, 95, 160));   // crosses rows 0 and 1: row 2
    ASSERT_TRUE(exporter->Export(b3));
    std::vector<std::pair<std::string, uint64_t>> counters;
    exporter->AppendCounters(&counters);
    EXPECT_EQ(counters, (std::vector<std::pair<std::string, uint64_t>>{
                            {"spans_on_overlap_rows", 3}, {"overlap_rows_exhausted", 0}}));
  }
  want_tid = {{1, 5}, {2, 5 + kRowStride}, {3, 5}, {4, 5}, {5, 5}, {6, 5 + kRowStride},
              {7, 5 + 2 * kRowStride}};
  std::vector<json::object> events;
  ASSERT_TRUE(ParseEvents(ReadAll(path), &events));
  for (const auto& [id, tid] : want_tid) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(id));
    const json::object* e = FindSpan(events, hex);
    ASSERT_NE(e, nullptr) << id;
    EXPECT_EQ(Int(*e, "tid"), tid) << "span " << id;
    EXPECT_EQ(Int(*e, "pid"), 300);
  }
  EXPECT_EQ(ExpectRowsNest(events).size(), 3u);
  std::map<int64_t, std::string> thread_names;
  for (const json::object& e : events) {
    if (Str(e, "name") == "thread_name") {
      EXPECT_TRUE(thread_names.emplace(Int(e, "tid"), Str(e.at("args").as_object(), "name")).second);
    }
  }
  EXPECT_EQ(thread_names, (std::map<int64_t, std::string>{{5, "thread 5"},
                                                          {5 + kRowStride, "thread 5 (overlap 1)"},
                                                          {5 + 2 * kRowStride, "thread 5 (overlap 2)"}}));
  unlink(path.c_str());
}

// A failed write is reported to the caller (who counts it); the exporter keeps going.
TEST(ExportChrome, WriteFailureReturnsFalse) {
  std::string error;
  auto exporter = MakeChromeExporter(OpenOutput("/dev/full", &error));
  ASSERT_NE(exporter, nullptr) << error;
  TraceBatch b;
  b.spans.push_back(MakeSpan(kTraceA, 1, 0, "root", 1, kT0, kT0 + 1, 1, Process(1, "x")));
  EXPECT_FALSE(exporter->Export(b));
  EXPECT_FALSE(exporter->Export(b));
}

// Metadata whose write failed is written again with the next batch: through a FIFO whose reader
// goes away (EPIPE) and comes back.
TEST(ExportChrome, MetadataOfAFailedWriteIsWrittenAgain) {
  signal(SIGPIPE, SIG_IGN);
  const std::string path = TempPath("fifo");
  unlink(path.c_str());
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  int rd = open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(rd, 0);
  const int wr = open(path.c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(wr, 0);
  auto exporter = MakeChromeExporter(std::make_unique<OutputFile>(wr, /*owns_fd=*/true, path));
  auto p = Process(55, "svc");
  TraceBatch first, second;
  first.spans.push_back(MakeSpan(kTraceA, 1, 0, "lost", 1, kT0, kT0 + 10, 9, p));
  second.spans.push_back(MakeSpan(kTraceB, 2, 0, "kept", 1, kT0 + 100, kT0 + 200, 9, p));

  close(rd);  // no reader: the write fails with EPIPE
  EXPECT_FALSE(exporter->Export(first));
  rd = open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(rd, 0);
  ASSERT_TRUE(exporter->Export(second));
  exporter.reset();  // writes the closing bracket
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(rd, buf, sizeof(buf))) > 0;) text.append(buf, static_cast<size_t>(n));
  close(rd);
  unlink(path.c_str());

  std::vector<json::object> events;
  ASSERT_TRUE(ParseEvents(text, &events));
  ASSERT_EQ(events.size(), 3u) << text;
  EXPECT_EQ(Str(events[0], "name"), "process_name");
  EXPECT_EQ(Str(events[1], "name"), "thread_name");
  EXPECT_EQ(Str(events[2], "name"), "kept");
}

}  // namespace
}  // namespace agentring::reader
