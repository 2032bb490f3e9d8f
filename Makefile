# Convenience targets. Everything is plain CMake underneath:
#   scripts/install-deps.sh && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure build demo test bench clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

# Runs the multi-process demo agent network through a reader: prints the tree, writes
# out/demo/traces.jsonl and out/demo/stats.json.
demo: build
	@$(BUILD)/bin/agentring demo --out-dir out/demo

# One ctest pass over the whole suite (unit, ABI, integration with real processes).
test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 600 -j$(JOBS)

# Google Benchmark suites; JSON in out/bench/<suite>.json, summary on stdout.
bench: build
	@scripts/run-bench.sh $(BUILD)

clean:
	@rm -rf $(BUILD) out
