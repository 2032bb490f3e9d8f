// Redaction rules and their application to trace batches (see redactor.h).
#include "reader/enrich/redactor.h"

#include <boost/regex.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <set>

namespace agentring::reader {
namespace {

constexpr size_t kNpos = std::string_view::npos;

inline bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
inline bool IsWord(char c) { return IsAlnum(c) || c == '_'; }
inline bool IsKeyChar(char c) { return IsWord(c) || c == '-'; }
inline bool IsUpperAlnum(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }
inline char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
inline bool IsSpace(char c) { return c == ' ' || c == '\t'; }
// A position starts a word: the previous byte is not a word character.
inline bool WordStart(std::string_view s, size_t p) { return p == 0 || !IsWord(s[p - 1]); }

size_t RunOf(std::string_view s, size_t p, bool (*pred)(char)) {
  while (p < s.size() && pred(s[p])) ++p;
  return p;
}

// Case-insensitive (ASCII) search for `lower_needle` (lowercase letters first) from `from`:
// memchr for the first letter in each case, so that text without it is skipped at memchr speed.
size_t FindIcase(std::string_view s, std::string_view lower_needle, size_t from) {
  const size_t m = lower_needle.size();
  if (m == 0 || s.size() < m || from > s.size() - m) return kNpos;
  const char lo = lower_needle[0];
  const char up = static_cast<char>(lo - 'a' + 'A');
  const char* const base = s.data();
  const char* const last = base + (s.size() - m);  // the last possible start
  auto next = [&](const char* from_p, char c) -> const char* {
    const void* r = memchr(from_p, c, static_cast<size_t>(last - from_p) + 1);
    return r == nullptr ? nullptr : static_cast<const char*>(r);
  };
  const char* p_lo = next(base + from, lo);
  const char* p_up = next(base + from, up);
  while (p_lo != nullptr || p_up != nullptr) {
    const bool take_lo = p_up == nullptr || (p_lo != nullptr && p_lo < p_up);
    const char* p = take_lo ? p_lo : p_up;
    size_t k = 1;
    while (k < m && Lower(p[k]) == lower_needle[k]) ++k;
    if (k == m) return static_cast<size_t>(p - base);
    if (p == last) return kNpos;
    if (take_lo) {
      p_lo = next(p + 1, lo);
    } else {
      p_up = next(p + 1, up);
    }
  }
  return kNpos;
}

bool MatchIcaseAt(std::string_view s, size_t p, std::string_view lower_word) {
  if (p + lower_word.size() > s.size()) return false;
  for (size_t k = 0; k < lower_word.size(); ++k)
    if (Lower(s[p + k]) != lower_word[k]) return false;
  return true;
}

// ---- the default rules' matchers ---------------------------------------------------------------
// Each finds the leftmost region at or after `from` to replace: [*b, *e). Linear in the string.

// <prefix><min_run+ of run_char>, the prefix starting a word.
bool FindPrefixedToken(std::string_view s, size_t from, std::string_view prefix, size_t min_run,
                       bool (*run_char)(char), size_t* b, size_t* e) {
  for (size_t p = s.find(prefix, from); p != kNpos; p = s.find(prefix, p + 1)) {
    if (!WordStart(s, p)) continue;
    size_t q = RunOf(s, p + prefix.size(), run_char);
    if (q - (p + prefix.size()) >= min_run) {
      *b = p;
      *e = q;
      return true;
    }
  }
  return false;
}

bool FindAnthropicKey(std::string_view s, size_t from, size_t* b, size_t* e) {
  return FindPrefixedToken(s, from, "sk-ant-", 16, IsKeyChar, b, e);
}

bool FindOpenAiKey(std::string_view s, size_t from, size_t* b, size_t* e) {
  return FindPrefixedToken(s, from, "sk-", 20, IsKeyChar, b, e);
}

// AKIA (long-term) or ASIA (temporary) + 16 of [0-9A-Z], as a whole word.
bool FindAwsKey(std::string_view s, size_t from, size_t* b, size_t* e) {
  for (size_t p = s.find("A", from); p != kNpos; p = s.find('A', p + 1)) {
    if (p + 20 > s.size()) return false;
    if (s[p + 2] != 'I' || s[p + 3] != 'A' || (s[p + 1] != 'K' && s[p + 1] != 'S')) continue;
    if (p > 0 && IsAlnum(s[p - 1])) continue;
    size_t q = p + 4;
    while (q < p + 20 && IsUpperAlnum(s[q])) ++q;
    if (q != p + 20 || (q < s.size() && IsAlnum(s[q]))) continue;
    *b = p;
    *e = q;
    return true;
  }
  return false;
}

// GitHub tokens: ghp_ (classic), gho_ (OAuth), ghu_/ghs_ (app), ghr_ (refresh), github_pat_.
bool FindGithubToken(std::string_view s, size_t from, size_t* b, size_t* e) {
  for (size_t p = s.find('g', from); p != kNpos; p = s.find('g', p + 1)) {
    if (!WordStart(s, p)) continue;
    size_t prefix = 0;
    if (p + 4 <= s.size() && s[p + 1] == 'h' && s[p + 3] == '_' && s[p + 2] != '\0' &&
        strchr("pousr", s[p + 2]) != nullptr) {
      prefix = 4;
    } else if (s.substr(p, 11) == "github_pat_") {
      prefix = 11;
    } else {
      continue;
    }
    size_t q = RunOf(s, p + prefix, IsWord);
    if (q - (p + prefix) >= 20) {
      *b = p;
      *e = q;
      return true;
    }
  }
  return false;
}

inline bool IsTokenChar(char c) { return IsWord(c) || (c != '\0' && strchr(".~+/=-", c)); }

// "Bearer <token>" (any case): the token only, so that "Bearer " stays readable. The token must
// have 8+ characters and a digit or symbol (prose like "bearer instruments" is not a token).
bool FindBearerToken(std::string_view s, size_t from, size_t* b, size_t* e) {
  for (size_t p = FindIcase(s, "bearer", from); p != kNpos; p = FindIcase(s, "bearer", p + 1)) {
    if (!WordStart(s, p)) continue;
    size_t q = p + 6;
    if (q >= s.size() || !IsSpace(s[q])) continue;
    q = RunOf(s, q, IsSpace);
    size_t end = RunOf(s, q, IsTokenChar);
    if (end - q < 8) continue;
    bool has_non_letter = false;
    for (size_t i = q; i < end && !has_non_letter; ++i)
      has_non_letter = !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'));
    if (!has_non_letter) continue;
    *b = q;
    *e = end;
    return true;
  }
  return false;
}

inline bool IsAssignedValueChar(char c) {
  return c != '\0' && !IsSpace(c) && strchr("\"'\\,;}&)<>\r\n", c) == nullptr;
}

// api[_- ]?key, an optional (escaped) quote, spaces, ':' or '=', spaces, an optional (escaped)
// quote, then the value, which is what gets replaced. Values already redacted ("[REDACTED:…")
// are left alone.
bool FindGenericApiKey(std::string_view s, size_t from, size_t* b, size_t* e) {
  for (size_t p = FindIcase(s, "api", from); p != kNpos; p = FindIcase(s, "api", p + 1)) {
    size_t q = p + 3;
    if (q < s.size() && (s[q] == '_' || s[q] == '-' || s[q] == ' ')) ++q;
    if (!MatchIcaseAt(s, q, "key")) continue;
    q += 3;
    if (q < s.size() && s[q] == '\\') ++q;
    if (q < s.size() && (s[q] == '"' || s[q] == '\'')) ++q;
    q = RunOf(s, q, IsSpace);
    if (q >= s.size() || (s[q] != ':' && s[q] != '=')) continue;
    q = RunOf(s, q + 1, IsSpace);
    if (q < s.size() && s[q] == '\\') ++q;
    if (q < s.size() && (s[q] == '"' || s[q] == '\'')) ++q;
    size_t end = RunOf(s, q, IsAssignedValueChar);
    if (end == q || s[q] == '[') continue;
    *b = q;
    *e = end;
    return true;
  }
  return false;
}

inline bool IsEmailLocal(char c) { return IsAlnum(c) || (c != '\0' && strchr("._%+-", c)); }
inline bool IsEmailDomain(char c) { return IsAlnum(c) || c == '.' || c == '-'; }

// local@domain.tld: a local part of [A-Za-z0-9._%+-], a domain of labels with a dot, and a top
// level label of 2+ letters.
bool FindEmail(std::string_view s, size_t from, size_t* b, size_t* e) {
  for (size_t at = s.find('@', from); at != kNpos; at = s.find('@', at + 1)) {
    size_t l = at;
    while (l > from && IsEmailLocal(s[l - 1])) --l;
    while (l < at && s[l] == '.') ++l;
    if (l == at) continue;
    size_t r = RunOf(s, at + 1, IsEmailDomain);
    while (r > at + 1 && (s[r - 1] == '.' || s[r - 1] == '-')) --r;
    std::string_view domain = s.substr(at + 1, r - at - 1);
    if (domain.empty() || !IsAlnum(domain[0])) continue;
    size_t dot = domain.rfind('.');
    if (dot == kNpos || domain.size() - dot - 1 < 2) continue;
    bool tld_letters = true;
    for (size_t i = dot + 1; i < domain.size(); ++i)
      tld_letters &= Lower(domain[i]) >= 'a' && Lower(domain[i]) <= 'z';
    if (!tld_letters) continue;
    *b = l;
    *e = r;
    return true;
  }
  return false;
}

struct DefaultRule {
  const char* name;
  size_t min_bytes;  // the shortest string it can match
  bool (*find)(std::string_view, size_t, size_t*, size_t*);
};
constexpr DefaultRule kDefaultRules[] = {
    {"anthropic_api_key", 23, FindAnthropicKey}, {"openai_api_key", 23, FindOpenAiKey},
    {"aws_access_key", 20, FindAwsKey},          {"github_token", 24, FindGithubToken},
    {"bearer_token", 15, FindBearerToken},       {"generic_api_key", 8, FindGenericApiKey},
    {"email", 6, FindEmail},
};

std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

struct Redactor::Rule {
  std::string name;
  std::string replacement;  // "[REDACTED:<name>]"
  size_t min_bytes = 0;
  bool (*builtin)(std::string_view, size_t, size_t*, size_t*) = nullptr;
  // User rules.
  std::string literal;  // must occur for the regex to match ("" = unknown)
  boost::regex re;
  bool replace_group1 = false;
  std::atomic<uint64_t> count{0};

