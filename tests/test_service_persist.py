"""State that survives restarts (issue 14): real `dataplane serve` processes
sharing one state_dir.

* a graceful restart (SIGTERM) keeps every program (same ids, same tags,
  verified again), every map entry (written over gRPC and written by the
  programs), conntrack entries made by a stateful firewall on a replayed
  trace, hooks with their chains, pins, links and revisions, and filters --
  the gRPC view before and after is the same, and ids handed out later are
  new ones;
* ``kill -9`` in the middle of a stream of control-plane updates loses
  none that was acknowledged;
* a damaged or newer-format state file stops the start with the file named,
  unless ``on_damage: start_empty``.
"""
from __future__ import annotations

import json
import os
import signal
import struct
import sys
import threading
import time

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import pb, rpc

sys.path.insert(0, str(ROOT / "tests"))
from support.progs import compile_c  # noqa: E402
from support.service import RPC_TIMEOUT, Server, start_server, wait_ready  # noqa: E402

FLOWS = 1000
T = RPC_TIMEOUT


def udp_frame(i: int) -> bytes:
    src = bytes([10, 7, (i >> 8) & 255, i & 255])
    udp = struct.pack(">HHHH", 20000 + i, 53, 12, 0) + b"ping"
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, bytes([10, 8, 0, 1]))
    return bytes.fromhex("020000000002" "020000000001" "0800") + ip + udp


def write_config(d, state, extra: str = "") -> str:
    cfg = d / "srv.yaml"
    cfg.write_text(f"grpc: {{listen: '127.0.0.1:0'}}\nmetrics: {{enabled: false}}\n"
                   f"paths: {{read: ['{d}'], write: ['{d}']}}\n"
                   f"state: {{dir: '{state}', interval: 3600, shutdown_timeout: 20{extra}}}\n")
    return str(cfg)


class Running:
    def __init__(self, cfg: str):
        self.proc, self.lines = start_server("--config", cfg, allow_tmp=False)
        g, _ = wait_ready(self.proc, self.lines)
        self.s = Server(self.proc, g, "", self.lines)
        self.s.links = rpc.LinksStub(self.s.channel)
        self.s.filter = rpc.FilterStub(self.s.channel)
        grpc.channel_ready_future(self.s.channel).result(timeout=T)

    def output(self) -> str:
        out = []
        while not self.lines.empty():
            out.append(self.lines.get_nowait())
        return "".join(out)

    def term(self) -> int:
        self.s.channel.close()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        return rc

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.s.channel.close()


def start_failure(cfg: str) -> tuple[int, str]:
    proc, lines = start_server("--config", cfg, allow_tmp=False)
    rc = proc.wait(timeout=120)
    out = []
    while not lines.empty():
        out.append(lines.get_nowait())
    return rc, "".join(out)


def dump(s, map_id: int) -> dict:
    out = {}
    for r in s.maps.Dump(pb.DumpRequest(map_id=map_id), timeout=T):
        out.update({e.key: e.value for e in r.entries})
    return out


def conntrack(s) -> set:
    seen, token = set(), ""
    while True:
        r = s.ct.List(pb.ListConntrackRequest(page_size=5000, page_token=token), timeout=T)
        seen |= {(e.proto, e.orig.src, e.orig.dst, e.orig.sport, e.orig.dport, e.reply.src, e.reply.dst,
                  e.reply.sport, e.reply.dport, e.status, e.mark, e.state) for e in r.entries}
        token = r.next_page_token
        if not token:
            return seen


