// Tail sampling: the policy evaluators, their construction from the Collector-schema YAML, the
// decision over the top-level policies and the decision caches (see tail_sampler.h).
#include "reader/sample/tail_sampler.h"

#include <algorithm>
#include <boost/regex.hpp>
#include <charconv>
#include <cmath>
#include <list>
#include <set>
#include <unordered_map>
#include <utility>

#include "reader/config/yaml_fields.h"

namespace agentring::reader {

namespace {

namespace yf = yaml;

// One policy's answer, as in the Collector's samplingpolicy.Decision.
enum class Decision : uint8_t { kNotSampled, kSampled, kInvertSampled, kInvertNotSampled };

bool SaysSample(Decision d) { return d == Decision::kSampled || d == Decision::kInvertSampled; }

// What the policies look at, computed once per batch.
struct TraceFacts {
  const TraceBatch* batch = nullptr;
  std::vector<const ProcessInfo*> processes;  // distinct writer processes of the spans
  uint64_t span_count = 0;
  uint64_t duration_ns = 0;  // latest end - earliest start over ended spans
  uint64_t now_mono_ns = 0;
};

TraceFacts Facts(const TraceBatch& batch, uint64_t now_mono_ns) {
  TraceFacts f;
  f.batch = &batch;
  f.span_count = batch.spans.size();
  f.now_mono_ns = now_mono_ns;
  uint64_t min_start = UINT64_MAX;
  uint64_t max_end = 0;
  for (const auto& s : batch.spans) {
    if (s->end_unix_ns != 0) {
      min_start = std::min(min_start, s->start_unix_ns);
      max_end = std::max(max_end, s->end_unix_ns);
    }
    const ProcessInfo* p = s->process.get();
    if (p != nullptr && std::find(f.processes.begin(), f.processes.end(), p) == f.processes.end())
      f.processes.push_back(p);
  }
  f.duration_ns = max_end > min_start ? max_end - min_start : 0;
  return f;
}

// A bounded map with least-recently-used eviction: a hit moves the entry to the front, an
// insertion at capacity evicts the back. Capacity >= 1.
template <class Key, class Value, class Hash = std::hash<Key>>
class LruMap {
 public:
  explicit LruMap(size_t capacity) : capacity_(capacity) {}
  // The value for `key` (refreshed as most recently used), or nullptr.
  const Value* Find(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }
  // Inserts an absent key. Returns true when an entry was evicted to make room.
  bool Insert(const Key& key, Value value) {
    bool evicted = false;
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
      evicted = true;
    }
    order_.emplace_front(key, std::move(value));
    index_.emplace(key, order_.begin());
    return evicted;
  }
  size_t size() const { return index_.size(); }

 private:
  using Entry = std::pair<Key, Value>;
  size_t capacity_;
  std::list<Entry> order_;  // front = most recently used
  std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> index_;
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual Decision Evaluate(const TraceFacts& t) = 0;
};

class AlwaysSample final : public Policy {
 public:
  Decision Evaluate(const TraceFacts&) override { return Decision::kSampled; }
};

class Probabilistic final : public Policy {
 public:
  Probabilistic(std::string salt, double percentage)
      : salt_(std::move(salt)), threshold_(ProbabilisticThreshold(percentage)) {}
  Decision Evaluate(const TraceFacts& t) override {
    return ProbabilisticHash(salt_, t.batch->trace_id) <= threshold_ ? Decision::kSampled
                                                                     : Decision::kNotSampled;
  }

 private:
  std::string salt_;
  uint64_t threshold_;
};

class Latency final : public Policy {
 public:
  Latency(int64_t threshold_ms, int64_t upper_ms)
      : threshold_ms_(threshold_ms), upper_ms_(upper_ms) {}
  Decision Evaluate(const TraceFacts& t) override {
    const int64_t ms = static_cast<int64_t>(t.duration_ns / 1'000'000ull);  // Go: Milliseconds()
    bool hit = upper_ms_ == 0 ? ms >= threshold_ms_ : (threshold_ms_ < ms && ms <= upper_ms_);
    return hit ? Decision::kSampled : Decision::kNotSampled;
  }

 private:
  int64_t threshold_ms_;
  int64_t upper_ms_;
};

class StatusCode final : public Policy {
 public:
  explicit StatusCode(std::vector<SpanStatus> codes) : codes_(std::move(codes)) {}
  Decision Evaluate(const TraceFacts& t) override {
    for (const auto& s : t.batch->spans)
      for (SpanStatus c : codes_)
        if (s->status == c) return Decision::kSampled;
    return Decision::kNotSampled;
  }

