// The OTLP/HTTP exporter (see otlp_http.h for the delivery rules).
#include "reader/export/otlp_http.h"

#include <strings.h>
#include <time.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string_view>

#include "reader/export/otlp_json.h"
#include "reader/export/otlp_proto.h"

namespace agentring::reader {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// ---- Configuration ---------------------------------------------------------------------------

struct ParsedUrl {
  bool tls = false;
  std::string host;         // without brackets for IPv6
  std::string port;
  std::string target;       // path and query, at least "/"
  std::string host_header;  // host[:port] as the Host header spells it
};

bool ParseUrl(std::string_view url, ParsedUrl* out, std::string* error) {
  auto bad = [&](const std::string& why) {
    *error = "bad OTLP endpoint '" + std::string(url) + "': " + why;
    return false;
  };
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return bad("expected http://HOST[:PORT][/PATH] or https://...");
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme == "http") {
    out->tls = false;
  } else if (scheme == "https") {
    out->tls = true;
  } else {
    return bad("the scheme must be http or https");
  }
  std::string_view rest = url.substr(sep + 3);
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  const size_t path_at = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, path_at);
  std::string_view path = path_at == std::string_view::npos ? std::string_view() : rest.substr(path_at);
  out->target = path.empty() || path[0] == '?' ? "/" + std::string(path) : std::string(path);
  if (authority.find('@') != std::string_view::npos)
    return bad("credentials in the URL are not supported (use OTEL_EXPORTER_OTLP_HEADERS)");
  std::string_view host, port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("unexpected text after ']'");
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) return bad("no host");
  out->host_header = std::string(authority);
  if (port.empty()) port = out->tls ? "443" : "80";
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
      std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535)
    return bad("the port must be a number in 1..65535");
  out->host = std::string(host);
  out->port = std::string(port);
  return true;
}

// The variable's value, or nullptr when unset or empty.
const char* Env(const char* name) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

// The TRACES_ variant of OTEL_EXPORTER_OTLP_<suffix> if set, else the general one; *name says
// which was used (for errors).
const char* OtlpEnv(const std::string& suffix, std::string* name) {
  *name = "OTEL_EXPORTER_OTLP_TRACES_" + suffix;
  if (const char* v = Env(name->c_str())) return v;
  *name = "OTEL_EXPORTER_OTLP_" + suffix;
  return Env(name->c_str());
}

// ---- gzip ------------------------------------------------------------------------------------

