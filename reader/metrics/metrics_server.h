// The reader's /metrics endpoint: a small HTTP/1.1 server (Boost.Beast) on its own thread that
// answers GET /metrics with the text exposition a render function returns.
//
//   GET /metrics (a query string is ignored)  200, Content-Type: text/plain; version=0.0.4;
//                                             charset=utf-8
//   GET on any other path                     404
//   any other method                          405 with Allow: GET
//   a render function that throws             500
//
// Connections are kept alive when the client asks (Prometheus does); a request head and body are
// limited to 8 KiB and a connection idle for 30 s is closed, so a slow or stuck client cannot hold
// memory or the thread. Requests are served one at a time on the server's thread (asynchronous
// I/O, so many open connections cost no threads).
#ifndef AGENTRING_READER_METRICS_METRICS_SERVER_H_
#define AGENTRING_READER_METRICS_METRICS_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace agentring::reader {

class MetricsServer {
 public:
  // Binds `bind` (an IP address, or a host name resolved to its first address) on `port` (0: an
  // ephemeral port, see port()), starts listening and the server's thread. Returns nullptr and
  // sets *error to one line when the address is not valid or cannot be resolved ("metrics: bad
  // bind address 'X': reason") or the port cannot be bound ("metrics: cannot listen on X:P:
  // reason", e.g. address already in use). `render` is called on the server's thread for every
  // GET /metrics and must be thread-safe with respect to whatever updates what it renders.
  static std::unique_ptr<MetricsServer> Start(const std::string& bind, uint16_t port,
                                              std::function<std::string()> render,
                                              std::string* error);
  // Stops accepting, closes every connection and joins the thread; returns promptly even with
  // clients connected.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port listened on (the ephemeral one chosen when Start was given 0).
  uint16_t port() const;
  // Requests answered so far (any status). Thread-safe.
  uint64_t requests_served() const;

  struct Impl;  // opaque: Boost stays in the .cc file

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_METRICS_METRICS_SERVER_H_
