"""Run mprog scenarios (tests/support/mprog_scenarios.py) against the running
kernel's tcx and against the dataplane's hooks, and compare every step.

Backends speak the scenario's vocabulary and answer in names (program and
link ids mapped back to the scenario's names), so the kernel's ids and the
dataplane's never need to agree -- only what they mean:

* errno of every operation (0 when it worked);
* after every operation, the query of its target: errno, count, revision,
  programs in order, links in order (None where not link-owned);
* RUN: which programs a packet went through;
* INFO: a link's program and whether its device (hook) is gone.

KernelTcx works on a veth pair of its own inside a network namespace it
creates (names carry the pid), through the project's bpf() client
(dataplane.io.kbpf / kbpf_attach), from a thread that entered the netns.
DataplaneHooks drives dataplane.hooks.Hook directly; the gRPC backend lives
in tests/test_hooks_vs_tcx.py's service part.
"""
from __future__ import annotations

import ctypes
import errno
import os
import queue
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass

from dataplane.abi.progs import BPF_PROG_TYPE_SCHED_CLS
from support.mprog_scenarios import ID, Nothing, Op, P, Scenario

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_seq = iter(range(1, 1 << 30))

# a raw Ethernet frame nobody else sends (local experimental EtherType)
FRAME = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + bytes(50)


def sh(cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True)


@dataclass(frozen=True)
class QueryView:
    err: int
    count: int = 0
    revision: int = 0
    progs: tuple = ()
    links: tuple = ()


# ================================================================ kernel

