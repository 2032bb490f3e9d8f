// Test-side decoders of OTLP ExportTraceServiceRequests, written from the .proto files and the
// OTLP/JSON rules, independent of the reader's encoders: a strict protobuf decoder that also
// rejects anything non-canonical (non-minimal varints, fields out of field-number order, a
// singular field twice, proto3 defaults written out, wrong wire types, unknown fields, trailing
// bytes) and a JSON decoder (boost::json). Both produce the same plain structs, so a test can
// compare what the two encodings carry. Used by tests/unit/otlp_proto_test.cc and by the
// loopback listener (otlp_listener.cc). Header-only so both test executables can include it.
#ifndef AGENTRING_TESTS_INTEGRATION_OTLP_DECODE_H_
#define AGENTRING_TESTS_INTEGRATION_OTLP_DECODE_H_

#include <boost/json.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace agentring::otlp_test {

struct Value {
  enum Type { kNone, kString, kBool, kInt, kDouble } type = kNone;
  std::string s;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  bool operator==(const Value&) const = default;
};

struct KeyValue {
  std::string key;
  Value value;
  bool operator==(const KeyValue&) const = default;
};

struct Event {
  uint64_t time_unix_ns = 0;
  std::string name;
  std::vector<KeyValue> attributes;
  bool operator==(const Event&) const = default;
};

struct Link {
  std::string trace_id;  // lowercase hex
  std::string span_id;
  bool operator==(const Link&) const = default;
};

struct Span {
  std::string trace_id;        // 32 lowercase hex digits
  std::string span_id;         // 16
  std::string parent_span_id;  // "" for a root
  uint32_t flags = 0;
  std::string name;
  int kind = 0;
  uint64_t start_unix_ns = 0;
  uint64_t end_unix_ns = 0;
  std::vector<KeyValue> attributes;
  std::vector<Event> events;
  std::vector<Link> links;
  int status_code = 0;
  std::string status_message;
  bool operator==(const Span&) const = default;

  const Value* Find(std::string_view key) const {
    for (const KeyValue& kv : attributes)
      if (kv.key == key) return &kv.value;
    return nullptr;
  }
};

struct ResourceSpans {
  std::vector<KeyValue> resource;
  std::string schema_url;
  std::string scope_name;
  std::string scope_version;
  std::string scope_schema_url;
  std::vector<Span> spans;
  bool operator==(const ResourceSpans&) const = default;

  const Value* FindResource(std::string_view key) const {
    for (const KeyValue& kv : resource)
      if (kv.key == key) return &kv.value;
    return nullptr;
  }
};

struct Request {
  std::vector<ResourceSpans> resource_spans;
  bool operator==(const Request&) const = default;
};

inline std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// ---- protobuf -------------------------------------------------------------------------------

namespace detail {

// Reads one message's fields; every Read* returns false (with error_) on anything malformed or
// non-canonical.
class PbReader {
 public:
  PbReader(std::string_view bytes, std::string* error) : p_(bytes.data()), end_(p_ + bytes.size()), error_(error) {}
  bool done() const { return p_ == end_; }

  bool Fail(const std::string& what) {
    if (error_->empty()) *error_ = what;
    return false;
  }

