// Strict reading of YAML nodes with one-line errors (see yaml_fields.h).
#include "reader/config/yaml_fields.h"

#include <charconv>
#include <cmath>
#include <set>

namespace agentring::reader::yaml {

std::string Where(const YAML::Node& node) {
  if (!node.IsDefined()) return "";
  const YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return "";
  return "line " + std::to_string(mark.line + 1) + " column " + std::to_string(mark.column + 1);
}

bool Fail(const YAML::Node& at, const std::string& path, const std::string& message,
          std::string* error) {
  std::string where = Where(at);
  std::string what = path.empty() ? message : path + ": " + message;
  *error = where.empty() ? what : where + ": " + what;
  return false;
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

namespace {

bool CheckMapImpl(const YAML::Node& node, const std::string& path, const std::string_view* begin,
                  const std::string_view* end, std::string* error) {
  if (!node.IsMap()) return Fail(node, path, "expected a mapping, got " + Describe(node), error);
  std::set<std::string, std::less<>> seen;
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) return Fail(key, path, "a key must be a plain name", error);
    const std::string& k = key.Scalar();
    bool known = false;
    for (const std::string_view* a = begin; a != end; ++a) known = known || *a == k;
    if (!known) {
      std::string expected;
      for (const std::string_view* a = begin; a != end; ++a)
        expected += (expected.empty() ? "" : ", ") + std::string(*a);
      return Fail(key, path,
                  "unknown key '" + k + "'" +
                      (expected.empty() ? "" : " (expected one of: " + expected + ")"),
                  error);
    }
    if (!seen.insert(k).second) return Fail(key, path, "key '" + k + "' given twice", error);
  }
  return true;
}

}  // namespace

bool CheckMap(const YAML::Node& node, const std::string& path,
              std::initializer_list<std::string_view> allowed, std::string* error) {
  return CheckMapImpl(node, path, allowed.begin(), allowed.end(), error);
}

bool CheckMap(const YAML::Node& node, const std::string& path,
              const std::vector<std::string_view>& allowed, std::string* error) {
  return CheckMapImpl(node, path, allowed.data(), allowed.data() + allowed.size(), error);
}

bool ReadString(const YAML::Node& node, const std::string& path, std::string* out,
                std::string* error) {
  if (!node.IsScalar()) return Fail(node, path, "expected a string, got " + Describe(node), error);
  *out = node.Scalar();
  return true;
}

bool ReadInt64(const YAML::Node& node, const std::string& path, int64_t min, int64_t max,
               int64_t* out, std::string* error) {
  if (!node.IsScalar())
    return Fail(node, path, "expected an integer, got " + Describe(node), error);
  const std::string& s = node.Scalar();
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (b != e && *b == '+') ++b;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || b == e)
    return Fail(node, path, "expected an integer, got '" + s + "'", error);
  if (v < min || v > max)
    return Fail(
        node, path,
        "'" + s + "' is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]",
        error);
  *out = v;
  return true;
}

bool ReadDouble(const YAML::Node& node, const std::string& path, double* out, std::string* error) {
  if (!node.IsScalar()) return Fail(node, path, "expected a number, got " + Describe(node), error);
  const std::string& s = node.Scalar();
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (b != e && *b == '+') ++b;
  double v = 0;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || b == e || !std::isfinite(v))
    return Fail(node, path, "expected a number, got '" + s + "'", error);
  *out = v;
  return true;
}

bool ReadBool(const YAML::Node& node, const std::string& path, bool* out, std::string* error) {
  bool v = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, v))
    return Fail(node, path, "expected true or false, got " + Describe(node), error);
  *out = v;
  return true;
}

bool ReadStringList(const YAML::Node& node, const std::string& path, std::vector<std::string>* out,
                    std::string* error) {
  if (!node.IsSequence()) return Fail(node, path, "expected a list, got " + Describe(node), error);
  out->clear();
  for (size_t i = 0; i < node.size(); ++i) {
    std::string v;
    if (!ReadString(node[i], path + "[" + std::to_string(i) + "]", &v, error)) return false;
    out->push_back(std::move(v));
  }
  return true;
}

bool TryParseDuration(std::string_view text, uint64_t* out_ns) {
  if (text == "0") {
    *out_ns = 0;
    return true;
  }
  if (text.empty()) return false;
  // Go's time.ParseDuration, without the sign: ([0-9]*(\.[0-9]*)?[a-zµ]+)+
  long double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    uint64_t whole = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (whole > (UINT64_MAX - 9) / 10) return false;
      whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
      ++i;
      ++digits;
    }
    long double frac = 0;
    long double scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        scale /= 10;
        frac += scale * (text[i] - '0');
        ++i;
        ++digits;
      }
    }
    if (digits == 0) return false;
    size_t unit_start = i;
    while (i < text.size() && !(text[i] >= '0' && text[i] <= '9') && text[i] != '.') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    long double unit_ns;
    if (unit == "ns")
      unit_ns = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")
      unit_ns = 1e3L;
    else if (unit == "ms")
      unit_ns = 1e6L;
    else if (unit == "s")
      unit_ns = 1e9L;
    else if (unit == "m")
      unit_ns = 60e9L;
    else if (unit == "h")
      unit_ns = 3600e9L;
    else
      return false;
    total_ns += (static_cast<long double>(whole) + frac) * unit_ns;
    if (total_ns > static_cast<long double>(INT64_MAX)) return false;  // Go's limit (~292 years)
  }
  *out_ns = static_cast<uint64_t>(total_ns);
  return true;
}

bool ReadDuration(const YAML::Node& node, const std::string& path, uint64_t* out_ns,
                  std::string* error) {
  if (!node.IsScalar() || !TryParseDuration(node.Scalar(), out_ns))
    return Fail(node, path, "expected a duration like 10s, 500ms or 1m30s, got " + Describe(node),
                error);
  return true;
}

}  // namespace agentring::reader::yaml
