// The loopback OTLP/HTTP receiver of the integration tests (see otlp_listener.h).
#include "integration/otlp_listener.h"

#include <sys/socket.h>
#include <zlib.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace agentring::it {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct OtlpListener::Impl {
  asio::io_context ioc;
  std::unique_ptr<asio::ssl::context> tls;  // null for plain HTTP
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread accept_thread;
  std::vector<std::shared_ptr<tcp::socket>> connections;
  std::vector<std::thread> connection_threads;
  bool stopping = false;
};

namespace {

// Inflates a gzip (or zlib) body. False when it is not one.
bool Gunzip(const std::string& in, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return false;  // +32: gzip or zlib header
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out->append(buf, sizeof(buf) - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END;
}

}  // namespace

OtlpListener::OtlpListener(OtlpListenerOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

OtlpListener::~OtlpListener() { Stop(); }

bool OtlpListener::Start(std::string* error) {
  Stop();
  std::lock_guard<std::mutex> lock(mu_);
  beast::error_code ec;
  if (!options_.tls_certificate_file.empty() && !impl_->tls) {
    auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls->use_certificate_chain_file(options_.tls_certificate_file, ec);
    if (!ec) tls->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
    if (!ec && !options_.tls_client_ca_file.empty()) {
      tls->load_verify_file(options_.tls_client_ca_file, ec);
      tls->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
    if (ec) {
      *error = "listener TLS setup: " + ec.message();
      return false;
    }
    impl_->tls = std::move(tls);
  }
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->ioc);
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "listener cannot bind 127.0.0.1:" + std::to_string(port_) + ": " + ec.message();
    return false;
  }
  port_ = acceptor->local_endpoint().port();
  impl_->acceptor = std::move(acceptor);
  impl_->stopping = false;
  impl_->accept_thread = std::thread([this] { AcceptLoop(); });
  return true;
}

void OtlpListener::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!impl_->acceptor) return;
    impl_->stopping = true;
    // shutdown() wakes the threads blocked in accept() and read() on these sockets.
    ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
    for (auto& c : impl_->connections) ::shutdown(c->native_handle(), SHUT_RDWR);
  }
  impl_->accept_thread.join();
  for (std::thread& t : impl_->connection_threads) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  impl_->connection_threads.clear();
  impl_->connections.clear();  // closes them
  impl_->acceptor.reset();
}

void OtlpListener::AcceptLoop() {
  for (;;) {
    auto socket = std::make_shared<tcp::socket>(impl_->ioc);
    beast::error_code ec;
    impl_->acceptor->accept(*socket, ec);
    std::lock_guard<std::mutex> lock(mu_);
    if (impl_->stopping) return;
    if (ec) continue;
    impl_->connections.push_back(socket);
    const int index = static_cast<int>(impl_->connections.size()) - 1;
    impl_->connection_threads.emplace_back([this, index] { Serve(index); });
  }
}

void OtlpListener::Serve(int connection) {
  std::shared_ptr<tcp::socket> socket;
  {
    std::lock_guard<std::mutex> lock(mu_);
    socket = impl_->connections[connection];
  }
  const int fd = socket->native_handle();
  if (!impl_->tls) {
    ServeRequests(*socket, fd);
    return;
  }
  asio::ssl::stream<tcp::socket&> stream(*socket, *impl_->tls);
  beast::error_code ec;
  stream.handshake(asio::ssl::stream_base::server, ec);
  if (ec) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.tls_handshakes_failed;
    ::shutdown(fd, SHUT_RDWR);
    return;
  }
  ServeRequests(stream, fd);
}

template <typename Stream>
void OtlpListener::ServeRequests(Stream& stream, int native_fd) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec) return;
    const http::request<http::string_body>& req = parser.get();

    std::lock_guard<std::mutex> lock(mu_);  // record and answer as one step (see the header)
    if (impl_->stopping) return;
    ++counts_.requests;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/x-protobuf");
    auto reject = [&](http::status status, const std::string& why) {
      counts_.errors.push_back(why);
      res.result(status);
      res.set(http::field::content_type, "text/plain");
      res.body() = why;
    };
    std::string body_storage;
    const std::string* body = &req.body();
    const std::string content_type(req[http::field::content_type]);
    if (counts_.failed_on_purpose < static_cast<uint64_t>(options_.fail_first)) {
      ++counts_.failed_on_purpose;
      res.result(options_.fail_status);
      if (!options_.retry_after.empty()) res.set(http::field::retry_after, options_.retry_after);
      res.body() = "try later";
    } else if (req.method() != http::verb::post || req.target() != "/v1/traces") {
      reject(http::status::not_found, "unexpected " + std::string(req.method_string()) + " " +
                                          std::string(req.target()));
    } else if (req[http::field::content_encoding] == "gzip" &&
               (++counts_.gzip_requests, !Gunzip(req.body(), &body_storage))) {
      reject(http::status::bad_request, "body is not gzip");
    } else {
      if (req[http::field::content_encoding] == "gzip") body = &body_storage;
      otlp_test::Request decoded;
      std::string error;
      bool ok = false;
      if (content_type == "application/x-protobuf") {
        ++counts_.protobuf_requests;
        ok = otlp_test::DecodeProtoRequest(*body, &decoded, &error);
      } else if (content_type == "application/json") {
        ++counts_.json_requests;
        ok = otlp_test::DecodeJsonRequest(*body, &decoded, &error);
      } else {
        error = "unexpected Content-Type '" + content_type + "'";
      }
      if (!ok) {
        reject(http::status::bad_request, error);
      } else {
        for (otlp_test::ResourceSpans& rs : decoded.resource_spans) {
          ReceivedSpan base;
          if (const otlp_test::Value* v = rs.FindResource("service.name")) base.service_name = v->s;
          if (const otlp_test::Value* v = rs.FindResource("process.pid")) base.pid = v->i;
          base.resource = rs.resource;
          for (otlp_test::Span& s : rs.spans) {
            ReceivedSpan r = base;
            r.span = std::move(s);
            spans_.push_back(std::move(r));
          }
        }
        res.body().clear();  // an empty ExportTraceServiceResponse: full success
      }
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(stream, res, ec);
    if (ec || !req.keep_alive()) {
      ::shutdown(native_fd, SHUT_RDWR);
      return;
    }
  }
}

std::vector<ReceivedSpan> OtlpListener::spans() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spans_;
}

ListenerCounts OtlpListener::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

}  // namespace agentring::it
