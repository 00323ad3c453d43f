#include "http/web_config.h"

#include <crypt.h>
#include <openssl/ssl.h>  // TLS version constants only

#include "config/schema.h"
#include "config/yaml_util.h"
#include "http/tls.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

// Keys of the exporter-toolkit format that this exporter does not implement: rejected by name.
const std::initializer_list<std::string_view> kUnsupportedTop = {"http_server_config"};
const std::initializer_list<std::string_view> kUnsupportedTls = {"cert",
                                                                 "key",
                                                                 "client_ca",
                                                                 "cipher_suites",
                                                                 "curve_preferences",
                                                                 "prefer_server_cipher_suites",
                                                                 "client_allowed_sans"};

void RejectUnsupported(const YamlWalker& w, const YAML::Node& n, const std::string& path,
                       std::initializer_list<std::string_view> keys) {
  if (!n.IsMap()) return;  // ReadSection says what is wrong
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) continue;
    for (auto k : keys) {
      if (key.Scalar() == k) {
        w.Fail(key, w.Child(path, key.Scalar()), "not supported by sockstate_exporter");
      }
    }
  }
}

// min_version, max_version; `key:` without a value is "" (not a version).
Choices<int> TlsVersions() {
  return {"unknown TLS version",
          {{"TLS10", TLS1_VERSION},
           {"TLS11", TLS1_1_VERSION},
           {"TLS12", TLS1_2_VERSION},
           {"TLS13", TLS1_3_VERSION}},
          /*null_is_empty=*/true};
}

