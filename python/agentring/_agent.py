"""Typed spans for the parts of an agent loop; the Python twins of core/include/agentring/agent.hpp.

Each helper is a Span subclass (same costs: its fixed attributes travel in the start record
group) that picks the Kind, a name that reads well in a waterfall ("agent.turn 3", "chat gpt-4o",
"execute_tool read_file", "invoke_agent ReviewAgent": the variable part is an interned suffix)
and the attribute names of the OpenTelemetry GenAI semantic conventions plus agentring's agent.*,
tool.*, rag.* keys. Names are for humans; `agent.kind` and the attributes are the contract.

The lower-case names (run, turn, llm, ...) are the classes themselves, so
`with agentring.tool("read_file", "read", path) as t:` costs no extra call.
"""

from ._spans import Kind, Span, StatusCode


def _merge(fixed, extra):
    if extra:
        fixed.update(extra)
    return fixed


class RunSpan(Span):
    """The whole of one agent run (kind run), named `name` (default "agent.run"), with agent.name
    and gen_ai.agent.name, and gen_ai.conversation.id: the join key of everything the
    conversation did."""

    __slots__ = ()

    def __init__(self, name="agent.run", conversation_id=None, agent_name=None, *,
                 attributes=None, parent=None):
        attrs = {}
        if agent_name:
            attrs["agent.name"] = agent_name
            attrs["gen_ai.agent.name"] = agent_name
        if conversation_id:
            attrs["gen_ai.conversation.id"] = conversation_id
        Span.__init__(self, name, Kind.RUN, _merge(attrs, attributes), None, parent)

    def set_agent_id(self, agent_id):
        return self.set("gen_ai.agent.id", agent_id)

    def set_state(self, state):
        """agent.state: "thinking", "tool_use", "done", ..."""
        return self.set("agent.state", state)

    def set_stop_reason(self, reason):
        """agent.stop_reason: "final_answer", "max_iterations", ..."""
        return self.set("agent.stop_reason", reason)


class TurnSpan(Span):
    """One iteration of the agent loop (kind turn), named "agent.turn <index>", with
    agent.iteration (and agent.name when given)."""

    __slots__ = ()

    def __init__(self, index, agent_name=None, *, attributes=None, parent=None):
        attrs = {"agent.iteration": index}
        if agent_name:
            attrs["agent.name"] = agent_name
        Span.__init__(self, "agent.turn", Kind.TURN, _merge(attrs, attributes), index, parent)

    def set_state(self, state):
        return self.set("agent.state", state)

    def set_stop_reason(self, reason):
        return self.set("agent.stop_reason", reason)


class LlmSpan(Span):
    """A model call (kind llm), named "<operation> <model>" ("chat gpt-4o"), with
    gen_ai.operation.name, gen_ai.provider.name ("openai", "anthropic", ...),
    gen_ai.request.model, and the token counts given as keywords (input_tokens, output_tokens,
    cache_read_input_tokens) when already known."""

    __slots__ = ()

    def __init__(self, model, provider=None, operation="chat", *, input_tokens=None,
                 output_tokens=None, cache_read_input_tokens=None, attributes=None,
                 parent=None):
        attrs = {"gen_ai.operation.name": operation}
        if provider:
            attrs["gen_ai.provider.name"] = provider
        attrs["gen_ai.request.model"] = model
        _usage(attrs, input_tokens, output_tokens, cache_read_input_tokens)
        Span.__init__(self, operation, Kind.LLM, _merge(attrs, attributes), model, parent)

    def set_usage(self, input_tokens=None, output_tokens=None, cache_read_input_tokens=None):
        """gen_ai.usage.input_tokens, .output_tokens and .cache_read.input_tokens (those given),
        in one record group."""
        return self.set_attributes(_usage({}, input_tokens, output_tokens, cache_read_input_tokens))

    def set_finish_reasons(self, reasons):
        """gen_ai.response.finish_reasons: a str, or several joined by commas (no arrays)."""
        if not isinstance(reasons, str):
            reasons = ",".join(reasons)
        return self.set("gen_ai.response.finish_reasons", reasons)

    def set_response_model(self, model):
        return self.set("gen_ai.response.model", model)

    def set_cached(self, cached=True):
        """llm.cached: the response came from the application's own cache."""
        return self.set("llm.cached", bool(cached))


