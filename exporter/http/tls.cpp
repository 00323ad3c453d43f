#include "http/tls.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/ssl.h>  // types and constants only: functions come from civetweb's libssl
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "util/log.h"
#include "util/text_util.h"

#ifndef SOCKSTATE_INSTALLED_COMPAT_LIB
#define SOCKSTATE_INSTALLED_COMPAT_LIB ""
#endif

namespace sockstate {
namespace {

constexpr const char* kCryptoLibrary = "libcrypto.so";  // civetweb dlopen()s this one too

struct Ssl {
  void* handle = nullptr;
  std::string error;
  const SSL_METHOD* (*TLS_server_method)() = nullptr;
  SSL_CTX* (*SSL_CTX_new)(const SSL_METHOD*) = nullptr;
  void (*SSL_CTX_free)(SSL_CTX*) = nullptr;
  int (*SSL_CTX_use_certificate_chain_file)(SSL_CTX*, const char*) = nullptr;
  int (*SSL_CTX_use_PrivateKey_file)(SSL_CTX*, const char*, int) = nullptr;
  int (*SSL_CTX_check_private_key)(const SSL_CTX*) = nullptr;
  int (*SSL_CTX_load_verify_locations)(SSL_CTX*, const char*, const char*) = nullptr;
  STACK_OF(X509_NAME) * (*SSL_load_client_CA_file)(const char*) = nullptr;
  void (*SSL_CTX_set_client_CA_list)(SSL_CTX*, STACK_OF(X509_NAME) *) = nullptr;
  void (*SSL_CTX_set_verify)(SSL_CTX*, int, SSL_verify_cb) = nullptr;
  long (*SSL_CTX_ctrl)(SSL_CTX*, int, long, void*) = nullptr;
  uint64_t (*SSL_CTX_set_options)(SSL_CTX*, uint64_t) = nullptr;
  int (*SSL_CTX_set_session_id_context)(SSL_CTX*, const unsigned char*, unsigned int) = nullptr;
  unsigned long (*ERR_get_error)() = nullptr;
  void (*ERR_error_string_n)(unsigned long, char*, size_t) = nullptr;
  void (*ERR_clear_error)() = nullptr;
};

template <typename F>
void Sym(Ssl& s, F& f, const char* name) {
  f = reinterpret_cast<F>(dlsym(s.handle, name));
  if (f == nullptr && s.error.empty()) {
    s.error = std::string(CivetwebSslLibrary()) + " has no " + name;
  }
}

std::mutex g_ssl_mu;
bool g_compat_set = false;
std::string g_compat_override;  // set by PrepareCivetwebTls before the first LoadSsl()

std::string DlError() {
  const char* e = dlerror();
  return e ? e : "?";
}

std::string ExePath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

bool FileExists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

// Finds and loads the compat library (RTLD_GLOBAL and kept open for the life of the process:
// civetweb's later dlopen("libssl.so") matches its SONAME and gets it). Returns the candidates
// looked at when none was found (then nothing is loaded), or sets s.error.
std::vector<std::string> LoadCompat(Ssl& s, const std::string& override_path) {
  std::vector<std::string> candidates = CompatLibCandidates(ExePath(), InstalledCompatLib());
  const std::string lib = ChooseCompatLib(override_path, candidates, FileExists);
  if (lib.empty()) return candidates;
  if (dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    s.error = "cannot load TLS compat library " + QuoteText(lib) + ": " + DlError();
    return {};
  }
  Log(LogLevel::kInfo,
      "TLS: loaded compat library " + lib +
          (override_path.empty() ? " (found by itself)" : " (--web.tls-compat-lib)"));
  const size_t slash = lib.rfind('/');
  const std::string crypto =
      (slash == std::string::npos ? std::string(".") : lib.substr(0, slash)) + "/" +
      kCryptoCompatLibName;
  if (FileExists(crypto)) {
    if (dlopen(crypto.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      s.error = "cannot load " + QuoteText(crypto) + ": " + DlError();
      return {};
    }
    Log(LogLevel::kInfo, "TLS: loaded " + crypto + " for civetweb's libcrypto.so");
  }
  return {};
}

const Ssl& LoadSsl() {
  static const Ssl ssl = [] {
    Ssl s;
    std::string override_path;
    {
      std::lock_guard<std::mutex> lock(g_ssl_mu);
      g_compat_set = true;
      override_path = g_compat_override;
    }
    // Before anything opens "libssl.so": the first object loaded under that name is the one
    // civetweb gets.
    const std::vector<std::string> looked_in = LoadCompat(s, override_path);
    if (!s.error.empty()) return s;
    // The same file name civetweb dlopen()s: if this loads, civetweb's load does too, and both
    // get the same (reference counted) library instance.
    s.handle = dlopen(CivetwebSslLibrary(), RTLD_NOW | RTLD_LOCAL);
    if (s.handle == nullptr) {
      s.error = std::string("cannot load ") + CivetwebSslLibrary() + " (" + DlError() +
                "): civetweb loads OpenSSL at run time by this name";
      return s;
    }
    if (dlopen(kCryptoLibrary, RTLD_NOW | RTLD_LOCAL) == nullptr) {
      s.error = std::string("cannot load ") + kCryptoLibrary + " (" + DlError() +
                "): civetweb loads it at run time by this name; put " +
                std::string(kCryptoCompatLibName) +
                " beside the compat library, or install libssl-dev";
      return s;
    }
    Sym(s, s.TLS_server_method, "TLS_server_method");
    Sym(s, s.SSL_CTX_new, "SSL_CTX_new");
    Sym(s, s.SSL_CTX_free, "SSL_CTX_free");
    Sym(s, s.SSL_CTX_use_certificate_chain_file, "SSL_CTX_use_certificate_chain_file");
    Sym(s, s.SSL_CTX_use_PrivateKey_file, "SSL_CTX_use_PrivateKey_file");
    Sym(s, s.SSL_CTX_check_private_key, "SSL_CTX_check_private_key");
    Sym(s, s.SSL_CTX_load_verify_locations, "SSL_CTX_load_verify_locations");
    Sym(s, s.SSL_load_client_CA_file, "SSL_load_client_CA_file");
    Sym(s, s.SSL_CTX_set_client_CA_list, "SSL_CTX_set_client_CA_list");
    Sym(s, s.SSL_CTX_set_verify, "SSL_CTX_set_verify");
    Sym(s, s.SSL_CTX_ctrl, "SSL_CTX_ctrl");
    Sym(s, s.SSL_CTX_set_options, "SSL_CTX_set_options");
    Sym(s, s.SSL_CTX_set_session_id_context, "SSL_CTX_set_session_id_context");
    Sym(s, s.ERR_get_error, "ERR_get_error");
    Sym(s, s.ERR_error_string_n, "ERR_error_string_n");
    Sym(s, s.ERR_clear_error, "ERR_clear_error");
    if (s.error.empty() && dlsym(s.handle, "SSL_get_peer_certificate") == nullptr) {
      // OpenSSL 3: civetweb 1.15 would crash on the first TLS connection (civetweb#1334).
      if (looked_in.empty()) {
        s.error = std::string(CivetwebSslLibrary()) +
                  " has no SSL_get_peer_certificate (OpenSSL 3): the library named with "
                  "--web.tls-compat-lib must be " +
                  kCompatLibName;
      } else {
        std::string where;
        for (const std::string& c : looked_in) where += (where.empty() ? "" : ", ") + c;
        s.error = std::string("civetweb 1.15 needs the TLS compat library ") + kCompatLibName +
                  " with OpenSSL 3 and it was not found (looked for " + where +
                  "); install it with the exporter or name it with --web.tls-compat-lib";
      }
    }
    return s;
  }();
  return ssl;
}

std::string SslErrors(const Ssl& s) {
  std::string out;
  for (int i = 0; i < 8; ++i) {
    unsigned long e = s.ERR_get_error();
    if (e == 0) break;
    char buf[256];
    s.ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  s.ERR_clear_error();
  return out.empty() ? "unknown OpenSSL error" : out;
}

// Accepts any client certificate (RequestClientCert, RequireAnyClientCert: not verified).
int AcceptAny(int, X509_STORE_CTX*) { return 1; }

Status ReadableFile(const std::string& path, const std::string& key, const std::string& source) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::Error(source + ": tls_server_config." + key + ": cannot read " +
                         QuoteText(path) + ": " + std::strerror(errno));
  }
  ::close(fd);
  return Status::Ok();
}

int VerifyMode(ClientAuth auth) {
  switch (auth) {
    case ClientAuth::kNoClientCert:
      return SSL_VERIFY_NONE;
    case ClientAuth::kRequestClientCert:
    case ClientAuth::kVerifyClientCertIfGiven:
      return SSL_VERIFY_PEER;
    case ClientAuth::kRequireAnyClientCert:
    case ClientAuth::kRequireAndVerifyClientCert:
      return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  return SSL_VERIFY_NONE;
}

// Applies `tls` to `ctx`; errors name the key.
Status Apply(const Ssl& s, SSL_CTX* ctx, const TlsServerConfig& tls, const std::string& source) {
  s.ERR_clear_error();
  const std::string where = source + ": tls_server_config.";
  if (s.SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return Status::Error(where + "cert_file: cannot load certificate " + QuoteText(tls.cert_file) +
                         ": " + SslErrors(s));
  }
  if (s.SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::Error(where + "key_file: cannot load private key " + QuoteText(tls.key_file) +
                         ": " + SslErrors(s));
  }
  if (s.SSL_CTX_check_private_key(ctx) != 1) {
    return Status::Error(where + "key_file: private key " + QuoteText(tls.key_file) +
                         " does not match the certificate in " + QuoteText(tls.cert_file) + ": " +
                         SslErrors(s));
  }
  if (s.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, tls.min_version, nullptr) != 1 ||
      s.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, tls.max_version, nullptr) != 1) {
    return Status::Error(where + "min_version: not supported by this OpenSSL: " + SslErrors(s));
  }
  s.SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  static const unsigned char kSessionContext[] = "sockstate_exporter";
  s.SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  if (!tls.client_ca_file.empty()) {
    if (s.SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return Status::Error(where + "client_ca_file: cannot load CA certificates " +
                           QuoteText(tls.client_ca_file) + ": " + SslErrors(s));
    }
    STACK_OF(X509_NAME)* names = s.SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr) {
      return Status::Error(where + "client_ca_file: no CA certificates in " +
                           QuoteText(tls.client_ca_file) + ": " + SslErrors(s));
    }
    s.SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  }
  const bool verify_any = tls.client_auth == ClientAuth::kRequestClientCert ||
                          tls.client_auth == ClientAuth::kRequireAnyClientCert;
  s.SSL_CTX_set_verify(ctx, VerifyMode(tls.client_auth), verify_any ? AcceptAny : nullptr);
  return Status::Ok();
}

}  // namespace

