// The writer process the assembler tests feed groups from: one process (pid 4242, slot 5,
// generation 3, service "svc") whose clock ticks are nanoseconds, and the GroupContext its
// groups arrive with. Test fixtures derive from it; members keep the names the tests use.
#ifndef AGENTRING_TESTS_UNIT_SYNTHETIC_WRITER_H_
#define AGENTRING_TESTS_UNIT_SYNTHETIC_WRITER_H_

#include <memory>

#include "reader/drain/segment_reader.h"

namespace agentring::reader {

class SyntheticWriter {
 protected:
  SyntheticWriter() {
    header_ = std::make_unique<abi::SegmentHeader>();
    header_->clock_source = abi::kClockMonotonicNs;  // ticks are nanoseconds
    clock_ = std::make_unique<TickClock>(*header_);
    process_.active = true;
    process_.generation = 3;
    process_.info = std::make_shared<ProcessInfo>();
    process_.info->pid = 4242;
    process_.info->slot = 5;
    process_.info->generation = 3;
    process_.info->service_name = "svc";
    process_.info->resource = {{"service.name", "svc"}};
    ctx_ = GroupContext{0, 7, &process_, clock_.get(), &pool_};
  }
  SyntheticWriter(const SyntheticWriter&) = delete;  // ctx_ points into this object
  SyntheticWriter& operator=(const SyntheticWriter&) = delete;

  std::unique_ptr<abi::SegmentHeader> header_;
  std::unique_ptr<TickClock> clock_;
  StringPool pool_;
  ProcessState process_;
  GroupContext ctx_{};
};

}  // namespace agentring::reader

#endif  // AGENTRING_TESTS_UNIT_SYNTHETIC_WRITER_H_
