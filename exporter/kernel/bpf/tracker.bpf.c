// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The state tracker (docs/architecture.md, "Counts kept from kernel events"): TCP sockets per
 * namespace, destination tuple, inbound port and state, kept from kernel events so that a
 * scrape reads a few maps instead of walking every socket.
 *
 *  - Full sockets: every state change (tp_btf/inet_sock_set_state) moves one socket from its
 *    old state's counter to its new state's. A socket is outgoing (counted in its tuple: source
 *    address, destination address, destination port) unless its local port has "references":
 *    a listener, or an inbound socket counted on it; a child of a listener (LISTEN -> SYN_RECV)
 *    is inbound and takes a reference. So accepted connections stay inbound after their
 *    listener closed.
 *  - TIME_WAIT and request sockets have no state change; they are followed through their
 *    timer (tp_btf timer_start / timer_cancel, filtered on tw_timer_handler and
 *    reqsk_timer_handler): born at timer_start, ended at timer_cancel (expiry, tcp_tw_reuse,
 *    RST or SYN in TIME_WAIT, namespace deletion; a re-arm is an end and a birth). Each has an
 *    entry (trk_mini) saying where it is counted. A TIME_WAIT socket born in the FIN_WAIT2
 *    substate can turn TIME_WAIT without any event (the timer re-armed in the same wheel
 *    bucket): those are kept in trk_pending and the control program's sweep, run by user space
 *    before each scrape, reads their substate.
 *  - Listeners and bound-inactive sockets (what holds a port by bind()): one entry per socket
 *    (trk_bound), from the state changes to/from LISTEN and CLOSE and from the cgroup hooks
 *    post_bind4/6 and sock_release (bind() and close() of a never-connected socket have no
 *    tracepoint).
 *
 * Seeding: sockets older than the tracking of their namespace are counted by one walk of the
 * namespace (iter/tcp: the kernel walks the listening hash, then the established hash bucket
 * by bucket, each full socket under its lock) into a new generation, merged with the events
 * that race it: an event counts into the seed generation only for a socket the walk has
 * already counted (its bucket is behind the walk, or it is among the last sockets walked) or
 * one created since the seeding began (trk_created); minisockets merge through their entry's
 * atomic word, and one that ends before the walk reaches it leaves a tombstone. A reconcile is
 * the same seeding; user space then compares the two generations and switches.
 *
 * CO-RE: the kernel types read are declared in core_types.h. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "core_types.h"
#include "tracker.h"

/* A kernel address as a typed, read-only pointer: fields are then read with plain loads (the
 * verifier guards them against faults) instead of one bpf_probe_read_kernel() call each (~50 ns
 * per call here; docs/architecture.md "Cost per event"). Linux 6.2+; the kernel's own BTF id of
 * the type. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define AS(type, p) ((const type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))

struct bpf_map;

/* The timer callbacks of TIME_WAIT and request sockets come from user space (trk_cfg, read
 * from /proc/kallsyms): an extern __ksym would make libbpf read it to load the one object at
 * all (docs/architecture.md, kernel events). */

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the entries in use */
  __uint(max_entries, SOCKSTATE_TRK_MAX_TUPLES);
  __type(key, struct sockstate_trk_tuple_key);
  __type(value, struct sockstate_trk_tuple_val);
} trk_tuples SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TRK_MAX_TUPLES);
  __type(key, struct sockstate_trk_cell_key);
  __type(value, struct sockstate_trk_cell_val);
} trk_cells SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TRK_MAX_PORTS);
  __type(key, struct sockstate_trk_port_key);
  __type(value, struct sockstate_trk_port_val);
} trk_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TRK_MAX_DESTS);
  __type(key, struct sockstate_trk_dest_key);
  __type(value, struct sockstate_trk_dest_val);
} trk_dests SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TRK_MAX_NETNS);
  __type(key, __u64);
  __type(value, struct sockstate_trk_ns);
} trk_ns SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TRK_MAX_MINI);
  __type(key, struct sockstate_trk_mini_key);
  __type(value, struct sockstate_trk_mini_val);
} trk_mini SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TRK_MAX_PENDING);
  __type(key, struct sockstate_trk_mini_key);
  __type(value, __u64); /* the timer */
} trk_pending SEC(".maps");

#ifndef ENOENT
#define ENOENT 2
#endif

/* Entries in trk_pending: +1 for each insert and -1 for each delete that succeeded. The
 * control program's sweep walks the map (every bucket: a cost per scrape that follows its
 * capacity) only while it holds entries. */
__s64 trk_pending_entries = 0;

static __always_inline long PendingPut(const struct sockstate_trk_mini_key *k, __u64 timer) {
  long err = bpf_map_update_elem(&trk_pending, k, &timer, BPF_NOEXIST);
  if (err == -EEXIST) {
    err = bpf_map_update_elem(&trk_pending, k, &timer, BPF_EXIST);
    if (err != -ENOENT) return err;
    err = bpf_map_update_elem(&trk_pending, k, &timer, BPF_NOEXIST); /* deleted meanwhile */
  }
  if (err == 0) __sync_fetch_and_add(&trk_pending_entries, 1);
  return err;
}

static __always_inline void PendingDelete(const struct sockstate_trk_mini_key *k) {
  if (bpf_map_delete_elem(&trk_pending, k) == 0) __sync_fetch_and_add(&trk_pending_entries, -1);
}

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TRK_MAX_BOUND);
  __type(key, __u64); /* socket cookie */
  __type(value, struct sockstate_trk_bound_val);
} trk_bound SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SOCKSTATE_TRK_MAX_CREATED);
  __type(key, __u64); /* socket cookie */
  __type(value, __u8);
} trk_created SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sockstate_trk_seed);
} trk_seed SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sockstate_trk_cfg);
} trk_cfg SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sockstate_trk_clock);
} trk_clock SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SOCKSTATE_TRK_STATS);
  __type(key, __u32);
  __type(value, __u64);
} trk_stats SEC(".maps");

/* A new namespace's value, made here (too large for the stack). */
struct trk_zero {
  struct sockstate_trk_ns ns;
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct trk_zero);
} trk_scratch SEC(".maps");

/* New map values, all zero: read here, never written (off the stack, which they do not fit). */
struct trk_zeros {
  struct sockstate_trk_tuple_val tuple;
  struct sockstate_trk_cell_val cell;
  struct sockstate_trk_port_val port;
  struct sockstate_trk_dest_val dest;
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct trk_zeros);
} trk_zeros SEC(".maps");

static __always_inline const struct trk_zeros *Zeros(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&trk_zeros, &zero);
}

#define GEN_BIT(g) (1ULL << ((g) & 31))
#define STATE_OF(w) ((int)(((w) >> SOCKSTATE_TRK_STATE_SHIFT) & 0xff))
#define SLOT_OF(w) ((__u8)(((w) >> SOCKSTATE_TRK_SLOT_SHIFT) & 0xff))
#define WORD(gens, state, slot)                                      \
  ((gens) | ((__u64)(state) << SOCKSTATE_TRK_STATE_SHIFT) |         \
   ((__u64)(slot) << SOCKSTATE_TRK_SLOT_SHIFT))

static __always_inline void Stat(__u32 i) {
  __u64 *v = bpf_map_lookup_elem(&trk_stats, &i);
  if (v) __sync_fetch_and_add(v, 1); /* atomic: a nested run on this CPU may count too */
}

