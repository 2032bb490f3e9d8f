// agentring-reader: the sidecar. Drains a segment, assembles traces, exports them.
//
//   agentring-reader --segment NAME [--create] [--lanes N] [--lane-kib K]
//                    [--full-policy drop|overwrite] [--group NAME] [--allow-foreign-owner]
//                    --exporter tree|jsonl [--out FILE] … [--stats-json FILE]
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
#include <string>

#include "agentring/internal/segment_map.h"
#include "reader/pipeline/reader_loop.h"

namespace po = boost::program_options;
using agentring::reader::ReaderLoop;
using agentring::reader::ReaderOptions;

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true, std::memory_order_relaxed); }

constexpr const char* kUsage =
    "usage: agentring-reader [--segment NAME] [--create] [--lanes N] [--lane-kib K] "
    "[--process-slots N] [--full-policy drop|overwrite] [--group NAME] [--allow-foreign-owner] "
    "--exporter tree|jsonl [--out FILE] ... [--stats-json FILE] "
    "[--exit-when-idle-ms MS] [--shutdown-timeout-ms MS] [--decision-wait-ms MS] "
    "[--max-open-ms MS] [--pricing FILE] [--redact-rules FILE]";

int UsageError(const std::string& what) {
  fprintf(stderr, "agentring-reader: %s\n%s\n", what.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("agentring-reader options");
  desc.add_options()
      ("help,h", "show this help")
      ("segment", po::value<std::string>(), "segment name (default $AGENTRING_SEGMENT or agentring)")
      ("create", "create the segment if it does not exist (mode 0600, or 0660 with --group)")
      ("lanes", po::value<uint32_t>(), "lanes in a created segment (default 64)")
      ("lane-kib", po::value<uint32_t>(), "KiB per lane, a power of two >= 4 (default 1024)")
      ("process-slots", po::value<uint32_t>(), "writer processes a created segment admits at once (default 64)")
      ("full-policy", po::value<std::string>(), "a created segment's full lanes: drop (default: drop the newest group, count it) or overwrite (flight recorder: the oldest records go, counted)")
      ("group", po::value<std::string>(), "share a created segment with this group (mode 0660 instead of 0600)")
      ("allow-foreign-owner", "read a segment that belongs to another user")
      ("exporter", po::value<std::vector<std::string>>()->composing(), "tree | jsonl (repeatable)")
      ("out", po::value<std::vector<std::string>>()->composing(), "output of the exporter before it ('-' = stdout)")
      ("stats-json", po::value<std::string>(), "write reader statistics here on exit")
      ("exit-when-idle-ms", po::value<int64_t>(), "exit once no live writer holds a lane and nothing was drained for MS ms")
      ("shutdown-timeout-ms", po::value<uint64_t>(), "bound on delivering at shutdown (default 30000)")
      ("decision-wait-ms", po::value<uint64_t>(), "wait for open spans after a root ends (default 5000)")
      ("max-open-ms", po::value<uint64_t>(), "export a trace whose root never ends after this (default 600000)")
      ("pricing", po::value<std::string>(), "pricing table (JSON) for gen_ai.cost_usd (default: the shipped pricing/pricing.json)")
      ("redact-rules", po::value<std::string>(), "extra redaction rules: one 'name regex' per line (defaults always apply)");

  po::parsed_options parsed(&desc);
  po::variables_map vm;
  try {
    parsed = po::command_line_parser(argc, argv).options(desc).run();
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
        if (v != "tree" && v != "jsonl")
          return UsageError("unknown exporter '" + v + "' (expected tree or jsonl)");
        o.exporters.push_back({v, ""});
      }
    } else if (opt.string_key == "out") {
      if (o.exporters.empty()) return UsageError("--out must follow the --exporter it belongs to");
      if (!o.exporters.back().out.empty())
        return UsageError("two --out for one --exporter");
      o.exporters.back().out = opt.value.empty() ? "" : opt.value[0];
    }
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

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string error;
  std::unique_ptr<ReaderLoop> loop = ReaderLoop::Create(o, &error);
  if (!loop) {
    fprintf(stderr, "agentring-reader: %s\n", error.c_str());
    return 1;
  }
  int rc = loop->Run(&g_stop);
  if (loop->export_abandoned()) {
    fflush(stdout);
    _exit(rc);  // an exporter thread is stuck in write(): do not destroy what it uses
  }
  return rc;
}
