// Converts writer clock readings (TSC ticks or CLOCK_MONOTONIC ns, as the segment header says)
// into wall-clock Unix nanoseconds. The header's calibration is the starting point; the reader
// refines the tick rate against CLOCK_MONOTONIC over its own lifetime (a longer baseline is a
// better estimate) and anchors wall-clock time at its own start.
#ifndef AGENTRING_READER_DRAIN_TICK_CLOCK_H_
#define AGENTRING_READER_DRAIN_TICK_CLOCK_H_

#include <cstdint>

#include "agentring/abi/segment.h"

namespace agentring::reader {

class TickClock {
 public:
  // Uses the header's clock source and calibration. Not thread-safe: the pipeline thread owns it.
  explicit TickClock(const abi::SegmentHeader& h);
  uint64_t ToUnixNs(uint64_t ticks) const;
  // Re-measures the tick rate if enough time has passed since the last refinement.
  void Refine();
  double ticks_per_ns() const { return ticks_per_ns_; }

 private:
  bool tsc_;
  uint64_t anchor_ticks_;
  uint64_t anchor_unix_ns_;
  uint64_t base_ticks_;   // refinement baseline
  uint64_t base_mono_ns_;
  uint64_t last_refine_mono_ns_;
  double ticks_per_ns_;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_DRAIN_TICK_CLOCK_H_
