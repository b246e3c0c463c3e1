"""BLOOM_FILTER maps over gRPC and the CLI, against the running kernel (issue 14).

The kernel's syscalls on a bloom filter: lookup with no key peeks the value
given in the value buffer (0: it may be in, ENOENT: it is not), update with
no key pushes it (BPF_ANY only: BPF_NOEXIST/BPF_EXIST are EINVAL), a key is
EINVAL, delete and get_next_key are refused. A real `dataplane serve` makes
the same filter with Maps.Create (BPF_F_ZERO_SEED: both sides hash alike, so
even false positives agree), and every answer -- in / not in, the errno of
each refusal (the ``dataplane-errno`` trailer) -- is compared with the
kernel's on a map made by BPF_MAP_CREATE in the same test. The CLI's
`map push` / `map peek` / `map create --extra` drive the same calls.
"""
from __future__ import annotations

import errno
import json
import random

import grpc
import pytest

from conftest import run_cli
from dataplane.abi import maps as A
from dataplane.io import kbpf
from dataplane.service.errors import ERRNO_KEY
from dataplane.service.protos import pb
from support.service import PORT_0, RPC_TIMEOUT, served

BLOOM = A.BPF_MAP_TYPE_BLOOM_FILTER
ZS = A.BPF_F_ZERO_SEED
ENTRIES = 24


@pytest.fixture(autouse=True)
def _root(root_required):
    pass


@pytest.fixture(scope="module")
def srv():
    with served(*PORT_0) as s:
        yield s


def _kernel(fn, *args, **kw):
    try:
        fn(*args, **kw)
        return 0
    except kbpf.KernelBpfError as e:
        return e.errno


def _grpc(call, req):
    try:
        call(req, timeout=RPC_TIMEOUT)
        return 0
    except grpc.RpcError as e:
        md = dict(e.trailing_metadata() or ())
        assert ERRNO_KEY in md, (e.code(), e.details())
        return int(md[ERRNO_KEY])


@pytest.mark.parametrize("value_size,extra", [(4, 0), (6, 3), (16, 0), (13, 7)])
def test_grpc_push_and_peek_match_kernel(srv, value_size, extra):
    rng = random.Random(value_size * 31 + extra)
    fd = kbpf.map_create(BLOOM, 0, value_size, ENTRIES, ZS, "bf", map_extra=extra)
    try:
        info = srv.maps.Create(pb.CreateMapRequest(type_id=BLOOM, key_size=0, value_size=value_size,
                                                   max_entries=ENTRIES, flags=ZS, name="bf", map_extra=extra),
                               timeout=RPC_TIMEOUT)
        assert info.type_id == BLOOM and info.value_size == value_size
        mid = info.id
        # five times more values than max_entries (a filter takes any number): false positives happen
        pushed = [rng.randbytes(value_size) for _ in range(5 * ENTRIES)]
        for v in pushed:
            assert _kernel(kbpf.map_update, fd, None, v, A.BPF_ANY) == 0
            assert _grpc(srv.maps.Update, pb.UpdateRequest(map_id=mid, value=v)) == 0
        probes = pushed + [rng.randbytes(value_size) for _ in range(300)]
        k = [_kernel(kbpf.map_lookup, fd, None, value_size, value=v) for v in probes]
        o = [_grpc(srv.maps.Lookup, pb.LookupRequest(map_id=mid, value=v)) for v in probes]
        assert k == o
        n = len(pushed)
        assert k[:n] == [0] * n                                   # no false negatives
        assert 0 in k[n:] and errno.ENOENT in k[n:]               # false positives, the same ones
        # a peek that may be in gives the value back
        r = srv.maps.Lookup(pb.LookupRequest(map_id=mid, value=pushed[0]), timeout=RPC_TIMEOUT)
        assert r.value == pushed[0]

        # the refusals, errno for errno
        key = b"\x00" * 4
        cases = {
            "push BPF_NOEXIST": (lambda: kbpf.map_update(fd, None, pushed[0], A.BPF_NOEXIST),
                                 srv.maps.Update, pb.UpdateRequest(map_id=mid, value=pushed[0],
                                                                   flags=pb.UPDATE_FLAG_NOEXIST)),
            "push BPF_EXIST": (lambda: kbpf.map_update(fd, None, pushed[0], A.BPF_EXIST),
                               srv.maps.Update, pb.UpdateRequest(map_id=mid, value=pushed[0],
                                                                 flags=pb.UPDATE_FLAG_EXIST)),
            "push with a key": (lambda: kbpf.map_update(fd, key, pushed[0], A.BPF_ANY),
                                srv.maps.Update, pb.UpdateRequest(map_id=mid, key=key, value=pushed[0])),
            "peek with a key": (lambda: kbpf.map_lookup(fd, key, value_size, value=pushed[0]),
                                srv.maps.Lookup, pb.LookupRequest(map_id=mid, key=key, value=pushed[0])),
            "delete": (lambda: kbpf.map_delete(fd, None), srv.maps.Delete, pb.DeleteRequest(map_id=mid)),
        }
        for what, (kf, call, req) in cases.items():
            ke, oe = _kernel(kf), _grpc(call, req)
            assert ke != 0 and ke == oe, (what, ke, oe)
        # a dump walks get_next_key, which the kernel refuses on a bloom filter
        ke = _kernel(kbpf.map_get_next_key, fd, None, 0)
        with pytest.raises(grpc.RpcError) as ei:
            list(srv.maps.Dump(pb.DumpRequest(map_id=mid), timeout=RPC_TIMEOUT))
        assert ke != 0 and int(dict(ei.value.trailing_metadata())[ERRNO_KEY]) == ke
        srv.maps.Free(pb.FreeMapRequest(map_id=mid), timeout=RPC_TIMEOUT)
    finally:
        kbpf.close(fd)


