// Tests for size-based rotation of --out files (OpenRotatingOutput, reader/export/output_file.h)
// on real files: the exact set of files kept, every line exactly once across them in order,
// never a split line, the cap honoured, failures counted rather than fatal; and the jsonl
// exporter writing real trace batches through it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reader/export/exporter.h"
#include "reader/export/jsonl_reader.h"
#include "reader/export/output_file.h"

namespace agentring::reader {
namespace {

// A fresh directory per test, removed with its files afterwards.
class RotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "export_rotation_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/out.jsonl";
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  // The files in the directory, by name.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    std::string cmd = "ls -1 '" + dir_ + "'";
    FILE* f = popen(cmd.c_str(), "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
      std::string s(line);
      if (!s.empty() && s.back() == '\n') s.pop_back();
      names.push_back(s);
    }
    if (f) pclose(f);
    return names;
  }
  std::string dir_;
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// "line 007 ......\n": exactly 30 bytes.
std::string Line(int i) {
  char buf[32];
  snprintf(buf, sizeof(buf), "line %03d ", i);
  std::string s(buf);
  s.append(29 - s.size(), '.');
  s.push_back('\n');
  return s;
}

TEST_F(RotationTest, KeepsExactlyTheCappedFilesAndEveryLineOnceInOrder) {
  std::string error;
  // 100 bytes hold three 30-byte lines; a fourth (120) rotates. 3 files in all.
  auto out = OpenRotatingOutput(path_, RotationPolicy{100, 3}, &error);
  ASSERT_NE(out, nullptr) << error;
  for (int i = 1; i <= 20; ++i) ASSERT_TRUE(out->WriteWhole(Line(i)));
  EXPECT_EQ(out->rotations(), 6u);  // 20 lines = 7 files of up to 3 lines
  EXPECT_EQ(out->rotation_failures(), 0u);
  out.reset();

  EXPECT_EQ(Files(), (std::vector<std::string>{"out.jsonl", "out.jsonl.1", "out.jsonl.2"}));
  // Oldest to newest: PATH.2, PATH.1, PATH hold lines 13..20, each once and whole.
  std::string want;
  for (int i = 13; i <= 20; ++i) want += Line(i);
  EXPECT_EQ(ReadAll(path_ + ".2") + ReadAll(path_ + ".1") + ReadAll(path_), want);
  EXPECT_EQ(ReadAll(path_ + ".2"), Line(13) + Line(14) + Line(15));
  EXPECT_EQ(ReadAll(path_), Line(19) + Line(20));
}

TEST_F(RotationTest, UnderTheCapNothingIsLost) {
  std::string error;
  auto out = OpenRotatingOutput(path_, RotationPolicy{100, 10}, &error);
  ASSERT_NE(out, nullptr) << error;
  for (int i = 1; i <= 20; ++i) ASSERT_TRUE(out->WriteWhole(Line(i)));
  out.reset();
  std::string all, want;
  for (int i = 6; i >= 1; --i) {
    const std::string f = path_ + "." + std::to_string(i);
    const std::string text = ReadAll(f);
    EXPECT_LE(text.size(), 100u) << f;
    all += text;
  }
  all += ReadAll(path_);
  for (int i = 1; i <= 20; ++i) want += Line(i);
  EXPECT_EQ(all, want);
  EXPECT_EQ(Files().size(), 7u);
}

TEST_F(RotationTest, LongerLineThanTheLimitGoesWholeIntoItsOwnFile) {
  std::string error;
  auto out = OpenRotatingOutput(path_, RotationPolicy{10, 5}, &error);
  ASSERT_NE(out, nullptr) << error;
  const std::string big = std::string(49, 'b') + "\n";
  ASSERT_TRUE(out->WriteWhole("abc\n"));
  ASSERT_TRUE(out->WriteWhole(big));
  ASSERT_TRUE(out->WriteWhole("x\n"));
  out.reset();
  EXPECT_EQ(ReadAll(path_ + ".2"), "abc\n");
  EXPECT_EQ(ReadAll(path_ + ".1"), big);
  EXPECT_EQ(ReadAll(path_), "x\n");
  EXPECT_FALSE(Exists(path_ + ".3"));
}

TEST_F(RotationTest, OneFileRestartsEmpty) {
  std::string error;
  auto out = OpenRotatingOutput(path_, RotationPolicy{60, 1}, &error);
  ASSERT_NE(out, nullptr) << error;
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(out->WriteWhole(Line(i)));
  out.reset();
  EXPECT_EQ(Files(), (std::vector<std::string>{"out.jsonl"}));
  EXPECT_EQ(ReadAll(path_), Line(5));
}

// --out truncates; the rotated files of an earlier run go too (up to the cap), so the files
// present all come from this run. Files beyond the cap are not this run's business.
TEST_F(RotationTest, OpeningRemovesAnEarlierRunsRotatedFiles) {
  for (const char* suffix : {"", ".1", ".2", ".7"}) {
    std::ofstream f(path_ + suffix);
    f << "old\n";
  }
  std::string error;
  auto out = OpenRotatingOutput(path_, RotationPolicy{100, 3}, &error);
  ASSERT_NE(out, nullptr) << error;
  EXPECT_EQ(ReadAll(path_), "");
  EXPECT_FALSE(Exists(path_ + ".1"));
  EXPECT_FALSE(Exists(path_ + ".2"));
  EXPECT_EQ(ReadAll(path_ + ".7"), "old\n");
}

TEST_F(RotationTest, RefusesWhatCannotRotate) {
  std::string error;
  EXPECT_EQ(OpenRotatingOutput("-", RotationPolicy{100, 2}, &error), nullptr);
  EXPECT_NE(error.find("standard output"), std::string::npos) << error;
  EXPECT_EQ(OpenRotatingOutput("/dev/null", RotationPolicy{100, 2}, &error), nullptr);
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
  EXPECT_EQ(OpenRotatingOutput(path_, RotationPolicy{0, 2}, &error), nullptr);
  EXPECT_NE(error.find("--out-max-bytes"), std::string::npos) << error;
  EXPECT_EQ(OpenRotatingOutput(path_, RotationPolicy{100, 0}, &error), nullptr);
  EXPECT_NE(error.find("--out-max-files"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

// A rotation that cannot rename (here PATH.1 is a non-empty directory; the tests may run as
// root, so permissions would not stop it) is counted; every write still lands, in PATH, and
// rotation is retried after another max_bytes.
TEST_F(RotationTest, FailedRotationIsCountedAndWritingGoesOn) {
  std::string error;
  auto out = OpenRotatingOutput(path_, RotationPolicy{100, 2}, &error);
  ASSERT_NE(out, nullptr) << error;
  ASSERT_EQ(mkdir((path_ + ".1").c_str(), 0755), 0);
  { std::ofstream f(path_ + ".1/keep"); f << "x"; }
  std::string want;
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(out->WriteWhole(Line(i)));
    want += Line(i);
  }
  // Lines 1-3 fill the file; line 4 fails to rotate (and resets the count), lines 4-6 ride on,
  // line 7 fails again, line 10 again.
  EXPECT_EQ(out->rotation_failures(), 3u);
  EXPECT_EQ(out->rotations(), 0u);
  out.reset();
  EXPECT_EQ(ReadAll(path_), want);
}

std::unique_ptr<SpanData> Span(TraceId trace, uint64_t id, uint64_t parent, uint64_t start_ns) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = trace;
  s->span_id = id;
  s->parent_span_id = parent;
  s->name = "span " + std::to_string(id);
  s->kind = 4;
  s->start_unix_ns = start_ns;
  s->end_unix_ns = start_ns + 1000;
  s->ended = true;
  return s;
}

// The jsonl exporter through rotation: every file holds whole OTLP lines (each parses), no file
// exceeds the limit, and the files together hold every span exactly once.
TEST_F(RotationTest, JsonlExporterRotatesBetweenLines) {
  std::string error;
  auto exporter = MakeJsonlExporter(OpenRotatingOutput(path_, RotationPolicy{4096, 100}, &error));
  ASSERT_NE(exporter, nullptr) << error;
  constexpr uint64_t kTraces = 60, kSpansPerTrace = 5;
  for (uint64_t t = 1; t <= kTraces; ++t) {
    TraceBatch b;
    b.trace_id = TraceId{0, t};
    for (uint64_t i = 0; i < kSpansPerTrace; ++i)
      b.spans.push_back(Span(b.trace_id, t * 100 + i + 1, i ? t * 100 + 1 : 0, 1'000'000 * t + i));
    ASSERT_TRUE(exporter->Export(b));
  }
  std::vector<std::pair<std::string, uint64_t>> counters;
  exporter->AppendCounters(&counters);
  exporter.reset();
  ASSERT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters[0].first, "rotations");
  EXPECT_GT(counters[0].second, 2u);
  EXPECT_EQ(counters[1], (std::pair<std::string, uint64_t>{"rotation_failures", 0}));

  const std::vector<std::string> files = Files();
  EXPECT_EQ(files.size(), counters[0].second + 1);
  JsonStringPool pool;
  std::vector<TraceBatch> read;
  uint64_t expect_next = 1;  // traces come back in order, oldest file first
  for (uint64_t i = counters[0].second; ; --i) {
    const std::string f = i ? path_ + "." + std::to_string(i) : path_;
    const std::string text = ReadAll(f);
    EXPECT_LE(text.size(), 4096u) << f;
    ASSERT_FALSE(text.empty()) << f;
    EXPECT_EQ(text.back(), '\n') << f;
    std::vector<TraceBatch> part;
    ASSERT_TRUE(ReadOtlpJsonLines(f, &pool, &part, &error)) << error;
    for (const TraceBatch& b : part) {
      EXPECT_EQ(b.trace_id.lo, expect_next) << f;
      EXPECT_EQ(b.spans.size(), kSpansPerTrace) << f;
      ++expect_next;
    }
    if (i == 0) break;
  }
  EXPECT_EQ(expect_next, kTraces + 1);
}

}  // namespace
}  // namespace agentring::reader
