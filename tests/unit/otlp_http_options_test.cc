// Tests for the OTLP exporter's configuration (reader/export/otlp_http.h): the standard
// OTEL_EXPORTER_OTLP_* variables (each TRACES_ variant winning over the general one), the
// protocol and endpoint rules, Retry-After parsing, and the checks MakeOtlpHttpExporter makes
// before it accepts a configuration.
#include "reader/export/otlp_http.h"

#include <stdlib.h>

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace agentring::reader {
namespace {

// Sets variables for one test and restores the previous environment afterwards.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::vector<std::pair<std::string, std::string>>& vars) {
    for (const char* name : kAll) {
      const char* old = getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(name);
    }
    for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : saved_) {
      if (v) {
        setenv(k.c_str(), v->c_str(), 1);
      } else {
        unsetenv(k.c_str());
      }
    }
  }

 private:
  static constexpr const char* kAll[] = {
      "OTEL_EXPORTER_OTLP_ENDPOINT",          "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
      "OTEL_EXPORTER_OTLP_PROTOCOL",          "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
      "OTEL_EXPORTER_OTLP_HEADERS",           "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
      "OTEL_EXPORTER_OTLP_COMPRESSION",       "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
      "OTEL_EXPORTER_OTLP_TIMEOUT",           "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
      "OTEL_EXPORTER_OTLP_CERTIFICATE",       "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
      "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
      "OTEL_EXPORTER_OTLP_CLIENT_KEY",        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
      "OTEL_SERVICE_NAME",                    "OTEL_RESOURCE_ATTRIBUTES"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

std::string ValueOf(const std::vector<std::pair<std::string, std::string>>& kv,
                    const std::string& key) {
  for (const auto& [k, v] : kv)
    if (k == key) return v;
  return "<absent>";
}

TEST(OtlpHttpOptions, DefaultsWithNoEnvironment) {
  ScopedEnv env(std::vector<std::pair<std::string, std::string>>{});
  OtlpHttpOptions o;
  std::string error;
  ASSERT_TRUE(OtlpOptionsFromEnv(&o, &error)) << error;
  EXPECT_EQ(o.endpoint, "http://localhost:4318/v1/traces");
  EXPECT_EQ(o.protocol, OtlpProtocol::kHttpProtobuf);
  EXPECT_FALSE(o.gzip);
  EXPECT_EQ(o.timeout_ms, 10000u);
  EXPECT_TRUE(o.headers.empty());
  EXPECT_EQ(o.resource.fallback_service_name, "");
  EXPECT_EQ(ValueOf(o.resource.added_attributes, "telemetry.sdk.name"), "agentring");
  EXPECT_EQ(ValueOf(o.resource.added_attributes, "telemetry.sdk.language"), "cpp");
  EXPECT_NE(ValueOf(o.resource.added_attributes, "host.name"), "<absent>");
}

TEST(OtlpHttpOptions, EveryVariable) {
  ScopedEnv env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/"},
                 {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
                 {"OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc,x-tenant=a"},
                 {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Tenant=b"},
                 {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                 {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
                 {"OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"},
                 {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/etc/client.pem"},
                 {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/etc/client.key"},
                 {"OTEL_SERVICE_NAME", "sidecar"},
                 {"OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,deployment.environment=prod"}});
  OtlpHttpOptions o;
  std::string error;
  ASSERT_TRUE(OtlpOptionsFromEnv(&o, &error)) << error;
  EXPECT_EQ(o.endpoint, "https://collector:4318/v1/traces");
  EXPECT_EQ(o.protocol, OtlpProtocol::kHttpJson);
  ASSERT_EQ(o.headers.size(), 2u);
  EXPECT_EQ(ValueOf(o.headers, "authorization"), "Bearer abc");
  EXPECT_EQ(ValueOf(o.headers, "X-Tenant"), "b");  // the traces list wins, case-insensitively
  EXPECT_TRUE(o.gzip);
  EXPECT_EQ(o.timeout_ms, 2500u);
  EXPECT_EQ(o.certificate_file, "/etc/ca.pem");
  EXPECT_EQ(o.client_certificate_file, "/etc/client.pem");
  EXPECT_EQ(o.client_key_file, "/etc/client.key");
  EXPECT_EQ(o.resource.fallback_service_name, "sidecar");  // OTEL_SERVICE_NAME wins
  EXPECT_EQ(ValueOf(o.resource.fallback_attributes, "deployment.environment"), "prod");
}

TEST(OtlpHttpOptions, TracesVariantsWin) {
  ScopedEnv env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"},
                 {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom/path"},
                 {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                 {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"},
                 {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                 {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"},
                 {"OTEL_EXPORTER_OTLP_TIMEOUT", "bad"},
                 {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "42"},
                 {"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"}});
  OtlpHttpOptions o;
  std::string error;
  ASSERT_TRUE(OtlpOptionsFromEnv(&o, &error)) << error;
  EXPECT_EQ(o.endpoint, "http://traces:9999/custom/path");  // used as is
  EXPECT_EQ(o.protocol, OtlpProtocol::kHttpProtobuf);
  EXPECT_FALSE(o.gzip);
  EXPECT_EQ(o.timeout_ms, 42u);
  EXPECT_EQ(o.resource.fallback_service_name, "from-attrs");
}

TEST(OtlpHttpOptions, BadValuesNameTheVariable) {
  struct Case {
    const char* var;
    const char* value;
    const char* expect;
  };
  for (const Case& c : {Case{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "not supported"},
                        Case{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http", "unknown OTLP protocol"},
                        Case{"OTEL_EXPORTER_OTLP_COMPRESSION", "br", "gzip or none"},
                        Case{"OTEL_EXPORTER_OTLP_TIMEOUT", "-5", "milliseconds"},
                        Case{"OTEL_EXPORTER_OTLP_TIMEOUT", "0", "milliseconds"},
                        Case{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=b,=c", "key=value"}}) {
    ScopedEnv env(std::vector<std::pair<std::string, std::string>>{{c.var, c.value}});
    OtlpHttpOptions o;
    std::string error;
    EXPECT_FALSE(OtlpOptionsFromEnv(&o, &error)) << c.var << "=" << c.value;
    EXPECT_NE(error.find(c.var), std::string::npos) << error;
    EXPECT_NE(error.find(c.expect), std::string::npos) << error;
  }
}

TEST(OtlpHttpOptions, EndpointAndProtocolHelpers) {
  EXPECT_EQ(OtlpTracesEndpoint("http://h:4318"), "http://h:4318/v1/traces");
  EXPECT_EQ(OtlpTracesEndpoint("http://h:4318/"), "http://h:4318/v1/traces");
  EXPECT_EQ(OtlpTracesEndpoint("http://h/prefix"), "http://h/prefix/v1/traces");
  OtlpProtocol p;
  std::string error;
  EXPECT_TRUE(ParseOtlpProtocol("http/json", &p, &error));
  EXPECT_EQ(p, OtlpProtocol::kHttpJson);
  EXPECT_FALSE(ParseOtlpProtocol("grpc", &p, &error));
}

TEST(OtlpHttpOptions, RetryAfter) {
  const time_t now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example date)
  EXPECT_EQ(OtlpRetryAfterMs("120", now), 120000);
  EXPECT_EQ(OtlpRetryAfterMs(" 0 ", now), 0);
  EXPECT_EQ(OtlpRetryAfterMs("Sun, 06 Nov 1994 08:49:40 GMT", now), 3000);
  EXPECT_EQ(OtlpRetryAfterMs("Sun, 06 Nov 1994 08:49:00 GMT", now), 0);  // in the past
  EXPECT_EQ(OtlpRetryAfterMs("", now), -1);
  EXPECT_EQ(OtlpRetryAfterMs("soon", now), -1);
  EXPECT_EQ(OtlpRetryAfterMs("-3", now), -1);
}

TEST(OtlpHttpOptions, MakeRejectsBadConfigurations) {
  struct Case {
    std::string endpoint;
    const char* expect;
  };
  for (const Case& c : {Case{"localhost:4318", "expected http://"},
                        Case{"gopher://h/", "http or https"},
                        Case{"http:///v1/traces", "no host"},
                        Case{"http://h:0/", "port"},
                        Case{"http://h:port/", "port"},
                        Case{"http://user:pw@h/", "credentials"},
                        Case{"http://[::1/", "unclosed"}}) {
    OtlpHttpOptions o;
    o.endpoint = c.endpoint;
    std::string error;
    EXPECT_EQ(MakeOtlpHttpExporter(o, &error), nullptr) << c.endpoint;
    EXPECT_NE(error.find(c.expect), std::string::npos) << error;
  }
  OtlpHttpOptions o;
  std::string error;
  o.retry_initial_backoff_ms = 5000;
  o.retry_max_backoff_ms = 100;
  EXPECT_EQ(MakeOtlpHttpExporter(o, &error), nullptr);
  EXPECT_NE(error.find("backoff"), std::string::npos) << error;
  o = OtlpHttpOptions();
  o.endpoint = "https://h:4318/v1/traces";
  o.client_certificate_file = "/tmp/only-a-cert.pem";
  EXPECT_EQ(MakeOtlpHttpExporter(o, &error), nullptr);
  EXPECT_NE(error.find("needs its key"), std::string::npos) << error;
  o = OtlpHttpOptions();
  o.endpoint = "http://[::1]:4318/v1/traces";
  EXPECT_NE(MakeOtlpHttpExporter(o, &error), nullptr) << error;  // no connection is made
}

}  // namespace
}  // namespace agentring::reader