def view(s) -> dict:
    """What a client sees of the state, minus what a restart may change (load time, run counters)."""
    progs = sorted((p.id, p.name, p.type, p.object_id, p.object_name, p.tag,
                    tuple(p.map_ids), p.verified)
                   for p in s.progs.List(pb.ListProgramsRequest(), timeout=T).programs)
    maps = sorted((m.id, m.name, m.type_id, m.key_size, m.value_size, m.max_entries, m.object_id, m.entries)
                  for m in s.maps.List(pb.ListMapsRequest(), timeout=T).maps)
    contents = {m[0]: dump(s, m[0]) for m in maps if m[2] not in (27,)}      # not the ringbuf
    hooks = {}
    for h in s.hooks.List(pb.ListHooksRequest(), timeout=T).hooks:
        hooks[h.name] = (h.revision, [(a.program_id, a.link_id, tuple(a.flags), tuple(a.proceed_on), a.priority)
                                      for a in h.chain])
    links = sorted((ln.id, ln.program_id, ln.hook, ln.revision, tuple(ln.flags), tuple(ln.proceed_on),
                    ln.attached, ln.position)
                   for ln in s.links.List(pb.ListLinksRequest(), timeout=T).links)
    filters = {h: [ln for ln in s.filter.Save(pb.SaveFilterRequest(hook=h, counters=True), timeout=T).text
                   .splitlines() if not ln.startswith("#")] for h in hooks if h == "fw"}
    return {"progs": progs, "maps": maps, "contents": contents, "hooks": hooks, "links": links,
            "filters": filters, "ct": conntrack(s)}


RULES = """*filter
:INPUT ACCEPT [0:0]
-A INPUT -p udp --dport 53 -s 10.7.0.0/24 -j ACCEPT
-A INPUT -p udp --dport 53 -j DROP
COMMIT
"""


