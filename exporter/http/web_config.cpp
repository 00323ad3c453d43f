#include "http/web_config.h"

#include <crypt.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/ssl.h>  // types and constants only: functions come from civetweb's libssl
#include <strings.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "util/log.h"
#include "sources/procfs.h"
#include "util/text_util.h"
#include "config/yaml_util.h"

namespace sockstate {

namespace {

struct WebConfigError {
  std::string message;
};

// Walks the YAML document; every error throws "<source>:<line>:<col>: <path>: <message>".
class Parser {
 public:
  Parser(const std::string& source, const std::string& base_dir)
      : source_(source), base_dir_(base_dir) {}

  [[noreturn]] void Fail(const YAML::Node& n, const std::string& path,
                         const std::string& message) const {
    std::string where = source_;
    const YAML::Mark mark = n.Mark();
    if (!mark.is_null()) {
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    throw WebConfigError{where + ": " + path + ": " + message};
  }

  WebConfig Parse(const YAML::Node& root) {
    WebConfig config;
    if (!root || root.IsNull()) return config;  // empty file: no TLS, no auth
    if (!root.IsMap()) Fail(root, "(top level)", "want a mapping");
    for (const auto& kv : root) {
      const std::string key = Key(kv.first, "(top level)");
      if (key == "tls_server_config") {
        config.tls = ParseTls(kv.second);
      } else if (key == "basic_auth_users") {
        config.basic_auth_users = ParseUsers(kv.second);
      } else if (key == "http_server_config") {
        Fail(kv.first, key, "not supported by sockstate_exporter (no HTTP/2, no custom headers)");
      } else {
        Fail(kv.first, key, "unknown key (want tls_server_config or basic_auth_users)");
      }
    }
    return config;
  }

 private:
  std::string Key(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) Fail(n, path, "keys must be strings");
    return n.Scalar();
  }

  std::string Str(const YAML::Node& n, const std::string& path) const {
    if (n.IsNull()) return "";
    if (!n.IsScalar()) Fail(n, path, "want a string");
    const std::string& s = n.Scalar();
    if (s.find('\0') != std::string::npos) Fail(n, path, "contains a NUL byte");
    return s;
  }

  std::string FilePath(const YAML::Node& n, const std::string& path) const {
    std::string s = Str(n, path);
    if (!s.empty() && s[0] != '/' && !base_dir_.empty()) s = base_dir_ + "/" + s;
    return s;
  }

  int Version(const YAML::Node& n, const std::string& path) const {
    const std::string s = Str(n, path);
    if (s == "TLS10") return TLS1_VERSION;
    if (s == "TLS11") return TLS1_1_VERSION;
    if (s == "TLS12") return TLS1_2_VERSION;
    if (s == "TLS13") return TLS1_3_VERSION;
    Fail(n, path, "unknown TLS version " + QuoteText(s) + " (want TLS10, TLS11, TLS12 or TLS13)");
  }

