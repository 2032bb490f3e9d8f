// The reader's config file: YAML sections turned into the reader's flags (see config_file.h).
#include "reader/config/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "reader/config/yaml_fields.h"
#include "reader/sample/tail_sampler.h"

namespace agentring::reader {

namespace {

namespace yf = yaml;

constexpr ReaderFlag kFlags[] = {
    {"segment", FlagKind::kValue},
    {"create", FlagKind::kSwitch},
    {"lanes", FlagKind::kValue, FlagValue::kUnsigned},
    {"lane-kib", FlagKind::kValue, FlagValue::kUnsigned},
    {"process-slots", FlagKind::kValue, FlagValue::kUnsigned},
    {"exporter", FlagKind::kRepeated},
    {"out", FlagKind::kRepeated, FlagValue::kText, true},
    {"stats-json", FlagKind::kValue, FlagValue::kText, true},
    {"exit-when-idle-ms", FlagKind::kValue, FlagValue::kInteger},
    {"shutdown-timeout-ms", FlagKind::kValue, FlagValue::kUnsigned},
    {"decision-wait-ms", FlagKind::kValue, FlagValue::kUnsigned},
    {"max-open-ms", FlagKind::kValue, FlagValue::kUnsigned},
    {"pricing", FlagKind::kValue, FlagValue::kText, true},
    {"redact-rules", FlagKind::kValue, FlagValue::kText, true},
    {"out-max-bytes", FlagKind::kRepeated},
    {"out-max-files", FlagKind::kRepeated},
    {"state-dir", FlagKind::kValue, FlagValue::kText, true},
    {"checkpoint-ms", FlagKind::kValue, FlagValue::kUnsigned},
    {"metrics-port", FlagKind::kValue, FlagValue::kUnsigned},
    {"metrics-bind", FlagKind::kValue},
    {"full-policy", FlagKind::kValue},
    {"group", FlagKind::kValue},
    {"allow-foreign-owner", FlagKind::kSwitch},
    {"otlp-endpoint", FlagKind::kValue},
    {"otlp-protocol", FlagKind::kValue},
    {"otlp-compression", FlagKind::kValue},
    {"otlp-timeout-ms", FlagKind::kValue, FlagValue::kUnsigned},
    {"otlp-header", FlagKind::kRepeated},
    {"otlp-retry-initial-ms", FlagKind::kValue, FlagValue::kUnsigned},
    {"otlp-retry-max-backoff-ms", FlagKind::kValue, FlagValue::kUnsigned},
    {"otlp-retry-max-elapsed-ms", FlagKind::kValue, FlagValue::kUnsigned},
};

constexpr std::string_view kExporterTypes[] = {"tree", "jsonl", "otlp", "chrome"};

const ReaderFlag* FindFlag(std::span<const ReaderFlag> flags, std::string_view name) {
  for (const ReaderFlag& f : flags)
    if (f.name == name) return &f;
  return nullptr;
}

bool IsExporterType(std::string_view t) {
  for (std::string_view e : kExporterTypes)
    if (e == t) return true;
  return false;
}

std::string Normalize(std::string key) {
  for (char& c : key)
    if (c == '_') c = '-';
  return key;
}

std::string Line(const YAML::Node& n) {
  if (!n.IsDefined() || n.Mark().is_null()) return "";
  return " (line " + std::to_string(n.Mark().line + 1) + ")";
}

// Accumulates flags in file order and refuses a single-valued flag set twice.
class Builder {
 public:
  Builder(ConfigFile* out, std::string base_dir, std::span<const ReaderFlag> flags)
      : out_(out), base_dir_(std::move(base_dir)), flags_(flags) {}

  std::span<const ReaderFlag> flags() const { return flags_; }
  const ReaderFlag* Find(std::string_view name) const { return FindFlag(flags_, name); }
  // The flag `name`, which the reader must have (exporter, out, pricing, …).
  const ReaderFlag& Must(std::string_view name) const {
    static constexpr ReaderFlag kMissing{"", FlagKind::kValue};
    const ReaderFlag* f = Find(name);
    return f != nullptr ? *f : kMissing;
  }