def test_graceful_restart_keeps_everything(tmp_path, clang):
    d, state = tmp_path, tmp_path / "state"
    cfg = write_config(d, state)
    ct_fw = compile_c(clang, ROOT / "tests" / "progs" / "xdp_ct_fw.c", d / "xdp_ct_fw.o").read_bytes()
    fw = compile_c(clang, ROOT / "tests" / "progs" / "xdp_fw.c", d / "xdp_fw.o").read_bytes()
    counter = compile_c(clang, ROOT / "tests" / "progs" / "xdp_counter.c", d / "xdp_counter.o").read_bytes()
    trace = d / "flows.pcap"
    from dataplane.io.pcap import PcapWriter
    with PcapWriter(str(trace)) as w:
        for i in range(FLOWS):
            w.write(udp_frame(i), 1_700_000_000 * 10**9 + i)

    a = Running(cfg)
    try:
        s = a.s
        # a program loaded and unloaded first: its ids must never come back
        gone = s.progs.Load(pb.LoadRequest(object=counter, name="gone"), timeout=T).programs[0].id
        s.progs.Unload(pb.UnloadRequest(id=gone), timeout=T)
        p_ct = s.progs.Load(pb.LoadRequest(object=ct_fw), timeout=T).programs[0].id
        p_fw = s.progs.Load(pb.LoadRequest(object=fw), timeout=T).programs[0].id
        p_cnt = s.progs.Load(pb.LoadRequest(object=counter), timeout=T).programs[0].id
        maps = {m.name: m for m in s.maps.List(pb.ListMapsRequest(), timeout=T).maps}
        # map entries written over gRPC: 100 ports, 50 prefixes
        for port in range(100):
            s.maps.Update(pb.UpdateRequest(map_id=maps["port_block"].id, key=struct.pack("<HBx", 1000 + port, 17),
                                           value=b"\x01"), timeout=T)
        for i in range(50):
            s.maps.Update(pb.UpdateRequest(map_id=maps["src_block"].id, key=struct.pack("<I4B", 32, 192, 168, i, 1),
                                           value=struct.pack("<I", i)), timeout=T)
        s.maps.Delete(pb.DeleteRequest(map_id=maps["port_block"].id, key=struct.pack("<HBx", 1000, 17)), timeout=T)
        # hooks: a chain with a link, pins, a proceed-on set; revisions moved by edits
        ln = s.links.Create(pb.CreateLinkRequest(program_id=p_cnt, hook="edge", first=True,
                                                 proceed_on=["pass", "drop"]), timeout=T)
        s.hooks.Attach(pb.AttachRequest(program_id=p_ct, hook="edge"), timeout=T)
        s.hooks.Attach(pb.AttachRequest(program_id=p_fw, hook="edge", last=True), timeout=T)
        s.hooks.Detach(pb.DetachRequest(hook="edge", program_id=p_fw), timeout=T)
        s.hooks.Attach(pb.AttachRequest(program_id=p_fw, hook="edge", last=True), timeout=T)
        s.hooks.Attach(pb.AttachRequest(program_id=p_ct, hook="ct"), timeout=T)
        # an iptables filter on its own hook
        s.filter.Restore(pb.RestoreFilterRequest(hook="fw", rules=RULES, counters=True), timeout=T)
        # programs write: conntrack entries and the counter map, from a replayed trace
        st = s.replay.Start(pb.StartReplayRequest(hook="ct", pcap=str(trace)), timeout=T)
        final = list(s.replay.Watch(pb.WatchReplayRequest(id=st.id, interval_ms=50), timeout=120))[-1]
        assert final.state == "done", final
        st = s.replay.Start(pb.StartReplayRequest(hook="edge", pcap=str(trace)), timeout=T)
        final = list(s.replay.Watch(pb.WatchReplayRequest(id=st.id, interval_ms=50), timeout=120))[-1]
        assert final.state == "done", final
        st = s.replay.Start(pb.StartReplayRequest(hook="fw", pcap=str(trace)), timeout=T)
        final = list(s.replay.Watch(pb.WatchReplayRequest(id=st.id, interval_ms=50), timeout=120))[-1]
        assert final.state == "done", final
        before = view(s)
    except BaseException:
        a.kill()
        raise
    assert a.term() == 0, a.output()

    # what the test relies on is really there
    assert len(before["ct"]) == FLOWS
    assert before["hooks"]["edge"][0] > 3 and len(before["hooks"]["edge"][1]) == 3
    assert len(before["contents"][maps["port_block"].id]) == 99
    assert len(before["contents"][maps["src_block"].id]) == 50
    assert any(v != bytes(len(v)) for v in before["contents"][maps["proto_count"].id].values())
    # 10.7.0.0/24 holds the first 256 flows: accepted; the other 744 dropped
    fw_text = "\n".join(before["filters"]["fw"])
    assert "[256:" in fw_text and "[744:" in fw_text, fw_text

    b = Running(cfg)
    try:
        after = view(b.s)
        for k in before:
            assert after[k] == before[k], (k, before[k] if k != "ct" else len(before[k]),
                                           after[k] if k != "ct" else len(after[k]))
        # fresh ids are past every id handed out before the restart (the unloaded program's too)
        new = b.s.progs.Load(pb.LoadRequest(object=counter), timeout=T).programs[0]
        assert new.id > max(p[0] for p in before["progs"]) and new.id != gone
        assert min(new.map_ids) > max(m[0] for m in before["maps"])
        ln2 = b.s.links.Create(pb.CreateLinkRequest(program_id=new.id, hook="other"), timeout=T)
        assert ln2.id > ln.id
        # revisions still check: a client that read the chain before the restart can edit it
        rev = before["hooks"]["edge"][0]
        b.s.hooks.Detach(pb.DetachRequest(hook="edge", program_id=p_fw, expected_revision=rev), timeout=T)
        # the restored programs run: the filter's counters and the counter map move on
        st = b.s.replay.Start(pb.StartReplayRequest(hook="fw", pcap=str(trace)), timeout=T)
        final = list(b.s.replay.Watch(pb.WatchReplayRequest(id=st.id, interval_ms=50), timeout=120))[-1]
        assert final.state == "done", final
        saved = b.s.filter.Save(pb.SaveFilterRequest(hook="fw", counters=True), timeout=T).text
        assert "[512:" in saved and "[1488:" in saved, saved
    finally:
        assert b.term() == 0, b.output()


