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
 * CO-RE: the kernel types read are declared in core_types.h. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "connect_failures.h"
#include "core_types.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the entries in use */
  __uint(max_entries, SOCKSTATE_CF_MAX_ENTRIES);
  __type(key, struct sockstate_cf_key);
  __type(value, __u64);
} cf_failures SEC(".maps");

/* [0]: failures not counted because the map was full. Never reset by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} cf_overflow SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(cf_state_change, const struct sock *sk, const int oldstate,
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

  __u64 *count = bpf_map_lookup_elem(&cf_failures, &key);
  if (count) {
    __sync_fetch_and_add(count, 1);
    return 0;
  }
  __u64 one = 1;
  long err = bpf_map_update_elem(&cf_failures, &key, &one, BPF_NOEXIST);
  if (err == -EEXIST) { /* another CPU inserted it meanwhile */
    count = bpf_map_lookup_elem(&cf_failures, &key);
    if (count) __sync_fetch_and_add(count, 1);
  } else if (err) {
    __u32 zero = 0;
    __u64 *lost = bpf_map_lookup_elem(&cf_overflow, &zero);
    if (lost) __sync_fetch_and_add(lost, 1);
  }
  return 0;
}

/* The licence the kernel sees: the SPDX line above, in one of the strings it accepts as
 * GPL-compatible (license_is_gpl_compatible()); BPF_CORE_READ's bpf_probe_read_kernel() is a
 * GPL-only helper, so the verifier rejects the program without it. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
