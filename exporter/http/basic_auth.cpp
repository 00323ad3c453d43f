#include "http/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <memory>
#include <random>

namespace sockstate {

std::string Sha256(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return std::string();  // never seen: SHA-256 is always available in libcrypto
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool Base64Decode(const std::string& in, std::string* out) {
  out->clear();
  // EVP_DecodeBlock is lenient (whitespace, padding anywhere): check the strict form first.
  if (in.size() % 4 != 0) return false;
  const size_t data_end = in.find('=');
  const size_t pad = data_end == std::string::npos ? 0 : in.size() - data_end;
  if (pad > 2) return false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    const bool alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (i < in.size() - pad ? !alphabet : c != '=') return false;
  }
  if (in.empty()) return true;
  out->resize(in.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0 || static_cast<size_t>(n) != out->size()) {
    out->clear();
    return false;
  }
  out->resize(out->size() - pad);  // EVP_DecodeBlock counts the padding as zero bytes
  return true;
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