 private:
  std::vector<SpanStatus> codes_;
};

// The attribute policies share the Collector's scan: a match is a resource attribute of one of
// the trace's writer processes, or a span attribute, with the key and a matching value.
class AttributePolicy : public Policy {
 public:
  AttributePolicy(std::string key, bool invert) : key_(std::move(key)), invert_(invert) {}
  Decision Evaluate(const TraceFacts& t) final {
    bool any = false;
    for (const ProcessInfo* p : t.processes) {
      for (const auto& [k, v] : p->resource)
        if (k == key_ && MatchResource(v)) {
          any = true;
          break;
        }
      if (any) break;
    }
    if (!any) {
      for (const auto& s : t.batch->spans) {
        const AttrValue* v = s->Find(key_);
        if (v != nullptr && MatchSpan(*v)) {
          any = true;
          break;
        }
      }
    }
    if (invert_) return any ? Decision::kInvertNotSampled : Decision::kInvertSampled;
    return any ? Decision::kSampled : Decision::kNotSampled;
  }

 protected:
  virtual bool MatchSpan(const AttrValue& v) = 0;
  virtual bool MatchResource(const std::string& v) = 0;

 private:
  std::string key_;
  bool invert_;
};

class StringAttribute final : public AttributePolicy {
 public:
  // Exact values.
  StringAttribute(std::string key, const std::vector<std::string>& values, bool invert)
      : AttributePolicy(std::move(key), invert), cache_(1) {
    for (const std::string& v : values)
      if (!v.empty()) exact_.insert(v);  // the Collector skips empty values
  }
  // Regular expressions (already compiled), with an LRU of results.
  StringAttribute(std::string key, std::vector<boost::regex> regexes, size_t cache_size,
                  bool invert)
      : AttributePolicy(std::move(key), invert),
        regex_(true),
        regexes_(std::move(regexes)),
        cache_(cache_size) {}

 protected:
  bool MatchSpan(const AttrValue& v) override {
    const std::string* s = std::get_if<std::string>(&v);
    return s != nullptr && !s->empty() && Match(*s);
  }
  bool MatchResource(const std::string& v) override { return Match(v); }

 private:
  bool Match(const std::string& s) {
    if (!regex_) return exact_.count(s) != 0;
    if (const bool* hit = cache_.Find(s)) return *hit;
    bool hit = false;
    for (const boost::regex& re : regexes_) {
      try {
        if (boost::regex_search(s, re)) {
          hit = true;
          break;
        }
      } catch (const std::runtime_error&) {
        // The engine's complexity limit: this value does not match this regex.
      }
    }
    cache_.Insert(s, hit);
    return hit;
  }

  bool regex_ = false;
  std::set<std::string, std::less<>> exact_;
  std::vector<boost::regex> regexes_;
  LruMap<std::string, bool> cache_;
};

// Parses a whole string as an integer or a finite double.
bool ParseNumber(const std::string& s, long double* out) {
  const char* b = s.data();
  const char* e = s.data() + s.size();
  int64_t i = 0;
  auto [pi, ei] = std::from_chars(b, e, i);
  if (ei == std::errc() && pi == e && b != e) {
    *out = static_cast<long double>(i);
    return true;
  }
  double d = 0;
  auto [pd, ed] = std::from_chars(b, e, d);
  if (ed == std::errc() && pd == e && b != e && std::isfinite(d)) {
    *out = d;
    return true;
  }
  return false;
}

class NumericAttribute final : public AttributePolicy {
 public:
  // long double holds every int64 exactly, so int attributes compare exactly with int bounds.
  NumericAttribute(std::string key, long double min, long double max, bool invert)
      : AttributePolicy(std::move(key), invert), min_(min), max_(max) {}

 protected:
  bool MatchSpan(const AttrValue& v) override {
    if (const int64_t* i = std::get_if<int64_t>(&v)) return In(static_cast<long double>(*i));
    if (const double* d = std::get_if<double>(&v)) return std::isfinite(*d) && In(*d);
    return false;
  }
  bool MatchResource(const std::string& v) override {
    long double n = 0;
    return ParseNumber(v, &n) && In(n);
  }

 private:
  bool In(long double v) const { return v >= min_ && v <= max_; }
  long double min_;
  long double max_;
};

class BooleanAttribute final : public AttributePolicy {
 public:
  BooleanAttribute(std::string key, bool value, bool invert)
      : AttributePolicy(std::move(key), invert), value_(value) {}

 protected:
  bool MatchSpan(const AttrValue& v) override {
    const bool* b = std::get_if<bool>(&v);
    return b != nullptr && *b == value_;
  }
  bool MatchResource(const std::string& v) override {
    return (v == "true" && value_) || (v == "false" && !value_);
  }

 private:
  bool value_;
};

// Token bucket in integer units of 1e-9 span, so the arithmetic is exact: capacity
// 2 * spans_per_second spans, refilled at spans_per_second, full at the first evaluation
// (golang.org/x/time/rate, as the Collector uses it). A trace takes span_count spans or is refused.
class RateLimiting final : public Policy {
 public:
  explicit RateLimiting(uint64_t spans_per_second)
      : rate_(spans_per_second), capacity_(2 * spans_per_second * kUnit), tokens_(capacity_) {}
  Decision Evaluate(const TraceFacts& t) override {
    if (started_) {
      const uint64_t elapsed = t.now_mono_ns > last_ns_ ? t.now_mono_ns - last_ns_ : 0;
      const uint64_t room = capacity_ - tokens_;
      // elapsed * rate_ < room below, so neither overflows nor passes the capacity.
      tokens_ = elapsed >= (room + rate_ - 1) / rate_ ? capacity_ : tokens_ + elapsed * rate_;
    }
    started_ = true;
    if (t.now_mono_ns > last_ns_) last_ns_ = t.now_mono_ns;
    const uint64_t need = t.span_count * kUnit;
    if (t.span_count <= capacity_ / kUnit && need <= tokens_) {
      tokens_ -= need;
      return Decision::kSampled;
    }
    return Decision::kNotSampled;
  }

