// ReadOtlpJsonLines and JsonStringPool: OTLP/JSON lines back into the span model.
#include "reader/export/jsonl_reader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "reader/export/otlp_json.h"

namespace agentring::reader {

std::string_view JsonStringPool::Intern(std::string_view s) {
  auto it = index_.find(s);
  if (it != index_.end()) return *it;
  std::string_view stored = storage_.emplace_back(s);
  index_.insert(stored);
  return stored;
}

namespace {

namespace json = boost::json;

// Parse failures carry a reason that ends up after "PATH:LINE: ".
struct ParseError {
  std::string reason;
};

bool ParseHex(std::string_view s, uint64_t* v) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// OTLP/JSON ids: 32 (trace) or 16 (span) hex digits; "" means absent for optional ids.
bool ParseTraceId(std::string_view s, TraceId* id) {
  return s.size() == 32 && ParseHex(s.substr(0, 16), &id->hi) && ParseHex(s.substr(16), &id->lo);
}
bool ParseSpanId(std::string_view s, uint64_t* id) { return s.size() == 16 && ParseHex(s, id); }

const json::value* Field(const json::object& o, std::string_view key) { return o.if_contains(key); }

std::string_view StringField(const json::object& o, std::string_view key, std::string_view what) {
  const json::value* v = Field(o, key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) throw ParseError{std::string(what) + ": '" + std::string(key) + "' is not a string"};
  return v->get_string();
}

const json::array* ArrayField(const json::object& o, std::string_view key, std::string_view what) {
  const json::value* v = Field(o, key);
  if (!v || v->is_null()) return nullptr;
  if (!v->is_array()) throw ParseError{std::string(what) + ": '" + std::string(key) + "' is not an array"};
  return &v->get_array();
}

const json::object& AsObject(const json::value& v, std::string_view what) {
  if (!v.is_object()) throw ParseError{std::string(what) + " is not an object"};
  return v.get_object();
}

// proto3 JSON 64-bit integers: decimal strings, though numbers are accepted too.
template <typename Int>
std::optional<Int> ToInt(const json::value& v) {
  if (v.is_string()) {
    std::string_view s = v.get_string();
    Int x;
    auto r = std::from_chars(s.data(), s.data() + s.size(), x);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return x;
  }
  if (v.is_int64()) {
    const int64_t x = v.get_int64();
    if (x < static_cast<int64_t>(std::numeric_limits<Int>::min())) return std::nullopt;
    if constexpr (sizeof(Int) < sizeof(int64_t) || std::is_signed_v<Int>) {
      if (x > static_cast<int64_t>(std::numeric_limits<Int>::max())) return std::nullopt;
    }
    return static_cast<Int>(x);
  }
  if (v.is_uint64()) {
    const uint64_t x = v.get_uint64();
    if (x > static_cast<uint64_t>(std::numeric_limits<Int>::max())) return std::nullopt;
    return static_cast<Int>(x);
  }
  return std::nullopt;
}

uint64_t TimeField(const json::object& o, std::string_view key, std::string_view what) {
  const json::value* v = Field(o, key);
  if (!v || v->is_null()) return 0;
  auto t = ToInt<uint64_t>(*v);
  if (!t) throw ParseError{std::string(what) + ": '" + std::string(key) + "' is not a uint64"};
  return *t;
}

// An AnyValue object; kinds the model has no variant for (array, kvlist, bytes) keep their JSON
// text as a string so nothing is silently dropped.
AttrValue ParseAnyValue(const json::value& v, std::string_view what) {
  const json::object& o = AsObject(v, what);
  if (const json::value* s = Field(o, "stringValue")) {
    if (!s->is_string()) throw ParseError{std::string(what) + ": stringValue is not a string"};
    return std::string(s->get_string());
  }
  if (const json::value* i = Field(o, "intValue")) {
    auto x = ToInt<int64_t>(*i);
    if (!x) throw ParseError{std::string(what) + ": intValue is not an int64"};
    return *x;
  }
  if (const json::value* d = Field(o, "doubleValue")) {
    if (d->is_number()) return d->to_number<double>();
    if (d->is_string()) {
      std::string_view s = d->get_string();
      if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
      if (s == "Infinity") return std::numeric_limits<double>::infinity();
      if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    }
    throw ParseError{std::string(what) + ": doubleValue is not a double"};
  }
  if (const json::value* b = Field(o, "boolValue")) {
    if (!b->is_bool()) throw ParseError{std::string(what) + ": boolValue is not a bool"};
    return b->get_bool();
  }
  if (o.empty()) return std::string();
  return json::serialize(o);
}

std::vector<Attribute> ParseAttributes(const json::object& parent, std::string_view what,
                                       JsonStringPool* pool) {
  std::vector<Attribute> attrs;
  const json::array* a = ArrayField(parent, "attributes", what);
  if (!a) return attrs;
  attrs.reserve(a->size());
  for (const json::value& kv_value : *a) {
    const json::object& kv = AsObject(kv_value, std::string(what) + " attribute");
    std::string_view key = StringField(kv, "key", what);
    const json::value* value = Field(kv, "value");
    attrs.push_back(Attribute{pool->Intern(key),
                              value ? ParseAnyValue(*value, std::string(what) + " attribute '" +
                                                                std::string(key) + "'")
                                    : AttrValue(std::string())});
  }
  return attrs;
}

std::string ValueText(const AttrValue& v) {
  switch (v.index()) {
    case 0: return std::to_string(std::get<int64_t>(v));
    case 1: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof(buf), std::get<double>(v));
      return std::string(buf, r.ptr);
    }
    case 2: return std::get<bool>(v) ? "true" : "false";
    default: return std::get<std::string>(v);
  }
}