def test_cli_push_and_peek(srv):
    rng = random.Random(5)
    fd = kbpf.map_create(BLOOM, 0, 4, 4, ZS, "bf", map_extra=2)
    try:
        made = json.loads(run_cli("--server", srv.grpc, "-j", "map", "create", "bloom_filter", "0", "4", "4",
                                  "--flags", str(ZS), "--extra", "2", "--name", "clibf").stdout)
        mid = made["id"]
        vals = [rng.randbytes(4) for _ in range(3)]     # each CLI call is a process: a few
        for v in vals:
            kbpf.map_update(fd, None, v, A.BPF_ANY)
            run_cli("--server", srv.grpc, "map", "push", str(mid), v.hex())
        bad = run_cli("--server", srv.grpc, "map", "push", str(mid), vals[0].hex(), "--flags", "exist", check=False)
        assert bad.returncode == 2 and "INVALID_ARGUMENT" in bad.stderr, bad.stderr
        assert _kernel(kbpf.map_update, fd, None, vals[0], A.BPF_EXIST) == errno.EINVAL
        seen = {"in": 0, "out": 0}
        for v in vals + [rng.randbytes(4) for _ in range(6)]:
            ke = _kernel(kbpf.map_lookup, fd, None, 4, value=v)
            p = run_cli("--server", srv.grpc, "map", "peek", str(mid), v.hex(), check=False)
            if ke == 0:
                assert p.returncode == 0 and f"value: {v.hex(' ')}" in p.stdout, (v.hex(), p.stdout, p.stderr)
                seen["in"] += 1
            else:
                assert ke == errno.ENOENT and p.returncode == 2, (v.hex(), p.stdout, p.stderr)
                assert "NOT_FOUND" in p.stderr and "not in the bloom filter" in p.stderr, p.stderr
                seen["out"] += 1
        assert seen["in"] >= len(vals) and seen["out"] > 0, seen
        run_cli("--server", srv.grpc, "map", "free", str(mid))
    finally:
        kbpf.close(fd)
