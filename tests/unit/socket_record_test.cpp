#include "kernel/socket_record.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "util/status.h"

namespace sockstate {
namespace {

TEST(TcpStateName, NamesEveryExportedStateUniquely) {
  std::set<std::string> names;
  for (uint8_t s : kExportedStates) {
    std::string n(TcpStateName(s));
    EXPECT_FALSE(n.empty()) << int(s);
    names.insert(n);
  }
  EXPECT_EQ(names.size(), 12u);
  EXPECT_EQ(TcpStateName(kTcpTimeWait), "time_wait");
  EXPECT_EQ(TcpStateName(kTcpBoundInactive), "bound_inactive");
}

TEST(TcpStateName, UnexportedStatesAreEmpty) {
  EXPECT_EQ(TcpStateName(0), "");
  EXPECT_EQ(TcpStateName(kTcpNewSynRecv), "");
  EXPECT_EQ(TcpStateName(kTcpMaxState), "");
  EXPECT_EQ(TcpStateName(255), "");
}

TEST(Status, CarriesContext) {
  Status s = Status::Error("recvmsg: EINTR").WithContext("sock_diag AF_INET dump");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "sock_diag AF_INET dump: recvmsg: EINTR");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
  Result<int> r(Status::Error("bad"));
  EXPECT_FALSE(r.ok());
  Result<int> v(7);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
}

}  // namespace
}  // namespace sockstate
