// libFuzzer target for the reader's view of a hostile segment: arbitrary bytes become lane
// records, lane-table entries, heads and tails, process slots, string tables and header fields
// of a small real segment, and the real drain stage (SegmentReader::Pass, DecodeGroup,
// StringMirror, CheckHeader through SegmentMap::Open) runs over it with a sink that reads every
// decoded field. Nothing may crash, hang or allocate without bound.
//
// The segment is created once per process; every input starts from the same baseline (header as
// created, everything else zero, then process 0 attached and alive, lanes 0 and 1 owned by it)
// and is a sequence of operations, each one op byte followed by its arguments (bytes past the end
// of the input read as zero):
//
//   op % 8 == 0  RECORDS  lane:u8 count:u8, then count*64 bytes written at the lane's head
//                         (wrapping), head += count
//             1  STRING   proc:u8 len:u16, then min(len, rest) bytes: one string-table entry
//                         (u32 len | bytes | pad) appended at the process's used offset, which
//                         then advances (clipped to the block)
//             2  POKE     off:u16 n:u8, then n bytes written into the lane table, process table
//                         and string area (offset modulo their size)
//             3  PASS     flags:u8: one reader pass (bit 0: probe liveness first); at most
//                         kMaxPasses per input
//             4  POSITION lane:u8 which:u8 value:u64: sets the lane's head (which even) or tail
//             5  LOCK     proc:u8: toggles the OFD liveness lock the "writer" holds for a process
//             6  HEADER   off:u8 n:u8, then n bytes written into the header's first 256 bytes
//                         (before the reader opens the segment: opening checks the header)
//             7  STATE    lane:u8 proc:u8 mode:u8: 0 lane claimed by proc, 1 lane released,
//                         2 proc (re)attached (new generation), 3 proc slot freed
//
// After the last op the harness drops every lock, forces a liveness probe and runs two more
// passes, so dead processes are drained, closed (OnProcessExit) and reclaimed.
//
// Built two ways: with clang -fsanitize=fuzzer,address,undefined as `segment_fuzz` (make fuzz),
// and with replay_main.cc as `segment_fuzz_replay`, a ctest test that runs the corpus in
// tests/fuzz/corpus through the same entry point.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "agentring/abi/records.h"
#include "agentring/internal/segment_map.h"
#include "reader/drain/segment_reader.h"

namespace {

namespace abi = agentring::abi;
namespace internal = agentring::internal;
namespace reader = agentring::reader;

constexpr uint32_t kLanes = 4;
constexpr uint32_t kLaneRecords = 64;
constexpr uint32_t kProcs = 2;
constexpr uint32_t kStringBlock = 4096;
constexpr int kMaxPasses = 16;

// Reads arguments from the input; past its end everything is zero.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool done() const { return p_ >= end_; }
  uint8_t U8() { return p_ < end_ ? *p_++ : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{U8()} << (8 * i);
    return v;
  }
  // Copies up to n bytes to dst (zero-fills what the input lacks); returns the bytes consumed.
  size_t Bytes(uint8_t* dst, size_t n) {
    size_t have = static_cast<size_t>(end_ - p_) < n ? static_cast<size_t>(end_ - p_) : n;
    memcpy(dst, p_, have);
    memset(dst + have, 0, n - have);
    p_ += have;
    return have;
  }
  size_t rest() const { return static_cast<size_t>(end_ - p_); }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// Reads every field of every group and process, so that a field the decoder left
// uninitialised or pointing into freed memory is touched under the sanitizers.
class TouchingSink : public reader::GroupSink {
 public:
  void OnGroup(const reader::DecodedGroup& g, const reader::GroupContext& ctx) override {
    Mix(static_cast<uint64_t>(g.type) + g.records + g.ts + g.trace_hi + g.trace_lo + g.span_id +
        g.parent_span_id + g.flags + g.kind + g.suffix_type + g.suffix_len + g.suffix + g.status +
        g.link_trace_hi + g.link_trace_lo + g.link_span_id + ctx.lane +
        static_cast<uint32_t>(ctx.tid));
    Mix(ctx.String(g.name_id));
    if (g.suffix_type == static_cast<uint8_t>(abi::SuffixType::StringId))
      Mix(ctx.String(static_cast<uint32_t>(g.suffix)));
    Mix(g.message);
    for (uint32_t i = 0; i < g.attr_count; ++i) {
      const reader::DecodedAttr& a = g.attrs[i];
      Mix(ctx.String(a.key_id));
      Mix(a.num + a.of_event + a.clipped + static_cast<uint64_t>(a.type));
      Mix(a.str);
    }
    Mix(ctx.clock->ToUnixNs(g.ts));
    Mix(ctx.process->info ? ctx.process->info->service_name : std::string_view("none"));
  }
  void OnProcessExit(const reader::ProcessState& p, uint64_t last_unix_ns) override {
    Mix(last_unix_ns + p.generation + p.last_ticks);
    if (p.info) {
      Mix(static_cast<uint64_t>(p.info->pid) + p.info->slot + p.info->generation);
      Mix(p.info->service_name);
      for (const auto& [k, v] : p.info->resource) {
        Mix(k);
        Mix(v);
      }
    }
  }
  uint64_t hash = 0;

