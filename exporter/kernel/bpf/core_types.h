/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The kernel types and constants the BPF programs of this folder read, declared by hand with
 * preserve_access_index (CO-RE): the build needs neither vmlinux.h nor the build machine's
 * BTF, and libbpf relocates every field offset against the running kernel's
 * /sys/kernel/btf/vmlinux at load time. Declare only the fields a program reads; a struct is
 * declared once, here, for every program. Include after <bpf/bpf_helpers.h>. */
#ifndef SOCKSTATE_BPF_CORE_TYPES_H_
#define SOCKSTATE_BPF_CORE_TYPES_H_

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2
#define TCP_FIN_WAIT2 5
#define TCP_CLOSE 7
#define TCP_CLOSING 11
#define E2BIG 7
#define EEXIST 17

struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));

struct local_ports {
  __u32 range; /* low | high << 16 since 6.3; before: int range[2] (read by its size) */
} __attribute__((preserve_access_index));

struct netns_ipv4 {
  struct local_ports ip_local_ports;
} __attribute__((preserve_access_index));

struct net {
  struct ns_common ns;
  struct netns_ipv4 ipv4;
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
  __be32 skc_rcv_saddr;
  __be16 skc_dport;
  __u16 skc_num;
  unsigned short skc_family;
  possible_net_t skc_net;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
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

struct timer_list {
  void (*function)(struct timer_list *);
} __attribute__((preserve_access_index));

/* A TIME_WAIT minisocket: its sock_common, then its timer (tw_timer_handler). */
struct inet_timewait_sock {
  struct sock_common __tw_common;
  struct timer_list tw_timer;
} __attribute__((preserve_access_index));

static __always_inline int IsV4Mapped(const unsigned char *a) {
  for (int i = 0; i < 10; i++) {
    if (a[i]) return 0;
  }
  return a[10] == 0xff && a[11] == 0xff;
}

#endif /* SOCKSTATE_BPF_CORE_TYPES_H_ */
