// Subcommands of the `agentring` CLI. Each returns the process exit status: 0 success,
// 1 failure, 2 usage error (with one line naming what was wrong and the usage).
#ifndef AGENTRING_READER_TOOLS_CLI_H_
#define AGENTRING_READER_TOOLS_CLI_H_

#include <string>
#include <vector>

namespace agentring::cli {

using Args = std::vector<std::string>;  // the arguments after the subcommand name

int Tree(const Args& args);       // agentring tree FILE
int Stats(const Args& args);      // agentring stats [--segment NAME] [--json]
int Loadgen(const Args& args);    // agentring loadgen --segment NAME --processes P …
int Rm(const Args& args);         // agentring rm NAME
int Demo(const Args& args);       // agentring demo [--out-dir DIR] [--keep-segment]
// Hidden: the processes of the demo's agent network (started by Demo / the orchestrator).
int DemoOrchestrator(const Args& args);
int DemoTask(const Args& args);

// Directory holding this executable (to find agentring-reader next to it).
std::string SelfDir();
// Argument vector helper: argv-style array from strings (for execv).
std::vector<char*> ArgvOf(std::vector<std::string>& v);

}  // namespace agentring::cli

#endif  // AGENTRING_READER_TOOLS_CLI_H_
