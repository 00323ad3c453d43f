/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared between the state tracker's BPF program (tracker.bpf.c) and user space
 * (kernel/tracker_probe.cpp): map keys and values, fixed layouts, no implicit padding.
 * docs/architecture.md ("Counts kept from kernel events") explains what they hold.
 *
 * Namespaces are keyed by their netns cookie (64 bits, never reused; SO_NETNS_COOKIE in user
 * space), not by the nsfs inode, which the kernel may hand to a later namespace. Counts live
 * in "generations": a namespace counts into generation `cur`; a seeding (the first one, or a
 * reconcile) builds generation `seed` from one walk of the namespace merged with the events
 * that race it, then user space compares the two and switches `cur` to it. */
#ifndef SOCKSTATE_BPF_TRACKER_H_
#define SOCKSTATE_BPF_TRACKER_H_

/* Default map sizes; user space sets them from the configuration (tracker section). */
#define SOCKSTATE_TRK_MAX_TUPLES 262144
#define SOCKSTATE_TRK_MAX_MINI 262144 /* TIME_WAIT and request sockets */
#define SOCKSTATE_TRK_MAX_PORTS 65536 /* inbound local ports */
#define SOCKSTATE_TRK_MAX_DESTS 65536 /* destinations with TIME_WAIT sockets */
#define SOCKSTATE_TRK_MAX_BOUND 65536 /* listeners and bound-inactive sockets */
#define SOCKSTATE_TRK_MAX_NETNS 16384
#define SOCKSTATE_TRK_MAX_CREATED 65536 /* sockets created while a namespace is seeded */
#define SOCKSTATE_TRK_MAX_PENDING 65536 /* TIME_WAIT sockets born in the FIN_WAIT2 substate */

#define SOCKSTATE_TRK_STATES 16 /* kernel TCP states 0..11 used (NEW_SYN_RECV counts as SYN_RECV);
                                   16 so that an index masked with 15 is always inside */
#define SOCKSTATE_TRK_RING 64   /* TIME_WAIT expiry ring: one-second slots */
#define SOCKSTATE_TRK_SEED_RING 64

/* The `word` of a per-socket entry: bit g set = counted in generation g (1..30); DEAD = the
 * socket ended (or a tombstone: it ended while its namespace was being seeded); bits 32..39
 * the state it is counted in, bits 40..47 its TIME_WAIT expiry ring slot (TIME_WAIT substate
 * only: the dump's histogram has no FIN_WAIT2 minisockets). One 64-bit word, so that an end (exchange), the seeding walk
 * (compare-and-swap adding its generation) and the sweep (compare-and-swap of the state) are
 * atomic with respect to each other. */
#define SOCKSTATE_TRK_DEAD 0x80000000ULL
#define SOCKSTATE_TRK_GENS 0x7fffffffULL
#define SOCKSTATE_TRK_STATE_SHIFT 32
#define SOCKSTATE_TRK_SLOT_SHIFT 40 /* bits 40..47: the expiry ring slot counted in (0xff none) */

/* A destination tuple of one namespace and generation: 48 bytes. Addresses in network order,
 * IPv4 (and IPv4-mapped IPv6) in [0..3] with family 2; dport in host order. */
struct sockstate_trk_tuple_key {
  unsigned long long netns;
  unsigned char gen;
  unsigned char family;
  unsigned short dport;
  unsigned int pad;
  unsigned char saddr[16];
  unsigned char daddr[16];
};

/* Outgoing sockets of a tuple: 80 bytes. Signed: a count below 0 is drift (reconciled). */
struct sockstate_trk_tuple_val {
  int st[SOCKSTATE_TRK_STATES]; /* by state; TIME_WAIT sockets by their substate (5 or 6) */
  int used;                     /* sockets on a local port inside ip_local_port_range */
  int peak[2];                  /* highest `used` in peak epochs (epoch & 1) */
  int pad;
};

/* Outgoing full sockets of a tuple owned by one cgroup (workload attribution; TIME_WAIT sockets
 * have no cgroup: time_wait_owners.bpf.h names theirs): key 56, value 72 bytes. */
struct sockstate_trk_cell_key {
  unsigned long long netns;
  unsigned char gen;
  unsigned char family;
  unsigned short dport;
  unsigned int pad;
  unsigned long long cgroup;
  unsigned char saddr[16];
  unsigned char daddr[16];
};
struct sockstate_trk_cell_val {
  int st[SOCKSTATE_TRK_STATES];
  int used;
  int pad;
};

/* Inbound sockets (accepted, and request sockets) of one local port: key 16, value 72 bytes. */
struct sockstate_trk_port_key {
  unsigned long long netns;
  unsigned char gen;
  unsigned char pad;
  unsigned short port;
  unsigned int pad2;
};
struct sockstate_trk_port_val {
  int st[SOCKSTATE_TRK_STATES];
  int refs; /* listeners on the port plus inbound sockets counted on it: > 0 makes a socket
               of this local port inbound, and stays so while any of them lives */
  int pad;
};

/* TIME_WAIT sockets (either substate) of one outgoing destination by the second their timer
 * expires (modulo the ring): for the remaining-lifetime histogram. Key 32, value 256 bytes. */
struct sockstate_trk_dest_key {
  unsigned long long netns;
  unsigned char gen;
  unsigned char family;
  unsigned short dport;
  unsigned int pad;
  unsigned char daddr[16];
};
struct sockstate_trk_dest_val {
  int slot[SOCKSTATE_TRK_RING];
};

/* One namespace (key: its netns cookie). Written by the programs only (user space changes
 * `cur`/`seed` through the control program, never by a map update): 280 bytes. */