 private:
  static constexpr uint64_t kUnit = 1'000'000'000ull;  // per span
  uint64_t rate_;                                      // units per ns = spans per second
  uint64_t capacity_;
  uint64_t tokens_;
  uint64_t last_ns_ = 0;
  bool started_ = false;
};

class SpanCount final : public Policy {
 public:
  SpanCount(int64_t min_spans, int64_t max_spans) : min_(min_spans), max_(max_spans) {}
  Decision Evaluate(const TraceFacts& t) override {
    const int64_t n = static_cast<int64_t>(t.span_count);
    bool hit = n >= min_ && (max_ == 0 || n <= max_);
    return hit ? Decision::kSampled : Decision::kNotSampled;
  }

 private:
  int64_t min_;
  int64_t max_;
};

class And final : public Policy {
 public:
  explicit And(std::vector<std::unique_ptr<Policy>> subs) : subs_(std::move(subs)) {}
  Decision Evaluate(const TraceFacts& t) override {
    for (auto& sub : subs_) {
      Decision d = sub->Evaluate(t);
      if (d == Decision::kNotSampled || d == Decision::kInvertNotSampled)
        return Decision::kNotSampled;
    }
    return Decision::kSampled;
  }

 private:
  std::vector<std::unique_ptr<Policy>> subs_;
};

// Spans-per-second budgets per sub-policy, counted per second of the monotonic clock.
class Composite final : public Policy {
 public:
  struct Sub {
    std::unique_ptr<Policy> policy;
    int64_t allocated_sps = 0;
    int64_t sampled_this_second = 0;
  };
  Composite(int64_t max_total_sps, std::vector<Sub> subs)
      : max_total_sps_(max_total_sps), subs_(std::move(subs)) {}
  Decision Evaluate(const TraceFacts& t) override {
    const uint64_t second = t.now_mono_ns / 1'000'000'000ull;
    if (second != current_second_) {
      current_second_ = second;
      total_this_second_ = 0;
      for (Sub& s : subs_) s.sampled_this_second = 0;
    }
    const int64_t n = static_cast<int64_t>(t.span_count);
    for (Sub& s : subs_) {
      if (!SaysSample(s.policy->Evaluate(t))) continue;
      // The first sub-policy that would sample decides: within its budget and the total, or not
      // at all (the budget is not spent, so a smaller trace may still fit later this second).
      if (s.sampled_this_second + n <= s.allocated_sps &&
          total_this_second_ + n <= max_total_sps_) {
        s.sampled_this_second += n;
        total_this_second_ += n;
        return Decision::kSampled;
      }
      return Decision::kNotSampled;
    }
    return Decision::kNotSampled;
  }

 private:
  int64_t max_total_sps_;
  std::vector<Sub> subs_;
  uint64_t current_second_ = UINT64_MAX;
  int64_t total_this_second_ = 0;
};

// ---- construction from YAML ----------------------------------------------------------------

constexpr std::string_view kImplementedTypes[] = {
    "always_sample",     "probabilistic",     "latency",       "status_code", "string_attribute",
    "numeric_attribute", "boolean_attribute", "rate_limiting", "span_count",  "and",
    "composite"};
// Collector policy types this reader does not implement (named in the error).
constexpr std::string_view kCollectorOnlyTypes[] = {"trace_state",
                                                    "ottl_condition",
                                                    "drop",
                                                    "not",
                                                    "skip",
                                                    "bytes_limiting",
                                                    "trace_flags",
                                                    "rare_spans",
                                                    "budget_limiting",
                                                    "stratified_probabilistic"};

enum class Level { kTop, kCompositeSub, kAndSub };

std::string SupportedTypes(Level level) {
  std::string out;
  for (std::string_view t : kImplementedTypes) {
    if (level != Level::kTop && t == "composite") continue;
    if (level == Level::kAndSub && t == "and") continue;
    out += (out.empty() ? "" : ", ") + std::string(t);
  }
  return out;
}

bool IsKnownType(std::string_view key) {
  for (std::string_view t : kImplementedTypes)
    if (t == key) return true;
  for (std::string_view t : kCollectorOnlyTypes)
    if (t == key) return true;
  return false;
}

struct Built {
  std::string name;
  std::unique_ptr<Policy> policy;
};

bool BuildPolicy(const YAML::Node& node, const std::string& index_path, Level level, Built* out,
                 std::string* error);

// Reads the list `key` of policies under `block` (and_sub_policy, composite_sub_policy).
bool BuildPolicyList(const YAML::Node& block, const std::string& path, const char* key, Level level,
                     std::vector<Built>* out, std::string* error) {
  const YAML::Node list = block[key];
  const std::string list_path = yf::Join(path, key);
  if (!list.IsDefined() || list.IsNull())
    return yf::Fail(block, path, std::string("missing '") + key + "' (a list of policies)", error);
  if (!list.IsSequence() || list.size() == 0)
    return yf::Fail(list, list_path,
                    "expected a non-empty list of policies, got " + yf::Describe(list), error);
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    Built b;
    if (!BuildPolicy(list[i], list_path + "[" + std::to_string(i) + "]", level, &b, error))
      return false;
    if (!names.insert(b.name).second)
      return yf::Fail(list[i], list_path + "[" + std::to_string(i) + "]",
                      "duplicate policy name '" + b.name + "'", error);
    out->push_back(std::move(b));
  }
  return true;
}

