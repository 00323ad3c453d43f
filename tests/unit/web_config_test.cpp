// Web config (--web.config.file): parsing with located errors, bcrypt basic auth with its
// cache, and the small helpers it relies on (base64, SHA-256, constant-time compare).
#include "http/web_config.h"

#include <crypt.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sockstate {
namespace {

// bcrypt of "s3cret" at cost 4 (fast in tests); generated with crypt_gensalt_rn + crypt_rn.
std::string Hash(const std::string& password, int cost = 4) {
  char salt[64];
  crypt_gensalt_rn("$2y$", cost, nullptr, 0, salt, sizeof(salt));
  crypt_data data{};
  return crypt_rn(password.c_str(), salt, &data, sizeof(data));
}

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
  const std::string h = Hash("s3cret");
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
            "web.yml:4:16: tls_server_config.min_version: unknown TLS version \"TLS9\" (want "
            "TLS10, TLS11, TLS12 or TLS13)");
  EXPECT_EQ(Err("tls_server_config:\n  key_file: b\n"),
            "web.yml:2:3: tls_server_config.cert_file: missing (required with TLS)");
  EXPECT_EQ(Err("tls_server_config:\n  cert_file: a\n"),
            "web.yml:2:3: tls_server_config.key_file: missing (required with TLS)");
  EXPECT_EQ(Err("tls_config:\n  cert_file: a\n"),
            "web.yml:1:1: tls_config: unknown key (want tls_server_config or basic_auth_users)");
  EXPECT_NE(Err("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n")
                .find("tls_server_config.cipher_suites: not supported"),
            std::string::npos);
  EXPECT_NE(Err("http_server_config:\n  http2: true\n").find("http_server_config: not supported"),
            std::string::npos);
  EXPECT_NE(Err("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n")
                .find("web.yml:4:21: tls_server_config.client_auth_type: unknown \"Maybe\""),
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
  EXPECT_NE(Err("basic_auth_users:\n  'a:b': '" + Hash("x") + "'\n")
                .find("user names cannot contain ':'"),
            std::string::npos);
  EXPECT_NE(Err("basic_auth_users: [a]\n").find("basic_auth_users: want a mapping"),
            std::string::npos);
  EXPECT_NE(Err("tls_server_config: [\n").find("web.yml:2:1: YAML syntax error"),
            std::string::npos);
  EXPECT_NE(Err("[1, 2]\n").find("web.yml:1:1: (top level): want a mapping"), std::string::npos);
}

TEST(WebConfigParse, BcryptCostAndSaltChecked) {
  std::string h = Hash("x");
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

TEST(Base64, DecodesAndRejects) {
  std::string out;
  EXPECT_TRUE(Base64Decode("cHJvbTpzM2NyZXQ=", &out));
  EXPECT_EQ(out, "prom:s3cret");
  EXPECT_TRUE(Base64Decode("YQ==", &out));
  EXPECT_EQ(out, "a");
  EXPECT_TRUE(Base64Decode("", &out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(Base64Decode("YQ=", &out));
  EXPECT_FALSE(Base64Decode("Y===", &out));
  EXPECT_FALSE(Base64Decode("YQ==YQ==", &out));
  EXPECT_FALSE(Base64Decode("Y*Q=", &out));
}

TEST(Sha256, KnownVectors) {
  auto hex = [](const std::string& s) {
    static const char k[] = "0123456789abcdef";
    std::string o;
    for (unsigned char c : s) {
      o += k[c >> 4];
      o += k[c & 15];
    }
    return o;
  };
  EXPECT_EQ(hex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(Sha256(std::string(1000, 'a'))),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(ConstantTimeEquals, Basics) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(BasicAuthenticator, ChecksAndCaches) {
  BasicAuthenticator auth({{"prom", Hash("s3cret")}});
  EXPECT_FALSE(auth.disabled());
  EXPECT_EQ(auth.Check("Basic cHJvbTpzM2NyZXQ="), AuthResult::kOk);  // prom:s3cret
  const uint64_t after_first = auth.bcrypt_calls();
  EXPECT_EQ(after_first, 1u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(auth.Check("basic  cHJvbTpzM2NyZXQ= "), AuthResult::kOk);
  EXPECT_EQ(auth.bcrypt_calls(), after_first) << "cached successes must not run bcrypt";
  // Wrong passwords always run bcrypt and never hit the cache.
  EXPECT_EQ(auth.CheckUserPassword("prom", "wrong"), AuthResult::kDenied);
  EXPECT_EQ(auth.CheckUserPassword("prom", "s3cret\n"), AuthResult::kDenied);
  EXPECT_EQ(auth.bcrypt_calls(), after_first + 2);
  // Unknown users cost a bcrypt too (no user enumeration by timing).
  EXPECT_EQ(auth.CheckUserPassword("nobody", "s3cret"), AuthResult::kDenied);
  EXPECT_EQ(auth.bcrypt_calls(), after_first + 3);
  EXPECT_EQ(auth.Check(nullptr), AuthResult::kDenied);
  EXPECT_EQ(auth.Check("Bearer x"), AuthResult::kDenied);
  EXPECT_EQ(auth.Check("Basic !!!!"), AuthResult::kDenied);
  EXPECT_EQ(auth.Check("Basic cHJvbQ=="), AuthResult::kDenied);  // "prom", no colon
  EXPECT_EQ(auth.CheckUserPassword("prom", std::string("s3cret\0x", 8)), AuthResult::kDenied);
}

TEST(BasicAuthenticator, SetUsersDropsStaleCache) {
  BasicAuthenticator auth({{"prom", Hash("old")}});
  EXPECT_EQ(auth.CheckUserPassword("prom", "old"), AuthResult::kOk);
  auth.SetUsers({{"prom", Hash("new")}});
  EXPECT_EQ(auth.CheckUserPassword("prom", "old"), AuthResult::kDenied);
  EXPECT_EQ(auth.CheckUserPassword("prom", "new"), AuthResult::kOk);
  auth.SetUsers({});
  EXPECT_TRUE(auth.disabled());
}

TEST(BasicAuthenticator, ConcurrentBcryptIsCapped) {
  // Cost 12: slow enough that 8 threads overlap; with max_bcrypt 2 some must be kBusy.
  BasicAuthenticator auth({{"prom", Hash("s3cret", 12)}}, 2);
  std::atomic<int> busy{0}, denied{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      AuthResult r = auth.CheckUserPassword("prom", "wrong");
      if (r == AuthResult::kBusy) ++busy;
      if (r == AuthResult::kDenied) ++denied;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(busy.load(), 0);
  EXPECT_GE(denied.load(), 1);
  EXPECT_EQ(busy + denied, 8);
}

}  // namespace
}  // namespace sockstate
