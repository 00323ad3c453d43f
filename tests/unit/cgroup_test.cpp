// ParseCgroupFile: /proc/<pid>/cgroup of processes in containers of each runtime and cgroup
// driver, cgroup v1 and v2, and of host processes.
#include "kernel/cgroup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace sockstate {
namespace {

const std::string kId = "3f4c6b0e9a5d1e2f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";
const std::string kId2 = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const std::string kUid = "7d3e6f1a-2b4c-4d5e-8f9a-0b1c2d3e4f5a";
const std::string kUidUnderscore = "7d3e6f1a_2b4c_4d5e_8f9a_0b1c2d3e4f5a";

void ExpectInfo(const ContainerInfo& got, const std::string& id, const std::string& uid) {
  EXPECT_EQ(got.container_id, id);
  EXPECT_EQ(got.pod_uid, uid);
}

// --- cgroup v2, systemd driver (the kubelet default on current distributions) -------------

TEST(CgroupParse, V2SystemdContainerdBurstable) {
  ExpectInfo(ParseCgroupFile("0::/kubepods.slice/kubepods-burstable.slice/"
                             "kubepods-burstable-pod" +
                             kUidUnderscore + ".slice/cri-containerd-" + kId + ".scope\n"),
             kId, kUid);
}

TEST(CgroupParse, V2SystemdContainerdBestEffort) {
  ExpectInfo(ParseCgroupFile("0::/kubepods.slice/kubepods-besteffort.slice/"
                             "kubepods-besteffort-pod" +
                             kUidUnderscore + ".slice/cri-containerd-" + kId + ".scope\n"),
             kId, kUid);
}

TEST(CgroupParse, V2SystemdContainerdGuaranteed) {
  // Guaranteed pods sit directly under kubepods.slice.
  ExpectInfo(ParseCgroupFile("0::/kubepods.slice/kubepods-pod" + kUidUnderscore +
                             ".slice/cri-containerd-" + kId + ".scope\n"),
             kId, kUid);
}

TEST(CgroupParse, V2SystemdCrio) {
  ExpectInfo(ParseCgroupFile("0::/kubepods.slice/kubepods-burstable.slice/"
                             "kubepods-burstable-pod" +
                             kUidUnderscore + ".slice/crio-" + kId + ".scope\n"),
             kId, kUid);
}

TEST(CgroupParse, V2SystemdCriDockerd) {
  ExpectInfo(ParseCgroupFile("0::/kubepods.slice/kubepods-besteffort.slice/"
                             "kubepods-besteffort-pod" +
                             kUidUnderscore + ".slice/docker-" + kId + ".scope\n"),
             kId, kUid);
}

TEST(CgroupParse, V2CrioConmonIsNotAContainer) {
  // conmon runs in the pod slice but is not the container (and not in its netns).
  ExpectInfo(ParseCgroupFile("0::/kubepods.slice/kubepods-burstable.slice/"
                             "kubepods-burstable-pod" +
                             kUidUnderscore + ".slice/crio-conmon-" + kId + ".scope\n"),
             "", kUid);
}

TEST(CgroupParse, V2KubeletCgroupRootPrefix) {
  // kind / a kubelet started with --cgroup-root=/kubelet.slice.
  ExpectInfo(ParseCgroupFile("0::/kubelet.slice/kubelet-kubepods.slice/"
                             "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" +
                             kUidUnderscore + ".slice/cri-containerd-" + kId + ".scope\n"),
             kId, kUid);
}

TEST(CgroupParse, V2KindNodeInsideDockerTakesInnermostContainer) {
  // Seen from the host: the kind node is a Docker container; the pod's container is inside.
  ExpectInfo(ParseCgroupFile("0::/system.slice/docker-" + kId2 +
                             ".scope/kubelet.slice/kubelet-kubepods.slice/"
                             "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" +
                             kUidUnderscore + ".slice/cri-containerd-" + kId + ".scope\n"),
             kId, kUid);
}

TEST(CgroupParse, V2RelativeToAnotherCgroupNamespace) {
  // Read by a process in its own cgroup namespace (a containerised exporter).
  ExpectInfo(ParseCgroupFile("0::/../../kubepods-besteffort.slice/kubepods-besteffort-pod" +
                             kUidUnderscore + ".slice/cri-containerd-" + kId + ".scope\n"),
             kId, kUid);
}

TEST(CgroupParse, V2UppercaseUidIsLowercased) {
  std::string upper = "7D3E6F1A_2B4C_4D5E_8F9A_0B1C2D3E4F5A";
  ExpectInfo(ParseCgroupFile("0::/kubepods.slice/kubepods-pod" + upper + ".slice/cri-containerd-" +
                             kId + ".scope"),
             kId, kUid);
}

TEST(CgroupParse, V2StaticPodHashUidKeptAsIs) {
  // Static pods: the kubelet's UID is a 32-hex hash of the manifest, no separators.
  const std::string hash = "d0ee5ec1a4cd0c9a5a5fd1a5f01a0c91";
  ExpectInfo(ParseCgroupFile("0::/kubepods.slice/kubepods-burstable.slice/"
                             "kubepods-burstable-pod" +
                             hash + ".slice/cri-containerd-" + kId + ".scope\n"),
             kId, hash);
}

// --- cgroup v2, cgroupfs driver ------------------------------------------------------------

TEST(CgroupParse, V2CgroupfsBurstable) {
  ExpectInfo(ParseCgroupFile("0::/kubepods/burstable/pod" + kUid + "/" + kId + "\n"), kId, kUid);
}

TEST(CgroupParse, V2CgroupfsBestEffort) {
  ExpectInfo(ParseCgroupFile("0::/kubepods/besteffort/pod" + kUid + "/" + kId + "\n"), kId, kUid);
}

TEST(CgroupParse, V2CgroupfsGuaranteed) {
  ExpectInfo(ParseCgroupFile("0::/kubepods/pod" + kUid + "/" + kId + "\n"), kId, kUid);
}

// --- Docker and podman without Kubernetes -------------------------------------------------

TEST(CgroupParse, V2DockerSystemdDriver) {
  ExpectInfo(ParseCgroupFile("0::/system.slice/docker-" + kId + ".scope\n"), kId, "");
}

TEST(CgroupParse, V2DockerScopeWithSystemdInside) {
  // A container running systemd: its processes live in sub-cgroups of the scope.
  ExpectInfo(ParseCgroupFile("0::/system.slice/docker-" + kId + ".scope/init.scope\n"), kId, "");
}

TEST(CgroupParse, V2DockerCgroupfsDriver) {
  ExpectInfo(ParseCgroupFile("0::/docker/" + kId + "\n"), kId, "");
}

TEST(CgroupParse, V2PodmanRootful) {
  ExpectInfo(ParseCgroupFile("0::/machine.slice/libpod-" + kId + ".scope/container\n"), kId, "");
}

TEST(CgroupParse, V2PodmanRootless) {
  ExpectInfo(ParseCgroupFile("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" +
                             kId + ".scope\n"),
             kId, "");
}

TEST(CgroupParse, V2PodmanConmonIsNotAContainer) {
  ExpectInfo(ParseCgroupFile("0::/machine.slice/libpod-conmon-" + kId + ".scope\n"), "", "");
}

// --- cgroup v1 (one line per hierarchy) ----------------------------------------------------

TEST(CgroupParse, V1CgroupfsDockershim) {
  std::string p = "/kubepods/burstable/pod" + kUid + "/" + kId;
  std::string text = "12:hugetlb:" + p + "\n11:memory:" + p + "\n10:cpu,cpuacct:" + p +
                     "\n9:devices:" + p + "\n8:freezer:" + p + "\n7:net_cls,net_prio:" + p +
                     "\n6:blkio:" + p + "\n5:perf_event:" + p + "\n4:cpuset:" + p +
                     "\n3:pids:" + p + "\n2:rdma:/\n1:name=systemd:" + p + "\n0::/\n";
  ExpectInfo(ParseCgroupFile(text), kId, kUid);
}

TEST(CgroupParse, V1SystemdContainerd) {
  std::string p = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                  kUidUnderscore + ".slice/cri-containerd-" + kId + ".scope";
  std::string text =
      "12:memory:" + p + "\n11:cpu,cpuacct:" + p + "\n1:name=systemd:" + p + "\n0::/\n";
  ExpectInfo(ParseCgroupFile(text), kId, kUid);
}

TEST(CgroupParse, V1ContainerdUnconvertedSystemdCgroupsPath) {
  // "<slice>:<prefix>:<name>" left verbatim by some containerd setups.
  std::string p = "/kubepods-besteffort-pod" + kUidUnderscore + ".slice:cri-containerd:" + kId;
  ExpectInfo(ParseCgroupFile("11:memory:" + p + "\n1:name=systemd:" + p + "\n"), kId, kUid);
}

TEST(CgroupParse, V1SystemdCrio) {
  std::string p = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                  kUidUnderscore + ".slice/crio-" + kId + ".scope";
  ExpectInfo(ParseCgroupFile("11:pids:" + p + "\n10:memory:" + p + "\n"), kId, kUid);
}

TEST(CgroupParse, V1Docker) {
  std::string text = "12:memory:/docker/" + kId + "\n11:cpu,cpuacct:/docker/" + kId +
                     "\n1:name=systemd:/docker/" + kId + "\n";
  ExpectInfo(ParseCgroupFile(text), kId, "");
}

TEST(CgroupParse, V1FirstLineWithAnIdWins) {
  // Lines that name no container are skipped; the first one that does decides.
  std::string text = "12:rdma:/\n11:memory:/system.slice/docker-" + kId +
                     ".scope\n10:pids:/system.slice/docker-" + kId2 + ".scope\n";
  ExpectInfo(ParseCgroupFile(text), kId, "");
}

TEST(CgroupParse, V1PodOnlyLineUsedWhenNoContainerLine) {
  std::string text = "12:memory:/kubepods/burstable/pod" + kUid + "\n1:name=systemd:/\n";
  ExpectInfo(ParseCgroupFile(text), "", kUid);
}

TEST(CgroupParse, HybridV1AndUnified) {
  std::string text = "12:memory:/kubepods/besteffort/pod" + kUid + "/" + kId +
                     "\n1:name=systemd:/kubepods/besteffort/pod" + kUid + "/" + kId +
                     "\n0::/kubepods/besteffort/pod" + kUid + "/" + kId + "\n";
  ExpectInfo(ParseCgroupFile(text), kId, kUid);
}

TEST(CgroupParse, CrlfAndNoTrailingNewline) {
  ExpectInfo(ParseCgroupFile("0::/system.slice/docker-" + kId + ".scope\r\n"), kId, "");
  ExpectInfo(ParseCgroupFile("0::/system.slice/docker-" + kId + ".scope"), kId, "");
}

// --- Host processes and malformed input ---------------------------------------------------

TEST(CgroupParse, HostProcessesHaveNoContainer) {
  EXPECT_TRUE(ParseCgroupFile("0::/init.scope\n").empty());
  EXPECT_TRUE(ParseCgroupFile("0::/\n").empty());
  EXPECT_TRUE(ParseCgroupFile("0::/user.slice/user-0.slice/session-3.scope\n").empty());
  EXPECT_TRUE(ParseCgroupFile("0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                              "app-gnome-firefox-4242.scope\n")
                  .empty());
  EXPECT_TRUE(ParseCgroupFile("0::/system.slice/containerd.service\n").empty());
  EXPECT_TRUE(ParseCgroupFile("0::/system.slice/docker.service\n").empty());
  EXPECT_TRUE(ParseCgroupFile("0::/kubepods.slice/kubepods-burstable.slice\n").empty());
  EXPECT_TRUE(ParseCgroupFile("12:memory:/user.slice\n1:name=systemd:/init.scope\n").empty());
}

TEST(CgroupParse, MalformedGivesEmpty) {
  EXPECT_TRUE(ParseCgroupFile("").empty());
  EXPECT_TRUE(ParseCgroupFile("\n\n\n").empty());
  EXPECT_TRUE(ParseCgroupFile("garbage\x01\xff no colons").empty());
  EXPECT_TRUE(ParseCgroupFile(std::string("0::/docker/\0abc", 15)).empty());
  // No hierarchy id, non-numeric id, missing second colon, relative path.
  EXPECT_TRUE(ParseCgroupFile(":memory:/docker/" + kId).empty());
  EXPECT_TRUE(ParseCgroupFile("x:memory:/docker/" + kId).empty());
  EXPECT_TRUE(ParseCgroupFile("0:/docker/" + kId).empty());
  EXPECT_TRUE(ParseCgroupFile("0::docker/" + kId).empty());
}

TEST(CgroupParse, RejectsNearMissIds) {
  // 63 and 65 hex digits, uppercase, non-hex.
  EXPECT_TRUE(ParseCgroupFile("0::/docker/" + kId.substr(1)).empty());
  EXPECT_TRUE(ParseCgroupFile("0::/docker/" + kId + "0").empty());
  std::string upper = kId;
  for (char& c : upper) c = char(toupper(c));
  EXPECT_TRUE(ParseCgroupFile("0::/system.slice/docker-" + upper + ".scope").empty());
  std::string bad = kId;
  bad[10] = 'g';
  EXPECT_TRUE(ParseCgroupFile("0::/system.slice/cri-containerd-" + bad + ".scope").empty());
  // Unknown runtime prefix.
  EXPECT_TRUE(ParseCgroupFile("0::/system.slice/rkt-" + kId + ".scope").empty());
}

TEST(CgroupParse, RejectsNearMissPodUids) {
  // Mixed separators, wrong group lengths, not under kubepods.
  EXPECT_EQ(
      ParseCgroupFile("0::/kubepods/burstable/pod7d3e6f1a-2b4c_4d5e-8f9a-0b1c2d3e4f5a").pod_uid,
      "");
  EXPECT_EQ(
      ParseCgroupFile("0::/kubepods/burstable/pod7d3e6f1a2-b4c-4d5e-8f9a-0b1c2d3e4f5a").pod_uid,
      "");
  EXPECT_EQ(ParseCgroupFile("0::/kubepods/burstable/podman").pod_uid, "");
  EXPECT_EQ(ParseCgroupFile("0::/machine.slice/machine-pod" + kUidUnderscore + ".slice").pod_uid,
            "");
}

TEST(CgroupRead, ReadsProcTree) {
  char tmpl[] = "/tmp/cgroup_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  ASSERT_EQ(mkdir((root + "/4242").c_str(), 0755), 0);
  {
    std::ofstream f(root + "/4242/cgroup");
    f << "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" << kUidUnderscore
      << ".slice/cri-containerd-" << kId << ".scope\n";
  }
  ExpectInfo(ReadContainerInfo(root, 4242), kId, kUid);
  EXPECT_TRUE(ReadContainerInfo(root, 4243).empty());  // no such process
  std::remove((root + "/4242/cgroup").c_str());
  rmdir((root + "/4242").c_str());
  rmdir(root.c_str());
}

TEST(CgroupRead, OwnProcessInAContainer) {
  // Reading the test's own /proc entry gives what parsing its text gives; inside a container
  // that is a 64-hex-digit id. Outside one there is nothing to check.
  std::ifstream in("/proc/self/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  const ContainerInfo parsed = ParseCgroupFile(text.str());
  if (parsed.container_id.empty()) {
    GTEST_SKIP() << "not running in a container (/proc/self/cgroup names none): nothing to check";
  }
  const ContainerInfo self = ReadContainerInfo("/proc", getpid());
  EXPECT_EQ(self.container_id, parsed.container_id);
  EXPECT_EQ(self.pod_uid, parsed.pod_uid);
  EXPECT_EQ(self.container_id.size(), 64u);
}

}  // namespace
}  // namespace sockstate