// One deflate stream reused across requests (deflateReset keeps its allocations).
class Gzipper {
 public:
  ~Gzipper() {
    if (initialised_) deflateEnd(&z_);
  }
  // Compresses `in` into *out (gzip wrapper, RFC 1952). False only if zlib fails.
  bool Compress(std::string_view in, std::string* out) {
    if (!initialised_) {
      // Level 1: the reader is a sidecar on the agent's machine; most of the gain of gzip on
      // repetitive span data comes at the fastest level.
      if (deflateInit2(&z_, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
      initialised_ = true;
    } else if (deflateReset(&z_) != Z_OK) {
      return false;
    }
    out->resize(deflateBound(&z_, static_cast<uLong>(in.size())));
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    z_.next_out = reinterpret_cast<Bytef*>(out->data());
    z_.avail_out = static_cast<uInt>(out->size());
    if (deflate(&z_, Z_FINISH) != Z_STREAM_END) return false;
    out->resize(z_.total_out);
    return true;
  }

 private:
  z_stream z_{};
  bool initialised_ = false;
};

// ---- The exporter ----------------------------------------------------------------------------

class OtlpHttpExporter final : public Exporter {
 public:
  OtlpHttpExporter(const OtlpHttpOptions& opts, ParsedUrl url, std::unique_ptr<ssl::context> tls)
      : opts_(opts),
        url_(std::move(url)),
        tls_context_(std::move(tls)),
        encoder_(&opts_.resource),
        resolver_(ioc_),
        timer_(ioc_),
        rng_(std::random_device{}()) {
    req_.method(http::verb::post);
    req_.target(url_.target);
    req_.version(11);
    req_.set(http::field::host, url_.host_header);
    req_.set(http::field::user_agent, "agentring/" + std::string(kOtlpScopeVersion));
    req_.set(http::field::content_type, opts_.protocol == OtlpProtocol::kHttpJson
                                            ? "application/json"
                                            : "application/x-protobuf");
    if (opts_.gzip) req_.set(http::field::content_encoding, "gzip");
    for (const auto& [key, value] : opts_.headers) req_.set(key, value);
    req_.keep_alive(true);
  }

  ~OtlpHttpExporter() override { CloseConnection(); }

  std::string_view name() const override { return "otlp"; }

  bool Export(const TraceBatch& batch) override {
    const TraceBatch* one[] = {&batch};
    return ExportBatch(one) == 0;
  }

  uint64_t ExportBatch(std::span<const TraceBatch* const> traces) override {
    uint64_t spans = 0;
    for (const TraceBatch* t : traces) spans += t->spans.size();
    if (spans == 0) return 0;
    if (shutdown_.load(std::memory_order_acquire)) return Failed(spans);

    std::string_view body;
    if (opts_.protocol == OtlpProtocol::kHttpJson) {
      json_body_.clear();
      AppendOtlpJson(traces, &opts_.resource, &json_body_);
      body = json_body_;
    } else {
      body = encoder_.Encode(traces);
    }
    if (opts_.gzip) {
      if (!gzip_.Compress(body, &gzip_body_)) {
        LogOnce(-1, "gzip compression failed; batch dropped");
        return Failed(spans);
      }
      body = gzip_body_;
    }

    const Clock::time_point first_attempt = Clock::now();
    for (uint32_t retry = 0;; ++retry) {
      const Attempt a = Send(body);
      if (a.outcome == Outcome::kDelivered) {
        if (in_outage_) {
          fprintf(stderr, "agentring-reader: otlp: %s reachable again\n", opts_.endpoint.c_str());
          in_outage_ = false;
          gave_up_logged_ = false;
        }
        batches_delivered_.fetch_add(1, std::memory_order_relaxed);
        spans_delivered_.fetch_add(spans, std::memory_order_relaxed);
        return 0;
      }
      if (a.outcome == Outcome::kDrop) {
        LogOnce(a.status, opts_.endpoint + ": " + a.detail +
                              "; batch dropped, not retried (further ones only counted)");
        return Failed(spans);
      }
      if (shutdown_.load(std::memory_order_acquire)) break;
      if (!in_outage_) {
        fprintf(stderr, "agentring-reader: otlp: %s: %s; retrying\n", opts_.endpoint.c_str(),
                a.detail.c_str());
        in_outage_ = true;
      }
      const int64_t wait_ms = a.retry_after_ms >= 0 ? a.retry_after_ms : BackoffMs(retry);
      const int64_t elapsed_ms =
          std::chrono::duration_cast<Millis>(Clock::now() - first_attempt).count();
      if (elapsed_ms + wait_ms > static_cast<int64_t>(opts_.retry_max_elapsed_ms)) {
        if (!gave_up_logged_) {
          fprintf(stderr,
                  "agentring-reader: otlp: giving up on a batch of %llu spans after %llu ms of "
                  "retries (later ones are counted in batches_failed)\n",
                  static_cast<unsigned long long>(spans),
                  static_cast<unsigned long long>(elapsed_ms));
          gave_up_logged_ = true;
        }
        break;
      }
      retries_.fetch_add(1, std::memory_order_relaxed);
      if (!Sleep(Millis(wait_ms))) break;
    }
    return Failed(spans);
  }

  void Shutdown() override {
    shutdown_.store(true, std::memory_order_release);
    // Runs on the exporter's thread (inside its io_context), so the stream is never touched
    // from two threads; the blocked operation completes with operation_aborted.
    asio::post(ioc_, [this] { CancelIo(); });
  }

  void AppendCounters(std::vector<std::pair<std::string, uint64_t>>* out) const override {
    auto add = [out](const char* k, const std::atomic<uint64_t>& v) {
      out->emplace_back(k, v.load(std::memory_order_relaxed));
    };
    add("requests", requests_);
    add("retries", retries_);
    add("batches_delivered", batches_delivered_);
    add("spans_delivered", spans_delivered_);
    add("batches_failed", batches_failed_);
    add("spans_failed", spans_failed_);
    add("responses_2xx", responses_2xx_);
    add("responses_4xx", responses_4xx_);
    add("responses_5xx", responses_5xx_);
    add("connection_failures", connection_failures_);
    add("bytes_sent", bytes_sent_);
  }

 private:
  enum class Outcome { kDelivered, kRetry, kDrop };
  struct Attempt {
    Outcome outcome = Outcome::kRetry;
    int status = 0;               // HTTP status, 0 when no response
    int64_t retry_after_ms = -1;  // from Retry-After
    std::string detail;           // what went wrong, for the log
  };
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;

  uint64_t Failed(uint64_t spans) {
    batches_failed_.fetch_add(1, std::memory_order_relaxed);
    spans_failed_.fetch_add(spans, std::memory_order_relaxed);
    return spans;
  }

  void LogOnce(int status, const std::string& what) {
    if (!logged_statuses_.insert(status).second) return;
    fprintf(stderr, "agentring-reader: otlp: %s\n", what.c_str());
  }

  // Exponential backoff with "equal jitter": uniform in [b/2, b], b = initial * 2^retry capped.
  int64_t BackoffMs(uint32_t retry) {
    uint64_t b = opts_.retry_initial_backoff_ms;
    for (uint32_t i = 0; i < retry && b < opts_.retry_max_backoff_ms; ++i) b *= 2;
    b = std::min(b, opts_.retry_max_backoff_ms);
    std::uniform_int_distribution<uint64_t> jitter(b / 2, b);
    return static_cast<int64_t>(jitter(rng_));
  }

  // Runs one asynchronous operation to completion on this thread. `start(handler)` initiates it.
  template <typename Start>
  beast::error_code Run(Start&& start) {
    bool done = false;
    beast::error_code result;
    start([&done, &result](beast::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    ioc_.restart();
    while (!done && ioc_.run_one() > 0) {
    }
    return done ? result : beast::error_code(asio::error::operation_aborted);
  }

  // False when interrupted by Shutdown().
  bool Sleep(Millis d) {
    if (shutdown_.load(std::memory_order_acquire)) return false;
    timer_.expires_after(d);
    Run([this](auto handler) { timer_.async_wait(std::move(handler)); });
    return !shutdown_.load(std::memory_order_acquire);
  }

  void CancelIo() {
    timer_.cancel();
    resolver_.cancel();
    beast::error_code ignored;
    if (tcp_) tcp_->socket().close(ignored);
    if (tls_) beast::get_lowest_layer(*tls_).socket().close(ignored);
  }

  void CloseConnection() {
    beast::error_code ignored;
    if (tcp_) tcp_->socket().close(ignored);
    if (tls_) beast::get_lowest_layer(*tls_).socket().close(ignored);
    tcp_.reset();
    tls_.reset();
    connected_ = false;
  }

  beast::tcp_stream& Lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *tcp_; }

  // Opens the connection (TCP, then the TLS handshake for https). False with *detail.
  bool Connect(Clock::time_point deadline, std::string* detail) {
    CloseConnection();
    if (shutdown_.load(std::memory_order_acquire)) {
      *detail = "shutting down";
      return false;
    }
    tcp::resolver::results_type endpoints;
    beast::error_code ec = Run([&](auto handler) {
      resolver_.async_resolve(url_.host, url_.port,
                              [&endpoints, handler = std::move(handler)](
                                  beast::error_code e, tcp::resolver::results_type r) mutable {
                                endpoints = std::move(r);
                                handler(e);
                              });
    });
    if (ec) {
      *detail = "cannot resolve " + url_.host + ": " + ec.message();
      return false;
    }
    if (url_.tls) {
      tls_.emplace(ioc_, *tls_context_);
      // SNI, and the name the certificate must carry.
      if (!SSL_set_tlsext_host_name(tls_->native_handle(), url_.host.c_str())) {
        *detail = "cannot set the TLS server name";
        return false;
      }
      tls_->set_verify_callback(ssl::host_name_verification(url_.host));
    } else {
      tcp_.emplace(ioc_);
    }
    Lowest().expires_at(deadline);
    ec = Run([&](auto handler) { Lowest().async_connect(endpoints, std::move(handler)); });
    if (ec) {
      *detail = "cannot connect to " + url_.host_header + ": " + ec.message();
      return false;
    }
    Lowest().socket().set_option(tcp::no_delay(true), ec);
    if (tls_) {
      ec = Run([&](auto handler) {
        tls_->async_handshake(ssl::stream_base::client, std::move(handler));
      });
      if (ec) {
        *detail = "TLS handshake with " + url_.host_header + " failed: " + ec.message();
        return false;
      }
    }
    connected_ = true;
    return true;
  }

  // One request and its response on `stream`.
  template <typename Stream>
  beast::error_code RoundTrip(Stream& stream, Clock::time_point deadline) {
    Lowest().expires_at(deadline);
    beast::error_code ec =
        Run([&](auto handler) { http::async_write(stream, req_, std::move(handler)); });
    if (ec) return ec;
    res_ = {};
    read_buffer_.clear();
    return Run([&](auto handler) {
      http::async_read(stream, read_buffer_, res_, std::move(handler));
    });
  }

  // One attempt: (re)connect if needed, send, classify the response.
  Attempt Send(std::string_view body) {
    Attempt a;
    const Clock::time_point deadline = Clock::now() + Millis(opts_.timeout_ms);
    req_.body().data = const_cast<char*>(body.data());
    req_.body().size = body.size();
    req_.body().more = false;
    req_.content_length(body.size());
    beast::error_code ec;
    // A kept-alive connection the server closed while idle fails on first use: try once more on
    // a fresh one before calling it a failure.
    for (int fresh = 0; fresh < 2; ++fresh) {
      const bool reused = connected_;
      if (!connected_ && !Connect(deadline, &a.detail)) {
        connection_failures_.fetch_add(1, std::memory_order_relaxed);
        CloseConnection();
        return a;
      }
      requests_.fetch_add(1, std::memory_order_relaxed);
      ec = tls_ ? RoundTrip(*tls_, deadline) : RoundTrip(*tcp_, deadline);
      if (!ec) break;
      CloseConnection();
      if (!reused || shutdown_.load(std::memory_order_acquire)) break;
      req_.body().data = const_cast<char*>(body.data());  // the serializer consumed it
      req_.body().size = body.size();
      req_.body().more = false;
    }
    if (ec) {
      connection_failures_.fetch_add(1, std::memory_order_relaxed);
      a.detail = (ec == beast::error::timeout ? "timed out after " + std::to_string(opts_.timeout_ms) + " ms"
                                              : ec.message());
      return a;
    }
    bytes_sent_.fetch_add(body.size(), std::memory_order_relaxed);
    if (!res_.keep_alive()) CloseConnection();
    a.status = static_cast<int>(res_.result_int());
    if (a.status >= 200 && a.status < 300) {
      responses_2xx_.fetch_add(1, std::memory_order_relaxed);
      a.outcome = Outcome::kDelivered;
      return a;
    }
    (a.status < 500 ? responses_4xx_ : responses_5xx_).fetch_add(1, std::memory_order_relaxed);
    std::string snippet = res_.body().substr(0, 200);
    std::replace(snippet.begin(), snippet.end(), '\n', ' ');
    a.detail = "HTTP " + std::to_string(a.status) + (snippet.empty() ? "" : " (" + snippet + ")");
    if (a.status == 429 || a.status == 502 || a.status == 503 || a.status == 504) {
      a.outcome = Outcome::kRetry;
      a.retry_after_ms = OtlpRetryAfterMs(res_[http::field::retry_after], time(nullptr));
    } else {
      a.outcome = Outcome::kDrop;
    }
    return a;
  }

  const OtlpHttpOptions opts_;
  const ParsedUrl url_;
  std::unique_ptr<ssl::context> tls_context_;  // null for http://
  OtlpProtoEncoder encoder_;
  std::string json_body_;
  std::string gzip_body_;
  Gzipper gzip_;

  asio::io_context ioc_{1};
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::optional<beast::tcp_stream> tcp_;
  std::optional<TlsStream> tls_;
  bool connected_ = false;
  http::request<http::buffer_body> req_;
  http::response<http::string_body> res_;
  beast::flat_buffer read_buffer_;

  std::atomic<bool> shutdown_{false};
  std::minstd_rand rng_;
  std::set<int> logged_statuses_;
  bool in_outage_ = false;
  bool gave_up_logged_ = false;

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> batches_delivered_{0};
  std::atomic<uint64_t> spans_delivered_{0};
  std::atomic<uint64_t> batches_failed_{0};
  std::atomic<uint64_t> spans_failed_{0};
  std::atomic<uint64_t> responses_2xx_{0};
  std::atomic<uint64_t> responses_4xx_{0};
  std::atomic<uint64_t> responses_5xx_{0};
  std::atomic<uint64_t> connection_failures_{0};
  std::atomic<uint64_t> bytes_sent_{0};
};

}  // namespace

int64_t OtlpRetryAfterMs(std::string_view value, time_t now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return -1;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    if (value.size() > 9) return 1000LL * 999999999;  // absurd; the elapsed budget caps it
    return 1000LL * std::stoll(std::string(value));
  }
  struct tm tm {};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return -1;
  const int64_t delta_s = static_cast<int64_t>(timegm(&tm)) - static_cast<int64_t>(now);
  return delta_s > 0 ? delta_s * 1000 : 0;
}

bool ParseOtlpProtocol(const std::string& text, OtlpProtocol* out, std::string* error) {
  if (text == "http/protobuf") {
    *out = OtlpProtocol::kHttpProtobuf;
  } else if (text == "http/json") {
    *out = OtlpProtocol::kHttpJson;
  } else if (text == "grpc") {
    *error = "OTLP protocol 'grpc' is not supported: use http/protobuf (port 4318) or http/json";
    return false;
  } else {
    *error = "unknown OTLP protocol '" + text + "' (expected http/protobuf or http/json)";
    return false;
  }
  return true;
}

std::string OtlpTracesEndpoint(const std::string& base_url) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/v1/traces";
}

