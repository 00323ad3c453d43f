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
// rather than silently ignored. OpenSSL is used only through civetweb's run-time loaded libssl
// (see the Security section of README.md); nothing here links it.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "util/status.h"

namespace sockstate {

enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,
  kRequireAnyClientCert,
  kVerifyClientCertIfGiven,
  kRequireAndVerifyClientCert,
};

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
/// Does not touch the files named inside. Never throws.
Result<WebConfig> ParseWebConfig(const std::string& yaml_text, const std::string& source_name,
                                 const std::string& base_dir);

/// Reads and parses `path`, then checks that the TLS files can be loaded (certificate chain,
/// private key matching it, client CA) with the OpenSSL that civetweb will use. Never throws.
Result<WebConfig> LoadWebConfigFile(const std::string& path);

/// Builds a TLS context from `tls` and frees it again: the startup check behind
/// LoadWebConfigFile. Errors name the file and the key.
Status CheckTlsFiles(const TlsServerConfig& tls, const std::string& source_name);

/// Configures the SSL_CTX civetweb created (its init_ssl callback): certificate chain, key,
/// protocol versions, client certificate policy. Returns 1 on success, -1 on failure (civetweb's
/// convention; the error is logged).
int ConfigureSslContext(void* ssl_ctx, const TlsServerConfig& tls);

/// Name of the library civetweb dlopen()s for TLS.
const char* CivetwebSslLibrary();
/// Loads `compat_lib` (may be empty) so that civetweb's dlopen("libssl.so") finds it, then checks
/// that civetweb's libssl.so loads and has every symbol civetweb 1.15 calls. Debian 12's civetweb
/// with OpenSSL 3 lacks SSL_get_peer_certificate and would crash on the first TLS connection
/// (civetweb#1334); this refuses to start TLS then, naming the fix. Call before starting TLS;
/// the first call decides (later calls return the same result). Thread-safe.
Status PrepareCivetwebTls(const std::string& compat_lib);

enum class AuthResult { kOk, kDenied, kBusy };

/// Checks HTTP basic auth against bcrypt hashes, caching successful checks so repeated scrapes
/// do not pay the bcrypt cost each time (keyed by user and stored hash; the password is kept
/// only as a SHA-256 digest and compared in constant time). Users can be replaced at run time
/// (reload). At most `max_bcrypt` uncached bcrypt evaluations run at once; more are answered
/// kBusy at once, so wrong-password floods cannot occupy every CPU. Thread-safe.
class BasicAuthenticator {
 public:
  explicit BasicAuthenticator(std::map<std::string, std::string> users, int max_bcrypt = 4);
  /// Replaces the user table; cached successes of changed or removed users are dropped.
  void SetUsers(std::map<std::string, std::string> users);
  /// True when no users are configured (authentication off).
  bool disabled() const;
  /// Checks the value of an Authorization header (nullptr when absent).
  AuthResult Check(const char* authorization_header);
  /// Checks a user and password directly.
  AuthResult CheckUserPassword(const std::string& user, const std::string& password);
  /// Number of bcrypt evaluations so far (tests: the cache works).
  uint64_t bcrypt_calls() const;

 private:
  struct CacheEntry {
    std::string hash;             // the stored bcrypt hash this success was checked against
    std::string password_digest;  // SHA-256(salt || password)
  };
  mutable std::mutex mu_;
  std::map<std::string, std::string> users_;
  std::unordered_map<std::string, CacheEntry> cache_;  // at most one entry per configured user
  std::string salt_;
  const int max_bcrypt_;
  int bcrypt_in_progress_ = 0;
  uint64_t bcrypt_calls_ = 0;
};

/// Decodes standard base64 (with padding); false on any invalid input. Exposed for tests.
bool Base64Decode(const std::string& in, std::string* out);
/// SHA-256 of `data` (32 raw bytes). Exposed for tests.
std::string Sha256(const std::string& data);
/// Constant-time equality of two strings of possibly different length.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace sockstate
