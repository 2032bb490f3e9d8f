// The /metrics endpoint over real HTTP on 127.0.0.1: MetricsServer on an ephemeral port serving
// ReaderMetrics, fetched with a Boost.Beast client. Proves the status codes, headers and body,
// keep-alive, bind errors, a prompt stop with a client still connected, and that what a scraper
// receives passes the format check and `promtool check metrics`.
#include "reader/metrics/metrics_server.h"

#include <memory>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "agentring/agentring.hpp"
#include "reader/metrics/reader_metrics.h"
#include "unit/exposition_check.h"

namespace agentring::reader {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// One client connection to 127.0.0.1:port.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  http::response<http::string_body> Request(http::verb method, const std::string& target,
                                            bool keep_alive = false) {
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    req.prepare_payload();
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res;
  }
  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

std::unique_ptr<SpanData> Turn(uint64_t id, uint64_t dur_ms, bool error) {
  auto s = std::make_unique<SpanData>();
  s->trace_id = TraceId{1, 2};
  s->span_id = id;
  s->kind = static_cast<uint8_t>(Kind::kTurn);
  s->start_unix_ns = 1'700'000'000'000'000'000ull;
  s->end_unix_ns = s->start_unix_ns + dur_ms * 1'000'000ull;
  s->ended = true;
  s->status = error ? SpanStatus::kError : SpanStatus::kUnset;
  return s;
}

std::unique_ptr<MetricsServer> StartOrFail(ReaderMetrics* m, uint16_t port = 0) {
  std::string error;
  auto server = MetricsServer::Start("127.0.0.1", port, [m] { return m->Render(); }, &error);
  EXPECT_NE(server, nullptr) << error;
  return server;
}

TEST(MetricsServer, ServesTheExpositionAtSlashMetrics) {
  ReaderMetrics m;
  auto server = StartOrFail(&m);
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->port(), 0);

  Client c(server->port());
  auto res = c.Request(http::verb::get, "/metrics");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res.body(), m.Render());
  testing::ParsedExposition p = testing::CheckExposition(res.body());
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  EXPECT_EQ(p.Value("agent_turns_total"), 0);

  // New samples show in the next scrape (a query string is ignored).
  TraceBatch b;
  b.trace_id = TraceId{1, 2};
  b.spans.push_back(Turn(1, 500, false));
  b.spans.push_back(Turn(2, 700, true));
  m.ObserveTrace(b);
  Client c2(server->port());
  res = c2.Request(http::verb::get, "/metrics?debug=1");
  EXPECT_EQ(res.result(), http::status::ok);
  p = testing::CheckExposition(res.body());
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.Value("agent_turns_total"), 2);
  EXPECT_EQ(p.Value("agent_errors_total", {{"kind", "turn"}}), 1);
  EXPECT_EQ(p.Value("agent_turn_latency_seconds_bucket", {{"le", "0.64"}}), 1);
  EXPECT_EQ(server->requests_served(), 2u);
}

TEST(MetricsServer, OtherPathsAre404AndOtherMethods405) {
  ReaderMetrics m;
  auto server = StartOrFail(&m);
  ASSERT_NE(server, nullptr);
  {
    Client c(server->port());
    auto res = c.Request(http::verb::get, "/");
    EXPECT_EQ(res.result(), http::status::not_found);
  }
  {
    Client c(server->port());
    auto res = c.Request(http::verb::get, "/metricsx");
    EXPECT_EQ(res.result(), http::status::not_found);
  }
  {
    Client c(server->port());
    auto res = c.Request(http::verb::post, "/metrics");
    EXPECT_EQ(res.result(), http::status::method_not_allowed);
    EXPECT_EQ(res[http::field::allow], "GET");
  }
  {
    Client c(server->port());
    auto res = c.Request(http::verb::delete_, "/other");
    EXPECT_EQ(res.result(), http::status::method_not_allowed);
  }
}

