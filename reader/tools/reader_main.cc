// agentring-reader: the sidecar. Drains a segment, assembles traces, exports them.
//
//   agentring-reader --segment NAME [--create] [--lanes N] [--lane-kib K]
//                    [--full-policy drop|overwrite] [--group NAME] [--allow-foreign-owner]
//                    --exporter tree|jsonl|chrome|otlp [--out FILE [--out-max-bytes N]
//                    [--out-max-files K]] … [--stats-json FILE]
//                    [--otlp-endpoint URL] [--otlp-protocol P] [--otlp-compression C] …
//                    [--exit-when-idle-ms MS] [--shutdown-timeout-ms MS]
//
// Exit status: 0 after a clean shutdown (SIGTERM, SIGINT, idle), 1 on a fatal error (missing or
// incompatible segment, another reader, unwritable output), 2 on a usage error.
#include <grp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>

#include "agentring/internal/segment_map.h"
#include "reader/config/config_file.h"
#include "reader/pipeline/reader_loop.h"
#include "reader/sample/tail_sampler.h"

namespace po = boost::program_options;
using agentring::reader::ReaderLoop;
using agentring::reader::ReaderOptions;

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true, std::memory_order_relaxed); }

constexpr const char* kUsage =
    "usage: agentring-reader [--segment NAME] [--create] [--lanes N] [--lane-kib K] "
    "[--process-slots N] [--full-policy drop|overwrite] [--group NAME] [--allow-foreign-owner] "
    "--exporter tree|jsonl|chrome|otlp [--out FILE] [--out-max-bytes N[K|M|G]] "
    "[--out-max-files K] ... [--stats-json FILE] "
    "[--exit-when-idle-ms MS] [--shutdown-timeout-ms MS] [--decision-wait-ms MS] "
    "[--max-open-ms MS] [--pricing FILE] [--redact-rules FILE] [--state-dir DIR] "
    "[--checkpoint-ms MS] [--metrics-port PORT [--metrics-bind ADDR]] [--config FILE] "
    "[--otlp-endpoint URL] [--otlp-protocol http/protobuf|http/json] "
    "[--otlp-compression gzip|none] [--otlp-timeout-ms MS] [--otlp-header K=V] ... "
    "[--otlp-retry-initial-ms MS] [--otlp-retry-max-backoff-ms MS] [--otlp-retry-max-elapsed-ms MS]";

int UsageError(const std::string& what) {
  fprintf(stderr, "agentring-reader: %s\n%s\n", what.c_str(), kUsage);
  return 2;
}

// "N", "NK", "NM" or "NG" (binary multiples) as a byte count >= 1; false when malformed.
bool ParseByteSize(const std::string& text, uint64_t* bytes) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15 || text.size() - digits > 1) return false;
  uint64_t n = std::stoull(text.substr(0, digits));
  if (digits < text.size()) {
    switch (text[digits]) {
      case 'K': case 'k': n <<= 10; break;
      case 'M': case 'm': n <<= 20; break;
      case 'G': case 'g': n <<= 30; break;
      default: return false;
    }
  }
  if (n == 0) return false;
  *bytes = n;
  return true;
}

