"""agentring for Python: trace an agent into agentring's shared-memory ring.

Standard library only, over the C ABI (libagentring.so, core/include/agentring/agentring.h)
through ctypes. Start a reader (build/bin/agentring-reader --segment NAME --create ...) and run
the agent with AGENTRING_SEGMENT=NAME (or call set_segment(NAME) before the first span).

    import agentring

    with agentring.run(agent_name="CodingAgent", conversation_id=cid):
        for i in (1, 2):
            with agentring.turn(i):
                with agentring.llm("gpt-4o", "openai") as call:
                    reply = model(prompt)
                    call.set_usage(input_tokens=2048, output_tokens=150)
                with agentring.tool("read_file", "read", path) as t:
                    data = read(path)
                    t.set_result(ok=True)
        with agentring.subagent("ReviewAgent"):
            subprocess.run([...], env=agentring.child_env())   # its spans nest here

    @agentring.traced(kind=agentring.Kind.TOOL)
    async def search(query): ...

The current span is a contextvars variable: asyncio tasks nest under the span that created them.
A new thread starts with an empty context: submit agentring.wrap(fn) to a pool (or run the
thread's target in contextvars.copy_context()) to nest its spans under the caller's.

Library: $AGENTRING_LIB, else build/lib/libagentring.so of the checkout this package sits in,
else the system's libagentring.so. Importing raises ImportError when none loads.
"""

from . import _ffi
from ._agent import (
    EmbeddingSpan,
    GuardrailSpan,
    HandoffSpan,
    LlmSpan,
    PlanSpan,
    RetrievalSpan,
    RunSpan,
    SubagentSpan,
    TaskSpan,
    ToolSpan,
    TurnSpan,
    VectorSearchSpan,
    custom,
    embedding,
    guardrail,
    handoff,
    llm,
    plan,
    retrieval,
    run,
    subagent,
    task,
    tool,
    turn,
    vector_search,
)
from ._spans import (
    ROOT,
    Kind,
    Span,
    SpanContext,
    StatusCode,
    child_env,
    clear_inherited_parent,
    current_context,
    current_span,
    flush,
    is_enabled,
    release_thread_lane,
    set_enabled,
    set_inherited_parent,
    set_sampler,
    set_segment,
    span,
    stats,
    traced,
    traceparent,
    wrap,
)

__version__ = "0.1.0"
LIBRARY_PATH = _ffi.LIBRARY_PATH  # the libagentring that was loaded
LIBRARY_VERSION = _ffi.version_string().decode()

__all__ = [
    "Kind", "StatusCode", "Span", "SpanContext", "ROOT", "span", "traced", "wrap",
    "current_span", "current_context", "traceparent", "child_env",
    "run", "turn", "llm", "tool", "retrieval", "embedding", "vector_search", "subagent",
    "handoff", "guardrail", "plan", "task", "custom",
    "RunSpan", "TurnSpan", "LlmSpan", "ToolSpan", "RetrievalSpan", "EmbeddingSpan",
    "VectorSearchSpan", "SubagentSpan", "HandoffSpan", "GuardrailSpan", "PlanSpan", "TaskSpan",
    "set_segment", "set_enabled", "is_enabled", "set_sampler", "set_inherited_parent",
    "clear_inherited_parent", "flush", "release_thread_lane", "stats",
    "LIBRARY_PATH", "LIBRARY_VERSION",
]
