// OutputFile: the file descriptor an exporter writes into (`--out PATH`, "-" for stdout), with a
// write that hands each buffer to the kernel in one write() so that a line or a trace is never
// interleaved with another writer's output on a shared pipe or O_APPEND file; and, optionally,
// size-based rotation of a regular file (`--out-max-bytes`, `--out-max-files`) at the boundary
// between two WriteWhole() buffers, so that no exporter's unit of output (a jsonl line) is split.
#ifndef AGENTRING_READER_EXPORT_OUTPUT_FILE_H_
#define AGENTRING_READER_EXPORT_OUTPUT_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "reader/export/exporter.h"

namespace agentring::reader {

// Size-based rotation, in the manner of logrotate / Python's RotatingFileHandler: when the next
// buffer would take the current file past `max_bytes`, PATH is renamed PATH.1 (PATH.1 → PATH.2 …,
// the oldest beyond the cap is overwritten) and a new, empty PATH is opened. At most `max_files`
// files exist at once, PATH included, so the disk used is bounded by max_bytes × max_files (a
// single buffer larger than max_bytes is still written whole, alone in its file).
inline constexpr uint32_t kDefaultRotationMaxFiles = 5;  // --out-max-files when not given

struct RotationPolicy {
  uint64_t max_bytes = 0;   // 0 = never rotate; otherwise >= 1
  uint32_t max_files = 2;   // >= 1: PATH, PATH.1 … PATH.<max_files-1>; 1 = PATH restarts empty
};

class OutputFile {
 public:
  // Takes `fd`; closes it on destruction only when `owns_fd` (stdout is never closed).
  OutputFile(int fd, bool owns_fd, std::string path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Writes all of `data` with a single write() call; loops only when the kernel accepted part of
  // it (pipes, signals) or returned EINTR, and waits with poll() when the fd is non-blocking and
  // full (EAGAIN). Returns false on any other error (EPIPE, ENOSPC, EBADF...); the reason is in
  // last_error(). Not thread-safe: one writer per OutputFile.
  bool WriteWhole(std::string_view data);

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // The errno of the last failed WriteWhole, 0 if none failed.
  int last_error() const { return last_errno_; }

  // Turns on rotation (see RotationPolicy); the file holds `current_bytes` already. Only for a
  // regular file this object owns (OpenRotatingOutput checks that).
  void SetRotation(const RotationPolicy& policy, uint64_t current_bytes);
  // Rotations done, and rotations that failed (a rename or the reopen failed: writing goes on
  // into the current file, and rotation is tried again after another max_bytes).
  uint64_t rotations() const { return rotations_; }
  uint64_t rotation_failures() const { return rotation_failures_; }
  bool rotating() const { return policy_.max_bytes != 0; }
  // "PATH" for index 0, "PATH.<index>" otherwise.
  std::string RotatedPath(uint32_t index) const;

 private:
  // Shifts PATH.<i> → PATH.<i+1> and PATH → PATH.1, then reopens PATH empty. On failure counts
  // it, keeps writing into the file still open and waits another max_bytes before retrying.
  void Rotate();

  int fd_;
  bool owns_fd_;
  std::string path_;
  int last_errno_ = 0;
  RotationPolicy policy_;
  uint64_t written_bytes_ = 0;  // bytes in the current file (since open or the last rotation)
  uint64_t rotations_ = 0;
  uint64_t rotation_failures_ = 0;
};

// OpenOutput (exporter.h) with rotation: truncates PATH like every --out and removes PATH.1 …
// PATH.<max_files-1> left by an earlier run, so the files present always come from this run
// (with `resume`, PATH and its rotated files are kept and writing continues in PATH).
// Fails (nullptr, one line in *error) for "-", for anything that is not a regular file (rotating
// /dev/null or a FIFO by renaming it would be wrong), for max_bytes == 0 or max_files == 0, and
// when a leftover rotated file cannot be removed.
std::unique_ptr<OutputFile> OpenRotatingOutput(const std::string& path,
                                               const RotationPolicy& policy, std::string* error,
                                               bool resume = false);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_OUTPUT_FILE_H_