static __always_inline struct sockstate_trk_cfg *Cfg(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&trk_cfg, &zero);
}

static __always_inline struct sockstate_trk_seed *Seed(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&trk_seed, &zero);
}

/* A socket's identity as the counters see it. */
struct trk_sock {
  __u64 netns;
  __u8 family; /* 2 or 10 (IPv4-mapped IPv6 is 2) */
  __u8 fam;    /* 0 IPv4, 1 IPv6 */
  __u16 sport;
  __u16 dport;
  __u16 pad;
  __u8 saddr[16];
  __u8 daddr[16];
};

/* Addresses of a socket (full or mini), IPv4-mapped IPv6 as IPv4. False: not inet. */
static __always_inline int ReadAddrs(const struct sock_common *c, struct trk_sock *s) {
  const unsigned short f = c->skc_family; /* c: a BTF pointer (plain loads) */
  if (f == AF_INET) {
    __be32 a = c->skc_rcv_saddr, b = c->skc_daddr;
    __builtin_memcpy(s->saddr, &a, 4);
    __builtin_memcpy(s->daddr, &b, 4);
    s->family = AF_INET;
    s->fam = 0;
    return 1;
  }
  if (f != AF_INET6) return 0;
  for (int i = 0; i < 4; i++) {
    ((__u32 *)s->saddr)[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
    ((__u32 *)s->daddr)[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
  }
  if (UnmapV4Pair(s->saddr, s->daddr)) {
    s->family = AF_INET;
    s->fam = 0;
  } else {
    s->family = AF_INET6;
    s->fam = 1;
  }
  return 1;
}

/* The range counted with, noting a change (user space reseeds the namespace then). */
static __always_inline __u32 RangeOf(struct sockstate_trk_ns *ns, const struct net *net) {
  const __u32 r = PortRange(net);
  if (ns->range != r) {
    if (ns->range) __sync_fetch_and_add(&ns->range_changes, 1);
    ns->range = r;
  }
  return r;
}

/* The namespace's entry, created at its first event. A namespace created after the tracker
 * started (cookie above cfg.c0) is tracked from its first socket: generation 1 at once. */
static __always_inline struct sockstate_trk_ns *NsOf(__u64 nc, __u32 inum) {
  struct sockstate_trk_ns *ns = bpf_map_lookup_elem(&trk_ns, &nc);
  if (ns) return ns;
  __u32 zero = 0;
  struct trk_zero *z = bpf_map_lookup_elem(&trk_scratch, &zero);
  struct sockstate_trk_cfg *cfg = Cfg();
  if (!z || !cfg) return 0;
  __builtin_memset(&z->ns, 0, sizeof(z->ns));
  z->ns.inum = inum;
  if (cfg->c0 && nc > cfg->c0) z->ns.gens = 1; /* cur 1, no seed */
  bpf_map_update_elem(&trk_ns, &nc, &z->ns, BPF_NOEXIST);
  return bpf_map_lookup_elem(&trk_ns, &nc);
}

static __always_inline void Overflow(struct sockstate_trk_ns *ns) {
  __sync_fetch_and_add(&ns->overflow, 1);
  Stat(SOCKSTATE_TRK_FULL);
}

/* `map`'s value for `key`, created from `zero` if missing and `create`. */
static __always_inline void *GetOrCreate(void *map, const void *key, const void *zero, int create,
                                         struct sockstate_trk_ns *ns) {
  void *v = bpf_map_lookup_elem(map, key);
  if (v || !create) return v;
  long err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
  if (err && err != -EEXIST) {
    Overflow(ns);
    return 0;
  }
  return bpf_map_lookup_elem(map, key);
}

static __always_inline void PortKey(struct sockstate_trk_port_key *k, __u64 nc, __u8 gen,
                                    __u16 port) {
  __builtin_memset(k, 0, sizeof(*k));
  k->netns = nc;
  k->gen = gen;
  k->port = port;
}

/* Whether `port` of the namespace has references in generation `gen`: its sockets are
 * inbound. */
static __always_inline int Inbound(__u64 nc, __u8 gen, __u16 port) {
  struct sockstate_trk_port_key k;
  PortKey(&k, nc, gen, port);
  const struct sockstate_trk_port_val *v = bpf_map_lookup_elem(&trk_ports, &k);
  return v && v->refs > 0;
}

/* Adds `d` to the port's references (a listener) in generation `gen`. */
static __always_inline void PortRefs(struct sockstate_trk_ns *ns, __u64 nc, __u8 gen, __u16 port,
                                     int d) {
  struct sockstate_trk_port_key k;
  PortKey(&k, nc, gen, port);
  const struct trk_zeros *z = Zeros();
  if (!z) return;
  struct sockstate_trk_port_val *v = GetOrCreate(&trk_ports, &k, &z->port, d > 0, ns);
  if (v) __sync_fetch_and_add(&v->refs, d);
}

static __always_inline void PeakOf(struct sockstate_trk_tuple_val *v, int used) {
  struct sockstate_trk_cfg *cfg = Cfg();
  if (!cfg) return;
  int *p = &v->peak[cfg->epoch & 1];
  int old = *p;
  for (int i = 0; i < 4 && used > old; i++) {
    const int prev = __sync_val_compare_and_swap(p, old, used);
    if (prev == old) break;
    old = prev;
  }
}

/* Where one socket is counted (besides the namespace totals). */
struct trk_place {
  __u8 inbound;
  __u8 in_range;
  __u8 slot; /* TIME_WAIT expiry ring slot; 0xff: none */
  __u8 no_peak; /* a connect() before its port is picked: it may find none (no peak yet) */
  __u8 peak_now; /* ... and its port picked now: its `used` counts for the peak from here */
  __u8 pad1;
  __u16 pad2;
  __u64 cgroup; /* a full socket's cgroup v2 id (workload attribution); 0 for minisockets */
};

static __always_inline __u32 StateIdx(int state) {
  __u32 i = (__u32)state;
  barrier_var(i); /* keep the mask: the verifier must see the index bounded */
  return i & (SOCKSTATE_TRK_STATES - 1);
}

/* One socket of generation `gen`: added in state `add`, removed from state `del`, or moved
 * from `del` to `add` (-1: none). A move leaves `used` and the references alone: a socket
 * keeps its port and its class across its states. */
static __always_inline void Apply(struct sockstate_trk_ns *ns, __u8 gen, const struct trk_sock *s,
                                  int add, int del, struct trk_place p) {
  const int d = (add >= 0) - (del >= 0); /* +1 added, -1 removed, 0 moved */
  const struct trk_zeros *z = Zeros();
  if (!z) return;
  const __u32 ia = StateIdx(add), id = StateIdx(del);
  if (add >= 0) __sync_fetch_and_add(&ns->st[gen & 1][s->fam & 1][ia], 1);
  if (del >= 0) __sync_fetch_and_add(&ns->st[gen & 1][s->fam & 1][id], -1);
  if (p.inbound) {
    struct sockstate_trk_port_key k;
    PortKey(&k, s->netns, gen, s->sport);
    struct sockstate_trk_port_val *v = GetOrCreate(&trk_ports, &k, &z->port, add >= 0, ns);
    if (!v) return;
    if (add >= 0) __sync_fetch_and_add(&v->st[ia], 1);
    if (del >= 0) __sync_fetch_and_add(&v->st[id], -1);
    if (d) __sync_fetch_and_add(&v->refs, d);
    return;
  }
  struct sockstate_trk_tuple_key k;
  __builtin_memset(&k, 0, sizeof(k));
  k.netns = s->netns;
  k.gen = gen;
  k.family = s->family;
  k.dport = s->dport;
  __builtin_memcpy(k.saddr, s->saddr, 16);
  __builtin_memcpy(k.daddr, s->daddr, 16);
  struct sockstate_trk_tuple_val *v = GetOrCreate(&trk_tuples, &k, &z->tuple, add >= 0, ns);
  if (!v) return;
  if (p.peak_now) PeakOf(v, v->used); /* a connect() counted before its port, which it has now */
  if (add >= 0) __sync_fetch_and_add(&v->st[ia], 1);
  if (del >= 0) __sync_fetch_and_add(&v->st[id], -1);
  if (p.in_range && d) {
    const int used = __sync_fetch_and_add(&v->used, d) + d;
    if (d > 0 && !p.no_peak) PeakOf(v, used);
  }
  if (p.cgroup) {
    struct sockstate_trk_cell_key ck;
    __builtin_memset(&ck, 0, sizeof(ck));
    ck.netns = s->netns;
    ck.gen = gen;
    ck.family = s->family;
    ck.dport = s->dport;
    ck.cgroup = p.cgroup;
    __builtin_memcpy(ck.saddr, s->saddr, 16);
    __builtin_memcpy(ck.daddr, s->daddr, 16);
    struct sockstate_trk_cell_val *cv = GetOrCreate(&trk_cells, &ck, &z->cell, add >= 0, ns);
    if (cv) {
      if (add >= 0) __sync_fetch_and_add(&cv->st[ia], 1);
      if (del >= 0) __sync_fetch_and_add(&cv->st[id], -1);
      if (p.in_range && d) __sync_fetch_and_add(&cv->used, d);
    }
  }
  /* The TIME_WAIT expiry ring: a TIME_WAIT socket added or removed at its slot. */
  if (p.slot >= SOCKSTATE_TRK_RING) return;
  const int dr = (add == TCP_TIME_WAIT) - (del == TCP_TIME_WAIT);
  if (!dr) return;
  struct sockstate_trk_dest_key dk;
  __builtin_memset(&dk, 0, sizeof(dk));
  dk.netns = s->netns;
  dk.gen = gen;
  dk.family = s->family;
  dk.dport = s->dport;
  __builtin_memcpy(dk.daddr, s->daddr, 16);
  struct sockstate_trk_dest_val *dv = GetOrCreate(&trk_dests, &dk, &z->dest, dr > 0, ns);
  __u32 slot = p.slot;
  barrier_var(slot); /* keep the mask for the verifier */
  slot &= SOCKSTATE_TRK_RING - 1;
  if (dv) __sync_fetch_and_add(&dv->slot[slot], dr);
}

/* Adds (d = 1) or removes (d = -1) one socket in `state`. */
static __always_inline void Count(struct sockstate_trk_ns *ns, __u8 gen, const struct trk_sock *s,
                                  int state, struct trk_place p, int d) {
  if (d > 0) {
    Apply(ns, gen, s, state, -1, p);
  } else {
    Apply(ns, gen, s, -1, state, p);
  }
}

/* Moves one minisocket of generation `gen` from FIN_WAIT2 to TIME_WAIT (the sweep): its
 * TIME_WAIT expiry ring slot is `slot`. */
static __always_inline void MoveToTimeWait(struct sockstate_trk_ns *ns, __u8 gen,
                                           const struct trk_sock *s, struct trk_place p,
                                           __u8 slot) {
  p.slot = p.inbound ? 0xff : slot;
  Apply(ns, gen, s, TCP_TIME_WAIT, TCP_FIN_WAIT2, p);
}

/* States a connected full socket is counted in (not CLOSE, not LISTEN). */
static __always_inline int Counted(int state) {
  return state > 0 && state <= TCP_CLOSING && state != TCP_CLOSE && state != TCP_LISTEN;
}

static __always_inline __u32 BucketOf(const struct sock_common *c, const struct net *net) {
  const struct inet_hashinfo *h = BPF_CORE_READ(net, ipv4.tcp_death_row.hashinfo);
  return BPF_CORE_READ(c, skc_hash) & BPF_CORE_READ(h, ehash_mask);
}

/* Whether the seeding walk of generation `gen` has already counted the full socket with
 * `cookie` (its bucket is behind the walk, or it is among the last sockets walked). The walk
 * counts a full socket under its lock, and state changes happen under it too, so the answer
 * cannot change while an event runs. */
static __always_inline int Walked(const struct sock_common *c, const struct net *net, __u64 nc,
                                  __u8 gen, __u64 cookie) {
  struct sockstate_trk_seed *seed = Seed();
  if (!seed || seed->netns != nc || seed->gen != gen) return 0;
  const __u32 phase = seed->phase;
  if (phase == SOCKSTATE_TRK_PHASE_DONE) return 1;
  if (phase != SOCKSTATE_TRK_PHASE_EST) return 0;
  const __u32 bucket = BucketOf(c, net);
  const __u32 at = seed->bucket;
  if (bucket < at) return 1;
  if (bucket > at) return 0;
  for (int i = 0; i < SOCKSTATE_TRK_SEED_RING; i++) {
    if (seed->ring[i] == cookie) return 1;
  }
  return 0;
}

/* Marks a socket created while its namespace is seeded: counted by its events, skipped by
 * the walk. */
static __always_inline void NoteCreated(__u64 cookie) {
  __u8 one = 1;
  if (bpf_map_update_elem(&trk_created, &cookie, &one, BPF_ANY) != 0) {
    struct sockstate_trk_seed *seed = Seed();
    if (seed) seed->overflow = 1;
  }
}

/* ---- Listeners and bound-inactive sockets (trk_bound, by socket cookie) ---- */

static __always_inline void ListenerAdd(struct sockstate_trk_ns *ns, __u64 nc, __u64 cookie,
                                        __u16 port, __u8 family, __u64 gens) {
  struct sockstate_trk_bound_val v = {};
  v.netns = nc;
  v.word = gens;
  v.port = port;
  v.family = family;
  v.kind = SOCKSTATE_TRK_LISTEN;
  const long err = bpf_map_update_elem(&trk_bound, &cookie, &v, BPF_ANY);
  if (err) {
    Overflow(ns);
    return;
  }
  if (!port) return; /* listen() without bind(): no port yet (docs: "Listeners") */
  const __u16 gs = ns->gens;
  const __u8 cur = gs & 0xff, seed = gs >> 8;
  if (cur && (gens & GEN_BIT(cur))) PortRefs(ns, nc, cur, port, 1);
  if (seed && (gens & GEN_BIT(seed))) PortRefs(ns, nc, seed, port, 1);
}

/* Ends a listener; returns whether its owner had closed it (no bound-inactive socket left). */
static __always_inline int ListenerEnd(struct sockstate_trk_ns *ns, __u64 nc, __u64 cookie) {
  struct sockstate_trk_bound_val *v = bpf_map_lookup_elem(&trk_bound, &cookie);
  if (!v || v->kind != SOCKSTATE_TRK_LISTEN) return 0;
  const __u64 w = __sync_lock_test_and_set(&v->word, SOCKSTATE_TRK_DEAD);
  const int releasing = v->pad != 0;
  const __u16 port = v->port;
  bpf_map_delete_elem(&trk_bound, &cookie);
  if ((w & SOCKSTATE_TRK_DEAD) || !port) return releasing;
  const __u16 gs = ns->gens;
  const __u8 cur = gs & 0xff, seed = gs >> 8;
  if (cur && (w & GEN_BIT(cur))) PortRefs(ns, nc, cur, port, -1);
  if (seed && (w & GEN_BIT(seed))) PortRefs(ns, nc, seed, port, -1);
  return releasing;
}

static __always_inline void BoundAdd(struct sockstate_trk_ns *ns, __u64 nc, __u64 cookie,
                                     __u16 port, __u8 family) {
  struct sockstate_trk_bound_val v = {};
  v.netns = nc;
  v.port = port;
  v.family = family;
  v.kind = SOCKSTATE_TRK_BOUND;
  v.born_ns = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&trk_bound, &cookie, &v, BPF_ANY) != 0) Overflow(ns);
}

