"""BPF_MAP_TYPE_BLOOM_FILTER against the running kernel (maps/csrc/bloom.c).

With BPF_F_ZERO_SEED both sides hash with seed 0, so the same pushed values
give the same peek answers -- false positives included, which the tests
make sure occur (small filters) -- through the syscall side and through a
program run by BPF_PROG_TEST_RUN and by the dataplane's interpreter and
JIT; creation attributes fail with the kernel's errno."""
from __future__ import annotations

import errno
import random

import pytest

from dataplane.abi import maps as A
from dataplane.errors import MapError, VerifierError
from dataplane.io import kbpf
from dataplane.io.kload import kernel_prog_run
from dataplane.maps import Map
from dataplane.runtime.collection import Collection

from support.diff import dataplane_prog_run

BLOOM = A.BPF_MAP_TYPE_BLOOM_FILTER
ZS = A.BPF_F_ZERO_SEED


@pytest.fixture(autouse=True)
def _root(root_required):
    pass


def _kernel(fn, *args, **kw):
    try:
        return ("ok", fn(*args, **kw))
    except kbpf.KernelBpfError as e:
        return ("err", e.errno)


def _ours(fn, *args, **kw):
    try:
        return ("ok", fn(*args, **kw))
    except MapError as e:
        return ("err", e.kind)


# (key_size, value_size, max_entries, flags, map_extra)
CREATE = [(0, 4, 100, 0, 0), (4, 4, 100, 0, 0), (0, 0, 100, 0, 0), (0, 4, 0, 0, 0), (0, 4, 100, 0, 15),
          (0, 4, 100, 0, 16), (0, 4, 100, 0, 1 << 40), (0, 4, 100, A.BPF_F_NO_PREALLOC, 0), (0, 4, 100, ZS, 3),
          (0, 4, 100, A.BPF_F_RDONLY_PROG, 0), (0, 4, 100, A.BPF_F_RDONLY_PROG | A.BPF_F_WRONLY_PROG, 0),
          (0, 4, 100, A.BPF_F_MMAPABLE, 0), (0, 1 << 23, 4, 0, 0), (0, 13, 1, 0, 1)]


@pytest.mark.parametrize("case", CREATE, ids=lambda c: "-".join(map(str, c)))
def test_create_errno_as_kernel(case):
    ks, vs, me, fl, extra = case
    k = _kernel(kbpf.map_create, BLOOM, ks, vs, me, fl, "bf", map_extra=extra)
    if k[0] == "ok":
        kbpf.close(k[1])
    o = _ours(Map, BLOOM, ks, vs, me, fl, "bf", map_extra=extra)
    assert (k[0], k[1] if k[0] == "err" else None) == (o[0], o[1] if o[0] == "err" else None), (case, k, o)


@pytest.mark.parametrize("value_size", [4, 6, 16, 13])     # jhash2 and jhash, one and several rounds
def test_syscall_push_and_peek_match_kernel(value_size):
    rng = random.Random(value_size)
    extra = 3 if value_size == 6 else 0
    fd = kbpf.map_create(BLOOM, 0, value_size, 24, ZS, "bf", map_extra=extra)
    try:
        m = Map(BLOOM, 0, value_size, 24, ZS, "bf", map_extra=extra)
        pushed = [rng.randbytes(value_size) for _ in range(24)]
        for v in pushed:
            kbpf.map_update(fd, None, v, A.BPF_ANY)
            m.update(None, v, A.BPF_ANY)
        probes = pushed + [rng.randbytes(value_size) for _ in range(400)]
        k = [_kernel(kbpf.map_lookup, fd, None, value_size, value=v) for v in probes]
        o = [_ours(m.lookup, v) for v in probes]
        k = ["in" if r[0] == "ok" else r[1] for r in k]
        o = ["in" if r[0] == "ok" and r[1] is not None else errno.ENOENT if r[0] == "ok" else r[1] for r in o]
        assert k == o
        assert k[:24] == ["in"] * 24                            # no false negatives
        assert "in" in k[24:] and errno.ENOENT in k[24:]        # false positives happen, identically
        # what the syscall side refuses, and with which errno
        for what, kf, of in (
                ("update NOEXIST", lambda: kbpf.map_update(fd, None, pushed[0], A.BPF_NOEXIST),
                 lambda: m.update(None, pushed[0], A.BPF_NOEXIST)),
                ("update EXIST", lambda: kbpf.map_update(fd, None, pushed[0], A.BPF_EXIST),
                 lambda: m.update(None, pushed[0], A.BPF_EXIST)),
                ("delete", lambda: kbpf.map_delete(fd, None), lambda: m.delete(None)),
                ("get_next_key", lambda: kbpf.map_get_next_key(fd, None, 0), lambda: m.get_next_key(None)),
                ("lookup_and_delete", lambda: kbpf.map_lookup_and_delete(fd, None, value_size),
                 lambda: m.lookup_and_delete(None))):
            kr, orr = _kernel(kf), _ours(of)
            assert kr[0] == orr[0] == "err" and kr[1] == orr[1], (what, kr, orr)
    finally:
        kbpf.close(fd)


