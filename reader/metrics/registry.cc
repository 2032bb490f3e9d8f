// The metrics registry and its text exposition (see registry.h).
#include "reader/metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "reader/export/utf8.h"

namespace agentring::reader::metrics {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

const char* TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text: the format escapes only backslash and line feed there.
void AppendHelp(std::string* out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

// `{a="x",b="y"` plus `extra` (a pre-rendered `le="..."`) and `}`; nothing when there are no
// labels at all.
void AppendLabels(std::string* out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra) {
  if (names.empty() && extra.empty()) return;
  *out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) *out += ',';
    *out += names[i];
    *out += "=\"";
    *out += EscapeLabelValue(values[i]);
    *out += '"';
  }
  if (!extra.empty()) {
    if (!names.empty()) *out += ',';
    *out += extra;
  }
  *out += '}';
}

void AppendSample(std::string* out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& names, const std::vector<std::string>& values,
                  std::string_view extra, double v) {
  *out += name;
  *out += suffix;
  AppendLabels(out, names, values, extra);
  *out += ' ';
  *out += FormatValue(v);
  *out += '\n';
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  for (char c : name)
    if (!(IsNameStart(c) || IsDigit(c) || c == ':')) return false;
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0]) || name.substr(0, 2) == "__") return false;
  for (char c : name)
    if (!(IsNameStart(c) || IsDigit(c))) return false;
  return true;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  size_t n = value.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '"') {
        out += "\\\"";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    int step = Utf8SequenceStep(p + i, n - i);
    if (step > 0) {
      out.append(value.data() + i, static_cast<size_t>(step));
      i += static_cast<size_t>(step);
    } else {
      out += kUtf8Replacement;
      i += static_cast<size_t>(-step);
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  if (v == std::trunc(v) && std::fabs(v) < kExactIntegers) {
    if (v == 0) return "0";  // also -0
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
  return std::string(buf, r.ptr);
}

std::string_view LabelValueCap::Map(std::string_view value) {
  if (value.size() > max_value_bytes_) {
    size_t cut = max_value_bytes_;
    // Cut at a code-point boundary: back off over continuation bytes (10xxxxxx).
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
    value = value.substr(0, cut);
  }
  auto it = seen_.find(value);
  if (it != seen_.end()) return *it;
  if (seen_.size() >= max_values_) {
    ++folded_;
    return MetricsRegistry::kOtherLabelValue;
  }
  return *seen_.insert(std::string(value)).first;
}

Family* MetricsRegistry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names, std::string* error,
                                    size_t max_series) {
  return Add(MetricType::kCounter, std::move(name), std::move(help), std::move(label_names), {},
             max_series, error);
}

Family* MetricsRegistry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names, std::string* error,
                                  size_t max_series) {
  return Add(MetricType::kGauge, std::move(name), std::move(help), std::move(label_names), {},
             max_series, error);
}

Family* MetricsRegistry::AddHistogram(std::string name, std::string help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> bounds, std::string* error,
                                      size_t max_series) {
  return Add(MetricType::kHistogram, std::move(name), std::move(help), std::move(label_names),
             std::move(bounds), max_series, error);
}

Family* MetricsRegistry::Add(MetricType type, std::string name, std::string help,
                             std::vector<std::string> label_names, std::vector<double> bounds,
                             size_t max_series, std::string* error) {
  auto fail = [&](const std::string& why) -> Family* {
    *error = "metric " + name + ": " + why;
    return nullptr;
  };
  if (!IsValidMetricName(name)) return fail("not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  if (type == MetricType::kCounter &&
      (name.size() <= 6 || name.compare(name.size() - 6, 6, "_total") != 0))
    return fail("a counter's name must end in _total");
  if (type != MetricType::kCounter && name.size() >= 6 &&
      name.compare(name.size() - 6, 6, "_total") == 0)
    return fail("only counters end in _total");
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& l = label_names[i];
    if (!IsValidLabelName(l)) return fail("label '" + l + "' is not a valid label name");
    if (type == MetricType::kHistogram && l == "le")
      return fail("a histogram cannot have a label 'le'");
    for (size_t j = 0; j < i; ++j)
      if (label_names[j] == l) return fail("label '" + l + "' appears twice");
  }
  if (type == MetricType::kHistogram) {
    if (bounds.empty()) return fail("a histogram needs at least one bucket bound");
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (!std::isfinite(bounds[i])) return fail("bucket bounds must be finite");
      if (i > 0 && !(bounds[i] > bounds[i - 1]))
        return fail("bucket bounds must be strictly increasing");
    }
  }
  if (max_series == 0) return fail("max_series must be at least 1");

  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) {
    // Histograms also own NAME_bucket, NAME_sum and NAME_count.
    auto owns = [](const Family& fam, const std::string& n) {
      if (fam.name_ == n) return true;
      if (fam.type_ != MetricType::kHistogram) return false;
      return n == fam.name_ + "_bucket" || n == fam.name_ + "_sum" || n == fam.name_ + "_count";
    };
    if (owns(*f, name) || (type == MetricType::kHistogram &&
                           (owns(*f, name + "_bucket") || owns(*f, name + "_sum") ||
                            owns(*f, name + "_count"))))
      return fail("name already registered");
  }
  auto f = std::make_unique<Family>();
  f->name_ = std::move(name);
  f->help_ = std::move(help);
  f->type_ = type;
  f->label_names_ = std::move(label_names);
  f->bounds_ = std::move(bounds);
  f->max_series_ = max_series;
  if (f->label_names_.empty()) {
    // The one series of a family without labels exists from the start, at 0.
    Series& s = f->series_[{}];
    if (type == MetricType::kHistogram) s.bucket_counts.assign(f->bounds_.size() + 1, 0);
  }
  families_.push_back(std::move(f));
  return families_.back().get();
}

