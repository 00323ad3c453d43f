// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Who holds a TIME_WAIT socket (docs/workloads.md). A TIME_WAIT socket has no owner in any
 * kernel table (uid 0, inode 0, no cgroup in a dump); its owner is known only at the moment
 * the full socket turns into it. This remembers, per TIME_WAIT socket keyed by what a dump
 * shows of it (namespace, addresses, ports), the cgroup of the socket it came from, and
 * counts them per (namespace, source address, destination address, destination port,
 * cgroup), forgetting each when the TIME_WAIT socket ends.
 *
 * No fentry/kprobe is needed (they are unavailable on many kernels): the life of a TIME_WAIT
 * socket is followed through its timer (tp_btf timer tracepoints, filtered on the timer's
 * callback tw_timer_handler: a kernel symbol resolved at load when /proc/kallsyms shows
 * addresses, else learned from the first TIME_WAIT socket born, see tw_owner_named):
 *  - birth: timer_start of a timer not just cancelled on this CPU (inet_twsk_hashdance_schedule());
 *  - re-arm (an in-window segment, the peer's FIN): timer_cancel then timer_start of the same
 *    timer, back to back on one CPU with interrupts off (mod_timer()); or no event at all when
 *    the new expiry falls in the same timer-wheel bucket;
 *  - end: timer_cancel not followed by a timer_start: expiry (then timer_expire_entry),
 *    tcp_tw_reuse takeover, RST or SYN in TIME_WAIT, namespace deletion (inet_twsk_deschedule_put()).
 * The owner: right after the birth, the full socket moves FIN_WAIT2 or CLOSING -> CLOSE
 * (tcp_time_wait() -> tcp_done()) in sock:inet_sock_set_state; its cgroup is the owner's.
 * Only TIME_WAIT sockets on a local port inside ip_local_port_range are remembered: the others
 * (a server's side of connections it closed first) hold no ephemeral port.
 *
 * CO-RE: the kernel types read are declared in core_types.h. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "core_types.h"
#include "time_wait_owners.h"

extern const void tw_timer_handler __ksym __weak;

/* tw_timer_handler when /proc/kallsyms hides addresses (no CAP_SYSLOG): the callback of the
 * timer last started on the CPU where a TIME_WAIT socket was just born, once that timer is
 * proven to be the TIME_WAIT socket's (its identity equals the closing full socket's). */
const void *tw_handler_learned = 0;

/* While the handler is not known: the timer last started on this CPU. */
struct tw_started {
  const struct timer_list *timer;
  const void *function;
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tw_started);
} tw_last_start SEC(".maps");

/* Preallocated: an insert takes an element from a per-CPU free list instead of allocating on
 * the connection's path (~0.4 us less per TIME_WAIT socket on 6.18). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SOCKSTATE_TW_MAX_SOCKETS);
  __type(key, struct sockstate_tw_key);
  __type(value, struct sockstate_tw_value);
} tw_sockets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TW_MAX_OWNERS);
  __type(key, struct sockstate_tw_owner_key);
  __type(value, __s64);
} tw_owners SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SOCKSTATE_TW_STATS);
  __type(key, __u32);
  __type(value, __u64);
} tw_stats SEC(".maps");

/* The TIME_WAIT socket last cancelled on this CPU, and what the cancel forgot of it: a
 * timer_start of the same timer within kRearmNs is its re-arm and puts it back. */
struct tw_cancelled {
  __u64 at_ns;
  const void *timer;
  __u32 had_entry;
  __u32 pad;
  struct sockstate_tw_key key;
  struct sockstate_tw_value value;
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tw_cancelled);
} tw_last_cancel SEC(".maps");

/* mod_timer() detaches and re-enqueues within one interrupts-off section, microseconds apart
 * (more when the hypervisor preempts the vCPU meanwhile: hence the margin). A TIME_WAIT socket
 * born at the same address with the same identity within this window (its connection taken
 * over and closed again) is taken for a re-arm and keeps the old owner: the same tuple's. */
#define kRearmNs 100000000

static __always_inline void TwStat(__u32 i) {
  __u64 *v = bpf_map_lookup_elem(&tw_stats, &i);
  if (v) *v += 1;
}

static __always_inline int SameTwKey(const struct sockstate_tw_key *a,
                                     const struct sockstate_tw_key *b) {
  const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
  for (int i = 0; i < sizeof(*a) / 8; i++) {
    if (x[i] != y[i]) return 0;
  }
  return 1;
}

