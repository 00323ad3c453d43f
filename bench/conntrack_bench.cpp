// Conntrack scenario of the benchmark (docs/nat.md, "Performance"): in a network namespace of
// its own (unshare), inserts N conntrack entries through ctnetlink, then measures, interleaved
// run by run in the same process, (a) a bare ctnetlink dump of the table (bytes received and
// message headers walked, nothing parsed: the floor) and (b) the conntrack source's scrape
// (Read: /proc files + dump + parse + NAT model + labels, then AddFamilies). Prints one
// markdown row per size. Root only; run it through bench/run_conntrack_bench.sh, which raises
// the host-wide nf_conntrack_max for the run and restores it.
//
//   conntrack_bench --sizes 100000,1000000 --runs 7 [--destinations 1000] [--nat-addrs 4]
//
// Entry shape (all addresses in 198.18.0.0/15): entry i goes to destination d = i % D
// (198.19.x.y:443) from client k = i / D; its reply tuple is 198.19.x.y:443 ->
// 198.18.0.(1 + k % A):(1024 + k / A), so there are D x A tuples of N / (D x A) ports each.
// 90% ESTABLISHED, 10% TIME_WAIT. (ctnetlink cannot set IPS_SRC_NAT on a created entry, so they
// count as kind "direct"; the per-entry work is the same.)

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "metrics/family_set.h"
#include "sources/conntrack_source.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "conntrack_bench: %s\n", what.c_str());
  std::exit(1);
}

long ReadLong(const std::string& path) {
  std::ifstream in(path);
  long v = -1;
  in >> v;
  return v;
}

long StatusKb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
  }
  return -1;
}

struct Shape {
  uint32_t destinations = 1000;
  uint32_t nat_addrs = 4;
};

// Appends one IPCTNL_MSG_CT_NEW request (NLM_F_CREATE|NLM_F_EXCL, no ACK) for entry i.
size_t PutEntry(uint8_t* buf, size_t room, uint32_t i, const Shape& s, uint32_t seq) {
  if (room < 512) return 0;
  const uint32_t d = i % s.destinations, k = i / s.destinations;
  const uint32_t remote = htonl((198u << 24) | (19u << 16) | (d + 1));
  const uint32_t client = htonl((198u << 24) | (18u << 16) | ((128u << 8) + k));  // /17
  const uint32_t nat = htonl((198u << 24) | (18u << 16) | (1 + k % s.nat_addrs));
  const uint16_t nat_port = htons(uint16_t(1024 + k / s.nat_addrs));
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
  nlh->nlmsg_seq = seq;
  auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  g->nfgen_family = AF_INET;
  g->version = NFNETLINK_V0;
  g->res_id = 0;
  auto tuple = [&](uint16_t type, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
    nlattr* t = mnl_attr_nest_start(nlh, type);
    nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, src);
    mnl_attr_put_u32(nlh, CTA_IP_V4_DST, dst);
    mnl_attr_nest_end(nlh, ip);
    nlattr* p = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_TCP);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, sport);
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, dport);
    mnl_attr_nest_end(nlh, p);
    mnl_attr_nest_end(nlh, t);
  };
  tuple(CTA_TUPLE_ORIG, client, remote, htons(40000), htons(443));
  tuple(CTA_TUPLE_REPLY, remote, nat, htons(443), nat_port);
  mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(3600));
  mnl_attr_put_u32(nlh, CTA_STATUS, htonl(0xe));  // SEEN_REPLY | ASSURED | CONFIRMED
  nlattr* pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
  nlattr* tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
  mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, i % 10 == 0 ? 7 /*TIME_WAIT*/ : 3);
  mnl_attr_nest_end(nlh, tcp);
  mnl_attr_nest_end(nlh, pi);
  return nlh->nlmsg_len;
}