  // Adds one occurrence of `flag` with `value`, read at `at`.
  bool Add(const ReaderFlag& flag, std::string value, const YAML::Node& at, const std::string& path,
           std::string* error) {
    if (flag.kind != FlagKind::kRepeated) {
      auto [it, fresh] = set_at_.emplace(std::string(flag.name), at);
      if (!fresh)
        return yf::Fail(
            at, path, "--" + std::string(flag.name) + " is already set" + Line(it->second), error);
    }
    if (flag.path && !value.empty() && value != "-" && value[0] != '/' && !base_dir_.empty())
      value = base_dir_ + "/" + value;
    out_->flags.emplace_back(std::string(flag.name), std::move(value));
    return true;
  }

  // Adds `node` as the value(s) of `flag`, checking its shape and type.
  bool AddNode(const ReaderFlag& flag, const YAML::Node& node, const std::string& path,
               std::string* error) {
    if (flag.kind == FlagKind::kSwitch) {
      bool on = false;
      if (!yf::ReadBool(node, path, &on, error)) return false;
      return !on || Add(flag, "", node, path, error);
    }
    if (flag.kind == FlagKind::kRepeated && node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i)
        if (!AddScalar(flag, node[i], path + "[" + std::to_string(i) + "]", error)) return false;
      return true;
    }
    return AddScalar(flag, node, path, error);
  }

 private:
  bool AddScalar(const ReaderFlag& flag, const YAML::Node& node, const std::string& path,
                 std::string* error) {
    if (!node.IsScalar())
      return yf::Fail(node, path, "expected a value, got " + yf::Describe(node), error);
    const std::string& v = node.Scalar();
    if (flag.value == FlagValue::kUnsigned) {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || v.empty())
        return yf::Fail(node, path, "expected a non-negative integer, got '" + v + "'", error);
    } else if (flag.value == FlagValue::kInteger) {
      int64_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || v.empty())
        return yf::Fail(node, path, "expected an integer, got '" + v + "'", error);
    }
    return Add(flag, v, node, path, error);
  }

  ConfigFile* out_;
  std::string base_dir_;
  std::span<const ReaderFlag> flags_;
  std::map<std::string, YAML::Node> set_at_;
};

std::string FlagList(std::span<const ReaderFlag> flags) {
  std::string out;
  for (const ReaderFlag& f : flags)
    if (!IsExporterFlag(f.name)) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out;
}

bool ReadReaderSection(const YAML::Node& section, Builder* b, std::string* error) {
  const std::string p = "reader";
  if (section.IsNull()) return true;
  if (!section.IsMap())
    return yf::Fail(section, p, "expected a mapping of flags, got " + yf::Describe(section), error);
  std::set<std::string> seen;
  for (const auto& kv : section) {
    if (!kv.first.IsScalar()) return yf::Fail(kv.first, p, "a key must be a flag name", error);
    const std::string name = Normalize(kv.first.Scalar());
    const std::string kp = yf::Join(p, kv.first.Scalar());
    if (!seen.insert(name).second)
      return yf::Fail(kv.first, p, "flag '" + name + "' given twice", error);
    if (name == "exporter" || name == "out" || name.starts_with("out-"))
      return yf::Fail(kv.first, kp, "exporters and their outputs go in the exporters: section",
                      error);
    if (IsExporterFlag(name)) {
      const std::string type = name.substr(0, name.find('-'));
      return yf::Fail(kv.first, kp,
                      "write it as '" + name.substr(type.size() + 1) +
                          "' in an exporters: entry of type " + type,
                      error);
    }
    const ReaderFlag* flag = b->Find(name);
    if (flag == nullptr)
      return yf::Fail(
          kv.first, p,
          "unknown flag '" + kv.first.Scalar() + "' (flags: " + FlagList(b->flags()) + ")", error);
    if (!b->AddNode(*flag, kv.second, kp, error)) return false;
  }
  return true;
}