// The agentring::Kind whose KindString is `name`, if any.
std::optional<uint8_t> KindFromString(std::string_view name) {
  for (int k = 0; k < 64; ++k) {
    if (name == KindString(static_cast<uint8_t>(k))) return static_cast<uint8_t>(k);
  }
  return std::nullopt;
}

// Builds the same value tree as boost::json::parser, except for doubles: Boost 1.81 converts
// decimal text with a fast algorithm that can be one ulp off (exact conversion came with 1.83's
// number_precision::precise), and a doubleValue must read back exactly as it was written, so
// this handler converts the number's text again with std::from_chars (correctly rounded).
class ExactDoubleHandler {
 public:
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  json::value_stack st;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(size_t n, json::error_code&) { st.push_object(n); return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(size_t n, json::error_code&) { st.push_array(n); return true; }
  bool on_key_part(json::string_view s, size_t, json::error_code&) { st.push_chars(s); return true; }
  bool on_key(json::string_view s, size_t, json::error_code&) { st.push_key(s); return true; }
  bool on_string_part(json::string_view s, size_t, json::error_code&) { st.push_chars(s); return true; }
  bool on_string(json::string_view s, size_t, json::error_code&) { st.push_string(s); return true; }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view, json::error_code&) {
    number_.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    number_.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    double exact;
    auto r = std::from_chars(number_.data(), number_.data() + number_.size(), exact);
    // from_chars reports out-of-range (1e999) as an error; keep Boost's value (inf) then.
    st.push_double(r.ec == std::errc() ? exact : d);
    number_.clear();
    return true;
  }
  bool on_bool(bool b, json::error_code&) { st.push_bool(b); return true; }
  bool on_null(json::error_code&) { st.push_null(); return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::string number_;  // the text of a number split across on_number_part calls
};

// State kept across the lines of one file.
class LinesReader {
 public:
  LinesReader(JsonStringPool* pool, std::vector<TraceBatch>* out)
      : pool_(pool), out_(out), first_batch_(out->size()) {}

  void ParseLine(std::string_view line) {
    json::error_code ec;
    parser_.reset();
    parser_.handler().st.reset();
    const size_t used = parser_.write_some(/*more=*/false, line.data(), line.size(), ec);
    if (!ec && (used < line.size() || !parser_.done())) ec = json::error::extra_data;
    if (ec) throw ParseError{"invalid JSON: " + ec.message()};
    const json::value root = parser_.handler().st.release();
    if (!root.is_object()) throw ParseError{"not an OTLP ExportTraceServiceRequest (not an object)"};
    const json::value* rs = root.get_object().if_contains("resourceSpans");
    if (!rs || !rs->is_array())
      throw ParseError{"not an OTLP ExportTraceServiceRequest (no resourceSpans array)"};
    for (const json::value& r : rs->get_array()) ParseResourceSpans(AsObject(r, "resourceSpans entry"));
  }