// The required block of a policy: a mapping with the given keys.
bool Block(const YAML::Node& policy, const std::string& path, const std::string& type,
           const YAML::Node& block, std::initializer_list<std::string_view> keys,
           std::string* error) {
  if (!block.IsDefined() || block.IsNull())
    return yf::Fail(policy, path, "policy of type " + type + " needs a '" + type + "' block",
                    error);
  return yf::CheckMap(block, yf::Join(path, type), keys, error);
}

bool OptBool(const YAML::Node& block, const std::string& path, const char* key, bool* out,
             std::string* error) {
  const YAML::Node n = block[key];
  return !n.IsDefined() || yf::ReadBool(n, yf::Join(path, key), out, error);
}

bool RequiredKey(const YAML::Node& block, const std::string& path, const char* key,
                 std::string* out, std::string* error) {
  const YAML::Node n = block[key];
  if (!n.IsDefined()) return yf::Fail(block, path, std::string("missing '") + key + "'", error);
  if (!yf::ReadString(n, yf::Join(path, key), out, error)) return false;
  if (out->empty()) return yf::Fail(n, yf::Join(path, key), "must not be empty", error);
  return true;
}

bool BuildComposite(const YAML::Node& b, const std::string& p, std::unique_ptr<Policy>* out,
                    std::string* error) {
  int64_t max_total = 0;
  if (!b["max_total_spans_per_second"].IsDefined())
    return yf::Fail(b, p, "missing 'max_total_spans_per_second'", error);
  if (!yf::ReadInt64(b["max_total_spans_per_second"], yf::Join(p, "max_total_spans_per_second"), 1,
                     INT64_MAX / 4, &max_total, error))
    return false;
  std::vector<Built> subs;
  if (!BuildPolicyList(b, p, "composite_sub_policy", Level::kCompositeSub, &subs, error))
    return false;
  auto find = [&](const std::string& name) -> int {
    for (size_t i = 0; i < subs.size(); ++i)
      if (subs[i].name == name) return static_cast<int>(i);
    return -1;
  };
  // Allocations as the Collector computes them (float64, then truncated to int64).
  std::vector<int64_t> alloc(subs.size(), 0);
  if (const YAML::Node ra = b["rate_allocation"]; ra.IsDefined()) {
    const std::string rp = yf::Join(p, "rate_allocation");
    if (!ra.IsSequence())
      return yf::Fail(ra, rp, "expected a list, got " + yf::Describe(ra), error);
    const double default_sps = static_cast<double>(max_total) / static_cast<double>(subs.size());
    for (size_t i = 0; i < ra.size(); ++i) {
      const std::string ip = rp + "[" + std::to_string(i) + "]";
      if (!yf::CheckMap(ra[i], ip, {"policy", "percent"}, error)) return false;
      std::string name;
      if (!RequiredKey(ra[i], ip, "policy", &name, error)) return false;
      int idx = find(name);
      if (idx < 0)
        return yf::Fail(ra[i]["policy"], yf::Join(ip, "policy"),
                        "no composite_sub_policy is named '" + name + "'", error);
      int64_t percent = 0;
      if (ra[i]["percent"].IsDefined() &&
          !yf::ReadInt64(ra[i]["percent"], yf::Join(ip, "percent"), 0, 100, &percent, error))
        return false;
      alloc[idx] = static_cast<int64_t>(percent > 0 ? static_cast<double>(percent) / 100 *
                                                          static_cast<double>(max_total)
                                                    : default_sps);
    }
  }
  std::vector<size_t> order;
  if (const YAML::Node po = b["policy_order"]; po.IsDefined()) {
    const std::string pp = yf::Join(p, "policy_order");
    std::vector<std::string> names;
    if (!yf::ReadStringList(po, pp, &names, error)) return false;
    std::vector<bool> used(subs.size(), false);
    for (size_t i = 0; i < names.size(); ++i) {
      int idx = find(names[i]);
      if (idx < 0)
        return yf::Fail(po[i], pp + "[" + std::to_string(i) + "]",
                        "no composite_sub_policy is named '" + names[i] + "'", error);
      if (used[idx])
        return yf::Fail(po[i], pp + "[" + std::to_string(i) + "]",
                        "'" + names[i] + "' is listed twice", error);
      used[idx] = true;
      order.push_back(static_cast<size_t>(idx));
    }
    for (size_t i = 0; i < subs.size(); ++i)
      if (!used[i])
        return yf::Fail(po, pp, "sub-policy '" + subs[i].name + "' is missing from policy_order",
                        error);
  } else {
    for (size_t i = 0; i < subs.size(); ++i) order.push_back(i);
  }
  std::vector<Composite::Sub> ordered;
  for (size_t i : order) ordered.push_back({std::move(subs[i].policy), alloc[i], 0});
  *out = std::make_unique<Composite>(max_total, std::move(ordered));
  return true;
}

