// Web config (--web.config.file): the schema, with errors worded as the exporter config's
// ("<file>:<line>:<column>: <key path>: <message>").
#include "http/web_config.h"

#include <gtest/gtest.h>

#include "http/tls.h"
#include "test_util.h"

namespace sockstate {
namespace {

using testing::BcryptHash;

std::string Err(const std::string& yaml) {
  auto r = ParseWebConfig(yaml, "web.yml", "/etc/x");
  return r.ok() ? "OK" : r.status().message();
}

TEST(WebConfigParse, EmptyFileMeansPlainHttpNoAuth) {
  auto r = ParseWebConfig("", "web.yml", "");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->tls);
  EXPECT_TRUE(r->basic_auth_users.empty());
}

TEST(WebConfigParse, FullTlsAndUsers) {
  const std::string h = BcryptHash("s3cret");
  auto r = ParseWebConfig(
      "tls_server_config:\n"
      "  cert_file: server.crt\n"
      "  key_file: /abs/server.key\n"
      "  client_ca_file: ca.crt\n"
      "  client_auth_type: RequireAndVerifyClientCert\n"
      "  min_version: TLS13\n"
      "basic_auth_users:\n"
      "  prometheus: '" +
          h + "'\n",
      "web.yml", "/etc/x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->tls);
  EXPECT_EQ(r->tls->cert_file, "/etc/x/server.crt");
  EXPECT_EQ(r->tls->key_file, "/abs/server.key");
  EXPECT_EQ(r->tls->client_ca_file, "/etc/x/ca.crt");
  EXPECT_EQ(r->tls->client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(r->tls->min_version, 0x0304);
  EXPECT_EQ(r->basic_auth_users.at("prometheus"), h);
}

TEST(WebConfigParse, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(Err("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS9\n"),
            "web.yml:4:16: tls_server_config.min_version: unknown TLS version \"TLS9\" "
            "(allowed: TLS10, TLS11, TLS12, TLS13)");
  EXPECT_EQ(Err("tls_server_config:\n  key_file: b\n"),
            "web.yml:2:3: tls_server_config.cert_file: missing (required with TLS)");
  EXPECT_EQ(Err("tls_server_config:\n  cert_file: a\n"),
            "web.yml:2:3: tls_server_config.key_file: missing (required with TLS)");
  EXPECT_EQ(Err("tls_config:\n  cert_file: a\n"),
            "web.yml:1:1: tls_config: unknown key \"tls_config\" (allowed: tls_server_config, "
            "basic_auth_users)");
  EXPECT_EQ(Err("basic_auth_users: {}\nbasic_auth_users: {}\n"),
            "web.yml:2:1: basic_auth_users: duplicate key \"basic_auth_users\"");
  EXPECT_EQ(Err("tls_server_config:\n  cert_file: [a]\n  key_file: b\n"),
            "web.yml:2:14: tls_server_config.cert_file: expected a string, got a list");
  EXPECT_NE(Err("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n")
                .find("tls_server_config.cipher_suites: not supported"),
            std::string::npos);
  EXPECT_NE(Err("http_server_config:\n  http2: true\n").find("http_server_config: not supported"),
            std::string::npos);
  EXPECT_NE(Err("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n")
                .find("web.yml:4:21: tls_server_config.client_auth_type: unknown client_auth_type "
                      "\"Maybe\""),
            std::string::npos);
  EXPECT_NE(Err("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                "  client_auth_type: RequireAndVerifyClientCert\n")
                .find("tls_server_config.client_ca_file: required"),
            std::string::npos);
  EXPECT_NE(Err("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n")
                .find("tls_server_config.client_ca_file: set without a client_auth_type"),
            std::string::npos);
  EXPECT_NE(Err("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
                "  max_version: TLS12\n")
                .find("tls_server_config.max_version: lower than min_version"),
            std::string::npos);
  EXPECT_NE(Err("basic_auth_users:\n  alice: plaintext\n")
                .find("web.yml:2:10: basic_auth_users.alice: not a bcrypt hash"),
            std::string::npos);
  EXPECT_NE(Err("basic_auth_users:\n  'a:b': '" + BcryptHash("x") + "'\n")
                .find("user names cannot contain ':'"),
            std::string::npos);
  EXPECT_EQ(Err("basic_auth_users: [a]\n"),
            "web.yml:1:19: basic_auth_users: expected a map of user name to bcrypt hash, got a "
            "list");
  EXPECT_NE(Err("tls_server_config: [\n").find("web.yml:2:1: YAML syntax error"),
            std::string::npos);
  EXPECT_EQ(Err("[1, 2]\n"), "web.yml:1:1: top level: expected a map, got a list");
}

TEST(WebConfigParse, BcryptCostAndSaltChecked) {
  std::string h = BcryptHash("x");
  std::string bad_cost = h;
  bad_cost[4] = '9';
  bad_cost[5] = '9';
  EXPECT_NE(Err("basic_auth_users:\n  a: '" + bad_cost + "'\n").find("bad bcrypt cost"),
            std::string::npos);
  std::string bad_salt = h;
  bad_salt[10] = '!';
  EXPECT_NE(Err("basic_auth_users:\n  a: '" + bad_salt + "'\n").find("rejected by libcrypt"),
            std::string::npos);
}

TEST(WebConfigLoad, MissingFileAndMissingCertNamed) {
  auto r = LoadWebConfigFile("/nonexistent/web.yml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "cannot read web config file \"/nonexistent/web.yml\": No such file or directory");
  TlsServerConfig tls;
  tls.cert_file = "/nonexistent/server.crt";
  tls.key_file = "/nonexistent/server.key";
  Status st = CheckTlsFiles(tls, "web.yml");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "web.yml: tls_server_config.cert_file: cannot read \"/nonexistent/server.crt\": No "
            "such file or directory");
}

}  // namespace
}  // namespace sockstate
