"""Live traffic: the dataplane on a veth pair beside the kernel's own XDP, in
the same run, on the same generator.

Generator (--generator, default auto: the first that works here):
  live-frames  BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES runs a
               two-instruction XDP_TX program on a 64-byte UDP frame
               "received" on vG; each XDP_TX really transmits the frame out
               of vG, so it arrives at vR (vG's peer) as real traffic, in
               bulk (xdp_frames, no skb).  Some kernel builds refuse live
               frames (EPERM; tests/support/kernel_build.live_frames_refused).
  xsk          an AF_XDP socket in copy mode on vG sends the frame from its
               TX ring (dataplane.io.xsk_gen: C, no GIL, no Python per
               packet): the kernel builds an skb per frame and transmits it
               without a qdisc, so vR receives skbs (veth converts each to an
               XDP buffer for an XDP program: a copy).  Slower per packet
               than live frames, faster than AF_PACKET (sendmmsg or a
               TPACKET_V2 TX ring with PACKET_QDISC_BYPASS) on veth.
  Either runs in one thread pinned to CPU 0 for a fixed time per
  measurement (xsk also stops at --max-packets).  veth delivers to its peer
  in the sender's context, so the receive side's kernel work (XDP_DROP, the
  copy into a UMEM, the wakeup of the worker) is on the generator's CPU.

Measured, all on the same generator:
  kernel      native XDP_DROP on vR: packets dropped per second
  dataplane   vR-vO inline hook (AF_XDP and AF_PACKET), worker pinned to CPU
              1, with a pass-through program (PASS: forwarded out of vO,
              whose peer drops it natively) and with the sample firewall
              blocking the generator's source (DROP): packets the hook ran
              per second, the ratio to the kernel, worker CPU ns per packet
  no naps     the AF_XDP firewall with nap_us 0: the worker waits for an empty
              RX ring by spinning 20 us, then in poll(), also under load
  same CPU    diagnostic: the firewall's worker pinned to the generator's CPU:
              the rate the kernel delivers at when no other CPU is involved
  tap         single interface (AF_XDP): PASS written to the TAP device --
              the cost of reaching the host stack from AF_XDP
  ping        RTT p50/p99 between two namespaces through the dataplane
              inline (AF_XDP, AF_PACKET) and over a direct veth pair; to the
              host through the TAP vs to the host on the veth itself

  queues      --queues N (default 2): veth pairs with N queues, one generator
              thread per CPU 0..N-1 (veth gives a frame sent on CPU c to the
              peer's queue c), kernel XDP_DROP vs the firewall with one worker
              per queue pinned to that queue's CPU

  gen CPU     the generator thread's CPU time per packet sent (kernel XDP_DROP
              and each dataplane row): the receiving veth's NAPI runs in its
              softirq context, so this is what delivering a packet costs the
              generator's CPU -- independent of how much of that CPU the
              scheduler granted on a shared machine (the rates are not)

Each figure is the median of --runs runs (default 3), spread = max - min.
The figures also go to benchmarks/results/live.json (results.py; README
table and a PNG there).

    .venv/bin/python benchmarks/live.py [--seconds 2] [--runs 3] [--queues 2] [--json]
        [--generator auto|live-frames|xsk] [--max-packets N] [--gen-nice N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataplane.errors import DataplaneError                     # noqa: E402
from dataplane.hooks import Hook, bind                          # noqa: E402
from dataplane.io import kbpf, netlink                          # noqa: E402
from dataplane.isa.instruction import Instruction, encode      # noqa: E402
from dataplane.live import LiveHook, LiveSpec                   # noqa: E402
from dataplane.runtime.collection import Collection             # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
GEN_SRC = bytes([10, 99, 0, 1])


def sh(cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True)


def udp64(dst_mac: bytes) -> bytes:
    """A 64-byte Ethernet/IPv4/UDP frame (60 on the wire without FCS) from GEN_SRC."""
    payload = b"\x00" * 18
    udp = struct.pack("!HHHH", 1234, 5678, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, GEN_SRC, bytes([10, 99, 0, 2]))
    return (dst_mac + bytes.fromhex("02aabbccdd01") + b"\x08\x00" + ip + udp).ljust(64, b"\0")


def const_prog(ret: int, name: str) -> kbpf.LoadedProg:
    return kbpf.prog_load(encode([Instruction(0xB7, 0, 0, 0, ret), Instruction(0x95)]), name=name)


GEN_NICE = [0]      # --gen-nice: the generator threads' nice value, the same in every row


class Generator:
    """XDP_TX live frames out of ``ifname`` from one thread per CPU of
    ``cpus``. veth hands a frame sent on CPU c to its peer's RX queue
    c % queues, so one generator per CPU feeds one queue each."""

    name = "live-frames"

    def __init__(self, ifname: str, frame: bytes, cpus: tuple[int, ...] = (0,), max_packets: int = 0):
        self.prog = const_prog(3, "gen_tx")
        self.ctx = struct.pack("<IIIIII", 0, len(frame), 0, netlink.interface(ifname).index, 0, 0)
        self.frame, self.cpus = frame, cpus

    def run(self, seconds: float) -> tuple[int, float]:
        """Send for ``seconds``: (packets, elapsed). ``self.cpu_s`` is then the
        generator threads' CPU time (user + system): the receiving veth's
        NAPI -- the kernel's XDP_DROP, or its copy into an AF_XDP UMEM --
        runs in their softirq context, so it is in there too."""
        out = {}

        def loop(cpu):
            os.sched_setaffinity(0, {cpu})
            if GEN_NICE[0]:
                os.setpriority(os.PRIO_PROCESS, 0, GEN_NICE[0])        # this thread only (Linux)
            sent, t0, c0 = 0, time.perf_counter(), time.thread_time()
            while time.perf_counter() - t0 < seconds:
                kbpf.prog_test_run(self.prog.fd, self.frame, repeat=200_000, ctx=self.ctx,
                                   flags=kbpf.BPF_F_TEST_XDP_LIVE_FRAMES, batch_size=256)
                sent += 200_000
            out[cpu] = (sent, time.perf_counter() - t0, time.thread_time() - c0)

        ts = [threading.Thread(target=loop, args=(c,)) for c in self.cpus]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.cpu_s = sum(r[2] for r in out.values())
        return sum(r[0] for r in out.values()), max(r[1] for r in out.values())

    def close(self):
        self.prog.close()


class XskGen:
    """The frame from an AF_XDP TX ring (copy mode) on ``ifname``, one
    socket and thread per CPU of ``cpus``: thread i, pinned to cpus[i],
    sends on TX queue i, which veth delivers to its peer's RX queue i (in
    that thread's context, so on that CPU)."""

    name = "xsk"

    def __init__(self, ifname: str, frame: bytes, cpus: tuple[int, ...] = (0,), max_packets: int = 50_000_000):
        from dataplane.io.xsk_gen import XskGenerator
        idx = netlink.interface(ifname).index
        self.gens = []
        try:
            for q in range(len(cpus)):
                self.gens.append(XskGenerator(idx, q, frame))
        except BaseException:
            self.close()
            raise
        self.cpus, self.max_packets = cpus, max_packets

    def run(self, seconds: float) -> tuple[int, float]:
        """As Generator.run; each thread also stops after max_packets."""
        out, errs = {}, []

        def loop(i, cpu):
            try:
                os.sched_setaffinity(0, {cpu})
                if GEN_NICE[0]:
                    os.setpriority(os.PRIO_PROCESS, 0, GEN_NICE[0])    # this thread only (Linux)
                t0, c0 = time.perf_counter(), time.thread_time()
                sent = self.gens[i].run(self.max_packets, seconds)
                out[cpu] = (sent, time.perf_counter() - t0, time.thread_time() - c0)
            except BaseException as e:          # noqa: BLE001 - re-raised below, in the caller
                errs.append(e)

        ts = [threading.Thread(target=loop, args=(i, c)) for i, c in enumerate(self.cpus)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errs:
            raise errs[0]
        self.cpu_s = sum(r[2] for r in out.values())
        return sum(r[0] for r in out.values()), max(r[1] for r in out.values())

    def close(self):
        for g in self.gens:
            g.close()
        self.gens = []


GENERATORS = {"live-frames": Generator, "xsk": XskGen}
GEN_TEXT = {"live-frames": "BPF_PROG_TEST_RUN live frames (XDP_TX)",
            "xsk": "AF_XDP TX ring in copy mode (dataplane.io.xsk_gen)"}


def live_frames_work() -> str | None:
    """None when this kernel runs BPF_F_TEST_XDP_LIVE_FRAMES, else why not."""
    gen = const_prog(3, "gen_probe")
    try:
        kbpf.prog_test_run(gen.fd, bytes(64), repeat=1, flags=kbpf.BPF_F_TEST_XDP_LIVE_FRAMES)
        return None
    except OSError as e:
        # one 6.18.44 build answers EPERM for live frames, whatever the program
        return f"this kernel ({os.uname().release}) refuses BPF_F_TEST_XDP_LIVE_FRAMES: {e}"
    finally:
        gen.close()


class Bench:
    def __init__(self, gen_cls=Generator, queues: int = 1, max_packets: int = 50_000_000):
        tag = f"{os.getpid() % 100000}{queues}"
        self.queues = queues
        self.vG, self.vR, self.vO, self.vP = f"bG{tag}", f"bR{tag}", f"bO{tag}", f"bP{tag}"
        q = f"numtxqueues {queues} numrxqueues {queues}"
        sh(f"ip link add {self.vG} {q} type veth peer {self.vR} {q}")
        sh(f"ip link add {self.vO} {q} type veth peer {self.vP} {q}")
        for d in (self.vG, self.vR, self.vO, self.vP):
            sh(f"sysctl -qw net.ipv6.conf.{d}.disable_ipv6=1")
            sh(f"ip link set {d} up")
        # forwarded frames end at vP: dropped natively, as cheaply as possible
        self.sink = const_prog(1, "sink_drop")
        netlink.xdp_attach(self.vP, self.sink.fd, "native")
        try:
            self.gen = gen_cls(self.vG, udp64(bytes.fromhex(netlink.interface(self.vR).mac.replace(":", ""))),
                               cpus=tuple(range(queues)), max_packets=max_packets)
        except BaseException:
            self.gen = None
            self.close()
            raise

    def close(self):
        if self.gen is not None:
            self.gen.close()
        for d in (self.vG, self.vO):
            sh(f"ip link del {d}", check=False)
        self.sink.close()

    def kernel_drop(self, seconds: float) -> float:
        with const_prog(1, "kern_drop") as p:
            netlink.xdp_attach(self.vR, p.fd, "native")
            try:
                before = _rx_packets(self.vR)
                sent, dt = self.gen.run(seconds)
                got = _rx_packets(self.vR) - before
            finally:
                netlink.xdp_detach(self.vR, "native", p.fd)
        self.kernel_gen_ns = self.gen.cpu_s * 1e9 / sent if sent else float("nan")
        return got / dt

    def tap_pass(self, seconds: float) -> dict:
        """Single interface (AF_XDP) with a pass-through program: every frame
        is written to the TAP device (the host stack's way in)."""
        hook = Hook("tap")
        hook.attach(bind(_pass_collection(), "xdp_pass"))
        live = LiveHook(hook, LiveSpec("tap", [self.vR], mode="single", cpus=[1], tap=f"bT{os.getpid() % 100000}",
                                       ring_size=16384, frame_size=2048)).start()
        try:
            sh(f"sysctl -qw net.ipv6.conf.{live.spec.tap_name}.disable_ipv6=1")
            time.sleep(0.2)
            w = live.workers[0]
            c0, n0 = _thread_cpu(w), sum(hook.totals()["packets"].values())
            sent, dt = self.gen.run(seconds)
            n1 = sum(hook.totals()["packets"].values())
            cpu = _thread_cpu(w) - c0
            host = sum(q["host_packets"] for q in live.queue_stats())
        finally:
            live.stop()
        ran = n1 - n0
        return {"mpps": ran / dt / 1e6, "cpu_ns_per_packet": cpu * 1e9 / ran if ran else float("nan"),
                "host_share": host / n1 if n1 else 0.0}

    def dataplane(self, io: str, program: str, seconds: float, cpu: int = 1, nap_us: int | None = None) -> dict:
        """One worker (queues == 1) pinned to ``cpu``; with several queues
        one worker per queue, worker q pinned to CPU q (its generator's)."""
        hook = Hook("bench", ifindex=netlink.interface(self.vR).index)
        coll = Collection.load(str(FW)) if program == "fw" else _pass_collection()
        if program == "fw":
            key = struct.pack("<I", 32) + GEN_SRC
            coll.map("src_block").update(key, struct.pack("<I", 1))
        hook.attach(bind(coll, "xdp_firewall" if program == "fw" else "xdp_pass"))
        pass_prog = None
        if io == "afpacket":
            # veth only takes XDP frames into a device with an XDP program: PASS them up to AF_PACKET
            pass_prog = const_prog(2, "bench_pass")
            netlink.xdp_attach(self.vR, pass_prog.fd, "native")
        # AF_XDP: deep rings (2048-byte frames keep the UMEM at 128 MiB) so
        # that a worker the scheduler leaves waiting for a few ms on a shared
        # CPU does not lose packets at the RX ring
        cpus = [cpu] if self.queues == 1 else list(range(self.queues))
        tune = {} if nap_us is None else {"nap_us": nap_us}
        live = LiveHook(hook, LiveSpec("bench", [self.vR, self.vO], io=io, cpus=cpus, batch_size=256,
                                       ring_size=16384 if io == "afxdp" else 2048,
                                       frame_size=2048 if io == "afxdp" else 4096, **tune)).start()
        try:
            time.sleep(0.2)
            c0, t0 = sum(map(_thread_cpu, live.workers)), hook.totals()["packets"]
            n0 = sum(t0.values())
            k0 = _kernel_drops(live, self.vR)
            sent, dt = self.gen.run(seconds)
            n1 = sum(hook.totals()["packets"].values())
            cpu = sum(map(_thread_cpu, live.workers)) - c0
            kdrops = _kernel_drops(live, self.vR) - k0
        finally:
            live.stop()
            if pass_prog is not None:
                netlink.xdp_detach(self.vR, "native", pass_prog.fd)
                pass_prog.close()
        ran = n1 - n0
        return {"mpps": ran / dt / 1e6, "offered_mpps": sent / dt / 1e6,
                "gen_cpu_ns_per_packet": self.gen.cpu_s * 1e9 / sent if sent else float("nan"),
                "cpu_ns_per_packet": cpu * 1e9 / ran if ran else float("nan"),
                "kernel_drop_share": kdrops / sent if sent else 0.0}


_PASS_SRC = None


def _pass_collection():
    """A one-instruction XDP_PASS program as an ObjectSpec (no clang needed)."""
    from dataplane.loader import spec as S
    ps = S.ProgramSpec("xdp_pass", "xdp", 6, None, encode([Instruction(0xB7, 0, 0, 0, 2), Instruction(0x95)]),
                       license="GPL", sec_insn_cnt=2)
    return Collection.load(S.ObjectSpec("pass", {"xdp_pass": ps}, {}, license="GPL"))


def _kernel_drops(live, ifname: str) -> int:
    """Packets the kernel could not hand to the dataplane on ``ifname``
    (AF_XDP: RX ring full, or dropped -- no fill frame; AF_PACKET: tp_drops).
    rx_fill_ring_empty_descs is not added: the same packets are in rx_dropped."""
    n = 0
    for row in live.queue_stats():
        if row["interface"] == ifname:
            k = row.get("kernel", {})
            n += k.get("rx_ring_full", 0) + k.get("rx_dropped", 0) + k.get("tp_drops", 0)
    return n


def _rx_packets(ifname: str) -> int:
    return int(Path(f"/sys/class/net/{ifname}/statistics/rx_packets").read_text())


def _thread_cpu(worker) -> float:
    """CPU seconds of a worker thread (user + system), from /proc."""
    tid = worker._thread.native_id
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ping_rtts(io: str | None, count: int = 200) -> tuple[float, float]:
    """p50/p99 RTT (ms) of `ping -i 0.005` from ns a to ns b: through the
    dataplane inline (io) or over a direct veth pair (io None)."""
    tag = f"{os.getpid() % 100000}{io or 'd'}"[:10]
    na, nb = f"pa{tag}", f"pb{tag}"
    sh(f"ip netns add {na}; ip netns add {nb}")
    live = None
    try:
        if io is None:
            sh(f"ip link add a0 netns {na} type veth peer b0 netns {nb}")
        else:
            A, B = f"pA{tag}", f"pB{tag}"
            sh(f"ip link add {A} type veth peer a0 netns {na}")
            sh(f"ip link add {B} type veth peer b0 netns {nb}")
            for d in (A, B):
                sh(f"sysctl -qw net.ipv6.conf.{d}.disable_ipv6=1; ip link set {d} up")
        for ns, dev, ip in ((na, "a0", "10.0.0.1"), (nb, "b0", "10.0.0.2")):
            sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
            sh(f"ip -n {ns} addr add {ip}/24 dev {dev}; ip -n {ns} link set {dev} up")
        if io is not None:
            hook = Hook("ping")
            hook.attach(bind(_pass_collection(), "xdp_pass"))
            live = LiveHook(hook, LiveSpec("ping", [A, B], io=io, cpus=[1])).start()
        sh(f"ip netns exec {na} ping -c 3 -i 0.1 -W 1 10.0.0.2", check=False)     # ARP, warm caches
        out = sh(f"ip netns exec {na} ping -n -c {count} -i 0.005 -W 1 10.0.0.2", check=False).stdout
        rtts = sorted(float(line.split("time=")[1].split()[0]) for line in out.splitlines() if "time=" in line)
        if len(rtts) < count // 2:
            raise RuntimeError(f"ping through {io or 'direct'}: {len(rtts)}/{count} replies")
        return rtts[len(rtts) // 2], rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
    finally:
        if live is not None:
            live.stop()
        if io is not None:
            sh(f"ip link del pA{tag}", check=False)
            sh(f"ip link del pB{tag}", check=False)
        sh(f"ip netns del {na}; ip netns del {nb}", check=False)


def tap_ping_rtts(count: int = 200) -> tuple[float, float, float, float]:
    """Single interface: ping from a namespace to the host's address, the
    host on a TAP the dataplane feeds (AF_XDP), vs the host on the veth
    itself. (p50, p99) of each, ms."""
    tag = os.getpid() % 100000
    ns, S = f"pt{tag}", f"pS{tag}"
    sh(f"ip netns add {ns}")
    try:
        sh(f"ip link add {S} type veth peer c0 netns {ns}")
        sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
        sh(f"sysctl -qw net.ipv6.conf.{S}.disable_ipv6=1; ip link set {S} up")
        sh(f"ip -n {ns} addr add 10.7.0.1/24 dev c0; ip -n {ns} link set c0 up")
        out = {}
        for how in ("direct", "tap"):
            live = None
            if how == "direct":
                sh(f"ip addr add 10.7.0.2/24 dev {S}")
            else:
                sh(f"ip addr flush dev {S}")
                sh(f"ip -n {ns} neigh flush all")
                hook = Hook("tping")
                hook.attach(bind(_pass_collection(), "xdp_pass"))
                live = LiveHook(hook, LiveSpec("tping", [S], mode="single", cpus=[1], tap=f"pT{tag}")).start()
                sh(f"sysctl -qw net.ipv6.conf.pT{tag}.disable_ipv6=1; ip addr add 10.7.0.2/24 dev pT{tag}")
            try:
                sh(f"ip netns exec {ns} ping -c 3 -i 0.1 -W 1 10.7.0.2", check=False)
                txt = sh(f"ip netns exec {ns} ping -n -c {count} -i 0.005 -W 1 10.7.0.2", check=False).stdout
                rtts = sorted(float(x.split("time=")[1].split()[0]) for x in txt.splitlines() if "time=" in x)
                if len(rtts) < count // 2:
                    raise RuntimeError(f"ping to the host ({how}): {len(rtts)}/{count} replies")
                out[how] = (rtts[len(rtts) // 2], rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))])
            finally:
                if live is not None:
                    live.stop()
        return (*out["direct"], *out["tap"])
    finally:
        sh(f"ip link del {S}", check=False)
        sh(f"ip netns del {ns}", check=False)


def med(xs: list[float]) -> tuple[float, float]:
    return statistics.median(xs), (max(xs) - min(xs))


def write_results(res: dict[str, list[float]], args) -> None:
    """The figures into benchmarks/results/live.json (+ plot, README table)."""
    from results import Results
    nice = f", generator at nice {args.gen_nice}" if args.gen_nice else ""
    r = Results("live", f"live traffic on veth, 64-byte UDP, generator {GEN_TEXT[args.generator]}{nice}; median "
                        f"of {args.runs} x {args.seconds:g} s on a 2-vCPU VM shared with other builds")

    def fig(key, unit, peer="", peer_key=None, note=""):
        if key not in res:
            return
        v = res[key]
        pv = statistics.median(res[peer_key]) if peer_key in res else None
        r.figure(key, statistics.median(v), unit, spread=(min(v), max(v)), runs=len(v), peer=peer if pv else "",
                 peer_value=pv, note=note)

    fig("kernel_xdp_drop_mpps", "Mpps", note="native XDP_DROP on the receiving veth")
    fig("kernel_xdp_drop_gen_cpu_ns", "ns/packet", note="generator CPU per packet, incl. the receive softirq")
    rows = [k[:-5] for k in res if k.endswith("_mpps") and not k.startswith(("kernel", "q")) and "offered" not in k]
    for row in rows:
        fig(f"{row}_mpps", "Mpps", "kernel XDP_DROP", "kernel_xdp_drop_mpps")
        fig(f"{row}_gen_cpu_ns", "ns/packet", "kernel XDP_DROP", "kernel_xdp_drop_gen_cpu_ns",
            note="generator CPU per packet sent, incl. the kernel's delivery to the dataplane")
        fig(f"{row}_cpu_ns", "ns/packet", note="dataplane worker CPU per packet")
    for k in [k for k in res if k.startswith("q") and k.endswith("_mpps") and "offered" not in k]:
        if "kernel" in k:
            fig(k, "Mpps")
        else:
            fig(k, "Mpps", "kernel XDP_DROP", f"{k.split('_', 1)[0]}_kernel_xdp_drop_mpps")
    for k in [k for k in res if k.startswith("ping_")]:
        peer = k.replace("afxdp", "direct").replace("afpacket", "direct").replace("via_tap", "direct")
        fig(k, "ms", "direct" if peer != k else "", peer if peer != k else None)
    names = [row for row in rows if f"{row}_mpps" in res]
    r.plot("mpps", "Mpps on the same generator (one queue)", "path", "Mpps",
           {"median": (["kernel XDP_DROP"] + names, [statistics.median(res["kernel_xdp_drop_mpps"])]
                       + [statistics.median(res[f"{n}_mpps"]) for n in names])}, kind="bar")
    r.write()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--io", default="afxdp,afpacket")
    ap.add_argument("--generator", choices=("auto", *GENERATORS), default="auto",
                    help="auto: live-frames where the kernel runs them, else xsk")
    ap.add_argument("--max-packets", type=int, default=50_000_000,
                    help="xsk generator: at most this many frames per thread and measurement")
    ap.add_argument("--gen-nice", type=int, default=0,
                    help="nice value of the generator threads (every row alike; e.g. -10 so that other load "
                         "on a shared machine takes less of the generator's CPU)")
    ap.add_argument("--queues", type=int, default=2,
                    help="also measure the firewall with this many veth queues (one generator and one "
                         "worker per queue and CPU); 1: skip")
    args = ap.parse_args()
    if not -20 <= args.gen_nice <= 19:
        ap.error("--gen-nice: -20..19")
    GEN_NICE[0] = args.gen_nice
    if os.geteuid() != 0:
        print("benchmarks/live.py needs root (veth, XDP, AF_XDP)", file=sys.stderr)
        return 1
    if not FW.exists():
        print(f"{FW} missing", file=sys.stderr)
        return 1
    why = live_frames_work() if args.generator in ("auto", "live-frames") else "not asked for"
    if args.generator == "live-frames" and why:
        print(f"benchmarks/live.py: --generator live-frames: {why}", file=sys.stderr)
        return 2
    gen_name = "live-frames" if why is None else "xsk"
    if args.generator == "auto" and why:
        print(f"benchmarks/live.py: {why}; generator: xsk (AF_XDP TX, copy mode)", file=sys.stderr)
    gen_cls = GENERATORS[gen_name]
    args.generator = gen_name
    ios = args.io.split(",")
    res: dict[str, list[float]] = {}
    try:
        b = Bench(gen_cls, max_packets=args.max_packets)
    except (OSError, DataplaneError) as e:   # XskError: no AF_XDP here (capabilities, old kernel)
        print(f"benchmarks/live.py: generator {gen_name}: {e}", file=sys.stderr)
        return 2
    try:
        for _ in range(args.runs):
            k = b.kernel_drop(args.seconds)
            res.setdefault("kernel_xdp_drop_mpps", []).append(k / 1e6)
            res.setdefault("kernel_xdp_drop_gen_cpu_ns", []).append(b.kernel_gen_ns)
            for io in ios:
                for prog in ("pass", "fw"):
                    r = b.dataplane(io, prog, args.seconds)
                    res.setdefault(f"{io}_{prog}_gen_cpu_ns", []).append(r["gen_cpu_ns_per_packet"])
                    res.setdefault(f"{io}_{prog}_mpps", []).append(r["mpps"])
                    res.setdefault(f"{io}_{prog}_ratio", []).append(r["mpps"] * 1e6 / k)
                    res.setdefault(f"{io}_{prog}_cpu_ns", []).append(r["cpu_ns_per_packet"])
                    res.setdefault(f"{io}_{prog}_offered_mpps", []).append(r["offered_mpps"])
                    res.setdefault(f"{io}_{prog}_kernel_drop_share", []).append(r["kernel_drop_share"])
            if "afxdp" in ios:
                # diagnostic: the worker on the generator's CPU -- how fast the kernel
                # delivers into a UMEM whose consumer shares its CPU (no cross-CPU traffic)
                # the same without naps under load (nap_us 0: spin, then poll(), as light traffic)
                r = b.dataplane("afxdp", "fw", args.seconds, nap_us=0)
                res.setdefault("afxdp_fw_nap0_mpps", []).append(r["mpps"])
                res.setdefault("afxdp_fw_nap0_ratio", []).append(r["mpps"] * 1e6 / k)
                res.setdefault("afxdp_fw_nap0_gen_cpu_ns", []).append(r["gen_cpu_ns_per_packet"])
                res.setdefault("afxdp_fw_nap0_cpu_ns", []).append(r["cpu_ns_per_packet"])
                r = b.dataplane("afxdp", "fw", args.seconds, cpu=0)
                res.setdefault("afxdp_fw_same_cpu_offered_mpps", []).append(r["offered_mpps"])
                res.setdefault("afxdp_fw_same_cpu_mpps", []).append(r["mpps"])
                res.setdefault("afxdp_fw_same_cpu_ratio", []).append(r["mpps"] * 1e6 / k)
                r = b.tap_pass(args.seconds)
                res.setdefault("afxdp_single_tap_pass_mpps", []).append(r["mpps"])
                res.setdefault("afxdp_single_tap_pass_cpu_ns", []).append(r["cpu_ns_per_packet"])
    finally:
        b.close()
    if args.queues > 1 and len(os.sched_getaffinity(0)) < args.queues:
        print(f"--queues {args.queues}: needs {args.queues} CPUs, skipped", file=sys.stderr)
    elif args.queues > 1:
        b = Bench(gen_cls, args.queues, max_packets=args.max_packets)
        q = args.queues
        try:
            for _ in range(args.runs):
                k = b.kernel_drop(args.seconds)
                res.setdefault(f"q{q}_kernel_xdp_drop_mpps", []).append(k / 1e6)
                for io in ios:
                    r = b.dataplane(io, "fw", args.seconds)
                    res.setdefault(f"q{q}_{io}_fw_mpps", []).append(r["mpps"])
                    res.setdefault(f"q{q}_{io}_fw_ratio", []).append(r["mpps"] * 1e6 / k)
                    res.setdefault(f"q{q}_{io}_fw_cpu_ns", []).append(r["cpu_ns_per_packet"])
                    res.setdefault(f"q{q}_{io}_fw_offered_mpps", []).append(r["offered_mpps"])
        finally:
            b.close()
    for _ in range(args.runs):
        for io in [None] + ios:
            p50, p99 = ping_rtts(io)
            res.setdefault(f"ping_{io or 'direct'}_p50_ms", []).append(p50)
            res.setdefault(f"ping_{io or 'direct'}_p99_ms", []).append(p99)
        if "afxdp" in ios:
            d50, d99, t50, t99 = tap_ping_rtts()
            res.setdefault("ping_host_direct_p50_ms", []).append(d50)
            res.setdefault("ping_host_direct_p99_ms", []).append(d99)
            res.setdefault("ping_host_via_tap_p50_ms", []).append(t50)
            res.setdefault("ping_host_via_tap_p99_ms", []).append(t99)
    summary = {k: {"median": med(v)[0], "spread": med(v)[1], "runs": v} for k, v in res.items()}
    write_results(res, args)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"live traffic, 64-byte UDP, generator: {GEN_TEXT[args.generator]} on CPU 0, "
          f"dataplane worker on CPU 1; median of {args.runs} x {args.seconds:g}s (spread = max-min)")
    for k, v in summary.items():
        print(f"  {k:32s} {v['median']:10.3f}   spread {v['spread']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
