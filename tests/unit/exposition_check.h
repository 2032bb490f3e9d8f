// Test-side reader of the Prometheus text exposition format 0.0.4, written from the format's
// description (not from reader/metrics/, so it cannot share that code's mistakes). Check() parses
// every line and reports every violation of what agentring promises (registry.h):
//   - every family has `# HELP` and then `# TYPE` before any of its samples, each exactly once,
//     and its samples are contiguous (no other family in between);
//   - metric and label names are valid, label values are quoted with only \\ \" \n escapes, no
//     label name repeats, values parse as floats (or +Inf, -Inf, NaN);
//   - a sample's name is its family's (counter and gauge) or the family's _bucket/_sum/_count
//     (histogram); counters end in _total and are >= 0; no gauge or histogram ends in _total;
//   - each histogram series has le buckets in increasing order with non-decreasing counts, the
//     last one le="+Inf", equal to its _count, and a _sum;
//   - the text ends with a line feed.
// It also promtool-checks text when /usr/bin/promtool exists (PromtoolCheck).
#ifndef AGENTRING_TESTS_UNIT_EXPOSITION_CHECK_H_
#define AGENTRING_TESTS_UNIT_EXPOSITION_CHECK_H_

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentring::testing {

struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct ParsedFamily {
  std::string help;
  std::string type;
  std::vector<ParsedSample> samples;
};

struct ParsedExposition {
  std::vector<std::string> order;  // family names in order of appearance
  std::map<std::string, ParsedFamily> families;
  std::vector<std::string> errors;  // "line N: what"; empty when the text is clean

  // The value of sample `name` with exactly `labels`, or nullopt.
  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& [fname, f] : families)
      for (const ParsedSample& s : f.samples)
        if (s.name == name && s.labels == labels) return s.value;
    return std::nullopt;
  }
  // Samples named `name` (any labels).
  size_t Count(const std::string& name) const {
    size_t n = 0;
    for (const auto& [fname, f] : families)
      for (const ParsedSample& s : f.samples) n += s.name == name;
    return n;
  }
};

namespace exposition_internal {

inline bool NameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
inline bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }
inline bool ValidMetricName(std::string_view n) {
  if (n.empty() || !(NameStart(n[0]) || n[0] == ':')) return false;
  for (char c : n)
    if (!(NameChar(c) || c == ':')) return false;
  return true;
}
inline bool ValidLabelName(std::string_view n) {
  if (n.empty() || !NameStart(n[0]) || n.substr(0, 2) == "__") return false;
  for (char c : n)
    if (!NameChar(c)) return false;
  return true;
}
inline bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
inline std::optional<double> ParseFloat(const std::string& s) {
  if (s == "+Inf" || s == "Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return std::nan("");
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno != 0) return std::nullopt;
  return v;
}

}  // namespace exposition_internal

