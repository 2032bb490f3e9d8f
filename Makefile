# Convenience targets. Everything is plain CMake underneath:
#   scripts/install-deps.sh && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure build demo test test-asan test-tsan fuzz bench clean

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

# The unit, ABI, integration and fuzz-corpus tests again, every binary (the programs the
# integration tests start included) built with gcc's sanitizers in its own build directory;
# the Python suite and the benchmark smoke runs are left out (ctest -LE). Any report fails the
# test: -fno-sanitize-recover=all, halt_on_error.
SAN_CMAKE = -DCMAKE_BUILD_TYPE=Release -DAGENTRING_BUILD_BENCH=OFF
SAN_CTEST = ctest --output-on-failure --timeout 900 -j$(JOBS) -LE 'python|bench'

# AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer: build-asan/.
# verify_asan_link_order=0: the C ABI test compiles a plain C program (no -fsanitize) against
# the instrumented libagentring.so, which then loads the ASan runtime after libc.
test-asan: deps
	@cmake -S . -B build-asan $(SAN_CMAKE) -DAGENTRING_SANITIZE=address,undefined >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:verify_asan_link_order=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(SAN_CTEST)

# ThreadSanitizer: build-tsan/. Run with address-space randomisation off (setarch -R), which
# TSan's fixed shadow layout needs on kernels with high mmap entropy; children inherit it.
# Suppressions (each with its reason) are in tests/tsan.supp.
test-tsan: deps
	@cmake -S . -B build-tsan $(SAN_CMAKE) -DAGENTRING_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	@cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  setarch "$$(uname -m)" -R $(SAN_CTEST)

# libFuzzer over the reader's decode path (tests/fuzz/segment_fuzz.cc), built with clang in
# build-fuzz/ and run for FUZZ_SECONDS (default 60) from the corpus in tests/fuzz/corpus. New
# inputs go to build-fuzz/corpus, crashes to build-fuzz/crashes/ (add them to tests/fuzz/corpus
# once fixed: `make test` replays that corpus).
FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DAGENTRING_BUILD_BENCH=OFF \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DAGENTRING_BUILD_FUZZ=ON \
	  -DAGENTRING_SANITIZE=address,undefined,float-cast-overflow >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target segment_fuzz
	@mkdir -p build-fuzz/corpus build-fuzz/crashes
	@build-fuzz/bin/segment_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	  -max_len=8192 -print_final_stats=1 -artifact_prefix=build-fuzz/crashes/ \
	  build-fuzz/corpus tests/fuzz/corpus

# Google Benchmark suites; JSON in out/bench/<suite>.json, summary on stdout.
bench: build
	@scripts/run-bench.sh $(BUILD)

clean:
	@rm -rf $(BUILD) build-asan build-tsan build-fuzz out
