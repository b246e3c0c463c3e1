"""The network namespace model behind bpf_fib_lookup, bpf_check_mtu and the
socket lookups.

XDP helpers that route (``bpf_fib_lookup``), check MTUs (``bpf_check_mtu``)
or find sockets (``bpf_sk_lookup_tcp/udp``, ``bpf_skc_lookup_tcp``) act on
the network namespace of the receiving device. The dataplane runs in user
space, so it keeps a model of one (``core.Net``): devices (ifindex, MTU,
MAC, per-device forwarding), addresses, the routing tables and policy
rules, neighbours, and the TCP/UDP sockets of the namespace. It is learnt
from a real namespace (rtnetlink and sock_diag, with pyroute2:
``learn.learn``, ``prog run --netns``) or set by the control plane
(``Net.apply``). Without one, a collection gets a fresh namespace's model:
loopback only, no routes, no sockets - so every socket lookup misses
(NULL), exactly as the kernel's do in a fresh namespace.

Lookup semantics follow net/core/filter.c and the kernel's FIB: rules (or
local+main merged while the rules are the defaults), longest prefix, route
types (blackhole/unreachable/prohibit/throw), dead/linkdown next hops, the
oif of BPF_FIB_LOOKUP_OUTPUT, the MTU check (locked route MTU, device MTU),
preferred source addresses and NUD_VALID neighbours, and for IPv4 multipath
routes the kernel's path selection (fib_multipath_hash with the namespace's
hash policy, seed and fields; fib_rebalance's weighted upper bounds;
fib_multipath_use_neigh) -- exact when net.ipv4.fib_multipath_hash_seed is
set. With the seed unset (the kernel's random key) the hash takes a random
key of this process (csrc/mphash.c): valid, stable paths, not the kernel's
per flow. For IPv6 multipath routes a lookup that would hash returns
-EOPNOTSUPP instead of a path that may differ. Not modelled: IPv6 multipath, nexthop objects, IPv6
source-specific routes, PMTU exceptions, VRFs, lightweight tunnels.

Socket lookups follow sk_lookup of net/core/filter.c: established (and
request / time-wait) sockets by the exact 4-tuple, then the best listener
(bound device, family), exact local address before the wildcard; UDP by the
kernel's score (connected peer, bound device, family). A full-socket lookup
turns a request socket into its listener and a time-wait socket into NULL.
The sockets are a snapshot (as of learn/apply); a socket found holds that
snapshot until bpf_sk_release. Not modelled: SO_REUSEPORT group selection
(the first socket of the best score), sk_incoming_cpu, peer namespace ids
(a non-negative netns_id finds nothing), fields sock_diag does not report
(sk_priority is 0, rx_queue_mapping -1).
"""
