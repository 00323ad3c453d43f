/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The kernel types and constants the BPF programs of this folder read, declared by hand with
 * preserve_access_index (CO-RE): the build needs neither vmlinux.h nor the build machine's
 * BTF, and libbpf relocates every field offset against the running kernel's
 * /sys/kernel/btf/vmlinux at load time. Declare only the fields a program reads; a struct is
 * declared once, here, for every program, with the few helpers more than one program uses.
 * Include after <bpf/bpf_helpers.h>. */
#ifndef SOCKSTATE_BPF_CORE_TYPES_H_
#define SOCKSTATE_BPF_CORE_TYPES_H_

#include <bpf/bpf_core_read.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOCK_DGRAM 2
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT2 5
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define TCP_CLOSING 11
#define TCP_NEW_SYN_RECV 12
#define SOCK_DEAD 0           /* bit of sk_flags: orphaned (closed by its owner) */
#define SOCK_BINDPORT_LOCK 8  /* sk_userlocks: the port was given to bind() explicitly */
#define E2BIG 7
#define EAGAIN 11
#define EEXIST 17
#define EADDRINUSE 98
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define SO_EE_ORIGIN_ICMP 2
#define SO_EE_ORIGIN_ICMP6 3

struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));

struct local_ports {
  __u32 range; /* low | high << 16 since 6.3; before: int range[2] (read by its size) */
} __attribute__((preserve_access_index));

struct inet_hashinfo {
  unsigned int ehash_mask;
} __attribute__((preserve_access_index));

struct inet_timewait_death_row {
  struct inet_hashinfo *hashinfo; /* the namespace's own table, or the host's */
} __attribute__((preserve_access_index));

struct netns_ipv4 {
  struct local_ports ip_local_ports;
  struct inet_timewait_death_row tcp_death_row;
} __attribute__((preserve_access_index));

struct net {
  struct ns_common ns;
  struct netns_ipv4 ipv4;
  __u64 net_cookie; /* never reused, unlike ns.inum (SO_NETNS_COOKIE in user space) */
} __attribute__((preserve_access_index));

typedef struct {
  struct net *net;
} possible_net_t;

struct in6_addr {
  union {
    __u8 u6_addr8[16];
    __be32 u6_addr32[4];
  } in6_u;
} __attribute__((preserve_access_index));