def _usage(attrs, input_tokens, output_tokens, cache_read_input_tokens):
    if input_tokens is not None:
        attrs["gen_ai.usage.input_tokens"] = int(input_tokens)
    if output_tokens is not None:
        attrs["gen_ai.usage.output_tokens"] = int(output_tokens)
    if cache_read_input_tokens is not None:
        attrs["gen_ai.usage.cache_read.input_tokens"] = int(cache_read_input_tokens)
    return attrs


class EmbeddingSpan(Span):
    """An embedding call (kind embedding), named "embeddings <model>"."""

    __slots__ = ()

    def __init__(self, model, provider=None, *, attributes=None, parent=None):
        attrs = {"gen_ai.operation.name": "embeddings"}
        if provider:
            attrs["gen_ai.provider.name"] = provider
        attrs["gen_ai.request.model"] = model
        Span.__init__(self, "embeddings", Kind.EMBEDDING, _merge(attrs, attributes), model, parent)

    def set_usage(self, input_tokens):
        return self.set("gen_ai.usage.input_tokens", int(input_tokens))


class ToolSpan(Span):
    """A tool call (kind tool), named "execute_tool <tool>", with tool.name, gen_ai.tool.name,
    gen_ai.operation.name "execute_tool", and tool.action / tool.target when given. An exception
    escaping it also sets tool.status "error"."""

    __slots__ = ()

    def __init__(self, name, action=None, target=None, *, call_id=None, attributes=None,
                 parent=None):
        attrs = {"tool.name": name, "gen_ai.tool.name": name,
                 "gen_ai.operation.name": "execute_tool"}
        if action:
            attrs["tool.action"] = action
        if target:
            attrs["tool.target"] = target
        if call_id:
            attrs["gen_ai.tool.call.id"] = call_id
        Span.__init__(self, "execute_tool", Kind.TOOL, _merge(attrs, attributes), name, parent)

    def set_call_id(self, call_id):
        """gen_ai.tool.call.id: the model's id for this call."""
        return self.set("gen_ai.tool.call.id", call_id)

    def set_result(self, ok=True, error_type=None, message=None):
        """tool.status "ok"; or "error" with error.type (when given) and status ERROR."""
        if ok:
            return self.set("tool.status", "ok")
        attrs = {"tool.status": "error"}
        if error_type:
            attrs["error.type"] = error_type
        self.set_attributes(attrs)
        return self.set_status(StatusCode.ERROR, message)

    def record_exception(self, exc, escaped=False):
        self.set("tool.status", "error")
        return Span.record_exception(self, exc, escaped)


class RetrievalSpan(Span):
    """A retrieval step (kind retrieval), named `name` (default "retrieval"), with rag.query."""

    __slots__ = ()

    def __init__(self, query, name="retrieval", *, attributes=None, parent=None):
        Span.__init__(self, name, Kind.RETRIEVAL, _merge({"rag.query": query}, attributes), None,
                      parent)

    def set_sources_found(self, n):
        return self.set("rag.sources_found", int(n))

    def set_embedding_time_ms(self, ms):
        return self.set("rag.embedding_time_ms", int(ms))


