// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Counts failed TCP connect()s host-wide, from the stable tracepoint sock:inet_sock_set_state
 * attached through BTF (tp_btf: no tracefs needed).
 *
 * tcp_v4_connect()/tcp_v6_connect() move the socket to SYN_SENT before inet_hash_connect()
 * picks the local port; when no port is free they move it to CLOSE and return EADDRNOTAVAIL
 * with the destination still set and the local port still 0. A connect that was refused,
 * timed out or was abandoned (closed while in SYN_SENT) also goes SYN_SENT -> CLOSE, with its
 * local port assigned (inet_sport). Every other transition returns after two integer compares.
 *
 * CO-RE: the few kernel types read are declared here with preserve_access_index, so the build
 * does not need the build machine's BTF; libbpf relocates the offsets against the running
 * kernel's /sys/kernel/btf/vmlinux at load time. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "connect_failures.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define E2BIG 7
#define EEXIST 17

struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
  struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
  struct net *net;
} possible_net_t;

struct in6_addr {
  union {
    __u8 u6_addr8[16];
  } in6_u;
} __attribute__((preserve_access_index));

/* Declared flat: libbpf finds these names inside the kernel's anonymous unions. */
struct sock_common {
  __be32 skc_daddr;
  __be16 skc_dport;
  unsigned short skc_family;
  possible_net_t skc_net;
  struct in6_addr skc_v6_daddr;
} __attribute__((preserve_access_index));

struct kernfs_node {
  __u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
  struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct sock_cgroup_data {
  struct cgroup *cgroup;
} __attribute__((preserve_access_index));

struct sock {
  struct sock_common __sk_common;
  __u16 sk_protocol;
  struct sock_cgroup_data sk_cgrp_data;
} __attribute__((preserve_access_index));

/* inet_sport, not skc_num: the tracepoint fires from inet_sk_state_store() after
 * tcp_set_state(CLOSE) has released the port (inet_put_port() zeroes skc_num), while
 * inet_sport keeps the port a connect() was given. It is 0 only when inet_hash_connect()
 * never assigned one. */
struct inet_sock {
  __be16 inet_sport;
} __attribute__((preserve_access_index));

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the entries in use */
  __uint(max_entries, SOCKSTATE_CF_MAX_ENTRIES);
  __type(key, struct sockstate_cf_key);
  __type(value, __u64);
} failures SEC(".maps");

/* [0]: failures not counted because the map was full. Never reset by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} overflow SEC(".maps");

static __always_inline int IsV4Mapped(const unsigned char *a) {
  for (int i = 0; i < 10; i++) {
    if (a[i]) return 0;
  }
  return a[10] == 0xff && a[11] == 0xff;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sockstate_connect_failure, const struct sock *sk, const int oldstate,
             const int newstate) {
  if (newstate != TCP_CLOSE || oldstate != TCP_SYN_SENT) return 0;
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;

  struct sockstate_cf_key key;
  __builtin_memset(&key, 0, sizeof(key));
  const unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family == AF_INET) {
    __be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(key.daddr, &d, 4);
    key.family = AF_INET;
  } else if (family == AF_INET6) {
    BPF_CORE_READ_INTO(&key.daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
    if (IsV4Mapped(key.daddr)) {
      __builtin_memcpy(key.daddr, &key.daddr[12], 4);
      __builtin_memset(&key.daddr[4], 0, 12);
      key.family = AF_INET;
    } else {
      key.family = AF_INET6;
    }
  } else {
    return 0;
  }
  key.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  key.reason = BPF_CORE_READ((const struct inet_sock *)sk, inet_sport) == 0
                   ? SOCKSTATE_CF_NO_LOCAL_PORT
                   : SOCKSTATE_CF_REFUSED_OR_TIMEOUT;
  key.netns_inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
  /* The socket's cgroup (its creator's), right in softirq context too (RST, timeout); the
   * current task's as a fallback. */
  key.cgroup_id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
  if (key.cgroup_id == 0) key.cgroup_id = bpf_get_current_cgroup_id();

  __u64 *count = bpf_map_lookup_elem(&failures, &key);
  if (count) {
    __sync_fetch_and_add(count, 1);
    return 0;
  }
  __u64 one = 1;
  long err = bpf_map_update_elem(&failures, &key, &one, BPF_NOEXIST);
  if (err == -EEXIST) { /* another CPU inserted it meanwhile */
    count = bpf_map_lookup_elem(&failures, &key);
    if (count) __sync_fetch_and_add(count, 1);
  } else if (err) {
    __u32 zero = 0;
    __u64 *lost = bpf_map_lookup_elem(&overflow, &zero);
    if (lost) __sync_fetch_and_add(lost, 1);
  }
  return 0;
}

/* The licence the kernel sees: the SPDX line above, in one of the strings it accepts as
 * GPL-compatible (license_is_gpl_compatible()); BPF_CORE_READ's bpf_probe_read_kernel() is a
 * GPL-only helper, so the verifier rejects the program without it. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