bool BuildPolicy(const YAML::Node& node, const std::string& index_path, Level level, Built* out,
                 std::string* error) {
  if (!node.IsMap())
    return yf::Fail(node, index_path,
                    "expected a policy {name, type, …}, got " + yf::Describe(node), error);
  std::string name;
  if (!RequiredKey(node, index_path, "name", &name, error)) return false;
  const std::string p = index_path + " (" + name + ")";
  std::string type;
  if (!RequiredKey(node, p, "type", &type, error)) return false;
  const YAML::Node type_node = node["type"];
  bool implemented = false;
  for (std::string_view t : kImplementedTypes) implemented = implemented || t == type;
  const bool nested_only_bad =
      (level != Level::kTop && type == "composite") || (level == Level::kAndSub && type == "and");
  if (!implemented || nested_only_bad) {
    std::string why = !implemented && IsKnownType(type)
                          ? "policy type '" + type + "' is not supported by agentring-reader"
                      : nested_only_bad ? "policy type '" + type + "' cannot be nested here"
                                        : "unknown policy type '" + type + "'";
    return yf::Fail(type_node, yf::Join(p, "type"),
                    why + " (supported: " + SupportedTypes(level) + ")", error);
  }
  // Keys: name, type and the block of this type; another type's block is a mistake.
  for (const auto& kv : node) {
    const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "";
    if (k == "name" || k == "type" || k == type) continue;
    if (IsKnownType(k))
      return yf::Fail(kv.first, p, "a '" + k + "' block does not apply to a policy of type " + type,
                      error);
    return yf::Fail(kv.first, p, "unknown key '" + k + "' (expected name, type, " + type + ")",
                    error);
  }
  std::set<std::string> seen;
  for (const auto& kv : node)
    if (!seen.insert(kv.first.Scalar()).second)
      return yf::Fail(kv.first, p, "key '" + kv.first.Scalar() + "' given twice", error);

  const std::string bp = yf::Join(p, type);
  const YAML::Node b = node[type];  // copied, never assigned: yaml-cpp assignment writes through
  out->name = name;
  if (type == "always_sample") {
    if (b.IsDefined() && !b.IsNull() && !yf::CheckMap(b, bp, {}, error)) return false;
    out->policy = std::make_unique<AlwaysSample>();
  } else if (type == "probabilistic") {
    if (!Block(node, p, type, b, {"hash_salt", "sampling_percentage"}, error)) return false;
    std::string salt;
    double pct = 0;
    if (b["hash_salt"].IsDefined() &&
        !yf::ReadString(b["hash_salt"], yf::Join(bp, "hash_salt"), &salt, error))
      return false;
    if (!b["sampling_percentage"].IsDefined())
      return yf::Fail(b, bp, "missing 'sampling_percentage'", error);
    if (!yf::ReadDouble(b["sampling_percentage"], yf::Join(bp, "sampling_percentage"), &pct, error))
      return false;
    if (pct < 0)
      return yf::Fail(b["sampling_percentage"], yf::Join(bp, "sampling_percentage"),
                      "must be between 0 and 100", error);
    out->policy = std::make_unique<Probabilistic>(salt, pct);
  } else if (type == "latency") {
    if (!Block(node, p, type, b, {"threshold_ms", "upper_threshold_ms"}, error)) return false;
    int64_t lo = 0, hi = 0;
    if (b["threshold_ms"].IsDefined() &&
        !yf::ReadInt64(b["threshold_ms"], yf::Join(bp, "threshold_ms"), 0, INT64_MAX, &lo, error))
      return false;
    if (b["upper_threshold_ms"].IsDefined() &&
        !yf::ReadInt64(b["upper_threshold_ms"], yf::Join(bp, "upper_threshold_ms"), 0, INT64_MAX,
                       &hi, error))
      return false;
    if (!b["threshold_ms"].IsDefined() && !b["upper_threshold_ms"].IsDefined())
      return yf::Fail(b, bp, "needs threshold_ms (and optionally upper_threshold_ms)", error);
    if (hi != 0 && hi <= lo)
      return yf::Fail(b["upper_threshold_ms"], yf::Join(bp, "upper_threshold_ms"),
                      "must be greater than threshold_ms", error);
    out->policy = std::make_unique<Latency>(lo, hi);
  } else if (type == "status_code") {
    if (!Block(node, p, type, b, {"status_codes"}, error)) return false;
    const std::string sp = yf::Join(bp, "status_codes");
    std::vector<std::string> names;
    if (!b["status_codes"].IsDefined()) return yf::Fail(b, bp, "missing 'status_codes'", error);
    if (!yf::ReadStringList(b["status_codes"], sp, &names, error)) return false;
    if (names.empty())
      return yf::Fail(b["status_codes"], sp, "expected at least one status code", error);
    std::vector<SpanStatus> codes;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "ERROR")
        codes.push_back(SpanStatus::kError);
      else if (names[i] == "OK")
        codes.push_back(SpanStatus::kOk);
      else if (names[i] == "UNSET")
        codes.push_back(SpanStatus::kUnset);
      else
        return yf::Fail(b["status_codes"][i], sp + "[" + std::to_string(i) + "]",
                        "unknown status code '" + names[i] + "' (expected ERROR, OK or UNSET)",
                        error);
    }
    out->policy = std::make_unique<StatusCode>(std::move(codes));
  } else if (type == "string_attribute") {
    if (!Block(node, p, type, b,
               {"key", "values", "enabled_regex_matching", "cache_max_size", "invert_match"},
               error))
      return false;
    std::string key;
    std::vector<std::string> values;
    bool regex = false, invert = false;
    int64_t cache = 0;
    if (!RequiredKey(b, bp, "key", &key, error)) return false;
    if (!b["values"].IsDefined()) return yf::Fail(b, bp, "missing 'values'", error);
    if (!yf::ReadStringList(b["values"], yf::Join(bp, "values"), &values, error)) return false;
    if (values.empty())
      return yf::Fail(b["values"], yf::Join(bp, "values"), "expected at least one value", error);
    if (!OptBool(b, bp, "enabled_regex_matching", &regex, error) ||
        !OptBool(b, bp, "invert_match", &invert, error))
      return false;
    if (b["cache_max_size"].IsDefined() &&
        !yf::ReadInt64(b["cache_max_size"], yf::Join(bp, "cache_max_size"), 0, 1 << 24, &cache,
                       error))
      return false;
    if (regex) {
      std::vector<boost::regex> res;
      for (size_t i = 0; i < values.size(); ++i) {
        try {
          res.emplace_back(values[i], boost::regex::perl);
        } catch (const boost::regex_error& e) {
          return yf::Fail(b["values"][i], yf::Join(bp, "values") + "[" + std::to_string(i) + "]",
                          "invalid regex '" + values[i] + "': " + e.what(), error);
        }
      }
      out->policy = std::make_unique<StringAttribute>(
          key, std::move(res), cache > 0 ? static_cast<size_t>(cache) : 128, invert);
    } else {
      out->policy = std::make_unique<StringAttribute>(key, values, invert);
    }
  } else if (type == "numeric_attribute") {
    if (!Block(node, p, type, b, {"key", "min_value", "max_value", "invert_match"}, error))
      return false;
    std::string key;
    bool invert = false;
    double lo = 0, hi = 0;
    if (!RequiredKey(b, bp, "key", &key, error) || !OptBool(b, bp, "invert_match", &invert, error))
      return false;
    const bool has_lo = b["min_value"].IsDefined(), has_hi = b["max_value"].IsDefined();
    if (!has_lo && !has_hi) return yf::Fail(b, bp, "needs min_value, max_value or both", error);
    if (has_lo && !yf::ReadDouble(b["min_value"], yf::Join(bp, "min_value"), &lo, error))
      return false;
    if (has_hi && !yf::ReadDouble(b["max_value"], yf::Join(bp, "max_value"), &hi, error))
      return false;
    if (has_lo && has_hi && hi < lo)
      return yf::Fail(b["max_value"], yf::Join(bp, "max_value"), "is less than min_value", error);
    // Integer bounds are read again exactly (a double cannot hold every int64).
    long double min = has_lo ? static_cast<long double>(lo) : -INFINITY;
    long double max = has_hi ? static_cast<long double>(hi) : INFINITY;
    long double exact = 0;
    if (has_lo && ParseNumber(b["min_value"].Scalar(), &exact)) min = exact;
    if (has_hi && ParseNumber(b["max_value"].Scalar(), &exact)) max = exact;
    out->policy = std::make_unique<NumericAttribute>(key, min, max, invert);
  } else if (type == "boolean_attribute") {
    if (!Block(node, p, type, b, {"key", "value", "invert_match"}, error)) return false;
    std::string key;
    bool value = false, invert = false;
    if (!RequiredKey(b, bp, "key", &key, error) || !OptBool(b, bp, "value", &value, error) ||
        !OptBool(b, bp, "invert_match", &invert, error))
      return false;
    out->policy = std::make_unique<BooleanAttribute>(key, value, invert);
  } else if (type == "rate_limiting") {
    if (!Block(node, p, type, b, {"spans_per_second"}, error)) return false;
    int64_t sps = 0;
    if (!b["spans_per_second"].IsDefined())
      return yf::Fail(b, bp, "missing 'spans_per_second'", error);
    if (!yf::ReadInt64(b["spans_per_second"], yf::Join(bp, "spans_per_second"), 1, 1'000'000'000,
                       &sps, error))
      return false;
    out->policy = std::make_unique<RateLimiting>(static_cast<uint64_t>(sps));
  } else if (type == "span_count") {
    if (!Block(node, p, type, b, {"min_spans", "max_spans"}, error)) return false;
    int64_t lo = 0, hi = 0;
    if (b["min_spans"].IsDefined() &&
        !yf::ReadInt64(b["min_spans"], yf::Join(bp, "min_spans"), 0, INT32_MAX, &lo, error))
      return false;
    if (b["max_spans"].IsDefined() &&
        !yf::ReadInt64(b["max_spans"], yf::Join(bp, "max_spans"), 0, INT32_MAX, &hi, error))
      return false;
    if (!b["min_spans"].IsDefined() && !b["max_spans"].IsDefined())
      return yf::Fail(b, bp, "needs min_spans, max_spans or both", error);
    if (hi != 0 && hi < lo)
      return yf::Fail(b["max_spans"], yf::Join(bp, "max_spans"), "is less than min_spans", error);
    out->policy = std::make_unique<SpanCount>(lo, hi);
  } else if (type == "and") {
    if (!Block(node, p, type, b, {"and_sub_policy"}, error)) return false;
    std::vector<Built> subs;
    if (!BuildPolicyList(b, bp, "and_sub_policy", Level::kAndSub, &subs, error)) return false;
    std::vector<std::unique_ptr<Policy>> policies;
    for (Built& s : subs) policies.push_back(std::move(s.policy));
    out->policy = std::make_unique<And>(std::move(policies));
  } else {  // composite
    if (!Block(node, p, type, b,
               {"max_total_spans_per_second", "policy_order", "composite_sub_policy",
                "rate_allocation"},
               error))
      return false;
    if (!BuildComposite(b, bp, &out->policy, error)) return false;
  }
  return true;
}

}  // namespace