TEST(MetricsServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  ReaderMetrics m;
  auto server = StartOrFail(&m);
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  for (int i = 0; i < 3; ++i) {
    auto res = c.Request(http::verb::get, i == 1 ? "/nope" : "/metrics", /*keep_alive=*/true);
    EXPECT_EQ(res.result(), i == 1 ? http::status::not_found : http::status::ok) << i;
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(server->requests_served(), 3u);
}

TEST(MetricsServer, RenderErrorsAre500) {
  std::string error;
  auto server = MetricsServer::Start(
      "127.0.0.1", 0, []() -> std::string { throw std::runtime_error("boom"); }, &error);
  ASSERT_NE(server, nullptr) << error;
  Client c(server->port());
  auto res = c.Request(http::verb::get, "/metrics");
  EXPECT_EQ(res.result(), http::status::internal_server_error);
  EXPECT_EQ(res.body(), "cannot render metrics: boom\n");
}

TEST(MetricsServer, BindErrorsAreOneLine) {
  ReaderMetrics m;
  auto first = StartOrFail(&m);
  ASSERT_NE(first, nullptr);
  std::string error;
  auto second = MetricsServer::Start("127.0.0.1", first->port(), [] { return std::string(); },
                                     &error);
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(error, "metrics: cannot listen on 127.0.0.1:" + std::to_string(first->port()) +
                       ": bind: Address already in use");
  error.clear();
  EXPECT_EQ(MetricsServer::Start("no such host.invalid", 0, [] { return std::string(); }, &error),
            nullptr);
  EXPECT_EQ(error.rfind("metrics: bad bind address 'no such host.invalid': ", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  // 192.0.2.1 (TEST-NET-1) is no address of this host.
  error.clear();
  EXPECT_EQ(MetricsServer::Start("192.0.2.1", 0, [] { return std::string(); }, &error), nullptr);
  EXPECT_EQ(error.rfind("metrics: cannot listen on 192.0.2.1:0: bind: ", 0), 0u) << error;
}

TEST(MetricsServer, LocalhostResolves) {
  std::string error;
  auto server = MetricsServer::Start("localhost", 0, [] { return std::string("x 1\n"); }, &error);
  ASSERT_NE(server, nullptr) << error;
  EXPECT_NE(server->port(), 0);
}

// The destructor must return with a client connected mid-request (head sent, no end) and with an
// idle keep-alive connection: a hang fails the test by its timeout. Afterwards the port is closed.
TEST(MetricsServer, StopsWithClientsConnected) {
  ReaderMetrics m;
  auto server = StartOrFail(&m);
  ASSERT_NE(server, nullptr);
  uint16_t port = server->port();
  Client idle(port);
  ASSERT_EQ(idle.Request(http::verb::get, "/metrics", /*keep_alive=*/true).result(),
            http::status::ok);
  Client partial(port);
  std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\n";  // no blank line: never complete
  asio::write(partial.socket(), asio::buffer(head));
  server.reset();
  // The connections were closed by the server: reading hits end of stream (or a reset).
  beast::error_code ec;
  char byte;
  idle.socket().read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec) << "the idle connection is still open";
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_TRUE(ec) << "the port still accepts connections";
}

// What a scraper receives passes Prometheus's own linter, before and after samples.
TEST(MetricsServer, PromtoolCheckMetricsOnTheScrapedText) {
  ReaderMetrics m;
  auto server = StartOrFail(&m);
  ASSERT_NE(server, nullptr);
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      TraceBatch b;
      b.trace_id = TraceId{1, 2};
      b.spans.push_back(Turn(1, 500, true));
      m.ObserveTrace(b);
      ReaderHealth h;
      h.lanes_total = 4;
      h.lanes_in_use = 1;
      h.lane_fill = {{0, 0.5}};
      h.exporters.push_back({"otlp", 10, 1, 0, {{"queue_full", 2}}, {{"retries", 1}}});
      m.SetHealth(h);
    }
    Client c(server->port());
    auto res = c.Request(http::verb::get, "/metrics");
    ASSERT_EQ(res.result(), http::status::ok);
    auto result = testing::PromtoolCheck(res.body());
    if (!result) {
      fputs(testing::kPromtoolMissing, stderr);
      GTEST_SKIP() << testing::kPromtoolMissing;
    }
    EXPECT_EQ(result->first, 0) << result->second << "\n--- scraped ---\n" << res.body();
    EXPECT_EQ(result->second, "");
  }
}

}  // namespace
}  // namespace agentring::reader
