"""Bounded, deterministic mutation fuzzing of what `dataplane serve` takes
from clients (shared by tests/test_fuzz_service.py, which runs a short
corpus in every CI run, and benchmarks/fuzz_service.py, the long version).

Three corpora, all sent to ONE real server process over gRPC:

* ELF objects: the compiled tests/progs objects, mutated (byte/bit flips,
  interesting integers at ELF-header / section-header / symbol offsets,
  cuts, chunk copies) and sent to Programs.Load. Every answer is a load or
  a clear error; a mutant the service *accepts* is loaded into the running
  kernel too (io/kload: the same object, BPF_PROG_LOAD per program) -- the
  kernel's verifier rejecting it is an unsound acceptance.
* pcap / pcapng traces, mutated, replayed through a hook (Replay.Start +
  Watch): every replay ends (done or a clear error), none hangs.
* gRPC requests: a valid request for each method, serialized, then mutated
  at the byte level (so field tags, lengths and varints break too) and sent
  raw. No answer may be INTERNAL or UNKNOWN (an unhandled exception in the
  service), none may exceed its deadline.

After each corpus the server must still answer health SERVING and a
known-good load. Seeds are fixed: a failure names its corpus, mutant index
and seed, and reproduces with the same arguments.
"""
from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass, field

import grpc

INTERESTING32 = (0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000,
                 0xffffffff, 0xfffffffe, 64, 4096)
# mutated requests must not reach the host: interfaces (live XDP attach, kernel
# placement on a NIC), network namespaces (Fib.Learn) are left out
SKIP_METHODS = {"/dataplane.v1.Interfaces/Bind", "/dataplane.v1.Interfaces/Unbind", "/dataplane.v1.Hooks/Place",
                "/dataplane.v1.Fib/Learn"}


@dataclass
class Stats:
    tried: int = 0
    accepted: int = 0
    errors: dict = field(default_factory=dict)      # status code name -> count
    failures: list = field(default_factory=list)    # "corpus#i seed: what"

    def code(self, c) -> None:
        self.errors[c] = self.errors.get(c, 0) + 1


class Mutator:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def mutate(self, data: bytes, hot: list[tuple[int, int]] = ()) -> bytes:
        """1-4 edits; ``hot``: (offset, length) regions hit more often (headers, tables)."""
        rng = self.rng
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            if not b:
                b = bytearray(rng.randbytes(rng.randint(1, 64)))
            if hot and rng.random() < 0.6:
                off, ln = rng.choice(hot)
                pos = min(len(b) - 1, off + rng.randrange(max(1, ln)))
            else:
                pos = rng.randrange(len(b))
            op = rng.randrange(8)
            if op == 0:
                b[pos] = rng.randrange(256)
            elif op == 1:
                b[pos] ^= 1 << rng.randrange(8)
            elif op in (2, 3):      # an interesting little-endian integer, 1/2/4/8 bytes
                w = rng.choice((1, 2, 4, 8))
                v = rng.choice(INTERESTING32) if w <= 4 else rng.choice((0, 1 << 63, (1 << 64) - 1, 1 << 32))
                b[pos:pos + w] = (v & ((1 << (8 * w)) - 1)).to_bytes(w, "little")
            elif op == 4:           # cut
                del b[pos:]
            elif op == 5:           # delete a chunk
                del b[pos:pos + rng.randint(1, 64)]
            elif op == 6:           # copy a chunk elsewhere
                n = rng.randint(1, 64)
                chunk = bytes(b[pos:pos + n])
                q = rng.randrange(len(b))
                b[q:q + len(chunk)] = chunk
            else:                   # insert random bytes
                b[pos:pos] = rng.randbytes(rng.randint(1, 16))
        return bytes(b)