bool ReadExportersSection(const YAML::Node& section, Builder* b, std::string* error) {
  const std::string p = "exporters";
  if (section.IsNull()) return true;
  if (!section.IsSequence())
    return yf::Fail(section, p,
                    "expected a list of {type: …, out: …}, got " + yf::Describe(section), error);
  for (size_t i = 0; i < section.size(); ++i) {
    const YAML::Node e = section[i];
    const std::string ep = p + "[" + std::to_string(i) + "]";
    if (!e.IsMap())
      return yf::Fail(e, ep, "expected {type: …, out: …}, got " + yf::Describe(e), error);
    std::string type;
    if (!e["type"].IsDefined()) return yf::Fail(e, ep, "missing 'type'", error);
    if (!yf::ReadString(e["type"], yf::Join(ep, "type"), &type, error)) return false;
    if (!IsExporterType(type)) {
      std::string types;
      for (std::string_view t : kExporterTypes)
        types += (types.empty() ? "" : ", ") + std::string(t);
      return yf::Fail(e["type"], yf::Join(ep, "type"),
                      "unknown exporter type '" + type + "' (expected " + types + ")", error);
    }
    if (!b->Add(b->Must("exporter"), type, e["type"], yf::Join(ep, "type"), error)) return false;
    if (e["out"].IsDefined()) {
      std::string out;
      if (!yf::ReadString(e["out"], yf::Join(ep, "out"), &out, error)) return false;
      if (!b->Add(b->Must("out"), out, e["out"], yf::Join(ep, "out"), error)) return false;
    }
    std::set<std::string> seen;
    for (const auto& kv : e) {
      if (!kv.first.IsScalar())
        return yf::Fail(kv.first, ep, "a key must be an option name", error);
      const std::string key = Normalize(kv.first.Scalar());
      if (!seen.insert(key).second)
        return yf::Fail(kv.first, ep, "key '" + key + "' given twice", error);
      if (key == "type" || key == "out") continue;
      // out-*: options of the exporter's output file (rotation), bound like `out`.
      const std::string flag_name = key.starts_with("out-") ? key : type + "-" + key;
      const ReaderFlag* flag = b->Find(flag_name);
      if (flag == nullptr) {
        std::string options = "out";
        for (const ReaderFlag& f : b->flags())
          if (f.name.starts_with(type + "-"))
            options += ", " + std::string(f.name.substr(type.size() + 1));
        return yf::Fail(kv.first, ep,
                        "unknown option '" + kv.first.Scalar() + "' for exporter " + type +
                            " (options: " + options + ")",
                        error);
      }
      if (!b->AddNode(*flag, kv.second, yf::Join(ep, kv.first.Scalar()), error)) return false;
    }
  }
  return true;
}

// A section {key: PATH} standing for one flag.
bool ReadFileSection(const YAML::Node& section, const char* name, const char* key, const char* flag,
                     Builder* b, std::string* error) {
  if (section.IsNull()) return true;
  if (!yf::CheckMap(section, name, {key}, error)) return false;
  const YAML::Node v = section[key];
  if (!v.IsDefined()) return true;
  std::string path;
  if (!yf::ReadString(v, yf::Join(name, key), &path, error)) return false;
  return b->Add(b->Must(flag), path, v, yf::Join(name, key), error);
}

