// Unit tests of the C ABI (agentring/agentring.h): spans written through the C functions into a
// real segment and read back through the real drain stage; traceparent formatting and parsing;
// the no-op behaviour of NULL, zero-filled and ended spans; layouts a binding mirrors.
//
// The writer attaches to one segment per process and this binary's WriterTest already owns one,
// so every test that records spans runs in a forked child (RunInChild) that creates a segment
// of its own, points the writer at it with agentring_set_segment_name (a forked writer attaches
// anew at its first span) and reports each failed check on a pipe; the parent turns those lines
// into test failures and asserts the child's exit status.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agentring/agentring.h"
#include "agentring/agentring.hpp"
#include "agentring/internal/segment_map.h"
#include "reader/drain/segment_reader.h"
#include "unit/span_capture.h"

namespace agentring {
namespace {

// ---- spans read back -------------------------------------------------------------------------

using CSpan = test::CapturedSpan;
using Capture = test::SpanCapture;

// ---- the forked child ------------------------------------------------------------------------

// What a child body gets: its segment's drain, and a way to report failed checks.
class ChildEnv {
 public:
  ChildEnv(reader::SegmentReader* drain, int report_fd) : drain_(drain), report_fd_(report_fd) {}
  Capture Drain() {
    Capture c;
    drain_->Pass(&c);
    drain_->Pass(&c);
    c.Settle();
    return c;
  }
  void Fail(const std::string& line) {
    std::string l = line + "\n";
    if (write(report_fd_, l.data(), l.size()) < 0) _exit(3);
    failed_ = true;
  }
  bool failed() const { return failed_; }

 private:
  reader::SegmentReader* drain_;
  int report_fd_;
  bool failed_ = false;
};

#define CHILD_EXPECT(env, cond)                                                     \
  do {                                                                              \
    if (!(cond)) (env).Fail(std::string(__FILE__ ":") + std::to_string(__LINE__) + \
                            ": expected " #cond);                                   \
  } while (0)

#define CHILD_EXPECT_EQ(env, a, b)                                                          \
  do {                                                                                      \
    const auto& va_ = (a);                                                                  \
    const auto& vb_ = (b);                                                                  \
    if (!(va_ == vb_)) {                                                                    \
      std::ostringstream os_;                                                               \
      os_ << __FILE__ << ":" << __LINE__ << ": " #a " == " #b ": " << va_ << " vs " << vb_; \
      (env).Fail(os_.str());                                                                \
    }                                                                                       \
  } while (0)

// Null-checks a span pointer in a child, returning from the body if it is missing.
#define CHILD_REQUIRE(env, cond)                                                            \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      (env).Fail(std::string(__FILE__ ":") + std::to_string(__LINE__) + ": required " #cond); \
      return;                                                                               \
    }                                                                                       \
  } while (0)

// Forks; the child creates segment "ut-capi-<pid>", points its writer at it through the C ABI,
// runs `body` and exits 0 if every check passed. Bounded: the child is killed by alarm(60).
void RunInChild(const std::function<void(ChildEnv&)>& body) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    alarm(60);
    for (const char* v : {"TRACEPARENT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
                          "AGENTRING_DISABLED", "AGENTRING_MAX_ATTR_BYTES"})
      unsetenv(v);
    const std::string name = "ut-capi-" + std::to_string(getpid());
    internal::SegmentMap::CreateOptions o;
    o.geometry = abi::Geometry{4, 4096, 4, 64 * 1024};
    bool created = false;
    internal::OpenStatus st;
    std::string err;
    auto seg = internal::SegmentMap::Create(name, o, &created, &st, &err);
    if (!seg) {
      std::string l = "cannot create segment: " + err + "\n";
      if (write(fds[1], l.data(), l.size()) < 0) _exit(3);
      _exit(2);
    }
    reader::SegmentReader drain(std::move(seg));
    ChildEnv env(&drain, fds[1]);
    CHILD_EXPECT_EQ(env, agentring_set_segment_name(name.data(), name.size()), 1);
    agentring_clear_inherited_parent();
    CHILD_EXPECT_EQ(env, agentring_set_sampler("parentbased_always_on", 21, 1.0), 1);
    agentring_set_enabled(1);
    body(env);
    internal::SegmentMap::Remove(name);
    _exit(env.failed() ? 1 : 0);
  }
  close(fds[1]);
  std::string report;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) ADD_FAILURE() << "child: " << line;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "child status " << status << (WIFSIGNALED(status) ? " (signal)" : "");
}

