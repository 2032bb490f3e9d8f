// Strict reading of YAML nodes for the config file and the tail sampler: every read checks the
// node's type, every mapping's keys are checked against the keys it may hold (unknown and
// duplicate keys are errors), and every error is one line naming where it is:
//
//   line 14 column 9: tail_sampling.policies[1].status_code.status_codes[0]: unknown status code
//   'ERR' (expected ERROR, OK or UNSET)
//
// Line and column are 1-based (yaml-cpp's Mark is 0-based). A node without a position (absent
// from its mapping) is reported at the position of the mapping. Callers prefix the file name.
#ifndef AGENTRING_READER_CONFIG_YAML_FIELDS_H_
#define AGENTRING_READER_CONFIG_YAML_FIELDS_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace agentring::reader::yaml {

// "line L column C" for `node`, or "" when it carries no position.
std::string Where(const YAML::Node& node);

// Sets *error to "<Where(at)>: <path>: <message>" (parts that are empty left out) and returns
// false.
bool Fail(const YAML::Node& at, const std::string& path, const std::string& message,
          std::string* error);

// "path.key" ("key" when path is empty).
std::string Join(const std::string& path, std::string_view key);

// The node's kind for messages: "a mapping", "a list", "a scalar 'x'", "nothing".
std::string Describe(const YAML::Node& node);

// Checks that `node` is a mapping with scalar keys, each one of `allowed` and each at most once.
// Errors: not a mapping; a non-scalar key; "unknown key 'k' (expected one of: …)"; a duplicate.
bool CheckMap(const YAML::Node& node, const std::string& path,
              std::initializer_list<std::string_view> allowed, std::string* error);
bool CheckMap(const YAML::Node& node, const std::string& path,
              const std::vector<std::string_view>& allowed, std::string* error);

// Typed scalar reads. `node` must be a scalar of the type; `path` names it in errors. Integers
// must lie in [min, max]. Booleans are true/false (yaml-cpp also accepts yes/no, on/off).
bool ReadString(const YAML::Node& node, const std::string& path, std::string* out,
                std::string* error);
bool ReadInt64(const YAML::Node& node, const std::string& path, int64_t min, int64_t max,
               int64_t* out, std::string* error);
bool ReadDouble(const YAML::Node& node, const std::string& path, double* out, std::string* error);
bool ReadBool(const YAML::Node& node, const std::string& path, bool* out, std::string* error);
// A list of scalars.
bool ReadStringList(const YAML::Node& node, const std::string& path, std::vector<std::string>* out,
                    std::string* error);
// A duration string as in the OpenTelemetry Collector (Go's time.ParseDuration): decimal numbers
// with units ns, us (or µs), ms, s, m, h, possibly combined ("1m30s", "1.5s", "500ms"). A bare
// number other than 0 is refused (its unit would be a guess). Negative durations are refused.
bool ReadDuration(const YAML::Node& node, const std::string& path, uint64_t* out_ns,
                  std::string* error);

// The parser behind ReadDuration. Returns false on anything it does not accept whole.
bool TryParseDuration(std::string_view text, uint64_t* out_ns);

}  // namespace agentring::reader::yaml

#endif  // AGENTRING_READER_CONFIG_YAML_FIELDS_H_