/* A bound-inactive socket stops being one (connect, listen, close). While its namespace's
 * bound-inactive sockets are seeded from a dump, one not known yet leaves a tombstone so that
 * the dump (older) does not bring it back. */
static __always_inline void BoundEnd(struct sockstate_trk_ns *ns, __u64 nc, __u64 cookie) {
  struct sockstate_trk_bound_val *v = bpf_map_lookup_elem(&trk_bound, &cookie);
  if (v) {
    if (v->kind != SOCKSTATE_TRK_BOUND && v->kind != SOCKSTATE_TRK_RELEASING) return;
    if (ns && ns->bseed && v->kind == SOCKSTATE_TRK_BOUND) {
      v->word = SOCKSTATE_TRK_DEAD;  /* a tombstone until the dump's seeding is over */
    } else {
      bpf_map_delete_elem(&trk_bound, &cookie);
    }
    return;
  }
  if (!ns || !ns->bseed) return;
  struct sockstate_trk_bound_val t = {};
  t.netns = nc;
  t.word = SOCKSTATE_TRK_DEAD;
  t.kind = SOCKSTATE_TRK_BOUND;
  bpf_map_update_elem(&trk_bound, &cookie, &t, BPF_NOEXIST);
}

static __always_inline void ListenAndBound(const struct sock *sk, struct sockstate_trk_ns *ns,
                                           __u64 nc, int oldstate, int newstate,
                                           const struct trk_sock *s) {
  const __u16 num = sk->__sk_common.skc_num;
  if (oldstate == TCP_LISTEN && newstate != TCP_CLOSE) return; /* a listener's child is born */
  if (newstate == TCP_LISTEN) {
    const __u64 cookie = bpf_get_socket_cookie((void *)sk);
    BoundEnd(ns, nc, cookie);
    const __u16 gs = ns->gens;
    const __u8 cur = gs & 0xff, seed = gs >> 8;
    __u64 gens = 0;
    if (cur) gens |= GEN_BIT(cur);
    if (seed) gens |= GEN_BIT(seed);
    /* listen() without bind() picks its port after this event: 0 here (docs) */
    ListenerAdd(ns, nc, cookie, num, s->family, gens);
    return;
  }
  if (oldstate == TCP_LISTEN) {
    const __u64 cookie = bpf_get_socket_cookie((void *)sk);
    const int releasing = ListenerEnd(ns, nc, cookie);
    const int dead = (sk->__sk_common.skc_flags >> SOCK_DEAD) & 1;
    if (num && !releasing && !dead) {
      BoundAdd(ns, nc, cookie, num, s->family);
    } else {
      BoundEnd(ns, nc, cookie);  /* a dump racing this close must not bring it back */
    }
    return;
  }
  if (oldstate == TCP_CLOSE && num) { /* a bound socket connects */
    BoundEnd(ns, nc, bpf_get_socket_cookie((void *)sk));
    return;
  }
  if (newstate == TCP_CLOSE && (sk->sk_userlocks & SOCK_BINDPORT_LOCK)) {
    /* The port stays with the socket (bound by bind()): bound-inactive again, unless its
     * owner closed it (then it is destroyed right after). */
    const __u64 cookie = bpf_get_socket_cookie((void *)sk);
    struct sockstate_trk_bound_val *v = bpf_map_lookup_elem(&trk_bound, &cookie);
    const int releasing = v && v->kind == SOCKSTATE_TRK_RELEASING;
    if (releasing) bpf_map_delete_elem(&trk_bound, &cookie);
    const int dead = (sk->__sk_common.skc_flags >> SOCK_DEAD) & 1;
    if (num && !releasing && !dead) {
      BoundAdd(ns, nc, cookie, num, s->family);
    } else if (!releasing) {
      BoundEnd(ns, nc, cookie);  /* destroyed right after: a racing dump must not keep it */
    }
  }
}

