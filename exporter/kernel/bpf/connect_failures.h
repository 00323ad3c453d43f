/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared between the BPF program (connect_failures.bpf.c) and user space
 * (kernel/connect_failure_probe.cpp): the map key and the reasons. Plain C, fixed layout. */
#ifndef SOCKSTATE_BPF_CONNECT_FAILURES_H_
#define SOCKSTATE_BPF_CONNECT_FAILURES_H_

#define SOCKSTATE_CF_MAX_ENTRIES 8192

/* Reasons of a failed connect(). */
#define SOCKSTATE_CF_NO_LOCAL_PORT 0      /* inet_hash_connect() found no port: EADDRNOTAVAIL */
#define SOCKSTATE_CF_REFUSED_OR_TIMEOUT 1 /* SYN_SENT -> CLOSE with a local port assigned */

/* Key of the failures map: 32 bytes, no implicit padding. Addresses in network order; an
 * IPv4 destination (AF_INET, or IPv4-mapped on an AF_INET6 socket) is in daddr[0..3] with
 * family 2. Port in host order. */
struct sockstate_cf_key {
  unsigned long long cgroup_id; /* cgroup v2 id of the socket (its creator's cgroup) */
  unsigned int netns_inum;      /* inode of the socket's network namespace */
  unsigned short dport;         /* destination port, host order */
  unsigned char family;         /* 2 (AF_INET) or 10 (AF_INET6) */
  unsigned char reason;         /* SOCKSTATE_CF_* */
  unsigned char daddr[16];
};

#endif /* SOCKSTATE_BPF_CONNECT_FAILURES_H_ */