bool OtlpOptionsFromEnv(OtlpHttpOptions* opts, std::string* error) {
  std::string name;
  if (const char* v = Env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    opts->endpoint = v;
  } else if (const char* b = Env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    opts->endpoint = OtlpTracesEndpoint(b);
  }
  if (const char* v = OtlpEnv("PROTOCOL", &name)) {
    if (!ParseOtlpProtocol(v, &opts->protocol, error)) {
      *error = name + ": " + *error;
      return false;
    }
  }
  // Headers: the general list, then the traces list (whose keys win).
  for (const char* var : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    const char* v = Env(var);
    if (v == nullptr) continue;
    std::vector<std::pair<std::string, std::string>> kv;
    if (!ParseOtlpKeyValueList(v, &kv, error)) {
      *error = std::string(var) + ": " + *error;
      return false;
    }
    for (auto& [key, value] : kv) {
      auto same = [&key](const auto& h) { return strcasecmp(h.first.c_str(), key.c_str()) == 0; };
      opts->headers.erase(std::remove_if(opts->headers.begin(), opts->headers.end(), same),
                          opts->headers.end());
      opts->headers.emplace_back(std::move(key), std::move(value));
    }
  }
  if (const char* v = OtlpEnv("COMPRESSION", &name)) {
    if (strcmp(v, "gzip") == 0) {
      opts->gzip = true;
    } else if (strcmp(v, "none") == 0) {
      opts->gzip = false;
    } else {
      *error = name + "='" + v + "': expected gzip or none";
      return false;
    }
  }
  if (const char* v = OtlpEnv("TIMEOUT", &name)) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long ms = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || ms == 0) {
      *error = name + "='" + v + "': expected a positive number of milliseconds";
      return false;
    }
    opts->timeout_ms = ms;
  }
  if (const char* v = OtlpEnv("CERTIFICATE", &name)) opts->certificate_file = v;
  if (const char* v = OtlpEnv("CLIENT_CERTIFICATE", &name)) opts->client_certificate_file = v;
  if (const char* v = OtlpEnv("CLIENT_KEY", &name)) opts->client_key_file = v;
  opts->resource = OtlpResourceDefaultsFromEnv();
  return true;
}