/* ---- Nested runs ----
 * The kernel runs a tracing program at most once at a time per CPU: an event that fires while
 * the program runs on that CPU (a softirq interrupting it, a timer started in a hardirq) skips
 * it (the program's recursion_misses). So each tracepoint has one program per nesting level,
 * with the same body: the one of level k counts the event when k programs of that tracepoint
 * are already counting on this CPU, and returns at once otherwise. An event is lost only when
 * it lands in the few instructions before a program marks its level, or after it unmarks it;
 * user space finds those exactly: the level-0 program's misses minus the events the deeper
 * levels counted (trk_stats), and reconciles then. */
struct trk_levels {
  __u32 lvl[2]; /* [0] inet_sock_set_state, [1] timer_start and timer_cancel (nest in each other) */
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct trk_levels);
} trk_level SEC(".maps");

static __always_inline __u32 *LevelOf(int which) {
  __u32 zero = 0;
  struct trk_levels *l = bpf_map_lookup_elem(&trk_level, &zero);
  return l ? &l->lvl[which & 1] : 0;
}

/* Whether the program of nesting `level` counts this event; marks the level taken. */
static __always_inline int Enter(__u32 *lvl, __u32 level) {
  if (!lvl || *lvl != level) return 0;
  *lvl = level + 1;
  return 1;
}

static __always_inline void Leave(__u32 *lvl, __u32 level, __u32 nested_stat) {
  *lvl = level;
  if (level) Stat(nested_stat);
}

/* ---- Full sockets ---- */