  bool Varint(uint64_t* v) {
    uint64_t out = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ == end_) return Fail("truncated varint");
      const uint8_t b = static_cast<uint8_t>(*p_++);
      if (shift == 63 && b > 1) return Fail("varint overflows 64 bits");
      out |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift > 0) return Fail("non-minimal varint (trailing 0x00 group)");
        *v = out;
        return true;
      }
    }
    return Fail("varint longer than 10 bytes");
  }

  // Next field: number and wire type; enforces strictly ascending field numbers (canonical order,
  // each singular field at most once) unless `repeated_ok` says the previous field may repeat.
  bool Tag(uint32_t* field, uint32_t* wire) {
    uint64_t t;
    if (!Varint(&t)) return false;
    *field = static_cast<uint32_t>(t >> 3);
    *wire = static_cast<uint32_t>(t & 7);
    if (*field == 0) return Fail("field number 0");
    return true;
  }

  // Enforces field order: `repeatable` fields may appear several times in a row.
  bool Order(uint32_t field, bool repeatable) {
    if (field < last_field_ || (field == last_field_ && !repeatable))
      return Fail("field " + std::to_string(field) + " out of canonical order or repeated");
    last_field_ = field;
    return true;
  }

  bool Len(std::string_view* out) {
    uint64_t n;
    if (!Varint(&n)) return false;
    if (n > static_cast<uint64_t>(end_ - p_)) return Fail("length beyond the message");
    *out = std::string_view(p_, n);
    p_ += n;
    return true;
  }

  bool Fixed64(uint64_t* v) {
    if (end_ - p_ < 8) return Fail("truncated fixed64");
    memcpy(v, p_, 8);
    p_ += 8;
    return true;
  }

  bool Fixed32(uint32_t* v) {
    if (end_ - p_ < 4) return Fail("truncated fixed32");
    memcpy(v, p_, 4);
    p_ += 4;
    return true;
  }

 private:
  const char* p_;
  const char* end_;
  std::string* error_;
  uint32_t last_field_ = 0;
};

inline bool Want(PbReader& r, uint32_t wire, uint32_t expected, uint32_t field) {
  if (wire != expected)
    return r.Fail("field " + std::to_string(field) + " has wire type " + std::to_string(wire));
  return true;
}

// A proto3 singular scalar with its default value is omitted by a canonical encoder.
inline bool NonDefault(PbReader& r, bool is_default, uint32_t field) {
  if (is_default) return r.Fail("field " + std::to_string(field) + " holds its default value");
  return true;
}

inline bool DecodeValue(std::string_view bytes, Value* v, std::string* error) {
  PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    if (!r.Tag(&f, &w) || !r.Order(f, false)) return false;
    if (v->type != Value::kNone) return r.Fail("AnyValue with two members");
    uint64_t x;
    std::string_view s;
    switch (f) {
      case 1:
        if (!Want(r, w, 2, f) || !r.Len(&s)) return false;
        v->type = Value::kString;
        v->s = std::string(s);
        break;
      case 2:
        if (!Want(r, w, 0, f) || !r.Varint(&x)) return false;
        if (x > 1) return r.Fail("bool not 0 or 1");
        v->type = Value::kBool;
        v->b = x != 0;
        break;
      case 3:
        if (!Want(r, w, 0, f) || !r.Varint(&x)) return false;
        v->type = Value::kInt;
        v->i = static_cast<int64_t>(x);
        break;
      case 4:
        if (!Want(r, w, 1, f) || !r.Fixed64(&x)) return false;
        v->type = Value::kDouble;
        memcpy(&v->d, &x, 8);
        break;
      default:
        return r.Fail("unexpected AnyValue field " + std::to_string(f));
    }
  }
  if (v->type == Value::kNone) return r.Fail("empty AnyValue");
  return true;
}

inline bool DecodeKeyValue(std::string_view bytes, KeyValue* kv, std::string* error) {
  PbReader r(bytes, error);
  bool has_value = false;
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.Tag(&f, &w) || !r.Order(f, false) || !Want(r, w, 2, f) || !r.Len(&s)) return false;
    if (f == 1) {
      if (!NonDefault(r, s.empty(), f)) return false;
      kv->key = std::string(s);
    } else if (f == 2) {
      if (!DecodeValue(s, &kv->value, error)) return false;
      has_value = true;
    } else {
      return r.Fail("unexpected KeyValue field " + std::to_string(f));
    }
  }
  if (!has_value) return r.Fail("KeyValue without value");
  return true;
}

inline bool DecodeEvent(std::string_view bytes, Event* e, std::string* error) {
  PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.Tag(&f, &w) || !r.Order(f, f == 3)) return false;
    if (f == 1) {
      if (!Want(r, w, 1, f) || !r.Fixed64(&e->time_unix_ns) ||
          !NonDefault(r, e->time_unix_ns == 0, f))
        return false;
    } else if (f == 2 || f == 3) {
      if (!Want(r, w, 2, f) || !r.Len(&s)) return false;
      if (f == 2) {
        if (!NonDefault(r, s.empty(), f)) return false;
        e->name = std::string(s);
      } else {
        e->attributes.emplace_back();
        if (!DecodeKeyValue(s, &e->attributes.back(), error)) return false;
      }
    } else {
      return r.Fail("unexpected Event field " + std::to_string(f));
    }
  }
  return true;
}

