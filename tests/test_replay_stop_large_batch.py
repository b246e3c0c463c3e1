"""A stop in the middle of a large batch of a verified program (issue 14):
a replay with 4096-packet batches whose program takes milliseconds per
packet (bpf_loop over 2**20 empty callbacks, so a batch would take many
seconds) is cancelled after a moment. cancel() returns at once: the chain
reads the source's cancel flag between runs (hooks/csrc/dp_chain.h), and
the rest of the batch is not run. The packets counted -- the summary, its
verdicts, the pass output, the hook's and the program's counters -- are
the packets decided, all of them, once each. (Unverified programs are
stopped inside a run too: tests/test_service_stop_midbatch.py.)"""
from __future__ import annotations

import time

import pytest

from dataplane.hooks import Hook, bind
from dataplane.replay import Replay
from dataplane.runtime.collection import Collection

from support.hooks import frame, write_pcap
from support.progs import compile_src

BATCH = 4096
SLOW_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static long nothing(__u32 i, void *ctx) { return 0; }

SEC("xdp") int slow(struct xdp_md *ctx)
{
	bpf_loop(1 << 20, nothing, NULL, 0);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def _records(path) -> int:
    import struct
    raw = path.read_bytes()
    n, off = 0, 24
    while off + 16 <= len(raw):
        off += 16 + struct.unpack_from("<I", raw, off + 8)[0]
        n += 1
    assert off == len(raw)
    return n


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_cancel_lands_inside_a_large_batch(clang, tmp_path, engine):
    obj = compile_src(clang, SLOW_C, tmp_path, "slow")
    coll = Collection.load(str(obj), engine=engine)
    prog = bind(coll, "slow")
    trace = write_pcap(tmp_path / "in.pcap", [frame(i) for i in range(BATCH)])
    out = tmp_path / "pass.pcap"
    h = Hook("big")
    h.attach(prog)
    r = Replay(h, trace, loop=0, outputs={"pass": str(out)}, batch=BATCH).start()
    time.sleep(1.0)
    t0 = time.monotonic()
    r.cancel()
    summary = r.wait(30)
    took = time.monotonic() - t0
    assert summary.error is None and summary.cancelled
    assert took < 2.0, f"cancel took {took:.2f}s"
    n = summary.packets
    assert 0 < n < BATCH, summary          # the first batch, cut part-way
    assert summary.verdicts["pass"] == n and summary.written["pass"] == n == _records(out)
    assert h.totals()["runs"] == n
    st = h.stats(detached=True)
    assert sum(s["runs"] for s in st.values()) == n and sum(s["packets"]["pass"] for s in st.values()) == n