static __always_inline int HandleState(const struct sock *sk, const int oldstate,
                                       const int newstate) {
  if (sk->sk_protocol != IPPROTO_TCP) return 0;
  const struct net *net = sk->__sk_common.skc_net.net;
  const __u64 nc = net->net_cookie;
  struct sockstate_trk_ns *ns = NsOf(nc, net->ns.inum);
  if (!ns) {
    Stat(SOCKSTATE_TRK_FULL);
    return 0;
  }
  struct trk_sock s;
  __builtin_memset(&s, 0, sizeof(s));
  if (!ReadAddrs(&sk->__sk_common, &s)) return 0;
  s.netns = nc;
  /* inet_sport, not skc_num: the tracepoint fires after a closing socket put its port back
   * (skc_num 0 then); rdonly_cast: struct sock is the start of inet_sock (plain loads) */
  s.sport = bpf_ntohs(AS(struct inet_sock, sk)->inet_sport);
  s.dport = bpf_ntohs(sk->__sk_common.skc_dport);
  if (oldstate == TCP_LISTEN || newstate == TCP_LISTEN || oldstate == TCP_CLOSE ||
      newstate == TCP_CLOSE) {
    ListenAndBound(sk, ns, nc, oldstate, newstate, &s);
  }
  const int count_old = Counted(oldstate), count_new = Counted(newstate);
  if (!count_old && !count_new) return 0;
  const __u16 gs = ns->gens;
  const __u8 cur = gs & 0xff, seed = gs >> 8;
  if (!cur && !seed) return 0; /* not tracked yet: its seeding walk will count it */
  const int child = oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV;
  const int created = child || (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT);
  struct trk_place p = {.slot = 0xff};
  p.cgroup = sk->sk_cgrp_data.cgroup->kn->id; /* plain loads (a NULL reads as 0) */
  /* Port 0: connect() picks the port after this event, from the range; it counts as used from
   * now on, but raises the peak only once it has one (a connect that finds none ends in
   * 2 -> 7 with port 0 and never held a port). Whether the port is in the range matters only
   * when the socket is added or removed (a move leaves `used` alone). */
  if (count_old != count_new) p.in_range = s.sport == 0 || InRange(RangeOf(ns, net), s.sport);
  p.no_peak = s.sport == 0;
  p.peak_now = oldstate == TCP_SYN_SENT && s.sport != 0;
  Stat(SOCKSTATE_TRK_EVENTS);
  if (cur) {
    /* port 0 is never a listener's (ListenerAdd): no lookup */
    p.inbound = child || (s.sport && Inbound(nc, cur, s.sport));
    Apply(ns, cur, &s, count_new ? newstate : -1, count_old ? oldstate : -1, p);
  }
  if (!seed) return 0;
  const __u64 cookie = bpf_get_socket_cookie((void *)sk);
  if (created) {
    NoteCreated(cookie);
  } else if (!bpf_map_lookup_elem(&trk_created, &cookie) &&
             !Walked(&sk->__sk_common, net, nc, seed, cookie)) {
    return 0; /* the walk will count it as it is then */
  }
  p.inbound = child || (s.sport && Inbound(nc, seed, s.sport));
  Apply(ns, seed, &s, count_new ? newstate : -1, count_old ? oldstate : -1, p);
  return 0;
}

#define TRK_STATE_PROG(name, level)                                                    \
  SEC("tp_btf/inet_sock_set_state")                                                   \
  int BPF_PROG(name, const struct sock *sk, const int oldstate, const int newstate) {  \
    __u32 *lvl = LevelOf(0);                                                          \
    if (!Enter(lvl, level)) return 0;                                                 \
    HandleState(sk, oldstate, newstate);                                              \
    Leave(lvl, level, SOCKSTATE_TRK_NESTED_STATE);                                    \
    return 0;                                                                         \
  }
TRK_STATE_PROG(trk_state, 0)
TRK_STATE_PROG(trk_state1, 1)

/* ---- TIME_WAIT and request sockets ---- */

/* The minisocket a timer belongs to (kind 6 TIME_WAIT, 12 request), or 0 for any other
 * timer: one load and two compares. */
static __always_inline int MiniKind(const struct timer_list *t) {
  const __u64 f = (__u64)t->function;
  if (!f) return 0;
  struct sockstate_trk_cfg *cfg = Cfg();
  if (!cfg) return 0;
  if (f == cfg->tw_handler) return TCP_TIME_WAIT;
  if (f == cfg->reqsk_handler) return TCP_NEW_SYN_RECV;
  return 0;
}

static __always_inline const struct sock_common *MiniOf(const struct timer_list *t, int kind) {
  if (kind == TCP_TIME_WAIT)
    return &AS(struct inet_timewait_sock,
               (const char *)t - bpf_core_field_offset(struct inet_timewait_sock, tw_timer))
                ->__tw_common;
  return &AS(struct request_sock,
             (const char *)t - bpf_core_field_offset(struct request_sock, rsk_timer))
              ->__req_common;
}

static __always_inline const struct timer_list *TimerOf(const struct sock_common *c, int kind) {
  if (kind == TCP_TIME_WAIT) return &AS(struct inet_timewait_sock, c)->tw_timer;
  return &AS(struct request_sock, c)->rsk_timer;
}

static __always_inline int MiniKey(const struct sock_common *c, int kind,
                                   struct sockstate_trk_mini_key *k, struct trk_sock *s,
                                   const struct net **net) {
  __builtin_memset(k, 0, sizeof(*k));
  __builtin_memset(s, 0, sizeof(*s));
  if (!ReadAddrs(c, s)) return 0;
  *net = c->skc_net.net;
  s->netns = (*net)->net_cookie;
  s->sport = c->skc_num;
  s->dport = bpf_ntohs(c->skc_dport);
  k->netns = s->netns;
  k->family = s->family;
  k->kind = kind == TCP_TIME_WAIT ? TCP_TIME_WAIT : TCP_NEW_SYN_RECV;
  k->sport = s->sport;
  k->dport = s->dport;
  __builtin_memcpy(k->saddr, s->saddr, 16);
  __builtin_memcpy(k->daddr, s->daddr, 16);
  return 1;
}

/* The state a minisocket is counted in: its substate (TIME_WAIT or FIN_WAIT2), or SYN_RECV. */
static __always_inline int MiniState(const struct sock_common *c, int kind) {
  if (kind != TCP_TIME_WAIT) return TCP_SYN_RECV;
  return AS(struct inet_timewait_sock, c)->tw_substate == TCP_FIN_WAIT2 ? TCP_FIN_WAIT2
                                                                        : TCP_TIME_WAIT;
}

/* The expiry ring slot of a TIME_WAIT timer: the second it fires, modulo the ring. */
static __always_inline __u8 SlotOf(const struct timer_list *t) {
  struct sockstate_trk_cfg *cfg = Cfg();
  const __u64 hz = cfg && cfg->hz ? cfg->hz : 250;
  const __u64 expires = t->expires;
  return (expires / hz) & (SOCKSTATE_TRK_RING - 1);
}

/* The minisocket's place: inbound when its local port has references in `gen`. */
static __always_inline struct trk_place MinePlace(struct sockstate_trk_ns *ns,
                                                  const struct net *net, const struct trk_sock *s,
                                                  __u8 gen, int kind,
                                                  const struct timer_list *t) {
  struct trk_place p = {.slot = 0xff};
  p.inbound = kind != TCP_TIME_WAIT || Inbound(s->netns, gen, s->sport);
  if (!p.inbound) p.in_range = InRange(RangeOf(ns, net), s->sport);
  return p;
}

/* Where an entry is counted: its place, and the ring slot of its word. */
static __always_inline struct trk_place PlaceOf(const struct sockstate_trk_mini_val *v, __u64 w) {
  struct trk_place p = {.inbound = v->inbound, .in_range = v->in_range, .slot = SLOT_OF(w)};
  return p;
}

/* The ring slot a minisocket in `state` counts in: outgoing TIME_WAIT only. */
static __always_inline __u8 RingSlot(const struct trk_place *p, int state,
                                     const struct timer_list *t) {
  return !p->inbound && state == TCP_TIME_WAIT ? SlotOf(t) : 0xff;
}

