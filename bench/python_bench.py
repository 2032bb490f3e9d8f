#!/usr/bin/env python3
"""Cost of a span from Python, against a do-nothing context manager measured in the same run.

    python3 bench/python_bench.py [--spans N] [--repeat R] [--json FILE]   (uses ../python)

Starts its own agentring-reader (build/bin, or $AGENTRING_BIN_DIR) on a private segment that
exports to /dev/null, then times with timeit on the thread's CPU clock (time.thread_time: the
reader and other processes share the CPUs, and time spent descheduled is not the span's),
interleaving the cases in every repeat and keeping each case's best repeat:

  baseline   `with Null(): pass`, a context manager whose __enter__/__exit__ do nothing
  span       `with agentring.span("execute_tool", kind=Kind.TOOL, attributes={4 attributes:
             2 str, 1 int, 1 bool}): pass`, inside a run span (so it has a parent)
  helper     agentring.tool("filesystem", "read", path): the helper, with its 5 attributes
  bare       `with agentring.span("step"): pass` (no attributes)
  disabled   `span` with agentring.set_enabled(False)

and prints per-span microseconds and each case's cost over the baseline (the number to hold
against the target: tracing adds <= 3 us per span). Writer drops are reported: a timing with
drops would flatter the writer (a dropped start writes nothing).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "python"))


def start_reader(segment, bin_dir):
    reader = os.path.join(bin_dir, "agentring-reader")
    if not os.path.exists(reader):
        sys.exit("python_bench: %s not found: build it with `make` or set AGENTRING_BIN_DIR"
                 % reader)
    stats = os.path.join(tempfile.mkdtemp(prefix="agentring-pybench-"), "stats.json")
    # Few, large lanes: a repeat writes ~120k records (6 per span), more than a default lane
    # holds, and a timing that includes drops would flatter the writer.
    proc = subprocess.Popen([reader, "--segment", segment, "--create", "--lanes", "4",
                             "--lane-kib", "16384", "--exporter", "jsonl", "--out", "/dev/null",
                             "--stats-json", stats])
    # Wait for the header's magic, not just the file: a writer that attaches to a segment still
    # being initialised backs off for 100 ms (its spans meanwhile count as no_segment drops).
    path = "/dev/shm/agentring." + segment
    deadline = time.monotonic() + 10
    while True:
        try:
            with open(path, "rb") as f:
                if f.read(8) == b"AGARNGv1":
                    return proc, stats
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("python_bench: the reader did not create %s" % path)
        time.sleep(0.005)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=20000, help="spans per timed repeat")
    parser.add_argument("--repeat", type=int, default=15, help="repeats per case (best kept)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    segment = "pybench-%d" % os.getpid()
    bin_dir = os.environ.get("AGENTRING_BIN_DIR") or os.path.join(REPO, "build", "bin")
    reader, reader_stats = start_reader(segment, bin_dir)
    try:
        import agentring
        from agentring import Kind

        agentring.set_segment(segment)

        class Null:
            def __enter__(self):
                return self

            def __exit__(self, exc_type, exc, tb):
                return False

        span = agentring.span
        tool = agentring.tool
        attrs = {"tool.name": "filesystem", "tool.target": "/src/main.rs", "tool.bytes": 4096,
                 "tool.cached": False}

        def baseline():
            with Null():
                pass

        def with_span():
            with span("execute_tool", kind=Kind.TOOL, attributes=attrs):
                pass

        def with_helper():
            with tool("filesystem", "read", "/src/main.rs"):
                pass

        def bare():
            with span("step"):
                pass

        cases = [("baseline", baseline, True), ("span", with_span, True),
                 ("helper", with_helper, True), ("bare", bare, True),
                 ("disabled", with_span, False)]
        best = {name: float("inf") for name, _, _ in cases}
        with agentring.run("bench.run", agent_name="PythonBench"):
            for fn in (baseline, with_span, with_helper, bare):  # warm up caches and the lane
                timeit.timeit(fn, number=2000)
            for _ in range(args.repeat):
                for name, fn, enabled in cases:
                    agentring.set_enabled(enabled)
                    t = timeit.Timer(fn, timer=time.thread_time).timeit(number=args.spans)
                    best[name] = min(best[name], t / args.spans * 1e6)
                    # Let the reader catch up (it assembles ~0.4 M spans/s on a slow machine);
                    # sleeping is not on the thread's CPU clock.
                    time.sleep(args.spans * 4e-6)
            agentring.set_enabled(True)
        writer = agentring.stats()
    finally:
        reader.terminate()
        reader.wait(timeout=30)
        try:
            os.unlink("/dev/shm/agentring." + segment)
        except OSError:
            pass

    dropped = writer["spans_started"] - writer["span_starts_committed"] - writer[
        "spans_head_sampled_out"]
    results = {
        "python": sys.version.split()[0],
        "spans_per_repeat": args.spans,
        "repeats": args.repeat,
        "us_per_span": {k: round(v, 3) for k, v in best.items()},
        "us_over_baseline": {k: round(v - best["baseline"], 3) for k, v in best.items()
                             if k != "baseline"},
        "writer": {"spans_started": writer["spans_started"],
                   "span_starts_committed": writer["span_starts_committed"],
                   "dropped": dropped},
    }
    print("python %s, %d spans x %d repeats (best repeat), per span:"
          % (results["python"], args.spans, args.repeat))
    for name, _, _ in cases:
        over = "" if name == "baseline" else "   +%.3f us over baseline" % (
            best[name] - best["baseline"])
        print("  %-9s %7.3f us%s" % (name, best[name], over))
    print("writer: %d spans started, %d committed, %d dropped"
          % (writer["spans_started"], writer["span_starts_committed"], dropped))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
