"""PcapWriter's writer thread (io/csrc/out_file.c): the bytes in the file are
exactly the classic-pcap bytes of what was appended, whether written by the
thread (O_DIRECT where the filesystem takes it, buffered otherwise) or from
the caller's thread, across buffer hand-overs, back pressure and flushes in
the middle of a block; other tools (scapy, tcpdump) read them."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import require
from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapWriter
from test_io_pcap_build import classic, eth_frame

import scapy.utils as scapy_utils  # a required dependency: a missing one must fail

T0 = 1_700_000_000_000_000_000


def records(n: int, seed: int) -> list[tuple[int, bytes]]:
    rnd = random.Random(seed)
    return [(T0 + i * 1_000_003, eth_frame(i, rnd.choice((14, 60, 61, 333, 1514, 4095, 9000))))
            for i in range(n)]


def directories(tmp_path):
    yield tmp_path                      # the test's filesystem (ext4 here: O_DIRECT)
    if os.path.isdir("/dev/shm"):
        yield "/dev/shm"                # tmpfs


@pytest.mark.parametrize("threaded", [True, False])
def test_bytes_identical_across_buffers_and_flushes(tmp_path, threaded):
    recs = records(1500, seed=7)        # ~5 MiB: more than the thread's 4 x 1 MiB buffers
    cuts = {1, 2, 77, 500, 501, 1111}   # flushes land mid-block: the O_DIRECT tail path
    for d in directories(tmp_path):
        path = os.path.join(str(d), f"wt-{os.getpid()}-{threaded}.pcap")
        try:
            b = FrameBatch(1)
            with PcapWriter(path, threaded=threaded) as w:
                assert w.threaded == threaded
                for i, (ts, data) in enumerate(recs):
                    if i % 2 or len(data) > 3520:   # a slot holds 3520
                        w.write(data, ts_ns=ts)
                    else:
                        b.clear()
                        b.append(data, ts)
                        assert w.write_batch(b) == 1
                    if i in cuts:
                        w.flush()
                        # after a flush the file is exactly what was appended so far
                        with open(path, "rb") as f:
                            assert f.read() == classic(recs[:i + 1], nano=True, snaplen=262144)
            raw = open(path, "rb").read()
            assert raw == classic(recs, nano=True, snaplen=262144)
            assert w.bytes_written == len(raw) and w.packets_written == len(recs)
            got = [(bytes(data), meta.sec * 10**9 + meta.usec) for data, meta in
                   scapy_utils.RawPcapReader(path)]
            assert got == [(data, ts) for ts, data in recs]
        finally:
            if os.path.exists(path):
                os.unlink(path)


def test_tcpdump_reads_threaded_output(tmp_path):
    tcpdump = shutil.which("tcpdump")
    require(tcpdump is not None, "tcpdump")
    recs = records(2000, seed=3)
    path = tmp_path / "t.pcap"
    with PcapWriter(path) as w:
        for ts, data in recs:
            w.write(data, ts_ns=ts)
    proc = subprocess.run([tcpdump, "-r", str(path), "-nn", "-tt", "--time-stamp-precision=nano"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(recs)
    for (ts, _), line in zip(recs, lines):
        assert line.startswith(f"{ts // 10**9}.{ts % 10**9:09d}"), line


def test_pipe_gets_no_thread_and_same_bytes(tmp_path):
    fifo = tmp_path / "p.fifo"
    os.mkfifo(fifo)
    recs = records(300, seed=5)
    got = []

    def drain():
        with open(fifo, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=drain)
    t.start()
    try:
        with PcapWriter(fifo) as w:     # asks for the thread; a pipe cannot take it
            assert not w.threaded and not w.direct
            for ts, data in recs:
                w.write(data, ts_ns=ts)
    finally:
        t.join(30)
    assert got == [classic(recs, nano=True, snaplen=262144)]


CHILD = r"""
import resource, signal, sys
from dataplane.io.pcap import PcapWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (3 << 20, 3 << 20))
w = PcapWriter(sys.argv[1], threaded=sys.argv[2] == "1")
try:
    for i in range(6000):
        w.write(bytes(1000), ts_ns=i)
    w.close()
except OSError as e:
    print("ERR", e.errno)
    sys.exit(0)
print("NOERR")
"""


@pytest.mark.parametrize("threaded", ["1", "0"])
def test_write_error_surfaces(tmp_path, threaded):
    """A write the kernel refuses (EFBIG past RLIMIT_FSIZE) reaches the caller
    as OSError, also when the writer thread hit it."""
    path = tmp_path / "big.pcap"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), threaded],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ERR", "27"], proc.stdout   # EFBIG
