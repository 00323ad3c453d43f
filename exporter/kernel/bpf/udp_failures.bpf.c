// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Counts UDP port-allocation failures host-wide: a UDP socket that needed an ephemeral port
 * (bind() to port 0, or the automatic bind of connect(), sendto(), sendmsg(), sendmmsg() on a
 * socket that has none) and found none free in its network namespace. Such a port is not
 * shared per destination (docs/udp.md): when the range is full every destination fails, bind()
 * with EADDRINUSE, the others with EAGAIN, and the kernel counts it nowhere.
 *
 * Two ways to see it, chosen by user space (kernel/bpf_object.cpp loads only one):
 *  - fexit on udp_v4_get_port / udp_v6_get_port, the get_port of the UDP protocols: port 0
 *    asked (snum 0) and a non-zero return is exactly this failure, whatever the system call
 *    (io_uring included); an explicit port that is taken (snum != 0) is not counted. Needs
 *    BPF trampolines, which some kernels refuse (EPERM at load).
 *  - the system-call exit tracepoint (raw_syscalls:sys_exit): connect(), sendto(), sendmsg()
 *    or sendmmsg() returning -EAGAIN for a UDP socket that still has no port, bind() returning
 *    -EADDRINUSE when the address asked for port 0. Every system call of the host runs it
 *    (two compares before it returns for all others), which is its cost.
 * The failing socket gives the namespace, the family and the cgroup (workload); a UDP failure
 * has no destination. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "core_types.h"
#include "failure_map.h"

/* System call numbers, per architecture (the tables of arch/x86 and of asm-generic). */
#define X86_BIND 49
#define X86_CONNECT 42
#define X86_SENDTO 44
#define X86_SENDMSG 46
#define X86_SENDMMSG 307
#define GENERIC_BIND 200
#define GENERIC_CONNECT 203
#define GENERIC_SENDTO 206
#define GENERIC_SENDMSG 211
#define GENERIC_SENDMMSG 269

/* Counts one failure of `sk` if it is a UDP socket (IPv4 or IPv6). */
static __always_inline void CountUdpFailure(const struct sock *sk) {
  if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP) return;
  const unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return;
  struct sockstate_cf_key key;
  __builtin_memset(&key, 0, sizeof(key));
  key.family = family;
  key.reason = SOCKSTATE_CF_NO_LOCAL_PORT;
  key.protocol = IPPROTO_UDP;
  key.netns_inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
  key.cgroup_id = SocketCgroupId(sk);
  CountFailure(&key);
}

SEC("fexit/udp_v4_get_port")
int BPF_PROG(cf_udp_v4_get_port, struct sock *sk, unsigned short snum, int ret) {
  if (ret != 0 && snum == 0) CountUdpFailure(sk);
  return 0;
}

SEC("fexit/udp_v6_get_port")
int BPF_PROG(cf_udp_v6_get_port, struct sock *sk, unsigned short snum, int ret) {
  if (ret != 0 && snum == 0) CountUdpFailure(sk);
  return 0;
}

/* The socket of file descriptor `fd` of the current task, or NULL. */
static __always_inline const struct sock *SocketOfFd(unsigned long fd) {
  struct task_struct *task = bpf_get_current_task_btf();
  const struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *file = NULL;
  if (bpf_probe_read_kernel(&file, sizeof(file), fds + fd) || !file) return NULL;
  const struct socket *sock = BPF_CORE_READ(file, private_data);
  return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(cf_udp_sys_exit, struct pt_regs *regs, long ret) {
  if (ret != -EAGAIN && ret != -EADDRINUSE) return 0;
  long nr;
  unsigned long fd, arg1;
  int bind, connect_or_send;
  if (bpf_core_field_exists(((struct pt_regs___x86 *)0)->orig_ax)) {
    const struct pt_regs___x86 *r = (const void *)regs;
    nr = BPF_CORE_READ(r, orig_ax);
    fd = BPF_CORE_READ(r, di);
    arg1 = BPF_CORE_READ(r, si);
    bind = nr == X86_BIND;
    connect_or_send = nr == X86_CONNECT || nr == X86_SENDTO || nr == X86_SENDMSG ||
                      nr == X86_SENDMMSG;
  } else if (bpf_core_field_exists(((struct pt_regs___arm64 *)0)->syscallno)) {
    const struct pt_regs___arm64 *r = (const void *)regs;
    nr = BPF_CORE_READ(r, syscallno);
    fd = BPF_CORE_READ(r, orig_x0);
    arg1 = BPF_CORE_READ(r, regs[1]);
    bind = nr == GENERIC_BIND;
    connect_or_send = nr == GENERIC_CONNECT || nr == GENERIC_SENDTO ||
                      nr == GENERIC_SENDMSG || nr == GENERIC_SENDMMSG;
  } else {
    return 0;
  }
  if (ret == -EAGAIN && !connect_or_send) return 0;
  if (ret == -EADDRINUSE && !bind) return 0;
  const struct sock *sk = SocketOfFd(fd);
  /* Still without a local port: the automatic bind failed (a send on a bound socket can
   * return EAGAIN too, with its port kept). */
  if (!sk || BPF_CORE_READ(sk, __sk_common.skc_num) != 0) return 0;
  if (bind) {
    /* sin_port and sin6_port are both at offset 2 of the address the caller passed. */
    __u16 port = 1;
    if (bpf_probe_read_user(&port, sizeof(port), (const void *)(arg1 + 2)) || port != 0)
      return 0;
  }
  CountUdpFailure(sk);
  return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";  /* the same in every file of the object */