  // The next region to replace at or after `from`: 1 with [*b, *e) set, 0 when there is none,
  // -1 when the regex engine gave up (its complexity limit): the caller redacts the whole string.
  int Find(std::string_view s, size_t from, size_t* b, size_t* e) const {
    if (builtin != nullptr) return builtin(s, from, b, e) ? 1 : 0;
    if (from == 0 && !literal.empty() && s.find(literal) == kNpos) return 0;
    try {
      while (from <= s.size()) {
        boost::match_results<std::string_view::const_iterator> m;
        auto flags = from > 0 ? boost::match_prev_avail : boost::match_default;
        if (!boost::regex_search(s.begin() + from, s.end(), m, re, flags)) return 0;
        const auto& sub = replace_group1 && m[1].matched ? m[1] : m[0];
        size_t mb = static_cast<size_t>(sub.first - s.begin());
        size_t me = static_cast<size_t>(sub.second - s.begin());
        if (me > mb) {
          *b = mb;
          *e = me;
          return 1;
        }
        // An empty match (or group): move on past where the whole match began.
        from = static_cast<size_t>(m[0].first - s.begin()) + 1;
      }
      return 0;
    } catch (const std::exception&) {
      return -1;
    }
  }
};

Redactor::Redactor() = default;
Redactor::~Redactor() = default;

std::unique_ptr<Redactor> Redactor::Create(const std::string& rules_path, std::string* error) {
  std::set<std::string> disabled;
  struct UserRule {
    std::string name, pattern;
    size_t line;
  };
  std::vector<UserRule> user;
  if (!rules_path.empty()) {
    std::ifstream in(rules_path);
    if (!in) {
      *error = "cannot read redaction rules " + rules_path + ": " + strerror(errno);
      return nullptr;
    }
    std::string line;
    size_t line_no = 0;
    std::set<std::string> names;
    for (const DefaultRule& d : kDefaultRules) names.insert(d.name);
    while (std::getline(in, line)) {
      ++line_no;
      const std::string where = rules_path + ":" + std::to_string(line_no) + ": ";
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
        line.pop_back();
      size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      size_t name_end = line.find_first_of(" \t", start);
      std::string name = line.substr(start, name_end == std::string::npos ? std::string::npos
                                                                          : name_end - start);
      if (name[0] == '-') {
        std::string rule = name.substr(1);
        bool known = false;
        for (const DefaultRule& d : kDefaultRules) known |= rule == d.name;
        if (!known || name_end != std::string::npos) {
          *error = where + "'-" + rule + "' names no default rule (" + "anthropic_api_key, "
                   "openai_api_key, aws_access_key, github_token, bearer_token, "
                   "generic_api_key, email)";
          return nullptr;
        }
        disabled.insert(rule);
        continue;
      }
      size_t pattern_start = name_end == std::string::npos
                                 ? std::string::npos
                                 : line.find_first_not_of(" \t", name_end);
      if (pattern_start == std::string::npos) {
        *error = where + "rule '" + name + "' has no regex (want: name<TAB>regex)";
        return nullptr;
      }
      if (!names.insert(name).second) {
        *error = where + "rule name '" + name + "' is used twice (or is a default rule's)";
        return nullptr;
      }
      user.push_back({name, line.substr(pattern_start), line_no});
    }
  }

  std::unique_ptr<Redactor> r(new Redactor());
  for (const DefaultRule& d : kDefaultRules) {
    if (disabled.count(d.name)) continue;
    auto rule = std::make_unique<Rule>();
    rule->name = d.name;
    rule->min_bytes = d.min_bytes;
    rule->builtin = d.find;
    r->rules_.push_back(std::move(rule));
  }
  for (const UserRule& u : user) {
    auto rule = std::make_unique<Rule>();
    rule->name = u.name;
    try {
      rule->re.assign(u.pattern, boost::regex::perl);
    } catch (const std::exception& ex) {
      *error = rules_path + ":" + std::to_string(u.line) + ": bad regex for rule '" + u.name +
               "': " + OneLine(ex.what());
      return nullptr;
    }
    rule->replace_group1 = rule->re.mark_count() >= 1;
    rule->literal = RequiredLiteral(u.pattern);
    rule->min_bytes = rule->literal.size();
    r->rules_.push_back(std::move(rule));
  }
  for (auto& rule : r->rules_) rule->replacement = "[REDACTED:" + rule->name + "]";
  return r;
}

size_t Redactor::RedactString(std::string* s) {
  size_t total = 0;
  std::string out;
  for (const auto& rule : rules_) {
    if (s->size() < rule->min_bytes) continue;
    size_t b = 0, e = 0;
    int found = rule->Find(*s, 0, &b, &e);
    if (found == 0) continue;
    size_t n = 0;
    if (found < 0) {
      *s = rule->replacement;  // the engine gave up: fail closed
      n = 1;
    } else {
      out.clear();
      out.reserve(s->size());
      size_t copied = 0;
      while (found > 0) {
        out.append(*s, copied, b - copied);
        out.append(rule->replacement);
        copied = e;
        ++n;
        found = e < s->size() ? rule->Find(*s, e, &b, &e) : 0;
      }
      if (found < 0) {
        out = rule->replacement;
        n = 1;
      } else {
        out.append(*s, copied, std::string::npos);
      }
      s->swap(out);
    }
    rule->count.fetch_add(n, std::memory_order_relaxed);
    total += n;
  }
  if (total != 0) total_.fetch_add(total, std::memory_order_relaxed);
  return total;
}

void Redactor::Process(TraceBatch* batch) {
  for (auto& span : batch->spans) {
    if (!span) continue;
    for (Attribute& a : span->attributes)
      if (auto* str = std::get_if<std::string>(&a.value)) RedactString(str);
    for (SpanEvent& ev : span->events)
      for (Attribute& a : ev.attributes)
        if (auto* str = std::get_if<std::string>(&a.value)) RedactString(str);
    if (!span->status_message.empty()) RedactString(&span->status_message);
  }
}

std::vector<Redactor::RuleCount> Redactor::redactions_by_rule() const {
  std::vector<RuleCount> v;
  v.reserve(rules_.size());
  for (const auto& rule : rules_)
    v.push_back({rule->name, rule->count.load(std::memory_order_relaxed)});
  return v;
}

std::vector<std::string> Redactor::rule_names() const {
  std::vector<std::string> v;
  for (const auto& rule : rules_) v.push_back(rule->name);
  return v;
}

// Walks the pattern keeping runs of characters that must appear contiguously in every match:
// plain characters and escaped punctuation at the top level. A run ends at anything else (a
// class, a group, '.', an anchor, a class escape); a '*', '?' or '{' quantifier also takes
// back the character it applies to, a '+' keeps it but ends the run. Patterns with alternation,
// (?…) constructs or escapes it does not know give "": no anchor, the rule runs on every string.
std::string RequiredLiteral(std::string_view p) {
  std::string best, run;
  bool last_is_literal = false;  // the previous atom is the last char of `run`
  int depth = 0;
  auto end_run = [&] {
    if (run.size() > best.size()) best = run;
    run.clear();
    last_is_literal = false;
  };
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '|') return "";
    if (c == '\\') {
      if (i + 1 >= p.size()) return "";
      const char x = p[++i];
      if (!IsAlnum(x)) {
        if (depth == 0) {
          run.push_back(x);
          last_is_literal = true;
        }
        continue;
      }
      if (strchr("dDwWsSbBnrtfvhH", x) == nullptr) return "";  // \x41, \1, \Q…: not modelled
      end_run();
      continue;
    }
    if (c == '[') {
      // Skip the class: a ']' right after '[' or '[^' is a member, '\' escapes.
      size_t j = i + 1;
      if (j < p.size() && p[j] == '^') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
      if (j >= p.size()) return "";
      i = j;
      end_run();
      continue;
    }
    if (c == '(') {
      if (i + 1 < p.size() && p[i + 1] == '?') return "";
      ++depth;
      end_run();
      continue;
    }
    if (c == ')') {
      --depth;
      end_run();
      continue;
    }
    if (c == '*' || c == '?' || c == '{' || c == '+') {
      if (last_is_literal && c != '+') run.pop_back();
      end_run();
      if (c == '{') {
        size_t j = p.find('}', i);
        if (j == std::string_view::npos) return "";
        i = j;
      }
      if (i + 1 < p.size() && (p[i + 1] == '?' || p[i + 1] == '+')) ++i;  // lazy, possessive
      continue;
    }
    if (c == '.' || c == '^' || c == '$') {
      end_run();
      continue;
    }
    if (depth == 0) {
      run.push_back(c);
      last_is_literal = true;
    } else {
      last_is_literal = false;
    }
  }
  end_run();
  return best;
}

}  // namespace agentring::reader