// The otlp exporter's options: the OTEL_EXPORTER_OTLP_* environment, then the --otlp-* flags.
// Read only when an otlp exporter is configured (a bad variable must not stop a jsonl reader).
bool ApplyOtlpOptions(const po::variables_map& vm, ReaderOptions& o, std::string* error) {
  bool wanted = false;
  for (const auto& e : o.exporters) wanted |= e.type == "otlp";
  if (!wanted) return true;
  agentring::reader::OtlpHttpOptions& otlp = o.otlp;
  if (!agentring::reader::OtlpOptionsFromEnv(&otlp, error)) return false;
  if (vm.count("otlp-endpoint"))
    otlp.endpoint = agentring::reader::OtlpTracesEndpoint(vm["otlp-endpoint"].as<std::string>());
  if (vm.count("otlp-protocol") &&
      !agentring::reader::ParseOtlpProtocol(vm["otlp-protocol"].as<std::string>(), &otlp.protocol,
                                            error))
    return false;
  if (vm.count("otlp-compression")) {
    const std::string c = vm["otlp-compression"].as<std::string>();
    if (c != "gzip" && c != "none") {
      *error = "--otlp-compression '" + c + "': expected gzip or none";
      return false;
    }
    otlp.gzip = c == "gzip";
  }
  if (vm.count("otlp-timeout-ms")) otlp.timeout_ms = vm["otlp-timeout-ms"].as<uint64_t>();
  if (vm.count("otlp-header")) {
    for (const std::string& h : vm["otlp-header"].as<std::vector<std::string>>()) {
      const size_t eq = h.find('=');
      if (eq == std::string::npos || eq == 0) {
        *error = "--otlp-header '" + h + "': expected KEY=VALUE";
        return false;
      }
      otlp.headers.emplace_back(h.substr(0, eq), h.substr(eq + 1));
    }
  }
  if (vm.count("otlp-retry-initial-ms"))
    otlp.retry_initial_backoff_ms = vm["otlp-retry-initial-ms"].as<uint64_t>();
  if (vm.count("otlp-retry-max-backoff-ms"))
    otlp.retry_max_backoff_ms = vm["otlp-retry-max-backoff-ms"].as<uint64_t>();
  if (vm.count("otlp-retry-max-elapsed-ms"))
    otlp.retry_max_elapsed_ms = vm["otlp-retry-max-elapsed-ms"].as<uint64_t>();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("agentring-reader options");
  desc.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>(), "YAML config file: every flag, exporters, pricing, redaction, and a tail_sampling: block in the OpenTelemetry Collector's schema (docs/CONFIG.md); command-line flags override it")
      ("segment", po::value<std::string>(), "segment name (default $AGENTRING_SEGMENT or agentring)")
      ("create", "create the segment if it does not exist (mode 0600, or 0660 with --group)")
      ("lanes", po::value<uint32_t>(), "lanes in a created segment (default 64)")
      ("lane-kib", po::value<uint32_t>(), "KiB per lane, a power of two >= 4 (default 1024)")
      ("process-slots", po::value<uint32_t>(), "writer processes a created segment admits at once (default 64)")
      ("full-policy", po::value<std::string>(), "a created segment's full lanes: drop (default: drop the newest group, count it) or overwrite (flight recorder: the oldest records go, counted)")
      ("group", po::value<std::string>(), "share a created segment with this group (mode 0660 instead of 0600)")
      ("allow-foreign-owner", "read a segment that belongs to another user")
      ("exporter", po::value<std::vector<std::string>>()->composing(), "tree | jsonl | chrome | otlp (repeatable)")
      ("out", po::value<std::vector<std::string>>()->composing(), "output of the exporter before it ('-' = stdout)")
      ("out-max-bytes", po::value<std::vector<std::string>>()->composing(), "jsonl: rotate the --out file before it exceeds N bytes (K/M/G suffixes)")
      ("out-max-files", po::value<std::vector<std::string>>()->composing(), "jsonl: with --out-max-bytes, files kept, the --out file included (default 5)")
      ("stats-json", po::value<std::string>(), "write reader statistics here on exit")
      ("exit-when-idle-ms", po::value<int64_t>(), "exit once no live writer holds a lane and nothing was drained for MS ms")
      ("shutdown-timeout-ms", po::value<uint64_t>(), "bound on delivering at shutdown (default 30000)")
      ("decision-wait-ms", po::value<uint64_t>(), "wait for open spans after a root ends (default 5000)")
      ("max-open-ms", po::value<uint64_t>(), "export a trace whose root never ends after this (default 600000)")
      ("pricing", po::value<std::string>(), "pricing table (JSON) for gen_ai.cost_usd (default: the shipped pricing/pricing.json)")
      ("redact-rules", po::value<std::string>(), "extra redaction rules: one 'name regex' per line (defaults always apply)")
      ("state-dir", po::value<std::string>(), "keep crash-safe state here: a reader killed and restarted with the same directory loses nothing and exports nothing twice")
      ("metrics-port", po::value<uint32_t>(), "serve Prometheus metrics at http://BIND:PORT/metrics (0 = any free port, printed on stderr)")
      ("metrics-bind", po::value<std::string>(), "address the metrics endpoint listens on (default 127.0.0.1)")
      ("checkpoint-ms", po::value<uint64_t>(), "with --state-dir: the longest a finished trace waits for its checkpoint (default 200)")
      ("otlp-endpoint", po::value<std::string>(), "OTLP base URL, /v1/traces appended (default $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318)")
      ("otlp-protocol", po::value<std::string>(), "http/protobuf (default) | http/json")
      ("otlp-compression", po::value<std::string>(), "gzip | none (default none)")
      ("otlp-timeout-ms", po::value<uint64_t>(), "per-request timeout (default 10000)")
      ("otlp-header", po::value<std::vector<std::string>>()->composing(), "K=V header on every OTLP request (repeatable)")
      ("otlp-retry-initial-ms", po::value<uint64_t>(), "first retry backoff (default 1000)")
      ("otlp-retry-max-backoff-ms", po::value<uint64_t>(), "backoff cap (default 30000)")
      ("otlp-retry-max-elapsed-ms", po::value<uint64_t>(), "give a batch up after retrying this long (default 60000)");

  po::parsed_options parsed(&desc);
  po::variables_map vm;
  agentring::reader::ConfigFile config;
  try {
    parsed = po::command_line_parser(argc, argv).options(desc).run();
    // --config: the file's settings are parsed as if they followed the command line, so one
    // walk binds every --out to its --exporter and validates every value; flags given on the
    // command line override the file's (the file's exporters go when the command line names any).
    std::string config_path;
    std::set<std::string> named;
    for (const po::option& opt : parsed.options) {
      named.insert(opt.string_key);
      if (opt.string_key == "config" && !opt.value.empty()) config_path = opt.value[0];
    }
    if (!config_path.empty()) {
      std::string error;
      if (!agentring::reader::LoadConfigFile(config_path, &config, &error)) {
        fprintf(stderr, "agentring-reader: %s\n", error.c_str());
        return 2;
      }
      std::vector<std::string> args(argv + 1, argv + argc);
      for (std::string& a : agentring::reader::ConfigToArgs(config, named)) args.push_back(std::move(a));
      parsed = po::command_line_parser(args).options(desc).run();
    }
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return UsageError(e.what());
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n\n" << desc << "\n";
    return 0;
  }

  ReaderOptions o;
  if (const char* env = getenv("AGENTRING_SEGMENT"); env != nullptr && *env != '\0') o.segment = env;
  if (vm.count("segment")) o.segment = vm["segment"].as<std::string>();
  if (!agentring::internal::IsValidSegmentName(o.segment))
    return UsageError("invalid segment name '" + o.segment + "' (letters, digits, . _ -)");
  o.create = vm.count("create") != 0;
  if (vm.count("lanes")) o.geometry.lane_count = vm["lanes"].as<uint32_t>();
  if (vm.count("lane-kib")) {
    uint32_t kib = vm["lane-kib"].as<uint32_t>();
    if (kib < 4 || (kib & (kib - 1)) != 0 || kib > (1u << 20))
      return UsageError("--lane-kib must be a power of two between 4 and 1048576");
    o.geometry.lane_capacity_records = kib * 1024 / agentring::abi::kRecordBytes;
  }
  if (vm.count("process-slots")) o.geometry.process_slot_count = vm["process-slots"].as<uint32_t>();
  if (const char* bad = o.geometry.Validate()) return UsageError(bad);
  if (vm.count("full-policy")) {
    if (!o.create) return UsageError("--full-policy applies to a segment made with --create");
    const std::string& name = vm["full-policy"].as<std::string>();
    if (!agentring::internal::ParseFullPolicy(name, &o.full_policy))
      return UsageError("unknown --full-policy '" + name + "' (expected drop or overwrite)");
    o.full_policy_set = true;
  }
  if (vm.count("group")) {
    if (!o.create) return UsageError("--group applies to a segment made with --create");
    const std::string& name = vm["group"].as<std::string>();
    group g{};
    group* found = nullptr;
    char buf[4096];
    if (getgrnam_r(name.c_str(), &g, buf, sizeof(buf), &found) != 0 || found == nullptr)
      return UsageError("unknown group '" + name + "' (--group takes a group name from /etc/group)");
    o.group_gid = found->gr_gid;
  }
  o.allow_foreign_owner = vm.count("allow-foreign-owner") != 0;

  // --out binds to the --exporter before it: walk the options in command-line order.
  for (const po::option& opt : parsed.options) {
    if (opt.string_key == "exporter") {
      for (const std::string& v : opt.value) {
        if (v != "tree" && v != "jsonl" && v != "chrome" && v != "otlp")
          return UsageError("unknown exporter '" + v + "' (expected tree, jsonl, chrome or otlp)");
        o.exporters.push_back({v, ""});
      }
    } else if (opt.string_key == "out") {
      if (o.exporters.empty()) return UsageError("--out must follow the --exporter it belongs to");
      if (!o.exporters.back().out.empty())
        return UsageError("two --out for one --exporter");
      o.exporters.back().out = opt.value.empty() ? "" : opt.value[0];
    } else if (opt.string_key == "out-max-bytes" || opt.string_key == "out-max-files") {
      // Rotation binds to the --exporter before it, like --out.
      const std::string flag = "--" + opt.string_key;
      if (o.exporters.empty()) return UsageError(flag + " must follow the --exporter it belongs to");
      agentring::reader::ExporterSpec& spec = o.exporters.back();
      if (spec.type != "jsonl")
        return UsageError(flag + " applies to --exporter jsonl only (a " + spec.type +
                          " file is one document and cannot be cut between writes)");
      const std::string value = opt.value.empty() ? "" : opt.value[0];
      if (opt.string_key == "out-max-bytes") {
        if (!ParseByteSize(value, &spec.out_max_bytes))
          return UsageError("--out-max-bytes '" + value + "' is not a size >= 1 (e.g. 1048576, 100M)");
      } else {
        char* end = nullptr;
        unsigned long k = strtoul(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || k < 1 || k > 1000)
          return UsageError("--out-max-files '" + value + "' is not between 1 and 1000");
        spec.out_max_files = static_cast<uint32_t>(k);
      }
    }
  }
  for (const agentring::reader::ExporterSpec& spec : o.exporters) {
    if (spec.out_max_files != 0 && spec.out_max_bytes == 0)
      return UsageError("--out-max-files needs --out-max-bytes");
    if (spec.out_max_bytes != 0 && (spec.out.empty() || spec.out == "-"))
      return UsageError("--out-max-bytes needs --out FILE for its exporter (standard output cannot rotate)");
  }
  if (o.exporters.empty()) o.exporters.push_back({"tree", "-"});
  if (vm.count("stats-json")) o.stats_json = vm["stats-json"].as<std::string>();
  if (vm.count("exit-when-idle-ms")) o.exit_when_idle_ms = vm["exit-when-idle-ms"].as<int64_t>();
  if (vm.count("shutdown-timeout-ms")) o.shutdown_timeout_ms = vm["shutdown-timeout-ms"].as<uint64_t>();
  if (vm.count("decision-wait-ms"))
    o.assembler.decision_wait_ns = vm["decision-wait-ms"].as<uint64_t>() * 1000000ull;
  if (vm.count("max-open-ms")) o.assembler.max_open_ns = vm["max-open-ms"].as<uint64_t>() * 1000000ull;
  if (vm.count("pricing")) o.pricing_path = vm["pricing"].as<std::string>();
  if (vm.count("redact-rules")) o.redact_rules_path = vm["redact-rules"].as<std::string>();
  if (vm.count("state-dir")) o.state_dir = vm["state-dir"].as<std::string>();
  if (vm.count("metrics-port")) {
    uint32_t port = vm["metrics-port"].as<uint32_t>();
    if (port > 65535) return UsageError("--metrics-port must be 0..65535");
    o.metrics_port = static_cast<int32_t>(port);
  }
  if (vm.count("metrics-bind")) {
    if (o.metrics_port < 0) return UsageError("--metrics-bind needs --metrics-port");
    o.metrics_bind = vm["metrics-bind"].as<std::string>();
  }
  if (vm.count("checkpoint-ms")) {
    if (o.state_dir.empty()) return UsageError("--checkpoint-ms needs --state-dir");
    o.checkpoint_interval_ms = vm["checkpoint-ms"].as<uint64_t>();
    if (o.checkpoint_interval_ms == 0) return UsageError("--checkpoint-ms must be at least 1");
  }
  if (std::string otlp_error; !ApplyOtlpOptions(vm, o, &otlp_error)) {
    fprintf(stderr, "agentring-reader: %s\n", otlp_error.c_str());
    return 2;
  }

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string error;
  std::unique_ptr<agentring::reader::TailSampler> sampler;
  if (config.tail_sampling.IsDefined() && !config.tail_sampling.IsNull()) {
    sampler = agentring::reader::TailSampler::Create(config.tail_sampling, &error);
    if (!sampler) {
      fprintf(stderr, "agentring-reader: config %s: %s\n", config.path.c_str(), error.c_str());
      return 2;
    }
  }
  std::unique_ptr<ReaderLoop> loop = ReaderLoop::Create(o, &error);
  if (!loop) {
    fprintf(stderr, "agentring-reader: %s\n", error.c_str());
    return 1;
  }
  if (sampler) loop->SetTailSampler(std::move(sampler));
  int rc = loop->Run(&g_stop);
  if (loop->export_abandoned()) {
    fflush(stdout);
    _exit(rc);  // an exporter thread is stuck in write(): do not destroy what it uses
  }
  return rc;
}
