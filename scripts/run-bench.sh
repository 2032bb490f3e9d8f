#!/usr/bin/env bash
# Runs every Google Benchmark suite, writes out/bench/<suite>.json (Google Benchmark's JSON) and
# prints a summary with each writer figure as a ratio to the floor measured in the same run.
#   scripts/run-bench.sh [BUILD_DIR]        BENCH_ARGS="--benchmark_repetitions=5" to repeat
set -euo pipefail
build=${1:-build}
out=out/bench
mkdir -p "$out"
for suite in writer_bench c_api_bench; do
  "$build/bin/$suite" --benchmark_out="$out/$suite.json" --benchmark_out_format=json \
    --benchmark_min_time=${BENCH_MIN_TIME:-0.3} --benchmark_repetitions=${BENCH_REPS:-5} \
    ${BENCH_ARGS:-} >/dev/null
  python3 - "$out/$suite.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
rows = [b for b in data["benchmarks"] if b.get("run_type", "iteration") == "iteration"
        or b.get("aggregate_name") == "median"]
by = {}
for b in rows:
    name = b["run_name"] if "run_name" in b else b["name"]
    if b.get("run_type") == "aggregate" or name not in by:
        by[name] = b
floor = by.get("BM_Floor_SpanRecord", {}).get("cpu_time")
ctx = data["context"]
print(f"{sys.argv[1]}: {ctx.get('num_cpus')} cpus @ {ctx.get('mhz_per_cpu')} MHz, {ctx.get('date')}")
print(f"{'benchmark':34} {'cpu ns':>10} {'x floor':>8}  counters")
for name, b in by.items():
    unit = b.get("time_unit", "ns")
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
    cpu = b["cpu_time"] * scale
    ratio = f"{cpu / floor:8.2f}" if floor and name.startswith(("BM_Writer", "BM_Baseline")) else " " * 8
    extra = []
    for k in ("records_dropped", "items_per_second", "records_rejected", "spans_emitted"):
        if k in b:
            v = b[k]
            extra.append(f"{k}={v/1e6:.2f}M" if k == "items_per_second" else f"{k}={v:g}")
    print(f"{name:34} {cpu:10.1f} {ratio}  {' '.join(extra)}")
    if name.startswith("BM_Writer") and b.get("records_dropped", 0) != 0:
        print(f"  !! {name} dropped records: it timed the drop path", file=sys.stderr)
PY
done

# The Python package over the C ABI: a span with 4 attributes against a do-nothing context
# manager, in the same interpreter run (timeit; Google Benchmark cannot host Python).
AGENTRING_LIB="$build/lib/libagentring.so" AGENTRING_BIN_DIR="$build/bin" PYTHONPATH=python \
  python3 bench/python_bench.py --json "$out/python_bench.json"
