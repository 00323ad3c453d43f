// Fuzz target: arbitrary bytes as a --web.config.file, and as an Authorization header.
// ParseWebConfig must return a value or an error naming the file, never crash or throw; a
// parsed config must satisfy what the validator promises. The header goes through
// BasicAuthenticator::Check (base64, "user:password" split) and must never be accepted.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "http/basic_auth.h"
#include "http/web_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<sockstate::WebConfig> c = sockstate::ParseWebConfig(text, "fuzz.yml", "/base");
  if (!c.ok()) {
    if (c.status().message().rfind("fuzz.yml", 0) != 0) std::abort();  // errors name the file
  } else {
    if (c->tls) {
      const auto& t = *c->tls;
      if (t.cert_file.empty() || t.key_file.empty()) std::abort();
      if (t.cert_file[0] != '/' || t.key_file[0] != '/') std::abort();  // resolved against base
      if (t.min_version < 0x0301 || t.min_version > 0x0304) std::abort();
      if (t.max_version != 0 && t.max_version < t.min_version) std::abort();
      const bool verifies = t.client_auth == sockstate::ClientAuth::kVerifyClientCertIfGiven ||
                            t.client_auth == sockstate::ClientAuth::kRequireAndVerifyClientCert;
      if (verifies && t.client_ca_file.empty()) std::abort();
    }
    for (const auto& [user, hash] : c->basic_auth_users) {
      if (user.empty() || user.find(':') != std::string::npos) std::abort();
      if (hash.size() != 60 || hash.compare(0, 2, "$2") != 0) std::abort();
    }
  }
  // One user "u" with password "p" (bcrypt cost 4 keeps this fast; only well-formed "Basic"
  // headers reach bcrypt): only the credentials "u:p" (base64 "dTpw") may authenticate.
  static sockstate::BasicAuthenticator auth(std::map<std::string, std::string>{
      {"u", "$2y$04$abcdefghijklmnopqrstuudMegMbPN37MbpdEfAtP66w1z0RBCtLG"}});
  if (size < 512) {
    const std::string header = "Basic " + text;
    if (auth.Check(header.c_str()) == sockstate::AuthResult::kOk &&
        text.find("dTpw") == std::string::npos) {
      std::abort();
    }
  }
  return 0;
}