class VectorSearchSpan(Span):
    """A vector-store query (kind vector_search), named "vector_search", with db.system.name
    ("qdrant", "pgvector") and db.collection.name."""

    __slots__ = ()

    def __init__(self, db_system, collection=None, *, attributes=None, parent=None):
        attrs = {"db.system.name": db_system}
        if collection:
            attrs["db.collection.name"] = collection
        Span.__init__(self, "vector_search", Kind.VECTOR_SEARCH, _merge(attrs, attributes), None,
                      parent)

    def set_hits(self, hits, top_score=None):
        attrs = {"vector_search.hits": int(hits)}
        if top_score is not None:
            attrs["vector_search.top_score"] = float(top_score)
        return self.set_attributes(attrs)


class SubagentSpan(Span):
    """Invocation of another agent (kind subagent), named "invoke_agent <name>", with
    gen_ai.operation.name "invoke_agent" and gen_ai.agent.name. To run the agent in another
    process, start it inside this span with env=agentring.child_env(): its spans nest here."""

    __slots__ = ()

    def __init__(self, agent_name, *, attributes=None, parent=None):
        attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent_name}
        Span.__init__(self, "invoke_agent", Kind.SUBAGENT, _merge(attrs, attributes), agent_name,
                      parent)

    def set_agent_id(self, agent_id):
        return self.set("gen_ai.agent.id", agent_id)


class HandoffSpan(Span):
    """Control passing between agents (kind handoff), named "handoff <to>", with
    agent.handoff.from / .to and a link to `link` (the span the work came from), if given."""

    __slots__ = ("_link",)

    def __init__(self, from_agent, to_agent, link=None, *, attributes=None, parent=None):
        attrs = {"agent.handoff.from": from_agent, "agent.handoff.to": to_agent}
        Span.__init__(self, "handoff", Kind.HANDOFF, _merge(attrs, attributes), to_agent, parent)
        self._link = link

    def __enter__(self):
        Span.__enter__(self)
        if self._link is not None:
            self.add_link(self._link)
        return self


class GuardrailSpan(Span):
    """A check on input or output (kind guardrail), named "guardrail <name>", with
    guardrail.name."""

    __slots__ = ()

    def __init__(self, name, *, attributes=None, parent=None):
        Span.__init__(self, "guardrail", Kind.GUARDRAIL,
                      _merge({"guardrail.name": name}, attributes), name, parent)

    def set_result(self, passed, reason=None):
        """guardrail.result "pass" / "fail" (and guardrail.reason). A failed check is an
        outcome, not an error: the status stays unset."""
        attrs = {"guardrail.result": "pass" if passed else "fail"}
        if reason:
            attrs["guardrail.reason"] = reason
        return self.set_attributes(attrs)


class PlanSpan(Span):
    """Planning or decomposition (kind plan), named `name` (default "agent.plan")."""

    __slots__ = ()

    def __init__(self, agent_name=None, name="agent.plan", *, attributes=None, parent=None):
        attrs = {"agent.name": agent_name} if agent_name else {}
        Span.__init__(self, name, Kind.PLAN, _merge(attrs, attributes), None, parent)

    def set_task_count(self, n):
        return self.set("plan.tasks", int(n))


class TaskSpan(Span):
    """One unit of planned work (kind task), named `name` (default "agent.task"), with task.id
    (and agent.name when given)."""

    __slots__ = ()

    def __init__(self, task_id, agent_name=None, name="agent.task", *, attributes=None,
                 parent=None):
        attrs = {"task.id": task_id}
        if agent_name:
            attrs["agent.name"] = agent_name
        Span.__init__(self, name, Kind.TASK, _merge(attrs, attributes), None, parent)


run = RunSpan
turn = TurnSpan
llm = LlmSpan
embedding = EmbeddingSpan
tool = ToolSpan
retrieval = RetrievalSpan
vector_search = VectorSearchSpan
subagent = SubagentSpan
handoff = HandoffSpan
guardrail = GuardrailSpan
plan = PlanSpan
task = TaskSpan


def custom(name, attributes=None, suffix=None, *, parent=None):
    """A span of kind custom (the same as agentring.span(name, ...))."""
    return Span(name, Kind.CUSTOM, attributes, suffix, parent)