static __always_inline const void *TwHandler(void) {
  return &tw_timer_handler ? (const void *)&tw_timer_handler : tw_handler_learned;
}

static __always_inline const struct inet_timewait_sock *TwOf(const struct timer_list *t) {
  return (const void *)((const char *)t - bpf_core_field_offset(struct inet_timewait_sock, tw_timer));
}

/* The TIME_WAIT socket a timer belongs to, or 0 for any other timer (one compare). */
static __always_inline const struct inet_timewait_sock *TwOfTimer(const struct timer_list *t) {
  const void *handler = TwHandler();
  if (!handler || (const void *)t->function != handler) return 0;
  return TwOf(t);
}

/* ip_local_port_range of a namespace: low | high << 16. */
static __always_inline __u32 PortRange(const struct net *net) {
  __u32 r[2] = {0, 0};
  const __u32 size = bpf_core_field_size(net->ipv4.ip_local_ports.range);
  bpf_core_read(r, size > 8 ? 8 : size, &net->ipv4.ip_local_ports.range);
  return size == 4 ? r[0] : (r[0] & 0xffff) | (r[1] << 16); /* before 6.3: int range[2] */
}

static __always_inline int InRange(__u32 range, __u16 port) {
  return port >= (range & 0xffff) && port <= (range >> 16);
}

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
    if (IsV4Mapped(k->saddr) && IsV4Mapped(k->daddr)) {
      __builtin_memcpy(k->saddr, &k->saddr[12], 4);
      __builtin_memset(&k->saddr[4], 0, 12);
      __builtin_memcpy(k->daddr, &k->daddr[12], 4);
      __builtin_memset(&k->daddr[4], 0, 12);
      k->family = AF_INET;
    } else {
      k->family = AF_INET6;
    }
  } else {
    return 0;
  }
  k->netns_inum = BPF_CORE_READ(*net, ns.inum);
  return 1;
}

/* The key of a TIME_WAIT socket; false when it is not inet or its port holds no ephemeral
 * port (outside ip_local_port_range). */
static __always_inline int TwKey(const struct inet_timewait_sock *tw, struct sockstate_tw_key *k) {
  __builtin_memset(k, 0, sizeof(*k));
  const struct net *net = 0;
  if (!ReadIdentity(&tw->__tw_common, k, &net)) return 0;
  return InRange(PortRange(net), k->sport);
}

