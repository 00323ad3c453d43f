#pragma once
// --web.config.file: TLS and basic auth in the format of the Prometheus exporter-toolkit
// (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md):
//
//   tls_server_config:
//     cert_file: server.crt          # relative paths are relative to the web config file
//     key_file: server.key
//     client_auth_type: RequireAndVerifyClientCert   # optional, default NoClientCert
//     client_ca_file: ca.crt         # required by the two *Verify* client_auth_types
//     min_version: TLS12             # TLS10..TLS13, default TLS12
//     max_version: TLS13             # optional
//   basic_auth_users:
//     prometheus: $2y$10$...         # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//
// Keys the toolkit knows but this exporter does not implement (cipher_suites,
// curve_preferences, client_allowed_sans, http_server_config, ...) are rejected with an error
// rather than silently ignored. The schema only: TLS set-up is http/tls.*, basic auth
// http/basic_auth.*; errors are worded as the exporter config's (config/yaml_util.h).

#include <map>
#include <optional>
#include <string>

#include "util/status.h"

namespace sockstate {

/// tls_server_config.client_auth_type.
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,
  kRequireAnyClientCert,
  kVerifyClientCertIfGiven,
  kRequireAndVerifyClientCert,
};

/// tls_server_config. Value type.
struct TlsServerConfig {
  std::string cert_file;  // absolute (resolved against the web config's directory)
  std::string key_file;
  std::string client_ca_file;
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  int min_version = 0x0303;  // TLS1_2_VERSION
  int max_version = 0;       // 0 = highest supported
  bool operator==(const TlsServerConfig&) const = default;
};

/// A parsed web config. Value type.
struct WebConfig {
  std::optional<TlsServerConfig> tls;                   // empty: plain HTTP
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash; empty: no auth
};

/// Parses YAML text. `source_name` starts every error ("web.yml:3:5: tls_server_config.
/// min_version: ..."); relative file paths are resolved against `base_dir` (may be empty).
/// Does not touch the files named inside. Never throws. Thread-safe.
Result<WebConfig> ParseWebConfig(const std::string& yaml_text, const std::string& source_name,
                                 const std::string& base_dir);

/// Reads and parses `path`, then checks that the TLS files can be loaded (certificate chain,
/// private key matching it, client CA) with the OpenSSL that civetweb will use (CheckTlsFiles,
/// http/tls.h). Never throws. Thread-safe.
Result<WebConfig> LoadWebConfigFile(const std::string& path);

}  // namespace sockstate
