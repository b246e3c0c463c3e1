# A tiny packet filter in the conformance suite's assembly syntax.
# r1 = the frame, r2 = its length. Returns XDP_PASS (2) for IPv4 TCP and
# UDP to port 53, XDP_DROP (1) for everything else.
    mov %r0, 1              # XDP_DROP unless proven otherwise
    jlt %r2, 34, out        # shorter than Ethernet + IPv4 header
    ldxh %r3, [%r1+12]      # EtherType, read little-endian
    jne %r3, 0x0008, out    # 0x0800 (IPv4) in network byte order
    ldxb %r4, [%r1+23]      # IPv4 protocol
    jeq %r4, 6, pass        # TCP
    jne %r4, 17, out        # neither TCP nor UDP
    jlt %r2, 42, out        # no room for the UDP header
    ldxh %r5, [%r1+36]      # UDP destination port
    be16 %r5
    jne %r5, 53, out
pass:
    mov %r0, 2              # XDP_PASS
out:
    exit
