// Mapping, creation and byte locks of an agentring segment (see agentring/abi/segment.h).
#include "agentring/internal/segment_map.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstring>
#include <new>
#include <thread>

namespace agentring::internal {
namespace bip = boost::interprocess;

struct SegmentMap::Impl {
  bip::shared_memory_object shm;
  bip::mapped_region region;
};

namespace {

std::string BoostName(std::string_view segment) {
  return std::string("agentring.") + std::string(segment);
}

std::string Version(uint16_t major, uint16_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

// Measures the TSC rate against CLOCK_MONOTONIC over ~20 ms. The reader refines its own estimate
// over a longer baseline; this value lets any tool convert timestamps without one.
void CalibrateClock(abi::SegmentHeader* h) {
  h->clock_source = abi::kClockTsc;
  uint64_t m0 = NowMonotonicNs();
  uint64_t c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint64_t m1 = NowMonotonicNs();
  uint64_t c1 = __rdtsc();
  uint64_t u1 = NowUnixNs();
  if (c1 <= c0 || m1 <= m0) {  // no usable TSC: fall back to the monotonic clock
    h->clock_source = abi::kClockMonotonicNs;
    h->ticks_per_second = 1000000000ull;
    h->calib_ticks = NowMonotonicNs();
    h->calib_unix_ns = NowUnixNs();
    return;
  }
  h->ticks_per_second =
      static_cast<uint64_t>(static_cast<double>(c1 - c0) * 1e9 / static_cast<double>(m1 - m0));
  h->calib_ticks = c1;
  h->calib_unix_ns = u1;
}

void InitHeader(abi::SegmentHeader* h, const SegmentMap::CreateOptions& o, const abi::Layout& l) {
  h->abi_major = abi::kAbiMajor;
  h->abi_minor = abi::kAbiMinor;
  h->header_bytes = abi::kHeaderBytes;
  h->record_bytes = abi::kRecordBytes;
  h->lane_slot_bytes = abi::kLaneSlotBytes;
  h->process_slot_bytes = abi::kProcessSlotBytes;
  h->lane_count = o.geometry.lane_count;
  h->lane_capacity_records = o.geometry.lane_capacity_records;
  h->process_slot_count = o.geometry.process_slot_count;
  h->string_block_bytes = o.geometry.string_block_bytes;
  h->full_policy = o.full_policy;
  h->lane_table_offset = l.lane_table_offset;
  h->process_table_offset = l.process_table_offset;
  h->string_area_offset = l.string_area_offset;
  h->lanes_offset = l.lanes_offset;
  h->total_bytes = l.total_bytes;
  h->feature_flags = abi::kFeatureFoldedTotals;
  h->creator_uid = static_cast<uint32_t>(geteuid());
  CalibrateClock(h);
}

}  // namespace

bool IsValidSegmentName(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return s != "." && s != "..";
}

std::string ShmName(std::string_view segment) { return "/" + BoostName(segment); }

std::string DescribeUid(uint32_t uid) {
  std::string out = "uid " + std::to_string(uid);
  passwd pw{};
  passwd* found = nullptr;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr)
    out += std::string(" (") + found->pw_name + ")";
  return out;
}

const char* FullPolicyName(uint32_t policy) {
  switch (policy) {
    case abi::kFullDrop: return "drop";
    case abi::kFullOverwrite: return "overwrite";
    default: return nullptr;
  }
}

bool ParseFullPolicy(std::string_view name, uint32_t* policy) {
  if (name == "drop") {
    *policy = abi::kFullDrop;
  } else if (name == "overwrite") {
    *policy = abi::kFullOverwrite;
  } else {
    return false;
  }
  return true;
}

uint64_t NowUnixNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t NowMonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string CheckHeader(const abi::SegmentHeader& h, uint64_t file_bytes) {
  if (file_bytes < abi::kHeaderBytes) return "segment is too small to hold a header";
  uint64_t magic = h.magic.load(std::memory_order_acquire);  // acquire: pairs with the
                                                              // creator's release in Create
  if (magic != abi::kMagic) return "segment has no agentring header (bad magic)";
  if (h.abi_major != abi::kAbiMajor)
    return "segment speaks agentring ABI " + Version(h.abi_major, h.abi_minor) +
           ", this build speaks ABI " + Version(abi::kAbiMajor, abi::kAbiMinor);
  if (h.header_bytes != abi::kHeaderBytes || h.record_bytes != abi::kRecordBytes ||
      h.lane_slot_bytes != abi::kLaneSlotBytes || h.process_slot_bytes != abi::kProcessSlotBytes)
    return "segment was built with other struct sizes (ABI " + Version(h.abi_major, h.abi_minor) +
           "), this build uses ABI " + Version(abi::kAbiMajor, abi::kAbiMinor);
  abi::Geometry g{h.lane_count, h.lane_capacity_records, h.process_slot_count,
                  h.string_block_bytes};
  if (const char* bad = g.Validate()) return std::string("segment geometry is invalid: ") + bad;
  abi::Layout l = abi::ComputeLayout(g);
  if (l.lane_table_offset != h.lane_table_offset ||
      l.process_table_offset != h.process_table_offset ||
      l.string_area_offset != h.string_area_offset || l.lanes_offset != h.lanes_offset ||
      l.total_bytes != h.total_bytes)
    return "segment header offsets disagree with its geometry";
  if (file_bytes < l.total_bytes) return "segment file is shorter than its header says";
  if (h.clock_source != abi::kClockTsc && h.clock_source != abi::kClockMonotonicNs)
    return "segment names an unknown clock source";
  if (h.full_policy > abi::kFullPolicyMax)
    return "segment uses full-lane policy " + std::to_string(h.full_policy) +
           ", unknown to this build (ABI " + Version(abi::kAbiMajor, abi::kAbiMinor) + ")";
  return "";
}

std::unique_ptr<SegmentMap> SegmentMap::Open(std::string_view segment, OpenStatus* status,
                                             std::string* error, const OpenOptions& opts) {
  *status = OpenStatus::kError;
  if (!IsValidSegmentName(segment)) {
    *error = "invalid segment name '" + std::string(segment) + "' (use letters, digits, . _ -)";
    return nullptr;
  }
  std::unique_ptr<SegmentMap> m(new SegmentMap());
  m->name_ = std::string(segment);
  try {
    auto* impl = new Impl{bip::shared_memory_object(bip::open_only, BoostName(segment).c_str(),
                                                    bip::read_write),
                          bip::mapped_region()};
    m->impl_ = impl;
    m->fd_ = impl->shm.get_mapping_handle().handle;
    struct stat st {};
    if (fstat(m->fd_, &st) != 0) {
      *error = std::string("cannot stat segment: ") + strerror(errno);
      return nullptr;
    }
    if (st.st_uid != geteuid() && !opts.allow_foreign_owner) {
      *status = OpenStatus::kForeignOwner;
      *error = "segment '" + m->name_ + "' is owned by " + DescribeUid(st.st_uid) +
               ", not by this user (" + DescribeUid(geteuid()) + ")";
      return nullptr;
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size < abi::kHeaderBytes) {
      *status = OpenStatus::kIncompatible;
      *error = "segment '" + m->name_ + "' is too small to be an agentring segment";
      return nullptr;
    }
    impl->region = bip::mapped_region(impl->shm, bip::read_write, 0, size);
    m->base_ = static_cast<uint8_t*>(impl->region.get_address());
    m->size_ = size;
    m->header_ = reinterpret_cast<abi::SegmentHeader*>(m->base_);
    std::string why = CheckHeader(*m->header_, size);
    if (!why.empty()) {
      *status = OpenStatus::kIncompatible;
      *error = "segment '" + m->name_ + "': " + why;
      return nullptr;
    }
    // Copy the geometry CheckHeader just validated; re-check it (the header may change under
    // us) and derive the layout from the copy, never from the header again.
    const abi::SegmentHeader& h = *m->header_;
    m->geometry_ = abi::Geometry{h.lane_count, h.lane_capacity_records, h.process_slot_count,
                                 h.string_block_bytes};
    m->layout_ = abi::ComputeLayout(m->geometry_);
    m->full_policy_ = h.full_policy;
    if (m->geometry_.Validate() != nullptr || m->layout_.total_bytes > size ||
        m->full_policy_ > abi::kFullPolicyMax) {
      *status = OpenStatus::kIncompatible;
      *error = "segment '" + m->name_ + "': header changed while it was being opened";
      return nullptr;
    }
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) {
      *status = OpenStatus::kMissing;
      *error = "no segment named '" + std::string(segment) + "'";
    } else {
      *error = "cannot open segment '" + std::string(segment) + "': " + e.what();
    }
    return nullptr;
  }
  // Every process that maps the segment holds a shared lock on kMappedLockByte (see segment.h).
  m->TryLockByte(abi::kMappedLockByte, /*exclusive=*/false);
  *status = OpenStatus::kOk;
  return m;
}

