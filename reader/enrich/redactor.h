// Redaction of secrets and personal data in span strings, before anything is exported: API keys,
// bearer tokens and e-mail addresses by default, plus user rules (regular expressions) from a
// file. Each match becomes "[REDACTED:<rule>]"; redactions are counted per rule.
//
// What is scanned: every string attribute value of a span and of its events, and the status
// message. Not scanned: span and event names (interned static strings and short suffixes) and
// resource attributes.
//
// Default rules, in the order they run (each is a hand-written linear matcher that starts with a
// literal search, so a string without "sk-", "A", "g", "bearer", "api" or "@" costs a few
// memchr-speed scans and no allocation; one with them, a check at each occurrence):
//   anthropic_api_key  sk-ant-<16+ of [A-Za-z0-9_-]>
//   openai_api_key     sk-<20+ of [A-Za-z0-9_-]>            (sk-proj-…, sk-svcacct-…, legacy)
//   aws_access_key     (AKIA|ASIA)<16 of [0-9A-Z]>           (whole word)
//   github_token       gh[pousr]_<20+ of [A-Za-z0-9_]>, github_pat_<20+ …>
//   bearer_token       Bearer <token of 8+ chars with a digit or symbol>: the token is replaced
//   generic_api_key    api[_- ]?key["']? *[:=] *["']?<value>: the value is replaced
//   email              local@domain.tld
// Key prefixes must start a word ("task-…" is not "sk-…").
//
// User rules file: one rule per line, `name<spaces or tab>regex` (Perl syntax, Boost.Regex;
// (?i) for case-insensitive), '#' starts a comment line, blank lines are skipped, trailing
// whitespace is trimmed. When the regex has a capture group, only group 1 is replaced (so
// `token\s*=\s*(\S+)` keeps "token="). A line `-<default rule>` turns that default rule off.
// User rules run after the defaults. A rule whose regex contains a literal that every match must
// contain (found conservatively: no alternation, no (?…) groups) only runs when that literal
// occurs; others run on every string, so prefer rules with a literal anchor.
#ifndef AGENTRING_READER_ENRICH_REDACTOR_H_
#define AGENTRING_READER_ENRICH_REDACTOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reader/model/span.h"

namespace agentring::reader {

class Redactor {
 public:
  struct RuleCount {
    std::string rule;
    uint64_t redactions = 0;
  };

  // The default rules plus those of `rules_path` ("" = defaults only). Returns nullptr with
  // *error set to one line on a file that cannot be read, a line without a regex, a bad regex
  // ("FILE:LINE: bad regex for rule 'NAME': …"), a duplicate rule name or an unknown "-rule".
  static std::unique_ptr<Redactor> Create(const std::string& rules_path, std::string* error);
  ~Redactor();

  // Redacts every string attribute, event attribute and status message of `batch` in place.
  // One thread at a time may call Process (the export thread); the counters below may be read
  // from any thread meanwhile.
  void Process(TraceBatch* batch);
  // Redacts one string in place; returns the number of redactions made in it. Same threading
  // as Process.
  size_t RedactString(std::string* s);

  uint64_t redactions() const { return total_.load(std::memory_order_relaxed); }
  // Per rule, in rule order (rules that are off are not listed).
  std::vector<RuleCount> redactions_by_rule() const;
  // The names of the rules in force, in the order they run.
  std::vector<std::string> rule_names() const;

 private:
  struct Rule;  // a matcher, its replacement and its counter (redactor.cc)
  Redactor();
  std::vector<std::unique_ptr<Rule>> rules_;
  std::atomic<uint64_t> total_{0};
};

// The literal that every match of `pattern` (Perl syntax) must contain, or "" when none can be
// found safely. Exposed for tests.
std::string RequiredLiteral(std::string_view pattern);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ENRICH_REDACTOR_H_
