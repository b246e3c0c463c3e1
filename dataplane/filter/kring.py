"""Read a kernel BPF ring buffer (BPF_MAP_TYPE_RINGBUF) from user space,
the way libbpf's ring_buffer__consume does: the consumer position page is
mapped read-write at offset 0, the producer page and the data area (mapped
twice by the kernel, so records never wrap) read-only after it."""
from __future__ import annotations

import mmap
import struct

BUSY, DISCARD = 1 << 31, 1 << 30
HDR = 8


class RingReader:
    def __init__(self, fd: int, size: int):
        self.size = size
        page = mmap.PAGESIZE
        self.cons = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self.prod = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self.page = page

    def consume(self, max_records: int = 1 << 20) -> list[bytes]:
        out = []
        cpos = struct.unpack_from("<Q", self.cons, 0)[0]
        while len(out) < max_records:
            ppos = struct.unpack_from("<Q", self.prod, 0)[0]
            if cpos >= ppos:
                break
            off = self.page + (cpos & (self.size - 1))
            length = struct.unpack_from("<I", self.prod, off)[0]
            if length & BUSY:
                break
            n = length & ~(BUSY | DISCARD)
            if not length & DISCARD:
                out.append(bytes(self.prod[off + HDR:off + HDR + n]))
            cpos += (n + HDR + 7) & ~7
            struct.pack_into("<Q", self.cons, 0, cpos)
        return out

    def close(self) -> None:
        self.cons.close()
        self.prod.close()