// Inserts entries [from, to); returns the number of error replies.
uint64_t Insert(mnl_socket* nl, uint32_t from, uint32_t to, const Shape& s) {
  std::vector<uint8_t> buf(1 << 16);
  std::vector<uint8_t> rx(1 << 16);
  uint64_t errors = 0;
  uint32_t i = from;
  auto drain = [&](bool wait) {
    for (;;) {
      const ssize_t n = recv(mnl_socket_get_fd(nl), rx.data(), rx.size(), wait ? 0 : MSG_DONTWAIT);
      if (n <= 0) return;
      int len = int(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(rx.data()); mnl_nlmsg_ok(h, len);
           h = mnl_nlmsg_next(h, &len)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
          auto* e = static_cast<nlmsgerr*>(mnl_nlmsg_get_payload(h));
          if (e->error != 0 && ++errors <= 3) {
            std::fprintf(stderr, "insert error: %s\n", std::strerror(-e->error));
          }
        }
      }
      wait = false;
    }
  };
  while (i < to) {
    size_t used = 0;
    while (i < to) {
      const size_t n = PutEntry(buf.data() + used, buf.size() - used, i, s, i);
      if (n == 0) break;
      used += NLMSG_ALIGN(n);
      ++i;
    }
    if (mnl_socket_sendto(nl, buf.data(), used) < 0) Die(std::string("sendto: ") + strerror(errno));
    drain(false);
  }
  drain(false);
  return errors;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> sizes = {100000, 1000000};
  int runs = 7;
  Shape shape;
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string k = argv[a], v = argv[a + 1];
    if (k == "--sizes") {
      sizes.clear();
      for (size_t p = 0; p < v.size();) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        sizes.push_back(uint32_t(std::stoul(v.substr(p, q - p))));
        p = q + 1;
      }
    } else if (k == "--runs") {
      runs = std::stoi(v);
    } else if (k == "--destinations") {
      shape.destinations = uint32_t(std::stoul(v));
    } else if (k == "--nat-addrs") {
      shape.nat_addrs = uint32_t(std::stoul(v));
    } else {
      Die("unknown option " + k);
    }
  }
  const long max = ReadLong("/proc/sys/net/netfilter/nf_conntrack_max");
  if (unshare(CLONE_NEWNET) != 0) Die(std::string("unshare(CLONE_NEWNET): ") + strerror(errno));
  mnl_socket* nl = mnl_socket_open(NETLINK_NETFILTER);
  if (nl == nullptr || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) Die("netlink socket");
  const int rcvbuf = 4 << 20;
  setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));

  const sockstate::Config config = sockstate::DefaultConfig();
  sockstate::SourceEnv env;
  const sockstate::ProcPaths paths = sockstate::ProcPaths::ForRoot("/proc");
  const std::vector<const sockstate::NetnsSource*> earlier;
  const std::string netns;
  sockstate::ConntrackSource source;
  auto floor_sock = sockstate::ConntrackSocket::Open();
  if (!floor_sock.ok()) Die(floor_sock.status().message());

  std::printf(
      "| entries | tuples | bare dump (median / min) | source scrape (median / min) | ratio "
      "(median) | dump MB | model table | peak RSS |\n|---|---|---|---|---|---|---|---|\n");
  uint32_t have = 0;
  for (uint32_t n : sizes) {
    if (long(n) > max) {
      std::fprintf(stderr, "size %u is above nf_conntrack_max %ld: skipped\n", n, max);
      continue;
    }
    const auto t0 = Clock::now();
    const uint64_t errors = Insert(nl, have, n, shape);
    have = n;
    const double insert_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const long count = ReadLong("/proc/sys/net/netfilter/nf_conntrack_count");
    std::fprintf(stderr, "inserted %u entries in %.1f s (%lu errors); nf_conntrack_count %ld\n", n,
                 insert_s, (unsigned long)errors, count);
    if (count != long(n))
      Die("table holds " + std::to_string(count) + " entries, expected " + std::to_string(n));
    std::vector<double> floor_ms, scrape_ms;
    uint64_t bytes = 0;
    for (int r = 0; r < runs; ++r) {
      auto f0 = Clock::now();
      sockstate::Result<uint64_t> b = (*floor_sock)->DumpDiscard();
      if (!b.ok()) Die(b.status().message());
      floor_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - f0).count());
      bytes = *b;
      auto s0 = Clock::now();
      sockstate::NetnsReadContext ctx{config, env, env, paths, true, netns, earlier};
      sockstate::Status st = source.Read(ctx);
      if (!st.ok()) Die(st.message());
      sockstate::FamilySet fs;
      source.AddFamilies(fs, {}, sockstate::ExportContext{config, false, 4096});
      auto families = fs.Take();
      scrape_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
      if (source.model().entries(sockstate::kNatTcp) != n) Die("model saw a different count");
    }
    const size_t tuples = source.model().tuples(sockstate::kNatTcp);
    std::printf(
        "| %u | %zu | %.0f / %.0f ms | %.0f / %.0f ms | %.2fx | %.0f | %.0f KiB | %.1f MB |\n", n,
        tuples, Median(floor_ms), *std::min_element(floor_ms.begin(), floor_ms.end()),
        Median(scrape_ms), *std::min_element(scrape_ms.begin(), scrape_ms.end()),
        Median(scrape_ms) / Median(floor_ms), double(bytes) / 1e6,
        double(source.model().TableBytes()) / 1024.0, double(StatusKb("VmHWM:")) / 1024.0);
    std::fflush(stdout);
  }
  mnl_socket_close(nl);
  return 0;
}
