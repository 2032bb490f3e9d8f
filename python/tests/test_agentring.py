"""Tests of the Python package through real parts: every traced test runs its code in a fresh
Python process writing into a real segment, drained by a real agentring-reader that exports OTLP
JSON lines, and asserts on what the reader exported.

    PYTHONPATH=python python3 -m unittest discover -s python/tests -v

Finds build/bin/agentring-reader relative to this file (or in $AGENTRING_BIN_DIR) and the library
as the package does ($AGENTRING_LIB, else build/lib). Each test uses its own segment
(py-<pid>-<n>) and removes it afterwards.

Why a process per test: a writer attaches to one segment per process, at its first span.
Ordering: the writer process is started first and waits for the segment's magic before it runs
the code under test; the reader is started second. The reader's --exit-when-idle-ms clock starts
when the reader does, so the writer is attached within milliseconds of it and the reader cannot
give up before the writer's first span however slowly Python starts.
"""

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
BIN_DIR = os.environ.get("AGENTRING_BIN_DIR") or os.path.join(REPO, "build", "bin")
READER = os.path.join(BIN_DIR, "agentring-reader")
# The reader exits once idle this long with no live writer. It starts before the writer, so this
# must cover a Python interpreter's start on a busy machine (400 ms did not, under load).
IDLE_MS = "2000"
REACT_EXAMPLE = os.path.join(REPO, "examples", "python", "react_agent.py")
TIMEOUT_S = 30
_counter = itertools.count(1)

# Prepended to the code under test: wait until the reader has created and initialised the segment
# (its header starts with the magic "AGARNGv1").
_WAIT_FOR_SEGMENT = textwrap.dedent("""\
    import os as _os, time as _time
    _path = "/dev/shm/agentring." + _os.environ["AGENTRING_SEGMENT"]
    _deadline = _time.monotonic() + 20
    while True:
        try:
            with open(_path, "rb") as _f:
                if _f.read(8) == b"AGARNGv1":
                    break
        except OSError:
            pass
        if _time.monotonic() > _deadline:
            raise SystemExit("segment %s never appeared" % _path)
        _time.sleep(0.002)
    """)


def writer_env(segment=None, **extra):
    """The environment of a process under test: this package first on PYTHONPATH."""
    env = dict(os.environ)
    env.pop("TRACEPARENT", None)
    env["PYTHONPATH"] = PYTHON_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                      else "")
    if segment:
        env["AGENTRING_SEGMENT"] = segment
    env.update(extra)
    return env


class Exported:
    """What the reader exported: spans (dicts with pid and trace fields added) and traces."""

    def __init__(self, path, writer_stdout):
        self.stdout = writer_stdout
        self.spans = []
        self.traces = 0
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                self.traces += 1
                for rs in json.loads(line)["resourceSpans"]:
                    resource = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
                    pid = int(resource["process.pid"]["intValue"])
                    for ss in rs["scopeSpans"]:
                        for s in ss["spans"]:
                            s["pid"] = pid
                            s["attrs"] = {a["key"]: a["value"] for a in s["attributes"]}
                            self.spans.append(s)

    def named(self, name):
        found = [s for s in self.spans if s["name"] == name]
        if len(found) != 1:
            raise AssertionError("want one span named %r, found %d among %s"
                                 % (name, len(found), sorted(s["name"] for s in self.spans)))
        return found[0]

    def all_named(self, name):
        return [s for s in self.spans if s["name"] == name]

    def children(self, parent):
        return [s for s in self.spans if s["parentSpanId"] == parent["spanId"]]