uint64_t ProbabilisticHash(std::string_view salt, const TraceId& id) {
  // FNV-1a 64 (Fowler, Noll, Vo): offset basis 14695981039346656037, prime 1099511628211.
  if (salt.empty()) salt = "default-hash-seed";
  uint64_t h = 14695981039346656037ull;
  auto byte = [&h](uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  };
  for (char c : salt) byte(static_cast<uint8_t>(c));
  for (int i = 56; i >= 0; i -= 8) byte(static_cast<uint8_t>(id.hi >> i));
  for (int i = 56; i >= 0; i -= 8) byte(static_cast<uint8_t>(id.lo >> i));
  return h;
}

uint64_t ProbabilisticThreshold(double sampling_percentage) {
  const double ratio = sampling_percentage / 100;  // float64, as the Collector divides
  if (!(ratio > 0)) return 0;
  if (ratio >= 1) return UINT64_MAX;
  // x87 long double has the 64-bit mantissa and round-to-nearest-even of the Collector's
  // big.Float product (precision 64), then truncates like big.Float.Uint64.
  const long double product =
      static_cast<long double>(UINT64_MAX) * static_cast<long double>(ratio);
  return static_cast<uint64_t>(product);
}

struct TailSampler::Impl {
  std::vector<Built> policies;
  std::unique_ptr<std::atomic<uint64_t>[]> sampled;  // per top-level policy
  bool sample_on_first_match = false;
  LruMap<TraceId, bool, TraceIdHash> kept;
  LruMap<TraceId, bool, TraceIdHash> dropped;

