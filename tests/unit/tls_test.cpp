// TLS set-up (http/tls.h): where the civetweb/OpenSSL 3 compat library is looked for, and which
// one is chosen. Loading it for real is tested end to end (tests/security/test_tls_auth.sh).
#include "http/tls.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace sockstate {
namespace {

TEST(CompatLibCandidates, NextToBinaryThenRelativePrefixThenInstalled) {
  EXPECT_EQ(CompatLibCandidates("/opt/se/bin/sockstate_exporter",
                                "/usr/local/lib/sockstate_exporter/libsockstate_ssl_compat.so"),
            (std::vector<std::string>{
                "/opt/se/bin/libsockstate_ssl_compat.so",
                "/opt/se/lib/sockstate_exporter/libsockstate_ssl_compat.so",
                "/usr/local/lib/sockstate_exporter/libsockstate_ssl_compat.so",
            }));
}

TEST(CompatLibCandidates, InstalledPathNotRepeatedAndEmptyIgnored) {
  EXPECT_EQ(CompatLibCandidates("/usr/bin/sockstate_exporter", ""),
            (std::vector<std::string>{
                "/usr/bin/libsockstate_ssl_compat.so",
                "/usr/lib/sockstate_exporter/libsockstate_ssl_compat.so",
            }));
  // The image and the Debian package: prefix /usr, the installed path is the relative one.
  EXPECT_EQ(CompatLibCandidates("/usr/bin/sockstate_exporter",
                                "/usr/lib/sockstate_exporter/libsockstate_ssl_compat.so"),
            (std::vector<std::string>{
                "/usr/bin/libsockstate_ssl_compat.so",
                "/usr/lib/sockstate_exporter/libsockstate_ssl_compat.so",
            }));
  // A binary in /: next to it, then the installed path.
  EXPECT_EQ(
      CompatLibCandidates("/sockstate_exporter", "/i/libsockstate_ssl_compat.so"),
      (std::vector<std::string>{"/libsockstate_ssl_compat.so", "/i/libsockstate_ssl_compat.so"}));
  EXPECT_EQ(CompatLibCandidates("/x/sockstate_exporter", "/x/libsockstate_ssl_compat.so").size(),
            2u);
  // No /proc/self/exe: only the installed path.
  EXPECT_EQ(CompatLibCandidates("", "/p/lib/sockstate_exporter/libsockstate_ssl_compat.so"),
            (std::vector<std::string>{"/p/lib/sockstate_exporter/libsockstate_ssl_compat.so"}));
}

TEST(CompatLibCandidates, InstalledPathIsUnderThePrefix) {
  const std::string installed = InstalledCompatLib();
  ASSERT_FALSE(installed.empty());
  EXPECT_EQ(installed.substr(installed.rfind("/lib/")),
            "/lib/sockstate_exporter/libsockstate_ssl_compat.so");
}

TEST(ChooseCompatLib, OverrideWinsEvenIfMissing) {
  const std::vector<std::string> candidates = {"/a/lib.so", "/b/lib.so"};
  auto all = [](const std::string&) { return true; };
  EXPECT_EQ(ChooseCompatLib("/nonexistent/x.so", candidates, all), "/nonexistent/x.so");
}

TEST(ChooseCompatLib, FirstExistingCandidateOrNone) {
  const std::vector<std::string> candidates = {"/a/lib.so", "/b/lib.so", "/c/lib.so"};
  std::set<std::string> present = {"/b/lib.so", "/c/lib.so"};
  auto exists = [&](const std::string& p) { return present.count(p) > 0; };
  EXPECT_EQ(ChooseCompatLib("", candidates, exists), "/b/lib.so");
  present = {"/c/lib.so"};
  EXPECT_EQ(ChooseCompatLib("", candidates, exists), "/c/lib.so");
  present.clear();
  EXPECT_EQ(ChooseCompatLib("", candidates, exists), "");
}

}  // namespace
}  // namespace sockstate