std::unique_ptr<SegmentMap> SegmentMap::Create(std::string_view segment,
                                               const CreateOptions& opts, bool* created,
                                               OpenStatus* status, std::string* error) {
  *created = false;
  *status = OpenStatus::kError;
  if (!IsValidSegmentName(segment)) {
    *error = "invalid segment name '" + std::string(segment) + "' (use letters, digits, . _ -)";
    return nullptr;
  }
  if (const char* bad = opts.geometry.Validate()) {
    *error = std::string("invalid segment geometry: ") + bad;
    return nullptr;
  }
  if (opts.full_policy > abi::kFullPolicyMax) {
    *error = "invalid full-lane policy " + std::to_string(opts.full_policy);
    return nullptr;
  }
  const abi::Layout layout = abi::ComputeLayout(opts.geometry);
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<SegmentMap> m(new SegmentMap());
    m->name_ = std::string(segment);
    try {
      auto* impl = new Impl{bip::shared_memory_object(bip::create_only, BoostName(segment).c_str(),
                                                      bip::read_write, bip::permissions(opts.mode)),
                            bip::mapped_region()};
      m->impl_ = impl;
      m->fd_ = impl->shm.get_mapping_handle().handle;
      if (opts.group_gid >= 0 &&
          fchown(m->fd_, static_cast<uid_t>(-1), static_cast<gid_t>(opts.group_gid)) != 0) {
        int e = errno;
        Remove(segment);
        *error = "cannot give segment '" + m->name_ + "' to group " +
                 std::to_string(opts.group_gid) + ": " + strerror(e) +
                 (e == EPERM ? " (you must be a member of the group)" : "");
        return nullptr;
      }
      fchmod(m->fd_, opts.mode);  // Boost applies the umask on some paths; be exact
      int rc = posix_fallocate(m->fd_, 0, static_cast<off_t>(layout.total_bytes));
      if (rc != 0) {
        Remove(segment);
        *error = "cannot reserve " + std::to_string(layout.total_bytes >> 20) +
                 " MiB for segment '" + m->name_ + "' in /dev/shm: " + strerror(rc) +
                 " (make it smaller with --lanes / --lane-kib)";
        return nullptr;
      }
      impl->region = bip::mapped_region(impl->shm, bip::read_write, 0, layout.total_bytes);
      m->base_ = static_cast<uint8_t*>(impl->region.get_address());
      m->size_ = layout.total_bytes;
      m->header_ = reinterpret_cast<abi::SegmentHeader*>(m->base_);
      m->geometry_ = opts.geometry;
      m->layout_ = layout;
      m->full_policy_ = opts.full_policy;
      InitHeader(m->header_, opts, layout);
      // release: publishes every header field written above; pairs with the acquire in
      // CheckHeader.
      m->header_->magic.store(abi::kMagic, std::memory_order_release);
      m->TryLockByte(abi::kMappedLockByte, false);
      *created = true;
      *status = OpenStatus::kOk;
      return m;
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::already_exists_error) {
        *error = "cannot create segment '" + std::string(segment) + "': " + e.what();
        return nullptr;
      }
    }
    // It exists: attach if compatible. A creator that is still initialising gets 1 s.
    std::string why;
    for (int wait = 0; wait < 100; ++wait) {
      auto existing = Open(segment, status, &why, opts.open);
      if (existing) {
        if (opts.require_full_policy && existing->full_policy() != opts.full_policy) {
          *status = OpenStatus::kIncompatible;
          *error = "segment '" + std::string(segment) + "' already exists with full policy '" +
                   FullPolicyName(existing->full_policy()) + "', not '" +
                   (FullPolicyName(opts.full_policy) ? FullPolicyName(opts.full_policy) : "?") +
                   "' (remove it first with `agentring rm " + std::string(segment) + "`)";
          return nullptr;
        }
        return existing;
      }
      if (*status != OpenStatus::kIncompatible) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (*status == OpenStatus::kMissing) continue;  // removed meanwhile: create again
    if (*status != OpenStatus::kIncompatible || !opts.replace_incompatible) {
      *error = why;
      return nullptr;
    }
    // Incompatible: replace it only when no live process maps it.
    try {
      bip::shared_memory_object shm(bip::open_only, BoostName(segment).c_str(), bip::read_write);
      flock fl{};
      fl.l_type = F_WRLCK;
      fl.l_whence = SEEK_SET;
      fl.l_start = static_cast<off_t>(abi::kMappedLockByte);
      fl.l_len = 1;
      if (fcntl(shm.get_mapping_handle().handle, F_OFD_SETLK, &fl) != 0) {
        *status = OpenStatus::kBusy;
        *error = why + "; it is still mapped by a live process, so it was not replaced "
                       "(stop that process or run `agentring rm " + std::string(segment) + "`)";
        return nullptr;
      }
    } catch (const bip::interprocess_exception&) {
      continue;
    }
    Remove(segment);
  }
  *error = "cannot create segment '" + std::string(segment) + "': it keeps changing underneath";
  return nullptr;
}