inline ParsedExposition CheckExposition(const std::string& text) {
  using namespace exposition_internal;
  ParsedExposition out;
  auto err = [&out](size_t line, const std::string& what) {
    out.errors.push_back("line " + std::to_string(line) + ": " + what);
  };
  if (!text.empty() && text.back() != '\n') err(0, "text does not end with a line feed");
  std::string current;  // family whose samples are being read
  std::set<std::string> finished;  // families whose samples ended (another family began)
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) {
      err(line_no, "empty line");
      continue;
    }
    if (line[0] == '#') {
      // "# HELP name text" / "# TYPE name type"
      bool help = line.rfind("# HELP ", 0) == 0;
      bool type = line.rfind("# TYPE ", 0) == 0;
      if (!help && !type) continue;  // a plain comment
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      std::string name = rest.substr(0, sp);
      std::string arg = sp == std::string::npos ? "" : rest.substr(sp + 1);
      if (!ValidMetricName(name)) err(line_no, "bad metric name '" + name + "'");
      if (name != current) {
        if (!current.empty()) finished.insert(current);
        if (finished.count(name)) err(line_no, "family " + name + " appears twice");
        current = name;
      }
      bool is_new = !out.families.count(name);
      ParsedFamily& f = out.families[name];
      if (is_new) out.order.push_back(name);
      if (!f.samples.empty()) err(line_no, "HELP/TYPE of " + name + " after its samples");
      if (help) {
        if (!f.help.empty() || !f.type.empty())
          err(line_no, "HELP of " + name + " repeated or after TYPE");
        if (arg.empty()) err(line_no, "empty HELP for " + name);
        f.help = arg.empty() ? "?" : arg;
      } else {
        if (!f.type.empty()) err(line_no, "TYPE of " + name + " repeated");
        if (f.help.empty()) err(line_no, "TYPE of " + name + " before its HELP");
        if (arg != "counter" && arg != "gauge" && arg != "histogram" && arg != "summary" &&
            arg != "untyped")
          err(line_no, "bad type '" + arg + "'");
        f.type = arg;
        if (arg == "counter" && !EndsWith(name, "_total"))
          err(line_no, "counter " + name + " does not end in _total");
        if (arg != "counter" && EndsWith(name, "_total"))
          err(line_no, arg + " " + name + " ends in _total");
      }
      continue;
    }
    // A sample: name [ "{" labels "}" ] " " value [ " " timestamp ]
    ParsedSample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!ValidMetricName(s.name)) err(line_no, "bad sample name '" + s.name + "'");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) {
          err(line_no, "label without '='");
          break;
        }
        std::string lname = line.substr(i, eq - i);
        if (!ValidLabelName(lname)) err(line_no, "bad label name '" + lname + "'");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          err(line_no, "label value not quoted");
          break;
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            char e = i < line.size() ? line[i++] : '\0';
            if (e == '\\') value += '\\';
            else if (e == '"') value += '"';
            else if (e == 'n') value += '\n';
            else err(line_no, std::string("bad escape \\") + e);
          } else {
            value += c;
          }
        }
        if (!closed) {
          err(line_no, "unterminated label value");
          break;
        }
        if (!s.labels.emplace(lname, value).second) err(line_no, "label " + lname + " repeated");
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') {
        err(line_no, "labels not closed");
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      err(line_no, "no value");
      continue;
    }
    std::string rest = line.substr(i + 1);
    std::string value_text = rest.substr(0, rest.find(' '));
    std::optional<double> v = ParseFloat(value_text);
    if (!v) {
      err(line_no, "bad value '" + value_text + "'");
      continue;
    }
    s.value = *v;
    // The family: the current one, if the name belongs to it.
    auto it = out.families.find(current);
    if (it == out.families.end()) {
      err(line_no, "sample " + s.name + " without HELP/TYPE");
      continue;
    }
    ParsedFamily& f = it->second;
    bool belongs = f.type == "histogram"
                       ? (s.name == current + "_bucket" || s.name == current + "_sum" ||
                          s.name == current + "_count")
                       : s.name == current;
    if (!belongs) err(line_no, "sample " + s.name + " is not of family " + current);
    if (f.type == "counter" && !(s.value >= 0)) err(line_no, "negative counter " + s.name);
    if (f.type == "histogram" && (s.name == current + "_bucket") != (s.labels.count("le") == 1))
      err(line_no, "le label on a non-bucket or missing on a bucket");
    f.samples.push_back(std::move(s));
  }
  // Histograms: per series (labels without le), increasing le, cumulative, +Inf == _count.
  for (const auto& [name, f] : out.families) {
    if (f.help.empty() || f.type.empty()) out.errors.push_back(name + ": HELP or TYPE missing");
    if (f.type != "histogram") continue;
    struct Acc {
      std::vector<std::pair<double, double>> buckets;  // (le, count)
      std::optional<double> sum, count;
    };
    std::map<std::map<std::string, std::string>, Acc> series;
    for (const ParsedSample& s : f.samples) {
      auto labels = s.labels;
      std::string le = labels.count("le") ? labels["le"] : "";
      labels.erase("le");
      Acc& a = series[labels];
      if (s.name == name + "_bucket") {
        std::optional<double> bound = ParseFloat(le);
        if (!bound) out.errors.push_back(name + ": bad le '" + le + "'");
        else a.buckets.emplace_back(*bound, s.value);
      } else if (s.name == name + "_sum") {
        a.sum = s.value;
      } else {
        a.count = s.value;
      }
    }
    for (const auto& [labels, a] : series) {
      if (a.buckets.empty() || !std::isinf(a.buckets.back().first))
        out.errors.push_back(name + ": a series does not end with le=\"+Inf\"");
      for (size_t i = 1; i < a.buckets.size(); ++i) {
        if (!(a.buckets[i].first > a.buckets[i - 1].first))
          out.errors.push_back(name + ": le not increasing");
        if (a.buckets[i].second < a.buckets[i - 1].second)
          out.errors.push_back(name + ": buckets not cumulative");
      }
      if (!a.sum || !a.count) out.errors.push_back(name + ": a series lacks _sum or _count");
      else if (!a.buckets.empty() && a.buckets.back().second != *a.count)
        out.errors.push_back(name + ": +Inf bucket differs from _count");
    }
  }
  return out;
}

inline constexpr char kPromtoolPath[] = "/usr/bin/promtool";

// Runs `promtool check metrics` on `text` (through a temporary file on its standard input).
// Returns nullopt when promtool is not installed; else (exit status, its output).
inline std::optional<std::pair<int, std::string>> PromtoolCheck(const std::string& text) {
  if (access(kPromtoolPath, X_OK) != 0) return std::nullopt;
  char path[] = "/tmp/agentring-metrics-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return std::make_pair(-1, std::string("mkstemp failed"));
  bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!written) {
    unlink(path);
    return std::make_pair(-1, std::string("cannot write the temporary file"));
  }
  std::string cmd = std::string(kPromtoolPath) + " check metrics < " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string output;
  if (p) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output.append(buf, n);
  }
  int status = p ? pclose(p) : -1;
  unlink(path);
  int code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return std::make_pair(code, output);
}

// The message a test skipped for want of promtool prints (loudly: CI must install it).
inline constexpr char kPromtoolMissing[] =
    "\n*** SKIPPED: /usr/bin/promtool not found, so `promtool check metrics` was NOT run. ***\n"
    "*** Install it with scripts/install-deps.sh (Debian package 'prometheus'). ***\n";

}  // namespace agentring::testing

#endif  // AGENTRING_TESTS_UNIT_EXPOSITION_CHECK_H_