  TlsServerConfig ParseTls(const YAML::Node& n) {
    const std::string base = "tls_server_config";
    TlsServerConfig tls;
    if (n.IsNull()) Fail(n, base, "empty (remove it for plain HTTP)");
    if (!n.IsMap()) Fail(n, base, "want a mapping");
    std::string auth_type;
    YAML::Node auth_node, ca_node, min_node, max_node;
    for (const auto& kv : n) {
      const std::string key = Key(kv.first, base);
      const std::string path = base + "." + key;
      if (key == "cert_file") {
        tls.cert_file = FilePath(kv.second, path);
      } else if (key == "key_file") {
        tls.key_file = FilePath(kv.second, path);
      } else if (key == "client_ca_file") {
        tls.client_ca_file = FilePath(kv.second, path);
        ca_node = kv.first;
      } else if (key == "client_auth_type") {
        auth_type = Str(kv.second, path);
        auth_node = kv.second;
      } else if (key == "min_version") {
        tls.min_version = Version(kv.second, path);
        min_node = kv.second;
      } else if (key == "max_version") {
        tls.max_version = Version(kv.second, path);
        max_node = kv.second;
      } else if (key == "cert" || key == "key" || key == "client_ca" || key == "cipher_suites" ||
                 key == "curve_preferences" || key == "prefer_server_cipher_suites" ||
                 key == "client_allowed_sans") {
        Fail(kv.first, path, "not supported by sockstate_exporter");
      } else {
        Fail(kv.first, path,
             "unknown key (want cert_file, key_file, client_ca_file, client_auth_type, "
             "min_version or max_version)");
      }
    }
    if (tls.cert_file.empty()) Fail(n, base + ".cert_file", "missing (required with TLS)");
    if (tls.key_file.empty()) Fail(n, base + ".key_file", "missing (required with TLS)");
    if (auth_type.empty() || auth_type == "NoClientCert") {
      tls.client_auth = ClientAuth::kNoClientCert;
    } else if (auth_type == "RequestClientCert") {
      tls.client_auth = ClientAuth::kRequestClientCert;
    } else if (auth_type == "RequireAnyClientCert") {
      tls.client_auth = ClientAuth::kRequireAnyClientCert;
    } else if (auth_type == "VerifyClientCertIfGiven") {
      tls.client_auth = ClientAuth::kVerifyClientCertIfGiven;
    } else if (auth_type == "RequireAndVerifyClientCert") {
      tls.client_auth = ClientAuth::kRequireAndVerifyClientCert;
    } else {
      Fail(auth_node, base + ".client_auth_type",
           "unknown " + QuoteText(auth_type) +
               " (want NoClientCert, RequestClientCert, RequireAnyClientCert, "
               "VerifyClientCertIfGiven or RequireAndVerifyClientCert)");
    }
    const bool verifies = tls.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                          tls.client_auth == ClientAuth::kRequireAndVerifyClientCert;
    if (verifies && tls.client_ca_file.empty()) {
      Fail(auth_node, base + ".client_ca_file",
           "required with client_auth_type " + QuoteText(auth_type));
    }
    if (!tls.client_ca_file.empty() && tls.client_auth == ClientAuth::kNoClientCert) {
      Fail(ca_node, base + ".client_ca_file",
           "set without a client_auth_type that uses it (e.g. RequireAndVerifyClientCert)");
    }
    if (tls.max_version != 0 && tls.max_version < tls.min_version) {
      Fail(max_node, base + ".max_version", "lower than min_version");
    }
    return tls;
  }

  std::map<std::string, std::string> ParseUsers(const YAML::Node& n) {
    const std::string base = "basic_auth_users";
    std::map<std::string, std::string> users;
    if (n.IsNull()) return users;
    if (!n.IsMap()) Fail(n, base, "want a mapping of user name to bcrypt hash");
    for (const auto& kv : n) {
      const std::string user = Key(kv.first, base);
      const std::string path = base + "." + user;
      if (user.empty()) Fail(kv.first, base, "empty user name");
      if (user.find(':') != std::string::npos)
        Fail(kv.first, path, "user names cannot contain ':'");
      if (user.find('\0') != std::string::npos) Fail(kv.first, base, "user name contains NUL");
      if (users.count(user)) Fail(kv.first, path, "duplicate user");
      const std::string hash = Str(kv.second, path);
      // bcrypt: $2a$, $2b$ or $2y$, two-digit cost, then 53 characters of salt and hash.
      const bool prefix_ok = hash.size() == 60 && hash[0] == '$' && hash[1] == '2' &&
                             (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') &&
                             hash[3] == '$' && hash[6] == '$';
      if (!prefix_ok) {
        Fail(kv.second, path,
             "not a bcrypt hash (want $2y$/$2b$/$2a$, 60 characters; make one with "
             "htpasswd -nBC 10 \"\" | tr -d ':\\n')");
      }
      const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
      if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9' || cost < 4 ||
          cost > 31) {
        Fail(kv.second, path, "bad bcrypt cost (want 04..31)");
      }
      // Let libcrypt parse the setting: an invalid salt yields its failure token ("*0"/"*1").
      crypt_data data{};
      const char* out = crypt_rn("", hash.substr(0, 29).c_str(), &data, sizeof(data));
      if (out == nullptr || out[0] == '*') {
        Fail(kv.second, path, "bcrypt hash rejected by libcrypt (bad salt encoding?)");
      }
      users[user] = hash;
    }
    return users;
  }

