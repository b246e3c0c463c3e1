"""Verifier speed beside the kernel's, measured in the same run.

    python benchmarks/verify.py [--loops] [--corpus] [--runs 3] [--deadline 600]

Default: a firewall-class XDP program (Ethernet/IPv4/TCP parse, N rules,
verdict counters): insns, processed insns and ms per verify.

``--loops``: the loop workloads of issues 11 and 14, each verified by
dataplane (``verify(log_level=0)``, what a load does) and by the running
kernel (raw BPF_PROG_LOAD without a log, no retry):
  loop22/N   a 22-instruction loop over a packet byte, N = 1000..10000
             iterations (a loop counter the verifier must track exactly,
             plus a branch before the loop that pruning must merge);
  unbounded  a loop over a packet byte that never ends: both refuse it at
             the 1M processed-instruction limit;
  ringbuf    tests/progs/xdp_ringbuf.c:xdp_sample with one instruction
             mutated (its data_end check re-aimed one instruction back, so
             it loops until the packet offset overflows), which the
             kernel refuses with "invalid access to packet".
Each dataplane run has a deadline (--deadline s): no unbounded waits.

``--corpus``: every clang program of tests/progs, per object: dataplane's
verification of all its programs against the kernel's BPF_PROG_LOAD of
them.

Both sides start from the same point, a program ready to load: its ELF
parsed, relocations linked, maps created (kernel) or described (dataplane),
and are timed from there to the verdict.  The kernel column is the
bpf(BPF_PROG_LOAD) syscalls alone (the object is loaded as libbpf would,
BTF and maps first, but only the program-load syscalls are timed); the
dataplane column is ``verify()`` of the linked programs.  The kernel's
figure also holds its JIT compilation and instruction rewrites, which
dataplane does after verifying (not timed here).

Every figure is the median of --runs runs with its spread (min-max); the
ratio is dataplane / kernel (lower is better).  Each side is timed in wall
time and in thread CPU time (time.thread_time: user + system time of the
calling thread, so the kernel's verification inside BPF_PROG_LOAD counts);
on a machine shared with other jobs, wall time mostly measures how often a
long computation is preempted, so ``--corpus`` and ``--loops`` give both
ratios and the CPU one is the figure to quote.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from dataplane.verifier import MapInfo, verify  # noqa: E402


def firewall_asm(rules: int) -> str:
    out = ["""
mov %r9, %r1
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r0, 2
mov %r4, %r2
add %r4, 54
jgt %r4, %r3, done
ldxh %r5, [%r2+12]
jne %r5, 8, done
ldxb %r5, [%r2+14]
and %r5, 15
jne %r5, 5, done
ldxb %r5, [%r2+23]
jne %r5, 6, done
ldxw %r6, [%r2+26]
be32 %r6
ldxh %r7, [%r2+36]
be16 %r7
"""]
    for i in range(rules):
        net = (10 << 24) | (i << 8)
        out.append(f"""
mov %r1, %r6
and %r1, 0xffffff00
jne %r1, {net}, next{i}
jne %r7, {1000 + i}, next{i}
mov %r0, {1 + (i & 1)}
ja count
next{i}:""")
    out.append("""
