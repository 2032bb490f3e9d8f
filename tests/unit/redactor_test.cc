// Tests of the reader's redaction stage (reader/enrich/redactor.h): each default rule on its own
// pattern, strings that must stay untouched, user rules from a real file (capture groups, (?i),
// turning a default off), the one-line errors of a bad file, counts per rule, and a batch with
// span attributes, event attributes and a status message.
#include "reader/enrich/redactor.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace agentring::reader {
namespace {

std::unique_ptr<Redactor> Defaults() {
  std::string error;
  auto r = Redactor::Create("", &error);
  EXPECT_TRUE(r) << error;
  return r;
}

std::string Redacted(Redactor& r, std::string s) {
  r.RedactString(&s);
  return s;
}

uint64_t CountOf(const Redactor& r, const std::string& rule) {
  for (const auto& c : r.redactions_by_rule())
    if (c.rule == rule) return c.redactions;
  ADD_FAILURE() << "no rule " << rule;
  return 0;
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    static int n = 0;
    path_ = "/tmp/agentring-redact-" + std::to_string(getpid()) + "-" + std::to_string(n++) +
            ".rules";
    std::ofstream(path_) << text;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Redactor, DefaultRulesCatchEachPattern) {
  auto r = Defaults();
  ASSERT_TRUE(r);
  EXPECT_EQ(Redacted(*r, "key sk-test-1234567890abcdef1234 here"),
            "key [REDACTED:openai_api_key] here");
  EXPECT_EQ(Redacted(*r, "OPENAI=sk-proj-AbCdEfGhIjKlMnOpQrStUvWx_yz"),
            "OPENAI=[REDACTED:openai_api_key]");
  EXPECT_EQ(Redacted(*r, "x-key: sk-ant-api03-AbCdEfGhIjKlMnOp_qr-st"),
            "x-key: [REDACTED:anthropic_api_key]");
  EXPECT_EQ(Redacted(*r, "aws AKIAIOSFODNN7EXAMPLE."), "aws [REDACTED:aws_access_key].");
  EXPECT_EQ(Redacted(*r, "tmp ASIAIOSFODNN7EXAMPLE"), "tmp [REDACTED:aws_access_key]");
  EXPECT_EQ(Redacted(*r, "token ghp_1234567890abcdefghijklmnopqrstuvwxyz ok"),
            "token [REDACTED:github_token] ok");
  EXPECT_EQ(Redacted(*r, "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"),
            "[REDACTED:github_token]");
  EXPECT_EQ(Redacted(*r, "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc-def_123"),
            "Authorization: Bearer [REDACTED:bearer_token]");
  EXPECT_EQ(Redacted(*r, "authorization: bearer 0123456789abcdef"),
            "authorization: bearer [REDACTED:bearer_token]");
  EXPECT_EQ(Redacted(*r, "api_key=hunter2hunter2&x=1"), "api_key=[REDACTED:generic_api_key]&x=1");
  EXPECT_EQ(Redacted(*r, R"({"apiKey": "abc123xyz", "n": 1})"),
            R"({"apiKey": "[REDACTED:generic_api_key]", "n": 1})");
  EXPECT_EQ(Redacted(*r, "X-API-KEY: 42abc"), "X-API-KEY: [REDACTED:generic_api_key]");
  EXPECT_EQ(Redacted(*r, "aPi-KeY=x"), "aPi-KeY=[REDACTED:generic_api_key]");  // at the very end
  EXPECT_EQ(Redacted(*r, "mail alice.dev+ops@mail.example.com, thanks"),
            "mail [REDACTED:email], thanks");
  // A key after "api_key=" is redacted once, by the more specific rule.
  EXPECT_EQ(Redacted(*r, "api_key=sk-test-1234567890abcdef1234"),
            "api_key=[REDACTED:openai_api_key]");
  EXPECT_EQ(CountOf(*r, "openai_api_key"), 3u);
  EXPECT_EQ(CountOf(*r, "anthropic_api_key"), 1u);
  EXPECT_EQ(CountOf(*r, "aws_access_key"), 2u);
  EXPECT_EQ(CountOf(*r, "github_token"), 2u);
  EXPECT_EQ(CountOf(*r, "bearer_token"), 2u);
  EXPECT_EQ(CountOf(*r, "generic_api_key"), 4u);
  EXPECT_EQ(CountOf(*r, "email"), 1u);
  EXPECT_EQ(r->redactions(), 15u);
}

TEST(Redactor, OrdinaryStringsAreUntouched) {
  auto r = Defaults();
  ASSERT_TRUE(r);
  for (std::string s : {
           "", "filesystem", "/src/main.rs", "chat gpt-4o", "binary search implementation",
           "task-1234567890abcdefghijklmn",         // "sk-" inside a word
           "sk-short",                              // too short for a key
           "AKIAIOSFODNN7EXAMPLEX",                 // 17 characters after AKIA: not a key
           "bearer of bad news", "Bearer tokens are documented in RFC 6750",
           "the API key is rotated monthly",        // no ':' or '='
           "@Override", "user@localhost", "a@b.c", "x @ y.com", "price 3@4.5",
           "the ghp_ prefix", "Authorization: Basic", "Bearer", "bearer ", "api", "API_KEY",
           "api_key=",
       }) {
    EXPECT_EQ(Redacted(*r, s), s);
  }
  EXPECT_EQ(r->redactions(), 0u);
}

TEST(Redactor, SeveralMatchesInOneLongValue) {
  auto r = Defaults();
  ASSERT_TRUE(r);
  std::string s(20000, 'x');
  s += " bob@example.org ";
  s += std::string(5000, 'y');
  s += " carol@example.net sk-test-1234567890abcdef1234";
  std::string out = Redacted(*r, s);
  EXPECT_EQ(out, std::string(20000, 'x') + " [REDACTED:email] " + std::string(5000, 'y') +
                     " [REDACTED:email] [REDACTED:openai_api_key]");
  EXPECT_EQ(CountOf(*r, "email"), 2u);
  EXPECT_EQ(r->redactions(), 3u);
}

TEST(Redactor, ProcessCoversAttributesEventsAndStatus) {
  auto r = Defaults();
  ASSERT_TRUE(r);
  TraceBatch b;
  auto s = std::make_unique<SpanData>();
  s->name = "chat gpt-4o";
  s->attributes = {{"gen_ai.input.messages", std::string("use sk-test-1234567890abcdef1234")},
                   {"gen_ai.usage.input_tokens", int64_t{12}},
                   {"tool.target", std::string("/src/main.rs")}};
  s->events.push_back(SpanEvent{1, "mail", {{"to", std::string("dev@example.com")}}});
  s->status_message = "401 for Bearer abcdef0123456789";
  b.spans.push_back(std::move(s));
  b.spans.push_back(nullptr);  // tolerated
  r->Process(&b);
  const SpanData& out = *b.spans[0];
  EXPECT_EQ(std::get<std::string>(out.attributes[0].value), "use [REDACTED:openai_api_key]");
  EXPECT_EQ(std::get<int64_t>(out.attributes[1].value), 12);
  EXPECT_EQ(std::get<std::string>(out.attributes[2].value), "/src/main.rs");
  EXPECT_EQ(std::get<std::string>(out.events[0].attributes[0].value), "[REDACTED:email]");
  EXPECT_EQ(out.status_message, "401 for Bearer [REDACTED:bearer_token]");
  EXPECT_EQ(r->redactions(), 3u);
}

TEST(Redactor, UserRulesFromAFile) {
  TempFile f(
      "# internal identifiers\n"
      "\n"
      "employee_id\tEMP-[0-9]{6}\n"
      "session   session=([0-9a-f]{8,})   \r\n"
      "  # indented comment\n"
      "project (?i)project-zeus\n"
      "-email\n");
  std::string error;
  auto r = Redactor::Create(f.path(), &error);
  ASSERT_TRUE(r) << error;
  std::vector<std::string> names = r->rule_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "email"), 0);
  EXPECT_EQ(names.back(), "project");
  EXPECT_EQ(Redacted(*r, "by EMP-123456 and EMP-654321"),
            "by [REDACTED:employee_id] and [REDACTED:employee_id]");
  EXPECT_EQ(Redacted(*r, "GET /?session=deadbeef99&x=1"), "GET /?session=[REDACTED:session]&x=1");
  EXPECT_EQ(Redacted(*r, "Project-ZEUS launch"), "[REDACTED:project] launch");
  EXPECT_EQ(Redacted(*r, "mail dev@example.com"), "mail dev@example.com");  // -email
  EXPECT_EQ(Redacted(*r, "EMP-12345 is too short"), "EMP-12345 is too short");
  EXPECT_EQ(CountOf(*r, "employee_id"), 2u);
  EXPECT_EQ(CountOf(*r, "session"), 1u);
  EXPECT_EQ(CountOf(*r, "project"), 1u);
  EXPECT_EQ(r->redactions(), 4u);
}