// client_auth_type; "" (or no value) is NoClientCert.
Choices<ClientAuth> ClientAuthTypes() {
  return {"unknown client_auth_type",
          {{"NoClientCert", ClientAuth::kNoClientCert},
           {"RequestClientCert", ClientAuth::kRequestClientCert},
           {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
           {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
           {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
           {"", ClientAuth::kNoClientCert, /*listed=*/false}},
          /*null_is_empty=*/true};
}

// The rules between TLS keys; then relative file paths are resolved against `base_dir`.
void CheckTls(const YamlWalker& w, const YAML::Node& n, const std::string& base,
              const std::string& base_dir, TlsServerConfig& tls) {
  if (tls.cert_file.empty()) w.Fail(n, w.Child(base, "cert_file"), "missing (required with TLS)");
  if (tls.key_file.empty()) w.Fail(n, w.Child(base, "key_file"), "missing (required with TLS)");
  const bool verifies = tls.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                        tls.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  if (verifies && tls.client_ca_file.empty()) {
    const YAML::Node auth = n["client_auth_type"];
    w.Fail(auth, w.Child(base, "client_ca_file"),
           "required with client_auth_type " + QuoteText(auth.Scalar()));
  }
  if (!tls.client_ca_file.empty() && tls.client_auth == ClientAuth::kNoClientCert) {
    w.Fail(n["client_ca_file"], w.Child(base, "client_ca_file"),
           "set without a client_auth_type that uses it (e.g. RequireAndVerifyClientCert)");
  }
  if (tls.max_version != 0 && tls.max_version < tls.min_version) {
    w.Fail(n["max_version"], w.Child(base, "max_version"), "lower than min_version");
  }
  for (std::string* file : {&tls.cert_file, &tls.key_file, &tls.client_ca_file}) {
    if (!file->empty() && (*file)[0] != '/' && !base_dir.empty()) *file = base_dir + "/" + *file;
  }
}

Section<TlsServerConfig> TlsSection(const std::string& base_dir) {
  using T = TlsServerConfig;
  return {{
              {"cert_file", Text(&T::cert_file)},
              {"key_file", Text(&T::key_file)},
              {"client_ca_file", Text(&T::client_ca_file)},
              {"client_auth_type", OneOf(&T::client_auth, ClientAuthTypes())},
              {"min_version", OneOf(&T::min_version, TlsVersions())},
              {"max_version", OneOf(&T::max_version, TlsVersions())},
          },
          [base_dir](SchemaWalker& w, const YAML::Node& n, const std::string& path, T& tls) {
            CheckTls(w, n, path, base_dir, tls);
          }};
}

// tls_server_config: present means TLS, so it must not be empty.
Value<WebConfig> TlsServer(const std::string& base_dir) {
  Value<WebConfig> v;
  v.read = [section = TlsSection(base_dir)](SchemaWalker& w, const YAML::Node& n,
                                            const std::string& path, WebConfig& out) {
    if (n.IsNull()) w.Fail(n, path, "empty (remove it for plain HTTP)");
    RejectUnsupported(w, n, path, kUnsupportedTls);
    TlsServerConfig tls;
    ReadSection(w, n, path, section, tls);
    out.tls = tls;
  };
  return v;
}

// A bcrypt hash as htpasswd -B makes it, accepted by libcrypt.
std::string BcryptHash(const YamlWalker& w, const YAML::Node& n, const std::string& path) {
  const std::string hash = n.IsNull() ? std::string() : w.String(n, path);
  // bcrypt: $2a$, $2b$ or $2y$, two-digit cost, then 53 characters of salt and hash.
  const bool prefix_ok = hash.size() == 60 && hash[0] == '$' && hash[1] == '2' &&
                         (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') && hash[3] == '$' &&
                         hash[6] == '$';
  if (!prefix_ok) {
    w.Fail(n, path,
           "not a bcrypt hash (want $2y$/$2b$/$2a$, 60 characters; make one with "
           "htpasswd -nBC 10 \"\" | tr -d ':\\n')");
  }
  const bool digits = w.IsDigits(hash.substr(4, 2));
  const int cost = digits ? std::stoi(hash.substr(4, 2)) : 0;
  if (cost < 4 || cost > 31) w.Fail(n, path, "bad bcrypt cost (want 04..31)");
  // Let libcrypt parse the setting: an invalid salt yields its failure token ("*0"/"*1").
  crypt_data data{};
  const char* out = crypt_rn("", hash.substr(0, 29).c_str(), &data, sizeof(data));
  if (out == nullptr || out[0] == '*') {
    w.Fail(n, path, "bcrypt hash rejected by libcrypt (bad salt encoding?)");
  }
  return hash;
}

// basic_auth_users: user name -> bcrypt hash; no value means no users.
Value<WebConfig> Users() {
  Value<WebConfig> v;
  v.read = [](SchemaWalker& w, const YAML::Node& n, const std::string& base, WebConfig& out) {
    if (!n.IsMap()) {
      w.Fail(n, base,
             std::string("expected a map of user name to bcrypt hash, got ") + KindName(n));
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      const std::string user = w.Key(key, base);
      const std::string path = w.Child(base, user);
      if (user.empty()) w.Fail(key, base, "empty user name");
      if (user.find(':') != std::string::npos) w.Fail(key, path, "user names cannot contain ':'");
      if (out.basic_auth_users.count(user)) w.Fail(key, path, "duplicate key " + QuoteText(user));
      out.basic_auth_users[user] = BcryptHash(w, it->second, path);
    }
  };
  v.null_is_absent = true;
  return v;
}

Section<WebConfig> WebConfigSection(const std::string& base_dir) {
  return {{
      {"tls_server_config", TlsServer(base_dir)},
      {"basic_auth_users", Users()},
  }};
}

}  // namespace

Result<WebConfig> ParseWebConfig(const std::string& yaml_text, const std::string& source_name,
                                 const std::string& base_dir) {
  SchemaWalker walker(source_name);
  return ParseYamlDocument<WebConfig>(yaml_text, source_name, [&](const YAML::Node& root) {
    WebConfig config;
    if (!root || root.IsNull()) return config;  // empty file: no TLS, no auth
    RejectUnsupported(walker, root, "", kUnsupportedTop);
    ReadSection(walker, root, "", WebConfigSection(base_dir), config);
    return config;
  });
}

Result<WebConfig> LoadWebConfigFile(const std::string& path) {
  Result<std::string> text = ReadYamlFile(path, "web config file");
  if (!text.ok()) return text.status();
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
  auto config = ParseWebConfig(*text, path, dir);
  if (!config.ok() || !config->tls) return config;
  Status st = CheckTlsFiles(*config->tls, path);
  if (!st.ok()) return st;
  return config;
}

}  // namespace sockstate
