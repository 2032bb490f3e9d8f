// Typed spans for the parts of an agent loop, and opt-in capture of prompts, completions and tool
// I/O. Each helper is a Span (same RAII, same costs) that picks the stable `agent.kind`, a name
// that reads well in a waterfall, and the attribute names dashboards and GenAI tools query.
//
//   #include "agentring/agent.hpp"
//
//   agentring::RunSpan run("CodingAgent", conversation_id);        // "agent.run"
//   agentring::TurnSpan turn(3, "CodingAgent");                    // "agent.turn 3"
//   {
//     agentring::LlmSpan llm("openai", "gpt-4o");                  // "chat gpt-4o"
//     agentring::CaptureInputMessages(llm, messages_json);         // no-op unless enabled
//     llm.SetUsage(2048, 150, /*cache_read_input_tokens=*/1024);
//     llm.SetFinishReasons("tool_calls");
//   }
//   agentring::ToolSpan tool("read_file", "read", "/src/main.rs"); // "execute_tool read_file"
//   tool.SetError("PermissionError", "permission denied");
//
// Names. The static part of a name is a literal (interned once per process); the variable part
// (turn index, model, tool, agent) is a Suffix, so "chat gpt-4o" costs no formatting and no
// string in the record. Names are for humans and may change; `agent.kind` (from the Kind) and the
// attributes below are the contract: query those.
//
// Attribute names follow the OpenTelemetry GenAI semantic conventions at kSemConvVersion (the
// reader puts the matching schemaUrl on every exported scope), plus agentring's own agent.*,
// tool.*, rag.* and llm.cached for what those conventions do not cover (ReAct state, tool
// targets, retrieval). Every key is a constant in agentring::attr.
//
// Costs. A helper is a Span whose start group carries its fixed attributes; optional ones are one
// more group. Nothing here allocates or copies strings: values are string_views written into the
// ring before the call returns (so a temporary std::string argument is fine). Content capture is
// one relaxed load when off; when on, a value longer than the limit is clipped into a reused
// thread-local buffer (it allocates only while it first grows).
//
// With -DAGENTRING_DISABLE every helper compiles to nothing, as Span does: everything that touches
// a Span is inline in this header.
#ifndef AGENTRING_AGENT_HPP_
#define AGENTRING_AGENT_HPP_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agentring/agentring.hpp"

