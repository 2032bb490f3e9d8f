// Tests for the reader's config file (reader/config/config_file.h): sections turned into flags in
// file order, paths resolved against the file's directory, command-line precedence through a real
// boost::program_options parse, the tail_sampling section (checked, and its decision_wait turned
// into --decision-wait-ms), one-line errors with the line for every kind of mistake, and that
// every flag of reader_main.cc has a config-file equivalent.
#include "reader/config/config_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "reader/sample/tail_sampler.h"

namespace agentring::reader {
namespace {

namespace po = boost::program_options;
using Flags = std::vector<std::pair<std::string, std::string>>;

ConfigFile Load(const std::string& text, const std::string& base_dir = "") {
  ConfigFile c;
  std::string error;
  EXPECT_TRUE(LoadConfigText(text, "test.yaml", base_dir, &c, &error)) << error;
  return c;
}

std::string ErrorOf(const std::string& text) {
  ConfigFile c;
  std::string error;
  EXPECT_FALSE(LoadConfigText(text, "test.yaml", "", &c, &error)) << "accepted:\n" << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/agentring-config-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

constexpr const char* kFull = R"(# every section
reader:
  segment: agents
  create: true
  lanes: 128
  lane_kib: 256              # '_' for '-'
  exit-when-idle-ms: -1
  stats-json: /var/lib/agentring/stats.json
exporters:
  - type: jsonl
    out: traces.jsonl
  - {out: "-", type: tree}
pricing:
  file: prices.json
redaction:
  rules_file: /etc/agentring/redact.txt
tail_sampling:
  decision_wait: 2500ms
  policies:
    - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
)";

TEST(ConfigFile, EverySectionBecomesFlagsInFileOrder) {
  ConfigFile c = Load(kFull);
  EXPECT_EQ(c.flags, (Flags{{"segment", "agents"},
                            {"create", ""},
                            {"lanes", "128"},
                            {"lane-kib", "256"},
                            {"exit-when-idle-ms", "-1"},
                            {"stats-json", "/var/lib/agentring/stats.json"},
                            {"exporter", "jsonl"},
                            {"out", "traces.jsonl"},
                            {"exporter", "tree"},  // type first, whatever the entry's key order
                            {"out", "-"},
                            {"pricing", "prices.json"},
                            {"redact-rules", "/etc/agentring/redact.txt"},
                            {"decision-wait-ms", "2500"}}));
  EXPECT_EQ(
      ConfigToArgs(c),
      (std::vector<std::string>{
          "--segment=agents", "--create", "--lanes=128", "--lane-kib=256", "--exit-when-idle-ms=-1",
          "--stats-json=/var/lib/agentring/stats.json", "--exporter=jsonl", "--out=traces.jsonl",
          "--exporter=tree", "--out=-", "--pricing=prices.json",
          "--redact-rules=/etc/agentring/redact.txt", "--decision-wait-ms=2500"}));
  // The tail_sampling node outlives the parse and builds a sampler.
  ASSERT_TRUE(c.tail_sampling.IsMap());
  std::string error;
  auto sampler = TailSampler::Create(c.tail_sampling, &error);
  ASSERT_NE(sampler, nullptr) << error;
  EXPECT_EQ(sampler->decision_wait_ns(), 2'500'000'000u);
  EXPECT_EQ(sampler->policy_counts().at(0).name, "errors");
}

TEST(ConfigFile, EmptyFileAndFalseSwitches) {
  ConfigFile empty = Load("");
  EXPECT_TRUE(empty.flags.empty());
  EXPECT_TRUE(empty.tail_sampling.IsNull());
  ConfigFile c = Load("reader:\n  create: false\n  segment: s\n");
  EXPECT_EQ(c.flags, (Flags{{"segment", "s"}}));
  EXPECT_TRUE(c.tail_sampling.IsNull());
}

TEST(ConfigFile, RelativePathsResolveAgainstTheFilesDirectory) {
  TempDir dir;
  const std::string file =
      dir.Write("reader.yaml",
                "reader: {stats-json: stats.json, segment: seg}\n"
                "exporters: [{type: jsonl, out: out/t.jsonl}, {type: tree, out: '-'},"
                " {type: jsonl, out: /abs/t.jsonl}]\n"
                "pricing: {file: ../prices.json}\n");
  ConfigFile c;
  std::string error;
  ASSERT_TRUE(LoadConfigFile(file, &c, &error)) << error;
  EXPECT_EQ(c.path, file);
  EXPECT_EQ(c.flags, (Flags{{"stats-json", dir.path() + "/stats.json"},
                            {"segment", "seg"},  // not a path
                            {"exporter", "jsonl"},
                            {"out", dir.path() + "/out/t.jsonl"},
                            {"exporter", "tree"},
                            {"out", "-"},
                            {"exporter", "jsonl"},
                            {"out", "/abs/t.jsonl"},
                            {"pricing", dir.path() + "/../prices.json"}}));
}

// The flags of ReaderFlags() as boost::program_options options, like reader_main.cc declares them.
po::options_description Describe(std::span<const ReaderFlag> flags) {
  po::options_description desc;
  for (const ReaderFlag& f : flags) {
    std::string name(f.name);
    if (f.kind == FlagKind::kSwitch)
      desc.add_options()(name.c_str(), "");
    else if (f.kind == FlagKind::kRepeated)
      desc.add_options()(name.c_str(), po::value<std::vector<std::string>>()->composing(), "");
    else
      desc.add_options()(name.c_str(), po::value<std::string>(), "");
  }
  return desc;
}

TEST(ConfigFile, CommandLineOverridesTheFileThroughProgramOptions) {
  ConfigFile c = Load(kFull);
  // The command line names --segment and --exporter/--out: the file's segment and its whole
  // exporters list are left out; everything else comes from the file.
  std::vector<std::string> cli = {"--segment", "mine", "--exporter", "jsonl", "--out", "x.jsonl"};
  po::options_description desc = Describe(ReaderFlags());
  po::parsed_options given = po::command_line_parser(cli).options(desc).run();
  std::set<std::string> names;
  for (const po::option& o : given.options) names.insert(o.string_key);
  std::vector<std::string> args = ConfigToArgs(c, names);
  EXPECT_EQ(args, (std::vector<std::string>{
                      "--create", "--lanes=128", "--lane-kib=256", "--exit-when-idle-ms=-1",
                      "--stats-json=/var/lib/agentring/stats.json", "--pricing=prices.json",
                      "--redact-rules=/etc/agentring/redact.txt", "--decision-wait-ms=2500"}));
  std::vector<std::string> all = cli;
  all.insert(all.end(), args.begin(), args.end());
  po::variables_map vm;
  po::store(po::command_line_parser(all).options(desc).run(), vm);  // throws on a duplicate
  EXPECT_EQ(vm["segment"].as<std::string>(), "mine");
  EXPECT_EQ(vm["exporter"].as<std::vector<std::string>>(), std::vector<std::string>{"jsonl"});
  EXPECT_EQ(vm["out"].as<std::vector<std::string>>(), std::vector<std::string>{"x.jsonl"});
  EXPECT_EQ(vm.count("create"), 1u);
  EXPECT_EQ(vm["lanes"].as<std::string>(), "128");
  EXPECT_EQ(vm["decision-wait-ms"].as<std::string>(), "2500");

  // Without command-line flags the file's exporters stay, in order.
  po::variables_map file_only;
  po::store(po::command_line_parser(ConfigToArgs(c)).options(desc).run(), file_only);
  EXPECT_EQ(file_only["exporter"].as<std::vector<std::string>>(),
            (std::vector<std::string>{"jsonl", "tree"}));
  EXPECT_EQ(file_only["segment"].as<std::string>(), "agents");
}

TEST(ConfigFile, ExporterOptionsBecomePrefixedFlags) {
  // A table with exporter options, as reader_main.cc will have for otlp and jsonl rotation.
  std::vector<ReaderFlag> flags(ReaderFlags().begin(), ReaderFlags().end());
  flags.push_back({"otlp-endpoint", FlagKind::kValue});
  flags.push_back({"otlp-header", FlagKind::kRepeated});
  flags.push_back({"jsonl-max-bytes", FlagKind::kValue, FlagValue::kUnsigned});
  flags.push_back({"chrome-pretty", FlagKind::kSwitch});
  const std::string text =
      "exporters:\n"
      "  - {type: otlp, endpoint: 'http://127.0.0.1:4318', header: [a=1, b=2]}\n"
      "  - {type: jsonl, out: t.jsonl, max_bytes: 1048576}\n"
      "  - {type: chrome, out: t.json, pretty: true}\n";
  ConfigFile c;
  std::string error;
  ASSERT_TRUE(LoadConfigText(text, "t", "", &c, &error, flags)) << error;
  EXPECT_EQ(c.flags, (Flags{{"exporter", "otlp"},
                            {"otlp-endpoint", "http://127.0.0.1:4318"},
                            {"otlp-header", "a=1"},
                            {"otlp-header", "b=2"},
                            {"exporter", "jsonl"},
                            {"out", "t.jsonl"},
                            {"jsonl-max-bytes", "1048576"},
                            {"exporter", "chrome"},
                            {"out", "t.json"},
                            {"chrome-pretty", ""}}));
  EXPECT_EQ(ConfigToArgs(c, {}, flags).back(), "--chrome-pretty");
  // --otlp-endpoint on the command line replaces only that option; --out replaces the list.
  EXPECT_EQ(ConfigToArgs(c, {"otlp-endpoint"}, flags).at(1), "--otlp-header=a=1");
  EXPECT_TRUE(ConfigToArgs(c, {"out"}, flags).empty());

  auto error_of = [&](const std::string& t) {
    ConfigFile ignored;
    std::string e;
    EXPECT_FALSE(LoadConfigText(t, "t", "", &ignored, &e, flags)) << t;
    return e;
  };
  EXPECT_EQ(error_of("exporters: [{type: otlp, endpoint: a}, {type: otlp, endpoint: b}]"),
            "config t: line 1 column 63: exporters[1].endpoint: --otlp-endpoint is already set "
            "(line 1)");
  EXPECT_EQ(error_of("exporters: [{type: jsonl, max_bytes: lots}]"),
            "config t: line 1 column 38: exporters[0].max_bytes: expected a non-negative "
            "integer, got 'lots'");
  EXPECT_EQ(error_of("exporters: [{type: jsonl, endpoint: x}]"),
            "config t: line 1 column 27: exporters[0]: unknown option 'endpoint' for exporter "
            "jsonl (options: out, max-bytes)");
  EXPECT_EQ(error_of("reader: {otlp-endpoint: x}"),
            "config t: line 1 column 10: reader.otlp-endpoint: write it as 'endpoint' in an "
            "exporters: entry of type otlp");
}

TEST(ConfigFile, TailSamplingDecisionWaitBecomesTheFlag) {
  const std::string policies = "  policies: [{name: all, type: always_sample}]\n";
  EXPECT_EQ(Load("tail_sampling:\n  decision_wait: 1500us\n" + policies).flags,
            (Flags{{"decision-wait-ms", "2"}}));  // rounded up to whole ms
  EXPECT_EQ(Load("tail_sampling:\n  decision_wait: 30s\n  decision_wait_after_root_received: 3s\n" +
                 policies)
                .flags,
            (Flags{{"decision-wait-ms", "3000"}}));
  EXPECT_TRUE(Load("tail_sampling:\n" + policies).flags.empty());
  EXPECT_EQ(ErrorOf("reader:\n  decision-wait-ms: 100\ntail_sampling:\n  decision_wait: 10s\n" +
                    policies),
            "config test.yaml: line 4 column 18: tail_sampling.decision_wait: --decision-wait-ms "
            "is already set (line 2)");
}

TEST(ConfigFile, ErrorsNameTheFileTheLineAndTheKey) {
  // The list of flags grows with the reader; its start and its form are what matter here.
  const std::string unknown = ErrorOf("reader:\n  segmnet: x\n");
  EXPECT_EQ(unknown.rfind("config test.yaml: line 2 column 3: reader: unknown flag 'segmnet' "
                          "(flags: segment, create, lanes, lane-kib, process-slots, stats-json, ",
                          0),
            0u)
      << unknown;
  EXPECT_EQ(unknown.back(), ')') << unknown;
  EXPECT_EQ(ErrorOf("exporter:\n  - {type: tree}\n"),
            "config test.yaml: line 1 column 1: unknown key 'exporter' (expected one of: reader, "
            "exporters, pricing, redaction, tail_sampling)");
  EXPECT_EQ(ErrorOf("reader:\n  lanes: many\n"),
            "config test.yaml: line 2 column 10: reader.lanes: expected a non-negative integer, "
            "got 'many'");
  EXPECT_EQ(ErrorOf("reader:\n  exit-when-idle-ms: soon\n"),
            "config test.yaml: line 2 column 22: reader.exit-when-idle-ms: expected an integer, "
            "got 'soon'");
  EXPECT_EQ(ErrorOf("reader:\n  create: yes please\n"),
            "config test.yaml: line 2 column 11: reader.create: expected true or false, got "
            "'yes please'");
  EXPECT_EQ(ErrorOf("reader:\n  segment: [a, b]\n"),
            "config test.yaml: line 2 column 12: reader.segment: expected a value, got a list");
  EXPECT_EQ(ErrorOf("reader:\n  segment: a\n  segment: b\n"),
            "config test.yaml: line 3 column 3: reader: flag 'segment' given twice");
  EXPECT_EQ(ErrorOf("reader:\n  out: x\n"),
            "config test.yaml: line 2 column 3: reader.out: exporters and their outputs go in "
            "the exporters: section");
  EXPECT_EQ(ErrorOf("exporters:\n  - {type: zipkin}\n"),
            "config test.yaml: line 2 column 12: exporters[0].type: unknown exporter type "
            "'zipkin' (expected tree, jsonl, otlp, chrome)");
  EXPECT_EQ(ErrorOf("exporters:\n  - {out: x}\n"),
            "config test.yaml: line 2 column 5: exporters[0]: missing 'type'");
  EXPECT_EQ(ErrorOf("exporters: {type: tree}\n"),
            "config test.yaml: line 1 column 12: exporters: expected a list of {type: …, out: …}, "
            "got a mapping");
  EXPECT_EQ(ErrorOf("pricing: {path: x}\n"),
            "config test.yaml: line 1 column 11: pricing: unknown key 'path' (expected one of: "
            "file)");
  EXPECT_EQ(ErrorOf("reader: {pricing: a}\npricing: {file: b}\n"),
            "config test.yaml: line 2 column 17: pricing.file: --pricing is already set (line 1)");
  EXPECT_EQ(ErrorOf("reader: [segment]\n"),
            "config test.yaml: line 1 column 9: reader: expected a mapping of flags, got a list");
  EXPECT_EQ(ErrorOf("- reader\n"),
            "config test.yaml: line 1 column 1: expected a mapping, got a list");
  // yaml-cpp's own parse errors keep their position.
  EXPECT_EQ(ErrorOf("reader:\n  segment: [a\n"),
            "config test.yaml: line 3 column 1: end of sequence flow not found");
  // A tail_sampling error, with the file name in front.
  EXPECT_EQ(ErrorOf("tail_sampling:\n  policies:\n    - {name: e, type: status_code, "
                    "status_code: {status_codes: [FAIL]}}\n"),
            "config test.yaml: line 3 column 65: tail_sampling.policies[0] (e).status_code."
            "status_codes[0]: unknown status code 'FAIL' (expected ERROR, OK or UNSET)");
  EXPECT_EQ(ErrorOf("tail_sampling:\n"),
            "config test.yaml: line 2 column 1: tail_sampling: expected a mapping, got nothing");
}

TEST(ConfigFile, UnreadableFiles) {
  ConfigFile c;
  std::string error;
  EXPECT_FALSE(LoadConfigFile("/nonexistent/agentring.yaml", &c, &error));
  EXPECT_EQ(error, "config /nonexistent/agentring.yaml: cannot read: No such file or directory");
  TempDir dir;
  EXPECT_FALSE(LoadConfigFile(dir.path(), &c, &error));
  EXPECT_EQ(error, "config " + dir.path() + ": cannot read: not a regular file");
  if (geteuid() != 0) {  // root reads anything
    const std::string secret = dir.Write("secret.yaml", "reader: {}\n");
    chmod(secret.c_str(), 0);
    EXPECT_FALSE(LoadConfigFile(secret, &c, &error));
    EXPECT_EQ(error, "config " + secret + ": cannot read: Permission denied");
  }
}

TEST(ConfigFile, DocumentedExamplesLoad) {
  std::ifstream in(std::string(AGENTRING_SOURCE_DIR) + "/docs/CONFIG.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  int loaded = 0;
  for (size_t at = doc.find("```yaml\n"); at != std::string::npos;
       at = doc.find("```yaml\n", at + 1)) {
    const size_t begin = at + 8;
    const std::string block = doc.substr(begin, doc.find("```", begin) - begin);
    if (!block.starts_with("reader:") && !block.starts_with("tail_sampling:")) continue;
    ConfigFile c;
    std::string error;
    EXPECT_TRUE(LoadConfigText(block, "CONFIG.md", "", &c, &error)) << error << "\n" << block;
    ++loaded;
  }
  EXPECT_GE(loaded, 3);
}

// Every option reader_main.cc declares (name, kind, value type), read from its source.
std::map<std::string, ReaderFlag> FlagsOfReaderMain(std::vector<std::string>* names_storage) {
  std::ifstream in(std::string(AGENTRING_SOURCE_DIR) + "/reader/tools/reader_main.cc");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string src = ss.str();
  EXPECT_FALSE(src.empty());
  std::map<std::string, ReaderFlag> out;
  // ("name" or ("name,x" followed by po::value<T>… (a value), or a string (a switch).
  const std::regex option(
      R"re(\(\s*"([a-z0-9][a-z0-9-]*)(?:,[A-Za-z])?"\s*,\s*(po::value<([^(]*)>\(\)|")?)re");
  names_storage->reserve(256);
  for (std::sregex_iterator it(src.begin(), src.end(), option), end; it != end; ++it) {
    const std::smatch& m = *it;
    if (!m[2].matched) continue;  // not an option declaration
    names_storage->push_back(m[1].str());
    ReaderFlag f{names_storage->back(), FlagKind::kSwitch};
    if (m[3].matched) {
      const std::string type = m[3].str();
      f.kind =
          type.find("std::vector") != std::string::npos ? FlagKind::kRepeated : FlagKind::kValue;
      f.value = type.find("uint") != std::string::npos  ? FlagValue::kUnsigned
                : type.find("int") != std::string::npos ? FlagValue::kInteger
                                                        : FlagValue::kText;
    }
    out.emplace(m[1].str(), f);
  }
  return out;
}

TEST(ConfigFile, EveryReaderFlagHasAConfigEquivalent) {
  std::vector<std::string> storage;
  std::map<std::string, ReaderFlag> declared = FlagsOfReaderMain(&storage);
  ASSERT_GT(declared.size(), 10u);  // the scan found reader_main's options
  declared.erase("help");
  declared.erase("config");
  std::map<std::string, const ReaderFlag*> table;
  for (const ReaderFlag& f : ReaderFlags()) table.emplace(std::string(f.name), &f);
  for (const auto& [name, f] : declared) {
    auto it = table.find(name);
    if (it == table.end()) {
      ADD_FAILURE() << "--" << name << " (reader_main.cc) is missing from ReaderFlags() "
                    << "(reader/config/config_file.cc): every flag needs a config equivalent";
      continue;
    }
    EXPECT_EQ(static_cast<int>(it->second->kind), static_cast<int>(f.kind)) << "--" << name;
    EXPECT_EQ(static_cast<int>(it->second->value), static_cast<int>(f.value)) << "--" << name;
  }
  for (const auto& [name, f] : table)
    EXPECT_EQ(declared.count(name), 1u)
        << "ReaderFlags() lists --" << name << ", which reader_main.cc does not declare";
  // And each has its place in the file: exporter-group flags in exporters:, the rest in reader:.
  for (const ReaderFlag& f : ReaderFlags()) {
    if (IsExporterFlag(f.name)) continue;
    std::string value = f.kind == FlagKind::kSwitch ? "true" : "1";
    ConfigFile c = Load("reader:\n  " + std::string(f.name) + ": " + value + "\n");
    ASSERT_EQ(c.flags.size(), 1u) << f.name;
    EXPECT_EQ(c.flags[0].first, f.name);
  }
}

}  // namespace
}  // namespace agentring::reader
