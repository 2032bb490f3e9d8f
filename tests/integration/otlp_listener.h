// A loopback OTLP/HTTP receiver for the exporter's integration tests: a real HTTP/1.1 server
// (Boost.Beast, blocking, one thread per connection) on 127.0.0.1 that accepts POST /v1/traces,
// gunzips, decodes protobuf (strictly: non-canonical bodies are rejected, see otlp_decode.h) or
// JSON, and records every span it received. It can fail the first N requests (503 by default,
// optionally with Retry-After) and be stopped and restarted on the same port to simulate an
// outage.
//
// Exactly-once bookkeeping: a request is recorded and answered under one lock that Stop() also
// takes, so a stop never falls between "recorded" and "answered" (which would make a client
// retry what was already counted).
//
// Thread safety: every public member may be called from the test thread while the server
// threads run.
#ifndef AGENTRING_TESTS_INTEGRATION_OTLP_LISTENER_H_
#define AGENTRING_TESTS_INTEGRATION_OTLP_LISTENER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/otlp_decode.h"

namespace agentring::it {

struct OtlpListenerOptions {
  int fail_first = 0;         // answer the first N requests with fail_status
  int fail_status = 503;
  std::string retry_after;    // Retry-After header value on those answers ("" = none)
  // HTTPS: the server's certificate chain and key (PEM); "" = plain HTTP.
  std::string tls_certificate_file;
  std::string tls_key_file;
  // With TLS: require a client certificate signed by this CA ("" = none asked for).
  std::string tls_client_ca_file;
};

// One span as received, with its resource.
struct ReceivedSpan {
  otlp_test::Span span;
  std::string service_name;
  int64_t pid = -1;
  std::vector<otlp_test::KeyValue> resource;
};

struct ListenerCounts {
  uint64_t requests = 0;        // POSTs received (failed ones included)
  uint64_t failed_on_purpose = 0;
  uint64_t gzip_requests = 0;
  uint64_t protobuf_requests = 0;
  uint64_t json_requests = 0;
  uint64_t tls_handshakes_failed = 0;
  std::vector<std::string> errors;  // bad requests (wrong path, undecodable body …)
};

class OtlpListener {
 public:
  explicit OtlpListener(OtlpListenerOptions options = {});
  ~OtlpListener();
  OtlpListener(const OtlpListener&) = delete;
  OtlpListener& operator=(const OtlpListener&) = delete;

  // Binds 127.0.0.1 (an ephemeral port the first time, the same port after a Stop()) and starts
  // serving. False with *error when it cannot bind.
  bool Start(std::string* error);
  // Closes the listening socket and every connection, and joins the server threads: clients get
  // "connection refused" until the next Start().
  void Stop();

  uint16_t port() const { return port_; }
  // The base URL for --otlp-endpoint.
  // https://localhost:PORT with TLS (the test certificates name localhost).
  std::string base_url() const {
    return options_.tls_certificate_file.empty() ? "http://127.0.0.1:" + std::to_string(port_)
                                                 : "https://localhost:" + std::to_string(port_);
  }

  std::vector<ReceivedSpan> spans() const;
  ListenerCounts counts() const;

 private:
  struct Impl;
  void AcceptLoop();
  void Serve(int connection);
  template <typename Stream>
  void ServeRequests(Stream& stream, int native_fd);

  OtlpListenerOptions options_;
  uint16_t port_ = 0;
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mu_;  // guards everything below and serialises record + answer
  std::vector<ReceivedSpan> spans_;
  ListenerCounts counts_;
};

}  // namespace agentring::it

#endif  // AGENTRING_TESTS_INTEGRATION_OTLP_LISTENER_H_
