"""PcapReader survives its file being truncated under it.

Found by review: the reader mmapped its input, so when another process
truncated the file during a replay the process died of SIGBUS (the service
with it).  It still maps the file (one copy per packet), but the native fill
runs under a SIGBUS guard and a shrinking file is reported as a truncated
record at its offset.  Big files, records bigger than 1 MiB, pcapng blocks,
rewinds and batch boundaries all read as from one buffer.
"""
from __future__ import annotations

import os
from pathlib import Path
import signal
import struct
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from dataplane.errors import PcapError
from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader, PcapWriter

WINDOW = 1 << 20


def frame(i: int, size: int) -> bytes:
    head = bytes.fromhex("020000000002" "020000000001" "0800") + struct.pack(">I", i)
    return (head + bytes((i + k) & 255 for k in range(64))).ljust(size, b"\x5a")[:size]


def classic(path, frames, snaplen=262144):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, snaplen, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i, 0, len(fr), len(fr)) + fr)


def pcapng(path, frames):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    with open(path, "wb") as f:
        f.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        f.write(block(1, struct.pack("<HHI", 1, 0, 0)))
        for i, fr in enumerate(frames):
            f.write(block(6, struct.pack("<IIIII", 0, 0, i, len(fr), len(fr)) + fr))


def read_all(path, batch=256, max_len=None):
    r = PcapReader(path)
    b = FrameBatch(batch) if max_len is None else FrameBatch(batch, max_len)
    out, sizes = [], []
    while n := r.read_batch(b):
        sizes.append(n)
        out += [b.frame(i) for i in range(n)]
    return r, out, sizes


@pytest.mark.parametrize("writer", [classic, pcapng])
@pytest.mark.parametrize("size", [60, 1000, 1514])
def test_many_windows_read_like_one_buffer(tmp_path, writer, size):
    frames = [frame(i, size) for i in range(3 * WINDOW // size + 77)]
    path = tmp_path / "t.pcap"
    writer(path, frames)
    assert path.stat().st_size > 3 * WINDOW
    r, got, sizes = read_all(path, batch=256)
    assert got == frames
    # batches stay full across window boundaries, short only at the end
    assert all(n == 256 for n in sizes[:-1])
    r.rewind()
    b = FrameBatch(256)
    assert r.read_batch(b) == 256 and b.frame(0) == frames[0] and b.frame(255) == frames[255]


def test_record_bigger_than_a_window(tmp_path):
    big = frame(1, 3 * WINDOW + 123)
    frames = [frame(0, 100), big, frame(2, 100)]
    path = tmp_path / "big.pcap"
    classic(path, frames, snaplen=0)
    r, got, _ = read_all(path, batch=4, max_len=4 * WINDOW)
    assert got == frames


def test_truncated_under_the_reader_is_an_error_with_offset(tmp_path):
    frames = [frame(i, 500) for i in range(10000)]      # ~5 MB: several windows
    path = tmp_path / "t.pcap"
    classic(path, frames)
    r = PcapReader(path)
    b = FrameBatch(256)
    assert r.read_batch(b) == 256
    os.truncate(path, 2 * WINDOW + 100)
    n = 256
    with pytest.raises(PcapError) as ei:
        while r.read_batch(b):
            n += b.count
    assert "shrank" in str(ei.value) and ei.value.offset > 0
    rec = 516                                      # 16-byte header + 500
    assert ei.value.offset == 24 + n * rec         # the first record that is no longer whole
    assert n == (2 * WINDOW + 100 - 24) // rec


def test_replay_cli_survives_truncation(tmp_path):
    """`dataplane replay` on a trace another process truncates: a clean error
    naming the offset (exit 2), not death by SIGBUS."""
    path = tmp_path / "long.pcap"
    b = FrameBatch(256)
    for i in range(256):
        b.append(frame(i, 100), 0)
    with PcapWriter(str(path)) as w:
        for _ in range(800):                     # 204,800 packets, ~24 MB
            w.write_batch(b)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    fw = ROOT / "dataplane" / "data" / "xdp_fw.o"
    proc = subprocess.Popen([sys.executable, "-m", "dataplane", "replay", "--prog", f"{fw}:xdp_firewall",
                             "--rate", "100000", str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # truncate only once the replay has the trace mapped (start-up, JIT
        # compile and a loaded machine can take seconds): a cut before the
        # open is a short file, not one that shrank under the reader
        deadline = time.monotonic() + 60
        while str(path) not in Path(f"/proc/{proc.pid}/maps").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        os.truncate(path, 4096)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert proc.returncode == 2, (proc.returncode, out, err)
    assert "offset" in err and "shrank" in err, err


def test_shrink_inside_the_last_page_is_seen(tmp_path):
    """A cut inside the file's last page does not fault (the rest of the page
    reads as zeros): the reader must still see it, not deliver zeros."""
    frames = [frame(i, 100) for i in range(20)]          # 2,344 bytes: one page
    path = tmp_path / "t.pcap"
    classic(path, frames)
    r = PcapReader(path)
    os.truncate(path, 24 + 10 * 116 + 50)
    b = FrameBatch(256)
    assert r.read_batch(b) == 10
    assert [b.frame(i) for i in range(10)] == frames[:10]
    with pytest.raises(PcapError) as ei:
        r.read_batch(b)
    assert "shrank" in str(ei.value) and ei.value.offset == 24 + 10 * 116


def test_pcapng_truncated_under_the_reader(tmp_path):
    frames = [frame(i, 1000) for i in range(3000)]
    path = tmp_path / "t.pcapng"
    pcapng(path, frames)
    r = PcapReader(path)
    b = FrameBatch(256)
    assert r.read_batch(b) == 256
    os.truncate(path, 1 << 20)
    got = 256
    with pytest.raises(PcapError) as ei:
        while r.read_batch(b):
            got += b.count
    blk = 12 + 20 + 1000                                 # EPB with 1000 data bytes
    first = 28 + 20                                      # SHB + IDB
    assert got == ((1 << 20) - first) // blk
    assert ei.value.offset == first + got * blk and "shrank" in str(ei.value)


GUARD_CHILD = r"""
import faulthandler, mmap, os, sys
from dataplane.errors import PcapError
from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader
path = sys.argv[1]
r = PcapReader(path)
faulthandler.enable()           # replaces our SIGBUS handler: reading puts it back
b = FrameBatch(4)
r.read_batch(b)
os.truncate(path, 8192)
try:
    while r.read_batch(b):
        pass
except PcapError as e:
    print("caught", e.offset, flush=True)
# a SIGBUS outside the reader's fill is not ours: faulthandler reports it, the process dies
with open(path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 8192)
os.truncate(path, 0)
m[4096]
print("survived", flush=True)
"""


def test_sigbus_guard_reinstalls_and_chains(tmp_path):
    path = tmp_path / "t.pcap"
    classic(path, [frame(i, 500) for i in range(2000)])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", GUARD_CHILD, str(path)], env=env, capture_output=True,
                       text=True, timeout=60)
    assert "caught" in p.stdout, (p.stdout, p.stderr)
    assert int(p.stdout.split()[1]) == 24 + ((8192 - 24) // 516) * 516
    assert "survived" not in p.stdout
    assert p.returncode == -signal.SIGBUS, (p.returncode, p.stderr)
    assert "Fatal Python error: Bus error" in p.stderr, p.stderr