def _insn(code, dst=0, src=0, off=0, imm=0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def counting_prog(map_fd: int, key: int) -> bytes:
    """tc program: counts[key]++ then TCX_NEXT (the next program runs)."""
    return b"".join([
        _insn(0x62, 10, off=-4, imm=key),          # *(u32 *)(r10 - 4) = key
        _insn(0xbf, 2, 10),                        # r2 = r10
        _insn(0x07, 2, imm=-4),                    # r2 += -4
        _insn(0x18, 1, 1, imm=map_fd), _insn(0),   # r1 = map (BPF_PSEUDO_MAP_FD)
        _insn(0x85, imm=1),                        # call bpf_map_lookup_elem
        _insn(0x15, 0, off=2, imm=0),              # if r0 == 0 goto +2
        _insn(0xb7, 1, imm=1),                     # r1 = 1
        _insn(0xdb, 0, 1, imm=0),                  # lock *(u64 *)(r0 + 0) += r1
        _insn(0xb7, 0, imm=-1),                    # r0 = TCX_NEXT
        _insn(0x95),                               # exit
    ])


class NetnsThread:
    """A thread living in a network namespace; call() runs a function there."""

    def __init__(self, ns: str):
        self.ns = ns
        self._q: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._err: BaseException | None = None
        self._t = threading.Thread(target=self._main, name=f"netns-{ns}", daemon=True)
        self._t.start()
        self._ready.wait(10)
        if self._err is not None:
            raise self._err

    def _main(self):
        try:
            fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
        except BaseException as e:
            self._err = e
            self._ready.set()
            return
        self._ready.set()
        while True:
            item = self._q.get()
            if item is None:
                return
            fn, args, box, done = item
            try:
                box["v"] = fn(*args)
            except BaseException as e:
                box["e"] = e
            done.set()

    def call(self, fn, *args):
        box, done = {}, threading.Event()
        self._q.put((fn, args, box, done))
        if not done.wait(30):
            raise TimeoutError(f"netns {self.ns}: call timed out")
        if "e" in box:
            raise box["e"]
        return box["v"]

    def close(self):
        self._q.put(None)
        self._t.join(5)


class KernelTcx:
    """The oracle: tcx on a veth pair in a netns of our own."""

    def __init__(self, prog_names):
        from dataplane.io import kbpf
        from dataplane.io import kbpf_attach as ka
        self.kbpf, self.ka = kbpf, ka
        self.ns = f"mpk{os.getpid() % 100000}"
        sh(f"ip netns add {self.ns}")
        try:
            self.thread = NetnsThread(self.ns)
            self.map_fd = kbpf.map_create(2, 4, 8, 8, name="mp_counts")      # BPF_MAP_TYPE_ARRAY
            self.progs: dict[str, tuple[int, int]] = {}      # name -> (fd, id)
            self.keys: dict[str, int] = {}
            for name in prog_names:
                self._load(name)
        except BaseException:
            self.close()
            raise
        self.links: dict[str, tuple[int, int]] = {}
        self.dev = None

    def _load(self, name: str) -> None:
        if name in self.progs:
            return
        if name.startswith("tc"):
            key = len(self.keys)
            self.keys[name] = key
            code = counting_prog(self.map_fd, key)
        else:
            code = _insn(0xb7, 0, imm=-1) + _insn(0x95)
        p = self.kbpf.prog_load(code, BPF_PROG_TYPE_SCHED_CLS, name=f"mp_{name}"[:15])
        self.progs[name] = (p.fd, p.id)

    # -- per scenario --
    def start(self, scen: Scenario) -> None:
        for name in scen.progs:
            self._load(name)
        n = next(_seq)
        self.dev, self.peer = f"mpa{os.getpid() % 10000}{n}"[:15], f"mpb{os.getpid() % 10000}{n}"[:15]
        sh(f"ip -n {self.ns} link add {self.dev} type veth peer {self.peer}")
        for d in (self.dev, self.peer):
            sh(f"ip netns exec {self.ns} sysctl -qw net.ipv6.conf.{d}.disable_ipv6=1")
            sh(f"ip -n {self.ns} link set {d} up")
        self.ifindex = self.thread.call(socket.if_nametoindex, self.dev)
        self.links = {}
        self.gone = False

    def finish(self) -> None:
        for fd, _ in self.links.values():
            os.close(fd)
        self.links = {}
        if self.dev and not self.gone:
            # also detaches every program-attached entry (tcx_uninstall)
            sh(f"ip -n {self.ns} link del {self.dev}", check=False)
        self.dev = None

    def close(self) -> None:
        try:
            self.finish()
        finally:
            for fd, _ in getattr(self, "progs", {}).values():
                os.close(fd)
            if getattr(self, "map_fd", None) is not None:
                os.close(self.map_fd)
            if getattr(self, "thread", None) is not None:
                self.thread.close()
            sh(f"ip netns del {self.ns}", check=False)

    # -- operations --
    def _type(self, t: str) -> int:
        return self.ka.BPF_TCX_INGRESS if t == "ingress" else self.ka.BPF_TCX_EGRESS

    def _ifindex(self) -> int:
        # a deleted device: an ifindex nothing has (the kernel says ENODEV)
        return self.ifindex if not self.gone else 0x7FFFFFF0

    def _rel(self, flags: int, rel) -> tuple[int, int]:
        if rel is None:
            return flags, 0
        if isinstance(rel, Nothing):
            return flags, self._free_id(rel.value)
        table = self.progs if isinstance(rel, P) else self.links
        fd, oid = table[rel.name]
        return (flags | ID, oid) if rel.id else (flags, fd)

    def _free_id(self, want: int) -> int:
        v = want
        while True:
            try:
                os.close(self.kbpf.prog_get_fd_by_id(v) if hasattr(self.kbpf, "prog_get_fd_by_id")
                         else self._prog_fd_by_id(v))
            except OSError as e:
                if e.errno == errno.ENOENT:
                    try:
                        os.close(self.ka.link_get_fd_by_id(v))
                    except OSError as e2:
                        if e2.errno == errno.ENOENT:
                            return v
            v += 1

    def _prog_fd_by_id(self, pid: int) -> int:
        a = self.kbpf._attr()
        struct.pack_into("<I", a, 0, pid)
        return self.kbpf._sys_bpf(self.kbpf.BPF_PROG_GET_FD_BY_ID, a, "BPF_PROG_GET_FD_BY_ID")

    def _errno(self, fn, *args, **kw) -> int:
        try:
            self.thread.call(lambda: fn(*args, **kw))
            return 0
        except OSError as e:
            return e.errno

    def do(self, op: Op):
        k = op.kind
        if k == "attach":
            flags, rel = self._rel(op.flags, op.rel)
            rep = self.progs[op.replace][0] if op.replace else 0
            return self._errno(self.ka.prog_attach, self.progs[op.prog][0], self._ifindex(), self._type(op.target),
                               flags=flags, relative=rel, replace_fd=rep, expected_revision=op.rev)
        if k == "detach":
            flags, rel = self._rel(op.flags, op.rel)
            fd = self.progs[op.prog][0] if op.prog else 0
            return self._errno(self.ka.prog_detach, fd, self._ifindex(), self._type(op.target), flags=flags,
                               relative=rel, expected_revision=op.rev)
        if k == "link":
            flags, rel = self._rel(op.flags, op.rel)
            try:
                fd = self.thread.call(lambda: self.ka.link_create(
                    self.progs[op.prog][0], self._ifindex(), self._type(op.target), flags=flags, relative=rel,
                    expected_revision=op.rev))
            except OSError as e:
                return e.errno
            self.links[op.link] = (fd, self.ka.link_info(fd)["id"])
            return 0
        if k == "update":
            return self._errno(self.ka.link_update, self.links[op.link][0], self.progs[op.prog][0])
        if k == "link_detach":
            return self._errno(self.ka.link_detach, self.links[op.link][0])
        if k == "close":
            for fd, _ in self.links.values():
                os.close(fd)
            self.links = {}
            return 0
        if k == "dev_del":
            sh(f"ip -n {self.ns} link del {self.dev}")
            self.gone = True
            return 0
        if k == "link_info":
            info = self.ka.link_info(self.links[op.link][0])
            return self._prog_name(info["prog_id"]), info["ifindex"] == 0
        if k == "query":
            return self.query(op)
        if k == "run":
            return self.run(op.target)
        raise ValueError(k)

    def _prog_name(self, pid: int) -> str:
        for n, (_, i) in self.progs.items():
            if i == pid:
                return n
        return f"?{pid}"

    def _link_name(self, lid: int):
        if lid == 0:
            return None
        for n, (_, i) in self.links.items():
            if i == lid:
                return n
        return f"?{lid}"

    def query(self, op: Op) -> QueryView:
        err, r = self.thread.call(lambda: self.ka.prog_query_raw(
            self._ifindex(), self._type(op.target), count=op.count, query_flags=op.query_flags,
            attach_flags=op.attach_flags))
        if err and err != errno.ENOSPC:
            return QueryView(err)
        return QueryView(err, r.count, r.revision, tuple(self._prog_name(i) for i in r.prog_ids),
                         tuple(self._link_name(i) for i in r.link_ids))

    def _counts(self) -> dict[str, int]:
        return {n: struct.unpack("<Q", self.kbpf.map_lookup(self.map_fd, struct.pack("<I", k), 8))[0]
                for n, k in self.keys.items()}

    def run(self, target: str) -> frozenset:
        if self.gone:
            return frozenset()
        before = self._counts()
        chain = self.query(Op("query", target)).progs
        dev = self.peer if target == "ingress" else self.dev

        def send():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            try:
                s.bind((dev, 0))
                s.send(FRAME)
            finally:
                s.close()
        self.thread.call(send)
        # the chain runs in softirq context, normally before send() returns;
        # allow for ksoftirqd: wait for the first program of the chain
        deadline = time.monotonic() + 2
        first = next((n for n in chain if n in self.keys), None)
        while first is not None and self._counts()[first] == before[first] and time.monotonic() < deadline:
            time.sleep(0.002)
        if first is not None:
            time.sleep(0.01)
        after = self._counts()
        return frozenset(n for n in self.keys if after[n] != before[n])


# ================================================================ dataplane hooks

XDP_PROGS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define P(name) SEC("xdp") int name(struct xdp_md *ctx) { return XDP_PASS; }
P(tc1) P(tc2) P(tc3) P(tc4) P(tc5) P(tc6)
#define D8(n) P(d##n##0) P(d##n##1) P(d##n##2) P(d##n##3) P(d##n##4) P(d##n##5) P(d##n##6) P(d##n##7)
D8(0) D8(1) D8(2) D8(3) D8(4) D8(5) D8(6) D8(7)
char _license[] SEC("license") = "GPL";
"""


def xdp_name(name: str) -> str:
    """d0..d63 are d00..d77 in the C object (two octal digits from the macro)."""
    if name.startswith("d"):
        i = int(name[1:])
        return f"d{i // 8}{i % 8}"
    return name


class DataplaneHooks:
    """The dataplane's hooks, called directly."""

    def __init__(self, obj_path):
        from dataplane.hooks import bind
        from dataplane.runtime.collection import Collection
        self.coll = Collection.load(str(obj_path), engine="interp")
        self.progs = {}
        for n in ["tc1", "tc2", "tc3", "tc4", "tc5", "tc6"] + [f"d{i}" for i in range(64)]:
            self.progs[n] = bind(self.coll, xdp_name(n))
        self.by_id = {b.id: b for b in self.progs.values()}

    def start(self, scen: Scenario) -> None:
        from dataplane.hooks import Hook
        n = next(_seq)
        self.hooks = {t: Hook(f"{scen.name}{n}/{t}", programs=self.by_id.get) for t in ("ingress", "egress")}
        self.links = {}
        self.gone = False

    def finish(self) -> None:
        for h in self.hooks.values():
            h.remove()

    def close(self) -> None:
        pass

    def _rel(self, flags: int, rel):
        if rel is None:
            return flags, None
        if isinstance(rel, Nothing):
            # ids the dataplane never hands out (it counts up from 1)
            return flags, 0x7FFFFFF0 if rel.value < 0x7FFFFFF0 else rel.value
        if isinstance(rel, P):
            b = self.progs[rel.name]
            return (flags | ID, b.id) if rel.id else (flags, b)
        ln = self.links[rel.name]
        return (flags | ID, ln.id) if rel.id else (flags, ln)

    @staticmethod
    def _errno(fn, *args, **kw) -> int:
        from dataplane.errors import DataplaneError
        try:
            fn(*args, **kw)
            return 0
        except DataplaneError as e:
            return e.kind

    def do(self, op: Op):
        k = op.kind
        h = self.hooks.get(op.target)
        if k == "attach":
            flags, rel = self._rel(op.flags, op.rel)
            return self._errno(h.attach, self.progs[op.prog], flags=flags, relative=rel,
                               replace=self.progs[op.replace] if op.replace else None, expected_revision=op.rev)
        if k == "detach":
            flags, rel = self._rel(op.flags, op.rel)
            return self._errno(h.detach, self.progs[op.prog] if op.prog else None, flags=flags, relative=rel,
                               expected_revision=op.rev)
        if k == "link":
            from dataplane.errors import DataplaneError
            flags, rel = self._rel(op.flags, op.rel)
            try:
                self.links[op.link] = h.link_create(self.progs[op.prog], flags=flags, relative=rel,
                                                    expected_revision=op.rev)
            except DataplaneError as e:
                return e.kind
            return 0
        if k == "update":
            ln = self.links[op.link]
            hook = next((x for x in self.hooks.values() if x.name == ln.hook), h)
            return self._errno(hook.link_update, ln, self.progs[op.prog])
        if k == "link_detach":
            ln = self.links[op.link]
            hook = next((x for x in self.hooks.values() if x.name == ln.hook), h)
            return self._errno(hook.link_detach, ln)
        if k == "close":
            for ln in self.links.values():
                hook = next((x for x in self.hooks.values() if x.name == ln.hook), None)
                if hook is not None:
                    hook.link_detach(ln)
            self.links = {}
            return 0
        if k == "dev_del":
            for x in self.hooks.values():
                x.remove()
            self.gone = True
            return 0
        if k == "link_info":
            ln = self.links[op.link]
            return self._name(ln.program.id), ln.defunct
        if k == "query":
            return self.query(op)
        if k == "run":
            return self.run(op.target)
        raise ValueError(k)

    def _name(self, pid: int) -> str:
        for n, b in self.progs.items():
            if b.id == pid:
                return n
        return f"?{pid}"

    def _link_name(self, lid: int):
        if lid == 0:
            return None
        for n, ln in self.links.items():
            if ln.id == lid:
                return n
        return f"?{lid}"

    def query(self, op: Op) -> QueryView:
        from dataplane.errors import DataplaneError
        h = self.hooks[op.target]
        try:
            q = h.query(op.count if op.count is not None else 0, query_flags=op.query_flags,
                        attach_flags=op.attach_flags)
        except DataplaneError as e:
            return QueryView(e.kind)
        names = tuple(self._name(i) for i in q.prog_ids)
        return QueryView(q.error, q.count, q.revision, names, tuple(self._link_name(i) for i in q.link_ids))

    def run(self, target: str) -> frozenset:
        from dataplane.io.frames import FrameBatch
        h = self.hooks[target]
        if self.gone:
            return frozenset()
        before = {pid: s["runs"] for pid, s in h.stats().items()}
        b = FrameBatch(1)
        b.append(FRAME)
        h.current()[1].run(b)
        after = {pid: s["runs"] for pid, s in h.stats().items()}
        return frozenset(self._name(pid) for pid, n in after.items() if n != before.get(pid, 0))


# ================================================================ the comparison

MUTATING = {"attach", "detach", "link", "update", "link_detach", "close", "dev_del"}


def run_scenario(scen: Scenario, oracle, subject) -> list[str]:
    """Run ``scen`` on both; the list of disagreements (empty: they agree)
    and of steps where the kernel did not do what the selftest expects."""
    problems = []
    oracle.start(scen)
    subject.start(scen)
    try:
        for i, op in enumerate(scen.steps):
            a, b = oracle.do(op), subject.do(op)
            where = f"{scen.name} step {i} {_show(op)}"
            if op.kind in MUTATING or op.kind == "query":
                ke = a.err if isinstance(a, QueryView) else a
                if op.expect == -1 and ke == 0:
                    problems.append(f"{where}: the selftest expects a failure, the kernel said 0")
                elif op.expect not in (-1, None) and ke != op.expect:
                    problems.append(f"{where}: the selftest expects {_en(op.expect)}, the kernel said {_en(ke)}")
            if a != b:
                problems.append(f"{where}: kernel {_fmt(a)} != dataplane {_fmt(b)}")
            if op.kind in MUTATING:
                for t in ("ingress", "egress"):
                    qa, qb = oracle.query(Op("query", t)), subject.query(Op("query", t))
                    if qa != qb:
                        problems.append(f"{where}: then query {t}: kernel {_fmt(qa)} != dataplane {_fmt(qb)}")
    finally:
        oracle.finish()
        subject.finish()
    return problems


def _en(e: int) -> str:
    return errno.errorcode.get(e, str(e)) if e else "0"


def _fmt(v) -> str:
    if isinstance(v, QueryView):
        if v.err and v.err != errno.ENOSPC:
            return _en(v.err)
        return f"{_en(v.err)} count={v.count} rev={v.revision} progs={list(v.progs)} links={list(v.links)}"
    if isinstance(v, int):
        return _en(v)
    return repr(v)


def _show(op: Op) -> str:
    parts = [op.kind, op.target]
    for f in ("prog", "link", "replace", "rel"):
        v = getattr(op, f)
        if v is not None:
            parts.append(f"{f}={v}")
    if op.flags:
        from dataplane.hooks.mprog import flag_names
        parts.append("flags=" + "|".join(flag_names(op.flags)))
    if op.rev:
        parts.append(f"rev={op.rev}")
    return " ".join(parts)