 private:
  void Mix(uint64_t v) { hash = (hash ^ v) * 0x100000001b3ull; }
  void Mix(std::string_view s) {
    for (char c : s) Mix(static_cast<uint64_t>(static_cast<unsigned char>(c)));
  }
};

class Harness {
 public:
  Harness() {
    name_ = "fuzz-" + std::to_string(getpid());
    internal::SegmentMap::CreateOptions o;
    o.geometry.lane_count = kLanes;
    o.geometry.lane_capacity_records = kLaneRecords;
    o.geometry.process_slot_count = kProcs;
    o.geometry.string_block_bytes = kStringBlock;
    bool created = false;
    internal::OpenStatus st;
    std::string err;
    internal::SegmentMap::Remove(name_);
    seg_ = internal::SegmentMap::Create(name_, o, &created, &st, &err);
    if (!seg_) {
      fprintf(stderr, "segment_fuzz: cannot create segment %s: %s\n", name_.c_str(), err.c_str());
      exit(1);
    }
    memcpy(header_copy_, seg_->base(), abi::kHeaderBytes);
    meta_begin_ = seg_->base() + abi::ComputeLayout(o.geometry).lane_table_offset;
    meta_bytes_ = abi::ComputeLayout(o.geometry).lanes_offset -
                  abi::ComputeLayout(o.geometry).lane_table_offset;
  }
  ~Harness() { internal::SegmentMap::Remove(name_); }

  void Run(const uint8_t* data, size_t size) {
    Reset();
    Input in(data, size);
    std::unique_ptr<reader::SegmentReader> rd;
    bool open_failed = false;
    int passes = 0;
    TouchingSink sink;
    // Opens the segment as the reader does (CheckHeader first) the first time it is needed.
    auto reader = [&]() -> reader::SegmentReader* {
      if (!rd && !open_failed) {
        internal::OpenStatus st;
        std::string err;
        auto m = internal::SegmentMap::Open(name_, &st, &err);
        if (!m) {
          open_failed = true;  // a header the reader refuses: nothing more to drain
          return nullptr;
        }
        rd = std::make_unique<reader::SegmentReader>(std::move(m));
        rd->probe_interval_ns = ~uint64_t{0} >> 1;  // probes only when an op asks (determinism)
        rd->ForceProbe();
      }
      return rd.get();
    };
    while (!in.done()) {
      switch (in.U8() % 8) {
        case 0: {
          uint32_t lane = in.U8() % kLanes;
          uint32_t count = in.U8();
          abi::LaneSlot* ls = seg_->lane_slot(lane);
          uint64_t head = ls->writer.head.load(std::memory_order_relaxed);
          auto* ring = reinterpret_cast<abi::RawRecord*>(seg_->lane_records(lane));
          for (uint32_t k = 0; k < count && !in.done(); ++k)
            in.Bytes(ring[(head + k) & (kLaneRecords - 1)].bytes, abi::kRecordBytes);
          ls->writer.head.store(head + count, std::memory_order_release);
          break;
        }
        case 1: {
          uint32_t p = in.U8() % kProcs;
          uint32_t len = in.U16();
          abi::ProcessSlot* ps = seg_->process_slot(p);
          uint64_t used = ps->strings_used_bytes.load(std::memory_order_relaxed);
          uint8_t* block = seg_->string_block(p);
          if (used > kStringBlock - 4) {  // `used` is whatever an earlier POKE left there
            in.Bytes(scratch_, len < sizeof(scratch_) ? len : sizeof(scratch_));
            break;
          }
          memcpy(block + used, &len, 4);
          uint64_t room = kStringBlock - used - 4;
          size_t n = in.Bytes(block + used + 4, len < room ? len : room);
          (void)n;
          uint64_t next = used + 4 + ((uint64_t{len} + 3) & ~uint64_t{3});
          ps->strings_used_bytes.store(next < kStringBlock ? next : kStringBlock,
                                       std::memory_order_release);
          break;
        }
        case 2: {
          uint64_t off = in.U16() % meta_bytes_;
          uint32_t n = in.U8();
          if (n > meta_bytes_ - off) n = static_cast<uint32_t>(meta_bytes_ - off);
          in.Bytes(meta_begin_ + off, n);
          break;
        }
        case 3: {
          uint8_t flags = in.U8();
          if (passes >= kMaxPasses) break;
          if (reader::SegmentReader* r = reader()) {
            if (flags & 1) r->ForceProbe();
            r->Pass(&sink);
            ++passes;
          }
          break;
        }
        case 4: {
          abi::LaneSlot* ls = seg_->lane_slot(in.U8() % kLanes);
          bool head = in.U8() % 2 == 0;
          uint64_t v = in.U64();
          (head ? ls->writer.head : ls->reader.tail).store(v, std::memory_order_release);
          break;
        }
        case 5: {
          uint32_t p = in.U8() % kProcs;
          SetAlive(p, !alive_[p]);
          break;
        }
        case 6: {
          uint32_t off = in.U8();
          uint32_t n = in.U8();
          if (n > 256 - off) n = 256 - off;
          in.Bytes(seg_->base() + off, n);
          break;
        }
        case 7: {
          uint32_t lane = in.U8() % kLanes;
          uint32_t p = in.U8() % kProcs;
          uint32_t mode = in.U8() % 4;
          if (mode == 0) Claim(lane, p);
          if (mode == 1) seg_->lane_slot(lane)->entry.state.store(abi::kLaneReleased,
                                                                  std::memory_order_release);
          if (mode == 2) Attach(p);
          if (mode == 3) {
            SetAlive(p, false);
            seg_->process_slot(p)->state.store(abi::kProcessFree, std::memory_order_release);
          }
          break;
        }
      }
    }
    for (uint32_t p = 0; p < kProcs; ++p) SetAlive(p, false);
    if (reader::SegmentReader* r = reader()) {
      r->ForceProbe();
      r->Pass(&sink);
      r->Pass(&sink);
      reader::DrainStats s = r->Collect();
      sink_hash_ ^= s.records_read + s.records_rejected + s.groups_delivered + sink.hash;
    }
  }

