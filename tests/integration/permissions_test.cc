// Integration tests of segment permissions with the real binaries: a created segment is 0600 and
// belongs to its creator; --group shares it (0660, the group set on the shm file); a segment that
// belongs to another user is refused by the reader, by writers and by `agentring stats` with one
// line naming the owner, unless told otherwise (--allow-foreign-owner,
// AGENTRING_ALLOW_FOREIGN_OWNER=1). The foreign-owner test needs root to chown the shm file (CI
// runs as root); it is skipped otherwise.
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "agentring/internal/segment_map.h"
#include "integration/harness.h"

namespace agentring::it {
namespace {

std::string ShmPath(const std::string& segment) { return "/dev/shm/agentring." + segment; }

size_t Lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(Permissions, CreatedSegmentIs0600AndOwnedByItsCreator) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  struct stat st {};
  ASSERT_EQ(stat(ShmPath(seg.name()).c_str(), &st), 0) << ShmPath(seg.name());
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
  ASSERT_TRUE(StopReader(reader));
}

TEST(Permissions, GroupSharesTheSegment0660) {
  group* daemon = getgrnam("daemon");
  ASSERT_NE(daemon, nullptr) << "the test expects the standard 'daemon' group";
  const gid_t gid = daemon->gr_gid;
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader = StartReader(seg.name(), dir, "reader", {"--create", "--group", "daemon"});
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  struct stat st {};
  ASSERT_EQ(stat(ShmPath(seg.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, gid);
  CommandResult stats = RunCommand({CliPath(), "stats", "--segment", seg.name(), "--json"});
  ASSERT_EQ(stats.exit_code(), 0) << stats.Describe();
  boost::json::object o;
  ASSERT_TRUE(ParseJsonObject(stats.out, &o));
  EXPECT_EQ(o["mode"].as_string(), "0660");
  EXPECT_EQ(U64(o, "owner_gid"), gid);
  ASSERT_TRUE(StopReader(reader));
}

TEST(Permissions, BadGroupOrPolicyIsAUsageError) {
  SegmentGuard seg(UniqueSegmentName());
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--create", "--group", "no-such-group-agentring"},
        std::vector<std::string>{"--create", "--full-policy", "sometimes"},
        std::vector<std::string>{"--group", "daemon"},  // without --create
        std::vector<std::string>{"--full-policy", "overwrite"}}) {
    std::vector<std::string> argv = {ReaderPath(), "--segment", seg.name()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code(), 2) << r.Describe();
    EXPECT_EQ(r.err.rfind("agentring-reader: ", 0), 0u) << r.err;
    EXPECT_FALSE(SegmentExists(seg.name()));
  }
}

// An existing segment is not silently reused with another policy than the one asked for.
TEST(Permissions, ExistingSegmentWithAnotherPolicyIsRefused) {
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess first = StartReader(seg.name(), dir, "first",
                                    {"--create", "--full-policy", "overwrite", "--exit-when-idle-ms", "0"});
  ASSERT_TRUE(WaitForReaderExit(first));
  CommandResult r = RunCommand({ReaderPath(), "--segment", seg.name(), "--create", "--full-policy",
                                "drop", "--exit-when-idle-ms", "0"});
  EXPECT_EQ(r.exit_code(), 1) << r.Describe();
  EXPECT_NE(r.err.find("already exists with full policy 'overwrite'"), std::string::npos) << r.err;
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  // Without --full-policy the existing segment is used as it is.
  CommandResult again = RunCommand(
      {ReaderPath(), "--segment", seg.name(), "--create", "--exit-when-idle-ms", "0"});
  EXPECT_EQ(again.exit_code(), 0) << again.Describe();
}

TEST(Permissions, ForeignOwnerIsRefusedUnlessAllowed) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the segment to another user";
  constexpr uid_t kNobody = 65534;
  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess creator = StartReader(seg.name(), dir, "creator",
                                      {"--create", "--exit-when-idle-ms", "0"});
  ASSERT_TRUE(WaitForReaderExit(creator));
  ASSERT_EQ(chown(ShmPath(seg.name()).c_str(), kNobody, kNobody), 0);

  // The reader refuses, naming the owner and the way out, in one line.
  CommandResult reader = RunCommand({ReaderPath(), "--segment", seg.name(), "--exporter", "jsonl",
                                     "--out", dir.File("refused.jsonl")});
  EXPECT_EQ(reader.exit_code(), 1) << reader.Describe();
  EXPECT_NE(reader.err.find("owned by uid 65534"), std::string::npos) << reader.err;
  EXPECT_NE(reader.err.find("--allow-foreign-owner"), std::string::npos) << reader.err;
  EXPECT_EQ(Lines(reader.err), 1u) << reader.err;

  // So does `agentring stats`.
  CommandResult stats = RunCommand({CliPath(), "stats", "--segment", seg.name()});
  EXPECT_EQ(stats.exit_code(), 1) << stats.Describe();
  EXPECT_NE(stats.err.find("owned by uid 65534"), std::string::npos) << stats.err;

  // A writer refuses too: nothing committed, every span counted as "no segment", one warning.
  CommandResult refused = RunCommand({CliPath(), "loadgen", "--segment", seg.name(), "--traces",
                                      "5", "--spans-per-trace", "2"});
  ASSERT_EQ(refused.exit_code(), 0) << refused.Describe();
  boost::json::object summary;
  ASSERT_TRUE(ParseJsonObject(refused.out, &summary));
  EXPECT_EQ(U64(summary, "spans_committed"), 0u);
  EXPECT_EQ(U64(summary, "spans_started"), 10u);
  EXPECT_NE(refused.err.find("owned by uid 65534"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("AGENTRING_ALLOW_FOREIGN_OWNER=1"), std::string::npos) << refused.err;
  EXPECT_EQ(Lines(refused.err), 1u) << refused.err;

  // Told otherwise, the writer writes and the reader reads.
  CommandResult allowed = RunCommand({CliPath(), "loadgen", "--segment", seg.name(), "--traces",
                                      "5", "--spans-per-trace", "2"},
                                     {{"AGENTRING_ALLOW_FOREIGN_OWNER", "1"}});
  ASSERT_EQ(allowed.exit_code(), 0) << allowed.Describe();
  ASSERT_TRUE(ParseJsonObject(allowed.out, &summary));
  EXPECT_EQ(U64(summary, "spans_committed"), 10u);
  EXPECT_EQ(allowed.err, "");

  ReaderProcess trusting = StartReader(seg.name(), dir, "trusting",
                                       {"--allow-foreign-owner", "--exit-when-idle-ms", "300"});
  ASSERT_TRUE(WaitForReaderExit(trusting));
  boost::json::object rs;
  ASSERT_TRUE(ReadJsonObjectFile(trusting.stats_path, &rs));
  EXPECT_EQ(U64(rs, "spans_exported"), 10u);
  CommandResult stats_allowed =
      RunCommand({CliPath(), "stats", "--segment", seg.name(), "--allow-foreign-owner"});
  EXPECT_EQ(stats_allowed.exit_code(), 0) << stats_allowed.Describe();
  EXPECT_NE(stats_allowed.out.find("owner: uid 65534 (nobody)"), std::string::npos)
      << stats_allowed.out;
}

}  // namespace
}  // namespace agentring::it