  // Orders every batch's spans by start time, as exporters receive them from the pipeline.
  void Finish() {
    for (size_t i = first_batch_; i < out_->size(); ++i) {
      auto& spans = (*out_)[i].spans;
      std::stable_sort(spans.begin(), spans.end(), [](const auto& x, const auto& y) {
        return x->start_unix_ns < y->start_unix_ns;
      });
    }
  }

 private:
  void ParseResourceSpans(const json::object& rs) {
    std::shared_ptr<const ProcessInfo> process;
    if (const json::value* res = Field(rs, "resource"))
      process = ParseResource(AsObject(*res, "resource"));
    else
      process = ParseResource(json::object());
    const json::array* scopes = ArrayField(rs, "scopeSpans", "resourceSpans entry");
    if (!scopes) return;
    for (const json::value& ss : *scopes) {
      const json::array* spans = ArrayField(AsObject(ss, "scopeSpans entry"), "spans", "scopeSpans entry");
      if (!spans) continue;
      for (const json::value& s : *spans) ParseSpan(AsObject(s, "span"), process);
    }
  }

  std::shared_ptr<const ProcessInfo> ParseResource(const json::object& res) {
    auto info = std::make_shared<ProcessInfo>();
    bool has_pid = false;
    for (const Attribute& a : ParseAttributes(res, "resource", pool_)) {
      if (a.key == "process.pid" && a.value.index() == 0) {
        info->pid = static_cast<int32_t>(std::get<int64_t>(a.value));
        has_pid = true;
        continue;
      }
      std::string text = ValueText(a.value);
      if (a.key == "service.name") info->service_name = text;
      info->resource.emplace_back(std::string(a.key), std::move(text));
    }
    // What the jsonl exporter writes for spans that had no process.
    if (!has_pid && info->resource.size() == 1 && info->service_name == "unknown_service")
      return nullptr;
    // One ProcessInfo per distinct resource across the file, so spans of one process share it.
    std::string key = std::to_string(info->pid);
    for (const auto& [k, v] : info->resource) {
      key.append(1, '\0').append(k).append(1, '\0').append(v);
    }
    auto [it, inserted] = processes_.try_emplace(std::move(key), info);
    return it->second;
  }

