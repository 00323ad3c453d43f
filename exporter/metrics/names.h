#pragma once
// Every metric family the exporter publishes, declared once: its name, its help and its type.
// Producers (the sources' AddFamilies(), the collector) write a family through its constant
// (FamilySet::Add(metric::kX, ...)) and readers (scrape/port_overview.cpp, the landing page and
// --once) find it by the same constant's name, so a renamed family cannot leave a reader
// behind. No other file of exporter/ spells a family name, and these are exactly the families
// of docs/metrics-spec.md (both checked by tests/structure/check_metric_names.py). Naming: Prometheus conventions (base units in the name, `_total` for
// counters, `_ratio` for 0..1).

namespace sockstate {

/// The kinds of family the exporter writes.
enum class MetricType { kGauge, kCounter, kHistogram };

/// One family: what `# HELP` and `# TYPE` say. Constant; thread-safe.
struct MetricDef {
  const char* name;
  const char* help;
  MetricType type;
};

namespace metric {

// The exporter itself and the scrape (scrape/collector.cpp)

inline constexpr MetricDef kScrapeSourceSuccess{"sockstate_scrape_source_success",
    "1 when the source was read (a missing optional file counts as success), 0 when it "
    "failed; the exporter logs why.",
    MetricType::kGauge};
inline constexpr MetricDef kScrapeSourceDurationSeconds{"sockstate_scrape_source_duration_seconds",
    "Time spent reading the source.",
    MetricType::kGauge};
inline constexpr MetricDef kNetnsInfo{"sockstate_netns_info",
    "A network namespace the exporter reads, with its container and pod if known.",
    MetricType::kGauge};
inline constexpr MetricDef kNetnsScrapeSuccess{"sockstate_netns_scrape_success",
    "1 when every source of the namespace was read, 0 otherwise.",
    MetricType::kGauge};
inline constexpr MetricDef kNetnsScrapeDurationSeconds{"sockstate_netns_scrape_duration_seconds",
    "Time spent reading the namespace in this scrape.",
    MetricType::kGauge};
inline constexpr MetricDef kBuildInfo{"sockstate_build_info",
    "Build of the exporter; the value is always 1.",
    MetricType::kGauge};
inline constexpr MetricDef kScrapesTotal{"sockstate_scrapes_total",
    "Scrape requests answered since start.",
    MetricType::kCounter};
inline constexpr MetricDef kNetlinkDumpsTotal{"sockstate_netlink_dumps_total",
    "sock_diag dumps run since start. Concurrent scrapes share one dump.",
    MetricType::kCounter};
inline constexpr MetricDef kConfigLastReloadSuccessful{"sockstate_config_last_reload_successful",
    "1 when the last configuration (re)load succeeded.",
    MetricType::kGauge};
inline constexpr MetricDef kConfigLastReloadSuccessTimestampSeconds{"sockstate_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful configuration load.",
    MetricType::kGauge};
inline constexpr MetricDef kNetnsDiscovered{"sockstate_netns_discovered",
    "Network namespaces found by discovery.",
    MetricType::kGauge};
inline constexpr MetricDef kNetnsSkipped{"sockstate_netns_skipped",
    "Network namespaces not read: beyond namespaces.max_namespaces or the scrape budget.",
    MetricType::kGauge};

// UDP sockets and ports (sources/udp_source.cpp, docs/udp.md)

inline constexpr MetricDef kUdpSockets{"sockstate_udp_sockets",
    "UDP sockets with a local port, by address family and state (unconnected or connected), "
    "from a netlink sock_diag dump. IPv4-mapped IPv6 sockets count as ipv4.",
    MetricType::kGauge};
inline constexpr MetricDef kUdpEphemeralPortsUsed{"sockstate_udp_ephemeral_ports_used",
    "Distinct ports of the ephemeral range (reserved ones excluded) held by UDP sockets of the "
    "namespace, either family, any local address, connected or not: the ports a new socket "
    "without a local address or reuse flag cannot get, whatever its destination.",
    MetricType::kGauge};
inline constexpr MetricDef kUdpEphemeralPortUsablePorts{"sockstate_udp_ephemeral_port_usable_ports",
    "Ports a UDP socket can be given automatically: ip_local_port_range minus the reserved "
    "ports inside it.",
    MetricType::kGauge};
inline constexpr MetricDef kUdpOccupancyRatio{"sockstate_udp_occupancy_ratio",
    "UDP ports used / usable in the namespace. At 1.0 bind(0) fails with EADDRINUSE and "
    "connect()/sendto() on a socket without a port with EAGAIN, for every destination.",
    MetricType::kGauge};
inline constexpr MetricDef kUdpSocketsSharingPorts{"sockstate_udp_sockets_sharing_ports",
    "UDP sockets on a port of the range that another UDP socket of the namespace holds too "
    "(other local addresses, SO_REUSEADDR or SO_REUSEPORT): sockets minus distinct ports.",
    MetricType::kGauge};
inline constexpr MetricDef kUdpLocalAddressEphemeralPortsUsed{"sockstate_udp_local_address_ephemeral_ports_used",
    "Ports of the range a bind(local_address, 0) cannot get: held at that address or by a "
    "wildcard socket covering it (top udp.local_addresses_top_k addresses).",
    MetricType::kGauge};
inline constexpr MetricDef kUdpLocalAddressOccupancyRatio{"sockstate_udp_local_address_occupancy_ratio",
    "Ports used at the local address (with the wildcards covering it) / usable.",
    MetricType::kGauge};
inline constexpr MetricDef kUdpLocalAddressesFolded{"sockstate_udp_local_addresses_folded",
    "Local addresses holding UDP ports beyond udp.local_addresses_top_k (no series of their "
    "own; never more occupied than the namespace).",
    MetricType::kGauge};
inline constexpr MetricDef kUdpLocalAddressUntrackedSockets{"sockstate_udp_local_address_untracked_sockets",
    "UDP sockets of local addresses beyond the 64 tracked per namespace (their ports still "
    "count in sockstate_udp_ephemeral_ports_used).",
    MetricType::kGauge};
inline constexpr MetricDef kUdpDestinationSockets{"sockstate_udp_destination_sockets",
    "Connected UDP sockets per destination (groups, top K, other, as for TCP).",
    MetricType::kGauge};
inline constexpr MetricDef kUdpDestinationEphemeralPortsUsed{"sockstate_udp_destination_ephemeral_ports_used",
    "Connected UDP sockets per destination whose local port is in the ephemeral range: the "
    "ports it holds of the namespace's one UDP range.",
    MetricType::kGauge};
inline constexpr MetricDef kUdpDestinationsFolded{"sockstate_udp_destinations_folded",
    "Distinct connected UDP destinations beyond top_k, folded into destination=\"other\".",
    MetricType::kGauge};
inline constexpr MetricDef kUdpDestinationUntrackedSockets{"sockstate_udp_destination_untracked_sockets",
    "Connected UDP sockets beyond destinations.max_tuples (local address, destination) pairs, "
    "counted only in destination=\"other\".",
    MetricType::kGauge};

// connect() failures counted by the kernel (sources/connect_failures_source.cpp)

inline constexpr MetricDef kConnectFailuresAvailable{"sockstate_connect_failures_available",
    "1 when connect() failures are counted by the kernel (BPF program loaded and attached), 0 "
    "when not (see the exporter's start-up log for why).",
    MetricType::kGauge};
inline constexpr MetricDef kConnectFailuresUdpAvailable{"sockstate_connect_failures_udp_available",
    "1 when UDP port-allocation failures are counted too (--collector.connect-failures.udp: "
    "fexit on the kernel's UDP get_port, or the system-call exit tracepoint), 0 when not.",
    MetricType::kGauge};
inline constexpr MetricDef kConnectFailuresTotal{"sockstate_connect_failures_total",
    "Failed TCP connect()s counted by the kernel, by destination and reason: no_local_port "
    "(EADDRNOTAVAIL, no free ephemeral port for that destination), refused (RST or ICMP port "
    "unreachable), timed_out (SYN retries ran out), unreachable (another ICMP error), "
    "abandoned (closed by the application while connecting: not a failure of the "
    "destination). protocol=\"udp\": UDP sockets that found no free local port at all "
    "(bind(0) EADDRINUSE, connect()/sendto() EAGAIN), per namespace, no destination.",
    MetricType::kCounter};
inline constexpr MetricDef kWorkloadConnectFailuresTotal{"sockstate_workload_connect_failures_total",
    "Failed TCP connect()s (and UDP port-allocation failures, protocol=\"udp\") counted by "
    "the kernel, by the failing socket's workload (pod UID, container id, systemd unit or "
    "cgroup path, from its cgroup v2 id), protocol and reason.",
    MetricType::kCounter};
inline constexpr MetricDef kConnectFailuresMapOverflowTotal{"sockstate_connect_failures_map_overflow_total",
    "Failed connect()s the kernel program could not count because its map was full (more "
    "distinct failing keys between two scrapes than it holds).",
    MetricType::kCounter};

// Conntrack and NAT ports (sources/conntrack_source.cpp)

inline constexpr MetricDef kConntrackEntries{"sockstate_conntrack_entries",
    "Conntrack entries in the namespace (nf_conntrack_count).",
    MetricType::kGauge};
inline constexpr MetricDef kConntrackEntriesLimit{"sockstate_conntrack_entries_limit",
    "Most conntrack entries (nf_conntrack_max, host-wide); when full, new connections are "
    "dropped.",
    MetricType::kGauge};
inline constexpr MetricDef kConntrackBuckets{"sockstate_conntrack_buckets",
    "Buckets of the conntrack hash table (host-wide).",
    MetricType::kGauge};
inline constexpr MetricDef kConntrackDumpPermitted{"sockstate_conntrack_dump_permitted",
    "0 when the ctnetlink dump was refused (no CAP_NET_ADMIN, nat.enabled: auto): no "
    "per-destination NAT series then; 1 otherwise.",
    MetricType::kGauge};
inline constexpr MetricDef kConntrackDumpEntries{"sockstate_conntrack_dump_entries",
    "Conntrack entries in the last dump by protocol.",
    MetricType::kGauge};
inline constexpr MetricDef kConntrackTcpEntries{"sockstate_conntrack_tcp_entries",
    "TCP conntrack entries in the last dump by conntrack state.",
    MetricType::kGauge};
inline constexpr MetricDef kNatTimeWaitTakeover{"sockstate_nat_time_wait_takeover",
    "1 when the model assumes SNAT takes over ports of TIME_WAIT/CLOSE entries (Linux 6.5+ or "
    "nat.time_wait_takeover: on), else 0.",
    MetricType::kGauge};
inline constexpr MetricDef kNatUntrackedEntries{"sockstate_nat_untracked_entries",
    "TCP/UDP entries of tuples beyond nat.max_tuples, counted only in destination \"other\".",
    MetricType::kGauge};
inline constexpr MetricDef kNatPortsUsed{"sockstate_nat_ports_used",
    "Local (NAT) ports held toward the destination, summed over local addresses: conntrack "
    "entries by kind (snat: IPS_SRC_NAT, direct: the host's own or forwarded unNATed) and "
    "state (blocking, or reclaimable by a new SNAT mapping).",
    MetricType::kGauge};
inline constexpr MetricDef kNatPortsBlockingMax{"sockstate_nat_ports_blocking_max",
    "Blocking ports of the fullest (local address, destination) tuple.",
    MetricType::kGauge};
inline constexpr MetricDef kNatUsablePorts{"sockstate_nat_usable_ports",
    "NAT ports usable per (local address, destination) tuple (config nat.usable_ports or the "
    "group's).",
    MetricType::kGauge};
inline constexpr MetricDef kNatOccupancyRatio{"sockstate_nat_occupancy_ratio",
    "Blocking ports of the fullest (local address, destination) tuple over the usable NAT "
    "ports: 1 means the next new connection to it through the NAT is dropped.",
    MetricType::kGauge};
inline constexpr MetricDef kNatTuples{"sockstate_nat_tuples",
    "(local address, destination) tuples with entries.",
    MetricType::kGauge};
inline constexpr MetricDef kNatDestinationsFolded{"sockstate_nat_destinations_folded",
    "Destinations folded into \"other\" (beyond top_k or the series cap).",
    MetricType::kGauge};

// The O(1) occupancy bound of a namespace (sources/occupancy_bound_source.cpp)

inline constexpr MetricDef kNetnsOccupancyBoundRatio{"sockstate_netns_occupancy_bound_ratio",
    "Upper bound on the occupancy of every outgoing tuple of the namespace, from O(1) "
    "counters: (TCP inuse + TCP6 inuse + tw) / (range - reserved - sockets used).",
    MetricType::kGauge};
inline constexpr MetricDef kNetnsUdpOccupancyBoundRatio{"sockstate_netns_udp_occupancy_bound_ratio",
    "Upper bound on the namespace's UDP occupancy from O(1) counters: (UDP inuse + UDP6 inuse) "
    "/ (range - reserved). The namespace is dumped when this or the TCP bound reaches "
    "namespaces.detail_threshold.",
    MetricType::kGauge};
inline constexpr MetricDef kNetnsDetailed{"sockstate_netns_detailed",
    "1 when the namespace got exact per-destination series this scrape (a sock_diag dump, or "
    "the tracker's counts: reason \"tracker\"), 0 when only its bound was read; reason says why.",
    MetricType::kGauge};

// /proc/net files (sources/proc_sources.cpp)

inline constexpr MetricDef kSockstatTcpMemBytes{"sockstate_sockstat_tcp_mem_bytes",
    "Memory of TCP socket buffers, host-wide (/proc/net/sockstat mem pages * page size).",
    MetricType::kGauge};
inline constexpr MetricDef kSnmpTcpCurrestab{"sockstate_snmp_tcp_currestab",
    "Connections in ESTABLISHED or CLOSE_WAIT (Tcp CurrEstab).",
    MetricType::kGauge};
inline constexpr MetricDef kSnmpUdpIndatagramsTotal{"sockstate_snmp_udp_indatagrams_total",
    "UDP datagrams delivered to sockets (/proc/net/snmp Udp InDatagrams, family ipv4; /proc/net/snmp6 Udp6InDatagrams, family "
    "ipv6). Port-allocation failures are not counted here.",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpUdpNoportsTotal{"sockstate_snmp_udp_noports_total",
    "UDP datagrams for a port nobody listens on (answered with ICMP port unreachable) (/proc/net/snmp Udp NoPorts, family ipv4; /proc/net/snmp6 Udp6NoPorts, family "
    "ipv6). Port-allocation failures are not counted here.",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpUdpInerrorsTotal{"sockstate_snmp_udp_inerrors_total",
    "UDP datagrams that could not be delivered (receive buffer full, checksum, ...) (/proc/net/snmp Udp InErrors, family ipv4; /proc/net/snmp6 Udp6InErrors, family "
    "ipv6). Port-allocation failures are not counted here.",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpUdpOutdatagramsTotal{"sockstate_snmp_udp_outdatagrams_total",
    "UDP datagrams sent (/proc/net/snmp Udp OutDatagrams, family ipv4; /proc/net/snmp6 Udp6OutDatagrams, family "
    "ipv6). Port-allocation failures are not counted here.",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpUdpRcvbuferrorsTotal{"sockstate_snmp_udp_rcvbuferrors_total",
    "UDP datagrams dropped because the socket's receive buffer was full (/proc/net/snmp Udp RcvbufErrors, family ipv4; /proc/net/snmp6 Udp6RcvbufErrors, family "
    "ipv6). Port-allocation failures are not counted here.",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpUdpSndbuferrorsTotal{"sockstate_snmp_udp_sndbuferrors_total",
    "UDP datagrams not sent for lack of send buffer (/proc/net/snmp Udp SndbufErrors, family ipv4; /proc/net/snmp6 Udp6SndbufErrors, family "
    "ipv6). Port-allocation failures are not counted here.",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpUdpMemerrorsTotal{"sockstate_snmp_udp_memerrors_total",
    "UDP datagrams dropped for lack of memory (udp_mem) (/proc/net/snmp Udp MemErrors, family ipv4; /proc/net/snmp6 Udp6MemErrors, family "
    "ipv6). Port-allocation failures are not counted here.",
    MetricType::kCounter};

// Sockets, destinations and the port budget from sock_diag (sources/sock_diag_source.cpp)

inline constexpr MetricDef kDestinationSockets{"sockstate_destination_sockets",
    "Outgoing TCP sockets per destination and state (inbound connections excluded).",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationEphemeralPortsUsed{"sockstate_destination_ephemeral_ports_used",
    "Ephemeral ports used by the destination: sockets of its tuples in any non-LISTEN state "
    "whose local port is inside the range, summed over its tuples.",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationEphemeralPortsUsedMax{"sockstate_destination_ephemeral_ports_used_max",
    "Ephemeral ports used by the destination's fullest (src addr, dst addr, dst port) tuple.",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationOccupancyRatio{"sockstate_destination_occupancy_ratio",
    "Occupancy of the destination's fullest tuple: ports used / usable ports. At 1.0 "
    "connect() to it fails with EADDRNOTAVAIL.",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationTuples{"sockstate_destination_tuples",
    "Distinct (src addr, dst addr, dst port) tuples of the destination.",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationTimeWaitRemainingSeconds{"sockstate_destination_time_wait_remaining_seconds",
    "Remaining TIME_WAIT lifetime of the destination's sockets: how soon their ports come "
    "back.",
    MetricType::kHistogram};
inline constexpr MetricDef kEphemeralPortRangePorts{"sockstate_ephemeral_port_range_ports",
    "Ports in net.ipv4.ip_local_port_range (high - low + 1).",
    MetricType::kGauge};
inline constexpr MetricDef kEphemeralPortReservedPorts{"sockstate_ephemeral_port_reserved_ports",
    "Ports of ip_local_reserved_ports inside the ephemeral range.",
    MetricType::kGauge};
inline constexpr MetricDef kEphemeralPortBindHeldPorts{"sockstate_ephemeral_port_bind_held_ports",
    "Distinct ports inside the range, not reserved, held by bind() (listeners, bound-inactive "
    "sockets): connect() skips them for every destination.",
    MetricType::kGauge};
inline constexpr MetricDef kEphemeralPortUsablePorts{"sockstate_ephemeral_port_usable_ports",
    "Ephemeral ports connect() can use per destination tuple: range - reserved - bind_held.",
    MetricType::kGauge};
inline constexpr MetricDef kTcpSockets{"sockstate_tcp_sockets",
    "TCP sockets by address family and state, from a netlink sock_diag dump. IPv4-mapped IPv6 "
    "sockets count as ipv4.",
    MetricType::kGauge};
inline constexpr MetricDef kNetlinkDumpSockets{"sockstate_netlink_dump_sockets",
    "Sockets in the last sock_diag dump (both families).",
    MetricType::kGauge};
inline constexpr MetricDef kTupleOccupancyRatio{"sockstate_tuple_occupancy_ratio",
    "Occupancy (ports used / usable) of every outgoing tuple, folded ones included.",
    MetricType::kHistogram};
inline constexpr MetricDef kDestinationsFolded{"sockstate_destinations_folded",
    "Distinct unmatched destinations (addr:port) beyond top_k, folded into "
    "destination=\"other\".",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationUntrackedSockets{"sockstate_destination_untracked_sockets",
    "Sockets of tuples beyond destinations.max_tuples, counted only in destination=\"other\" "
    "(its used_max is then not reported).",
    MetricType::kGauge};
inline constexpr MetricDef kInboundSockets{"sockstate_inbound_sockets",
    "Inbound (accepted) TCP sockets per local service port and state.",
    MetricType::kGauge};
inline constexpr MetricDef kInboundServicesFolded{"sockstate_inbound_services_folded",
    "Listening ports beyond inbound.top_k, folded into service=\"other\".",
    MetricType::kGauge};
inline constexpr MetricDef kTimeWaitBucketUsageRatio{"sockstate_time_wait_bucket_usage_ratio",
    "TIME_WAIT sockets (both families) / tcp_max_tw_buckets. At 1.0 new TIME_WAIT sockets are "
    "dropped (TCPTimeWaitOverflow).",
    MetricType::kGauge};

// Who holds the ports (sources/sock_diag_source.cpp, sources/time_wait_owners_source.cpp;
// docs/workloads.md)

inline constexpr MetricDef kDestinationWorkloadSockets{"sockstate_destination_workload_sockets",
    "Outgoing TCP sockets per destination, workload (systemd unit, container, pod, cgroup; "
    "\"unknown\" when the owner is not known, \"other\" beyond workloads.top_k) and state.",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationWorkloadEphemeralPortsUsed{"sockstate_destination_workload_ephemeral_ports_used",
    "Ephemeral ports the workload's sockets to the destination use (inside the range, any "
    "non-LISTEN state, TIME_WAIT included).",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationWorkloadsFolded{"sockstate_destination_workloads_folded",
    "(destination, workload) pairs folded into workload=\"other\" (beyond workloads.top_k per "
    "destination or workloads.max_series in all).",
    MetricType::kGauge};
inline constexpr MetricDef kTimeWaitUnknownOwnerSockets{"sockstate_time_wait_unknown_owner_sockets",
    "Outgoing TIME_WAIT sockets whose workload is \"unknown\": older than the kernel program, "
    "pushed out of its map by newer ones, or the kernel program is not running.",
    MetricType::kGauge};
inline constexpr MetricDef kTimeWaitOwnersAvailable{"sockstate_time_wait_owners_available",
    "1 when the kernel program that records who owns each TIME_WAIT socket runs; 0: every "
    "TIME_WAIT socket's workload is \"unknown\".",
    MetricType::kGauge};
inline constexpr MetricDef kTimeWaitOwnerEntries{"sockstate_time_wait_owner_entries",
    "Records in the kernel program's map (the latest sockets that entered TIME_WAIT on an "
    "ephemeral port; records of ended ones stay until newer ones push them out).",
    MetricType::kGauge};
inline constexpr MetricDef kTimeWaitOwnerEntriesMax{"sockstate_time_wait_owner_entries_max",
    "Most records the map holds (workloads.time_wait_max_sockets).",
    MetricType::kGauge};
inline constexpr MetricDef kTimeWaitOwnerMapBytes{"sockstate_time_wait_owner_map_bytes",
    "Kernel memory of the map of recorded TIME_WAIT sockets (preallocated: entries_max x "
    "bytes per entry).",
    MetricType::kGauge};
inline constexpr MetricDef kTimeWaitOwnerRecordedTotal{"sockstate_time_wait_owner_recorded_total",
    "Sockets recorded entering TIME_WAIT on an ephemeral port (host-wide, every namespace): "
    "the map should hold more than two minutes of them.",
    MetricType::kCounter};

// Kernel settings (sources/sysctl_source.cpp)

inline constexpr MetricDef kSysctlIpLocalPortRangeLow{"sockstate_sysctl_ip_local_port_range_low",
    "net.ipv4.ip_local_port_range, first ephemeral port (inclusive).",
    MetricType::kGauge};
inline constexpr MetricDef kSysctlIpLocalPortRangeHigh{"sockstate_sysctl_ip_local_port_range_high",
    "net.ipv4.ip_local_port_range, last ephemeral port (inclusive).",
    MetricType::kGauge};
inline constexpr MetricDef kSysctlIpLocalReservedPorts{"sockstate_sysctl_ip_local_reserved_ports",
    "Number of ports in net.ipv4.ip_local_reserved_ports (anywhere, not only in the range).",
    MetricType::kGauge};
inline constexpr MetricDef kSysctlTcpTwReuse{"sockstate_sysctl_tcp_tw_reuse",
    "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only. Lets connect() reuse TIME_WAIT "
    "ports (needs tcp_timestamps).",
    MetricType::kGauge};
inline constexpr MetricDef kSysctlTcpTwReuseDelaySeconds{"sockstate_sysctl_tcp_tw_reuse_delay_seconds",
    "net.ipv4.tcp_tw_reuse_delay (6.14+): minimum TIME_WAIT age before reuse.",
    MetricType::kGauge};
inline constexpr MetricDef kSysctlTcpMaxTwBuckets{"sockstate_sysctl_tcp_max_tw_buckets",
    "net.ipv4.tcp_max_tw_buckets: TIME_WAIT sockets allowed in the namespace.",
    MetricType::kGauge};
inline constexpr MetricDef kSysctlTcpFinTimeoutSeconds{"sockstate_sysctl_tcp_fin_timeout_seconds",
    "net.ipv4.tcp_fin_timeout: lifetime of orphaned FIN_WAIT2 (not TIME_WAIT).",
    MetricType::kGauge};
inline constexpr MetricDef kSysctlTcpTimestamps{"sockstate_sysctl_tcp_timestamps",
    "net.ipv4.tcp_timestamps (0 off, 1 on with random offsets, 2 on without).",
    MetricType::kGauge};
// /proc/net/sockstat and sockstat6 (sources/proc_sources.cpp)

inline constexpr MetricDef kSockstatTcpInuse{"sockstate_sockstat_tcp_inuse",
    "TCP sockets in use in the namespace, TIME_WAIT excluded (/proc/net/sockstat).",
    MetricType::kGauge};
inline constexpr MetricDef kSockstatTcpOrphan{"sockstate_sockstat_tcp_orphan",
    "Orphaned TCP sockets, host-wide (/proc/net/sockstat).",
    MetricType::kGauge};
inline constexpr MetricDef kSockstatTcpTw{"sockstate_sockstat_tcp_tw",
    "TIME_WAIT sockets of the namespace, IPv4 and IPv6 (/proc/net/sockstat).",
    MetricType::kGauge};
inline constexpr MetricDef kSockstatTcpAlloc{"sockstate_sockstat_tcp_alloc",
    "Allocated TCP sockets, host-wide (/proc/net/sockstat).",
    MetricType::kGauge};
inline constexpr MetricDef kSockstat6Tcp6Inuse{"sockstate_sockstat6_tcp6_inuse",
    "IPv6 TCP sockets in use in the namespace (/proc/net/sockstat6).",
    MetricType::kGauge};
inline constexpr MetricDef kSockstatUdpInuse{"sockstate_sockstat_udp_inuse",
    "UDP sockets with a port in the namespace (/proc/net/sockstat UDP inuse).",
    MetricType::kGauge};
inline constexpr MetricDef kSockstatUdpMemBytes{"sockstate_sockstat_udp_mem_bytes",
    "Memory of UDP socket buffers, host-wide (/proc/net/sockstat UDP mem pages * page size).",
    MetricType::kGauge};
inline constexpr MetricDef kSockstat6Udp6Inuse{"sockstate_sockstat6_udp6_inuse",
    "IPv6 UDP sockets with a port in the namespace (/proc/net/sockstat6 UDP6 inuse).",
    MetricType::kGauge};

// /proc/net/netstat TcpExt counters (sources/proc_sources.cpp)

inline constexpr MetricDef kNetstatTcpextTwTotal{"sockstate_netstat_tcpext_tw_total",
    "TCP sockets that entered TIME_WAIT (TcpExt TW): its rate is the rate at which ports go "
    "into quarantine.",
    MetricType::kCounter};
inline constexpr MetricDef kNetstatTcpextTwkilledTotal{"sockstate_netstat_tcpext_twkilled_total",
    "TIME_WAIT sockets killed before their time (TcpExt TWKilled).",
    MetricType::kCounter};
inline constexpr MetricDef kNetstatTcpextTwrecycledTotal{"sockstate_netstat_tcpext_twrecycled_total",
    "TIME_WAIT sockets reused by connect() thanks to tcp_tw_reuse (TcpExt TWRecycled).",
    MetricType::kCounter};
inline constexpr MetricDef kNetstatTcpextTcptimewaitoverflowTotal{"sockstate_netstat_tcpext_tcptimewaitoverflow_total",
    "TIME_WAIT sockets not created because tcp_max_tw_buckets was reached (TcpExt "
    "TCPTimeWaitOverflow).",
    MetricType::kCounter};
inline constexpr MetricDef kNetstatTcpextTcpabortoncloseTotal{"sockstate_netstat_tcpext_tcpabortonclose_total",
    "Connections reset because the application closed with unread data (TcpExt "
    "TCPAbortOnClose).",
    MetricType::kCounter};
inline constexpr MetricDef kNetstatTcpextListenoverflowsTotal{"sockstate_netstat_tcpext_listenoverflows_total",
    "Accept queue overflows of listeners (TcpExt ListenOverflows).",
    MetricType::kCounter};
inline constexpr MetricDef kNetstatTcpextListendropsTotal{"sockstate_netstat_tcpext_listendrops_total",
    "SYNs dropped by listeners (TcpExt ListenDrops).",
    MetricType::kCounter};

// /proc/net/snmp Tcp counters (sources/proc_sources.cpp)

inline constexpr MetricDef kSnmpTcpActiveopensTotal{"sockstate_snmp_tcp_activeopens_total",
    "Outgoing connections opened: connect() reached SYN_SENT (Tcp ActiveOpens). Its rate is "
    "the churn that consumes ephemeral ports.",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpTcpPassiveopensTotal{"sockstate_snmp_tcp_passiveopens_total",
    "Inbound connections accepted (Tcp PassiveOpens).",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpTcpAttemptfailsTotal{"sockstate_snmp_tcp_attemptfails_total",
    "Connection attempts that failed (Tcp AttemptFails). EADDRNOTAVAIL is not counted here.",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpTcpEstabresetsTotal{"sockstate_snmp_tcp_estabresets_total",
    "Established connections reset (Tcp EstabResets).",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpTcpRetranssegsTotal{"sockstate_snmp_tcp_retranssegs_total",
    "Segments retransmitted (Tcp RetransSegs).",
    MetricType::kCounter};
inline constexpr MetricDef kSnmpTcpOutrstsTotal{"sockstate_snmp_tcp_outrsts_total",
    "RST segments sent (Tcp OutRsts).",
    MetricType::kCounter};

// /proc/net/stat/nf_conntrack (sources/conntrack_source.cpp)

inline constexpr MetricDef kConntrackFoundTotal{"sockstate_conntrack_found_total",
    "Lookups that found an existing conntrack entry (/proc/net/stat/nf_conntrack, summed over "
    "CPUs).",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackInvalidTotal{"sockstate_conntrack_invalid_total",
    "Packets conntrack could not track (invalid).",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackIgnoreTotal{"sockstate_conntrack_ignore_total",
    "Packets that already had a conntrack entry or were untracked.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackInsertTotal{"sockstate_conntrack_insert_total",
    "Entries inserted into the table.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackInsertFailedTotal{"sockstate_conntrack_insert_failed_total",
    "Entries that could not be inserted (a clash, e.g. no free NAT port): the packet is "
    "dropped.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackDropTotal{"sockstate_conntrack_drop_total",
    "Packets dropped because conntrack failed (insert failed or table full).",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackEarlyDropTotal{"sockstate_conntrack_early_drop_total",
    "Entries evicted to make room when the table was full.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackIcmpErrorTotal{"sockstate_conntrack_icmp_error_total",
    "ICMP errors that did not match a known connection.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackExpectNewTotal{"sockstate_conntrack_expect_new_total",
    "Expectations that matched.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackExpectCreateTotal{"sockstate_conntrack_expect_create_total",
    "Expectations created.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackExpectDeleteTotal{"sockstate_conntrack_expect_delete_total",
    "Expectations deleted.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackSearchRestartTotal{"sockstate_conntrack_search_restart_total",
    "Table lookups restarted because of a concurrent resize.",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackClashResolveTotal{"sockstate_conntrack_clash_resolve_total",
    "Insert clashes that were resolved (e.g. parallel UDP packets).",
    MetricType::kCounter};
inline constexpr MetricDef kConntrackChaintoolongTotal{"sockstate_conntrack_chaintoolong_total",
    "Inserts refused because a hash chain was too long.",
    MetricType::kCounter};
// HTTP server (http/rejected_requests.cpp)

inline constexpr MetricDef kHttpRequestsRejectedTotal{"sockstate_http_requests_rejected_total",
    "HTTP requests the exporter turned away, by reason: unauthorized (401, basic auth), "
    "scrape_limit (503, --web.max-requests scrapes in progress), bcrypt_limit (503, too many "
    "password checks in progress).",
    MetricType::kCounter};

// ---- Counts kept from kernel events (--collector.tracker; docs/architecture.md) ----
inline constexpr MetricDef kTrackerAvailable{"sockstate_tracker_available",
    "1 when the kernel program that keeps socket counts from events is loaded and attached; 0: "
    "every namespace is read by a sock_diag dump (or bounded) as without it.",
    MetricType::kGauge};
inline constexpr MetricDef kTrackerInUse{"sockstate_tracker_in_use",
    "1 when this namespace's socket counts came from the tracker's maps this scrape (no dump); "
    "0 when from a dump or its occupancy bound (not seeded yet, a map overflowed, tracker off).",
    MetricType::kGauge};
inline constexpr MetricDef kDestinationOccupancyPeakRatio{"sockstate_destination_occupancy_peak_ratio",
    "Highest ports used by the destination's fullest tuple over the peak window "
    "(tracker.peak_window_seconds) / usable ports now (0..1): a burst between scrapes shows here.",
    MetricType::kGauge};
inline constexpr MetricDef kTrackerDriftSockets{"sockstate_tracker_drift_sockets",
    "Sockets by which the namespace's counts differed from the walk of its last reconcile "
    "(summed over destination tuples, inbound ports and states; corrected by the reconcile).",
    MetricType::kGauge};
inline constexpr MetricDef kTrackerReconcilesTotal{"sockstate_tracker_reconciles_total",
    "Walks of the namespace compared with its counts (tracker.reconcile_interval_seconds).",
    MetricType::kCounter};
inline constexpr MetricDef kTrackerOverflowTotal{"sockstate_tracker_overflow_total",
    "Counts of the namespace lost because a tracker map was full (then it is read by dumps "
    "until its next reconcile); absent while none.",
    MetricType::kCounter};
inline constexpr MetricDef kTrackerEventsTotal{"sockstate_tracker_events_total",
    "Kernel events the tracker counted: state_change (full sockets), born and ended "
    "(TIME_WAIT and request sockets), swept (FIN_WAIT2 minisockets found in TIME_WAIT), nested "
    "(counted by the program of a deeper nesting level).",
    MetricType::kCounter};
inline constexpr MetricDef kTrackerLostEventsTotal{"sockstate_tracker_lost_events_total",
    "Kernel events no tracker program counted (nested on one CPU deeper than its programs "
    "reach): each makes every tracked namespace reconciled at once.",
    MetricType::kCounter};
inline constexpr MetricDef kTrackerMapEntries{"sockstate_tracker_map_entries",
    "Entries in each tracker map (trk_mini: TIME_WAIT and request sockets born minus ended); "
    "kernel bytes per entry in docs/configuration.md (tracker section).",
    MetricType::kGauge};
inline constexpr MetricDef kTrackerMapMaxEntries{"sockstate_tracker_map_max_entries",
    "Capacity of each tracker map (the tracker section of the configuration).",
    MetricType::kGauge};
inline constexpr MetricDef kTrackerMapBytes{"sockstate_tracker_map_bytes",
    "Kernel memory of each tracker map's entries (entries x (key + value + the kernel's 48-byte "
    "element header), an estimate; the maps allocate as entries appear, up to their capacity).",
    MetricType::kGauge};
inline constexpr MetricDef kTrackerNamespaces{"sockstate_tracker_namespaces",
    "Namespaces the tracker knows by state: tracked (counts served), seeding (first walk "
    "pending), fallback (a map overflowed or the port range changed since the last walk).",
    MetricType::kGauge};

}  // namespace metric

}  // namespace sockstate