static __always_inline void AddOwner(const struct sockstate_tw_key *k, __u64 cgroup, __s64 d) {
  struct sockstate_tw_owner_key o;
  __builtin_memset(&o, 0, sizeof(o));
  o.cgroup_id = cgroup;
  o.netns_inum = k->netns_inum;
  o.dport = k->dport;
  o.family = k->family;
  __builtin_memcpy(o.saddr, k->saddr, 16);
  __builtin_memcpy(o.daddr, k->daddr, 16);
  __s64 *n = bpf_map_lookup_elem(&tw_owners, &o);
  if (n) {
    __sync_fetch_and_add(n, d);
    return;
  }
  if (d < 0) return; /* its count was dropped (user space forgets zero entries) */
  if (bpf_map_update_elem(&tw_owners, &o, &d, BPF_NOEXIST) == 0) return;
  n = bpf_map_lookup_elem(&tw_owners, &o); /* another CPU inserted it meanwhile */
  if (n) {
    __sync_fetch_and_add(n, d);
  } else {
    TwStat(SOCKSTATE_TW_OWNERS_FULL);
  }
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(tw_timer_cancel, struct timer_list *timer) {
  const struct inet_timewait_sock *tw = TwOfTimer(timer);
  if (!tw) return 0;
  __u32 zero = 0;
  struct tw_cancelled *last = bpf_map_lookup_elem(&tw_last_cancel, &zero);
  if (!last) return 0;
  last->timer = 0;
  if (!TwKey(tw, &last->key)) return 0;
  last->timer = timer;
  last->at_ns = bpf_ktime_get_ns();
  struct sockstate_tw_value *v = bpf_map_lookup_elem(&tw_sockets, &last->key);
  last->had_entry = v != 0;
  if (!v) return 0; /* older than the program, or not remembered */
  last->value = *v;
  bpf_map_delete_elem(&tw_sockets, &last->key);
  if (last->value.cgroup_id) AddOwner(&last->key, last->value.cgroup_id, -1);
  TwStat(SOCKSTATE_TW_ENDED);
  return 0;
}

SEC("tp_btf/timer_start")
int BPF_PROG(tw_timer_start, struct timer_list *timer) {
  if (!TwHandler()) { /* not known yet: remember this timer for tw_owner_named */
    __u32 zero = 0;
    struct tw_started *s = bpf_map_lookup_elem(&tw_last_start, &zero);
    if (s) {
      s->timer = timer;
      s->function = timer->function;
    }
    return 0;
  }
  const struct inet_timewait_sock *tw = TwOfTimer(timer);
  if (!tw) return 0;
  __u32 zero = 0;
  struct tw_cancelled *last = bpf_map_lookup_elem(&tw_last_cancel, &zero);
  if (!last) return 0;
  struct sockstate_tw_key key;
  if (!TwKey(tw, &key)) return 0;
  if (last->timer == timer && SameTwKey(&last->key, &key) &&
      bpf_ktime_get_ns() - last->at_ns < kRearmNs) {
    last->timer = 0; /* re-armed: put back what the cancel forgot */
    if (!last->had_entry) return 0;
    if (bpf_map_update_elem(&tw_sockets, &key, &last->value, BPF_NOEXIST) != 0) {
      TwStat(SOCKSTATE_TW_SOCKETS_FULL);
      return 0;
    }
    if (last->value.cgroup_id) AddOwner(&key, last->value.cgroup_id, 1);
    return 0;
  }
  struct sockstate_tw_value *old = bpf_map_lookup_elem(&tw_sockets, &key);
  if (old) { /* an end that was not seen (cannot happen, but never count twice) */
    if (old->cgroup_id) AddOwner(&key, old->cgroup_id, -1);
    old->cgroup_id = 0;
    return 0;
  }
  struct sockstate_tw_value v = {0};
  if (bpf_map_update_elem(&tw_sockets, &key, &v, BPF_NOEXIST) != 0) {
    TwStat(SOCKSTATE_TW_SOCKETS_FULL);
    return 0;
  }
  TwStat(SOCKSTATE_TW_BORN);
  return 0;
}

/* The handler is not known and a full socket closes from FIN_WAIT2 or CLOSING: if the timer
 * last started on this CPU is the timer of a TIME_WAIT socket with exactly this socket's
 * identity, that socket was just born (tcp_time_wait() arms it, then tcp_done()): learn the
 * callback, and remember this first TIME_WAIT socket now. */
static __always_inline struct sockstate_tw_value *Learn(const struct sockstate_tw_key *key) {
  __u32 zero = 0;
  struct tw_started *s = bpf_map_lookup_elem(&tw_last_start, &zero);
  if (!s || !s->timer) return 0;
  struct sockstate_tw_key seen;
  if (!TwKey(TwOf(s->timer), &seen) || !SameTwKey(&seen, key)) return 0;
  tw_handler_learned = s->function;
  struct sockstate_tw_value v = {0};
  if (bpf_map_update_elem(&tw_sockets, key, &v, BPF_NOEXIST) != 0) return 0;
  TwStat(SOCKSTATE_TW_BORN);
  return bpf_map_lookup_elem(&tw_sockets, key);
}

/* tcp_time_wait() -> tcp_done(): the full socket whose TIME_WAIT socket was just born closes,
 * from FIN_WAIT2 or CLOSING. Its cgroup (its creator's) names the TIME_WAIT socket's owner. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tw_owner_named, const struct sock *sk, const int oldstate, const int newstate) {
  if (newstate != TCP_CLOSE || (oldstate != TCP_FIN_WAIT2 && oldstate != TCP_CLOSING)) return 0;
  if (sk->sk_protocol != IPPROTO_TCP) return 0;
  struct sockstate_tw_key key;
  __builtin_memset(&key, 0, sizeof(key));
  const struct net *net = 0;
  if (!ReadIdentity(&sk->__sk_common, &key, &net)) return 0;
  /* skc_num is already 0 here (the port was released): inet_sport keeps it */
  key.sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
  struct sockstate_tw_value *v = bpf_map_lookup_elem(&tw_sockets, &key);
  if (!v && !TwHandler()) v = Learn(&key);
  if (!v || v->cgroup_id) return 0;
  const __u64 cgroup = sk->sk_cgrp_data.cgroup->kn->id;
  if (!cgroup) return 0;
  v->cgroup_id = cgroup;
  AddOwner(&key, cgroup, 1);
  TwStat(SOCKSTATE_TW_NAMED);
  return 0;
}
