#!/usr/bin/env python3
"""A small ReAct agent traced with agentring: a simulated model and tools, three turns of
think -> act -> observe, a retrieval, and a review sub-agent run in a child process.

    build/bin/agentring-reader --segment react --create --exporter tree --exit-when-idle-ms 2000 &
    PYTHONPATH=python python3 examples/python/react_agent.py --segment react

(The reader exits once no writer has been seen for 2 s: start the agent within that.)

The trace (one trace, two processes):

    agent.run (CodingAgent)
    |- agent.plan
    |- agent.turn 1
    |  |- chat gpt-4o                       the model asks for read_file
    |  `- execute_tool read_file
    |- agent.turn 2
    |  |- chat gpt-4o                       the model asks for search_docs
    |  `- execute_tool search_docs
    |     `- retrieval                      rag.query, rag.sources_found
    |        |- embeddings text-embedding-3-small
    |        `- vector_search
    |- agent.turn 3
    |  |- chat gpt-4o                       the model asks for a review
    |  `- invoke_agent ReviewAgent
    |     `- agent.run (ReviewAgent)        in the child process (python3 react_agent.py --subagent)
    |        `- agent.turn 1
    |           |- chat claude-sonnet-4
    |           |- execute_tool run_tests
    |           `- guardrail review_complete
    `- agent.turn 4
       |- chat gpt-4o                       final answer
       `- guardrail answer_grounded

The child process gets the invoke_agent span in TRACEPARENT (agentring.child_env()), so its
root span nests under it. Nothing here calls a real model: the point is the trace.
"""

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid

if importlib.util.find_spec("agentring") is None:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))

import agentring  # noqa: E402
from agentring import Kind  # noqa: E402

MODEL = "gpt-4o"
PROVIDER = "openai"

# ---- A simulated world: files, documents, a scripted model ---------------------------------------

FILES = {
    "src/search.py": "def search(items, x):\n    for i, v in enumerate(items):\n"
                     "        if v == x:\n            return i\n    return -1\n",
}

DOCS = [
    ("bisect.md", "bisect_left finds the insertion point for x in a sorted list"),
    ("complexity.md", "binary search runs in O(log n) on sorted input"),
    ("style.md", "functions carry a docstring and type hints"),
]


def simulated_model(history):
    """The next step for a conversation: a tool call, or the final answer. Deterministic: the
    script depends only on how many observations the history holds."""
    observations = sum(1 for m in history if m["role"] == "tool")
    time.sleep(0.004)  # "latency"
    if observations == 0:
        return {"tool": "read_file", "args": {"path": "src/search.py"}, "usage": (412, 38)}
    if observations == 1:
        return {"tool": "search_docs", "args": {"query": "binary search sorted list"},
                "usage": (655, 41)}
    if observations == 2:
        return {"tool": "request_review", "args": {"change": "use bisect_left"},
                "usage": (903, 57)}
    return {"answer": "search() now uses bisect_left: O(log n) on sorted input; review passed.",
            "usage": (1188, 96)}


# ---- Tools ---------------------------------------------------------------------------------------


def read_file(path):
    with agentring.tool("read_file", "read", path) as t:
        time.sleep(0.002)
        if path not in FILES:
            t.set_result(ok=False, error_type="FileNotFoundError", message=path)
            return "error: no such file"
        t.set("tool.bytes", len(FILES[path]))
        t.set_result(ok=True)
        return FILES[path]


@agentring.traced("embeddings", kind=Kind.EMBEDDING, suffix="text-embedding-3-small",
                  attributes={"gen_ai.operation.name": "embeddings",
                              "gen_ai.provider.name": PROVIDER,
                              "gen_ai.request.model": "text-embedding-3-small"})
def embed(text):
    time.sleep(0.002)
    return [float(len(w)) for w in text.split()]


async def vector_search(vector, top_k):
    with agentring.vector_search("qdrant", "docs") as vs:
        await asyncio.sleep(0.003)
        hits = DOCS[:top_k]
        vs.set_hits(len(hits), top_score=0.87)
        return hits