inline bool DecodeId(PbReader& r, std::string_view s, size_t bytes, std::string* out) {
  if (s.size() != bytes) return r.Fail("id of " + std::to_string(s.size()) + " bytes");
  *out = Hex(s);
  return true;
}

inline bool DecodeLink(std::string_view bytes, Link* l, std::string* error) {
  PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.Tag(&f, &w) || !r.Order(f, false) || !Want(r, w, 2, f) || !r.Len(&s)) return false;
    if (f == 1) {
      if (!DecodeId(r, s, 16, &l->trace_id)) return false;
    } else if (f == 2) {
      if (!DecodeId(r, s, 8, &l->span_id)) return false;
    } else {
      return r.Fail("unexpected Link field " + std::to_string(f));
    }
  }
  return true;
}

inline bool DecodeStatus(std::string_view bytes, Span* span, std::string* error) {
  PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    if (!r.Tag(&f, &w) || !r.Order(f, false)) return false;
    if (f == 2) {
      std::string_view s;
      if (!Want(r, w, 2, f) || !r.Len(&s) || !NonDefault(r, s.empty(), f)) return false;
      span->status_message = std::string(s);
    } else if (f == 3) {
      uint64_t x;
      if (!Want(r, w, 0, f) || !r.Varint(&x) || !NonDefault(r, x == 0, f)) return false;
      span->status_code = static_cast<int>(x);
    } else {
      return r.Fail("unexpected Status field " + std::to_string(f));
    }
  }
  return true;
}

inline bool DecodeSpan(std::string_view bytes, Span* span, std::string* error) {
  PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    if (!r.Tag(&f, &w) || !r.Order(f, f == 9 || f == 11 || f == 13)) return false;
    std::string_view s;
    uint64_t x;
    switch (f) {
      case 1:
        if (!Want(r, w, 2, f) || !r.Len(&s) || !DecodeId(r, s, 16, &span->trace_id)) return false;
        break;
      case 2:
        if (!Want(r, w, 2, f) || !r.Len(&s) || !DecodeId(r, s, 8, &span->span_id)) return false;
        break;
      case 4:
        if (!Want(r, w, 2, f) || !r.Len(&s) || !DecodeId(r, s, 8, &span->parent_span_id))
          return false;
        break;
      case 5:
        if (!Want(r, w, 2, f) || !r.Len(&s) || !NonDefault(r, s.empty(), f)) return false;
        span->name = std::string(s);
        break;
      case 6:
        if (!Want(r, w, 0, f) || !r.Varint(&x) || !NonDefault(r, x == 0, f)) return false;
        span->kind = static_cast<int>(x);
        break;
      case 7:
        if (!Want(r, w, 1, f) || !r.Fixed64(&span->start_unix_ns) ||
            !NonDefault(r, span->start_unix_ns == 0, f))
          return false;
        break;
      case 8:
        if (!Want(r, w, 1, f) || !r.Fixed64(&span->end_unix_ns) ||
            !NonDefault(r, span->end_unix_ns == 0, f))
          return false;
        break;
      case 9:
        if (!Want(r, w, 2, f) || !r.Len(&s)) return false;
        span->attributes.emplace_back();
        if (!DecodeKeyValue(s, &span->attributes.back(), error)) return false;
        break;
      case 11:
        if (!Want(r, w, 2, f) || !r.Len(&s)) return false;
        span->events.emplace_back();
        if (!DecodeEvent(s, &span->events.back(), error)) return false;
        break;
      case 13:
        if (!Want(r, w, 2, f) || !r.Len(&s)) return false;
        span->links.emplace_back();
        if (!DecodeLink(s, &span->links.back(), error)) return false;
        break;
      case 15:
        if (!Want(r, w, 2, f) || !r.Len(&s) || !DecodeStatus(s, span, error)) return false;
        break;
      case 16: {
        uint32_t flags;
        if (!Want(r, w, 5, f) || !r.Fixed32(&flags) || !NonDefault(r, flags == 0, f)) return false;
        span->flags = flags;
        break;
      }
      default:
        return r.Fail("unexpected Span field " + std::to_string(f));
    }
  }
  return true;
}

