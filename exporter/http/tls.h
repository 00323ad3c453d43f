#pragma once
// TLS for civetweb: OpenSSL is used only through the libssl that civetweb loads at run time
// (dlopen("libssl.so")); this file builds and checks the SSL_CTX from the web config's
// tls_server_config, and makes sure civetweb 1.15 (Debian 12) gets a libssl it can use with
// OpenSSL 3: the compatibility library (target sockstate_ssl_compat) is found by itself, next
// to the binary or in the install prefix, and --web.tls-compat-lib only overrides it.

#include <functional>
#include <string>
#include <vector>

#include "http/web_config.h"
#include "util/status.h"

namespace sockstate {

/// File name of the compatibility library.
inline constexpr const char* kCompatLibName = "libsockstate_ssl_compat.so";
/// File name of its libcrypto stand-in (SONAME libcrypto.so), loaded from the same directory
/// when it is there, so that civetweb's dlopen("libcrypto.so") works without libssl-dev.
inline constexpr const char* kCryptoCompatLibName = "libsockstate_crypto_compat.so";

/// Where the compatibility library is looked for, in order, for a binary at `exe_path`: next
/// to the binary, <prefix>/lib/sockstate_exporter/ for a binary in <prefix>/bin (any parent
/// directory), then `installed` (the install prefix's path, baked in at build time). Empty and
/// repeated paths are dropped. Pure; thread-safe.
std::vector<std::string> CompatLibCandidates(const std::string& exe_path,
                                             const std::string& installed);

/// The install prefix's path of the compatibility library, as configured by CMake.
const char* InstalledCompatLib();

/// Picks the compatibility library: `override_path` when set (used as given, even if missing:
/// loading it then fails naming it), else the first candidate for which `exists` is true, else
/// "" (none found). Pure; thread-safe.
std::string ChooseCompatLib(const std::string& override_path,
                            const std::vector<std::string>& candidates,
                            const std::function<bool(const std::string&)>& exists);

/// Name of the library civetweb dlopen()s for TLS.
const char* CivetwebSslLibrary();

/// Makes civetweb's dlopen("libssl.so") usable: loads the compatibility library
/// (`compat_lib`, or found by itself when empty) so that it is what civetweb gets, and checks
/// that it has every symbol civetweb 1.15 calls. Debian 12's civetweb with OpenSSL 3 lacks
/// SSL_get_peer_certificate and would crash on the first TLS connection (civetweb#1334): this
/// refuses to start TLS then, naming where it looked. Logs which library it loaded. The first
/// call decides (later calls return the same result). Thread-safe.
Status PrepareCivetwebTls(const std::string& compat_lib);

/// Builds a TLS context from `tls` and frees it again: the startup check behind
/// LoadWebConfigFile. Errors name the file and the key. Thread-safe.
Status CheckTlsFiles(const TlsServerConfig& tls, const std::string& source_name);

/// Configures the SSL_CTX civetweb created (its init_ssl callback): certificate chain, key,
/// protocol versions, client certificate policy. Returns 1 on success, -1 on failure (civetweb's
/// convention; the error is logged). Thread-safe.
int ConfigureSslContext(void* ssl_ctx, const TlsServerConfig& tls);

}  // namespace sockstate
