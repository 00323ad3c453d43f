#pragma once
// HTTP basic auth against the bcrypt hashes of the web config (basic_auth_users), with a cache
// of successful checks and a cap on bcrypt evaluations in progress. SHA-256 and base64 come
// from OpenSSL's libcrypto.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sockstate {

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

/// Decodes standard base64 (with padding, no whitespace); false on any invalid input. Pure;
/// thread-safe.
bool Base64Decode(const std::string& in, std::string* out);
/// SHA-256 of `data` (32 raw bytes). Pure; thread-safe.
std::string Sha256(const std::string& data);
/// Equality of two strings that does not stop at the first differing byte (the length is not
/// hidden). Pure; thread-safe.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace sockstate