TEST(Redactor, BadRulesFilesGiveOneLineErrors) {
  struct Case {
    std::string text;
    std::string expect;  // in the error, after "<path>:"
  };
  for (const Case& c : std::vector<Case>{
           {"ok\tabc\nbroken\t([a-z]+\n", "2: bad regex for rule 'broken'"},
           {"# c\nlonely\n", "2: rule 'lonely' has no regex"},
           {"a x\na y\n", "2: rule name 'a' is used twice"},
           {"email foo\n", "1: rule name 'email' is used twice"},
           {"-nosuchrule\n", "1: '-nosuchrule' names no default rule"},
       }) {
    TempFile f(c.text);
    std::string error;
    EXPECT_EQ(Redactor::Create(f.path(), &error), nullptr) << c.text;
    EXPECT_NE(error.find(f.path() + ":" + c.expect), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  std::string error;
  EXPECT_EQ(Redactor::Create("/nonexistent/agentring.rules", &error), nullptr);
  EXPECT_NE(error.find("/nonexistent/agentring.rules"), std::string::npos) << error;
}

TEST(Redactor, RequiredLiteralIsConservative) {
  EXPECT_EQ(RequiredLiteral("EMP-[0-9]{6}"), "EMP-");
  EXPECT_EQ(RequiredLiteral(R"(session=([0-9a-f]{8,}))"), "session=");
  EXPECT_EQ(RequiredLiteral(R"(ab+cdef)"), "cdef");
  EXPECT_EQ(RequiredLiteral(R"(abcx?y)"), "abc");   // x is optional
  EXPECT_EQ(RequiredLiteral(R"(\.internal\.corp)"), ".internal.corp");
  EXPECT_EQ(RequiredLiteral(R"(foo|barbaz)"), "");  // alternation: no anchor
  EXPECT_EQ(RequiredLiteral(R"((?i)secret)"), "");  // modifiers: no anchor
  EXPECT_EQ(RequiredLiteral(R"(\x41BCD)"), "");     // escapes it does not model
  EXPECT_EQ(RequiredLiteral(R"(\d{3}-\d{4})"), "-");
  EXPECT_EQ(RequiredLiteral(R"([a-z]+)"), "");
}

}  // namespace
}  // namespace agentring::reader