std::unique_ptr<Exporter> MakeOtlpHttpExporter(const OtlpHttpOptions& opts, std::string* error) {
  ParsedUrl url;
  if (!ParseUrl(opts.endpoint, &url, error)) return nullptr;
  if (opts.timeout_ms == 0) {
    *error = "the OTLP timeout must be > 0 ms";
    return nullptr;
  }
  if (opts.retry_initial_backoff_ms == 0 || opts.retry_initial_backoff_ms > opts.retry_max_backoff_ms) {
    *error = "OTLP retry backoff: need 0 < initial (" + std::to_string(opts.retry_initial_backoff_ms) +
             " ms) <= max (" + std::to_string(opts.retry_max_backoff_ms) + " ms)";
    return nullptr;
  }
  std::unique_ptr<ssl::context> tls;
  if (url.tls) {
    tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    tls->set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (!opts.certificate_file.empty()) {
      tls->load_verify_file(opts.certificate_file, ec);
      if (ec) {
        *error = "cannot load the OTLP CA certificate '" + opts.certificate_file + "': " + ec.message();
        return nullptr;
      }
    } else {
      tls->set_default_verify_paths(ec);
      if (ec) {
        *error = "cannot load the system's CA certificates: " + ec.message();
        return nullptr;
      }
    }
    if (opts.client_certificate_file.empty() != opts.client_key_file.empty()) {
      *error = "an OTLP client certificate needs its key and vice versa "
               "(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY)";
      return nullptr;
    }
    if (!opts.client_certificate_file.empty()) {
      tls->use_certificate_chain_file(opts.client_certificate_file, ec);
      if (ec) {
        *error = "cannot load the OTLP client certificate '" + opts.client_certificate_file +
                 "': " + ec.message();
        return nullptr;
      }
      tls->use_private_key_file(opts.client_key_file, ssl::context::pem, ec);
      if (ec) {
        *error = "cannot load the OTLP client key '" + opts.client_key_file + "': " + ec.message();
        return nullptr;
      }
    }
  }
  return std::make_unique<OtlpHttpExporter>(opts, std::move(url), std::move(tls));
}

}  // namespace agentring::reader