std::vector<std::string> CompatLibCandidates(const std::string& exe_path,
                                             const std::string& installed) {
  std::vector<std::string> out;
  auto add = [&out](const std::string& path) {
    if (!path.empty() && std::find(out.begin(), out.end(), path) == out.end()) {
      out.push_back(path);
    }
  };
  const size_t slash = exe_path.rfind('/');
  if (slash != std::string::npos) {
    const std::string dir = exe_path.substr(0, slash);  // "" for a binary in /
    add(dir + "/" + kCompatLibName);
    const size_t up = dir.rfind('/');
    if (up != std::string::npos) {  // <prefix>/bin -> <prefix>/lib/sockstate_exporter
      add(dir.substr(0, up) + "/lib/sockstate_exporter/" + kCompatLibName);
    }
  }
  add(installed);
  return out;
}

const char* InstalledCompatLib() { return SOCKSTATE_INSTALLED_COMPAT_LIB; }

std::string ChooseCompatLib(const std::string& override_path,
                            const std::vector<std::string>& candidates,
                            const std::function<bool(const std::string&)>& exists) {
  if (!override_path.empty()) return override_path;
  for (const std::string& c : candidates) {
    if (exists(c)) return c;
  }
  return "";
}

const char* CivetwebSslLibrary() { return "libssl.so"; }

