// The model pricing table the enrich stage derives `gen_ai.cost_usd` from: USD per 1M input,
// output and cached-input tokens per model name, loaded from a JSON file (pricing/pricing.json,
// whose "_comment" documents the schema) or taken from the copy built into the reader, and the
// model-name matching rule (exact, provider-stripped, then longest name + date/version suffix).
#ifndef AGENTRING_READER_ENRICH_PRICING_H_
#define AGENTRING_READER_ENRICH_PRICING_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace agentring::reader {

// Prices in USD per 1,000,000 tokens.
struct ModelPrice {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  double cached_input_per_mtok = 0;  // a prompt-cache read; = input_per_mtok when not discounted
  bool operator==(const ModelPrice&) const = default;
};

class PricingTable {
 public:
  // The table compiled into the reader: a copy of pricing/pricing.json (a unit test checks that
  // the two agree), used when no file is found so that the default never goes missing.
  static std::unique_ptr<PricingTable> Builtin();

  // Parses a pricing JSON document (schema: pricing/pricing.json's "_comment"). `source` names it
  // in errors. Returns null and sets *error to one line: "pricing SOURCE: line N column M: reason"
  // for JSON syntax, "pricing SOURCE: models.NAME.input: reason" for the schema (missing or
  // negative price, unknown field, duplicate name, currency other than USD, unit other than
  // per_1m_tokens).
  // Thread-safe (no shared state).
  static std::unique_ptr<PricingTable> TryParse(std::string_view json, std::string_view source,
                                                std::string* error);
  // TryParse on the file's content; also "pricing PATH: cannot read: <strerror>".
  static std::unique_ptr<PricingTable> TryLoadFile(const std::string& path, std::string* error);

  // The price of `model`, or nullptr when it is not known (the caller then derives no cost).
  // Matching is ASCII case-insensitive: (1) the exact name; (2) the longest table name that
  // `model` starts with where the rest is a date/version suffix only — "-" tokens that are a
  // number (the first of >= 3 digits: "-2024-08-06", "-20250514", "-001"), "latest" or "vN[.N]",
  // optionally ending in ":tag" or "@version", or the rest starts with ':' or '@' ("llama3.1:8b",
  // "claude-3-5-haiku@20241022") — so "gpt-4o-2024-08-06" is gpt-4o but "gpt-4o-mini" (or
  // "claude-sonnet-4-5") is never priced as its shorter sibling; (3) for "provider/model", (1) and
  // (2) on "model". Thread-safe (const).
  const ModelPrice* Find(std::string_view model) const;

  const std::string& version() const { return version_; }
  // Lowercase names.
  const std::map<std::string, ModelPrice, std::less<>>& models() const { return models_; }

 private:
  const ModelPrice* FindUnqualified(std::string_view lower) const;

  std::string version_;
  std::map<std::string, ModelPrice, std::less<>> models_;
};

// The environment variable naming a pricing file that replaces the default one.
inline constexpr const char* kPricingEnvVar = "AGENTRING_PRICING";

// The default pricing file, in this order: $AGENTRING_PRICING if set and non-empty; then, next to
// the running program (/proc/self/exe), <dir>/../../pricing/pricing.json (a build tree inside the
// checkout) and <dir>/../share/agentring/pricing.json (an install); "" when none exists, meaning
// the built-in table. Thread-safe.
std::string FindDefaultPricingFile();

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ENRICH_PRICING_H_