  const std::string& source_;
  const std::string& base_dir_;
};

// ---- OpenSSL through the library civetweb loads ------------------------------------------------

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
bool Sym(Ssl& s, F& f, const char* name) {
  f = reinterpret_cast<F>(dlsym(s.handle, name));
  if (f == nullptr && s.error.empty()) {
    s.error = std::string(CivetwebSslLibrary()) + " has no " + name;
  }
  return f != nullptr;
}

std::mutex g_ssl_mu;
std::string g_compat_lib;  // set by PrepareCivetwebTls before the first LoadSsl()
void* g_compat_handle = nullptr;

const Ssl& LoadSsl() {
  static const Ssl ssl = [] {
    Ssl s;
    if (!g_compat_lib.empty()) {
      // RTLD_GLOBAL and kept open for the life of the process: civetweb's later
      // dlopen("libssl.so") matches this library's SONAME and gets it.
      g_compat_handle = dlopen(g_compat_lib.c_str(), RTLD_NOW | RTLD_GLOBAL);
      if (g_compat_handle == nullptr) {
        const char* e = dlerror();
        s.error =
            "cannot load TLS compat library " + QuoteText(g_compat_lib) + ": " + (e ? e : "?");
        return s;
      }
    }
    // The same file name civetweb dlopen()s: if this loads, civetweb's load does too, and both
    // get the same (reference counted) library instance.
    s.handle = dlopen(CivetwebSslLibrary(), RTLD_NOW | RTLD_LOCAL);
    if (s.handle == nullptr) {
      const char* e = dlerror();
      s.error = std::string("cannot load ") + CivetwebSslLibrary() + " (" + (e ? e : "?") +
                "): civetweb loads OpenSSL at run time by this name; on Debian/Ubuntu install "
                "libssl-dev (it provides the libssl.so -> libssl.so.3 link)";
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
      s.error = std::string(CivetwebSslLibrary()) +
                " has no SSL_get_peer_certificate (OpenSSL 3): civetweb 1.15 would crash on the "
                "first TLS connection (civetweb issue #1334). Load the compat library with "
                "--web.tls-compat-lib (see the Security section of README.md)";
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
  switch (tls.client_auth) {
    case ClientAuth::kNoClientCert:
      s.SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuth::kRequestClientCert:
      s.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAny);
      break;
    case ClientAuth::kRequireAnyClientCert:
      s.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, AcceptAny);
      break;
    case ClientAuth::kVerifyClientCertIfGiven:
      s.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuth::kRequireAndVerifyClientCert:
      s.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
  return Status::Ok();
}

// ---- SHA-256 (FIPS 180-4), for the auth cache only
// ------------------------------------------------

constexpr std::array<uint32_t, 64> kK = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

}  // namespace

std::string Sha256(const std::string& data) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg = data;
  const uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  msg += static_cast<char>(0x80);
  while (msg.size() % 64 != 56) msg += '\0';
  for (int i = 7; i >= 0; --i) msg += static_cast<char>((bits >> (i * 8)) & 0xff);
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(msg.data() + off + i * 4);
      w[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t S1 = Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25);
      const uint32_t ch = (e & f) ^ (~e & g);
      const uint32_t t1 = hh + S1 + ch + kK[i] + w[i];
      const uint32_t S0 = Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22);
      const uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      const uint32_t t2 = S0 + maj;
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
  std::string out;
  for (uint32_t v : h) {
    for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (i * 8)) & 0xff);
  }
  return out;
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  // Length is not secret here (digests are fixed size); the content comparison does not stop
  // at the first difference.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool Base64Decode(const std::string& in, std::string* out) {
  out->clear();
  if (in.size() % 4 != 0) return false;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return false;  // data after '='
      v[j] = value(c);
      if (v[j] < 0) return false;
    }
    const uint32_t triple = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out->push_back(static_cast<char>((triple >> 16) & 0xff));
    if (pad < 2) out->push_back(static_cast<char>((triple >> 8) & 0xff));
    if (pad < 1) out->push_back(static_cast<char>(triple & 0xff));
  }
  return true;
}

Result<WebConfig> ParseWebConfig(const std::string& yaml_text, const std::string& source_name,
                                 const std::string& base_dir) {
  try {
    YAML::Node root;
    if (Status st = LoadYaml(yaml_text, source_name, &root); !st.ok()) return st;
    return Parser(source_name, base_dir).Parse(root);
  } catch (const WebConfigError& e) {
    return Status::Error(e.message);
  } catch (const std::exception& e) {
    return Status::Error(source_name + ": " + e.what());
  }
}

