// The reader's config file: `agentring-reader --config FILE` (YAML; docs/CONFIG.md). Every flag
// of agentring-reader has an equivalent in the file, and the file is turned into flags, so the
// file and the command line mean the same thing and are validated by the same code.
//
//   reader:                  # keys = long flag names ('_' may stand for '-')
//     segment: agents        # --segment=agents
//     create: true           # a switch: true = given, false = not given
//     decision-wait-ms: 8000
//   exporters:               # each entry = --exporter=TYPE [--out=PATH] [--TYPE-KEY=VALUE …]
//     - {type: jsonl, out: traces.jsonl}
//     - {type: otlp, endpoint: "http://127.0.0.1:4318"}   # --otlp-endpoint=… (once it exists)
//   pricing: {file: pricing.json}          # --pricing=…
//   redaction: {rules_file: redact.txt}    # --redact-rules=…
//   tail_sampling: {…}       # the OpenTelemetry Collector's tail_sampling block (tail_sampler.h)
//
// Paths (--out, --stats-json, --pricing, --redact-rules) that are relative are resolved against
// the config file's directory; "-" stays standard output.
//
// Precedence: command line > config file > environment variables (OTEL_*, AGENTRING_*) >
// defaults. A value flag given on the command line replaces the file's value; --exporter or --out
// on the command line replaces the file's whole `exporters:` list (with the options given in its
// entries); a switch the file turns on cannot be turned off from the command line. Since the file
// becomes flags, whatever it sets also wins over the environment, as a flag would.
//
// How reader_main.cc merges (the lead wires it): find --config in argv, LoadConfigFile, parse
// argv once to learn which flags it names (po::parsed_options::options[i].string_key), then parse
// argv followed by ConfigToArgs(config, those names) as one command line, so the --out-follows-
// --exporter walk and every flag's validation see one list; create the TailSampler from
// config.tail_sampling when it is defined.
#ifndef AGENTRING_READER_CONFIG_CONFIG_FILE_H_
#define AGENTRING_READER_CONFIG_CONFIG_FILE_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentring::reader {

enum class FlagKind : uint8_t {
  kValue,     // --name=VALUE, at most once
  kSwitch,    // --name (no value)
  kRepeated,  // --name=VALUE, any number of times (a list in the file)
};
enum class FlagValue : uint8_t { kText, kUnsigned, kInteger };

struct ReaderFlag {
  std::string_view name;  // long name, without "--"
  FlagKind kind;
  FlagValue value = FlagValue::kText;
  bool path = false;  // a file path: relative values resolve against the config file's directory
};

// Every flag of agentring-reader except --config and --help. A flag added to reader_main.cc is
// added here too (config_file_test compares the two lists, names and kinds). Flags named
// "<exporter type>-<option>" (e.g. otlp-endpoint) are written as options of an `exporters:` entry.
std::span<const ReaderFlag> ReaderFlags();
// The exporter types an `exporters:` entry may name.
std::span<const std::string_view> ExporterTypes();
// True for --exporter, --out and the "<exporter type>-…" flags: the `exporters:` group.
bool IsExporterFlag(std::string_view name);

struct ConfigFile {
  std::string path;  // the file it was loaded from ("" for text)
  // (long flag name, value) in file order; repeatable flags repeated, switches with "".
  std::vector<std::pair<std::string, std::string>> flags;
  // The `tail_sampling:` mapping, already checked by TailSampler::Create; a null node
  // (tail_sampling.IsNull()) when the file has none. Create the sampler with
  // TailSampler::Create(tail_sampling, &error). (A YAML::Node assigned over a non-null one
  // writes through to what it referred to: rebind with reset(), don't assign.)
  YAML::Node tail_sampling;
};

// Loads and checks a config file. Returns false with a one-line *error:
//   "config FILE: cannot read: <strerror>"
//   "config FILE: line L column C: <yaml-cpp's parse error>"
//   "config FILE: line L column C: <path>: <what is wrong>" for an unknown section, key or flag,
//   a wrong type, a flag set twice, an unknown exporter type or option, or any tail_sampling
//   error (see TailSampler::Create).
// A tail_sampling.decision_wait (or decision_wait_after_root_received) becomes the flag
// decision-wait-ms (rounded up to whole ms), so --decision-wait-ms on the command line overrides
// it and reader.decision-wait-ms with it in one file is an error. Thread-safe (no shared state).
bool LoadConfigFile(const std::string& path, ConfigFile* out, std::string* error);
// The same on text already read: `name` labels errors ("config NAME: …"), `base_dir` resolves
// relative paths ("" = leave them relative); `flags` is the flag table (tests pass their own).
bool LoadConfigText(const std::string& text, const std::string& name, const std::string& base_dir,
                    ConfigFile* out, std::string* error,
                    std::span<const ReaderFlag> flags = ReaderFlags());

// The file as command-line arguments for boost::program_options: "--name=value", or "--name"
// for a switch, in file order. Flags named in `command_line_flags` (long names the command line
// gave) are left out; when it names exporter or out, every exporter-group flag is left out.
std::vector<std::string> ConfigToArgs(const ConfigFile& config,
                                      const std::set<std::string>& command_line_flags = {},
                                      std::span<const ReaderFlag> flags = ReaderFlags());

}  // namespace agentring::reader

#endif  // AGENTRING_READER_CONFIG_CONFIG_FILE_H_
