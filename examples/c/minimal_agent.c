/* A minimal traced agent in C, over the C ABI (agentring/agentring.h): a run with two turns, each
 * with an LLM call and a tool call, and a worker thread handed an explicit parent. Run a reader
 * first:
 *   build/bin/agentring-reader --segment example --create --exporter tree --exit-when-idle-ms 500 &
 *   AGENTRING_SEGMENT=example build/bin/example_c_agent
 * It prints the run's traceparent (what a child process would get in TRACEPARENT). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agentring/agentring.h"

/* Names and keys are (pointer, length) pairs; for literals, S("x") expands to both. */
#define S(literal) literal, sizeof(literal) - 1

static void SleepMs(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static agentring_attr IntAttr(const char* key, int64_t v) {
  agentring_attr a;
  memset(&a, 0, sizeof(a));
  a.key = key;
  a.key_len = strlen(key);
  a.type = AGENTRING_ATTR_INT64;
  a.int_value = v;
  return a;
}

static agentring_attr StringAttr(const char* key, const char* v) {
  agentring_attr a;
  memset(&a, 0, sizeof(a));
  a.key = key;
  a.key_len = strlen(key);
  a.type = AGENTRING_ATTR_STRING;
  a.str = v;
  a.str_len = strlen(v);
  return a;
}

/* Work handed to another thread names its parent explicitly. */
static void* Summarize(void* arg) {
  const agentring_context* parent = (const agentring_context*)arg;
  agentring_span summarize;
  agentring_span_start(&summarize, S("summarize"), AGENTRING_KIND_TASK, NULL, parent, 0);
  SleepMs(3);
  agentring_span_end(&summarize);
  agentring_release_thread_lane(); /* this thread traces no more */
  return NULL;
}

int main(void) {
  if (agentring_version() != AGENTRING_ABI_VERSION) {
    fprintf(stderr, "libagentring has C ABI %u, this program was built for %d\n",
            agentring_version(), AGENTRING_ABI_VERSION);
    return 1;
  }
  agentring_span run;
  agentring_span_start(&run, S("agent.run"), AGENTRING_KIND_RUN, NULL, NULL, 0);
  agentring_span_set_string(&run, S("agent.name"), S("ExampleCAgent"));

  for (int turn_index = 1; turn_index <= 2; ++turn_index) {
    agentring_suffix turn_suffix = {AGENTRING_SUFFIX_INT, 0, turn_index, NULL, 0};
    agentring_attr turn_attrs[1];
    turn_attrs[0] = IntAttr("agent.iteration", turn_index);
    agentring_span turn;
    agentring_span_start_with_attrs(&turn, S("agent.turn"), AGENTRING_KIND_TURN, &turn_suffix,
                                    NULL, 0, turn_attrs, 1);

    agentring_suffix model = {AGENTRING_SUFFIX_INTERNED, 0, 0, S("gpt-4o")};
    agentring_attr llm_attrs[4];
    llm_attrs[0] = StringAttr("gen_ai.operation.name", "chat");
    llm_attrs[1] = StringAttr("gen_ai.provider.name", "openai");
    llm_attrs[2] = StringAttr("gen_ai.request.model", "gpt-4o");
    llm_attrs[3] = IntAttr("gen_ai.usage.input_tokens", 1200 + 300 * turn_index);
    agentring_span llm;
    agentring_span_start_with_attrs(&llm, S("chat"), AGENTRING_KIND_LLM, &model, NULL, 0,
                                    llm_attrs, 4);
    SleepMs(5);
    agentring_span_set_int(&llm, S("gen_ai.usage.output_tokens"), 80);
    agentring_span_set_double(&llm, S("gen_ai.request.temperature"), 0.2);
    agentring_span_end(&llm);

    agentring_suffix tool_name = {AGENTRING_SUFFIX_INTERNED, 0, 0, S("filesystem")};
    agentring_attr tool_attrs[3];
    tool_attrs[0] = StringAttr("tool.name", "filesystem");
    tool_attrs[1] = StringAttr("tool.action", "read");
    tool_attrs[2] = StringAttr("tool.target", "/etc/hosts");
    agentring_span tool;
    agentring_span_start_with_attrs(&tool, S("execute_tool"), AGENTRING_KIND_TOOL, &tool_name,
                                    NULL, 0, tool_attrs, 3);
    SleepMs(2);
    agentring_span_add_event(&tool, S("tool.retry"), NULL, 0);
    agentring_span_set_bool(&tool, S("tool.cached"), 0);
    const char* status = turn_index == 2 ? "error" : "ok";
    agentring_span_set_string(&tool, S("tool.status"), status, strlen(status));
    if (turn_index == 2) {
      agentring_span_set_status(&tool, AGENTRING_STATUS_ERROR, S("permission denied"));
    }
    agentring_span_end(&tool);
    agentring_span_end(&turn);
  }

  agentring_context run_ctx;
  agentring_span_context(&run, &run_ctx);
  char traceparent[AGENTRING_TRACEPARENT_BUFFER_BYTES];
  if (agentring_context_to_traceparent(&run_ctx, traceparent, sizeof(traceparent)) != 0) {
    printf("traceparent=%s\n", traceparent);
  }
  pthread_t worker;
  if (pthread_create(&worker, NULL, Summarize, &run_ctx) == 0) pthread_join(worker, NULL);

  agentring_span_end(&run);
  return 0;
}
