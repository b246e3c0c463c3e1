"""The network namespace model behind bpf_fib_lookup and bpf_check_mtu.

XDP helpers that route (``bpf_fib_lookup``) or check MTUs
(``bpf_check_mtu``) act on the network namespace of the receiving device.
The dataplane keeps a model of one (``core.Net``): devices (ifindex, MTU,
MAC, per-device forwarding), addresses, the routing tables and policy
rules, neighbours. It is learnt from a real namespace over rtnetlink with
pyroute2 (``learn.learn``) or set by the control plane (``Net.apply``).

Lookup semantics follow net/core/filter.c and the kernel's FIB: rules (or
local+main merged while the rules are the defaults), longest prefix, route
types (blackhole/unreachable/prohibit/throw), dead/linkdown next hops, the
oif of BPF_FIB_LOOKUP_OUTPUT, the MTU check (locked route MTU, device MTU),
preferred source addresses and NUD_VALID neighbours. Not modelled: the
multipath hash (the first live next hop of a multipath route is used),
IPv6 source-specific routes, PMTU exceptions, VRFs, lightweight tunnels.
"""
