// OutputFile, OpenOutput and OpenRotatingOutput: opening `--out PATH`, writing whole buffers to
// it, and rotating it by size.
#include "reader/export/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace agentring::reader {

OutputFile::OutputFile(int fd, bool owns_fd, std::string path)
    : fd_(fd), owns_fd_(owns_fd), path_(std::move(path)) {}

OutputFile::~OutputFile() {
  if (owns_fd_ && fd_ >= 0) close(fd_);
}

void OutputFile::SetRotation(const RotationPolicy& policy, uint64_t current_bytes) {
  policy_ = policy;
  written_bytes_ = current_bytes;
}

std::string OutputFile::RotatedPath(uint32_t index) const {
  return index == 0 ? path_ : path_ + "." + std::to_string(index);
}

void OutputFile::Rotate() {
  // Oldest first, so that every rename lands on a name already moved away (or on the oldest
  // file, which rename() replaces: that is the file dropped beyond the cap).
  bool ok = true;
  for (uint32_t i = policy_.max_files - 1; i >= 1; --i) {
    const std::string from = RotatedPath(i - 1);
    if (rename(from.c_str(), RotatedPath(i).c_str()) != 0 && errno != ENOENT) {
      // A missing PATH.<i-1> is normal before the cap is reached (and a PATH removed by someone
      // else is simply recreated). Any other failure stops here: moving the newer files on
      // would overwrite one that was not shifted, and reopening PATH with O_TRUNC would destroy
      // what it holds.
      ok = false;
      break;
    }
  }
  int fd = -1;
  if (ok) {
    do {
      fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
  }
  if (fd < 0) {
    // Keep writing into the open file (now PATH.1 if PATH was moved); retry after another
    // max_bytes rather than on every write.
    ++rotation_failures_;
    written_bytes_ = 0;
    return;
  }
  close(fd_);
  fd_ = fd;
  written_bytes_ = 0;
  ++rotations_;
}

bool OutputFile::WriteWhole(std::string_view data) {
  // Rotate between buffers, never inside one; an empty file takes any buffer (a line longer than
  // max_bytes goes alone into its file instead of being split or dropped).
  if (policy_.max_bytes != 0 && written_bytes_ != 0 &&
      data.size() > policy_.max_bytes - std::min(written_bytes_, policy_.max_bytes))
    Rotate();
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = write(fd_, p, left);
    if (n > 0) {
      p += n;
      left -= static_cast<size_t>(n);
      written_bytes_ += static_cast<uint64_t>(n);
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

namespace {

// A resumed regular file: cuts it back to just after its last '\n' (a torn last line) and
// leaves the offset at the end. Returns false with errno set on failure.
bool CutTornLastLine(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  if (!S_ISREG(st.st_mode) || st.st_size == 0) return true;
  off_t end = st.st_size;
  char buf[4096];
  while (end > 0) {
    const off_t from = end > static_cast<off_t>(sizeof buf) ? end - static_cast<off_t>(sizeof buf) : 0;
    const ssize_t n = pread(fd, buf, static_cast<size_t>(end - from), from);
    if (n <= 0) return false;
    for (ssize_t i = n - 1; i >= 0; --i) {
      if (buf[i] == '\n') {
        const off_t keep = from + i + 1;
        return (keep == st.st_size || ftruncate(fd, keep) == 0) && lseek(fd, 0, SEEK_END) >= 0;
      }
    }
    end = from;
  }
  return ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_END) >= 0;  // no whole line at all
}

}  // namespace

std::unique_ptr<OutputFile> OpenOutput(const std::string& path, std::string* error, bool resume) {
  if (path == "-") return std::make_unique<OutputFile>(STDOUT_FILENO, /*owns_fd=*/false, path);
  int fd;
  do {
    // Resumed: read-write, to find the last whole line.
    fd = open(path.c_str(), O_CREAT | O_CLOEXEC | (resume ? O_RDWR | O_APPEND : O_WRONLY | O_TRUNC),
              0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 || (resume && !CutTornLastLine(fd))) {
    if (error) *error = "cannot open output '" + path + "' for writing: " + strerror(errno);
    if (fd >= 0) close(fd);
    return nullptr;
  }
  return std::make_unique<OutputFile>(fd, /*owns_fd=*/true, path);
}

std::unique_ptr<OutputFile> OpenRotatingOutput(const std::string& path,
                                               const RotationPolicy& policy, std::string* error,
                                               bool resume) {
  auto fail = [error](std::string why) -> std::unique_ptr<OutputFile> {
    if (error) *error = std::move(why);
    return nullptr;
  };
  if (policy.max_bytes == 0) return fail("--out-max-bytes must be at least 1");
  if (policy.max_files == 0) return fail("--out-max-files must be at least 1");
  if (path == "-") return fail("cannot rotate standard output: give --out a file path");
  std::unique_ptr<OutputFile> out = OpenOutput(path, error, resume);
  if (!out) return nullptr;
  struct stat st;
  if (fstat(out->fd(), &st) != 0 || !S_ISREG(st.st_mode))
    return fail("cannot rotate output '" + path + "': not a regular file");
  if (resume) {
    out->SetRotation(policy, static_cast<uint64_t>(st.st_size));
    return out;
  }
  for (uint32_t i = 1; i < policy.max_files; ++i) {
    const std::string old = out->RotatedPath(i);
    if (unlink(old.c_str()) != 0 && errno != ENOENT)
      return fail("cannot remove old rotated output '" + old + "': " + strerror(errno));
  }
  out->SetRotation(policy, 0);
  return out;
}

}  // namespace agentring::reader
