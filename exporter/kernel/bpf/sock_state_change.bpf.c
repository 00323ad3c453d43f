// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The one program on the stable tracepoint sock:inet_sock_set_state (tp_btf: attached through
 * BTF, no tracefs) for two features: failed TCP connect()s (connect_failures.bpf.h) and the
 * owners of TIME_WAIT sockets (time_wait_owners.bpf.h). One program, not one per feature: a
 * loopback connection changes state ~10 times, and every program on the tracepoint runs on
 * every change, host-wide; a run that only dismisses the change costs about as much as the
 * dismissing itself is cheap (the program call, docs/performance.md "TIME_WAIT owners").
 * Both features' programs lists name it; each turns its part on from user space after the
 * load: connect failures with the global below, TIME_WAIT owners with the ring's size. The
 * state tracker (tracker.bpf.c) keeps programs of its own (its nesting-level copies).
 *
 * Every transition but ... -> CLOSE returns after one compare. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "connect_failures.bpf.h"
#include "time_wait_owners.bpf.h"

/* Non-zero: count failed TCP connect()s (written by user space after the load, when the
 * connect-failure feature is on: kernel/connect_failure_probe.cpp). */
__u64 cf_count_tcp = 0;

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sock_state_change, const struct sock *sk, const int oldstate, const int newstate) {
  if (newstate != TCP_CLOSE) return 0;
  if (oldstate == TCP_SYN_SENT) {
    if (cf_count_tcp) CountTcpConnectFailure(sk);
  } else if (oldstate == TCP_FIN_WAIT2 || oldstate == TCP_CLOSING) {
    RecordTimeWaitOwner(sk);
  }
  return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL"; /* the same in every file of the object */
