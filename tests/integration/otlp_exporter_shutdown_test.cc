// The OTLP exporter's Shutdown() from another thread, against real sockets on 127.0.0.1: it must
// end a blocked export (a retry wait of an hour, a request the server never answers) and the
// export must report its spans as not delivered. The waits here are bounded far above what a
// working Shutdown() needs and far below what the exporter would wait without it.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "integration/otlp_listener.h"
#include "reader/export/otlp_http.h"

namespace agentring::it {
namespace {

using reader::Exporter;
using reader::OtlpHttpOptions;
using reader::TraceBatch;

constexpr std::chrono::seconds kBound{60};

TraceBatch OneSpanTrace() {
  TraceBatch b;
  b.trace_id = {1, 2};
  auto s = std::make_unique<reader::SpanData>();
  s->trace_id = b.trace_id;
  s->span_id = 3;
  s->name = "stuck";
  s->start_unix_ns = 1;
  s->end_unix_ns = 2;
  s->ended = true;
  b.spans.push_back(std::move(s));
  return b;
}

// Runs one export on its own thread, calls Shutdown() once `ready` says the export is blocked,
// and returns what the export returned.
uint64_t ExportThenShutdown(Exporter& exporter, const std::function<bool()>& ready) {
  TraceBatch b = OneSpanTrace();
  const TraceBatch* traces[] = {&b};
  auto result = std::async(std::launch::async, [&] { return exporter.ExportBatch(traces); });
  const auto deadline = std::chrono::steady_clock::now() + kBound;
  while (!ready() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(ready()) << "the export never reached the blocking step";
  exporter.Shutdown();
  if (result.wait_for(kBound) != std::future_status::ready) {
    ADD_FAILURE() << "Shutdown() did not end the blocked export";
    std::quick_exit(1);  // the export thread still uses the exporter: do not unwind
  }
  return result.get();
}

std::vector<std::pair<std::string, uint64_t>> Counters(const Exporter& e) {
  std::vector<std::pair<std::string, uint64_t>> c;
  e.AppendCounters(&c);
  return c;
}

uint64_t Counter(const Exporter& e, const std::string& name) {
  for (const auto& [k, v] : Counters(e))
    if (k == name) return v;
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

TEST(OtlpExporterShutdown, InterruptsARetryWait) {
  OtlpListener listener({.fail_first = 1000, .fail_status = 503, .retry_after = "3600"});
  std::string error;
  ASSERT_TRUE(listener.Start(&error)) << error;
  OtlpHttpOptions o;
  o.endpoint = listener.base_url() + "/v1/traces";
  o.retry_max_elapsed_ms = 24 * 3600 * 1000ull;  // would wait the full Retry-After hour
  auto exporter = reader::MakeOtlpHttpExporter(o, &error);
  ASSERT_NE(exporter, nullptr) << error;
  const uint64_t failed =
      ExportThenShutdown(*exporter, [&] { return listener.counts().failed_on_purpose >= 1; });
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(Counter(*exporter, "spans_failed"), 1u);
  EXPECT_EQ(Counter(*exporter, "responses_5xx"), 1u);
  // After Shutdown() nothing more is attempted.
  TraceBatch b = OneSpanTrace();
  EXPECT_FALSE(exporter->Export(b));
  EXPECT_EQ(Counter(*exporter, "requests"), 1u);
}

TEST(OtlpExporterShutdown, InterruptsARequestNeverAnswered) {
  // A socket that listens but never accepts: connect() completes from the backlog, the request
  // is sent, and the response never comes.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  OtlpHttpOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1/traces";
  o.timeout_ms = 3600 * 1000;  // the request alone would wait an hour
  std::string error;
  auto exporter = reader::MakeOtlpHttpExporter(o, &error);
  ASSERT_NE(exporter, nullptr) << error;
  const uint64_t failed =
      ExportThenShutdown(*exporter, [&] { return Counter(*exporter, "requests") >= 1; });
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(Counter(*exporter, "spans_failed"), 1u);
  EXPECT_EQ(Counter(*exporter, "responses_2xx"), 0u);
  close(fd);
}

}  // namespace
}  // namespace agentring::it