def elf_hot(raw: bytes) -> list[tuple[int, int]]:
    """The regions of an ELF64 little-endian object whose bytes steer the parser."""
    if len(raw) < 64 or raw[:4] != b"\x7fELF":
        return [(0, 64)]
    shoff, = struct.unpack_from("<Q", raw, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", raw, 0x3a)
    hot = [(0, 64), (shoff, shentsize * shnum)]
    for i in range(shnum):
        base = shoff + i * shentsize
        if base + 64 > len(raw):
            break
        sh_type, = struct.unpack_from("<I", raw, base + 4)
        off, size = struct.unpack_from("<QQ", raw, base + 24)
        if sh_type in (2, 4, 9):         # SYMTAB, RELA, REL: every entry matters
            hot.append((off, size))
        elif sh_type == 1 and size:       # PROGBITS (code, .BTF, .maps): their start
            hot.append((off, min(size, 256)))
    return hot


def check_status(st: Stats, where: str, exc: grpc.RpcError) -> None:
    code = exc.code()
    st.code(code.name)
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        st.failures.append(f"{where}: {code.name}: {(exc.details() or '')[:300]}")
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        st.failures.append(f"{where}: HANG (deadline exceeded)")
    elif code == grpc.StatusCode.UNAVAILABLE:
        st.failures.append(f"{where}: server UNAVAILABLE (crashed?): {(exc.details() or '')[:200]}")


# ---------------------------------------------------------------- ELF corpus
def kernel_verdict(raw: bytes, tmpdir) -> tuple[bool, str]:
    """(loaded, why) for the running kernel: every program of the object through BPF_PROG_LOAD."""
    from dataplane.errors import DataplaneError
    from dataplane.io.kload import KernelObject
    path = tmpdir / "k.o"
    path.write_bytes(raw)
    try:
        with KernelObject.load(str(path)):
            return True, ""
    except DataplaneError as exc:
        return False, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    except Exception as exc:      # noqa: BLE001 - our own ELF parsing of a mutant: not the kernel's verdict
        return False, f"(kload) {type(exc).__name__}: {exc}"[:200]


def is_verifier_rejection(why: str) -> bool:
    return "BPF_PROG_LOAD" in why or "verifier" in why.lower() or "permission denied" in why.lower()


def run_elf(server, seeds: list[bytes], n: int, seed: int, tmpdir, timeout: float = 30.0) -> Stats:
    from dataplane.service.protos import pb
    st = Stats()
    rng = random.Random(seed)
    mut = Mutator(rng)
    hots = [elf_hot(s) for s in seeds]
    for i in range(n):
        k = rng.randrange(len(seeds))
        raw = mut.mutate(seeds[k], hots[k])
        st.tried += 1
        where = f"elf#{i} (seed {seed}, base {k})"
        try:
            r = server.progs.Load(pb.LoadRequest(object=raw, name=f"fz{i}"), timeout=timeout)
        except grpc.RpcError as exc:
            check_status(st, where, exc)
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                break
            continue
        st.accepted += 1
        ok, why = kernel_verdict(raw, tmpdir)
        if not ok and is_verifier_rejection(why):
            st.failures.append(f"{where}: UNSOUND: dataplane accepted, the kernel rejects: {why}")
        st.code("kernel_ok" if ok else "kernel_other")
        try:
            server.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=timeout)
        except grpc.RpcError as exc:
            check_status(st, where + " unload", exc)
    return st


# ---------------------------------------------------------------- pcap corpus
def run_pcap(server, seeds: list[bytes], n: int, seed: int, tmpdir, hook: str, timeout: float = 60.0) -> Stats:
    from dataplane.service.protos import pb
    st = Stats()
    rng = random.Random(seed)
    mut = Mutator(rng)
    for i in range(n):
        k = rng.randrange(len(seeds))
        raw = mut.mutate(seeds[k], [(0, 64)])
        path = tmpdir / f"fz{i % 8}.pcap"
        path.write_bytes(raw)
        st.tried += 1
        where = f"pcap#{i} (seed {seed}, base {k})"
        try:
            s = server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=str(path)), timeout=timeout)
            last = None
            for last in server.replay.Watch(pb.WatchReplayRequest(id=s.id, interval_ms=20), timeout=timeout):
                pass
            if last is None or last.state not in ("done", "failed", "error", "stopped"):
                st.failures.append(f"{where}: replay did not end: {last}")
            else:
                st.code(f"replay_{last.state}")
                st.accepted += last.state == "done"
        except grpc.RpcError as exc:
            check_status(st, where, exc)
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                break
    return st


# ---------------------------------------------------------------- gRPC corpus
def methods(pb_module, services) -> list[tuple[str, object, bool]]:
    """(full method name, request class, server-streaming) of every method."""
    out = []
    for sd in services:
        for md in sd.methods:
            full = f"/{sd.full_name}/{md.name}"
            if full in SKIP_METHODS:
                continue
            cls = getattr(pb_module, md.input_type.name)
            out.append((full, cls, md.server_streaming))
    return out