/* Uncounts an ended minisocket from the generations in `w` that still exist. */
static __always_inline void MiniUncount(struct sockstate_trk_ns *ns, const struct trk_sock *s,
                                        __u64 w, struct trk_place p) {
  if (w & SOCKSTATE_TRK_DEAD) return;
  p.slot = SLOT_OF(w);
  const int state = STATE_OF(w);
  const __u16 gs = ns->gens;
  const __u8 cur = gs & 0xff, seed = gs >> 8;
  if (cur && (w & GEN_BIT(cur))) Count(ns, cur, s, state, p, -1);
  if (seed && (w & GEN_BIT(seed))) Count(ns, seed, s, state, p, -1);
}

static __always_inline int HandleTimerStart(struct timer_list *timer) {
  const int kind = MiniKind(timer);
  if (!kind) return 0;
  const struct sock_common *c = MiniOf(timer, kind);
  struct sockstate_trk_mini_key k;
  struct trk_sock s;
  const struct net *net = 0;
  if (!MiniKey(c, kind, &k, &s, &net)) return 0;
  struct sockstate_trk_ns *ns = NsOf(s.netns, net->ns.inum);
  if (!ns) return 0;
  const __u16 gs = ns->gens;
  const __u8 cur = gs & 0xff, seed = gs >> 8;
  if (!cur && !seed) return 0;
  const int state = MiniState(c, kind);
  struct sockstate_trk_mini_val v = {};
  struct trk_place p = MinePlace(ns, net, &s, cur ? cur : seed, kind, timer);
  p.slot = RingSlot(&p, state, timer);
  __u64 gens = (cur ? GEN_BIT(cur) : 0) | (seed ? GEN_BIT(seed) : 0);
  if (!cur && kind == TCP_TIME_WAIT) {
    /* The first seeding of the namespace: until the walk has been through the listeners,
     * the references that tell an inbound TIME_WAIT socket from an outgoing one are not all
     * there. Counted by the walk instead (it has not reached any socket yet). */
    struct sockstate_trk_seed *sd = Seed();
    if (sd && sd->netns == s.netns && sd->phase < SOCKSTATE_TRK_PHASE_EST) gens = 0;
  }
  v.word = WORD(gens, state, p.slot);
  v.timer = (__u64)timer;
  v.inbound = p.inbound;
  v.in_range = p.in_range;
  long err = bpf_map_update_elem(&trk_mini, &k, &v, BPF_NOEXIST);
  if (err == -EEXIST) { /* a tombstone, or an end not seen: uncount it and take its place */
    struct sockstate_trk_mini_val *old = bpf_map_lookup_elem(&trk_mini, &k);
    if (old) {
      const __u64 w = __sync_lock_test_and_set(&old->word, SOCKSTATE_TRK_DEAD);
      MiniUncount(ns, &s, w, PlaceOf(old, w));
    }
    err = bpf_map_update_elem(&trk_mini, &k, &v, BPF_ANY);
  }
  if (err) {
    Overflow(ns);
    return 0;
  }
  Stat(SOCKSTATE_TRK_BORN);
  if (cur) Count(ns, cur, &s, state, p, 1);
  if (seed && (gens & GEN_BIT(seed))) Count(ns, seed, &s, state, p, 1);
  if (state == TCP_FIN_WAIT2) {
    if (PendingPut(&k, (__u64)timer) != 0) Overflow(ns);
  }
  return 0;
}

static __always_inline int HandleTimerCancel(struct timer_list *timer) {
  const int kind = MiniKind(timer);
  if (!kind) return 0;
  const struct sock_common *c = MiniOf(timer, kind);
  struct sockstate_trk_mini_key k;
  struct trk_sock s;
  const struct net *net = 0;
  if (!MiniKey(c, kind, &k, &s, &net)) return 0;
  struct sockstate_trk_ns *ns = bpf_map_lookup_elem(&trk_ns, &s.netns);
  if (!ns) return 0;
  struct sockstate_trk_mini_val *v = bpf_map_lookup_elem(&trk_mini, &k);
  if (!v || v->timer != (__u64)timer) {
    /* Never counted: older than the tracking. While the namespace is seeded, a tombstone
     * keeps the walk from counting it (it may still be in the hash for a moment). */
    Stat(SOCKSTATE_TRK_UNKNOWN_END);
    if (!v && (ns->gens >> 8)) {
      struct sockstate_trk_mini_val t = {};
      t.word = SOCKSTATE_TRK_DEAD;
      t.timer = (__u64)timer;
      bpf_map_update_elem(&trk_mini, &k, &t, BPF_NOEXIST);
    }
    return 0;
  }
  const __u64 w = __sync_lock_test_and_set(&v->word, SOCKSTATE_TRK_DEAD);
  const struct trk_place p = PlaceOf(v, w);
  bpf_map_delete_elem(&trk_mini, &k);
  if (STATE_OF(w) == TCP_FIN_WAIT2) PendingDelete(&k);
  Stat(SOCKSTATE_TRK_ENDED);
  MiniUncount(ns, &s, w, p);
  return 0;
}

/* Timers are started and cancelled in process, softirq and hardirq context: three levels. */
#define TRK_TIMER_PROG(name, tp, handle, level, stat) \
  SEC("tp_btf/" tp)                                   \
  int BPF_PROG(name, struct timer_list *timer) {     \
    __u32 *lvl = LevelOf(1);                          \
    if (!Enter(lvl, level)) return 0;                 \
    handle(timer);                                    \
    Leave(lvl, level, stat);                          \
    return 0;                                         \
  }
TRK_TIMER_PROG(trk_timer_start, "timer_start", HandleTimerStart, 0, SOCKSTATE_TRK_NESTED_START)
TRK_TIMER_PROG(trk_timer_start1, "timer_start", HandleTimerStart, 1, SOCKSTATE_TRK_NESTED_START)
TRK_TIMER_PROG(trk_timer_start2, "timer_start", HandleTimerStart, 2, SOCKSTATE_TRK_NESTED_START)
TRK_TIMER_PROG(trk_timer_cancel, "timer_cancel", HandleTimerCancel, 0, SOCKSTATE_TRK_NESTED_CANCEL)
TRK_TIMER_PROG(trk_timer_cancel1, "timer_cancel", HandleTimerCancel, 1, SOCKSTATE_TRK_NESTED_CANCEL)
TRK_TIMER_PROG(trk_timer_cancel2, "timer_cancel", HandleTimerCancel, 2, SOCKSTATE_TRK_NESTED_CANCEL)

/* ---- The seeding walk ---- */

static __always_inline void WalkListener(const struct sock_common *c, struct sockstate_trk_ns *ns,
                                         __u64 nc, __u8 gen, __u8 family) {
  const __u64 cookie = bpf_get_socket_cookie((void *)c);
  const __u16 port = c->skc_num;
  struct sockstate_trk_bound_val *v = bpf_map_lookup_elem(&trk_bound, &cookie);
  if (!v) {
    ListenerAdd(ns, nc, cookie, port, family, GEN_BIT(gen));
    return;
  }
  if (v->kind != SOCKSTATE_TRK_LISTEN) return;
  __u64 w = v->word;
  for (int i = 0; i < 4; i++) {
    if ((w & SOCKSTATE_TRK_DEAD) || (w & GEN_BIT(gen))) return;
    const __u64 prev = __sync_val_compare_and_swap(&v->word, w, w | GEN_BIT(gen));
    if (prev == w) {
      if (v->port) PortRefs(ns, nc, gen, v->port, 1); /* (an autobound listener: none) */
      return;
    }
    w = prev;
  }
}