Status PrepareCivetwebTls(const std::string& compat_lib) {
  {
    std::lock_guard<std::mutex> lock(g_ssl_mu);
    if (!g_compat_set) {
      g_compat_set = true;
      g_compat_override = compat_lib;
    }
  }
  const Ssl& s = LoadSsl();
  return s.error.empty() ? Status::Ok() : Status::Error(s.error);
}

Status CheckTlsFiles(const TlsServerConfig& tls, const std::string& source_name) {
  for (const auto& [key, file] : {std::pair<std::string, std::string>{"cert_file", tls.cert_file},
                                  {"key_file", tls.key_file},
                                  {"client_ca_file", tls.client_ca_file}}) {
    if (file.empty()) continue;
    Status st = ReadableFile(file, key, source_name);
    if (!st.ok()) return st;
  }
  const Ssl& s = LoadSsl();
  if (!s.error.empty()) {
    return Status::Error(source_name + ": tls_server_config: " + s.error);
  }
  SSL_CTX* ctx = s.SSL_CTX_new(s.TLS_server_method());
  if (ctx == nullptr) return Status::Error(source_name + ": SSL_CTX_new: " + SslErrors(s));
  Status st = Apply(s, ctx, tls, source_name);
  s.SSL_CTX_free(ctx);
  return st;
}

int ConfigureSslContext(void* ssl_ctx, const TlsServerConfig& tls) {
  const Ssl& s = LoadSsl();
  if (!s.error.empty()) {
    Log(LogLevel::kError, "TLS setup: " + s.error);
    return -1;
  }
  Status st = Apply(s, static_cast<SSL_CTX*>(ssl_ctx), tls, "web config");
  if (!st.ok()) {
    Log(LogLevel::kError, "TLS setup: " + st.message());
    return -1;
  }
  return 1;
}

}  // namespace sockstate