  Impl(size_t kept_size, size_t dropped_size) : kept(kept_size), dropped(dropped_size) {}

  // The Collector's final decision over the top-level policies.
  bool Decide(const TraceFacts& f) {
    bool any_sampled = false, any_not = false, any_invert_sampled = false, any_invert_not = false;
    for (size_t i = 0; i < policies.size(); ++i) {
      const Decision d = policies[i].policy->Evaluate(f);
      if (SaysSample(d)) sampled[i].fetch_add(1, std::memory_order_relaxed);
      switch (d) {
        case Decision::kSampled:
          any_sampled = true;
          break;
        case Decision::kNotSampled:
          any_not = true;
          break;
        case Decision::kInvertSampled:
          any_invert_sampled = true;
          break;
        case Decision::kInvertNotSampled:
          any_invert_not = true;
          break;
      }
      if (sample_on_first_match && d == Decision::kSampled) break;
    }
    if (any_invert_not) return false;
    if (any_sampled) return true;
    return any_invert_sampled && !any_not;
  }
};

TailSampler::TailSampler() = default;
TailSampler::~TailSampler() = default;

std::unique_ptr<TailSampler> TailSampler::Create(const YAML::Node& ts, std::string* error) {
  // Every read checks the node's kind first, so yaml-cpp should not throw; if it does (a node
  // kind we did not foresee), the user still gets one line, not an exception.
  try {
    return CreateChecked(ts, error);
  } catch (const YAML::Exception& e) {
    *error = std::string("tail_sampling: ") + e.what();
    return nullptr;
  }
}