bool SegmentMap::Remove(std::string_view segment) {
  return bip::shared_memory_object::remove(BoostName(segment).c_str());
}

SegmentMap::~SegmentMap() { delete impl_; }

bool SegmentMap::TryLockByte(uint64_t byte, bool exclusive) {
  flock fl{};
  fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(byte);
  fl.l_len = 1;
  return fcntl(fd_, F_OFD_SETLK, &fl) == 0;
}

void SegmentMap::UnlockByte(uint64_t byte) {
  flock fl{};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(byte);
  fl.l_len = 1;
  fcntl(fd_, F_OFD_SETLK, &fl);
}

bool SegmentMap::IsByteLocked(uint64_t byte) {
  flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(byte);
  fl.l_len = 1;
  if (fcntl(fd_, F_OFD_GETLK, &fl) != 0) return true;  // cannot tell: assume alive
  return fl.l_type != F_UNLCK;
}

void SegmentMap::AbandonAfterFork() {
  // The Boost objects are leaked on purpose: their destructors would unmap and close again.
  if (base_ != nullptr) munmap(base_, size_);
  if (fd_ >= 0) close(fd_);
  impl_ = nullptr;
  base_ = nullptr;
  header_ = nullptr;
  fd_ = -1;
}

}  // namespace agentring::internal
