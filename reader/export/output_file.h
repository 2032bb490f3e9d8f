// OutputFile: the file descriptor an exporter writes into (`--out PATH`, "-" for stdout), with a
// write that hands each buffer to the kernel in one write() so that a line or a trace is never
// interleaved with another writer's output on a shared pipe or O_APPEND file.
#ifndef AGENTRING_READER_EXPORT_OUTPUT_FILE_H_
#define AGENTRING_READER_EXPORT_OUTPUT_FILE_H_

#include <memory>
#include <string>
#include <string_view>

#include "reader/export/exporter.h"

namespace agentring::reader {

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

 private:
  int fd_;
  bool owns_fd_;
  std::string path_;
  int last_errno_ = 0;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_OUTPUT_FILE_H_