std::unique_ptr<TailSampler> TailSampler::CreateChecked(const YAML::Node& ts, std::string* error) {
  const std::string p = "tail_sampling";
  if (!yf::CheckMap(ts, p,
                    {"decision_wait", "decision_wait_after_root_received", "num_traces",
                     "expected_new_traces_per_sec", "sample_on_first_match", "decision_cache",
                     "block_on_overflow", "drop_pending_traces_on_shutdown", "policies"},
                    error))
    return nullptr;
  uint64_t wait_ns = 0, after_root_ns = 0;
  if (ts["decision_wait"].IsDefined() &&
      !yf::ReadDuration(ts["decision_wait"], yf::Join(p, "decision_wait"), &wait_ns, error))
    return nullptr;
  if (ts["decision_wait_after_root_received"].IsDefined() &&
      !yf::ReadDuration(ts["decision_wait_after_root_received"],
                        yf::Join(p, "decision_wait_after_root_received"), &after_root_ns, error))
    return nullptr;
  int64_t num_traces = 50000, unused = 0;
  if (ts["num_traces"].IsDefined() &&
      !yf::ReadInt64(ts["num_traces"], yf::Join(p, "num_traces"), 1, 1ll << 32, &num_traces, error))
    return nullptr;
  if (ts["expected_new_traces_per_sec"].IsDefined() &&
      !yf::ReadInt64(ts["expected_new_traces_per_sec"], yf::Join(p, "expected_new_traces_per_sec"),
                     0, INT64_MAX, &unused, error))
    return nullptr;
  bool first_match = false, ignored = false;
  if (!OptBool(ts, p, "sample_on_first_match", &first_match, error) ||
      !OptBool(ts, p, "block_on_overflow", &ignored, error) ||
      !OptBool(ts, p, "drop_pending_traces_on_shutdown", &ignored, error))
    return nullptr;
  int64_t kept_size = num_traces, dropped_size = num_traces;
  if (const YAML::Node dc = ts["decision_cache"]; dc.IsDefined()) {
    const std::string dp = yf::Join(p, "decision_cache");
    if (!yf::CheckMap(dc, dp, {"sampled_cache_size", "non_sampled_cache_size"}, error))
      return nullptr;
    int64_t v = 0;
    if (dc["sampled_cache_size"].IsDefined()) {
      if (!yf::ReadInt64(dc["sampled_cache_size"], yf::Join(dp, "sampled_cache_size"), 0, 1ll << 32,
                         &v, error))
        return nullptr;
      if (v > 0) kept_size = v;
    }
    if (dc["non_sampled_cache_size"].IsDefined()) {
      if (!yf::ReadInt64(dc["non_sampled_cache_size"], yf::Join(dp, "non_sampled_cache_size"), 0,
                         1ll << 32, &v, error))
        return nullptr;
      if (v > 0) dropped_size = v;
    }
  }
  auto impl =
      std::make_unique<Impl>(static_cast<size_t>(kept_size), static_cast<size_t>(dropped_size));
  impl->sample_on_first_match = first_match;
  if (!BuildPolicyList(ts, p, "policies", Level::kTop, &impl->policies, error)) return nullptr;
  impl->sampled = std::make_unique<std::atomic<uint64_t>[]>(impl->policies.size());

  std::unique_ptr<TailSampler> s(new TailSampler());
  s->decision_wait_ns_ = after_root_ns != 0 ? after_root_ns : wait_ns;
  s->impl_ = std::move(impl);
  return s;
}

bool TailSampler::Keep(const TraceBatch& batch, uint64_t now_mono_ns) {
  Impl& m = *impl_;
  const uint64_t spans = batch.spans.size();
  bool keep;
  if (m.kept.Find(batch.trace_id) != nullptr) {
    keep = true;
    stats_.late_batches_kept.fetch_add(1, std::memory_order_relaxed);
  } else if (m.dropped.Find(batch.trace_id) != nullptr) {
    keep = false;
    stats_.late_batches_dropped.fetch_add(1, std::memory_order_relaxed);
  } else {
    keep = m.Decide(Facts(batch, now_mono_ns));
    if ((keep ? m.kept : m.dropped).Insert(batch.trace_id, keep))
      stats_.decisions_evicted.fetch_add(1, std::memory_order_relaxed);
    if (batch.late) {
      stats_.late_undecided.fetch_add(1, std::memory_order_relaxed);
      (keep ? stats_.late_batches_kept : stats_.late_batches_dropped)
          .fetch_add(1, std::memory_order_relaxed);
    } else {
      (keep ? stats_.traces_kept : stats_.traces_dropped).fetch_add(1, std::memory_order_relaxed);
    }
  }
  (keep ? stats_.spans_kept : stats_.spans_sampled_out).fetch_add(spans, std::memory_order_relaxed);
  return keep;
}

std::vector<TailSampler::PolicyCount> TailSampler::policy_counts() const {
  std::vector<PolicyCount> out;
  for (size_t i = 0; i < impl_->policies.size(); ++i)
    out.push_back({impl_->policies[i].name, impl_->sampled[i].load(std::memory_order_relaxed)});
  return out;
}

size_t TailSampler::cached_decisions() const { return impl_->kept.size() + impl_->dropped.size(); }

}  // namespace agentring::reader
