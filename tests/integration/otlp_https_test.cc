// HTTPS for the OTLP exporter against a TLS listener on 127.0.0.1 with certificates made for the
// test by the openssl command (a CA, a server certificate for DNS:localhost only, a client
// certificate): the reader verifies the server with OTEL_EXPORTER_OTLP_CERTIFICATE and presents
// OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/_KEY to a server that requires one; a server it cannot
// verify (unknown CA, or a name the certificate does not carry) gets nothing.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/otlp_listener.h"
#include "integration/trace_tree_assertions.h"
#include "reader/export/otlp_http.h"

namespace agentring::it {
namespace {

// Makes ca.pem, server.{pem,key} (SAN DNS:localhost) and client.{pem,key} in `dir`.
::testing::AssertionResult MakeCertificates(const TempDir& dir) {
  const std::string d = dir.path() + "/";
  const std::string ext = d + "server.ext";
  {
    FILE* f = fopen(ext.c_str(), "w");
    if (f == nullptr) return ::testing::AssertionFailure() << "cannot write " << ext;
    fputs("subjectAltName=DNS:localhost\n", f);
    fclose(f);
  }
  const std::vector<std::vector<std::string>> steps = {
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", d + "ca.key", "-out", d + "ca.pem", "-days", "2", "-subj", "/CN=it-ca"},
      {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", d + "server.key", "-out", d + "server.csr", "-subj", "/CN=localhost"},
      {"openssl", "x509", "-req", "-in", d + "server.csr", "-CA", d + "ca.pem", "-CAkey",
       d + "ca.key", "-CAcreateserial", "-out", d + "server.pem", "-days", "2", "-extfile", ext},
      {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", d + "client.key", "-out", d + "client.csr", "-subj", "/CN=agentring-reader"},
      {"openssl", "x509", "-req", "-in", d + "client.csr", "-CA", d + "ca.pem", "-CAkey",
       d + "ca.key", "-CAcreateserial", "-out", d + "client.pem", "-days", "2"},
  };
  for (const auto& argv : steps) {
    std::vector<std::string> cmd = argv;
    cmd[0] = "/usr/bin/openssl";
    CommandResult r = RunCommand(cmd);
    if (r.exit_code() != 0) return ::testing::AssertionFailure() << "openssl: " << r.Describe();
  }
  return ::testing::AssertionSuccess();
}

OtlpListenerOptions TlsOptions(const TempDir& dir, bool require_client_cert) {
  OtlpListenerOptions o;
  o.tls_certificate_file = dir.File("server.pem");
  o.tls_key_file = dir.File("server.key");
  if (require_client_cert) o.tls_client_ca_file = dir.File("ca.pem");
  return o;
}

// loadgen through a reader configured only by the standard variables, over mutual TLS.
TEST(OtlpHttps, MutualTlsFromTheEnvironment) {
  TempDir certs;
  ASSERT_TRUE(MakeCertificates(certs));
  OtlpListener listener(TlsOptions(certs, /*require_client_cert=*/true));
  std::string error;
  ASSERT_TRUE(listener.Start(&error)) << error;

  SegmentGuard seg(UniqueSegmentName());
  TempDir dir;
  ReaderProcess reader;
  reader.stats_path = dir.File("reader.stats.json");
  reader.stderr_path = dir.File("reader.stderr");
  reader.child = Spawn({ReaderPath(), "--segment", seg.name(), "--create", "--exporter", "otlp",
                        "--stats-json", reader.stats_path, "--exit-when-idle-ms", "1000"},
                       {{"OTEL_EXPORTER_OTLP_ENDPOINT", listener.base_url()},
                        {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                        {"OTEL_EXPORTER_OTLP_CERTIFICATE", certs.File("ca.pem")},
                        {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", certs.File("client.pem")},
                        {"OTEL_EXPORTER_OTLP_CLIENT_KEY", certs.File("client.key")}},
                       dir.File("reader.stdout"), reader.stderr_path);
  ASSERT_TRUE(WaitForReader(seg.name(), reader));
  boost::json::object summary;
  ASSERT_TRUE(RunLoadgen(seg.name(),
                         {"--processes", "2", "--threads", "1", "--traces", "5",
                          "--spans-per-trace", "20", "--attrs", "3"},
                         &summary));
  ASSERT_TRUE(WaitForReaderExit(reader)) << ReadFileOrEmpty(reader.stderr_path);

  const ListenerCounts counts = listener.counts();
  EXPECT_EQ(counts.tls_handshakes_failed, 0u);
  EXPECT_TRUE(counts.errors.empty()) << counts.errors.front();
  EXPECT_EQ(counts.gzip_requests, counts.requests);
  const std::vector<ReceivedSpan> received = listener.spans();
  EXPECT_EQ(received.size(), 200u);
  std::set<std::string> ids;
  for (const ReceivedSpan& r : received) ids.insert(r.span.span_id);
  EXPECT_EQ(ids.size(), 200u);
}

// One export straight from the exporter; returns the spans it could not deliver.
uint64_t ExportOne(const reader::OtlpHttpOptions& o) {
  std::string error;
  auto exporter = reader::MakeOtlpHttpExporter(o, &error);
  EXPECT_NE(exporter, nullptr) << error;
  if (!exporter) return 0;
  reader::TraceBatch b;
  b.trace_id = {1, 2};
  auto s = std::make_unique<reader::SpanData>();
  s->trace_id = b.trace_id;
  s->span_id = 3;
  s->name = "secret";
  s->start_unix_ns = 1;
  s->end_unix_ns = 2;
  b.spans.push_back(std::move(s));
  const reader::TraceBatch* traces[] = {&b};
  return exporter->ExportBatch(traces);
}

TEST(OtlpHttps, RefusesServersItCannotVerify) {
  TempDir certs;
  ASSERT_TRUE(MakeCertificates(certs));
  OtlpListener listener(TlsOptions(certs, /*require_client_cert=*/false));
  std::string error;
  ASSERT_TRUE(listener.Start(&error)) << error;
  const std::string port = std::to_string(listener.port());

  reader::OtlpHttpOptions o;
  o.retry_initial_backoff_ms = 10;
  o.retry_max_backoff_ms = 10;
  o.retry_max_elapsed_ms = 50;
  // The system's roots do not know the test CA.
  o.endpoint = "https://localhost:" + port + "/v1/traces";
  EXPECT_EQ(ExportOne(o), 1u);
  // The right CA, but a name the certificate does not carry.
  o.certificate_file = certs.File("ca.pem");
  o.endpoint = "https://127.0.0.1:" + port + "/v1/traces";
  EXPECT_EQ(ExportOne(o), 1u);
  EXPECT_EQ(listener.counts().requests, 0u);
  EXPECT_TRUE(listener.spans().empty());
  EXPECT_GT(listener.counts().tls_handshakes_failed, 0u);
  // The right CA and name: delivered (so the failures above were about verification).
  o.endpoint = "https://localhost:" + port + "/v1/traces";
  EXPECT_EQ(ExportOne(o), 0u);
  EXPECT_EQ(listener.spans().size(), 1u);
}

}  // namespace
}  // namespace agentring::it
