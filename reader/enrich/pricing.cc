// The pricing table: JSON loading with one-line errors, the built-in copy, name matching, and
// where the default file is found.
#include "reader/enrich/pricing.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

namespace agentring::reader {
namespace {

namespace json = boost::json;

// The built-in table: keep in sync with pricing/pricing.json (EnrichPricing.JsonFileMatchesBuiltin
// fails otherwise). A negative cached price means "not discounted" (= input), as an omitted
// "cached_input" does in the file.
constexpr const char* kBuiltinVersion = "2025-11-25";
struct BuiltinPrice {
  const char* name;
  double input, output, cached_input;
};
constexpr BuiltinPrice kBuiltinPrices[] = {
    {"gpt-5", 1.25, 10.00, 0.125},
    {"gpt-5-mini", 0.25, 2.00, 0.025},
    {"gpt-5-nano", 0.05, 0.40, 0.005},
    {"gpt-4o", 2.50, 10.00, 1.25},
    {"gpt-4o-2024-05-13", 5.00, 15.00, -1},
    {"gpt-4o-mini", 0.15, 0.60, 0.075},
    {"gpt-4.1", 2.00, 8.00, 0.50},
    {"gpt-4.1-mini", 0.40, 1.60, 0.10},
    {"gpt-4.1-nano", 0.10, 0.40, 0.025},
    {"o1", 15.00, 60.00, 7.50},
    {"o3", 2.00, 8.00, 0.50},
    {"o3-mini", 1.10, 4.40, 0.55},
    {"o4-mini", 1.10, 4.40, 0.275},
    {"text-embedding-3-small", 0.02, 0.00, -1},
    {"text-embedding-3-large", 0.13, 0.00, -1},
    {"claude-opus-4", 15.00, 75.00, 1.50},
    {"claude-opus-4-1", 15.00, 75.00, 1.50},
    {"claude-opus-4-5", 5.00, 25.00, 0.50},
    {"claude-sonnet-4", 3.00, 15.00, 0.30},
    {"claude-sonnet-4-5", 3.00, 15.00, 0.30},
    {"claude-haiku-4-5", 1.00, 5.00, 0.10},
    {"claude-3-7-sonnet", 3.00, 15.00, 0.30},
    {"claude-3-5-sonnet", 3.00, 15.00, 0.30},
    {"claude-3-5-haiku", 0.80, 4.00, 0.08},
    {"claude-3-haiku", 0.25, 1.25, 0.03},
    {"gemini-2.0-flash", 0.10, 0.40, 0.025},
    {"gemini-2.0-flash-lite", 0.075, 0.30, -1},
    {"gemini-2.5-flash", 0.30, 2.50, 0.075},
    {"mistral-large", 2.00, 6.00, -1},
    {"mistral-small", 0.10, 0.30, -1},
    {"llama3.1", 0, 0, 0},
    {"llama3.2", 0, 0, 0},
    {"llama3.3", 0, 0, 0},
    {"all-minilm-l6-v2", 0, 0, -1},
};

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Whether `rest` (what follows a table name in a model name, starting with '-', ':' or '@') is a
// date/version suffix only, so that the model is a dated snapshot or alias of that name rather
// than a different model ("-mini", "-5", "-realtime-preview").
bool IsVersionSuffix(std::string_view rest) {
  if (rest.size() < 2) return false;
  if (rest[0] == ':' || rest[0] == '@') return true;  // "llama3.1:8b", "...@20241022"
  bool first = true;
  size_t i = 0;
  while (i < rest.size()) {
    if (rest[i] == ':' || rest[i] == '@') return i + 1 < rest.size();  // "-v1:0"
    if (rest[i] != '-') return false;
    const size_t end = rest.find_first_of("-:@", i + 1);
    const std::string_view token =
        rest.substr(i + 1, (end == std::string_view::npos ? rest.size() : end) - i - 1);
    const bool number = AllDigits(token) && (!first || token.size() >= 3);
    const bool version = token.size() >= 2 && token[0] == 'v' && token[1] >= '0' &&
                         token[1] <= '9' &&
                         std::all_of(token.begin() + 1, token.end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    if (!number && !version && token != "latest") return false;
    first = false;
    if (end == std::string_view::npos) break;
    i = end;
  }
  return true;
}

// "line L column C" (1-based) of byte `offset` in `text`.
std::string PositionOf(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t newline = before.rfind('\n');
  const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
  return "line " + std::to_string(line) + " column " + std::to_string(offset - line_start + 1);
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// A price: a finite, non-negative JSON number.
bool TryPrice(const json::value& v, double* out) {
  double d;
  if (v.is_double()) d = v.get_double();
  else if (v.is_int64()) d = static_cast<double>(v.get_int64());
  else if (v.is_uint64()) d = static_cast<double>(v.get_uint64());
  else return false;
  if (!std::isfinite(d) || d < 0) return false;
  *out = d;
  return true;
}

}  // namespace

std::unique_ptr<PricingTable> PricingTable::Builtin() {
  auto t = std::make_unique<PricingTable>();
  t->version_ = kBuiltinVersion;
  for (const BuiltinPrice& p : kBuiltinPrices) {
    t->models_[p.name] =
        ModelPrice{p.input, p.output, p.cached_input < 0 ? p.input : p.cached_input};
  }
  return t;
}

std::unique_ptr<PricingTable> PricingTable::TryParse(std::string_view text,
                                                     std::string_view source,
                                                     std::string* error) {
  const std::string prefix = "pricing " + std::string(source) + ": ";
  auto fail = [&](const std::string& reason) {
    *error = prefix + reason;
    return nullptr;
  };
  json::stream_parser parser;
  json::error_code ec;
  const size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    return fail(PositionOf(text, consumed) + ": " + ec.message());
  }
  const json::value doc = parser.release();
  if (!doc.is_object()) return fail("expected a JSON object at the top level");

  auto t = std::make_unique<PricingTable>();
  const json::value* models = nullptr;
  for (const auto& kv : doc.get_object()) {
    const std::string_view key(kv.key().data(), kv.key().size());
    if (!key.empty() && key[0] == '_') continue;  // comments
    if (key == "version") {
      if (!kv.value().is_string()) return fail("version: expected a string");
      t->version_ = std::string(kv.value().get_string());
    } else if (key == "currency") {
      if (!kv.value().is_string() || kv.value().get_string() != "USD")
        return fail("currency: only \"USD\" is supported");
    } else if (key == "unit") {
      if (!kv.value().is_string() || kv.value().get_string() != "per_1m_tokens")
        return fail("unit: only \"per_1m_tokens\" is supported");
    } else if (key == "models") {
      models = &kv.value();
    } else {
      return fail("unknown key " + Quoted(key) +
                  " (expected version, currency, unit, models, or _comment)");
    }
  }
  if (!models) return fail("missing \"models\"");
  if (!models->is_object()) return fail("models: expected an object of model name -> prices");
  for (const auto& kv : models->get_object()) {
    const std::string_view raw(kv.key().data(), kv.key().size());
    if (!raw.empty() && raw[0] == '_') continue;
    const std::string where = "models." + Quoted(raw);
    if (raw.empty()) return fail("models: empty model name");
    if (!kv.value().is_object())
      return fail(where + ": expected {\"input\": N, \"output\": N[, \"cached_input\": N]}");
    ModelPrice p;
    bool has_in = false, has_out = false, has_cached = false;
    for (const auto& f : kv.value().get_object()) {
      const std::string_view field(f.key().data(), f.key().size());
      double* dst = field == "input"          ? (has_in = true, &p.input_per_mtok)
                    : field == "output"       ? (has_out = true, &p.output_per_mtok)
                    : field == "cached_input" ? (has_cached = true, &p.cached_input_per_mtok)
                                              : nullptr;
      if (!dst) {
        if (!field.empty() && field[0] == '_') continue;
        return fail(where + ": unknown field " + Quoted(field) +
                    " (expected input, output, cached_input)");
      }
      if (!TryPrice(f.value(), dst))
        return fail(where + "." + std::string(field) +
                    ": expected a non-negative number (USD per 1M tokens)");
    }
    if (!has_in) return fail(where + ": missing \"input\"");
    if (!has_out) return fail(where + ": missing \"output\"");
    if (!has_cached) p.cached_input_per_mtok = p.input_per_mtok;
    if (!t->models_.emplace(AsciiLower(raw), p).second)
      return fail(where + ": listed twice (names are case-insensitive)");
  }
  return t;
}

std::unique_ptr<PricingTable> PricingTable::TryLoadFile(const std::string& path,
                                                        std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "pricing " + path + ": cannot read: " + strerror(errno);
    return nullptr;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *error = "pricing " + path + ": cannot read: " + strerror(errno);
    return nullptr;
  }
  return TryParse(ss.str(), path, error);
}

const ModelPrice* PricingTable::FindUnqualified(std::string_view lower) const {
  if (auto it = models_.find(lower); it != models_.end()) return &it->second;
  // Longest prefix first: cut at each separator from the right.
  for (size_t i = lower.size(); i-- > 1;) {
    const char c = lower[i];
    if (c != '-' && c != ':' && c != '@') continue;
    auto it = models_.find(lower.substr(0, i));
    if (it != models_.end() && IsVersionSuffix(lower.substr(i))) return &it->second;
  }
  return nullptr;
}

const ModelPrice* PricingTable::Find(std::string_view model) const {
  if (model.empty()) return nullptr;
  const std::string lower = AsciiLower(model);
  if (const ModelPrice* p = FindUnqualified(lower)) return p;
  const size_t slash = lower.rfind('/');
  if (slash != std::string::npos && slash + 1 < lower.size())
    return FindUnqualified(std::string_view(lower).substr(slash + 1));
  return nullptr;
}

std::string FindDefaultPricingFile() {
  if (const char* env = getenv(kPricingEnvVar); env && *env) return env;
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  std::string dir(exe, static_cast<size_t>(n));
  dir.resize(dir.rfind('/') == std::string::npos ? 0 : dir.rfind('/'));
  for (const char* rel : {"/../../pricing/pricing.json", "/../share/agentring/pricing.json"}) {
    const std::string candidate = dir + rel;
    if (access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace agentring::reader