inline bool DecodeAttributesOf(std::string_view bytes, uint32_t attr_field,
                               std::vector<KeyValue>* out, std::string* error) {
  PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.Tag(&f, &w) || !r.Order(f, true) || !Want(r, w, 2, f) || !r.Len(&s)) return false;
    if (f != attr_field) return r.Fail("unexpected field " + std::to_string(f));
    out->emplace_back();
    if (!DecodeKeyValue(s, &out->back(), error)) return false;
  }
  return true;
}

inline bool DecodeScope(std::string_view bytes, ResourceSpans* rs, std::string* error) {
  PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.Tag(&f, &w) || !r.Order(f, false) || !Want(r, w, 2, f) || !r.Len(&s) ||
        !NonDefault(r, s.empty(), f))
      return false;
    if (f == 1) {
      rs->scope_name = std::string(s);
    } else if (f == 2) {
      rs->scope_version = std::string(s);
    } else {
      return r.Fail("unexpected InstrumentationScope field " + std::to_string(f));
    }
  }
  return true;
}

inline bool DecodeScopeSpans(std::string_view bytes, ResourceSpans* rs, std::string* error) {
  PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.Tag(&f, &w) || !r.Order(f, f == 2) || !Want(r, w, 2, f) || !r.Len(&s)) return false;
    if (f == 1) {
      if (!DecodeScope(s, rs, error)) return false;
    } else if (f == 2) {
      rs->spans.emplace_back();
      if (!DecodeSpan(s, &rs->spans.back(), error)) return false;
    } else if (f == 3) {
      if (!NonDefault(r, s.empty(), f)) return false;
      rs->scope_schema_url = std::string(s);
    } else {
      return r.Fail("unexpected ScopeSpans field " + std::to_string(f));
    }
  }
  return true;
}

inline bool DecodeResourceSpans(std::string_view bytes, ResourceSpans* rs, std::string* error) {
  PbReader r(bytes, error);
  bool has_scope_spans = false;
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.Tag(&f, &w) || !r.Order(f, false) || !Want(r, w, 2, f) || !r.Len(&s)) return false;
    if (f == 1) {
      if (!DecodeAttributesOf(s, 1, &rs->resource, error)) return false;
    } else if (f == 2) {
      // We write one ScopeSpans per ResourceSpans (Order() rejects a second).
      if (!DecodeScopeSpans(s, rs, error)) return false;
      has_scope_spans = true;
    } else if (f == 3) {
      if (!NonDefault(r, s.empty(), f)) return false;
      rs->schema_url = std::string(s);
    } else {
      return r.Fail("unexpected ResourceSpans field " + std::to_string(f));
    }
  }
  if (!has_scope_spans) return r.Fail("ResourceSpans without ScopeSpans");
  return true;
}

}  // namespace detail

// Decodes a protobuf ExportTraceServiceRequest; false with *error on anything malformed or not
// canonical.
inline bool DecodeProtoRequest(std::string_view bytes, Request* out, std::string* error) {
  error->clear();
  detail::PbReader r(bytes, error);
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.Tag(&f, &w) || !r.Order(f, true) || !detail::Want(r, w, 2, f) || !r.Len(&s)) return false;
    if (f != 1) return r.Fail("unexpected ExportTraceServiceRequest field " + std::to_string(f));
    out->resource_spans.emplace_back();
    if (!detail::DecodeResourceSpans(s, &out->resource_spans.back(), error)) return false;
  }
  return true;
}

// ---- JSON -----------------------------------------------------------------------------------