namespace agentring {

// The semantic-conventions version whose names these helpers use (gen_ai.provider.name and
// gen_ai.{input,output}.messages arrived in 1.37), and its schema URL.
inline constexpr std::string_view kSemConvVersion = "1.37.0";
inline constexpr std::string_view kSemConvSchemaUrl = "https://opentelemetry.io/schemas/1.37.0";

// Attribute keys. Literal Names: hashed at compile time, interned once per process.
namespace attr {
// Agent loop (run, turn, plan, task spans).
inline constexpr Key kAgentName = "agent.name";
inline constexpr Key kAgentIteration = "agent.iteration";
inline constexpr Key kAgentState = "agent.state";            // "thinking", "tool_use", "done"
inline constexpr Key kAgentStopReason = "agent.stop_reason";  // "tool_call", "max_iterations", …
inline constexpr Key kAgentHandoffFrom = "agent.handoff.from";
inline constexpr Key kAgentHandoffTo = "agent.handoff.to";
inline constexpr Key kTaskId = "task.id";
inline constexpr Key kPlanTasks = "plan.tasks";
// Tools.
inline constexpr Key kToolName = "tool.name";
inline constexpr Key kToolAction = "tool.action";
inline constexpr Key kToolTarget = "tool.target";
inline constexpr Key kToolStatus = "tool.status";  // "ok", "error"
// Retrieval.
inline constexpr Key kRagQuery = "rag.query";
inline constexpr Key kRagSourcesFound = "rag.sources_found";
inline constexpr Key kRagEmbeddingTimeMs = "rag.embedding_time_ms";
inline constexpr Key kDbSystemName = "db.system.name";
inline constexpr Key kDbCollectionName = "db.collection.name";
inline constexpr Key kVectorSearchHits = "vector_search.hits";
inline constexpr Key kVectorSearchTopScore = "vector_search.top_score";
// Guardrails.
inline constexpr Key kGuardrailName = "guardrail.name";
inline constexpr Key kGuardrailResult = "guardrail.result";  // "pass", "fail"
inline constexpr Key kGuardrailReason = "guardrail.reason";
// Model calls.
inline constexpr Key kLlmCached = "llm.cached";  // served from the application's own cache
// OpenTelemetry GenAI semantic conventions.
inline constexpr Key kGenAiOperationName = "gen_ai.operation.name";
inline constexpr Key kGenAiProviderName = "gen_ai.provider.name";
inline constexpr Key kGenAiRequestModel = "gen_ai.request.model";
inline constexpr Key kGenAiResponseModel = "gen_ai.response.model";
inline constexpr Key kGenAiUsageInputTokens = "gen_ai.usage.input_tokens";
inline constexpr Key kGenAiUsageOutputTokens = "gen_ai.usage.output_tokens";
inline constexpr Key kGenAiUsageCacheReadInputTokens = "gen_ai.usage.cache_read.input_tokens";
inline constexpr Key kGenAiResponseFinishReasons = "gen_ai.response.finish_reasons";
inline constexpr Key kGenAiAgentName = "gen_ai.agent.name";
inline constexpr Key kGenAiAgentId = "gen_ai.agent.id";
inline constexpr Key kGenAiConversationId = "gen_ai.conversation.id";
inline constexpr Key kGenAiToolName = "gen_ai.tool.name";
inline constexpr Key kGenAiToolCallId = "gen_ai.tool.call.id";
inline constexpr Key kErrorType = "error.type";
// Content (recorded only with content capture on; see CaptureContentEnabled).
inline constexpr Key kGenAiInputMessages = "gen_ai.input.messages";
inline constexpr Key kGenAiOutputMessages = "gen_ai.output.messages";
inline constexpr Key kGenAiToolCallArguments = "gen_ai.tool.call.arguments";
inline constexpr Key kGenAiToolCallResult = "gen_ai.tool.call.result";
}  // namespace attr

namespace internal {
// The Suffix for a variable name part; none for an empty string (no dangling "chat ").
inline Suffix SuffixFor(std::string_view s) noexcept {
  return s.empty() ? Suffix() : Suffix::Interned(Name(s));
}
inline std::string_view ViewOf(const Name& n) noexcept { return {n.data(), n.size()}; }
}  // namespace internal

// A Span with the error convention of the semantic conventions: `error.type` plus an error
// status. Constructible like a Span; the base of the typed spans below.
class AgentSpan : public Span {
 public:
  using Span::Span;

  // error.type = `error_type` (an exception or error-code name, low cardinality) and status
  // ERROR with `message`.
  void SetError(std::string_view error_type, std::string_view message = {}) noexcept {
    Set(attr::kErrorType, error_type);
    SetStatus(StatusCode::kError, message);
  }
};

// The whole of one agent run (kind run), by default named "agent.run". Sets agent.name and
// gen_ai.agent.name, and gen_ai.conversation.id when `conversation_id` is not empty: the join key
// of everything the conversation did.
class RunSpan : public AgentSpan {
 public:
  explicit RunSpan(std::string_view agent_name, std::string_view conversation_id = {},
                   Name span_name = "agent.run") noexcept
      : AgentSpan(span_name, Kind::kRun,
                  {{attr::kAgentName, agent_name}, {attr::kGenAiAgentName, agent_name}}) {
    if (!conversation_id.empty()) Set(attr::kGenAiConversationId, conversation_id);
  }
  void SetAgentId(std::string_view id) noexcept { Set(attr::kGenAiAgentId, id); }
  void SetState(std::string_view state) noexcept { Set(attr::kAgentState, state); }
  void SetStopReason(std::string_view reason) noexcept { Set(attr::kAgentStopReason, reason); }
};

// One iteration of the agent loop (kind turn), named "agent.turn <index>", with agent.iteration
// (and agent.name when given).
class TurnSpan : public AgentSpan {
 public:
  explicit TurnSpan(int64_t index, std::string_view agent_name = {}) noexcept
      : AgentSpan("agent.turn", Kind::kTurn, Suffix(index), {{attr::kAgentIteration, index}}) {
    if (!agent_name.empty()) Set(attr::kAgentName, agent_name);
  }
  void SetState(std::string_view state) noexcept { Set(attr::kAgentState, state); }
  void SetStopReason(std::string_view reason) noexcept { Set(attr::kAgentStopReason, reason); }
};

// A model call (kind llm, OTLP CLIENT), named "<operation> <model>" ("chat gpt-4o"), with
// gen_ai.operation.name, gen_ai.provider.name ("openai", "anthropic", "ollama", …) and
// gen_ai.request.model. `operation` is a GenAI operation name: "chat", "text_completion",
// "generate_content".
class LlmSpan : public AgentSpan {
 public:
  LlmSpan(std::string_view provider, std::string_view model, Name operation = "chat") noexcept
      : AgentSpan(operation, Kind::kLlm, internal::SuffixFor(model),
                  {{attr::kGenAiOperationName, internal::ViewOf(operation)},
                   {attr::kGenAiProviderName, provider},
                   {attr::kGenAiRequestModel, model}}) {}

