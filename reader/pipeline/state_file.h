// The reader's crash-safe state (`--state-dir`): what a restarted reader needs so that nothing a
// writer committed is lost and nothing is exported twice.
//
// The protocol (ReaderLoop::Checkpoint):
//   1. Traces the assembler finishes are staged, not exported yet.
//   2. A checkpoint writes `state` (atomically: state.tmp, then rename): each lane's read
//      position, the assembler's unfinished state (open spans, held groups, recently sent trace
//      ids), and the ledger of staged and still-undelivered batches (sequence number, spans).
//   3. Only then do lane tails in shared memory advance to those positions (so a record leaves
//      its lane only once what it holds is in the state file), and only then do the staged
//      batches go to the exporters.
//   4. When every exporter is done with a batch (delivered it, or counted it lost), its sequence
//      number is appended to the ack log `acks.<checkpoint>`.
// A restarted reader loads `state`, finishes an interrupted step 3, reads the ack logs, and
// counts every ledger batch without an ack as spans_unknown_after_reader_crash: it may or may not
// have reached its destination, so it is neither re-sent nor silently forgotten. Records after
// the saved positions were never exported by anyone (step 1), so reading them again is safe.
//
// Files are written without fsync: the state survives the reader's death (kill -9, OOM), which
// is what it is for; it does not claim to survive the machine's (neither does the segment).
#ifndef AGENTRING_READER_PIPELINE_STATE_FILE_H_
#define AGENTRING_READER_PIPELINE_STATE_FILE_H_

#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reader/drain/segment_reader.h"  // LanePosition

namespace agentring::reader {

// Little-endian binary encoding with bounds-checked reads (a state file is untrusted input too:
// a truncated or corrupt one is refused with a message, never half-applied).
class BinWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I64(int64_t v) { Raw(&v, 8); }
  void F64(double v) { Raw(&v, 8); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  std::string& buffer() { return out_; }

 private:
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

class BinReader {
 public:
  explicit BinReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  uint8_t U8() { uint8_t v = 0; Raw(&v, 1); return v; }
  uint32_t U32() { uint32_t v = 0; Raw(&v, 4); return v; }
  uint64_t U64() { uint64_t v = 0; Raw(&v, 8); return v; }
  int64_t I64() { int64_t v = 0; Raw(&v, 8); return v; }
  double F64() { double v = 0; Raw(&v, 8); return v; }
  std::string_view Str() {
    uint32_t n = U32();
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  // A count of items that each take at least `min_bytes`: refuses counts the input cannot hold,
  // so a corrupt count cannot make the loader allocate without bound.
  uint64_t Count(size_t min_bytes) {
    uint64_t n = U64();
    if (ok_ && n > (in_.size() - pos_) / (min_bytes ? min_bytes : 1)) ok_ = false;
    return ok_ ? n : 0;
  }

 private:
  void Raw(void* p, size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return;
    }
    memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

struct ReaderState {
  uint64_t checkpoint = 0;  // sequence of this checkpoint; its ack log is acks.<checkpoint>
  uint64_t next_batch_seq = 1;
  std::vector<LanePosition> lanes;
  std::vector<std::pair<uint64_t, uint64_t>> in_flight;  // (batch seq, spans) not yet acked
  uint64_t spans_unknown_after_reader_crash = 0;         // carried across restarts
  std::string assembler;                                  // TraceAssembler::SaveState
};

// The state directory: the state file and the ack logs.
class StateDir {
 public:
  // Creates DIR (mode 0700) if needed. Returns false with a one-line *error.
  static bool Prepare(const std::string& dir, std::string* error);

  explicit StateDir(std::string dir) : dir_(std::move(dir)) {}

  // Loads `state`; *found = false when there is none (a first start). A corrupt file is an
  // error (the reader refuses to start rather than silently losing or duplicating spans; the
  // message says how to start over).
  bool Load(ReaderState* out, bool* found, std::string* error) const;
  // Every sequence number in the ack logs present.
  std::vector<uint64_t> ReadAcks() const;
  // Writes `state` atomically.
  bool Save(const ReaderState& s, std::string* error) const;
  // Starts ack log acks.<checkpoint>: later acks go there. Thread-safe with Ack().
  bool OpenAckLog(uint64_t checkpoint, std::string* error);
  // A first start: removes what an earlier state left behind (ack logs, a half-written state),
  // so that old acks can never be read as acks of this reader's batches.
  void RemoveLeftovers() const;
  // Removes ack logs older than `checkpoint`.
  void RemoveAckLogsBefore(uint64_t checkpoint) const;
  // Appends a delivered batch's sequence number (one write; thread-safe).
  void Ack(uint64_t seq);
  ~StateDir();

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::mutex ack_mu_;
  int ack_fd_ = -1;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_PIPELINE_STATE_FILE_H_