static __always_inline void WalkMini(const struct sock_common *c, int kind,
                                     struct sockstate_trk_ns *ns, __u8 gen) {
  struct sockstate_trk_mini_key k;
  struct trk_sock s;
  const struct net *net = 0;
  if (!MiniKey(c, kind, &k, &s, &net)) return;
  const struct timer_list *t = TimerOf(c, kind);
  const int state = MiniState(c, kind);
  struct sockstate_trk_mini_val v = {};
  struct trk_place p = MinePlace(ns, net, &s, gen, kind, t);
  p.slot = RingSlot(&p, state, t);
  v.word = WORD(GEN_BIT(gen), state, p.slot);
  v.timer = (__u64)t;
  v.inbound = p.inbound;
  v.in_range = p.in_range;
  const long err = bpf_map_update_elem(&trk_mini, &k, &v, BPF_NOEXIST);
  if (!err) {
    Stat(SOCKSTATE_TRK_WALK_BORN);
    Count(ns, gen, &s, state, p, 1);
    if (state == TCP_FIN_WAIT2) {
      PendingPut(&k, (__u64)t);
    }
    return;
  }
  struct sockstate_trk_mini_val *e = bpf_map_lookup_elem(&trk_mini, &k);
  if (!e) { /* the map is full */
    struct sockstate_trk_seed *seed = Seed();
    if (seed) seed->overflow = 1;
    return;
  }
  __u64 w = e->word;
  if (!(w & (SOCKSTATE_TRK_GENS | SOCKSTATE_TRK_DEAD))) {
    /* born before the walk reached the sockets, not classified yet: classify it now (only
     * the walk touches an entry without a generation, until it adds one) */
    e->inbound = p.inbound;
    e->in_range = p.in_range;
    const __u8 slot = RingSlot(&p, STATE_OF(w), t);
    const __u64 nw = WORD(GEN_BIT(gen), STATE_OF(w), slot);
    if (__sync_val_compare_and_swap(&e->word, w, nw) == w) {
      Count(ns, gen, &s, STATE_OF(w), PlaceOf(e, nw), 1);
    }
    return;
  }
  for (int i = 0; i < 4; i++) {
    if ((w & SOCKSTATE_TRK_DEAD) || (w & GEN_BIT(gen))) return; /* ended, or counted at birth */
    const __u64 prev = __sync_val_compare_and_swap(&e->word, w, w | GEN_BIT(gen));
    if (prev == w) {
      Count(ns, gen, &s, STATE_OF(w), PlaceOf(e, w), 1);
      return;
    }
    w = prev;
  }
}

static __always_inline void WalkFull(const struct sock_common *c, struct sockstate_trk_ns *ns,
                                     const struct net *net, __u8 gen, __u64 cookie, int state) {
  if (!Counted(state)) return;
  if (bpf_map_lookup_elem(&trk_created, &cookie)) return; /* counted by its events */
  struct trk_sock s;
  __builtin_memset(&s, 0, sizeof(s));
  if (!ReadAddrs(c, &s)) return;
  s.netns = net->net_cookie;
  s.sport = c->skc_num;
  s.dport = bpf_ntohs(c->skc_dport);
  struct trk_place p = {.slot = 0xff};
  p.in_range = InRange(RangeOf(ns, net), s.sport);
  p.inbound = Inbound(s.netns, gen, s.sport);
  p.cgroup = BPF_CORE_READ((const struct sock *)c, sk_cgrp_data.cgroup, kn, id);
  Count(ns, gen, &s, state, p, 1);
}

SEC("iter/tcp")
int trk_iter(struct bpf_iter__tcp *ctx) {
  const struct sock_common *c = ctx->sk_common;
  if (!c) return 0;
  struct sockstate_trk_seed *seed = Seed();
  if (!seed || !seed->netns) return 0;
  const struct net *net = c->skc_net.net;
  const __u64 nc = net->net_cookie;
  if (nc != seed->netns) return 0;
  const __u8 gen = seed->gen;
  struct sockstate_trk_ns *ns = bpf_map_lookup_elem(&trk_ns, &nc);
  if (!ns) return 0;
  const int state = c->skc_state;
  const unsigned short f = c->skc_family;
  if (state == TCP_LISTEN) {
    WalkListener(c, ns, nc, gen, f == AF_INET6 ? AF_INET6 : AF_INET);
    return 0;
  }
  seed->phase = SOCKSTATE_TRK_PHASE_EST;
  const __u32 bucket = BucketOf(c, net);
  seed->walked += 1;
  /* One read() of an iterator stops with EAGAIN after a million objects that wrote nothing:
   * a byte every 65,536 sockets lets it return them and the next read() go on. */
  if ((seed->walked & 0xffff) == 0) {
    const char b = '.';
    bpf_seq_write(ctx->meta->seq, &b, 1);
  }
  if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV) {
    if (bucket > seed->bucket) seed->bucket = bucket;
    WalkMini(c, state, ns, gen);
    return 0;
  }
  const __u64 cookie = bpf_get_socket_cookie((void *)c);
  /* This socket is locked while it is walked: record it walked, then count it. */
  seed->ring[seed->pos & (SOCKSTATE_TRK_SEED_RING - 1)] = cookie;
  seed->pos += 1;
  if (bucket > seed->bucket) seed->bucket = bucket;
  WalkFull(c, ns, net, gen, cookie, state);
  return 0;
}

/* ---- Bind and close (cgroup v2 root) ---- */

static __always_inline int PostBind(struct bpf_sock *ctx) {
  /* (the kernel runs post_bind only when bind() took a port: not for IP_BIND_ADDRESS_NO_PORT) */
  if (ctx->protocol != IPPROTO_TCP || !ctx->src_port) return 1;
  const struct net *net = AS(struct sock, ctx)->__sk_common.skc_net.net; /* ctx is the sock */
  if (!net) return 1;
  const __u64 nc = net->net_cookie;
  struct sockstate_trk_ns *ns = NsOf(nc, net->ns.inum);
  if (!ns) return 1;
  BoundAdd(ns, nc, bpf_get_socket_cookie(ctx), ctx->src_port,
           ctx->family == AF_INET6 ? AF_INET6 : AF_INET);
  return 1;
}

SEC("cgroup/post_bind4")
int trk_post_bind4(struct bpf_sock *ctx) { return PostBind(ctx); }

SEC("cgroup/post_bind6")
int trk_post_bind6(struct bpf_sock *ctx) { return PostBind(ctx); }