/* Declared flat: libbpf finds these names inside the kernel's anonymous unions. */
struct sock_common {
  __be32 skc_daddr;
  __be32 skc_rcv_saddr;
  unsigned int skc_hash; /* established-hash value: the bucket is skc_hash & ehash_mask */
  __be16 skc_dport;
  __u16 skc_num;
  unsigned short skc_family;
  volatile unsigned char skc_state;
  possible_net_t skc_net;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
  unsigned long skc_flags;
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

struct sk_buff {
  char cb[48];
} __attribute__((preserve_access_index));

struct sk_buff_head {
  struct sk_buff *next;
  __u32 qlen;
} __attribute__((preserve_access_index));

/* An ICMP error queued on a socket (ip_icmp_error): skb->cb holds a struct sock_exterr_skb. */
struct sock_extended_err {
  __u32 ee_errno;
  __u8 ee_origin;
  __u8 ee_type;
  __u8 ee_code;
  __u8 ee_pad;
  __u32 ee_info;
  __u32 ee_data;
} __attribute__((preserve_access_index));

struct sock_exterr_skb {
  struct sock_extended_err ee;
} __attribute__((preserve_access_index));

struct sock {
  struct sock_common __sk_common;
  __u8 sk_userlocks;
  __u16 sk_protocol;
  __u16 sk_type;
  int sk_err;
  int sk_err_soft;
  struct sk_buff_head sk_error_queue;
  struct sock_cgroup_data sk_cgrp_data;
} __attribute__((preserve_access_index));

/* From a file descriptor to its socket (udp_failures.bpf.c, at system call exit). */
struct socket {
  struct sock *sk;
} __attribute__((preserve_access_index));

struct file {
  void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
  unsigned int max_fds;
  struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
  struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
  struct files_struct *files;
} __attribute__((preserve_access_index));

/* The user registers a system call left in pt_regs, per architecture (CO-RE flavors: libbpf
 * matches both against the kernel's struct pt_regs and bpf_core_field_exists() tells which one
 * this kernel has). x86-64: arguments in di, si; the call number in orig_ax. arm64: the first
 * argument in orig_x0 (x0 holds the return value at exit), the second in regs[1], the number
 * in syscallno. */
struct pt_regs___x86 {
  unsigned long di;
  unsigned long si;
  unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct pt_regs___arm64 {
  __u64 regs[31];
  __u64 orig_x0;
  __s32 syscallno;
} __attribute__((preserve_access_index));

/* inet_sport, not skc_num: the tracepoint fires from inet_sk_state_store() after
 * tcp_set_state(CLOSE) has released the port (inet_put_port() zeroes skc_num), while
 * inet_sport keeps the port a connect() was given. It is 0 only when inet_hash_connect()
 * never assigned one. */
struct inet_sock {
  __be16 inet_sport;
} __attribute__((preserve_access_index));

struct timer_list {
  unsigned long expires; /* jiffies */
  void (*function)(struct timer_list *);
} __attribute__((preserve_access_index));

/* A TIME_WAIT minisocket: its sock_common, its substate (TIME_WAIT, or FIN_WAIT2 for a socket
 * closed by its owner before the peer's FIN), then its timer (tw_timer_handler). */
struct inet_timewait_sock {
  struct sock_common __tw_common;
  unsigned char tw_substate;
  struct timer_list tw_timer;
} __attribute__((preserve_access_index));

/* A request socket (NEW_SYN_RECV): its sock_common, then its timer (reqsk_timer_handler). */
struct request_sock {
  struct sock_common __req_common;
  struct timer_list rsk_timer;
} __attribute__((preserve_access_index));

/* The context of an iter/tcp program (one call per socket of the iterator's namespace). */
struct bpf_iter_meta {
  void *seq;
  __u64 session_id;
  __u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__tcp {
  struct bpf_iter_meta *meta;
  struct sock_common *sk_common;
  __u32 uid;
} __attribute__((preserve_access_index));

static __always_inline int IsV4Mapped(const unsigned char *a) {
  for (int i = 0; i < 10; i++) {
    if (a[i]) return 0;
  }
  return a[10] == 0xff && a[11] == 0xff;
}

/* Both addresses IPv4-mapped (an IPv4 connection of a dual-stack socket): each becomes its
 * IPv4 address in bytes 0-3, the rest zero, as a dump of AF_INET shows it; returns 1. */
static __always_inline int UnmapV4Pair(unsigned char *s, unsigned char *d) {
  if (!IsV4Mapped(s) || !IsV4Mapped(d)) return 0;
  __builtin_memcpy(s, &s[12], 4);
  __builtin_memset(&s[4], 0, 12);
  __builtin_memcpy(d, &d[12], 4);
  __builtin_memset(&d[4], 0, 12);
  return 1;
}

/* ip_local_port_range of a namespace: low | high << 16 (the TIME_WAIT owners and the tracker). */
static __always_inline __u32 PortRange(const struct net *net) {
  __u32 r[2] = {0, 0};
  const __u32 size = bpf_core_field_size(net->ipv4.ip_local_ports.range);
  bpf_core_read(r, size > 8 ? 8 : size, &net->ipv4.ip_local_ports.range);
  return size == 4 ? r[0] : (r[0] & 0xffff) | (r[1] << 16); /* before 6.3: int range[2] */
}

static __always_inline int InRange(__u32 range, __u16 port) {
  return port >= (range & 0xffff) && port <= (range >> 16);
}

#endif /* SOCKSTATE_BPF_CORE_TYPES_H_ */