def test_kill_9_loses_nothing_acknowledged(tmp_path, clang, capsys):
    d, state = tmp_path, tmp_path / "state"
    cfg = write_config(d, state)
    counter = compile_c(clang, ROOT / "tests" / "progs" / "xdp_counter.c", d / "xdp_counter.o").read_bytes()
    a = Running(cfg)
    acked_maps: dict[bytes, bytes] = {}
    acked_hooks: dict[str, list[int]] = {}
    acked_links: dict[int, tuple[str, int]] = {}
    stop = threading.Event()
    errors: list[str] = []
    try:
        s = a.s
        pids = [s.progs.Load(pb.LoadRequest(object=counter, name=f"c{i}"), timeout=T).programs[0].id
                for i in range(4)]
        mid = s.progs.Get(pb.GetProgramRequest(id=pids[0]), timeout=T).map_ids[0]

        def stream(t: int):
            i = 0
            while not stop.is_set():
                try:
                    if i % 5 == 4:
                        hook = f"k{t}.{i}"
                        r = s.links.Create(pb.CreateLinkRequest(program_id=pids[i % 4], hook=hook), timeout=T)
                        acked_links[r.id] = (hook, pids[i % 4])
                    elif i % 5 == 3:
                        hook = f"h{t}.{i}"
                        s.hooks.Attach(pb.AttachRequest(program_id=pids[i % 4], hook=hook), timeout=T)
                        acked_hooks[hook] = [pids[i % 4]]
                    else:
                        # each stream its own keys, written in order: the last ack of a key is its value
                        k, v = struct.pack("<I", t * 128 + i % 128), struct.pack("<Q", i)
                        s.maps.Update(pb.UpdateRequest(map_id=mid, key=k, value=v), timeout=T)
                        acked_maps[k] = v
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:      # the kill itself
                        errors.append(f"{i}: {exc.code()} {exc.details()}")
                    return
                i += 1

        workers = [threading.Thread(target=stream, args=(t,)) for t in range(2)]
        for t in workers:
            t.start()
        time.sleep(4.0)
        a.proc.send_signal(signal.SIGKILL)          # in the middle of the stream
        a.proc.wait(timeout=30)
        stop.set()
        for t in workers:
            t.join(timeout=60)
    finally:
        if a.proc.poll() is None:
            a.kill()
        a.s.channel.close()
    assert not errors, errors
    assert len(acked_maps) > 20 and acked_hooks and acked_links, (len(acked_maps), len(acked_hooks))
    with capsys.disabled():
        print(f"\nkill -9 after {len(acked_maps)} map updates, {len(acked_hooks)} attaches, "
              f"{len(acked_links)} links acknowledged")

    b = Running(cfg)
    try:
        s = b.s
        got = dump(s, mid)
        # the one update in flight per stream when the kill came may have been made durable without
        # its answer arriving: such a key holds a LATER write of the same stream to the same key (the
        # stream writes key i % 128 with value i, in order), never an older one
        lost, in_flight = {}, {}
        for k, v in acked_maps.items():
            have = got.get(k)
            acked_i = struct.unpack("<Q", v)[0]
            later_i = struct.unpack("<Q", have)[0] if have is not None and len(have) == 8 else None
            if have == v:
                continue
            if later_i is not None and later_i > acked_i and (later_i - acked_i) % 128 == 0:
                in_flight[k] = (acked_i, later_i)
            else:
                lost[k] = (v, have)
        assert not lost, f"{len(lost)} acknowledged map updates lost of {len(acked_maps)}: {lost}"
        assert len(in_flight) <= 2, f"more keys ahead of their last ack than streams: {in_flight}"
        hooks = {h.name: [a_.program_id for a_ in h.chain]
                 for h in s.hooks.List(pb.ListHooksRequest(), timeout=T).hooks}
        for hook, chain in acked_hooks.items():
            assert hooks.get(hook) == chain, (hook, hooks.get(hook))
        links = {ln.id: (ln.hook, ln.program_id) for ln in s.links.List(pb.ListLinksRequest(), timeout=T).links}
        for lid, want in acked_links.items():
            assert links.get(lid) == want, (lid, links.get(lid))
    finally:
        assert b.term() == 0, b.output()


def _seed(tmp_path, clang):
    d, state = tmp_path, tmp_path / "state"
    cfg = write_config(d, state)
    counter = compile_c(clang, ROOT / "tests" / "progs" / "xdp_counter.c", d / "xdp_counter.o").read_bytes()
    a = Running(cfg)
    try:
        a.s.progs.Load(pb.LoadRequest(object=counter), timeout=T)
    finally:
        assert a.term() == 0
    return d, state, cfg