/* close() of the last descriptor of a socket (before the protocol's close). */
SEC("cgroup/sock_release")
int trk_release(struct bpf_sock *ctx) {
  if (ctx->protocol != IPPROTO_TCP) return 1;
  const struct sock *sk = AS(struct sock, ctx); /* ctx is the sock: plain loads */
  const int state = ctx->state;
  const __u16 num = sk->__sk_common.skc_num; /* ctx->src_port: post_bind programs only */
  const __u8 locks = sk->sk_userlocks;
  /* Nothing to do for a connected socket with a port connect() picked (no entry: a bound
   * socket's ends at its connect), nor for a closed one without a port. */
  if (state != TCP_CLOSE && state != TCP_LISTEN && !(locks & SOCK_BINDPORT_LOCK)) return 1;
  if (state == TCP_CLOSE && !num) return 1;
  const __u64 cookie = bpf_get_socket_cookie(ctx);
  struct sockstate_trk_bound_val *v = bpf_map_lookup_elem(&trk_bound, &cookie);
  if (v) {
    if (v->kind == SOCKSTATE_TRK_BOUND) {
      struct sockstate_trk_ns *ns = bpf_map_lookup_elem(&trk_ns, &v->netns);
      BoundEnd(ns, v->netns, cookie);
    } else if (v->kind == SOCKSTATE_TRK_LISTEN) {
      v->pad = 1; /* its CLOSE leaves no bound-inactive socket behind */
    }
    return 1;
  }
  const struct net *net = sk->__sk_common.skc_net.net;
  const __u64 nc = net ? net->net_cookie : 0;
  if (state == TCP_CLOSE) {
    /* A bound socket not known yet: while its namespace's bound sockets are seeded from a
     * dump (older than this close), a tombstone keeps the dump from bringing it back. */
    struct sockstate_trk_ns *ns = bpf_map_lookup_elem(&trk_ns, &nc);
    if (ns && ns->bseed) BoundEnd(ns, nc, cookie);
    return 1;
  }
  if (!(locks & SOCK_BINDPORT_LOCK)) return 1;
  /* Connected, holding an explicit port: its later CLOSE must not count it bound-inactive. */
  struct sockstate_trk_bound_val r = {};
  r.netns = nc;
  r.kind = SOCKSTATE_TRK_RELEASING;
  r.word = SOCKSTATE_TRK_DEAD;
  bpf_map_update_elem(&trk_bound, &cookie, &r, BPF_NOEXIST);
  return 1;
}

/* ---- Control (BPF_PROG_TEST_RUN from user space) ---- */

static long SweepOne(struct bpf_map *map, struct sockstate_trk_mini_key *key, __u64 *timer,
                     void *ctx) {
  struct sockstate_trk_mini_val *v = bpf_map_lookup_elem(&trk_mini, key);
  if (!v || v->timer != *timer) {
    PendingDelete(key);
    return 0;
  }
  const __u64 w = v->word;
  if ((w & SOCKSTATE_TRK_DEAD) || STATE_OF(w) != TCP_FIN_WAIT2) {
    PendingDelete(key);
    return 0;
  }
  const struct inet_timewait_sock *tw = AS(struct inet_timewait_sock,
      *timer - bpf_core_field_offset(struct inet_timewait_sock, tw_timer));
  if (tw->tw_substate != TCP_TIME_WAIT) return 0; /* still FIN_WAIT2 */
  const __u8 slot = v->inbound ? 0xff : SlotOf(&tw->tw_timer);
  const __u64 nw = WORD(w & SOCKSTATE_TRK_GENS, TCP_TIME_WAIT, slot);
  if (__sync_val_compare_and_swap(&v->word, w, nw) == w) {
    struct sockstate_trk_ns *ns = bpf_map_lookup_elem(&trk_ns, &key->netns);
    if (ns) {
      struct trk_sock s;
      __builtin_memset(&s, 0, sizeof(s));
      s.netns = key->netns;
      s.family = key->family;
      s.fam = key->family == AF_INET6;
      s.sport = key->sport;
      s.dport = key->dport;
      __builtin_memcpy(s.saddr, key->saddr, 16);
      __builtin_memcpy(s.daddr, key->daddr, 16);
      const struct trk_place p = PlaceOf(v, w);
      const __u16 gs = ns->gens;
      const __u8 cur = gs & 0xff, seed = gs >> 8;
      if (cur && (w & GEN_BIT(cur))) MoveToTimeWait(ns, cur, &s, p, slot);
      if (seed && (w & GEN_BIT(seed))) MoveToTimeWait(ns, seed, &s, p, slot);
    }
    Stat(SOCKSTATE_TRK_SWEPT);
  }
  PendingDelete(key);
  return 0;
}

static long PeakOne(struct bpf_map *map, struct sockstate_trk_tuple_key *key,
                    struct sockstate_trk_tuple_val *v, __u32 *epoch) {
  v->peak[*epoch & 1] = v->used;
  return 0;
}

SEC("raw_tp")
int trk_control(struct bpf_raw_tracepoint_args *ctx) {
  const __u64 op = ctx->args[0];
  __u32 zero = 0;
  if (op == SOCKSTATE_TRK_OP_SWEEP) {
    if (trk_pending_entries > 0) bpf_for_each_map_elem(&trk_pending, SweepOne, 0, 0);
    return 0;
  }
  if (op == SOCKSTATE_TRK_OP_SET_GEN) {
    __u64 nc = ctx->args[1];
    struct sockstate_trk_ns *ns = NsOf(nc, (__u32)ctx->args[2]);
    if (!ns) return 1;
    ns->bseed = ctx->args[5] != 0;
    /* cur and seed in one store: an event sees both old or both new */
    ns->gens = (__u16)((ctx->args[3] & 0xff) | ((ctx->args[4] & 0xff) << 8));
    return 0;
  }
  if (op == SOCKSTATE_TRK_OP_SEED_BEGIN) {
    struct sockstate_trk_seed *seed = Seed();
    __u64 nc = ctx->args[1];
    struct sockstate_trk_ns *ns = NsOf(nc, (__u32)ctx->args[3]);
    if (!seed || !ns) return 1;
    /* The seed generation's totals slot last served the generation before the current one. */
    const __u32 slot = ctx->args[2] & 1;
    for (int f = 0; f < 2; f++) {
      for (int i = 0; i < SOCKSTATE_TRK_STATES; i++) ns->st[slot][f][i] = 0;
    }
    seed->gen = (__u32)ctx->args[2];
    seed->phase = SOCKSTATE_TRK_PHASE_LISTEN;
    seed->bucket = 0;
    seed->pos = 0;
    seed->overflow = 0;
    seed->walked = 0;
    for (int i = 0; i < SOCKSTATE_TRK_SEED_RING; i++) seed->ring[i] = 0;
    seed->netns = ctx->args[1];
    return 0;
  }
  if (op == SOCKSTATE_TRK_OP_SEED_END) {
    struct sockstate_trk_seed *seed = Seed();
    if (!seed) return 1;
    if (ctx->args[1]) {
      seed->phase = SOCKSTATE_TRK_PHASE_DONE;
    } else {
      seed->netns = 0;
      seed->phase = SOCKSTATE_TRK_PHASE_IDLE;
    }
    return 0;
  }
  if (op == SOCKSTATE_TRK_OP_PEAK_EPOCH) {
    struct sockstate_trk_cfg *cfg = Cfg();
    if (!cfg) return 1;
    __u32 epoch = (__u32)ctx->args[1];
    cfg->epoch = epoch;
    bpf_for_each_map_elem(&trk_tuples, PeakOne, &epoch, 0);
    return 0;
  }
  if (op == SOCKSTATE_TRK_OP_CLOCK) {
    struct sockstate_trk_clock *clk = bpf_map_lookup_elem(&trk_clock, &zero);
    if (!clk) return 1;
    clk->jiffies = bpf_jiffies64();
    clk->ns = bpf_ktime_get_ns();
    return 0;
  }
  return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";  /* the same in every file of the object */
