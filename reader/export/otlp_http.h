// `--exporter otlp`: OTLP/HTTP to an OpenTelemetry Collector or any OTLP backend. POSTs one
// ExportTraceServiceRequest per ExportBatch() to the traces endpoint (default
// http://localhost:4318/v1/traces), as application/x-protobuf (default, otlp_proto.h) or
// application/json (otlp_json.h), optionally gzip-compressed, over one keep-alive connection
// (plain TCP or TLS) that is reopened after any failure.
//
// Delivery: 2xx delivers the batch. 429, 502, 503, 504 and connection failures (refused, reset,
// timed out) are retried with exponential backoff and jitter: the n-th retry waits a uniformly
// random time in [b/2, b] with b = min(retry_max_backoff_ms, retry_initial_backoff_ms * 2^n), or
// exactly the server's Retry-After (delta-seconds or HTTP-date) when it sends one; once the next
// wait would end past retry_max_elapsed_ms after the first attempt, the batch is given up (its
// spans counted as failed). Any other status drops the batch at once (counted; logged to stderr
// once per status code). Shutdown() from another thread interrupts a connect, a request or a
// backoff wait immediately.
//
// The calls are synchronous for the caller (the exporter's thread); inside, every network step
// is an asynchronous Beast/Asio operation that the same thread runs to completion, so that each
// has a deadline (OTEL_EXPORTER_OTLP_TIMEOUT, per attempt) and Shutdown() can cancel it.
#ifndef AGENTRING_READER_EXPORT_OTLP_HTTP_H_
#define AGENTRING_READER_EXPORT_OTLP_HTTP_H_

#include <time.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reader/export/exporter.h"
#include "reader/export/otlp_content.h"

namespace agentring::reader {

enum class OtlpProtocol { kHttpProtobuf, kHttpJson };

struct OtlpHttpOptions {
  // The full URL requests go to (the traces endpoint, /v1/traces included): http:// or https://.
  std::string endpoint = "http://localhost:4318/v1/traces";
  OtlpProtocol protocol = OtlpProtocol::kHttpProtobuf;
  std::vector<std::pair<std::string, std::string>> headers;  // added to every request
  bool gzip = false;
  uint64_t timeout_ms = 10000;  // per attempt: connect + send + response; > 0
  // TLS (https:// only): the CA bundle that verifies the server ("" = the system's roots), and
  // an optional client certificate chain and its private key (PEM; both or neither).
  std::string certificate_file;
  std::string client_certificate_file;
  std::string client_key_file;
  // Retry policy (see above). Constraints: 0 < initial <= max_backoff; max_elapsed may be 0 (no
  // retries).
  uint64_t retry_initial_backoff_ms = 1000;
  uint64_t retry_max_backoff_ms = 30000;
  uint64_t retry_max_elapsed_ms = 60000;
  // Added to every writer's resource (the reader's OTEL_SERVICE_NAME/OTEL_RESOURCE_ATTRIBUTES as
  // fallbacks, host.name, telemetry.sdk.*).
  OtlpResourceDefaults resource;
};

// Reads the standard variables into *opts (each TRACES_ variant wins over the general one):
// OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: /v1/traces is appended), OTEL_EXPORTER_OTLP_TRACES_-
// ENDPOINT (used as is), _PROTOCOL (http/protobuf | http/json; grpc is refused), _HEADERS
// (k=v,k2=v2, percent-decoded), _COMPRESSION (gzip | none), _TIMEOUT (milliseconds),
// _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY; and sets opts->resource from
// OtlpResourceDefaultsFromEnv(). Unset variables leave *opts as it was. Returns false with a
// one-line *error naming the variable on a bad value.
bool OtlpOptionsFromEnv(OtlpHttpOptions* opts, std::string* error);

// "http/protobuf" | "http/json" -> *out; false with *error otherwise (grpc: says it is not
// supported and what to use).
bool ParseOtlpProtocol(const std::string& text, OtlpProtocol* out, std::string* error);

// Milliseconds a Retry-After header value asks for (RFC 9110 §10.2.3: delay-seconds, or an
// IMF-fixdate HTTP-date, relative to `now`; a past date means 0), or -1 when empty or unreadable.
int64_t OtlpRetryAfterMs(std::string_view value, time_t now);

// A base URL like OTEL_EXPORTER_OTLP_ENDPOINT's -> the traces endpoint: "/v1/traces" appended to
// its path (one '/' between them).
std::string OtlpTracesEndpoint(const std::string& base_url);

// Checks opts (the URL, the TLS files, the retry constraints), loads certificates and returns
// the exporter; nullptr with a one-line *error on failure. Does not connect: a backend that is
// down at start is retried like any outage.
std::unique_ptr<Exporter> MakeOtlpHttpExporter(const OtlpHttpOptions& opts, std::string* error);

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_OTLP_HTTP_H_
