// Content capture for the agent helpers (agent.hpp): the switch read once from the environment,
// the clip limit, and clipping at code-point boundaries into a reused thread-local buffer.
#include "agentring/agent.hpp"

#include <strings.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <new>

namespace agentring {
namespace internal {

std::atomic<int8_t> g_capture_content{-1};

namespace {

std::atomic<uint32_t> g_capture_max_chars{kDefaultCaptureMaxChars};
std::once_flag g_capture_env_once;

// Upper bound on the limit: far above what one ring record group can carry (the writer clips
// again in bytes), low enough that the thread-local buffer stays sane.
constexpr uint32_t kMaxCaptureMaxChars = 1u << 24;

bool EqualsAny(const char* v, std::initializer_list<const char*> words) {
  for (const char* w : words)
    if (strcasecmp(v, w) == 0) return true;
  return false;
}

// AGENTRING_CAPTURE_CONTENT wins when set (on or off); otherwise the OpenTelemetry GenAI
// instrumentation variable (whose newer values name where content goes: any mode that puts it
// on spans counts as on).
void ReadCaptureEnv() {
  int8_t on = 0;
  const char* a = getenv("AGENTRING_CAPTURE_CONTENT");
  if (a != nullptr && *a != '\0') {
    if (EqualsAny(a, {"1", "true", "yes", "on"})) {
      on = 1;
    } else if (!EqualsAny(a, {"0", "false", "no", "off"})) {
      fprintf(stderr, "agentring: ignoring AGENTRING_CAPTURE_CONTENT=%s (use 1 or 0)\n", a);
    }
  } else if (const char* o = getenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT");
             o != nullptr && *o != '\0') {
    on = EqualsAny(o, {"true", "1", "span_only", "span_and_event"}) ? 1 : 0;
  }
  if (const char* m = getenv("AGENTRING_CAPTURE_MAX_CHARS"); m != nullptr && *m != '\0') {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = strtoull(m, &end, 10);
    if (errno != 0 || end == m || *end != '\0' || v < kMinCaptureMaxChars ||
        v > kMaxCaptureMaxChars) {
      fprintf(stderr,
              "agentring: ignoring AGENTRING_CAPTURE_MAX_CHARS=%s (want %u..%u code points)\n", m,
              kMinCaptureMaxChars, kMaxCaptureMaxChars);
    } else {
      g_capture_max_chars.store(static_cast<uint32_t>(v), std::memory_order_relaxed);
    }
  }
  // Only the first setting sticks: SetContentCapture() before this ran already stored 0/1.
  int8_t unset = -1;
  g_capture_content.compare_exchange_strong(unset, on, std::memory_order_relaxed);
}

void EnsureCaptureEnv() noexcept {
  try {
    std::call_once(g_capture_env_once, ReadCaptureEnv);
  } catch (...) {  // call_once reports pthread failures as exceptions: leave capture off
    int8_t unset = -1;
    g_capture_content.compare_exchange_strong(unset, 0, std::memory_order_relaxed);
  }
}

inline bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

size_t CountCodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += IsContinuation(c) ? 0 : 1;
  return n;
}

// The clipped form's pieces: s[0, head_end) + marker + s[tail_begin, size).
struct ClipPlan {
  size_t head_end = 0;
  size_t tail_begin = 0;
  size_t elided = 0;  // code points
};

// Plans the clip of `s` (of `n` > max_chars code points): 70% of the limit for the head, the
// limit minus the head and a 32-code-point reserve for the marker for the tail, so that the
// result has at most max_chars code points ("…[" and " chars elided]…" are 17 of them; the count
// has at most 15 digits).
ClipPlan PlanClip(std::string_view s, size_t n, size_t max_chars) {
  constexpr size_t kMarkerReserve = 32;
  ClipPlan plan;
  const size_t head = max_chars * 7 / 10;
  const size_t tail = max_chars > head + kMarkerReserve ? max_chars - head - kMarkerReserve : 0;
  plan.elided = n - head - tail;
  // head_end: the start of code point number `head` (the first one left out).
  size_t seen = 0;
  plan.head_end = s.size();
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsContinuation(static_cast<unsigned char>(s[i]))) continue;
    if (seen == head) {
      plan.head_end = i;
      break;
    }
    ++seen;
  }
  // tail_begin: the start of the tail-th code point from the end.
  plan.tail_begin = s.size();
  size_t from_end = 0;
  for (size_t i = s.size(); i > plan.head_end && from_end < tail;) {
    --i;
    if (!IsContinuation(static_cast<unsigned char>(s[i]))) {
      ++from_end;
      plan.tail_begin = i;
    }
  }
  return plan;
}

void AppendClipped(std::string_view s, const ClipPlan& plan, std::string* out) {
  char marker[48];
  int m = snprintf(marker, sizeof(marker), "\xE2\x80\xA6[%zu chars elided]\xE2\x80\xA6",
                   plan.elided);
  out->append(s.data(), plan.head_end);
  out->append(marker, static_cast<size_t>(m));
  out->append(s.data() + plan.tail_begin, s.size() - plan.tail_begin);
}

// The clip buffer of this thread: it grows to the largest clipped value and is then reused.
thread_local std::string t_clip_buffer;

}  // namespace

int8_t InitContentCapture() noexcept {
  EnsureCaptureEnv();
  return g_capture_content.load(std::memory_order_relaxed);
}

std::string_view ClipForCapture(std::string_view value) noexcept {
  const size_t max_chars = ContentCaptureMaxChars();
  // Fewer bytes than the limit means fewer code points: the common case costs no scan.
  if (value.size() <= max_chars) return value;
  const size_t n = CountCodePoints(value);
  if (n <= max_chars) return value;
  const ClipPlan plan = PlanClip(value, n, max_chars);
  std::string& buf = t_clip_buffer;
  try {
    buf.clear();  // keeps the capacity
    AppendClipped(value, plan, &buf);
  } catch (const std::bad_alloc&) {
    return "\xE2\x80\xA6[content dropped: out of memory]\xE2\x80\xA6";
  }
  return buf;
}

}  // namespace internal

void SetContentCapture(bool enabled) noexcept {
  internal::EnsureCaptureEnv();  // so that a later first read cannot overwrite this
  internal::g_capture_content.store(enabled ? 1 : 0, std::memory_order_relaxed);
}

void SetContentCaptureMaxChars(uint32_t max_chars) noexcept {
  internal::EnsureCaptureEnv();
  if (max_chars < kMinCaptureMaxChars) max_chars = kMinCaptureMaxChars;
  if (max_chars > internal::kMaxCaptureMaxChars) max_chars = internal::kMaxCaptureMaxChars;
  internal::g_capture_max_chars.store(max_chars, std::memory_order_relaxed);
}

uint32_t ContentCaptureMaxChars() noexcept {
  internal::EnsureCaptureEnv();
  return internal::g_capture_max_chars.load(std::memory_order_relaxed);
}

size_t ClipContent(std::string_view value, size_t max_chars, std::string* out) {
  if (max_chars < kMinCaptureMaxChars) max_chars = kMinCaptureMaxChars;
  const size_t n = internal::CountCodePoints(value);
  out->clear();
  if (n <= max_chars) {
    out->assign(value);
    return 0;
  }
  const internal::ClipPlan plan = internal::PlanClip(value, n, max_chars);
  internal::AppendClipped(value, plan, out);
  return plan.elided;
}

}  // namespace agentring
