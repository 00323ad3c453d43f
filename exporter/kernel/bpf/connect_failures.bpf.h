// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Counts failed TCP connect()s host-wide, from the stable tracepoint sock:inet_sock_set_state
 * attached through BTF (tp_btf: no tracefs needed), in the one program on it that
 * sock_state_change.bpf.c makes of this file and time_wait_owners.bpf.h.
 *
 * tcp_v4_connect()/tcp_v6_connect() move the socket to SYN_SENT before inet_hash_connect()
 * picks the local port; when no port is free they move it to CLOSE and return EADDRNOTAVAIL
 * with the destination still set and the local port still 0. A connect that was refused,
 * timed out or was abandoned (closed while in SYN_SENT) also goes SYN_SENT -> CLOSE, with its
 * local port assigned (inet_sport). Every other transition returns after two integer compares.
 *
 * CO-RE: the kernel types read are declared in core_types.h. */

#ifndef SOCKSTATE_BPF_CONNECT_FAILURES_BPF_H_
#define SOCKSTATE_BPF_CONNECT_FAILURES_BPF_H_

#include "core_types.h"
#include "failure_map.h"

/* Why a SYN_SENT -> CLOSE happened: sk_err, set before tcp_done() on a RST (ECONNREFUSED), when
 * the SYN retries run out (ETIMEDOUT, or the last ICMP error) and on an ICMP error that arrived
 * while nobody held the socket. An ICMP error that arrived while the connecting task held the
 * socket (a local router or firewall answers inside connect() itself) leaves sk_err 0 and goes
 * to sk_err_soft, which getsockopt(SO_ERROR) returns and clears; the ICMP message itself stays
 * on the socket's error queue until the socket is destroyed, so its errno is read from there.
 * 0 when none: the application closed the socket while connecting. */
static __always_inline int ConnectError(const struct sock *sk) {
  int err = BPF_CORE_READ(sk, sk_err);
  if (err) return err;
  err = BPF_CORE_READ(sk, sk_err_soft);
  if (err) return err;
  if (BPF_CORE_READ(sk, sk_error_queue.qlen) == 0) return 0;
  const struct sk_buff *skb = BPF_CORE_READ(sk, sk_error_queue.next);
  struct sock_extended_err ee;
  __builtin_memset(&ee, 0, sizeof(ee));
  const char *cb = (const char *)skb + bpf_core_field_offset(struct sk_buff, cb);
  bpf_probe_read_kernel(&ee, sizeof(ee), cb + bpf_core_field_offset(struct sock_exterr_skb, ee));
  if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) return 0;
  return (int)ee.ee_errno;
}

static __always_inline unsigned char ReasonOf(int err) {
  switch (err) {
    case 0:
      return SOCKSTATE_CF_ABANDONED;
    case ECONNREFUSED:
      return SOCKSTATE_CF_REFUSED;
    case ETIMEDOUT:
      return SOCKSTATE_CF_TIMED_OUT;
    default:
      return SOCKSTATE_CF_UNREACHABLE;
  }
}

/* A SYN_SENT -> CLOSE of `sk` (the caller checked the states): counted under its destination,
 * namespace, workload and reason. */
static __always_inline void CountTcpConnectFailure(const struct sock *sk) {
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return;
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
    return;
  }
  key.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  key.reason = BPF_CORE_READ((const struct inet_sock *)sk, inet_sport) == 0
                   ? SOCKSTATE_CF_NO_LOCAL_PORT
                   : ReasonOf(ConnectError(sk));
  key.protocol = IPPROTO_TCP;
  key.netns_inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
  key.cgroup_id = SocketCgroupId(sk);
  CountFailure(&key);
}

#endif /* SOCKSTATE_BPF_CONNECT_FAILURES_BPF_H_ */
