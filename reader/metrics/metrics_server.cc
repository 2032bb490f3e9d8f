// The /metrics HTTP server (see metrics_server.h): one io_context on one thread, an acceptor and
// one Session per connection, all asynchronous (Boost.Beast's tcp_stream with timeouts).
#include "reader/metrics/metrics_server.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace agentring::reader {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::chrono::seconds kIdleTimeout{30};
constexpr uint64_t kMaxRequestBytes = 8 * 1024;  // head and body
constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

struct MetricsServer::Impl {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::function<std::string()> render;
  std::thread thread;
  uint16_t port = 0;
  std::atomic<uint64_t> requests{0};

  void Accept();
  http::response<http::string_body> Respond(const http::request<http::string_body>& req);
};

namespace {

// One connection: read a request, write its response, repeat while the client keeps it alive.
// Owned by the shared_ptrs its pending handlers hold; destroyed with the io_context at the latest.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, MetricsServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}

  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) {  // end of stream, timeout, a malformed or oversized request: close
      Close();
      return;
    }
    http::request<http::string_body> req = parser_->release();
    response_ = server_->Respond(req);
    server_->requests.fetch_add(1, std::memory_order_relaxed);
    response_.keep_alive(req.keep_alive());
    response_.prepare_payload();
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->OnWrite(ec);
                      });
  }

  void OnWrite(beast::error_code ec) {
    if (ec || !response_.keep_alive()) {
      Close();
      return;
    }
    response_ = {};
    Read();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  MetricsServer::Impl* server_;
};

}  // namespace

void MetricsServer::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;  // stopping
    if (!ec) std::make_shared<Session>(std::move(socket), this)->Read();
    // Other accept errors (out of descriptors) are transient: keep accepting.
    Accept();
  });
}

http::response<http::string_body> MetricsServer::Impl::Respond(
    const http::request<http::string_body>& req) {
  http::response<http::string_body> res;
  res.version(req.version());
  res.set(http::field::server, "agentring-reader");
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  if (req.method() != http::verb::get) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "method not allowed: only GET /metrics\n";
  } else if (path != "/metrics") {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "not found: the metrics are at /metrics\n";
  } else {
    try {
      res.body() = render();
      res.result(http::status::ok);
      res.set(http::field::content_type, kExpositionContentType);
    } catch (const std::exception& e) {
      res.result(http::status::internal_server_error);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = std::string("cannot render metrics: ") + e.what() + "\n";
    }
  }
  return res;
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<MetricsServer> MetricsServer::Start(const std::string& bind, uint16_t port,
                                                    std::function<std::string()> render,
                                                    std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->render = std::move(render);
  beast::error_code ec;
  asio::ip::address address = asio::ip::make_address(bind, ec);
  if (ec) {
    // Not an address literal: a host name ("localhost").
    tcp::resolver resolver(impl->ioc);
    auto results = resolver.resolve(bind, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      *error = "metrics: bad bind address '" + bind + "': " +
               (ec ? ec.message() : std::string("no address found"));
      return nullptr;
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, port);
  auto fail = [&](const char* what) {
    *error = "metrics: cannot listen on " + bind + ":" + std::to_string(port) + ": " + what +
             ": " + ec.message();
    return nullptr;
  };
  impl->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  // Lets a restarted reader bind while old connections sit in TIME_WAIT; on Linux it does not let
  // two listeners share the port.
  impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  impl->acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl->port = impl->acceptor.local_endpoint(ec).port();
  if (ec) return fail("getsockname");

  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    for (;;) {
      try {
        raw->ioc.run();
        return;  // stopped
      } catch (const std::exception& e) {
        // A handler threw (bad_alloc): log it and keep serving.
        fprintf(stderr, "agentring-reader: metrics server: %s\n", e.what());
      }
    }
  });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::~MetricsServer() {
  // stop() makes run() return as soon as the handler in progress (if any) finishes. Once the
  // thread is joined nothing else touches the acceptor; sessions still pending are destroyed with
  // the io_context (in ~Impl), which closes their sockets.
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

uint16_t MetricsServer::port() const { return impl_->port; }

uint64_t MetricsServer::requests_served() const {
  return impl_->requests.load(std::memory_order_relaxed);
}

}  // namespace agentring::reader