  void ParseSpan(const json::object& o, const std::shared_ptr<const ProcessInfo>& process) {
    auto span = std::make_unique<SpanData>();
    if (!ParseTraceId(StringField(o, "traceId", "span"), &span->trace_id))
      throw ParseError{"span: traceId is not 32 hex digits"};
    if (!ParseSpanId(StringField(o, "spanId", "span"), &span->span_id))
      throw ParseError{"span: spanId is not 16 hex digits"};
    std::string_view parent = StringField(o, "parentSpanId", "span");
    if (!parent.empty() && !ParseSpanId(parent, &span->parent_span_id))
      throw ParseError{"span: parentSpanId is not 16 hex digits"};
    if (const json::value* f = Field(o, "flags"); f && !f->is_null()) {
      auto flags = ToInt<uint32_t>(*f);
      if (!flags) throw ParseError{"span: flags is not a uint32"};
      span->parent_remote = (*flags & kOtlpFlagIsRemote) != 0;
    }
    span->name = std::string(StringField(o, "name", "span"));
    span->start_unix_ns = TimeField(o, "startTimeUnixNano", "span");
    span->end_unix_ns = TimeField(o, "endTimeUnixNano", "span");
    span->ended = span->end_unix_ns != 0;

    span->attributes = ParseAttributes(o, "span", pool_);
    auto& attrs = span->attributes;
    // Undo the exporter's additions (see ReadOtlpJsonLines in the header).
    for (size_t i = 0; i < attrs.size(); ++i) {
      if (attrs[i].key != kAgentKindKey || attrs[i].value.index() != 3) continue;
      if (auto k = KindFromString(std::get<std::string>(attrs[i].value))) {
        span->kind = *k;
        if (i == 0) attrs.erase(attrs.begin());
      }
      break;
    }
    for (size_t i = 0; i < attrs.size(); ++i) {
      if (attrs[i].key != kIncompleteKey || attrs[i].value.index() != 2) continue;
      if (std::get<bool>(attrs[i].value)) {
        span->incomplete = true;
        if (i + 1 == attrs.size()) attrs.pop_back();
      }
      break;
    }

    if (const json::array* events = ArrayField(o, "events", "span")) {
      for (const json::value& ev : *events) {
        const json::object& e = AsObject(ev, "span event");
        SpanEvent event;
        event.time_unix_ns = TimeField(e, "timeUnixNano", "span event");
        event.name = pool_->Intern(StringField(e, "name", "span event"));
        event.attributes = ParseAttributes(e, "span event", pool_);
        span->events.push_back(std::move(event));
      }
    }
    if (const json::array* links = ArrayField(o, "links", "span")) {
      for (const json::value& lv : *links) {
        const json::object& l = AsObject(lv, "span link");
        SpanLink link;
        if (!ParseTraceId(StringField(l, "traceId", "span link"), &link.trace_id) ||
            !ParseSpanId(StringField(l, "spanId", "span link"), &link.span_id))
          throw ParseError{"span link: traceId/spanId are not 32/16 hex digits"};
        span->links.push_back(link);
      }
    }
    if (const json::value* sv = Field(o, "status"); sv && !sv->is_null()) {
      const json::object& st = AsObject(*sv, "span status");
      if (const json::value* c = Field(st, "code"); c && !c->is_null()) {
        // proto3 JSON allows the enum's number or its name.
        std::optional<int> code = ToInt<int>(*c);
        if (c->is_string()) {
          std::string_view s = c->get_string();
          if (s == "STATUS_CODE_UNSET") code = 0;
          if (s == "STATUS_CODE_OK") code = 1;
          if (s == "STATUS_CODE_ERROR") code = 2;
        }
        if (!code || *code < 0 || *code > 2) throw ParseError{"span status: unknown code"};
        span->status = static_cast<SpanStatus>(*code);
      }
      span->status_message = std::string(StringField(st, "message", "span status"));
    }
    span->process = process;

    auto [it, inserted] = batch_of_.try_emplace(span->trace_id, out_->size());
    if (inserted) {
      out_->emplace_back();
      out_->back().trace_id = span->trace_id;
    }
    (*out_)[it->second].spans.push_back(std::move(span));
  }

  JsonStringPool* pool_;
  std::vector<TraceBatch>* out_;
  size_t first_batch_;  // batches before this index were in *out already and are left alone
  json::basic_parser<ExactDoubleHandler> parser_{json::parse_options()};
  std::unordered_map<TraceId, size_t, TraceIdHash> batch_of_;
  std::unordered_map<std::string, std::shared_ptr<const ProcessInfo>> processes_;
};

}  // namespace

bool ReadOtlpJsonLines(const std::string& path, JsonStringPool* pool, std::vector<TraceBatch>* out,
                       std::string* error) {
  FILE* f = path == "-" ? stdin : fopen(path.c_str(), "re");
  if (!f) {
    if (error) *error = path + ": cannot open: " + strerror(errno);
    return false;
  }
  LinesReader reader(pool, out);
  char* buf = nullptr;
  size_t cap = 0;
  size_t line_no = 0;
  bool ok = true;
  ssize_t len;
  errno = 0;
  while ((len = getline(&buf, &cap, f)) >= 0) {
    ++line_no;
    std::string_view line(buf, static_cast<size_t>(len));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    try {
      reader.ParseLine(line);
    } catch (const ParseError& e) {
      if (error) *error = path + ":" + std::to_string(line_no) + ": " + e.reason;
      ok = false;
      break;
    } catch (const std::exception& e) {  // bad_alloc, or boost::json throwing on a corner case
      if (error) *error = path + ":" + std::to_string(line_no) + ": " + e.what();
      ok = false;
      break;
    }
  }
  if (ok && ferror(f)) {
    if (error) *error = path + ": read error: " + strerror(errno);
    ok = false;
  }
  free(buf);
  if (f != stdin) fclose(f);
  reader.Finish();
  return ok;
}

}  // namespace agentring::reader