agentring_attr IntAttr(const char* key, int64_t v) {
  agentring_attr a{};
  a.key = key;
  a.key_len = strlen(key);
  a.type = AGENTRING_ATTR_INT64;
  a.int_value = v;
  return a;
}
agentring_attr DoubleAttr(const char* key, double v) {
  agentring_attr a{};
  a.key = key;
  a.key_len = strlen(key);
  a.type = AGENTRING_ATTR_DOUBLE;
  a.double_value = v;
  return a;
}
agentring_attr BoolAttr(const char* key, bool v) {
  agentring_attr a{};
  a.key = key;
  a.key_len = strlen(key);
  a.type = AGENTRING_ATTR_BOOL;
  a.bool_value = v ? 7 : 0;  // any non-zero is true
  return a;
}
agentring_attr StrAttr(const char* key, std::string_view v) {
  agentring_attr a{};
  a.key = key;
  a.key_len = strlen(key);
  a.type = AGENTRING_ATTR_STRING;
  a.str = v.data();
  a.str_len = v.size();
  return a;
}

void Start(agentring_span* s, std::string_view name, agentring_kind kind,
           const agentring_suffix* suffix = nullptr, const agentring_context* parent = nullptr,
           uint32_t flags = 0) {
  agentring_span_start(s, name.data(), name.size(), kind, suffix, parent, flags);
}

agentring_context ContextOf(const agentring_span* s) {
  agentring_context c;
  agentring_span_context(s, &c);
  return c;
}

// ---- tests without spans (in process) --------------------------------------------------------

TEST(CApi, VersionKindNamesAndLayouts) {
  EXPECT_EQ(agentring_version(), static_cast<uint32_t>(AGENTRING_ABI_VERSION));
  EXPECT_STRNE(agentring_version_string(), "");
  EXPECT_STREQ(agentring_kind_name(AGENTRING_KIND_LLM), "llm");
  EXPECT_STREQ(agentring_kind_name(AGENTRING_KIND_VECTOR_SEARCH), "vector_search");
  EXPECT_STREQ(agentring_kind_name(AGENTRING_KIND_TASK), "task");
  EXPECT_STREQ(agentring_kind_name(99), "custom");
  // The sizes a ctypes binding mirrors (offsets are pinned in c_api.cc).
  EXPECT_EQ(sizeof(agentring_span), 128u);
  EXPECT_EQ(sizeof(agentring_context), 32u);
  EXPECT_EQ(sizeof(agentring_attr), 56u);
  EXPECT_EQ(sizeof(agentring_suffix), 32u);
  EXPECT_EQ(sizeof(agentring_stats), 88u);
}

