// Tunables of the writer, read from the environment once per process. Constraints are asserted
// here and checked when the environment is parsed (bad values are ignored with one warning).
#ifndef AGENTRING_INTERNAL_WRITER_CONFIG_H_
#define AGENTRING_INTERNAL_WRITER_CONFIG_H_

#include <cstdint>

#include "agentring/abi/records.h"

namespace agentring::internal {

struct WriterConfig {
  // AGENTRING_MAX_ATTR_BYTES: a string attribute, event attribute or status message longer than
  // this is clipped at a UTF-8 code-point boundary, keeping ~70% head and the tail around an
  // "…[N bytes elided]…" marker.
  uint32_t max_string_bytes = 16 * 1024;

  // AGENTRING_ALLOW_FOREIGN_OWNER=1: attach to a segment whose shm file belongs to another user
  // (refused by default: that user could read every trace written into it).
  bool allow_foreign_owner = false;

  // The largest value that still fits one record group.
  static constexpr uint32_t kMaxStringBytesLimit =
      abi::kInlineStringBytes + (abi::kMaxGroupRecords - 2) * abi::kContPayloadBytes;
};
static_assert(WriterConfig{}.max_string_bytes <= WriterConfig::kMaxStringBytesLimit);
static_assert(abi::ContRecordsFor(WriterConfig::kMaxStringBytesLimit) + 2 <= abi::kMaxGroupRecords);

// Tests only: changes the clip size for this process and the calling thread (normally read
// once from AGENTRING_MAX_ATTR_BYTES). Values outside [64, kMaxStringBytesLimit] are ignored.
void SetMaxStringBytesForTesting(uint32_t bytes) noexcept;

}  // namespace agentring::internal

#endif  // AGENTRING_INTERNAL_WRITER_CONFIG_H_