bool ReadTailSampling(const YAML::Node& section, ConfigFile* out, Builder* b, std::string* error) {
  std::unique_ptr<TailSampler> check = TailSampler::Create(section, error);
  if (check == nullptr) return false;
  out->tail_sampling.reset(section);  // reset rebinds; yaml-cpp's operator= writes through
  if (check->decision_wait_ns() != 0) {
    const uint64_t ms = (check->decision_wait_ns() + 999'999) / 1'000'000;
    const char* key = section["decision_wait_after_root_received"].IsDefined()
                          ? "decision_wait_after_root_received"
                          : "decision_wait";
    if (!b->Add(b->Must("decision-wait-ms"), std::to_string(ms), section[key],
                yf::Join("tail_sampling", key), error))
      return false;
  }
  return true;
}

}  // namespace

std::span<const ReaderFlag> ReaderFlags() { return kFlags; }
std::span<const std::string_view> ExporterTypes() { return kExporterTypes; }

bool IsExporterFlag(std::string_view name) {
  if (name == "exporter" || name == "out" || name.starts_with("out-")) return true;
  for (std::string_view t : kExporterTypes)
    if (name.size() > t.size() + 1 && name.starts_with(t) && name[t.size()] == '-') return true;
  return false;
}

bool LoadConfigText(const std::string& text, const std::string& name, const std::string& base_dir,
                    ConfigFile* out, std::string* error, std::span<const ReaderFlag> flags) {
  const std::string prefix = "config " + name + ": ";
  ConfigFile result;
  result.path = name;
  std::string why;
  try {
    const YAML::Node root = YAML::Load(text);
    Builder b(&result, base_dir, flags);
    bool ok = true;
    if (root.IsDefined() && !root.IsNull()) {
      ok = yf::CheckMap(root, "", {"reader", "exporters", "pricing", "redaction", "tail_sampling"},
                        &why);
      for (const auto& kv : root) {
        if (!ok) break;
        const std::string section = kv.first.Scalar();
        const YAML::Node v = kv.second;
        if (section == "reader")
          ok = ReadReaderSection(v, &b, &why);
        else if (section == "exporters")
          ok = ReadExportersSection(v, &b, &why);
        else if (section == "pricing")
          ok = ReadFileSection(v, "pricing", "file", "pricing", &b, &why);
        else if (section == "redaction")
          ok = ReadFileSection(v, "redaction", "rules_file", "redact-rules", &b, &why);
        else
          ok = ReadTailSampling(v, &result, &b, &why);
      }
    }
    if (!ok) {
      *error = prefix + why;
      return false;
    }
  } catch (const YAML::ParserException& e) {
    *error = prefix + "line " + std::to_string(e.mark.line + 1) + " column " +
             std::to_string(e.mark.column + 1) + ": " + e.msg;
    return false;
  } catch (const YAML::Exception& e) {
    *error = prefix + e.what();
    return false;
  }
  out->path = std::move(result.path);
  out->flags = std::move(result.flags);
  out->tail_sampling.reset(result.tail_sampling);
  return true;
}

bool LoadConfigFile(const std::string& path, ConfigFile* out, std::string* error) {
  const std::string prefix = "config " + path + ": ";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = prefix + "cannot read: " + strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = prefix + "cannot read: not a regular file";
    close(fd);
    return false;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = prefix + "cannot read: " + strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return LoadConfigText(text, path, std::filesystem::path(path).parent_path().string(), out, error);
}

std::vector<std::string> ConfigToArgs(const ConfigFile& config,
                                      const std::set<std::string>& command_line_flags,
                                      std::span<const ReaderFlag> flags) {
  const bool cli_exporters =
      command_line_flags.count("exporter") != 0 || command_line_flags.count("out") != 0;
  std::vector<std::string> args;
  for (const auto& [name, value] : config.flags) {
    if (command_line_flags.count(name) != 0) continue;
    if (cli_exporters && IsExporterFlag(name)) continue;
    const ReaderFlag* f = FindFlag(flags, name);
    if (f != nullptr && f->kind == FlagKind::kSwitch)
      args.push_back("--" + name);
    else
      args.push_back("--" + name + "=" + value);
  }
  return args;
}

}  // namespace agentring::reader