TEST(CApi, TraceparentRoundTrip) {
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  agentring_context c{};
  ASSERT_EQ(agentring_context_from_traceparent(tp.data(), tp.size(), &c), 1);
  EXPECT_EQ(c.trace_id_hi, 0x4bf92f3577b34da6ull);
  EXPECT_EQ(c.trace_id_lo, 0xa3ce929d0e0e4736ull);
  EXPECT_EQ(c.span_id, 0x00f067aa0ba902b7ull);
  EXPECT_EQ(c.trace_flags, 1);
  EXPECT_EQ(c.remote, 1);
  char buf[AGENTRING_TRACEPARENT_BUFFER_BYTES];
  ASSERT_EQ(agentring_context_to_traceparent(&c, buf, sizeof(buf)), 55u);
  EXPECT_EQ(std::string(buf), tp);
  // Same text as the C++ API.
  SpanContext cpp;
  ASSERT_TRUE(SpanContext::FromTraceparent(tp, &cpp));
  EXPECT_EQ(cpp.ToTraceparent(), std::string(buf));

  // Too small a buffer, an invalid context, NULLs: 0, buffer untouched.
  char small[55];
  memset(small, 'x', sizeof(small));
  EXPECT_EQ(agentring_context_to_traceparent(&c, small, sizeof(small)), 0u);
  EXPECT_EQ(small[0], 'x');
  agentring_context zero{};
  EXPECT_EQ(agentring_context_to_traceparent(&zero, buf, sizeof(buf)), 0u);
  EXPECT_EQ(agentring_context_to_traceparent(nullptr, buf, sizeof(buf)), 0u);
  EXPECT_EQ(agentring_context_to_traceparent(&c, nullptr, 100), 0u);

  // Malformed: out untouched.
  for (std::string bad : {std::string("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
                          std::string("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
                          std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
                          std::string("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                          tp.substr(0, 54), tp + "-", std::string()}) {
    agentring_context out{};
    out.span_id = 42;
    EXPECT_EQ(agentring_context_from_traceparent(bad.data(), bad.size(), &out), 0) << bad;
    EXPECT_EQ(out.span_id, 42u) << bad;
  }
  EXPECT_EQ(agentring_context_from_traceparent(nullptr, 55, &c), 0);
  EXPECT_EQ(agentring_context_from_traceparent(tp.data(), tp.size(), nullptr), 0);
  // A later version's first four fields.
  const std::string v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future";
  ASSERT_EQ(agentring_context_from_traceparent(v1.data(), v1.size(), &c), 1);
  EXPECT_EQ(c.trace_flags, 0);
}

// These touch no segment, so they are safe in the test process itself.
TEST(CApi, NullZeroFilledAndEndedSpansAreNoOps) {
  agentring_span zero{};
  agentring_attr a = IntAttr("k", 1);
  agentring_context ctx;
  memset(&ctx, 0xab, sizeof(ctx));
  agentring_span_end(nullptr);
  agentring_span_end(&zero);
  agentring_span_set_int(&zero, "k", 1, 1);
  agentring_span_set_double(nullptr, "k", 1, 1.0);
  agentring_span_set_bool(&zero, "k", 1, 1);
  agentring_span_set_string(&zero, "k", 1, "v", 1);
  agentring_span_set_attrs(&zero, &a, 1);
  agentring_span_add_event(&zero, "e", 1, &a, 1);
  agentring_span_add_link(&zero, &ctx);
  agentring_span_set_status(&zero, AGENTRING_STATUS_ERROR, "m", 1);
  agentring_span_start(nullptr, "x", 1, AGENTRING_KIND_RUN, nullptr, nullptr, 0);
  EXPECT_EQ(agentring_span_context(&zero, &ctx), 0);
  EXPECT_EQ(ctx.span_id, 0u);
  EXPECT_EQ(ctx.trace_id_hi, 0u);
  EXPECT_EQ(ctx.reserved[5], 0);
  EXPECT_EQ(agentring_span_context(&zero, nullptr), 0);
  EXPECT_EQ(agentring_span_is_recording(&zero), 0);
  EXPECT_EQ(agentring_span_is_recording(nullptr), 0);
  EXPECT_EQ(agentring_current_context(nullptr), 0);
  for (uint64_t w : zero.opaque) EXPECT_EQ(w, 0u);

  // Rejected arguments change nothing.
  EXPECT_EQ(agentring_set_segment_name("bad/name", 8), 0);
  EXPECT_EQ(agentring_set_segment_name(nullptr, 0), 0);
  EXPECT_EQ(agentring_set_segment_name(std::string(201, 'a').c_str(), 201), 0);
  EXPECT_EQ(agentring_set_sampler("sometimes", 9, 0.5), 0);
  EXPECT_EQ(agentring_set_sampler("traceidratio", 12, 1.5), 0);
  EXPECT_EQ(agentring_get_stats(nullptr), 0);
  agentring_stats tiny{};
  tiny.struct_size = 4;
  EXPECT_EQ(agentring_get_stats(&tiny), 0);
  agentring_flush();
}

TEST(CApi, StatsFillNoMoreThanTheCallerKnows) {
  // An older caller that knows the header and two counters.
  struct {
    agentring_stats s;
    uint64_t canary;
  } old{};
  old.s.struct_size = 8 + 2 * sizeof(uint64_t);
  old.s.span_starts_dropped_full = 0x5555;
  old.canary = 0x7777;
  ASSERT_EQ(agentring_get_stats(&old.s), 1);
  EXPECT_EQ(old.s.struct_size, 8u + 16u);
  EXPECT_EQ(old.s.span_starts_dropped_full, 0x5555u);  // beyond what it asked for
  // A newer caller with a larger struct: filled up to what this library knows.
  old.s.struct_size = sizeof(old);
  ASSERT_EQ(agentring_get_stats(&old.s), 1);
  EXPECT_EQ(old.s.struct_size, sizeof(agentring_stats));
  EXPECT_EQ(old.canary, 0x7777u);
  const WriterStats w = GetWriterStats();
  EXPECT_EQ(old.s.span_starts_committed, w.span_starts_committed);
}

// ---- tests that record spans (forked children) ------------------------------------------------

TEST(CApi, NestedSpansWithKindsSuffixesAndAttributes) {
  RunInChild([](ChildEnv& env) {
    agentring_span run, turn, llm, tiny;
    Start(&run, "agent.run", AGENTRING_KIND_RUN);
    CHILD_EXPECT_EQ(env, agentring_span_is_recording(&run), 1);
    agentring_span_set_string(&run, "agent.name", 10, "CodingAgent", 11);
    agentring_span_set_int(&run, "agent.iteration", 15, -3);
    agentring_span_set_double(&run, "score", 5, 0.85);
    agentring_span_set_bool(&run, "llm.cached", 10, 1);
    // The current context is the innermost scoped span, and is restored at its end.
    agentring_context cur;
    CHILD_EXPECT_EQ(env, agentring_current_context(&cur), 1);
    CHILD_EXPECT_EQ(env, cur.span_id, ContextOf(&run).span_id);

    agentring_suffix three{AGENTRING_SUFFIX_INT, 0, 3, nullptr, 0};
    const std::string path = "/src/main.rs";
    agentring_attr attrs[4] = {StrAttr("tool.target", path), IntAttr("tool.bytes", 4096),
                               DoubleAttr("ratio", 0.25), BoolAttr("tool.cached", false)};
    agentring_span_start_with_attrs(&turn, "agent.turn", 10, AGENTRING_KIND_TURN, &three, nullptr,
                                    0, attrs, 4);
    agentring_suffix model{AGENTRING_SUFFIX_INTERNED, 0, 0, "gpt-4o", 6};
    Start(&llm, "chat", AGENTRING_KIND_LLM, &model);
    CHILD_EXPECT_EQ(env, agentring_current_context(&cur), 1);
    CHILD_EXPECT_EQ(env, cur.span_id, ContextOf(&llm).span_id);
    agentring_suffix inl{AGENTRING_SUFFIX_INLINE, 0, 0, "abcdefghij", 10};  // cut to 8 bytes
    Start(&tiny, "t", 200 /* out of range: custom */, &inl);
    agentring_span_end(&tiny);
    agentring_span_end(&llm);
    CHILD_EXPECT_EQ(env, agentring_current_context(&cur), 1);
    CHILD_EXPECT_EQ(env, cur.span_id, ContextOf(&turn).span_id);
    agentring_span_end(&turn);
    agentring_span_end(&run);
    CHILD_EXPECT_EQ(env, agentring_current_context(&cur), 0);

    Capture c = env.Drain();
    const CSpan* r = c.Find("agent.run");
    const CSpan* t = c.Find("agent.turn 3");
    const CSpan* l = c.Find("chat gpt-4o");
    const CSpan* x = c.Find("t abcdefgh");
    CHILD_REQUIRE(env, r && t && l && x);
    CHILD_EXPECT_EQ(env, c.spans.size(), 4u);
    CHILD_EXPECT_EQ(env, r->parent, 0u);
    CHILD_EXPECT_EQ(env, t->parent, r->span_id);
    CHILD_EXPECT_EQ(env, l->parent, t->span_id);
    CHILD_EXPECT_EQ(env, x->parent, l->span_id);
    CHILD_EXPECT_EQ(env, l->trace_lo, r->trace_lo);
    CHILD_EXPECT_EQ(env, l->trace_hi, r->trace_hi);
    CHILD_EXPECT_EQ(env, int{r->kind}, AGENTRING_KIND_RUN);
    CHILD_EXPECT_EQ(env, int{t->kind}, AGENTRING_KIND_TURN);
    CHILD_EXPECT_EQ(env, int{l->kind}, AGENTRING_KIND_LLM);
    CHILD_EXPECT_EQ(env, int{x->kind}, AGENTRING_KIND_CUSTOM);
    CHILD_EXPECT(env, r->ended && t->ended && l->ended && x->ended);
    CHILD_EXPECT_EQ(env, Capture::Attr(r, "agent.name"), "CodingAgent");
    CHILD_EXPECT_EQ(env, Capture::Attr(r, "agent.iteration"), "-3");
    CHILD_EXPECT_EQ(env, Capture::Attr(r, "score"), "0.85");
    CHILD_EXPECT_EQ(env, Capture::Attr(r, "llm.cached"), "true");
    CHILD_EXPECT_EQ(env, Capture::Attr(t, "tool.target"), "/src/main.rs");
    CHILD_EXPECT_EQ(env, Capture::Attr(t, "tool.bytes"), "4096");
    CHILD_EXPECT_EQ(env, Capture::Attr(t, "ratio"), "0.25");
    CHILD_EXPECT_EQ(env, Capture::Attr(t, "tool.cached"), "false");
    CHILD_EXPECT_EQ(env, c.orphans, 0);
    // The span contexts the C API reported are the recorded ids.
    CHILD_EXPECT_EQ(env, ContextOf(&run).span_id, 0u);  // ended: zero
  });
}

TEST(CApi, EventsStatusAndLinks) {
  RunInChild([](ChildEnv& env) {
    agentring_span source, tool;
    Start(&source, "handoff.source", AGENTRING_KIND_HANDOFF);
    const agentring_context src = ContextOf(&source);
    agentring_span_end(&source);

    Start(&tool, "execute_tool", AGENTRING_KIND_TOOL);
    agentring_attr ev[2] = {IntAttr("attempt", 2), StrAttr("reason", "timeout")};
    agentring_span_add_event(&tool, "retry", 5, ev, 2);
    agentring_span_add_event(&tool, "bare", 4, nullptr, 0);
    agentring_span_add_link(&tool, &src);
    agentring_context invalid{};
    agentring_span_add_link(&tool, &invalid);  // ignored
    agentring_span_add_link(&tool, nullptr);   // ignored
    agentring_span_set_status(&tool, AGENTRING_STATUS_ERROR, "permission denied", 17);
    agentring_span_set_status(&tool, 7, "unknown code", 12);  // ignored
    agentring_span_end(&tool);

    Capture c = env.Drain();
    const CSpan* t = c.Find("execute_tool");
    CHILD_REQUIRE(env, t != nullptr);
    CHILD_EXPECT_EQ(env, t->events.size(), 2u);
    if (t->events.size() == 2) {
      CHILD_EXPECT_EQ(env, t->events[0], "retry");
      CHILD_EXPECT_EQ(env, t->events[1], "bare");
    }
    CHILD_EXPECT_EQ(env, t->event_attrs.size(), 2u);
    if (t->event_attrs.size() == 2) {
      CHILD_EXPECT_EQ(env, t->event_attrs[0].first, "attempt");
      CHILD_EXPECT_EQ(env, t->event_attrs[0].second, "2");
      CHILD_EXPECT_EQ(env, t->event_attrs[1].second, "timeout");
    }
    CHILD_EXPECT_EQ(env, t->links.size(), 1u);
    CHILD_EXPECT_EQ(env, int{t->status}, AGENTRING_STATUS_ERROR);
    CHILD_EXPECT_EQ(env, t->status_message, "permission denied");
  });
}

TEST(CApi, ExplicitParentsAndDetachedSpans) {
  RunInChild([](ChildEnv& env) {
    agentring_span run, detached, after, under, root;
    Start(&run, "run", AGENTRING_KIND_RUN);
    const agentring_context run_ctx = ContextOf(&run);
    // Detached, implicit parent: a child of the current span that does not become current.
    Start(&detached, "detached", AGENTRING_KIND_TASK, nullptr, nullptr, AGENTRING_SPAN_DETACHED);
    agentring_context cur;
    agentring_current_context(&cur);
    CHILD_EXPECT_EQ(env, cur.span_id, run_ctx.span_id);
    Start(&after, "after", AGENTRING_KIND_CUSTOM);  // parent: run, not detached
    agentring_span_end(&after);
    // Explicit parent: the detached span, from another thread, which also ends it.
    const agentring_context det_ctx = ContextOf(&detached);
    std::thread worker([&] {
      agentring_span_start(&under, "under", 5, AGENTRING_KIND_TOOL, nullptr, &det_ctx, 0);
      agentring_span_end(&under);
      agentring_span_end(&detached);
      agentring_release_thread_lane();
    });
    worker.join();
    // A zero-filled explicit parent asks for a root even though `run` is current.
    agentring_context none{};
    Start(&root, "new.root", AGENTRING_KIND_RUN, nullptr, &none);
    const agentring_context root_ctx = ContextOf(&root);
    agentring_span_end(&root);
    agentring_span_end(&run);

    Capture c = env.Drain();
    const CSpan* r = c.Find("run");
    const CSpan* d = c.Find("detached");
    const CSpan* a = c.Find("after");
    const CSpan* u = c.Find("under");
    const CSpan* n = c.Find("new.root");
    CHILD_REQUIRE(env, r && d && a && u && n);
    CHILD_EXPECT_EQ(env, d->parent, r->span_id);
    CHILD_EXPECT_EQ(env, a->parent, r->span_id);
    CHILD_EXPECT_EQ(env, u->parent, d->span_id);
    CHILD_EXPECT_EQ(env, u->trace_lo, r->trace_lo);
    CHILD_EXPECT(env, d->ended && u->ended);
    CHILD_EXPECT_EQ(env, n->parent, 0u);
    CHILD_EXPECT(env, n->trace_lo != r->trace_lo);
    CHILD_EXPECT_EQ(env, n->span_id, root_ctx.span_id);
    CHILD_EXPECT_EQ(env, c.orphans, 0);
  });
}

TEST(CApi, LongAttributeArraysAreGroupedAndInvalidOnesSkipped) {
  RunInChild([](ChildEnv& env) {
    std::vector<std::string> keys;
    for (int i = 0; i < 100; ++i) keys.push_back("k" + std::to_string(i));
    std::vector<agentring_attr> attrs;
    for (int i = 0; i < 100; ++i) attrs.push_back(IntAttr(keys[i].c_str(), i));
    attrs[5].type = 0;   // unknown types: skipped
    attrs[40].type = 9;
    attrs[99].type = 77;
    agentring_attr null_strings = StrAttr("nulls", "");
    null_strings.str = nullptr;
    null_strings.str_len = 5;  // NULL reads as empty whatever the length
    attrs.push_back(null_strings);

    agentring_span big, set, ev, none;
    agentring_span_start_with_attrs(&big, "big", 3, AGENTRING_KIND_TOOL, nullptr, nullptr, 0,
                                    attrs.data(), attrs.size());
    agentring_span_end(&big);
    Start(&set, "set", AGENTRING_KIND_TOOL);
    agentring_span_set_attrs(&set, attrs.data(), 40);
    agentring_span_set_attrs(&set, nullptr, 10);  // ignored
    agentring_span_end(&set);
    Start(&ev, "ev", AGENTRING_KIND_TOOL);
    agentring_span_add_event(&ev, "many", 4, attrs.data() + 50, 40);
    agentring_span_end(&ev);
    // Only invalid attributes, or a NULL array: the span still starts.
    agentring_span_start_with_attrs(&none, "none", 4, AGENTRING_KIND_TOOL, nullptr, nullptr, 0,
                                    attrs.data() + 99, 1);
    agentring_span_end(&none);
    agentring_span_start_with_attrs(&none, "null.array", 10, AGENTRING_KIND_TOOL, nullptr,
                                    nullptr, 0, nullptr, 3);
    agentring_span_end(&none);

    Capture c = env.Drain();
    const CSpan* b = c.Find("big");
    const CSpan* s = c.Find("set");
    const CSpan* e = c.Find("ev");
    CHILD_REQUIRE(env, b && s && e && c.Find("none") && c.Find("null.array"));
    CHILD_EXPECT_EQ(env, b->attrs.size(), 98u);  // 100 - 3 invalid + "nulls"
    CHILD_EXPECT_EQ(env, Capture::Attr(b, "k0"), "0");
    CHILD_EXPECT_EQ(env, Capture::Attr(b, "k98"), "98");
    CHILD_EXPECT_EQ(env, Capture::Attr(b, "k5"), "<missing>");
    CHILD_EXPECT_EQ(env, Capture::Attr(b, "k40"), "<missing>");
    CHILD_EXPECT_EQ(env, Capture::Attr(b, "nulls"), "");
    // Attribute order is kept across groups.
    bool ordered = true;
    for (size_t i = 1; i + 1 < b->attrs.size(); ++i)
      ordered &= std::stoi(b->attrs[i].first.substr(1)) > std::stoi(b->attrs[i - 1].first.substr(1));
    CHILD_EXPECT(env, ordered);
    CHILD_EXPECT_EQ(env, s->attrs.size(), 39u);  // k0..k39 without k5
    CHILD_EXPECT_EQ(env, e->event_attrs.size(), size_t{AGENTRING_MAX_ATTRS_PER_GROUP});
    CHILD_EXPECT_EQ(env, c.Find("none")->attrs.size(), 0u);
  });
}

TEST(CApi, SamplerSwitchAndInheritedParent) {
  RunInChild([](ChildEnv& env) {
    agentring_span s;
    // Sampled out: started, not recorded, still a valid context.
    CHILD_EXPECT_EQ(env, agentring_set_sampler("always_off", 10, 1.0), 1);
    Start(&s, "sampled.out", AGENTRING_KIND_RUN);
    CHILD_EXPECT_EQ(env, agentring_span_is_recording(&s), 0);
    agentring_context ctx;
    CHILD_EXPECT_EQ(env, agentring_span_context(&s, &ctx), 1);
    CHILD_EXPECT_EQ(env, int{ctx.trace_flags}, 0);
    agentring_span_end(&s);
    CHILD_EXPECT_EQ(env, agentring_set_sampler("parentbased_always_on", 21, 1.0), 1);

    // Switched off: nothing recorded, no context.
    agentring_set_enabled(0);
    CHILD_EXPECT_EQ(env, agentring_is_enabled(), 0);
    Start(&s, "disabled", AGENTRING_KIND_RUN);
    CHILD_EXPECT_EQ(env, agentring_span_context(&s, &ctx), 0);
    agentring_span_end(&s);
    agentring_set_enabled(1);
    CHILD_EXPECT_EQ(env, agentring_is_enabled(), 1);

    // Inherited parent: roots join the remote trace; cleared: new traces.
    const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    agentring_context remote;
    CHILD_EXPECT_EQ(env, agentring_context_from_traceparent(tp.data(), tp.size(), &remote), 1);
    agentring_set_inherited_parent(&remote);
    Start(&s, "inherits", AGENTRING_KIND_RUN);
    agentring_span_end(&s);
    agentring_clear_inherited_parent();
    Start(&s, "fresh", AGENTRING_KIND_RUN);
    agentring_span_end(&s);
    agentring_set_inherited_parent(&remote);
    agentring_set_inherited_parent(nullptr);  // NULL clears too
    Start(&s, "fresh2", AGENTRING_KIND_RUN);
    agentring_span_end(&s);

    // Reusing ended storage, and ending twice, are fine.
    Start(&s, "reused", AGENTRING_KIND_RUN);
    agentring_span_end(&s);
    agentring_span_end(&s);
    agentring_span_set_int(&s, "after.end", 9, 1);  // no-op

    Capture c = env.Drain();
    CHILD_EXPECT(env, c.Find("sampled.out") == nullptr);
    CHILD_EXPECT(env, c.Find("disabled") == nullptr);
    const CSpan* in = c.Find("inherits");
    const CSpan* fr = c.Find("fresh");
    const CSpan* fr2 = c.Find("fresh2");
    const CSpan* re = c.Find("reused");
    CHILD_REQUIRE(env, in && fr && fr2 && re);
    CHILD_EXPECT_EQ(env, in->parent, 0x00f067aa0ba902b7ull);
    CHILD_EXPECT_EQ(env, in->trace_hi, 0x4bf92f3577b34da6ull);
    CHILD_EXPECT_EQ(env, in->trace_lo, 0xa3ce929d0e0e4736ull);
    CHILD_EXPECT_EQ(env, fr->parent, 0u);
    CHILD_EXPECT_EQ(env, fr2->parent, 0u);
    CHILD_EXPECT_EQ(env, re->attrs.size(), 0u);
    CHILD_EXPECT_EQ(env, c.spans.size(), 4u);

    agentring_stats st{};
    st.struct_size = sizeof(st);
    CHILD_EXPECT_EQ(env, agentring_get_stats(&st), 1);
    CHILD_EXPECT_EQ(env, st.struct_size, sizeof(st));
    CHILD_EXPECT_EQ(env, st.span_starts_committed, 4u);
    CHILD_EXPECT_EQ(env, st.spans_head_sampled_out, 1u);
    CHILD_EXPECT_EQ(env, st.spans_started,
                    st.span_starts_committed + st.span_starts_dropped_full +
                        st.span_starts_dropped_too_big + st.span_starts_dropped_no_lane +
                        st.span_starts_dropped_no_segment + st.spans_head_sampled_out);
    CHILD_EXPECT_EQ(env, st.records_dropped, 0u);
  });
}

}  // namespace
}  // namespace agentring