BLOOM_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__type(value, __u32);
	__uint(max_entries, 4);
	__uint(map_flags, BPF_F_ZERO_SEED);
} bf4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(value_size, 6);
	__uint(max_entries, 8);
	__uint(map_flags, BPF_F_ZERO_SEED);
	__uint(map_extra, 3);
} bf6 SEC(".maps");

/* byte 0: op (1 push bf4, 2 peek bf4, 3 push bf6, 4 peek bf6); bytes 1..: the value.
 * push -> XDP_TX, or XDP_ABORTED when the helper fails; peek -> XDP_PASS (maybe in) / XDP_DROP (not in) */
SEC("xdp") int bloom(struct xdp_md *ctx)
{
	__u8 *d = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 v4;
	__u8 v6[6];

	if (d + 8 > end)
		return XDP_ABORTED;
	__builtin_memcpy(&v4, d + 1, 4);
	__builtin_memcpy(v6, d + 1, 6);
	switch (d[0]) {
	case 1: return bpf_map_push_elem(&bf4, &v4, BPF_ANY) ? XDP_ABORTED : XDP_TX;
	case 2: return bpf_map_peek_elem(&bf4, &v4) ? XDP_DROP : XDP_PASS;
	case 3: return bpf_map_push_elem(&bf6, v6, BPF_ANY) ? XDP_ABORTED : XDP_TX;
	case 4: return bpf_map_peek_elem(&bf6, v6) ? XDP_DROP : XDP_PASS;
	case 5: return bpf_map_push_elem(&bf4, &v4, BPF_EXIST) == -22 ? XDP_TX : XDP_ABORTED;
	}
	return XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";
"""


def _packets() -> list[bytes]:
    rng = random.Random(7)
    vals = [rng.randbytes(6) for _ in range(16)]
    pkts = [bytes([1]) + v for v in vals[:12]] + [bytes([3]) + v for v in vals[:6]] + [bytes([5]) + vals[0]]
    probes = vals + [rng.randbytes(6) for _ in range(150)]
    pkts += [bytes([2]) + v for v in probes] + [bytes([4]) + v for v in probes]
    return [p.ljust(16, b"\0") for p in pkts]


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_program_peeks_match_kernel(build_c, tmp_path, engine):
    obj = build_c(BLOOM_C, "bloom")
    coll = Collection.load(str(obj), engine=engine)      # our verifier accepts what the kernel does
    assert coll.program("bloom").verified is not None
    assert coll.maps["bf6"].map_type == BLOOM
    pkts = _packets()
    k = [r["retval"] for r in kernel_prog_run(obj, "bloom", pkts, dump_maps=False)["runs"]]
    o = [r["retval"] for r in dataplane_prog_run(obj, "bloom", pkts, tmp_path, engine=engine,
                                                  dump_maps=False)["runs"]]
    assert k == o
    peeks = k[19:]
    assert k[:19] == [3] * 19                              # pushes succeed, BPF_EXIST is EINVAL
    assert peeks[:12] == [2] * 12 and peeks[166:172] == [2] * 6   # pushed values: never a false negative
    random4, random6 = peeks[16:166], peeks[182:]
    assert 2 in random4 and 1 in random4 and 2 in random6 and 1 in random6   # false positives, as the kernel's


def test_verifier_refuses_lookup_on_bloom(build_c):
    """bpf_map_lookup_elem on a keyless bloom filter: both verifiers refuse it
    (the kernel: "invalid zero-sized read" for the 0-byte key; ours names the
    same zero-sized stack read in its own words -- a known text difference)."""
    src = BLOOM_C.replace("case 5: return bpf_map_push_elem(&bf4, &v4, BPF_EXIST) == -22 ? XDP_TX : XDP_ABORTED;",
                          "case 5: return bpf_map_lookup_elem(&bf4, &v4) ? XDP_TX : XDP_ABORTED;")
    obj = build_c(src, "bloom_lookup")
    with pytest.raises(VerifierError, match="size=0|zero-sized"):
        Collection.load(str(obj))
    with pytest.raises(VerifierError, match="invalid zero-sized read"):
        kernel_prog_run(obj, "bloom", [bytes(16)], dump_maps=False)