mov %r0, 2
count:
stxw [%r10-4], %r0
stxdw [%r10-16], %r0
mov %r2, %r10
add %r2, -4
ldmap %r1, counters
call 1
jeq %r0, 0, nocount
mov %r1, 1
lock add [%r0+0], %r1
nocount:
ldxdw %r0, [%r10-16]
done:
exit""")
    return "\n".join(out)


def loop22_asm(n: int) -> str:
    """22 instructions: hash one packet byte n times.  The counter (r6) is
    compared with n every iteration, so it is precise and each iteration is
    a new state; the byte (r5) and the accumulator (r7) are not, so the
    second path into the loop (after `r5 != 0x45`) is pruned at once."""
    return f"""
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r0, 2
mov %r4, %r2
add %r4, 1
jgt %r4, %r3, out
ldxb %r5, [%r2+0]
mov %r7, 0
jne %r5, 0x45, start
mov %r7, 1
start:
mov %r6, 0
loop:
mov %r8, %r5
xor %r8, %r6
mul %r8, 31
add %r7, %r8
and %r7, 0xffff
add %r6, 1
jlt %r6, {n}, loop
mov %r0, %r7
and %r0, 1
add %r0, 1
out:
exit
"""


# A loop over a packet byte that never ends: the byte only grows, so
# `!= 0` is always decided and the verifier follows it until 1M insns.
UNBOUNDED_ASM = """
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r0, 2
mov %r4, %r2
add %r4, 1
jgt %r4, %r3, out
ldxb %r5, [%r2+0]
loop:
add %r5, 1
jne %r5, 0, loop
out:
exit
"""


# ---------------------------------------------------------------- timing
SAME_START = ("timed from a linked program to the verdict: kernel = the bpf(BPF_PROG_LOAD) syscalls "
              "(incl. its JIT), dataplane = verify()")


class Clock:
    """Wall and thread CPU seconds of a ``with`` block (.wall, .cpu)."""

    def __init__(self, wall: float = 0.0, cpu: float = 0.0):
        self.wall, self.cpu = wall, cpu

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.thread_time() - self.cpu
        return False

    @classmethod
    def total(cls, clocks) -> "Clock":
        clocks = list(clocks)
        return cls(sum(c.wall for c in clocks), sum(c.cpu for c in clocks))


class ProgLoadClocks:
    """The Clock of every bpf(BPF_PROG_LOAD) syscall made inside the ``with``
    block (dataplane.io.kbpf's one syscall entry, wrapped for the block):
    the kernel's share of a load without the loader's own ELF, BTF and map
    work around it."""

    def __enter__(self):
        from dataplane.io import kbpf
        self.clocks, self._kbpf, real = [], kbpf, kbpf._sys_bpf

        def timed(cmd, attr, what, log=None):
            if cmd != kbpf.BPF_PROG_LOAD:
                return real(cmd, attr, what, log)
            c = Clock()
            try:
                with c:
                    return real(cmd, attr, what, log)
            finally:
                self.clocks.append(c)
        self._real, kbpf._sys_bpf = real, timed
        return self

    def __exit__(self, *exc):
        self._kbpf._sys_bpf = self._real
        return False


def kernel_load_s(raw: bytes, prog_type: int = 6) -> tuple[bool, Clock]:
    """One BPF_PROG_LOAD without a log (no retry): (accepted, its Clock)."""
    from dataplane.io import kbpf
    ok = True
    with ProgLoadClocks() as t:
        try:
            kbpf.prog_load(raw, prog_type, "GPL", log_level=0, log_size=0).close()
        except kbpf.KernelBpfError:
            ok = False
    return ok, t.clocks[0]


def kernel_error(raw: bytes, prog_type: int = 6) -> str:
    from dataplane.io import kbpf
    try:
        kbpf.prog_load(raw, prog_type, "GPL", log_level=1, log_size=1 << 24).close()
        return "accepted"
    except kbpf.KernelBpfError as e:
        lines = [ln for ln in e.log.strip().splitlines()
                 if ln and not ln.startswith(("processed ", "cur state:", "old state:"))]
        return lines[-1] if lines else str(e)


def measure(runs: int, kernel_once, dp_once) -> tuple[list, list]:
    """``runs`` alternating calls of each side (each returns a Clock): the
    dataplane clocks and the kernel clocks."""
    dts, kts = [], []
    for _ in range(runs):
        kts.append(kernel_once())
        dts.append(dp_once())
    return dts, kts


def _stats(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1e3:9.1f} ({min(xs) * 1e3:.1f}-{max(xs) * 1e3:.1f})"


def _ratio(dp: list, k: list, attr: str) -> float:
    return statistics.median(getattr(c, attr) for c in dp) / statistics.median(getattr(c, attr) for c in k)


def _columns(dp: list, k: list, w: int = 22) -> str:
    """dataplane and kernel wall ms, their ratio, then the same in CPU ms."""
    out = []
    for attr in ("wall", "cpu"):
        out.append(f"{_stats([getattr(c, attr) for c in dp]):>{w}} {_stats([getattr(c, attr) for c in k]):>{w}} "
                   f"{_ratio(dp, k, attr):6.2f}")
    return "  ".join(out)


def _header(w: int = 22) -> str:
    return "  ".join(f"{'dp_' + x + '_ms (spread)':>{w}} {'kernel_' + x + '_ms (spread)':>{w}} {x + '_x':>6}"
                     for x in ("wall", "cpu"))


def _record(res, name: str, dp: list, k: list, runs: int) -> None:
    """One results figure: dataplane's thread-CPU ms beside the kernel's (the
    figure to quote on a shared machine, see the module docstring)."""
    if res is None:
        return
    d = [c.cpu * 1e3 for c in dp]
    res.figure(f"{name}: verify (CPU)", statistics.median(d), "ms", spread=(min(d), max(d)), runs=runs,
               peer="kernel BPF_PROG_LOAD", peer_value=statistics.median(c.cpu * 1e3 for c in k),
               note=f"wall ratio {_ratio(dp, k, 'wall'):.2f}")


def _summary(cpu: list[float], wall: list[float]) -> None:
    if cpu:
        print(f"worst cpu ratio {max(cpu):.2f} ({sum(r > 1.5 for r in cpu)} over 1.5), geomean "
              f"{statistics.geometric_mean(cpu):.2f}; worst wall ratio {max(wall):.2f}")


def ringbuf_mutant():
    """(dataplane insns, maps, kernel raw bytes, map fds to close) of the
    ringbuf sample with its data_end check re-aimed one insn back."""
    import shutil
    import tempfile
    from pathlib import Path

    from dataplane.verifier.link import link_program
    from dataplane.io import kbpf
    from dataplane.isa.instruction import Instruction, encode
    from dataplane.loader import load_object
    from support import progs as build
    tests = Path(__file__).resolve().parent.parent / "tests"
    obj = build.compile_c(shutil.which("clang"), tests / "progs" / "xdp_ringbuf.c",
                          Path(tempfile.mkdtemp()) / "xdp_ringbuf.o", ["-I", str(tests / "progs")])
    spec = load_object(obj)
    linked = link_program(spec, spec.programs["xdp_sample"], {})
    insns, maps = linked.insns, linked.maps
    out, pc, done = [], 0, False
    for i in insns:
        if not done and i.opcode == 0x2D:     # the first `if rX > rY goto` (data + 14 > data_end)
            i = Instruction(i.opcode, i.dst, i.src, -2, i.imm)
            done = True
        out.append(i)
        pc += i.slots
    assert done, "xdp_sample changed: no data_end check to mutate"
    m = next(iter(maps.values()))
    fd = kbpf.map_create(m.map_type, m.key_size, m.value_size, m.max_entries)
    kinsns = [Instruction(0x18, i.dst, i.src, i.off, (i.imm & ~0xFFFFFFFF) | fd)
              if i.is_lddw and i.src == 1 else i for i in out]
    return out, maps, encode(kinsns), [fd]


def loops(runs: int, deadline: float, which: str | None = None, res=None) -> int:
    from dataplane.errors import VerifierError
    from dataplane.isa.instruction import encode
    from support.verifier import assemble
    work = [(f"loop22/{n}", assemble(loop22_asm(n), {}), {}, None) for n in (1000, 2000, 4000, 10000)]
    work.append(("unbounded", assemble(UNBOUNDED_ASM, {}), {}, None))
    rb_insns, rb_maps, rb_raw, fds = ringbuf_mutant()
    work.append(("ringbuf", rb_insns, rb_maps, rb_raw))
    if which:
        work = [w for w in work if w[0].startswith(tuple(which.split(",")))]
    print(SAME_START)
    print(f"{'program':12} {'verdict (dataplane / kernel)':58} {'processed':>9} {_header()}")
    cpu, wall = [], []
    try:
        for name, insns, maps, raw in work:
            raw = raw if raw is not None else encode(insns)
            seen = {}

            def dp_once():
                with Clock() as c:
                    try:
                        v = verify(insns, prog_type="xdp", maps=maps, log_level=0, deadline=deadline)
                        seen.update(verdict="accept", processed=v.insn_processed)
                    except VerifierError as e:
                        n = int(e.log.split("processed ")[-1].split()[0]) if "processed " in e.log else 0
                        seen.update(verdict=e.summary, processed=n)
                return c

            def k_once():
                ok, c = kernel_load_s(raw)
                seen["kernel"] = ok
                return c
            dts, kts = measure(runs, k_once, dp_once)
            kv = "accept" if seen["kernel"] else kernel_error(raw)
            cpu.append(_ratio(dts, kts, "cpu"))
            wall.append(_ratio(dts, kts, "wall"))
            both = seen["verdict"] if seen["verdict"] == kv else f"{seen['verdict']} / {kv}"
            print(f"{name:12} {both[:58]:58} {seen['processed']:9} {_columns(dts, kts)}", flush=True)
            _record(res, name, dts, kts, runs)
    finally:
        for fd in fds:
            os.close(fd)
    _summary(cpu, wall)
    return 0


def corpus(runs: int, only: str | None = None, res=None) -> None:
    import shutil
    import tempfile
    from pathlib import Path

    from dataplane.cli.verify_cmd import prepare_program
    from dataplane.errors import DataplaneError, VerifierError
    from dataplane.io.kload import KernelObject
    from dataplane.loader import load_object
    from support import progs as build
    tests = Path(__file__).resolve().parent.parent / "tests"
    clang = shutil.which("clang")
    out = Path(tempfile.mkdtemp())
    print(SAME_START)
    print(f"{'object':16} {'progs':>5} {'processed':>9} {_header()}")
    cpu, wall = [], []
    for src in sorted((tests / "progs").glob("*.c")):
        if only and not src.stem.startswith(tuple(only.split(","))):
            continue
        try:
            obj = build.compile_c(clang, src, out / f"{src.stem}.o", ["-I", str(src.parent)])
        except AssertionError:
            continue
        spec = load_object(obj)
        seen = {"processed": 0}

        def k_once():
            with ProgLoadClocks() as t:
                KernelObject.load(spec).close()
            return Clock.total(t.clocks)

        def dp_once():
            n, c = 0, Clock()
            for verify_one in ready:
                with Clock() as one:
                    try:
                        n += verify_one().insn_processed
                    except VerifierError:
                        pass
                c = Clock.total((c, one))
            seen["processed"] = n
            return c
        try:
            ready = []
            for ps in spec.programs.values():
                try:
                    ready.append(prepare_program(spec, ps))
                except VerifierError:
                    pass     # refused while linking (a kfunc nobody serves): nothing to verify
            dts, kts = measure(runs, k_once, dp_once)
        except DataplaneError as e:
            print(f"{src.stem:16} skipped: {e}")
            continue
        cpu.append(_ratio(dts, kts, "cpu"))
        wall.append(_ratio(dts, kts, "wall"))
        print(f"{src.stem:16} {len(spec.programs):5} {seen['processed']:9} {_columns(dts, kts)}", flush=True)
        _record(res, src.stem, dts, kts, runs)
    _summary(cpu, wall)
    if res is not None and cpu:
        res.figure("corpus: worst CPU ratio", max(cpu), "x", runs=runs)
        res.figure("corpus: geomean CPU ratio", statistics.geometric_mean(cpu), "x", runs=runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--corpus", action="store_true", help="time every clang corpus object against the kernel")
    ap.add_argument("--loops", action="store_true", help="the loop workloads against the kernel")
    ap.add_argument("--only", help="only workloads (--loops) or objects (--corpus) whose name starts with "
                                   "this (comma-separated)")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (median and spread)")
    ap.add_argument("--deadline", type=float, default=600.0, help="seconds a dataplane verification may take")
    ap.add_argument("--results", action="store_true",
                    help="as `make bench` runs it: --corpus (as root), figures written to benchmarks/results/")
    args = ap.parse_args()
    root = os.geteuid() == 0
    if args.results and root:
        args.corpus = True
    if args.loops or args.corpus:
        if not root:
            print("--loops/--corpus compare with the kernel: run as root", file=sys.stderr)
            return 2
        from results import Results
        res = Results("verify", "verification time beside the kernel's BPF_PROG_LOAD, same run "
                                "(thread CPU ms; ratio = dataplane / kernel)")
        if args.loops:
            loops(args.runs, args.deadline, args.only, res)
        if args.corpus:
            corpus(args.runs, args.only, res)
        res.write()
        return 0
    from support.verifier import assemble
    fds = {"counters": 1000}
    insns = assemble(firewall_asm(args.rules), fds)
    maps = {1000: MapInfo(2, 4, 8, 4)}
    v = verify(insns, prog_type="xdp", maps=maps)
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        verify(insns, prog_type="xdp", maps=maps, log_level=1)
    dt = (time.perf_counter() - t0) / args.repeat
    nslots = sum(i.slots for i in insns)
    print(f"insns={nslots} processed={v.insn_processed} states={v.total_states} "
          f"verify_ms={dt * 1e3:.2f}")
    if root:
        from dataplane.io import kbpf
        from support.verifier import kernel_verdict
        fd = kbpf.map_create(2, 4, 8, 4)
        try:
            ok, err, log = kernel_verdict(assemble(firewall_asm(args.rules), {"counters": fd}), "xdp")
        finally:
            os.close(fd)
        print(f"kernel: {'accepts' if ok else 'rejects: ' + err}; {log.strip().splitlines()[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
