// Tests for OutputFile / OpenOutput (reader/export/output_file.h) on real files, /dev/null, a
// pipe and a directory.
#include "reader/export/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace agentring::reader {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ExportOutputFile, WritesToDevNull) {
  std::string error;
  auto out = OpenOutput("/dev/null", &error);
  ASSERT_NE(out, nullptr) << error;
  EXPECT_GE(out->fd(), 0);
  EXPECT_TRUE(out->WriteWhole("hello\n"));
  EXPECT_TRUE(out->WriteWhole(std::string(1 << 20, 'x')));
  EXPECT_TRUE(out->WriteWhole(""));
}

TEST(ExportOutputFile, TruncatesAndWritesTempFile) {
  const std::string path = ::testing::TempDir() + "export_out_" + std::to_string(getpid()) + ".txt";
  {
    std::ofstream old(path);
    old << "old content that must disappear";
  }
  std::string error;
  auto out = OpenOutput(path, &error);
  ASSERT_NE(out, nullptr) << error;
  std::string big(300'000, 'a');
  big.back() = '\n';
  ASSERT_TRUE(out->WriteWhole("line1\n"));
  ASSERT_TRUE(out->WriteWhole(big));
  struct stat st;
  ASSERT_EQ(fstat(out->fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u & ~[] { mode_t m = umask(0); umask(m); return m; }());
  const int fd = out->fd();
  out.reset();
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);  // closed by the destructor
  EXPECT_EQ(ReadAll(path), "line1\n" + big);
  unlink(path.c_str());
}

TEST(ExportOutputFile, DashIsStdoutAndIsNotClosed) {
  std::string error;
  auto out = OpenOutput("-", &error);
  ASSERT_NE(out, nullptr) << error;
  EXPECT_EQ(out->fd(), STDOUT_FILENO);
  out.reset();
  EXPECT_NE(fcntl(STDOUT_FILENO, F_GETFD), -1);
}

TEST(ExportOutputFile, DirectoryOrMissingParentGivesOneLineError) {
  std::string error;
  EXPECT_EQ(OpenOutput(::testing::TempDir(), &error), nullptr);
  EXPECT_NE(error.find(::testing::TempDir()), std::string::npos) << error;
  EXPECT_NE(error.find("Is a directory"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);

  error.clear();
  EXPECT_EQ(OpenOutput("/nonexistent-dir-agentring/x.jsonl", &error), nullptr);
  EXPECT_NE(error.find("/nonexistent-dir-agentring/x.jsonl"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
}

TEST(ExportOutputFile, WriteToClosedPipeFailsWithoutCrashing) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  // SIGPIPE would kill the test; the reader's main ignores it the same way.
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old), 0);
  OutputFile out(fds[1], /*owns_fd=*/true, "pipe");
  EXPECT_FALSE(out.WriteWhole("data"));
  EXPECT_EQ(out.last_error(), EPIPE);
  sigaction(SIGPIPE, &old, nullptr);
}

// A reader restarted from its --state-dir continues its file: whole lines stay, a torn last line
// (the previous reader killed inside a write) goes, new lines follow.
TEST(ExportOutputFile, ResumeKeepsWholeLinesAndCutsATornOne) {
  char tmpl[] = "/tmp/agentring-resume-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  const std::string path = tmpl;
  auto slurp = [&] {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  std::ofstream(path, std::ios::trunc) << "line one\nline two\npartial li";
  std::string error;
  {
    auto out = OpenOutput(path, &error, /*resume=*/true);
    ASSERT_NE(out, nullptr) << error;
    ASSERT_TRUE(out->WriteWhole("line three\n"));
  }
  EXPECT_EQ(slurp(), "line one\nline two\nline three\n");
  std::ofstream(path, std::ios::trunc) << std::string(10000, 'x');  // no whole line at all
  {
    auto out = OpenOutput(path, &error, /*resume=*/true);
    ASSERT_NE(out, nullptr) << error;
    ASSERT_TRUE(out->WriteWhole("fresh\n"));
  }
  EXPECT_EQ(slurp(), "fresh\n");
  {
    auto out = OpenOutput(path, &error);  // not resumed: truncated like every --out
    ASSERT_NE(out, nullptr) << error;
  }
  EXPECT_EQ(slurp(), "");
  unlink(path.c_str());
}

}  // namespace
}  // namespace agentring::reader