  // gen_ai.usage.input_tokens and .output_tokens, and gen_ai.usage.cache_read.input_tokens
  // unless `cache_read_input_tokens` is negative (not reported by the provider).
  void SetUsage(int64_t input_tokens, int64_t output_tokens,
                int64_t cache_read_input_tokens = -1) noexcept {
    if (cache_read_input_tokens < 0) {
      Set({{attr::kGenAiUsageInputTokens, input_tokens},
           {attr::kGenAiUsageOutputTokens, output_tokens}});
    } else {
      Set({{attr::kGenAiUsageInputTokens, input_tokens},
           {attr::kGenAiUsageOutputTokens, output_tokens},
           {attr::kGenAiUsageCacheReadInputTokens, cache_read_input_tokens}});
    }
  }
  // gen_ai.response.finish_reasons. The semantic conventions make it a string array; the ring has
  // no arrays, so several reasons are one comma-separated string ("stop" or "tool_calls,stop").
  void SetFinishReasons(std::string_view reasons) noexcept {
    Set(attr::kGenAiResponseFinishReasons, reasons);
  }
  void SetResponseModel(std::string_view model) noexcept { Set(attr::kGenAiResponseModel, model); }
  // llm.cached: the response came from the application's own cache, not the provider.
  void SetCached(bool cached) noexcept { Set(attr::kLlmCached, cached); }
};

// An embedding call (kind embedding, OTLP CLIENT), named "embeddings <model>".
class EmbeddingSpan : public AgentSpan {
 public:
  EmbeddingSpan(std::string_view provider, std::string_view model) noexcept
      : AgentSpan("embeddings", Kind::kEmbedding, internal::SuffixFor(model),
                  {{attr::kGenAiOperationName, "embeddings"},
                   {attr::kGenAiProviderName, provider},
                   {attr::kGenAiRequestModel, model}}) {}
  void SetUsage(int64_t input_tokens) noexcept { Set(attr::kGenAiUsageInputTokens, input_tokens); }
};

// A tool call (kind tool, OTLP CLIENT), named "execute_tool <tool>", with tool.name,
// gen_ai.tool.name and gen_ai.operation.name "execute_tool", and tool.action ("read", "write")
// and tool.target (a path, a URL) when given.
class ToolSpan : public AgentSpan {
 public:
  explicit ToolSpan(std::string_view tool_name, std::string_view action = {},
                    std::string_view target = {}) noexcept
      : AgentSpan("execute_tool", Kind::kTool, internal::SuffixFor(tool_name),
                  {{attr::kToolName, tool_name},
                   {attr::kGenAiToolName, tool_name},
                   {attr::kGenAiOperationName, "execute_tool"}}) {
    if (!action.empty() && !target.empty()) {
      Set({{attr::kToolAction, action}, {attr::kToolTarget, target}});
    } else if (!action.empty()) {
      Set(attr::kToolAction, action);
    } else if (!target.empty()) {
      Set(attr::kToolTarget, target);
    }
  }
  // gen_ai.tool.call.id: the model's id for this call, joining it to the completion that asked.
  void SetCallId(std::string_view id) noexcept { Set(attr::kGenAiToolCallId, id); }
  // tool.status "ok", or "error" with an error status.
  void SetResult(bool ok) noexcept {
    Set(attr::kToolStatus, ok ? "ok" : "error");
    if (!ok) SetStatus(StatusCode::kError);
  }
  // tool.status "error", error.type and an error status with `message`.
  void SetError(std::string_view error_type, std::string_view message = {}) noexcept {
    Set({{attr::kToolStatus, "error"}, {attr::kErrorType, error_type}});
    SetStatus(StatusCode::kError, message);
  }
};

// A retrieval step (kind retrieval), by default named "retrieval", with rag.query.
class RetrievalSpan : public AgentSpan {
 public:
  explicit RetrievalSpan(std::string_view query, Name span_name = "retrieval") noexcept
      : AgentSpan(span_name, Kind::kRetrieval, {{attr::kRagQuery, query}}) {}
  void SetSourcesFound(int64_t n) noexcept { Set(attr::kRagSourcesFound, n); }
  void SetEmbeddingTimeMs(int64_t ms) noexcept { Set(attr::kRagEmbeddingTimeMs, ms); }
};

// A vector-store query (kind vector_search), named "vector_search", with db.system.name
// ("qdrant", "pgvector") and db.collection.name.
class VectorSearchSpan : public AgentSpan {
 public:
  VectorSearchSpan(std::string_view db_system, std::string_view collection) noexcept
      : AgentSpan("vector_search", Kind::kVectorSearch,
                  {{attr::kDbSystemName, db_system}, {attr::kDbCollectionName, collection}}) {}
  void SetHits(int64_t hits, double top_score) noexcept {
    Set({{attr::kVectorSearchHits, hits}, {attr::kVectorSearchTopScore, top_score}});
  }
};

// Invocation of another agent (kind subagent, OTLP CLIENT), named "invoke_agent <name>", with
// gen_ai.operation.name "invoke_agent" and gen_ai.agent.name. To run the agent in another
// process, put context().ToTraceparent() into its TRACEPARENT: its spans nest under this one.
class SubagentSpan : public AgentSpan {
 public:
  explicit SubagentSpan(std::string_view agent_name) noexcept
      : AgentSpan("invoke_agent", Kind::kSubagent, internal::SuffixFor(agent_name),
                  {{attr::kGenAiOperationName, "invoke_agent"},
                   {attr::kGenAiAgentName, agent_name}}) {}
  // Under an explicit parent: for agents invoked side by side from one thread, which must be
  // siblings, not nested (detached by default: it does not become the thread's current span).
  SubagentSpan(std::string_view agent_name, const SpanContext& parent,
               Mode mode = kDetached) noexcept
      : AgentSpan("invoke_agent", Kind::kSubagent, parent, internal::SuffixFor(agent_name),
                  {{attr::kGenAiOperationName, "invoke_agent"},
                   {attr::kGenAiAgentName, agent_name}},
                  mode) {}
  void SetAgentId(std::string_view id) noexcept { Set(attr::kGenAiAgentId, id); }
};

// Control passing from one agent to another (kind handoff), named "handoff <to>", with
// agent.handoff.from / .to and, when `linked` is valid, a link to it (the span the work came
// from: the sender's turn or invocation), since a handoff's cause is rarely its parent.
class HandoffSpan : public AgentSpan {
 public:
  HandoffSpan(std::string_view from_agent, std::string_view to_agent,
              const SpanContext& linked = SpanContext()) noexcept
      : AgentSpan("handoff", Kind::kHandoff, internal::SuffixFor(to_agent),
                  {{attr::kAgentHandoffFrom, from_agent}, {attr::kAgentHandoffTo, to_agent}}) {
    if (linked.valid()) AddLink(linked);
  }
};

// A check on input or output (kind guardrail), named "guardrail <name>", with guardrail.name.
class GuardrailSpan : public AgentSpan {
 public:
  explicit GuardrailSpan(std::string_view guardrail_name) noexcept
      : AgentSpan("guardrail", Kind::kGuardrail, internal::SuffixFor(guardrail_name),
                  {{attr::kGuardrailName, guardrail_name}}) {}
  // guardrail.result "pass" / "fail" (and guardrail.reason). A failed check is an outcome, not
  // an error: the status stays unset.
  void SetResult(bool passed, std::string_view reason = {}) noexcept {
    if (reason.empty()) {
      Set(attr::kGuardrailResult, passed ? "pass" : "fail");
    } else {
      Set({{attr::kGuardrailResult, passed ? "pass" : "fail"}, {attr::kGuardrailReason, reason}});
    }
  }
};

// Planning or decomposition (kind plan), by default named "agent.plan".
class PlanSpan : public AgentSpan {
 public:
  explicit PlanSpan(std::string_view agent_name = {}, Name span_name = "agent.plan") noexcept
      : AgentSpan(span_name, Kind::kPlan) {
    if (!agent_name.empty()) Set(attr::kAgentName, agent_name);
  }
  void SetTaskCount(int64_t n) noexcept { Set(attr::kPlanTasks, n); }
};

// One unit of planned work (kind task), by default named "agent.task", with task.id (and
// agent.name when given).
class TaskSpan : public AgentSpan {
 public:
  explicit TaskSpan(std::string_view task_id, std::string_view agent_name = {},
                    Name span_name = "agent.task") noexcept
      : AgentSpan(span_name, Kind::kTask, {{attr::kTaskId, task_id}}) {
    if (!agent_name.empty()) Set(attr::kAgentName, agent_name);
  }
};

// ---- Content capture ---------------------------------------------------------------------------
//
// Prompts, completions and tool I/O are recorded only when capture is on: AGENTRING_CAPTURE_CONTENT
// is 1/true/yes/on, or (when that variable is unset) OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_
// CONTENT is true/1/span_only/span_and_event. AGENTRING_CAPTURE_CONTENT=0/false/no/off turns it off
// whatever the OTel variable says. The environment is read once, at the first call.
//
// Each value is clipped to AGENTRING_CAPTURE_MAX_CHARS code points (default 12000, at least 128):
// the first 70% and the tail, around "…[N chars elided]…" (N: code points left out), cut at
// code-point boundaries. The writer's own byte limit (AGENTRING_MAX_ATTR_BYTES, default 16 KiB)
// still applies after that: raise it for non-ASCII content. The reader redacts secrets (API keys,
// bearer tokens, e-mail addresses, user rules) before it exports anything.
//
// Values are what the semantic conventions expect: gen_ai.input.messages and
// gen_ai.output.messages are JSON arrays of {"role", "parts"} messages; tool arguments and
// results are the JSON (or text) the tool saw.

inline constexpr uint32_t kDefaultCaptureMaxChars = 12000;
inline constexpr uint32_t kMinCaptureMaxChars = 128;

namespace internal {
// -1: not read from the environment yet; 0: off; 1: on.
extern std::atomic<int8_t> g_capture_content;
// Reads the environment (once; later calls return the settled value). Returns 0 or 1.
int8_t InitContentCapture() noexcept;
// `value` itself when it fits the limit; else a view of its clipped form in this thread's buffer,
// valid until the next call on this thread. Never allocates once the buffer has grown to the
// largest clipped value. Thread-safe (the buffer is thread_local).
std::string_view ClipForCapture(std::string_view value) noexcept;
}  // namespace internal

// Whether content capture is on: one relaxed load after the first call. Always false with
// -DAGENTRING_DISABLE (so that the Capture* calls below need nothing from the library).
inline bool CaptureContentEnabled() noexcept {
#ifndef AGENTRING_DISABLE
  int8_t s = internal::g_capture_content.load(std::memory_order_relaxed);
  if (__builtin_expect(s < 0, 0)) s = internal::InitContentCapture();
  return s > 0;
#else
  return false;
#endif
}
// Overrides the environment for the whole process (tests, programs with their own settings).
void SetContentCapture(bool enabled) noexcept;
// Sets the clip limit in code points (values below kMinCaptureMaxChars are raised to it).
void SetContentCaptureMaxChars(uint32_t max_chars) noexcept;
uint32_t ContentCaptureMaxChars() noexcept;

// Clips `value` to at most `max_chars` code points (max_chars >= kMinCaptureMaxChars) as described
// above and stores the result in *out. Returns the number of code points elided: 0 when the value
// fits (and *out is a copy of it). Bytes that are not valid UTF-8 count as part of the code point
// they follow. May allocate (*out). Thread-safe.
size_t ClipContent(std::string_view value, size_t max_chars, std::string* out);

// gen_ai.input.messages, gen_ai.output.messages, gen_ai.tool.call.arguments and
// gen_ai.tool.call.result on `span`, clipped; nothing at all when capture is off.
namespace internal {
inline void CaptureContent(Span& span, Key key, std::string_view value) noexcept {
#ifndef AGENTRING_DISABLE
  if (CaptureContentEnabled()) span.Set(key, ClipForCapture(value));
#else
  (void)span, (void)key, (void)value;
#endif
}
}  // namespace internal
inline void CaptureInputMessages(Span& span, std::string_view messages_json) noexcept {
  internal::CaptureContent(span, attr::kGenAiInputMessages, messages_json);
}
inline void CaptureOutputMessages(Span& span, std::string_view messages_json) noexcept {
  internal::CaptureContent(span, attr::kGenAiOutputMessages, messages_json);
}
inline void CaptureToolArguments(Span& span, std::string_view arguments) noexcept {
  internal::CaptureContent(span, attr::kGenAiToolCallArguments, arguments);
}
inline void CaptureToolResult(Span& span, std::string_view result) noexcept {
  internal::CaptureContent(span, attr::kGenAiToolCallResult, result);
}

}  // namespace agentring

#endif  // AGENTRING_AGENT_HPP_
