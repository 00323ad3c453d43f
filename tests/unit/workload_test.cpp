// Workload names from cgroup v2 paths (kernel/workload.h), over the layouts of systemd, Docker,
// containerd, CRI-O, podman and user slices (docs/workloads.md#workload-labels).

#include "kernel/workload.h"

#include <gtest/gtest.h>

#include <ostream>

namespace sockstate {

void PrintTo(const Workload& w, std::ostream* os) { *os << w.kind << ":" << w.name; }

namespace {

const std::string kId = "3f4c6b0e9a5d1e2f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";
const std::string kPod = "7d3e6f1a-2b4c-4d5e-8f9a-0b1c2d3e4f5a";

Workload W(const std::string& kind, const std::string& name) { return {kind, name}; }

TEST(WorkloadFromCgroupPath, Systemd) {
  EXPECT_EQ(WorkloadFromCgroupPath("/system.slice/nginx.service"),
            W("systemd_unit", "nginx.service"));
  EXPECT_EQ(WorkloadFromCgroupPath("/system.slice/system-getty.slice/getty@tty1.service"),
            W("systemd_unit", "getty@tty1.service"));
  EXPECT_EQ(WorkloadFromCgroupPath("/system.slice/run-r1b2.scope"),
            W("systemd_unit", "run-r1b2.scope"));
  EXPECT_EQ(WorkloadFromCgroupPath("/init.scope"), W("systemd_unit", "init.scope"));  // PID 1
}

TEST(WorkloadFromCgroupPath, UserSlices) {
  EXPECT_EQ(WorkloadFromCgroupPath("/user.slice/user-1000.slice/session-3.scope"),
            W("systemd_unit", "session-3.scope"));
  // The user's service manager itself: its unit, not the internal init.scope.
  EXPECT_EQ(WorkloadFromCgroupPath("/user.slice/user-1000.slice/user@1000.service/init.scope"),
            W("systemd_unit", "user@1000.service"));
  // A user unit run by that manager: the deepest unit.
  EXPECT_EQ(WorkloadFromCgroupPath(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service"),
            W("systemd_unit", "syncthing.service"));
}

TEST(WorkloadFromCgroupPath, Docker) {
  EXPECT_EQ(WorkloadFromCgroupPath("/system.slice/docker-" + kId + ".scope"), W("container", kId));
  EXPECT_EQ(WorkloadFromCgroupPath("/docker/" + kId), W("container", kId));  // cgroupfs driver
}

TEST(WorkloadFromCgroupPath, Podman) {
  EXPECT_EQ(WorkloadFromCgroupPath("/machine.slice/libpod-" + kId + ".scope"), W("container", kId));
  EXPECT_EQ(
      WorkloadFromCgroupPath("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" +
                             kId + ".scope/container"),
      W("container", kId));  // rootless, with the container's own sub-cgroup
}

TEST(WorkloadFromCgroupPath, KubernetesPodsWithContainerdAndCrio) {
  const std::string pod_slice =
      "kubepods-burstable-pod" + std::string("7d3e6f1a_2b4c_4d5e_8f9a_0b1c2d3e4f5a") + ".slice";
  EXPECT_EQ(WorkloadFromCgroupPath("/kubepods.slice/kubepods-burstable.slice/" + pod_slice +
                                   "/cri-containerd-" + kId + ".scope"),
            W("pod", kPod));
  EXPECT_EQ(WorkloadFromCgroupPath("/kubepods.slice/kubepods-burstable.slice/" + pod_slice +
                                   "/crio-" + kId + ".scope"),
            W("pod", kPod));
  EXPECT_EQ(WorkloadFromCgroupPath("/kubepods/besteffort/pod" + kPod + "/" + kId), W("pod", kPod));
}

TEST(WorkloadFromCgroupPath, PlainCgroups) {
  EXPECT_EQ(WorkloadFromCgroupPath("/sst-test"), W("cgroup", "/sst-test"));
  EXPECT_EQ(WorkloadFromCgroupPath("/batch/job-7"), W("cgroup", "/batch/job-7"));
  EXPECT_EQ(WorkloadFromCgroupPath("/"), W("cgroup", "/"));
}

}  // namespace
}  // namespace sockstate

namespace sockstate {
namespace {

TEST(Cgroup2Root, TheFlagWinsElseTheFirstCgroup2MountOfMountinfo) {
  const std::string procfs = ::testing::TempDir() + "/wl-procfs";
  ASSERT_EQ(system(("mkdir -p " + procfs + "/self").c_str()), 0);
  FILE* f = fopen((procfs + "/self/mountinfo").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs(
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
      f);
  fclose(f);
  EXPECT_EQ(Cgroup2Root("", procfs), "/sys/fs/cgroup/unified");
  EXPECT_EQ(Cgroup2Root("/host/sys/fs/cgroup", procfs), "/host/sys/fs/cgroup");
  EXPECT_EQ(Cgroup2Root("", procfs + "/missing"), "");
  ASSERT_EQ(system(("rm -rf " + procfs).c_str()), 0);
}

}  // namespace
}  // namespace sockstate