def test_damaged_or_newer_state_refuses_to_start_and_names_the_file(tmp_path, clang):
    d, state, cfg = _seed(tmp_path, clang)
    objects = state / "objects.json"
    good = objects.read_bytes()
    objects.write_bytes(good[: len(good) // 2])
    rc, out = start_failure(cfg)
    assert rc != 0 and str(objects) in out and "damaged" in out, out
    doc = json.loads(good)
    doc["format"] = 99
    objects.write_text(json.dumps(doc))
    rc, out = start_failure(cfg)
    assert rc != 0 and str(objects) in out and "format 99" in out and "newer" in out, out
    # told to: the damaged state is moved aside and the service starts from the config
    cfg2 = write_config(d, state, ", on_damage: start_empty")
    b = Running(cfg2)
    try:
        assert not b.s.progs.List(pb.ListProgramsRequest(), timeout=T).programs
        kept = [n for n in os.listdir(state) if n.startswith("damaged-")]
        assert kept and (state / kept[0] / "objects.json").read_text() == json.dumps(doc)
    finally:
        assert b.term() == 0


def test_a_second_server_on_the_same_state_dir_is_refused(tmp_path, clang):
    d, state, cfg = _seed(tmp_path, clang)
    a = Running(cfg)
    try:
        rc, out = start_failure(cfg)
        assert rc != 0 and "in use by another dataplane server" in out, out
    finally:
        assert a.term() == 0


def test_sigterm_drains_a_running_replay_then_snapshots(tmp_path, clang):
    """A replay looping until stopped is running at SIGTERM: the server stops it, takes the final
    snapshot after the last packet (the only snapshot here that can hold the program's counts:
    the periodic one is an hour away) and exits 0 -- not by the shutdown deadline (exit 3)."""
    d, state = tmp_path, tmp_path / "state"
    cfg = write_config(d, state)
    counter = compile_c(clang, ROOT / "tests" / "progs" / "xdp_counter.c", d / "xdp_counter.o").read_bytes()
    trace = d / "t.pcap"
    from dataplane.io.pcap import PcapWriter
    with PcapWriter(str(trace)) as w:
        for i in range(64):
            w.write(udp_frame(i), 1_700_000_000 * 10**9 + i)
    a = Running(cfg)
    try:
        r = a.s.progs.Load(pb.LoadRequest(object=counter), timeout=T).programs[0]
        a.s.hooks.Attach(pb.AttachRequest(program_id=r.id, hook="loop"), timeout=T)
        a.s.replay.Start(pb.StartReplayRequest(hook="loop", pcap=str(trace), loop=-1, rate="20000"), timeout=T)
        mid = r.map_ids[0]
        seen = 0
        deadline = time.monotonic() + 60
        while seen < 2000 and time.monotonic() < deadline:
            seen = sum(struct.unpack("<Q", v)[0] for v in dump(a.s, mid).values())
            time.sleep(0.1)
        assert seen >= 2000, seen
    except BaseException:
        a.kill()
        raise
    assert a.term() == 0, a.output()
    b = Running(cfg)
    try:
        after = sum(struct.unpack("<Q", v)[0] for v in dump(b.s, mid).values())
        assert after >= seen, (seen, after)
        # the client's looping replay was running at SIGTERM: it is restored (persist/feeds.py);
        # once the client stops it, nothing runs the hook and the count stays
        running = [r for r in b.s.replay.List(pb.ListReplaysRequest(), timeout=T).replays if r.state == "running"]
        assert len(running) == 1, running
        b.s.replay.Stop(pb.StopReplayRequest(id=running[0].id), timeout=T)
        after = sum(struct.unpack("<Q", v)[0] for v in dump(b.s, mid).values())
        time.sleep(0.3)
        assert sum(struct.unpack("<Q", v)[0] for v in dump(b.s, mid).values()) == after
    finally:
        assert b.term() == 0, b.output()