 private:
  void Reset() {
    for (uint32_t p = 0; p < kProcs; ++p) SetAlive(p, false);
    memcpy(seg_->base(), header_copy_, abi::kHeaderBytes);
    memset(seg_->base() + abi::kHeaderBytes, 0, seg_->size_bytes() - abi::kHeaderBytes);
    Attach(0);
    Claim(0, 0);
    Claim(1, 0);
  }
  void SetAlive(uint32_t p, bool alive) {
    if (alive == alive_[p]) return;
    if (alive) {
      alive_[p] = seg_->TryLockByte(abi::kProcessLockBase + p, /*exclusive=*/true);
    } else {
      seg_->UnlockByte(abi::kProcessLockBase + p);
      alive_[p] = false;
    }
  }
  void Attach(uint32_t p) {
    abi::ProcessSlot* ps = seg_->process_slot(p);
    ps->generation += 1;
    ps->pid = 1000 + static_cast<int32_t>(p);
    ps->resource_string_id = 0;
    ps->strings_used_bytes.store(abi::kFirstStringOffset, std::memory_order_relaxed);
    SetAlive(p, true);
    ps->state.store(abi::kProcessOwned, std::memory_order_release);
  }
  void Claim(uint32_t lane, uint32_t p) {
    abi::LaneSlot* ls = seg_->lane_slot(lane);
    ls->entry.process_slot = p;
    ls->entry.process_generation = seg_->process_slot(p)->generation;
    ls->entry.owner_tid = 2000 + static_cast<int32_t>(lane);
    uint64_t tail = ls->reader.tail.load(std::memory_order_relaxed);
    ls->writer.head.store(tail, std::memory_order_relaxed);
    ls->entry.state.store(abi::kLaneOwned, std::memory_order_release);
  }

  std::string name_;
  std::unique_ptr<internal::SegmentMap> seg_;
  uint8_t header_copy_[abi::kHeaderBytes];
  uint8_t* meta_begin_ = nullptr;
  uint64_t meta_bytes_ = 0;
  bool alive_[kProcs] = {};
  uint8_t scratch_[65536];
  uint64_t sink_hash_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* harness = [] {
    auto* h = new Harness();
    atexit([] { internal::SegmentMap::Remove("fuzz-" + std::to_string(getpid())); });
    return h;
  }();
  harness->Run(data, size);
  return 0;
}