Series* MetricsRegistry::Batch::Find(Family* f,
                                     std::initializer_list<std::string_view> label_values) {
  if (label_values.size() != f->label_names_.size()) {
    ++registry_->bad_samples_;
    return nullptr;
  }
  auto it = f->series_.find(label_values);  // no allocation when the series exists
  if (it == f->series_.end()) {
    std::vector<std::string> key(label_values.begin(), label_values.end());
    if (f->series_.size() >= f->max_series_) {
      // Full: fold into the all-"other" series (which may itself go one past the bound, once).
      ++registry_->folded_samples_;
      key.assign(key.size(), std::string(kOtherLabelValue));
      it = f->series_.find(key);
    }
    if (it == f->series_.end()) {
      it = f->series_.emplace(std::move(key), Series{}).first;
      if (f->type_ == MetricType::kHistogram)
        it->second.bucket_counts.assign(f->bounds_.size() + 1, 0);
    }
  }
  return &it->second;
}

void MetricsRegistry::Batch::Add(Family* f, std::initializer_list<std::string_view> label_values,
                                 double delta) {
  if (f->type_ != MetricType::kCounter || !(delta >= 0)) {
    ++registry_->bad_samples_;
    return;
  }
  if (Series* s = Find(f, label_values)) s->value += delta;
}

void MetricsRegistry::Batch::Set(Family* f, std::initializer_list<std::string_view> label_values,
                                 double value) {
  if (f->type_ == MetricType::kHistogram) {
    ++registry_->bad_samples_;
    return;
  }
  if (Series* s = Find(f, label_values)) s->value = value;
}

void MetricsRegistry::Batch::Observe(Family* f,
                                     std::initializer_list<std::string_view> label_values,
                                     double value) {
  if (f->type_ != MetricType::kHistogram || std::isnan(value)) {
    ++registry_->bad_samples_;
    return;
  }
  Series* s = Find(f, label_values);
  if (!s) return;
  // The first bound >= value: buckets are "less than or equal" (le).
  size_t i = static_cast<size_t>(std::lower_bound(f->bounds_.begin(), f->bounds_.end(), value) -
                                 f->bounds_.begin());
  ++s->bucket_counts[i];
  s->sum += value;
  ++s->count;
}

void MetricsRegistry::Batch::Touch(Family* f,
                                   std::initializer_list<std::string_view> label_values) {
  Find(f, label_values);
}

void MetricsRegistry::Batch::Clear(Family* f) {
  f->series_.clear();
  if (f->label_names_.empty()) {
    Series& s = f->series_[{}];
    if (f->type_ == MetricType::kHistogram) s.bucket_counts.assign(f->bounds_.size() + 1, 0);
  }
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out.reserve(families_.size() * 160);
  for (const auto& fp : families_) {
    const Family& f = *fp;
    out += "# HELP ";
    out += f.name_;
    out += ' ';
    AppendHelp(&out, f.help_);
    out += "\n# TYPE ";
    out += f.name_;
    out += ' ';
    out += TypeName(f.type_);
    out += '\n';
    // Series sorted by label values: a stable, diffable output.
    std::vector<const std::pair<const std::vector<std::string>, Series>*> sorted;
    sorted.reserve(f.series_.size());
    for (const auto& entry : f.series_) sorted.push_back(&entry);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* entry : sorted) {
      const std::vector<std::string>& values = entry->first;
      const Series& s = entry->second;
      if (f.type_ != MetricType::kHistogram) {
        AppendSample(&out, f.name_, "", f.label_names_, values, "", s.value);
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < s.bucket_counts.size(); ++i) {
        cumulative += s.bucket_counts[i];
        std::string le = "le=\"";
        le += i < f.bounds_.size() ? FormatValue(f.bounds_[i]) : "+Inf";
        le += '"';
        AppendSample(&out, f.name_, "_bucket", f.label_names_, values, le,
                     static_cast<double>(cumulative));
      }
      AppendSample(&out, f.name_, "_sum", f.label_names_, values, "", s.sum);
      AppendSample(&out, f.name_, "_count", f.label_names_, values, "",
                   static_cast<double>(s.count));
    }
  }
  return out;
}

uint64_t MetricsRegistry::folded_samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return folded_samples_;
}

uint64_t MetricsRegistry::bad_samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bad_samples_;
}

}  // namespace agentring::reader::metrics