STRINGS = ("", "x", "a" * 300, "../../../etc/passwd", "/dev/zero", "/proc/self/mem", "\x00", "a\x00b", "é€𝄞",
           "-1", "0", "999999999999", "first", "last", "pass", "drop", "INPUT", "k" * 16, "%s%n")


def _scalar(rng, fd):
    t = fd.type
    if t == fd.TYPE_STRING:
        return rng.choice(STRINGS)
    if t == fd.TYPE_BYTES:
        return rng.randbytes(rng.choice((0, 1, 3, 4, 8, 16, 64, 1000)))
    if t == fd.TYPE_BOOL:
        return rng.random() < 0.5
    if t == fd.TYPE_ENUM:
        return rng.choice([v.number for v in fd.enum_type.values] + [99, -1])
    if t in (fd.TYPE_INT32, fd.TYPE_SINT32, fd.TYPE_SFIXED32):
        return rng.choice((0, 1, -1, 2**31 - 1, -2**31, 7, 63, 64))
    if t in (fd.TYPE_INT64, fd.TYPE_SINT64, fd.TYPE_SFIXED64):
        return rng.choice((0, 1, -1, 2**63 - 1, -2**63))
    if t in (fd.TYPE_UINT32, fd.TYPE_FIXED32):
        return rng.choice((0, 1, 2, 3, 4, 7, 8, 63, 64, 65, 255, 4096, 2**31, 2**32 - 1))
    if t in (fd.TYPE_UINT64, fd.TYPE_FIXED64):
        return rng.choice((0, 1, 2**32, 2**63, 2**64 - 1))
    if t in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT):
        return rng.choice((0.0, -1.0, 1e308, float("inf"), float("nan"), 1e-9))
    return None


def mutate_fields(rng, cls, base: bytes) -> bytes:
    """Well-formed requests with hostile values: 1-3 fields set to edge values (the wire format stays valid,
    so the mutant reaches the handler)."""
    msg = cls.FromString(base)
    fields = cls.DESCRIPTOR.fields
    for _ in range(rng.randint(1, 3)):
        if not fields:
            break
        fd = rng.choice(fields)
        try:
            if fd.message_type is not None:
                if fd.message_type.GetOptions().map_entry:
                    getattr(msg, fd.name)[rng.choice(STRINGS)] = rng.choice(STRINGS)
                elif getattr(fd, "is_repeated", False) or fd.label == 3:
                    getattr(msg, fd.name).add()
                else:
                    getattr(msg, fd.name).SetInParent()
                continue
            v = _scalar(rng, fd)
            if getattr(fd, "is_repeated", False) or fd.label == 3:
                getattr(msg, fd.name).extend([v] * rng.randint(1, 3))
            else:
                setattr(msg, fd.name, v)
        except (AttributeError, TypeError, ValueError):
            continue
    return msg.SerializeToString()


def run_grpc(channel, seeds: dict[str, bytes], meths, n: int, seed: int, timeout: float = 30.0,
             after_each=None) -> Stats:
    """Half the mutants are well-formed requests with hostile field values, half are byte-level
    mutants (most of them malformed on the wire: INVALID_ARGUMENT, see service/decode.py)."""
    st = Stats()
    rng = random.Random(seed)
    mut = Mutator(rng)
    for i in range(n):
        full, cls, streaming = meths[rng.randrange(len(meths))]
        base = seeds.get(full, b"")
        if rng.random() < 0.5:
            raw = mutate_fields(rng, cls, base)
        else:
            raw = mut.mutate(base) if base or rng.random() < 0.5 else rng.randbytes(rng.randint(0, 40))
        st.tried += 1
        where = f"grpc#{i} {full} (seed {seed}) request={raw[:80].hex()}"
        try:
            if streaming:
                call = channel.unary_stream(full)(raw, timeout=timeout)
                for j, _ in enumerate(call):
                    if j >= 50:
                        call.cancel()
                        break
            else:
                channel.unary_unary(full)(raw, timeout=timeout)
            st.accepted += 1
            st.code("OK")
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                st.code("OK")
                continue
            check_status(st, where, exc)
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                break
        if after_each is not None:
            after_each(i)
    return st


def wait_serving(server, timeout: float = 30.0) -> bool:
    from grpc_health.v1 import health_pb2
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = server.health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            if r.status == health_pb2.HealthCheckResponse.SERVING:
                return True
        except grpc.RpcError:
            pass
        time.sleep(0.2)
    return False
