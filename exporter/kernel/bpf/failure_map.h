/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The failures map shared by sock_state_change.bpf.c (TCP, connect_failures.bpf.h) and
 * udp_failures.bpf.c (UDP), and the one way to count into it. The maps are __weak: every program
 * file that includes this header defines them, and the static linker (bpftool gen object) keeps one
 * of each, so both programs count into the same map and user space drains one map. */
#ifndef SOCKSTATE_BPF_FAILURE_MAP_H_
#define SOCKSTATE_BPF_FAILURE_MAP_H_

#include "connect_failures.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the entries in use */
  __uint(max_entries, SOCKSTATE_CF_MAX_ENTRIES);
  __type(key, struct sockstate_cf_key);
  __type(value, __u64);
} cf_failures SEC(".maps") __weak;

/* [0]: failures not counted because the map was full. Never reset by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} cf_overflow SEC(".maps") __weak;

/* Adds one failure under `key` (fully initialised, padding zeroed); into cf_overflow when the
 * map is full. */
static __always_inline void CountFailure(const struct sockstate_cf_key *key) {
  __u64 *count = bpf_map_lookup_elem(&cf_failures, key);
  if (count) {
    __sync_fetch_and_add(count, 1);
    return;
  }
  __u64 one = 1;
  long err = bpf_map_update_elem(&cf_failures, key, &one, BPF_NOEXIST);
  if (err == -EEXIST) { /* another CPU inserted it meanwhile */
    count = bpf_map_lookup_elem(&cf_failures, key);
    if (count) __sync_fetch_and_add(count, 1);
  } else if (err) {
    __u32 zero = 0;
    __u64 *lost = bpf_map_lookup_elem(&cf_overflow, &zero);
    if (lost) __sync_fetch_and_add(lost, 1);
  }
}

/* The socket's cgroup v2 id (its creator's; right in softirq context too), else the current
 * task's. */
static __always_inline __u64 SocketCgroupId(const struct sock *sk) {
  __u64 id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
  return id ? id : bpf_get_current_cgroup_id();
}

#endif /* SOCKSTATE_BPF_FAILURE_MAP_H_ */
