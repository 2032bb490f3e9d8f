// TickClock: writer ticks -> Unix nanoseconds (see tick_clock.h).
#include "reader/drain/tick_clock.h"

#include <x86intrin.h>

#include "agentring/internal/segment_map.h"

namespace agentring::reader {

TickClock::TickClock(const abi::SegmentHeader& h) {
  tsc_ = h.clock_source == abi::kClockTsc;
  if (!tsc_) {
    ticks_per_ns_ = 1.0;
    anchor_ticks_ = internal::NowMonotonicNs();
    anchor_unix_ns_ = internal::NowUnixNs();
    return;
  }
  ticks_per_ns_ = h.ticks_per_second > 0 ? static_cast<double>(h.ticks_per_second) / 1e9 : 1.0;
  // Anchor wall-clock time now (the creator's anchor may be hours old; the rate matters more).
  anchor_ticks_ = __rdtsc();
  anchor_unix_ns_ = internal::NowUnixNs();
  // The refinement baseline is our own first sample (the creator's has no monotonic reading).
  base_ticks_ = anchor_ticks_;
  base_mono_ns_ = internal::NowMonotonicNs();
  last_refine_mono_ns_ = base_mono_ns_;
}

uint64_t TickClock::ToUnixNs(uint64_t ticks) const {
  if (!tsc_) {
    int64_t d = static_cast<int64_t>(ticks - anchor_ticks_);
    return anchor_unix_ns_ + static_cast<uint64_t>(d);
  }
  int64_t d = static_cast<int64_t>(ticks - anchor_ticks_);
  double ns = static_cast<double>(d) / ticks_per_ns_;
  // A hostile timestamp or header rate can put ns outside int64, and converting such a double
  // is undefined (UBSan float-cast-overflow, found by tests/fuzz): clamp (NaN included).
  constexpr double kLimit = 9.2e18;
  if (!(ns < kLimit)) ns = kLimit;
  if (!(ns > -kLimit)) ns = -kLimit;
  return anchor_unix_ns_ + static_cast<uint64_t>(static_cast<int64_t>(ns));
}

void TickClock::Refine() {
  if (!tsc_) return;
  uint64_t now = internal::NowMonotonicNs();
  if (now - last_refine_mono_ns_ < 1'000'000'000ull) return;
  last_refine_mono_ns_ = now;
  uint64_t ticks = __rdtsc();
  uint64_t dns = now - base_mono_ns_;
  if (dns < 2'000'000'000ull || ticks <= base_ticks_) return;  // need a 2 s baseline at least
  double rate = static_cast<double>(ticks - base_ticks_) / static_cast<double>(dns);
  // Keep the wall-clock reading continuous at `ticks` while changing the rate.
  uint64_t unix_at_ticks = ToUnixNs(ticks);
  ticks_per_ns_ = rate;
  anchor_ticks_ = ticks;
  anchor_unix_ns_ = unix_at_ticks;
}

}  // namespace agentring::reader
