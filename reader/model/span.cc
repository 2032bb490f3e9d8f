// Names of span kinds, as exported in `agent.kind`.
#include "reader/model/span.h"

namespace agentring::reader {

const char* KindString(uint8_t kind) {
  static constexpr const char* kNames[] = {"custom",    "run",        "turn",          "llm",
                                           "tool",      "retrieval",  "embedding",     "vector_search",
                                           "subagent",  "handoff",    "guardrail",     "plan",
                                           "task"};
  return kind < sizeof(kNames) / sizeof(kNames[0]) ? kNames[kind] : "custom";
}

}  // namespace agentring::reader