struct sockstate_trk_ns {
  unsigned int inum;          /* nsfs inode (the label of unnamed namespaces) */
  unsigned short gens;        /* cur | seed << 8, written in one store. cur: the generation
                                 counted into (0: not tracked yet, needs a seed); seed: the
                                 generation being seeded (0: none) */
  unsigned char bseed;        /* bound-inactive sockets being seeded from a dump */
  unsigned char pad;
  unsigned int range;         /* ip_local_port_range at the last event: low | high << 16 */
  unsigned int range_changes; /* events that found another range than the previous one */
  unsigned int overflow;      /* counts lost because a map was full */
  unsigned int pad2;
  int st[2][2][SOCKSTATE_TRK_STATES]; /* [generation & 1][0 IPv4, 1 IPv6][state]: connected
                                         and minisockets (listeners, bound: trk_bound) */
};

/* A TIME_WAIT or request socket as a dump shows it: 48 bytes. */
struct sockstate_trk_mini_key {
  unsigned long long netns;
  unsigned char family;
  unsigned char kind; /* 6 TIME_WAIT (either substate), 12 request socket */
  unsigned short sport;
  unsigned short dport;
  unsigned short pad;
  unsigned char saddr[16];
  unsigned char daddr[16];
};
struct sockstate_trk_mini_val {
  unsigned long long word;  /* generations | DEAD | state << 32 (see above) */
  unsigned long long timer; /* the socket's timer: its identity, and the sweep's way in */
  unsigned char inbound;
  unsigned char in_range;
  unsigned char pad[6];
};

/* A listener or a bound-inactive socket (key: socket cookie): 32 bytes. */
#define SOCKSTATE_TRK_LISTEN 10
#define SOCKSTATE_TRK_BOUND 13
#define SOCKSTATE_TRK_RELEASING 14 /* closed by its owner while holding an explicit port */
struct sockstate_trk_bound_val {
  unsigned long long netns;
  unsigned long long word; /* generations | DEAD (listeners add to their port's refs) */
  unsigned short port;
  unsigned char family; /* 2 or 10 */
  unsigned char kind;   /* LISTEN, BOUND or RELEASING */
  unsigned int pad;     /* listeners: 1 once their owner closed them */
  unsigned long long born_ns; /* bpf_ktime_get_ns() when the entry was made (reconcile) */
};

/* The seeding in progress (one at a time): the walk's position, so that an event knows
 * whether the walk has already counted its socket. */
#define SOCKSTATE_TRK_PHASE_IDLE 0
#define SOCKSTATE_TRK_PHASE_LISTEN 1
#define SOCKSTATE_TRK_PHASE_EST 2
#define SOCKSTATE_TRK_PHASE_DONE 3
struct sockstate_trk_seed {
  unsigned long long netns;
  unsigned int gen;
  unsigned int phase;
  unsigned int bucket;   /* established-hash bucket of the last socket walked */
  unsigned int pos;      /* next ring index */
  unsigned int overflow; /* the walk or an event found a map full: the seed is not exact */
  unsigned int walked;   /* sockets the walk counted */
  unsigned long long ring[SOCKSTATE_TRK_SEED_RING]; /* cookies of the last sockets walked */
};

/* Settings user space writes (array of one). */
struct sockstate_trk_cfg {
  unsigned long long c0; /* namespaces with a larger cookie were created after the attach */
  unsigned int hz;       /* CONFIG_HZ (jiffies per second) */
  unsigned int epoch;    /* peak epoch */
  unsigned long long tw_handler;    /* address of tw_timer_handler (0: not known yet) */
  unsigned long long reqsk_handler; /* address of reqsk_timer_handler */
};

/* The control program's operations (BPF_PROG_TEST_RUN with args[0] = op). */
#define SOCKSTATE_TRK_OP_SWEEP 1      /* resolve FIN_WAIT2 minisockets; args: none */
#define SOCKSTATE_TRK_OP_SET_GEN 2    /* args: netns, inum, cur, seed, bseed */
#define SOCKSTATE_TRK_OP_SEED_BEGIN 3 /* args: netns, gen, inum */
#define SOCKSTATE_TRK_OP_SEED_END 4   /* args: none */
#define SOCKSTATE_TRK_OP_PEAK_EPOCH 5 /* args: new epoch; every tuple's new peak = used */
#define SOCKSTATE_TRK_OP_CLOCK 6      /* record jiffies and the monotonic clock */

/* Per-CPU counters (trk_stats), indexes: */
#define SOCKSTATE_TRK_EVENTS 0      /* state changes counted */
#define SOCKSTATE_TRK_BORN 1        /* minisockets counted at birth */
#define SOCKSTATE_TRK_ENDED 2       /* minisockets ended */
#define SOCKSTATE_TRK_REARMED 3     /* minisocket timers re-armed (undone ends) */
#define SOCKSTATE_TRK_SWEPT 4       /* FIN_WAIT2 minisockets found in TIME_WAIT by the sweep */
#define SOCKSTATE_TRK_FULL 5        /* counts lost: a map was full */
#define SOCKSTATE_TRK_UNKNOWN_END 6 /* ends of minisockets never counted (older than tracking) */
#define SOCKSTATE_TRK_NESTED_STATE 7  /* state changes counted by a nested-level program */
#define SOCKSTATE_TRK_NESTED_START 8  /* timer starts ... */
#define SOCKSTATE_TRK_NESTED_CANCEL 9 /* timer cancels ... */
#define SOCKSTATE_TRK_WALK_BORN 10   /* minisocket entries made by a seeding walk */
#define SOCKSTATE_TRK_STATS 11

/* Clock sample of the control program (trk_clock, array of one). */
struct sockstate_trk_clock {
  unsigned long long jiffies;
  unsigned long long ns;
};

#endif /* SOCKSTATE_BPF_TRACKER_H_ */