def run_traced(code=None, argv=None, extra_env=None):
    """Runs `code` (Python source) or `argv` (a script and its arguments) in a new Python
    process against a fresh segment and a real reader; returns Exported. Fails the calling test
    if either process fails or times out."""
    segment = "py-%d-%d" % (os.getpid(), next(_counter))
    tmp = tempfile.mkdtemp(prefix="agentring-pytest-")
    out = os.path.join(tmp, "traces.jsonl")
    stats = os.path.join(tmp, "stats.json")
    if code is not None:
        cmd = [sys.executable, "-c", _WAIT_FOR_SEGMENT + textwrap.dedent(code)]
    else:
        runner = _WAIT_FOR_SEGMENT + (
            "import runpy, sys\nsys.argv = %r\nrunpy.run_path(sys.argv[0], run_name='__main__')\n"
            % (list(argv),))
        cmd = [sys.executable, "-c", runner]
    writer = subprocess.Popen(cmd, env=writer_env(segment, **(extra_env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader = subprocess.Popen([READER, "--segment", segment, "--create", "--exporter", "jsonl",
                               "--out", out, "--exit-when-idle-ms", IDLE_MS, "--stats-json", stats],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        try:
            w_out, w_err = writer.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            writer.kill()
            w_out, w_err = writer.communicate()
            raise AssertionError("the writer timed out; stderr:\n" + w_err)
        if writer.returncode != 0:
            raise AssertionError("the writer exited %d; stderr:\n%s" % (writer.returncode, w_err))
        try:
            _, r_err = reader.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            reader.kill()
            _, r_err = reader.communicate()
            raise AssertionError("the reader did not exit when idle; stderr:\n" + r_err)
        if reader.returncode != 0:
            raise AssertionError("the reader exited %d; stderr:\n%s" % (reader.returncode, r_err))
        return Exported(out, w_out)
    finally:
        for p in (writer, reader):
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            os.unlink("/dev/shm/agentring." + segment)
        except OSError:
            pass


def value(v):
    """An OTLP AnyValue as Python: intValue is a decimal string in OTLP JSON."""
    if "intValue" in v:
        return int(v["intValue"])
    for k in ("stringValue", "doubleValue", "boolValue"):
        if k in v:
            return v[k]
    raise AssertionError("unexpected AnyValue %r" % (v,))


@unittest.skipUnless(os.path.exists(READER), "%s not built (make)" % READER)
class TracedTest(unittest.TestCase):
    """Each test: code in a writer process, a real reader, assertions on the export."""

    def assertParent(self, child, parent):
        self.assertEqual(child["parentSpanId"], parent["spanId"],
                         "%s should be a child of %s" % (child["name"], parent["name"]))
        self.assertEqual(child["traceId"], parent["traceId"])

    def test_with_nests_and_names_helpers(self):
        e = run_traced("""
            import agentring
            with agentring.run(conversation_id="conv-1", agent_name="CodingAgent"):
                with agentring.turn(3, "CodingAgent") as t:
                    with agentring.llm("gpt-4o", "openai", input_tokens=100) as call:
                        call.set_usage(output_tokens=20, cache_read_input_tokens=64)
                    with agentring.tool("read_file", "read", "/src/a.py") as tool:
                        tool.set_result(ok=True)
                    t.set_stop_reason("tool_call")
                with agentring.subagent("ReviewAgent"):
                    pass
                with agentring.span("custom step", attributes={"k": "v"}):
                    pass
            """)
        self.assertEqual(e.traces, 1)
        self.assertEqual(len(e.spans), 6)
        run = e.named("agent.run")
        turn = e.named("agent.turn 3")
        llm = e.named("chat gpt-4o")
        tool = e.named("execute_tool read_file")
        sub = e.named("invoke_agent ReviewAgent")
        custom = e.named("custom step")
        self.assertEqual(run["parentSpanId"], "")
        self.assertParent(turn, run)
        self.assertParent(llm, turn)
        self.assertParent(tool, turn)
        self.assertParent(sub, run)
        self.assertParent(custom, run)
        a = {k: value(v) for k, v in run["attrs"].items()}
        self.assertEqual(a["agent.kind"], "run")
        self.assertEqual(a["agent.name"], "CodingAgent")
        self.assertEqual(a["gen_ai.agent.name"], "CodingAgent")
        self.assertEqual(a["gen_ai.conversation.id"], "conv-1")
        a = {k: value(v) for k, v in turn["attrs"].items()}
        self.assertEqual((a["agent.kind"], a["agent.iteration"]), ("turn", 3))
        self.assertEqual(a["agent.stop_reason"], "tool_call")
        a = {k: value(v) for k, v in llm["attrs"].items()}
        self.assertEqual(a["agent.kind"], "llm")
        self.assertEqual(a["gen_ai.operation.name"], "chat")
        self.assertEqual(a["gen_ai.provider.name"], "openai")
        self.assertEqual(a["gen_ai.request.model"], "gpt-4o")
        self.assertEqual(a["gen_ai.usage.input_tokens"], 100)
        self.assertEqual(a["gen_ai.usage.output_tokens"], 20)
        self.assertEqual(a["gen_ai.usage.cache_read.input_tokens"], 64)
        a = {k: value(v) for k, v in tool["attrs"].items()}
        self.assertEqual(a["agent.kind"], "tool")
        self.assertEqual(a["tool.name"], "read_file")
        self.assertEqual(a["gen_ai.tool.name"], "read_file")
        self.assertEqual(a["tool.action"], "read")
        self.assertEqual(a["tool.target"], "/src/a.py")
        self.assertEqual(a["tool.status"], "ok")
        a = {k: value(v) for k, v in sub["attrs"].items()}
        self.assertEqual(a["gen_ai.operation.name"], "invoke_agent")
        self.assertEqual(a["gen_ai.agent.name"], "ReviewAgent")
        self.assertEqual(value(custom["attrs"]["agent.kind"]), "custom")

    def test_every_helper_kind_and_name(self):
        e = run_traced("""
            import agentring
            with agentring.run("execute_query", agent_name="Orchestrator") as run:
                with agentring.plan("Orchestrator") as p:
                    p.set_task_count(2)
                with agentring.task("t-1", "CodingAgent"):
                    with agentring.handoff("Orchestrator", "CodingAgent", link=run):
                        pass
                    with agentring.retrieval("binary search", name="rag.lookup") as r:
                        with agentring.embedding("all-MiniLM-L6-v2", "ort") as em:
                            em.set_usage(12)
                        with agentring.vector_search("qdrant", "repo-chunks") as vs:
                            vs.set_hits(5, top_score=0.91)
                        r.set_sources_found(5)
                    with agentring.guardrail("tests_pass") as g:
                        g.set_result(False, reason="2 failures")
                    with agentring.custom("synthesize", {"n": 1}):
                        pass
            """)
        want = {
            "execute_query": "run", "agent.plan": "plan", "agent.task": "task",
            "handoff CodingAgent": "handoff", "rag.lookup": "retrieval",
            "embeddings all-MiniLM-L6-v2": "embedding", "vector_search": "vector_search",
            "guardrail tests_pass": "guardrail", "synthesize": "custom",
        }
        self.assertEqual({s["name"]: value(s["attrs"]["agent.kind"]) for s in e.spans}, want)
        run = e.named("execute_query")
        handoff = e.named("handoff CodingAgent")
        self.assertEqual(handoff["links"], [{"traceId": run["traceId"], "spanId": run["spanId"]}])
        a = {k: value(v) for k, v in handoff["attrs"].items()}
        self.assertEqual((a["agent.handoff.from"], a["agent.handoff.to"]),
                         ("Orchestrator", "CodingAgent"))
        self.assertEqual(value(e.named("agent.plan")["attrs"]["plan.tasks"]), 2)
        self.assertEqual(value(e.named("agent.task")["attrs"]["task.id"]), "t-1")
        r = e.named("rag.lookup")
        self.assertEqual(value(r["attrs"]["rag.query"]), "binary search")
        self.assertEqual(value(r["attrs"]["rag.sources_found"]), 5)
        self.assertParent(e.named("embeddings all-MiniLM-L6-v2"), r)
        vs = e.named("vector_search")
        self.assertParent(vs, r)
        self.assertEqual(value(vs["attrs"]["vector_search.top_score"]), 0.91)
        g = e.named("guardrail tests_pass")
        self.assertEqual(value(g["attrs"]["guardrail.result"]), "fail")
        self.assertEqual(g["status"], {})  # a failed check is an outcome, not an error

    def test_traced_decorator_sync_and_async(self):
        e = run_traced("""
            import asyncio, agentring
            from agentring import Kind

            @agentring.traced(kind=Kind.TOOL, attributes={"tool.name": "lookup"})
            def lookup(x):
                return x * 2

            @agentring.traced("fetch", kind=Kind.RETRIEVAL)
            async def fetch(x):
                await asyncio.sleep(0.001)
                return lookup(x)

            @agentring.traced
            def outer():
                return asyncio.run(fetch(21))

            assert outer() == 42
            assert lookup.__name__ == "lookup" and fetch.__name__ == "fetch"
            """)
        outer = e.named("outer")
        fetch = e.named("fetch")
        lookup = e.named("lookup")
        self.assertEqual(outer["parentSpanId"], "")
        self.assertParent(fetch, outer)
        self.assertParent(lookup, fetch)
        self.assertEqual(value(fetch["attrs"]["agent.kind"]), "retrieval")
        self.assertEqual(value(lookup["attrs"]["agent.kind"]), "tool")
        self.assertEqual(value(lookup["attrs"]["tool.name"]), "lookup")

    def test_asyncio_tasks_nest_under_their_own_spans(self):
        # Two tasks interleaved on one thread: each opens a span, yields, then opens a child.
        # The child must nest under its own task's span, never under the other's.
        e = run_traced("""
            import asyncio, agentring

            async def worker(tag, delay):
                with agentring.span("task-" + tag):
                    await asyncio.sleep(delay)
                    with agentring.span("child-" + tag):
                        await asyncio.sleep(delay)
                        with agentring.span("grandchild-" + tag):
                            pass
                    await asyncio.sleep(0)

            async def main():
                with agentring.span("parent"):
                    await asyncio.gather(worker("a", 0.004), worker("b", 0.001))
                    await asyncio.gather(*(worker("x%d" % i, 0.001 * (i % 3)) for i in range(6)))
                    with agentring.span("after"):
                        pass

            asyncio.run(main())
            assert agentring.current_span() is None
            """)
        parent = e.named("parent")
        for tag in ["a", "b"] + ["x%d" % i for i in range(6)]:
            task = e.named("task-" + tag)
            child = e.named("child-" + tag)
            self.assertParent(task, parent)
            self.assertParent(child, task)
            self.assertParent(e.named("grandchild-" + tag), child)
        self.assertParent(e.named("after"), parent)

    def test_threads_nest_with_wrap(self):
        e = run_traced("""
            import threading, agentring
            from concurrent.futures import ThreadPoolExecutor

            def work(i):
                with agentring.span("work", attributes={"i": i}):
                    with agentring.span("step", attributes={"i": i}):
                        return threading.get_ident()

            with agentring.span("parent") as parent:
                with ThreadPoolExecutor(max_workers=3) as pool:
                    idents = set(pool.map(agentring.wrap(work), range(6)))
                t = threading.Thread(target=agentring.wrap(work), args=(100,))
                t.start(); t.join()
                # Without wrap a new thread has an empty context: its span is a root.
                t = threading.Thread(target=work, args=(200,))
                t.start(); t.join()
            """)
        parent = e.named("parent")
        works = {value(s["attrs"]["i"]): s for s in e.all_named("work")}
        steps = {value(s["attrs"]["i"]): s for s in e.all_named("step")}
        self.assertEqual(sorted(works), [0, 1, 2, 3, 4, 5, 100, 200])
        for i in [0, 1, 2, 3, 4, 5, 100]:
            self.assertParent(works[i], parent)
            self.assertParent(steps[i], works[i])
        self.assertEqual(works[200]["parentSpanId"], "")
        self.assertNotEqual(works[200]["traceId"], parent["traceId"])
        self.assertParent(steps[200], works[200])

    def test_exception_sets_error_status_type_and_event(self):
        e = run_traced("""
            import agentring
            class QuotaExceeded(Exception):
                pass
            with agentring.run(agent_name="A"):
                try:
                    with agentring.tool("web_fetch", "get", "https://example.com"):
                        raise QuotaExceeded("429 from upstream")
                except QuotaExceeded:
                    pass
                try:
                    with agentring.span("parse"):
                        int("x")
                except ValueError:
                    pass
                with agentring.llm("gpt-4o", "openai") as call:
                    call.set_error("RateLimitError", "slow down")
            """)
        tool = e.named("execute_tool web_fetch")
        self.assertEqual(tool["status"]["code"], 2)
        self.assertEqual(tool["status"]["message"], "429 from upstream")
        a = {k: value(v) for k, v in tool["attrs"].items()}
        self.assertEqual(a["error.type"], "QuotaExceeded")
        self.assertEqual(a["tool.status"], "error")
        [event] = [ev for ev in tool["events"] if ev["name"] == "exception"]
        ev = {x["key"]: value(x["value"]) for x in event["attributes"]}
        self.assertEqual(ev["exception.type"], "__main__.QuotaExceeded")
        self.assertEqual(ev["exception.message"], "429 from upstream")
        self.assertIn("Traceback", ev["exception.stacktrace"])
        parse = e.named("parse")
        self.assertEqual(parse["status"]["code"], 2)
        self.assertEqual(value(parse["attrs"]["error.type"]), "ValueError")
        llm = e.named("chat gpt-4o")
        self.assertEqual(llm["status"], {"code": 2, "message": "slow down"})
        self.assertEqual(value(llm["attrs"]["error.type"]), "RateLimitError")
        self.assertEqual(e.named("agent.run")["status"], {})  # caught inside: the run is fine

    def test_attribute_types(self):
        e = run_traced("""
            import agentring
            class Named:
                def __str__(self):
                    return "named-object"
            attrs = {"s": "text", "i": 42, "neg": -7, "b_true": True, "b_false": False,
                     "f": 2.5, "big": 2 ** 70, "none": None, "obj": Named(),
                     "unicode": "caf\\u00e9 \\u2603", "surrogate": "a\\udcffb", "empty": "",
                     "long": "x" * 5000, 7: "int key"}
            with agentring.span("typed", attributes=attrs) as s:
                s.set("later.int", 1 << 40)
                s.set_attributes({"later.bool": True, "later.float": 0.125, "later.str": "ok"})
                s.add_event("checkpoint", {"n": 3, "ok": True})
            with agentring.span("many", attributes={"k%03d" % i: i for i in range(70)}):
                pass
            """)
        typed = e.named("typed")
        a = typed["attrs"]
        self.assertEqual(a["s"], {"stringValue": "text"})
        self.assertEqual(a["i"], {"intValue": "42"})
        self.assertEqual(a["neg"], {"intValue": "-7"})
        self.assertEqual(a["b_true"], {"boolValue": True})
        self.assertEqual(a["b_false"], {"boolValue": False})
        self.assertEqual(a["f"], {"doubleValue": 2.5})
        self.assertEqual(a["big"], {"stringValue": str(2 ** 70)})
        self.assertNotIn("none", a)
        self.assertEqual(a["obj"], {"stringValue": "named-object"})
        self.assertEqual(a["unicode"], {"stringValue": "caf\u00e9 \u2603"})
        self.assertEqual(a["surrogate"], {"stringValue": "a?b"})
        self.assertEqual(a["empty"], {"stringValue": ""})
        self.assertEqual(a["long"], {"stringValue": "x" * 5000})
        self.assertEqual(a["7"], {"stringValue": "int key"})
        self.assertEqual(a["later.int"], {"intValue": str(1 << 40)})
        self.assertEqual(a["later.bool"], {"boolValue": True})
        self.assertEqual(a["later.float"], {"doubleValue": 0.125})
        self.assertEqual(a["later.str"], {"stringValue": "ok"})
        [event] = typed["events"]
        self.assertEqual(event["name"], "checkpoint")
        self.assertEqual({x["key"]: x["value"] for x in event["attributes"]},
                         {"n": {"intValue": "3"}, "ok": {"boolValue": True}})
        many = e.named("many")["attrs"]
        self.assertEqual([value(many["k%03d" % i]) for i in range(70)], list(range(70)))

    def test_traceparent_propagates_to_a_child_process(self):
        e = run_traced("""
            import os, subprocess, sys, agentring
            child = '''
            import os, agentring
            with agentring.span("child-root", attributes={"pid": os.getpid()}):
                with agentring.span("child-leaf"):
                    pass
            '''
            with agentring.span("spawner") as s:
                env = agentring.child_env()
                assert env["TRACEPARENT"] == agentring.traceparent() == s.traceparent
                assert env["AGENTRING_SEGMENT"] == os.environ["AGENTRING_SEGMENT"]
                subprocess.run([sys.executable, "-c", child], env=env, check=True)
            assert agentring.traceparent() is None
            """)
        self.assertEqual(e.traces, 1)
        spawner = e.named("spawner")
        root = e.named("child-root")
        self.assertParent(root, spawner)
        self.assertParent(e.named("child-leaf"), root)
        self.assertNotEqual(root["pid"], spawner["pid"])
        self.assertEqual(value(root["attrs"]["pid"]), root["pid"])

    def test_inherited_traceparent_and_explicit_parents(self):
        tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        e = run_traced("""
            import agentring
            from agentring import SpanContext
            with agentring.span("inherited-root") as a:
                pass
            with agentring.span("forced-root", parent=agentring.ROOT):
                pass
            remote = SpanContext.from_traceparent(
                "00-11111111111111111111111111111111-2222222222222222-01")
            assert remote.remote and remote.sampled and remote.span_id == "2222222222222222"
            with agentring.span("explicit", parent=remote) as b:
                with agentring.span("sibling-of-b", parent=a):
                    pass
                with agentring.span("by-string", parent=b.traceparent):
                    pass
            assert SpanContext.from_traceparent("not a traceparent") is None
            """, extra_env={"TRACEPARENT": tp})
        for name in ("inherited-root", "forced-root"):
            s = e.named(name)
            self.assertEqual(s["traceId"], "0af7651916cd43dd8448eb211c80319c")
            self.assertEqual(s["parentSpanId"], "b7ad6b7169203331")
        explicit = e.named("explicit")
        self.assertEqual((explicit["traceId"], explicit["parentSpanId"]),
                         ("11111111111111111111111111111111", "2222222222222222"))
        self.assertParent(e.named("sibling-of-b"), e.named("inherited-root"))
        self.assertParent(e.named("by-string"), explicit)

    def test_react_example_trace_is_whole(self):
        e = run_traced(argv=[REACT_EXAMPLE])
        self.assertIn("answer:", e.stdout)
        self.assertEqual(e.traces, 1)
        self.assertGreaterEqual(len(e.spans), 8)
        self.assertEqual(len({s["traceId"] for s in e.spans}), 1)
        pids = {s["pid"] for s in e.spans}
        self.assertEqual(len(pids), 2)
        roots = [s for s in e.spans if s["parentSpanId"] == ""]
        self.assertEqual(len(roots), 1)
        # Every parent is in the trace: the tree is whole.
        ids = {s["spanId"] for s in e.spans}
        for s in e.spans:
            self.assertTrue(s["parentSpanId"] == "" or s["parentSpanId"] in ids, s["name"])
            self.assertNotIn("agentring.incomplete_reason", s["attrs"], s["name"])
        root = roots[0]
        self.assertEqual(value(root["attrs"]["agent.name"]), "CodingAgent")
        turns = [s for s in e.spans if s["name"].startswith("agent.turn ")
                 and s["parentSpanId"] == root["spanId"]]
        self.assertGreaterEqual(len(turns), 2)
        self.assertTrue(e.all_named("retrieval"))
        invoke = e.named("invoke_agent ReviewAgent")
        [sub_root] = e.children(invoke)
        self.assertEqual(sub_root["name"], "agent.run")
        self.assertEqual(value(sub_root["attrs"]["agent.name"]), "ReviewAgent")
        self.assertNotEqual(sub_root["pid"], root["pid"])
        self.assertTrue(all(s["pid"] == sub_root["pid"] for s in e.spans
                            if s is not sub_root and _descends(e, s, sub_root)))

    def test_disabled_records_nothing_but_keeps_nesting(self):
        e = run_traced("""
            import agentring
            with agentring.span("kept-1"):
                pass
            agentring.set_enabled(False)
            assert not agentring.is_enabled()
            with agentring.span("dropped") as s:
                assert not s.is_recording
                # Every method is a no-op on a span started while tracing is off.
                s.set("k", 1).set_attributes({"a": "b"})
                s.add_event("ev", {"n": 2})
                with agentring.span("dropped-child", attributes={"x": True}):
                    pass
            try:
                with agentring.span("dropped-error"):
                    raise ValueError("boom")
            except ValueError:
                pass
            manual = agentring.span("dropped-manual").start()
            manual.end()
            agentring.set_enabled(True)
            with agentring.span("kept-2") as s:
                assert s.is_recording
            st = agentring.stats()
            assert st["span_starts_committed"] == 2, st
            """)
        self.assertEqual(sorted(s["name"] for s in e.spans), ["kept-1", "kept-2"])


def _descends(e, span, ancestor):
    by_id = {s["spanId"]: s for s in e.spans}
    while span["parentSpanId"]:
        span = by_id.get(span["parentSpanId"])
        if span is None:
            return False
        if span is ancestor:
            return True
    return False


class StandaloneTest(unittest.TestCase):
    """Behaviour that needs no reader (spans without a segment are dropped and counted)."""

    def run_python(self, code, **env):
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                              env=writer_env("py-none-%d" % os.getpid(), **env),
                              capture_output=True, text=True, timeout=TIMEOUT_S)

    def test_missing_library_raises_a_clear_import_error(self):
        p = self.run_python("""
            try:
                import agentring
            except ImportError as e:
                print(e)
            else:
                raise SystemExit("imported without a library")
            """, AGENTRING_LIB="/nonexistent/libagentring.so")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("AGENTRING_LIB=/nonexistent/libagentring.so", p.stdout)
        self.assertIn("build it with `make`", p.stdout)

    def test_api_without_a_reader(self):
        p = self.run_python("""
            import agentring
            from agentring import Kind, SpanContext
            assert agentring.LIBRARY_VERSION
            assert Kind.TOOL == 4 and Kind.TASK == 12
            with agentring.span("no reader") as s:
                ctx = s.context
                assert ctx.is_valid and len(ctx.trace_id) == 32 and len(ctx.span_id) == 16
                assert s.traceparent == "00-%s-%s-01" % (ctx.trace_id, ctx.span_id)
                assert SpanContext.from_traceparent(s.traceparent) == ctx
                assert agentring.current_span() is s
                assert agentring.current_context() == ctx
            assert s.context == ctx  # still known after the end
            assert agentring.current_span() is None
            st = agentring.stats()
            assert st["spans_started"] == 1 and st["span_starts_dropped_no_segment"] == 1, st
            try:
                agentring.set_segment("bad name!")
            except ValueError:
                pass
            else:
                raise SystemExit("bad segment name accepted")
            try:
                with s:
                    pass
            except RuntimeError:
                pass
            else:
                raise SystemExit("a span started twice")
            m = agentring.span("manual").start()
            assert agentring.current_span() is None
            m.end(); m.end()
            print("ok")
            """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
