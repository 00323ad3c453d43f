/* Shared between the BPF program (connect_failures.bpf.h) and user space
 * (kernel/connect_failure_probe.cpp): the map key and the reasons. Plain C, fixed layout. */
#ifndef SOCKSTATE_BPF_CONNECT_FAILURES_H_
#define SOCKSTATE_BPF_CONNECT_FAILURES_H_

#define SOCKSTATE_CF_MAX_ENTRIES 8192

/* Reasons of a failure. TCP: a connect() that went SYN_SENT -> CLOSE; why is the socket's error
 * at that moment (sk_err, else sk_err_soft, else the ICMP error queued on it). UDP: only
 * NO_LOCAL_PORT (udp_failures.bpf.c). */
#define SOCKSTATE_CF_NO_LOCAL_PORT 0 /* TCP: EADDRNOTAVAIL; UDP: bind(0)/autobind found no port */
#define SOCKSTATE_CF_REFUSED 1       /* ECONNREFUSED: RST, or ICMP port unreachable */
#define SOCKSTATE_CF_TIMED_OUT 2     /* ETIMEDOUT: the SYN retries ran out */
#define SOCKSTATE_CF_UNREACHABLE 3   /* another error from ICMP (EHOSTUNREACH, ENETUNREACH, ...) */
#define SOCKSTATE_CF_ABANDONED 4     /* no error: the application closed it while connecting */
#define SOCKSTATE_CF_NUM_REASONS 5

/* Key of the failures map: 40 bytes, no implicit padding (zero the whole key: pad is hashed).
 * Addresses in network order; an IPv4 destination (AF_INET, or IPv4-mapped on an AF_INET6
 * socket) is in daddr[0..3] with family 2. Port in host order. A UDP failure has no
 * destination (daddr and dport 0): the socket's family is in `family`. */
struct sockstate_cf_key {
  unsigned long long cgroup_id; /* cgroup v2 id of the socket (its creator's cgroup) */
  unsigned int netns_inum;      /* inode of the socket's network namespace */
  unsigned short dport;         /* destination port, host order */
  unsigned char family;         /* 2 (AF_INET) or 10 (AF_INET6) */
  unsigned char reason;         /* SOCKSTATE_CF_* */
  unsigned char daddr[16];
  unsigned char protocol; /* 6 (IPPROTO_TCP) or 17 (IPPROTO_UDP) */
  unsigned char pad[7];
};

#endif /* SOCKSTATE_BPF_CONNECT_FAILURES_H_ */
