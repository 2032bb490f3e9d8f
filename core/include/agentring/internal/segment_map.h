// A mapping of an agentring segment, shared by the writer and the reader: opening and checking an
// existing segment, creating one (reader only), and the OFD byte locks that carry liveness.
// Boost.Interprocess is used in segment_map.cc only.
#ifndef AGENTRING_INTERNAL_SEGMENT_MAP_H_
#define AGENTRING_INTERNAL_SEGMENT_MAP_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agentring/abi/segment.h"

namespace agentring::internal {

// "/agentring.<name>". Names may use [A-Za-z0-9._-], 1..200 characters.
std::string ShmName(std::string_view segment);
bool IsValidSegmentName(std::string_view segment);

// Checks a header read from a mapped segment of `file_bytes` bytes against this build. Returns
// "" when compatible, otherwise one line naming both versions or the mismatched size.
std::string CheckHeader(const abi::SegmentHeader& h, uint64_t file_bytes);

// Result codes of SegmentMap::Open / Create.
enum class OpenStatus {
  kOk,
  kMissing,        // no such segment
  kIncompatible,   // another ABI or geometry; message says which
  kForeignOwner,   // owned by another user (and OpenOptions::allow_foreign_owner not set)
  kBusy,           // (Create) an incompatible segment still mapped by a live process
  kError,          // a system call failed; message says which
};

struct OpenOptions {
  // A segment whose shm file belongs to another user is refused (kForeignOwner) unless this is
  // set: its owner could read every trace written into it, or feed the reader hostile bytes.
  bool allow_foreign_owner = false;
};

// "uid 65534 (nobody)": a uid with its user name when the system knows one.
std::string DescribeUid(uint32_t uid);

class SegmentMap {
 public:
  // Opens and maps an existing segment read-write and checks its owner and header.
  // Thread-compatible.
  static std::unique_ptr<SegmentMap> Open(std::string_view segment, OpenStatus* status,
                                          std::string* error, const OpenOptions& opts = {});
  struct CreateOptions {
    abi::Geometry geometry;
    uint32_t full_policy = abi::kFullDrop;
    uint32_t mode = 0600;
    int64_t group_gid = -1;            // >= 0: chown the shm file to this group (mode 0660)
    bool replace_incompatible = true;  // only when no live process maps it
    // When attaching to an existing compatible segment: refuse (kIncompatible) if its full
    // policy is not `full_policy` (set when the policy was asked for explicitly).
    bool require_full_policy = false;
    OpenOptions open;                  // for attaching to an existing segment
  };
  // Creates a segment (or attaches to a compatible existing one). Reserves its bytes with
  // posix_fallocate so a full tmpfs is an error here, never a SIGBUS later; calibrates the clock;
  // publishes the header with a release-store of the magic. `created` tells which happened.
  static std::unique_ptr<SegmentMap> Create(std::string_view segment, const CreateOptions& opts,
                                            bool* created, OpenStatus* status, std::string* error);
  // Removes the segment name (mappings stay valid until unmapped). Returns false if missing.
  static bool Remove(std::string_view segment);

  ~SegmentMap();

  abi::SegmentHeader* header() const { return header_; }
  uint8_t* base() const { return base_; }
  uint64_t size_bytes() const { return size_; }
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

  // Geometry validated at Open/Create, kept here: the header's copy lives in shared memory
  // where any process can scribble it later, so nothing reads those fields again.
  uint32_t lane_count() const { return geometry_.lane_count; }
  uint32_t lane_capacity_records() const { return geometry_.lane_capacity_records; }
  uint32_t process_slot_count() const { return geometry_.process_slot_count; }
  uint32_t string_block_bytes() const { return geometry_.string_block_bytes; }
  uint32_t full_policy() const { return full_policy_; }  // abi::FullPolicy, validated

  abi::LaneSlot* lane_slot(uint32_t i) const {
    return reinterpret_cast<abi::LaneSlot*>(base_ + layout_.lane_table_offset) + i;
  }
  uint8_t* lane_records(uint32_t i) const {
    return base_ + layout_.lanes_offset + uint64_t{i} * layout_.lane_bytes;
  }
  abi::ProcessSlot* process_slot(uint32_t p) const {
    return reinterpret_cast<abi::ProcessSlot*>(base_ + layout_.process_table_offset) + p;
  }
  uint8_t* string_block(uint32_t p) const {
    return base_ + layout_.string_area_offset + uint64_t{p} * geometry_.string_block_bytes;
  }

  // Byte locks (open-file-description locks, so they belong to this mapping's open file and
  // conflict with every other process's; they vanish when the process dies). Non-blocking.
  bool TryLockByte(uint64_t byte, bool exclusive);
  void UnlockByte(uint64_t byte);
  // True when some other open file description holds a lock on `byte` that conflicts with a
  // write lock (i.e. the owner is alive).
  bool IsByteLocked(uint64_t byte);

  // For a forked child: forget the inherited mapping and descriptor without touching the
  // parent's locks (closes this process's reference to the shared open file description).
  void AbandonAfterFork();

 private:
  SegmentMap() = default;
  struct Impl;
  Impl* impl_ = nullptr;  // Boost objects
  abi::SegmentHeader* header_ = nullptr;
  abi::Geometry geometry_{};
  abi::Layout layout_{};
  uint32_t full_policy_ = abi::kFullDrop;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  int fd_ = -1;
  std::string name_;
};

// "drop" / "overwrite" (nullptr for an unknown value), and the reverse (false if unknown).
const char* FullPolicyName(uint32_t policy);
bool ParseFullPolicy(std::string_view name, uint32_t* policy);

// Wall clock and the writer's clock.
uint64_t NowUnixNs();
uint64_t NowMonotonicNs();

}  // namespace agentring::internal

#endif  // AGENTRING_INTERNAL_SEGMENT_MAP_H_
