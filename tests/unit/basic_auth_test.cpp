// Basic auth (http/basic_auth.h): bcrypt with its cache and cap, and the libcrypto helpers it
// relies on (base64, SHA-256, constant-time compare).
#include "http/basic_auth.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "test_util.h"

namespace sockstate {
namespace {

using testing::BcryptHash;

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
  EXPECT_TRUE(Base64Decode("YWI=", &out));
  EXPECT_EQ(out, "ab");
  EXPECT_TRUE(Base64Decode("YWJj", &out));
  EXPECT_EQ(out, "abc");
  EXPECT_TRUE(Base64Decode("AP8A", &out));
  EXPECT_EQ(out, std::string("\0\xff\0", 3));
  // libcrypto's decoder skips whitespace and takes '=' anywhere; Base64Decode does not.
  EXPECT_FALSE(Base64Decode(" YQ=", &out));
  EXPECT_FALSE(Base64Decode("YQ==\n", &out));
  EXPECT_FALSE(Base64Decode("Y=Q=", &out));
  EXPECT_FALSE(Base64Decode("====", &out));
  EXPECT_EQ(out, "");
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
  BasicAuthenticator auth({{"prom", BcryptHash("s3cret")}});
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
  BasicAuthenticator auth({{"prom", BcryptHash("old")}});
  EXPECT_EQ(auth.CheckUserPassword("prom", "old"), AuthResult::kOk);
  auth.SetUsers({{"prom", BcryptHash("new")}});
  EXPECT_EQ(auth.CheckUserPassword("prom", "old"), AuthResult::kDenied);
  EXPECT_EQ(auth.CheckUserPassword("prom", "new"), AuthResult::kOk);
  auth.SetUsers({});
  EXPECT_TRUE(auth.disabled());
}

TEST(BasicAuthenticator, ConcurrentBcryptIsCapped) {
  // Cost 12: slow enough that 8 threads overlap; with max_bcrypt 2 some must be kBusy.
  BasicAuthenticator auth({{"prom", BcryptHash("s3cret", 12)}}, 2);
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
