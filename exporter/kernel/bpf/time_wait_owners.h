/* Shared between the BPF program (time_wait_owners.bpf.h) and user space
 * (kernel/time_wait_owners.cpp): the map keys and values. Plain C, fixed layout. */
#ifndef SOCKSTATE_BPF_TIME_WAIT_OWNERS_H_
#define SOCKSTATE_BPF_TIME_WAIT_OWNERS_H_

/* Default map sizes; user space sets them from the configuration before loading. */
#define SOCKSTATE_TW_MAX_SOCKETS 65536

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

/* One record of the ring (tw_ring): 72 bytes. seq_begin == seq_end == the record's number + 1
 * when complete (0: never written). */
struct sockstate_tw_record {
  unsigned long long seq_begin;
  struct sockstate_tw_key key;
  unsigned long long cgroup_id; /* the owner's cgroup v2 id */
  unsigned long long seq_end;
};

/* tw_head's one value: records made so far, and the ring's size (0: not recording yet). */
struct sockstate_tw_head {
  unsigned long long head;
  unsigned long long size;
};

#endif /* SOCKSTATE_BPF_TIME_WAIT_OWNERS_H_ */