Result<WebConfig> LoadWebConfigFile(const std::string& path) {
  std::string text;
  if (const int err = ReadSmallFile(path, &text)) {
    if (err == EFBIG)
      return Status::Error("web config file " + QuoteText(path) + " is larger than 1 MiB");
    return Status::Error("cannot read web config file " + QuoteText(path) + ": " +
                         std::strerror(err));
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
  auto config = ParseWebConfig(text, path, dir);
  if (!config.ok() || !config->tls) return config;
  Status st = CheckTlsFiles(*config->tls, path);
  if (!st.ok()) return st;
  return config;
}

const char* CivetwebSslLibrary() { return "libssl.so"; }

Status PrepareCivetwebTls(const std::string& compat_lib) {
  {
    std::lock_guard<std::mutex> lock(g_ssl_mu);
    if (g_compat_lib.empty()) g_compat_lib = compat_lib;
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

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users, int max_bcrypt)
    : users_(std::move(users)), max_bcrypt_(std::max(1, max_bcrypt)) {
  std::random_device rd;
  for (int i = 0; i < 32; ++i) salt_ += static_cast<char>(rd() & 0xff);
}

void BasicAuthenticator::SetUsers(std::map<std::string, std::string> users) {
  std::lock_guard<std::mutex> lock(mu_);
  users_ = std::move(users);
  for (auto it = cache_.begin(); it != cache_.end();) {
    auto u = users_.find(it->first);
    if (u == users_.end() || u->second != it->second.hash) {
      it = cache_.erase(it);
    } else {
      ++it;
    }
  }
}

bool BasicAuthenticator::disabled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return users_.empty();
}

uint64_t BasicAuthenticator::bcrypt_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bcrypt_calls_;
}

AuthResult BasicAuthenticator::Check(const char* header) {
  if (header == nullptr) return AuthResult::kDenied;
  std::string h(header);
  if (h.size() > 4096) return AuthResult::kDenied;
  // Scheme is case-insensitive; one or more spaces before the credentials.
  if (h.size() < 6 || strncasecmp(h.c_str(), "Basic ", 6) != 0) return AuthResult::kDenied;
  size_t i = 6;
  while (i < h.size() && h[i] == ' ') ++i;
  size_t end = h.size();
  while (end > i && (h[end - 1] == ' ' || h[end - 1] == '\t')) --end;
  std::string decoded;
  if (!Base64Decode(h.substr(i, end - i), &decoded)) return AuthResult::kDenied;
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return AuthResult::kDenied;
  return CheckUserPassword(decoded.substr(0, colon), decoded.substr(colon + 1));
}

AuthResult BasicAuthenticator::CheckUserPassword(const std::string& user,
                                                 const std::string& password) {
  // A dummy hash for unknown users, so a wrong user name costs the same bcrypt time as a wrong
  // password (no user enumeration by timing). Cost 10, like the typical configured hash.
  static const std::string kDummy = "$2y$10$QOauhQNbBCuQDKes6eFzPeyR5HyZ4iAN.tXQxVDwlMTKIYdPI712y";
  std::string hash;
  bool known = false;
  const std::string digest = Sha256(salt_ + password);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto u = users_.find(user);
    if (u != users_.end()) {
      hash = u->second;
      known = true;
      auto c = cache_.find(user);
      if (c != cache_.end() && c->second.hash == hash &&
          ConstantTimeEquals(c->second.password_digest, digest)) {
        return AuthResult::kOk;
      }
    } else {
      hash = kDummy;
    }
    if (bcrypt_in_progress_ >= max_bcrypt_) return AuthResult::kBusy;
    ++bcrypt_in_progress_;
    ++bcrypt_calls_;
  }
  bool match = false;
  // crypt() takes a C string: refuse NUL rather than truncate. bcrypt runs outside the lock,
  // so concurrent checks do not serialize on its cost.
  if (password.find('\0') == std::string::npos && password.size() <= 1024) {
    auto data = std::make_unique<crypt_data>();
    const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(*data));
    match = out != nullptr && out[0] != '*' && ConstantTimeEquals(out, hash);
  }
  std::lock_guard<std::mutex> lock(mu_);
  --bcrypt_in_progress_;
  if (!known || !match) return AuthResult::kDenied;
  auto u = users_.find(user);
  if (u != users_.end() && u->second == hash) cache_[user] = CacheEntry{hash, digest};
  return AuthResult::kOk;
}

}  // namespace sockstate
