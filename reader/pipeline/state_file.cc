// StateDir: the reader's state file and ack logs (see state_file.h).
#include "reader/pipeline/state_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace agentring::reader {
namespace {

constexpr uint64_t kStateMagic = 0x3174617453524741ull;  // "AGRState1" (first 8 bytes)
constexpr uint32_t kStateVersion = 1;

bool ReadWhole(const std::string& path, std::string* out, int* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return false;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = n < 0 ? errno : 0;
      close(fd);
      return n == 0;
    }
    out->append(buf, static_cast<size_t>(n));
  }
}

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool StateDir::Prepare(const std::string& dir, std::string* error) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = "cannot create state directory " + dir + ": " + strerror(errno);
    return false;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "state directory " + dir + " is not a directory";
    return false;
  }
  if (access(dir.c_str(), W_OK) != 0) {
    *error = "state directory " + dir + " is not writable";
    return false;
  }
  return true;
}

bool StateDir::Load(ReaderState* out, bool* found, std::string* error) const {
  std::string bytes;
  int err = 0;
  const std::string path = dir_ + "/state";
  if (!ReadWhole(path, &bytes, &err)) {
    if (err == ENOENT) {
      *found = false;
      return true;
    }
    *error = "cannot read " + path + ": " + strerror(err);
    return false;
  }
  *found = true;
  BinReader r(bytes);
  if (r.U64() != kStateMagic || r.U32() != kStateVersion) {
    *error = path + " is not an agentring reader state file of this version (remove it to start "
                    "over: spans it tracks would then be lost)";
    return false;
  }
  out->checkpoint = r.U64();
  out->next_batch_seq = r.U64();
  out->spans_unknown_after_reader_crash = r.U64();
  uint64_t n = r.Count(24);
  out->lanes.resize(n);
  for (LanePosition& l : out->lanes) {
    l.lane = r.U32();
    l.process_slot = r.U32();
    l.process_generation = r.U32();
    l.claim_count = r.U32();
    l.position = r.U64();
  }
  n = r.Count(16);
  out->in_flight.resize(n);
  for (auto& [seq, spans] : out->in_flight) {
    seq = r.U64();
    spans = r.U64();
  }
  out->assembler = std::string(r.Str());
  if (!r.ok() || !r.done()) {
    *error = path + " is truncated or corrupt (remove it to start over: spans it tracks would "
                    "then be lost)";
    return false;
  }
  return true;
}

bool StateDir::Save(const ReaderState& s, std::string* error) const {
  BinWriter w;
  w.U64(kStateMagic);
  w.U32(kStateVersion);
  w.U64(s.checkpoint);
  w.U64(s.next_batch_seq);
  w.U64(s.spans_unknown_after_reader_crash);
  w.U64(s.lanes.size());
  for (const LanePosition& l : s.lanes) {
    w.U32(l.lane);
    w.U32(l.process_slot);
    w.U32(l.process_generation);
    w.U32(l.claim_count);
    w.U64(l.position);
  }
  w.U64(s.in_flight.size());
  for (const auto& [seq, spans] : s.in_flight) {
    w.U64(seq);
    w.U64(spans);
  }
  w.Str(s.assembler);
  const std::string tmp = dir_ + "/state.tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || !WriteAll(fd, w.buffer())) {
    *error = "cannot write " + tmp + ": " + strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  if (rename(tmp.c_str(), (dir_ + "/state").c_str()) != 0) {
    *error = "cannot rename " + tmp + ": " + strerror(errno);
    return false;
  }
  return true;
}

std::vector<uint64_t> StateDir::ReadAcks() const {
  std::vector<uint64_t> acks;
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return acks;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "acks.", 5) != 0) continue;
    std::string bytes;
    int err = 0;
    ReadWhole(dir_ + "/" + e->d_name, &bytes, &err);
    // A torn last entry (killed mid-append) is ignored: whole 8-byte entries only.
    for (size_t off = 0; off + 8 <= bytes.size(); off += 8) {
      uint64_t v;
      memcpy(&v, bytes.data() + off, 8);
      acks.push_back(v);
    }
  }
  closedir(d);
  return acks;
}

bool StateDir::OpenAckLog(uint64_t checkpoint, std::string* error) {
  const std::string path = dir_ + "/acks." + std::to_string(checkpoint);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + strerror(errno);
    return false;
  }
  std::lock_guard<std::mutex> lock(ack_mu_);
  if (ack_fd_ >= 0) close(ack_fd_);
  ack_fd_ = fd;
  return true;
}

void StateDir::RemoveLeftovers() const {
  RemoveAckLogsBefore(UINT64_MAX);
  unlink((dir_ + "/state.tmp").c_str());
}

void StateDir::RemoveAckLogsBefore(uint64_t checkpoint) const {
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return;
  std::vector<std::string> old;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "acks.", 5) != 0) continue;
    char* end = nullptr;
    uint64_t n = strtoull(e->d_name + 5, &end, 10);
    if (end != nullptr && *end == '\0' && n < checkpoint) old.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& f : old) unlink((dir_ + "/" + f).c_str());
}

void StateDir::Ack(uint64_t seq) {
  std::lock_guard<std::mutex> lock(ack_mu_);
  if (ack_fd_ < 0) return;
  // One 8-byte O_APPEND write: whole or (killed mid-write) ignored by ReadAcks.
  ssize_t n;
  do {
    n = write(ack_fd_, &seq, 8);
  } while (n < 0 && errno == EINTR);
}

StateDir::~StateDir() {
  if (ack_fd_ >= 0) close(ack_fd_);
}

}  // namespace agentring::reader
