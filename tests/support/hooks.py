"""Shared by tests/test_hooks_*.py and tests/test_replay_*.py: small XDP test
programs for chain semantics, compiled with clang, and pcap helpers."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import require
from dataplane.hooks import bind
from dataplane.io.pcap import PcapWriter
from dataplane.runtime.collection import Collection


# Programs for chain tests. Packets are >= 64 bytes; byte 47 counts the
# programs a packet went through and bytes 48.. record their ids in order
# (so an output packet tells which chain it saw). The verdict of `decide`
# is byte 30 of the packet, given it sees stamp 0xA1 at byte 20 from `mark`.
def stamp_c(max_stamps: int) -> str:
    """The C of ``stamp(ctx, id)``: append ``id`` to the packet's stamp list
    (count at byte 47, ids from byte 48), at most ``max_stamps``."""
    return r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __always_inline int stamp(struct xdp_md *ctx, __u8 id)
{
	__u8 *d = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u8 *p;
	__u8 n;

	if (d + 64 > end)
		return XDP_ABORTED;
	n = d[47];
	if (n >= MAX_STAMPS)
		return XDP_ABORTED;
	p = d + 48 + n;          /* variable offset: bounds-check the result again */
	if (p + 1 > end)
		return XDP_ABORTED;
	*p = id;
	d[47] = n + 1;
	return XDP_PASS;
}
""".replace("MAX_STAMPS", str(max_stamps))


CHAIN_C = stamp_c(8) + r"""
SEC("xdp") int stamp1(struct xdp_md *ctx) { return stamp(ctx, 1); }
SEC("xdp") int stamp2(struct xdp_md *ctx) { return stamp(ctx, 2); }
SEC("xdp") int stamp3(struct xdp_md *ctx) { return stamp(ctx, 3); }

SEC("xdp") int mark(struct xdp_md *ctx)
{
	__u8 *d = (void *)(long)ctx->data;
	if (d + 64 > (__u8 *)(long)ctx->data_end)
		return XDP_DROP;
	d[20] = 0xA1;
	return XDP_PASS;
}

SEC("xdp") int decide(struct xdp_md *ctx)
{
	__u8 *d = (void *)(long)ctx->data;
	if (d + 64 > (__u8 *)(long)ctx->data_end)
		return XDP_DROP;
	if (d[20] != 0xA1)
		return XDP_ABORTED;
	d[21] = 0xB2;
	return d[30];
}

SEC("xdp") int redirect7(struct xdp_md *ctx) { return bpf_redirect(7, 0); }

SEC("xdp") int pop4(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, 4))
		return XDP_ABORTED;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""


def progs(obj: Path, engine: str, *names: str):
    """One collection of ``obj``; BoundPrograms for ``names``. ``engine``:
    interp, jit (verified, unchecked) or jit-checked (unverified, checked)."""
    if engine == "jit-checked":
        coll = Collection.load(str(obj), engine="jit", verify=False)
    else:
        coll = Collection.load(str(obj), engine=engine)
    return coll, [bind(coll, n) for n in names]


def write_pcap(path: Path, packets: list[bytes]) -> Path:
    with PcapWriter(str(path)) as w:
        for i, p in enumerate(packets):
            w.write(p, ts_ns=1_700_000_000_000_000_000 + i * 1000)
    return path


def read_pcap(path: Path) -> list[bytes]:
    """Packets of a pcap, read back with scapy (an independent reader)."""
    from scapy.utils import rdpcap
    return [bytes(p) for p in rdpcap(str(path))]


def tcpdump_count(path: Path) -> int:
    """Packets tcpdump -r reads from ``path`` (fails when it cannot read it)."""
    require(shutil.which("tcpdump") is not None, "tcpdump")
    proc = subprocess.run(["tcpdump", "--count", "-r", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # "N packets" on the last line (stdout or stderr, depending on the version)
    last = (proc.stdout.strip() or proc.stderr.strip()).splitlines()[-1]
    assert last.endswith(" packets"), proc.stdout + proc.stderr
    return int(last.split()[0])


def frame(i: int = 0, size: int = 64, verdict_byte: int = 2) -> bytes:
    """A raw Ethernet frame with a counter and the byte `decide` returns."""
    b = bytearray(size)
    b[0:6] = b"\x02\x00\x00\x00\x00\x0b"
    b[6:12] = b"\x02\x00\x00\x00\x00\x0a"
    b[12:14] = b"\x88\xb5"              # local experimental EtherType
    b[14:18] = i.to_bytes(4, "big")
    b[30] = verdict_byte
    return bytes(b)