def search_docs(query):
    with agentring.tool("search_docs", "query", "docs") as t:
        with agentring.retrieval(query) as r:
            vector = embed(query)
            hits = asyncio.run(vector_search(vector, top_k=2))  # an async client, nested
            r.set_sources_found(len(hits))
        t.set_result(ok=True)
        return "\n".join("%s: %s" % h for h in hits)


def request_review(change, segment):
    """Runs the ReviewAgent in a child process under an invoke_agent span."""
    with agentring.subagent("ReviewAgent") as sub:
        env = agentring.child_env(OTEL_SERVICE_NAME="review_agent")
        if segment:
            env["AGENTRING_SEGMENT"] = segment
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--subagent", change],
                              env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            sub.set_error("SubagentFailed", proc.stderr.strip()[-200:])
            return "review failed"
        verdict = json.loads(proc.stdout)
        sub.set("agent.review.approved", verdict["approved"])
        return "review: %s" % ("approved" if verdict["approved"] else "changes requested")


# ---- The agent loop ------------------------------------------------------------------------------


def run_coding_agent(task, segment):
    conversation_id = str(uuid.uuid4())
    history = [{"role": "user", "content": task}]
    with agentring.run("agent.run", conversation_id=conversation_id,
                       agent_name="CodingAgent") as run:
        with agentring.plan("CodingAgent") as p:
            p.set_task_count(3)  # inspect, research, review
        answer = None
        for index in range(1, 8):
            with agentring.turn(index, "CodingAgent") as turn:
                with agentring.llm(MODEL, PROVIDER) as call:
                    step = simulated_model(history)
                    call.set_usage(*step["usage"])
                    call.set_finish_reasons("stop" if "answer" in step else "tool_calls")
                if "answer" in step:
                    with agentring.guardrail("answer_grounded") as g:
                        g.set_result(passed=True)
                    turn.set_stop_reason("final_answer")
                    answer = step["answer"]
                    break
                turn.set_state("tool_use")
                name, args = step["tool"], step["args"]
                if name == "read_file":
                    observation = read_file(args["path"])
                elif name == "search_docs":
                    observation = search_docs(args["query"])
                else:
                    observation = request_review(args["change"], segment)
                history.append({"role": "tool", "name": name, "content": observation})
        run.set_stop_reason("final_answer" if answer else "max_iterations")
        traceparent = run.traceparent
    return answer, traceparent


def run_review_agent(change):
    """The sub-agent (child process): its root span nests under TRACEPARENT."""
    with agentring.run("agent.run", agent_name="ReviewAgent"):
        with agentring.turn(1, "ReviewAgent"):
            with agentring.llm("claude-sonnet-4", "anthropic",
                               input_tokens=380, output_tokens=44) as call:
                time.sleep(0.003)
                call.set_finish_reasons("tool_calls")
            with agentring.tool("run_tests", "execute", "tests/test_search.py") as t:
                time.sleep(0.003)
                t.set("tests.passed", 12)
                t.set_result(ok=True)
            with agentring.guardrail("review_complete") as g:
                g.set_result(passed=True)
    return {"approved": True, "change": change, "pid": os.getpid()}


def main():
    parser = argparse.ArgumentParser(description="A traced ReAct agent (simulated model/tools).")
    parser.add_argument("--segment", help="agentring segment (default $AGENTRING_SEGMENT)")
    parser.add_argument("--subagent", metavar="CHANGE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.segment:
        agentring.set_segment(args.segment)
    os.environ.setdefault("OTEL_SERVICE_NAME", "react_agent")  # read at the first span
    if args.subagent is not None:
        print(json.dumps(run_review_agent(args.subagent)))
        return 0
    answer, traceparent = run_coding_agent("Make search() fast on sorted input.", args.segment)
    print("answer: %s" % answer)
    print("trace: %s" % traceparent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
