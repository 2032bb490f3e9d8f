// OutputFile and OpenOutput: opening `--out PATH` and writing whole buffers to it.
#include "reader/export/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <utility>

namespace agentring::reader {

OutputFile::OutputFile(int fd, bool owns_fd, std::string path)
    : fd_(fd), owns_fd_(owns_fd), path_(std::move(path)) {}

OutputFile::~OutputFile() {
  if (owns_fd_ && fd_ >= 0) close(fd_);
}

bool OutputFile::WriteWhole(std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = write(fd_, p, left);
    if (n > 0) {
      p += n;
      left -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A non-blocking stdout (inherited from a shell or a supervisor): wait until it drains
      // rather than dropping the rest of a line.
      pollfd pfd{fd_, POLLOUT, 0};
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
        last_errno_ = errno;
        return false;
      }
      continue;
    }
    last_errno_ = n < 0 ? errno : EIO;  // write() returning 0 for a non-empty buffer: no progress
    return false;
  }
  return true;
}

std::unique_ptr<OutputFile> OpenOutput(const std::string& path, std::string* error) {
  if (path == "-") return std::make_unique<OutputFile>(STDOUT_FILENO, /*owns_fd=*/false, path);
  int fd;
  do {
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (error) *error = "cannot open output '" + path + "' for writing: " + strerror(errno);
    return nullptr;
  }
  return std::make_unique<OutputFile>(fd, /*owns_fd=*/true, path);
}

}  // namespace agentring::reader
