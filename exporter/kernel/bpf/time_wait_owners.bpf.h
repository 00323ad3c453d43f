// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Who holds a TIME_WAIT socket (docs/workloads.md). A TIME_WAIT socket has no owner in any
 * kernel table (uid 0, inode 0, no cgroup in a dump); its owner is known only at the moment
 * the full socket turns into it. This records, keyed by what a dump shows of the TIME_WAIT
 * socket (namespace, addresses, ports), the cgroup of each socket that enters TIME_WAIT on a
 * local port inside ip_local_port_range (the others hold no ephemeral port), in a ring of the
 * latest workloads.time_wait_max_sockets records; the exporter reads the ring once per scrape
 * and looks up each TIME_WAIT socket of its dumps in it.
 *
 * One event per connection: tcp_time_wait() hashes the TIME_WAIT socket in, then tcp_done()
 * moves the full socket FIN_WAIT2 or CLOSING -> CLOSE (sock:inet_sock_set_state, the
 * tracepoint of the connect-failure counting too); that transition, with its identity, is
 * the birth (recorded by the one program on that tracepoint, sock_state_change.bpf.c, while
 * user space has set the ring's size). The same transition without a TIME_WAIT socket (an RST in
 * FIN_WAIT2, the FIN_WAIT2 timeout, tcp_max_tw_buckets) records a key that no dump will show:
 * harmless. Nothing follows the TIME_WAIT socket's end: a record outliving its socket is never read
 * (no dump shows that key; a new TIME_WAIT socket with the same key is recorded again, later
 * in the ring, and the later record wins). Following the ends needs the timer tracepoints
 * (every timer of the host), and a keyed map costs 0.2-1 us per insert (an LRU hash that is
 * full evicts on every insert): docs/architecture.md "Kernel events".
 *
 * CO-RE: the kernel types read are declared in core_types.h. */

#ifndef SOCKSTATE_BPF_TIME_WAIT_OWNERS_BPF_H_
#define SOCKSTATE_BPF_TIME_WAIT_OWNERS_BPF_H_

#include "core_types.h"
#include "time_wait_owners.h"

/* The ring: slot n % size holds record n (user space sets max_entries = size before loading). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SOCKSTATE_TW_MAX_SOCKETS);
  __type(key, __u32);
  __type(value, struct sockstate_tw_record);
} tw_ring SEC(".maps");

/* Records made (the next record's number) and the ring's size, which user space writes after
 * loading: until then nothing is recorded. Mappable: user space reads the head without a
 * system call. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sockstate_tw_head);
} tw_head SEC(".maps");

/* The identity of a socket (full or TIME_WAIT) as a dump shows it, from ONE read of its
 * sock_common (a helper call costs ~20-30 ns: one per field would dominate): family,
 * addresses (IPv4-mapped IPv6 as IPv4), local port skc_num, destination port and namespace
 * into `k`; `*net` its namespace. False: not inet, or an unexpected layout. The field offsets
 * are the running kernel's (CO-RE); the block read covers skc_daddr .. skc_v6_rcv_saddr. */
#define kCommonBytes 128
static __always_inline int ReadIdentity(const struct sock_common *c, struct sockstate_tw_key *k,
                                        const struct net **net) {
  __u8 b[kCommonBytes];
  const __u32 o_daddr = bpf_core_field_offset(struct sock_common, skc_daddr);
  const __u32 o_saddr = bpf_core_field_offset(struct sock_common, skc_rcv_saddr);
  const __u32 o_dport = bpf_core_field_offset(struct sock_common, skc_dport);
  const __u32 o_num = bpf_core_field_offset(struct sock_common, skc_num);
  const __u32 o_family = bpf_core_field_offset(struct sock_common, skc_family);
  const __u32 o_net = bpf_core_field_offset(struct sock_common, skc_net);
  const __u32 o_v6d = bpf_core_field_offset(struct sock_common, skc_v6_daddr);
  const __u32 o_v6s = bpf_core_field_offset(struct sock_common, skc_v6_rcv_saddr);
  if (o_daddr > kCommonBytes - 4 || o_saddr > kCommonBytes - 4 || o_dport > kCommonBytes - 2 ||
      o_num > kCommonBytes - 2 || o_family > kCommonBytes - 2 || o_net > kCommonBytes - 8 ||
      o_v6d > kCommonBytes - 16 || o_v6s > kCommonBytes - 16)
    return 0;
  if (bpf_probe_read_kernel(b, sizeof(b), c) != 0) return 0;
  __u16 family, dport;
  __builtin_memcpy(&family, &b[o_family], 2);
  __builtin_memcpy(&dport, &b[o_dport], 2);
  __builtin_memcpy(&k->sport, &b[o_num], 2);
  __builtin_memcpy(net, &b[o_net], 8);
  k->dport = bpf_ntohs(dport);
  if (family == AF_INET) {
    __builtin_memcpy(k->saddr, &b[o_saddr], 4);
    __builtin_memcpy(k->daddr, &b[o_daddr], 4);
    k->family = AF_INET;
  } else if (family == AF_INET6) {
    __builtin_memcpy(k->saddr, &b[o_v6s], 16);
    __builtin_memcpy(k->daddr, &b[o_v6d], 16);
    k->family = UnmapV4Pair(k->saddr, k->daddr) ? AF_INET : AF_INET6;
  } else {
    return 0;
  }
  k->netns_inum = BPF_CORE_READ(*net, ns.inum);
  return 1;
}

/* tcp_time_wait() -> tcp_done(): the full socket `sk`, whose TIME_WAIT socket was just born,
 * closes from FIN_WAIT2 or CLOSING (the caller checked the states). Its cgroup (its creator's)
 * is the TIME_WAIT socket's owner. Nothing is read before the ring's size says user space
 * reads it (the owner feature is on). */
static __always_inline void RecordTimeWaitOwner(const struct sock *sk) {
  __u32 zero = 0;
  struct sockstate_tw_head *h = bpf_map_lookup_elem(&tw_head, &zero);
  if (!h || !h->size) return;
  if (sk->sk_protocol != IPPROTO_TCP) return;
  struct sockstate_tw_key key;
  __builtin_memset(&key, 0, sizeof(key));
  const struct net *net = 0;
  if (!ReadIdentity(&sk->__sk_common, &key, &net)) return;
  /* skc_num is already 0 here (the port was released): inet_sport keeps it */
  key.sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
  if (!InRange(PortRange(net), key.sport)) return;
  const __u64 cgroup = sk->sk_cgrp_data.cgroup->kn->id;
  if (!cgroup) return;
  const __u64 n = __sync_fetch_and_add(&h->head, 1);
  __u32 slot = n % h->size;
  struct sockstate_tw_record *r = bpf_map_lookup_elem(&tw_ring, &slot);
  if (!r) return;
  /* A seqlock for the reader, which copies a slot front to back while records may land in it:
   * seq_end first, the record, seq_begin last; the reader takes a slot whose two are equal. */
  r->seq_end = n + 1;
  asm volatile("" ::: "memory");
  r->key = key;
  r->cgroup_id = cgroup;
  asm volatile("" ::: "memory");
  __sync_lock_test_and_set(&r->seq_begin, n + 1); /* an exchange: ordered after the record */
}

#endif /* SOCKSTATE_BPF_TIME_WAIT_OWNERS_BPF_H_ */
