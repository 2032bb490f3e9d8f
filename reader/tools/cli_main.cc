// agentring: the command-line tool (tree view of trace files, live ring statistics, load
// generation, segment removal, the demo).
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "agentring/internal/segment_map.h"
#include "reader/tools/cli.h"

namespace agentring::cli {

std::string SelfDir() {
  char buf[4096] = {};
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

std::vector<char*> ArgvOf(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int Rm(const Args& args) {
  if (args.size() != 1 || args[0].empty() || args[0][0] == '-') {
    fprintf(stderr, "agentring rm: expected one segment name\nusage: agentring rm NAME\n");
    return 2;
  }
  if (!internal::IsValidSegmentName(args[0])) {
    fprintf(stderr, "agentring rm: invalid segment name '%s'\n", args[0].c_str());
    return 2;
  }
  if (!internal::SegmentMap::Remove(args[0])) {
    fprintf(stderr, "agentring rm: no segment named '%s'\n", args[0].c_str());
    return 1;
  }
  printf("removed segment '%s'\n", args[0].c_str());
  return 0;
}

}  // namespace agentring::cli

namespace {

constexpr const char* kUsage =
    "usage: agentring <command> [options]\n"
    "commands:\n"
    "  tree FILE                 render an OTLP JSON Lines trace file as trees\n"
    "  stats [--segment NAME] [--json] [--allow-foreign-owner]   live ring statistics\n"
    "  loadgen --segment NAME --processes P --threads T --traces N --spans-per-trace K\n"
    "          [--attrs A] [--rate SPANS_PER_S] [--span-us US]\n"
    "  rm NAME                   remove a segment\n"
    "  demo                      run the multi-process demo agent network through a reader\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace agentring::cli;
  if (argc < 2) {
    fprintf(stderr, "agentring: missing command\n%s", kUsage);
    return 2;
  }
  std::string cmd = argv[1];
  Args args(argv + 2, argv + argc);
  if (cmd == "tree") return Tree(args);
  if (cmd == "stats") return Stats(args);
  if (cmd == "loadgen") return Loadgen(args);
  if (cmd == "rm") return Rm(args);
  if (cmd == "demo") return Demo(args);
  if (cmd == "_demo-orchestrator") return DemoOrchestrator(args);
  if (cmd == "_demo-task") return DemoTask(args);
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    printf("%s", kUsage);
    return 0;
  }
  fprintf(stderr, "agentring: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return 2;
}
