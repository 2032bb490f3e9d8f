// A minimal traced agent: a run with two turns, each with an LLM call and a tool call, and a
// worker thread handed an explicit parent. Run a reader first:
//   build/bin/agentring-reader --segment example --create --exporter tree --exit-when-idle-ms 500 &
//   AGENTRING_SEGMENT=example build/bin/example_minimal_agent
#include <chrono>
#include <string>
#include <thread>

#include "agentring/agentring.hpp"

using agentring::Kind;
using agentring::Span;
using agentring::Suffix;

namespace {

void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

int main() {
  Span run("agent.run", Kind::kRun);
  run.Set("agent.name", "ExampleAgent");
  for (int turn_index = 1; turn_index <= 2; ++turn_index) {
    Span turn("agent.turn", Kind::kTurn, Suffix(turn_index), {{"agent.iteration", turn_index}});
    {
      Span llm("chat", Kind::kLlm, Suffix::Interned("gpt-4o"),
               {{"gen_ai.operation.name", "chat"},
                {"gen_ai.provider.name", "openai"},
                {"gen_ai.request.model", "gpt-4o"},
                {"gen_ai.usage.input_tokens", 1200 + 300 * turn_index}});
      Sleep(5);
      llm.Set("gen_ai.usage.output_tokens", 80);
    }
    Span tool("execute_tool", Kind::kTool, Suffix::Interned("filesystem"),
              {{"tool.name", "filesystem"}, {"tool.action", "read"}, {"tool.target", "/etc/hosts"}});
    Sleep(2);
    tool.Set("tool.status", turn_index == 2 ? "error" : "ok");
    if (turn_index == 2) tool.SetStatus(agentring::StatusCode::kError, "permission denied");
  }
  // Work handed to another thread names its parent explicitly.
  std::thread worker([parent = run.context()] {
    Span summarize("summarize", Kind::kTask, parent);
    Sleep(3);
  });
  worker.join();
  return 0;
}
