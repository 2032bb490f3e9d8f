// The content rules of OTLP exports, shared by both encodings (see otlp_content.h).
#include "reader/export/otlp_content.h"

#include <unistd.h>

#include <cstdlib>

namespace agentring::reader {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(c | 0x20);  // lower case
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// Trims blanks, then decodes %XX escapes (a '%' not followed by two hex digits stays as is).
std::string TrimAndDecode(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const int hi = s[i] == '%' && i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(s[i + 2]) : -1;
    if (lo >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 3;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

bool IsUnknownService(std::string_view name) {
  return name == "unknown_service" || name.starts_with("unknown_service:");
}

bool HasKey(const std::vector<OtlpResourceAttribute>& attrs, std::string_view key) {
  for (const OtlpResourceAttribute& a : attrs)
    if (a.key == key) return true;
  return false;
}

bool SpanHasKey(const std::vector<Attribute>& attributes, std::string_view key) {
  for (const Attribute& a : attributes)
    if (a.key == key) return true;
  return false;
}

}  // namespace

bool ParseOtlpKeyValueList(std::string_view text,
                           std::vector<std::pair<std::string, std::string>>* out,
                           std::string* error) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view entry = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (entry.find_first_not_of(" \t") == std::string_view::npos) continue;  // empty entry
    const size_t eq = entry.find('=');
    std::string key = eq == std::string_view::npos ? std::string() : TrimAndDecode(entry.substr(0, eq));
    if (key.empty()) {
      *error = "bad entry '" + std::string(entry) + "' (expected key=value)";
      return false;
    }
    out->emplace_back(std::move(key), TrimAndDecode(entry.substr(eq + 1)));
  }
  return true;
}

OtlpResourceDefaults OtlpResourceDefaultsFromEnv() {
  OtlpResourceDefaults d;
  std::string ignored;
  if (const char* ra = getenv("OTEL_RESOURCE_ATTRIBUTES"); ra != nullptr)
    ParseOtlpKeyValueList(ra, &d.fallback_attributes, &ignored);  // bad entries: skipped, as SDKs do
  for (const auto& [key, value] : d.fallback_attributes)
    if (key == "service.name") d.fallback_service_name = value;
  if (const char* sn = getenv("OTEL_SERVICE_NAME"); sn != nullptr && *sn != '\0')
    d.fallback_service_name = sn;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0')
    d.added_attributes.emplace_back("host.name", host);
  d.added_attributes.emplace_back("telemetry.sdk.name", "agentring");
  d.added_attributes.emplace_back("telemetry.sdk.language", "cpp");
  d.added_attributes.emplace_back("telemetry.sdk.version", std::string(kOtlpScopeVersion));
  return d;
}

void BuildOtlpResource(const ProcessInfo* process, const OtlpResourceDefaults* defaults,
                       std::vector<OtlpResourceAttribute>* out) {
  out->clear();
  const bool use_fallback_name = defaults != nullptr && !defaults->fallback_service_name.empty();
  auto service_name = [&](std::string_view writers) -> std::string_view {
    return use_fallback_name && IsUnknownService(writers)
               ? std::string_view(defaults->fallback_service_name)
               : writers;
  };
  if (process == nullptr) {
    out->push_back({"service.name", service_name("unknown_service")});
  } else {
    bool has_service_name = false;
    for (const auto& [key, value] : process->resource) has_service_name |= key == "service.name";
    if (!has_service_name) {
      out->push_back({"service.name", service_name(process->service_name.empty()
                                                       ? std::string_view("unknown_service")
                                                       : std::string_view(process->service_name))});
    }
    for (const auto& [key, value] : process->resource) {
      if (key == "process.pid") continue;  // written below with its proper int type
      out->push_back({key, key == "service.name" ? service_name(value) : std::string_view(value)});
    }
    out->push_back({"process.pid", {}, process->pid, true});
  }
  if (defaults == nullptr) return;
  for (const auto* list : {&defaults->fallback_attributes, &defaults->added_attributes}) {
    for (const auto& [key, value] : *list)
      if (!HasKey(*out, key)) out->push_back({key, value});
  }
}

OtlpSpanExtras OtlpSpanExtrasOf(const SpanData& span) {
  OtlpSpanExtras e;
  e.add_kind = !SpanHasKey(span.attributes, kAgentKindKey);
  e.add_incomplete = span.incomplete && !SpanHasKey(span.attributes, kIncompleteKey);
  return e;
}

void OtlpSpanGroups::Build(std::span<const TraceBatch* const> traces) {
  processes_.clear();
  group_of_.clear();
  begin_.clear();
  ordered_.clear();
  // A request touches few processes, so a linear search (with a last-hit shortcut) beats a map.
  size_t last = 0;
  for (const TraceBatch* t : traces) {
    for (const auto& s : t->spans) {
      if (!s) continue;
      const ProcessInfo* p = s->process.get();
      if (processes_.empty() || processes_[last] != p) {
        last = processes_.size();
        for (size_t g = 0; g < processes_.size(); ++g)
          if (processes_[g] == p) last = g;
        if (last == processes_.size()) processes_.push_back(p);
      }
      group_of_.push_back(static_cast<uint32_t>(last));
    }
  }
  // Counting sort of the spans by group (stable).
  begin_.assign(processes_.size() + 1, 0);
  for (uint32_t g : group_of_) ++begin_[g + 1];
  for (size_t g = 1; g < begin_.size(); ++g) begin_[g] += begin_[g - 1];
  ordered_.resize(group_of_.size());
  cursor_.assign(begin_.begin(), begin_.end() - 1);
  size_t i = 0;
  for (const TraceBatch* t : traces) {
    for (const auto& s : t->spans) {
      if (!s) continue;
      ordered_[cursor_[group_of_[i++]]++] = s.get();
    }
  }
}

}  // namespace agentring::reader