namespace detail {

namespace json = boost::json;

inline uint64_t JsonU64(const json::value& v) {
  if (v.is_string()) return std::stoull(std::string(v.as_string()));
  return v.to_number<uint64_t>();
}

inline void JsonAttributes(const json::object& o, const char* key, std::vector<KeyValue>* out) {
  const json::value* a = o.if_contains(key);
  if (a == nullptr) return;
  for (const json::value& e : a->as_array()) {
    KeyValue kv;
    kv.key = std::string(e.at("key").as_string());
    const json::object& v = e.at("value").as_object();
    if (const json::value* s = v.if_contains("stringValue")) {
      kv.value.type = Value::kString;
      kv.value.s = std::string(s->as_string());
    } else if (const json::value* b = v.if_contains("boolValue")) {
      kv.value.type = Value::kBool;
      kv.value.b = b->as_bool();
    } else if (const json::value* i = v.if_contains("intValue")) {
      kv.value.type = Value::kInt;
      kv.value.i = i->is_string() ? std::stoll(std::string(i->as_string())) : i->to_number<int64_t>();
    } else if (const json::value* d = v.if_contains("doubleValue")) {
      kv.value.type = Value::kDouble;
      kv.value.d = d->to_number<double>();
    }
    out->push_back(std::move(kv));
  }
}

}  // namespace detail

// Decodes an OTLP/JSON ExportTraceServiceRequest into the same structs (throws nothing; false
// with *error when it is not JSON of that shape).
inline bool DecodeJsonRequest(std::string_view text, Request* out, std::string* error) {
  namespace json = boost::json;
  try {
    json::value root = json::parse(text);
    for (const json::value& rsv : root.at("resourceSpans").as_array()) {
      const json::object& rso = rsv.as_object();
      ResourceSpans rs;
      detail::JsonAttributes(rso.at("resource").as_object(), "attributes", &rs.resource);
      if (const json::value* u = rso.if_contains("schemaUrl")) rs.schema_url = std::string(u->as_string());
      for (const json::value& ssv : rso.at("scopeSpans").as_array()) {
        const json::object& sso = ssv.as_object();
        const json::object& scope = sso.at("scope").as_object();
        rs.scope_name = std::string(scope.at("name").as_string());
        rs.scope_version = std::string(scope.at("version").as_string());
        if (const json::value* u = sso.if_contains("schemaUrl"))
          rs.scope_schema_url = std::string(u->as_string());
        for (const json::value& sv : sso.at("spans").as_array()) {
          const json::object& so = sv.as_object();
          Span s;
          s.trace_id = std::string(so.at("traceId").as_string());
          s.span_id = std::string(so.at("spanId").as_string());
          if (const json::value* p = so.if_contains("parentSpanId"))
            s.parent_span_id = std::string(p->as_string());
          if (const json::value* f = so.if_contains("flags")) s.flags = f->to_number<uint32_t>();
          s.name = std::string(so.at("name").as_string());
          s.kind = so.at("kind").to_number<int>();
          s.start_unix_ns = detail::JsonU64(so.at("startTimeUnixNano"));
          s.end_unix_ns = detail::JsonU64(so.at("endTimeUnixNano"));
          detail::JsonAttributes(so, "attributes", &s.attributes);
          if (const json::value* ev = so.if_contains("events")) {
            for (const json::value& e : ev->as_array()) {
              Event event;
              event.time_unix_ns = detail::JsonU64(e.at("timeUnixNano"));
              event.name = std::string(e.at("name").as_string());
              detail::JsonAttributes(e.as_object(), "attributes", &event.attributes);
              s.events.push_back(std::move(event));
            }
          }
          if (const json::value* lv = so.if_contains("links")) {
            for (const json::value& l : lv->as_array())
              s.links.push_back({std::string(l.at("traceId").as_string()),
                                 std::string(l.at("spanId").as_string())});
          }
          if (const json::value* st = so.if_contains("status")) {
            if (const json::value* c = st->as_object().if_contains("code")) s.status_code = c->to_number<int>();
            if (const json::value* m = st->as_object().if_contains("message"))
              s.status_message = std::string(m->as_string());
          }
          rs.spans.push_back(std::move(s));
        }
      }
      out->resource_spans.push_back(std::move(rs));
    }
  } catch (const std::exception& e) {
    *error = std::string("not an OTLP/JSON request: ") + e.what();
    return false;
  }
  return true;
}

}  // namespace agentring::otlp_test

#endif  // AGENTRING_TESTS_INTEGRATION_OTLP_DECODE_H_
