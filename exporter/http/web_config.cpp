#include "http/web_config.h"

#include <crypt.h>
#include <openssl/ssl.h>  // TLS version constants only

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

// Walks the web config (errors: see YamlWalker).
class Parser : public YamlWalker {
 public:
  Parser(const std::string& source, const std::string& base_dir)
      : YamlWalker(source), base_dir_(base_dir) {}

  WebConfig Parse(const YAML::Node& root) {
    WebConfig config;
    if (!root || root.IsNull()) return config;  // empty file: no TLS, no auth
    RejectUnsupported(root, "", kUnsupportedTop);
    ForEachKey(root, "", {"tls_server_config", "basic_auth_users"},
               [&](const std::string& key, const YAML::Node& value, const std::string& path) {
                 if (key == "tls_server_config") config.tls = ParseTls(value, path);
                 if (key == "basic_auth_users") config.basic_auth_users = ParseUsers(value, path);
               });
    return config;
  }

 private:
  void RejectUnsupported(const YAML::Node& n, const std::string& path,
                         std::initializer_list<std::string_view> keys) const {
    if (!n.IsMap()) return;  // ForEachKey says what is wrong
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) continue;
      for (auto k : keys) {
        if (key.Scalar() == k)
          Fail(key, Child(path, key.Scalar()), "not supported by sockstate_exporter");
      }
    }
  }

  // A string; null (key without a value) is "".
  std::string Str(const YAML::Node& n, const std::string& path) const {
    return n.IsNull() ? std::string() : String(n, path);
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
    Fail(n, path, "unknown TLS version " + QuoteText(s) + " (allowed: TLS10, TLS11, TLS12, TLS13)");
  }

  ClientAuth AuthType(const YAML::Node& n, const std::string& path) const {
    const std::string s = Str(n, path);
    if (s.empty() || s == "NoClientCert") return ClientAuth::kNoClientCert;
    if (s == "RequestClientCert") return ClientAuth::kRequestClientCert;
    if (s == "RequireAnyClientCert") return ClientAuth::kRequireAnyClientCert;
    if (s == "VerifyClientCertIfGiven") return ClientAuth::kVerifyClientCertIfGiven;
    if (s == "RequireAndVerifyClientCert") return ClientAuth::kRequireAndVerifyClientCert;
    Fail(n, path,
         "unknown client_auth_type " + QuoteText(s) +
             " (allowed: NoClientCert, RequestClientCert, RequireAnyClientCert, "
             "VerifyClientCertIfGiven, RequireAndVerifyClientCert)");
  }

  TlsServerConfig ParseTls(const YAML::Node& n, const std::string& base) {
    TlsServerConfig tls;
    if (n.IsNull()) Fail(n, base, "empty (remove it for plain HTTP)");
    RejectUnsupported(n, base, kUnsupportedTls);
    YAML::Node auth_node, ca_node, max_node;
    ForEachKey(n, base,
               {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version",
                "max_version"},
               [&](const std::string& key, const YAML::Node& v, const std::string& path) {
                 if (key == "cert_file") tls.cert_file = FilePath(v, path);
                 if (key == "key_file") tls.key_file = FilePath(v, path);
                 if (key == "client_ca_file") {
                   tls.client_ca_file = FilePath(v, path);
                   ca_node = v;
                 }
                 if (key == "client_auth_type") {
                   tls.client_auth = AuthType(v, path);
                   auth_node = v;
                 }
                 if (key == "min_version") tls.min_version = Version(v, path);
                 if (key == "max_version") {
                   tls.max_version = Version(v, path);
                   max_node = v;
                 }
               });
    if (tls.cert_file.empty()) Fail(n, Child(base, "cert_file"), "missing (required with TLS)");
    if (tls.key_file.empty()) Fail(n, Child(base, "key_file"), "missing (required with TLS)");
    const bool verifies = tls.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                          tls.client_auth == ClientAuth::kRequireAndVerifyClientCert;
    if (verifies && tls.client_ca_file.empty()) {
      Fail(auth_node, Child(base, "client_ca_file"),
           "required with client_auth_type " + QuoteText(auth_node.Scalar()));
    }
    if (!tls.client_ca_file.empty() && tls.client_auth == ClientAuth::kNoClientCert) {
      Fail(ca_node, Child(base, "client_ca_file"),
           "set without a client_auth_type that uses it (e.g. RequireAndVerifyClientCert)");
    }
    if (tls.max_version != 0 && tls.max_version < tls.min_version) {
      Fail(max_node, Child(base, "max_version"), "lower than min_version");
    }
    return tls;
  }

  // A bcrypt hash as htpasswd -B makes it, accepted by libcrypt.
  std::string BcryptHash(const YAML::Node& n, const std::string& path) const {
    const std::string hash = Str(n, path);
    // bcrypt: $2a$, $2b$ or $2y$, two-digit cost, then 53 characters of salt and hash.
    const bool prefix_ok = hash.size() == 60 && hash[0] == '$' && hash[1] == '2' &&
                           (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') && hash[3] == '$' &&
                           hash[6] == '$';
    if (!prefix_ok) {
      Fail(n, path,
           "not a bcrypt hash (want $2y$/$2b$/$2a$, 60 characters; make one with "
           "htpasswd -nBC 10 \"\" | tr -d ':\\n')");
    }
    const bool digits = IsDigits(hash.substr(4, 2));
    const int cost = digits ? std::stoi(hash.substr(4, 2)) : 0;
    if (cost < 4 || cost > 31) Fail(n, path, "bad bcrypt cost (want 04..31)");
    // Let libcrypt parse the setting: an invalid salt yields its failure token ("*0"/"*1").
    crypt_data data{};
    const char* out = crypt_rn("", hash.substr(0, 29).c_str(), &data, sizeof(data));
    if (out == nullptr || out[0] == '*') {
      Fail(n, path, "bcrypt hash rejected by libcrypt (bad salt encoding?)");
    }
    return hash;
  }

  std::map<std::string, std::string> ParseUsers(const YAML::Node& n, const std::string& base) {
    std::map<std::string, std::string> users;
    if (n.IsNull()) return users;
    if (!n.IsMap()) {
      Fail(n, base, std::string("expected a map of user name to bcrypt hash, got ") + KindName(n));
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      const std::string user = Key(key, base);
      const std::string path = Child(base, user);
      if (user.empty()) Fail(key, base, "empty user name");
      if (user.find(':') != std::string::npos) Fail(key, path, "user names cannot contain ':'");
      if (users.count(user)) Fail(key, path, "duplicate key " + QuoteText(user));
      users[user] = BcryptHash(it->second, path);
    }
    return users;
  }

  const std::string base_dir_;
};

}  // namespace

Result<WebConfig> ParseWebConfig(const std::string& yaml_text, const std::string& source_name,
                                 const std::string& base_dir) {
  Parser parser(source_name, base_dir);
  return ParseYamlDocument<WebConfig>(yaml_text, source_name,
                                      [&](const YAML::Node& root) { return parser.Parse(root); });
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
