/* Shared between the BPF program (time_wait_owners.bpf.c) and user space
 * (kernel/time_wait_owners.cpp): the map keys and values. Plain C, fixed layout. */
#ifndef SOCKSTATE_BPF_TIME_WAIT_OWNERS_H_
#define SOCKSTATE_BPF_TIME_WAIT_OWNERS_H_

/* Default map sizes; user space sets them from the configuration before loading. */
#define SOCKSTATE_TW_MAX_SOCKETS 65536
#define SOCKSTATE_TW_MAX_OWNERS 16384

/* A TIME_WAIT socket as a dump shows it: 48 bytes, no implicit padding (pad is zero).
 * Addresses in network order, IPv4 (and IPv4-mapped IPv6) in [0..3] with family 2; ports in
 * host order. */
struct sockstate_tw_key {
  unsigned int netns_inum;
  unsigned short sport;
  unsigned short dport;
  unsigned char family;
  unsigned char pad[7];
  unsigned char saddr[16];
  unsigned char daddr[16];
};

/* What is remembered of one TIME_WAIT socket. */
struct sockstate_tw_value {
  unsigned long long cgroup_id; /* its owner's cgroup v2 id; 0 until the full socket closes */
};

/* TIME_WAIT sockets with a known owner per (namespace, source address, destination, owner):
 * the key of the per-destination tuple plus the cgroup. 48 bytes. The value is a signed
 * 64-bit count. */
struct sockstate_tw_owner_key {
  unsigned long long cgroup_id;
  unsigned int netns_inum;
  unsigned short dport;
  unsigned char family;
  unsigned char pad;
  unsigned char saddr[16];
  unsigned char daddr[16];
};

/* Per-CPU event counters (tw_stats), indexes: */
#define SOCKSTATE_TW_BORN 0        /* TIME_WAIT sockets remembered */
#define SOCKSTATE_TW_ENDED 1       /* ... forgotten because they ended */
#define SOCKSTATE_TW_NAMED 2       /* ... whose owner was named by the full socket's close */
#define SOCKSTATE_TW_SOCKETS_FULL 3 /* not remembered: tw_sockets was full */
#define SOCKSTATE_TW_OWNERS_FULL 4  /* not counted by owner: tw_owners was full */
#define SOCKSTATE_TW_STATS 5

#endif /* SOCKSTATE_BPF_TIME_WAIT_OWNERS_H_ */
