# distutils: sources = dataplane/io/csrc/xsk_gen.c dataplane/io/csrc/xsk_setup.c
"""A traffic generator: one frame sent again and again out of one queue of
an interface through an AF_XDP socket in copy mode (see csrc/xsk_gen.h).

``XskGenerator(ifindex, queue, frame, ring_size=2048)`` binds the socket;
``run(packets, seconds)`` sends, without the GIL and without Python per
packet, until ``packets`` frames are out or ``seconds`` have passed, and
returns how many went out.  benchmarks/live.py uses it where the kernel
refuses BPF_F_TEST_XDP_LIVE_FRAMES.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t

from dataplane.includes.xsk_gen cimport dp_xsk_gen_free, dp_xsk_gen_init, dp_xsk_gen_run
from dataplane.io.afxdp import XskError

# one run's bounds: a benchmark run is seconds, a test a few thousand frames
MAX_PACKETS = 1 << 40
MAX_SECONDS = 600.0


cdef class XskGenerator:
    def __cinit__(self, uint32_t ifindex, uint32_t queue, bytes frame not None, uint32_t ring_size=2048):
        cdef const unsigned char[:] view = frame
        if not 14 <= len(frame) <= 2048:
            raise ValueError(f"frame of {len(frame)} bytes: 14..2048")
        cdef int rc = dp_xsk_gen_init(&self.g, ifindex, queue, &view[0], <uint32_t>len(frame), ring_size)
        self.inited = True
        if rc < 0:
            msg = self.g.w.err.decode("utf-8", "replace")
            self.close()
            raise XskError(msg, kind=-rc)

    def __dealloc__(self):
        if self.inited:
            dp_xsk_gen_free(&self.g)

    def close(self):
        """Close the socket and unmap the UMEM (idempotent)."""
        if self.inited:
            dp_xsk_gen_free(&self.g)
            self.inited = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, uint64_t packets, double seconds):
        """Send until ``packets`` frames are out or ``seconds`` have passed;
        returns the frames sent (completed by the kernel) in this run."""
        if not self.inited:
            raise XskError("generator is closed")
        if packets == 0 or packets > MAX_PACKETS:
            raise ValueError(f"packets: 1..{MAX_PACKETS}")
        if not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"seconds: (0, {MAX_SECONDS:g}]")
        cdef uint64_t ns = <uint64_t>(seconds * 1e9)
        cdef int64_t n
        with nogil:
            n = dp_xsk_gen_run(&self.g, packets, ns)
        if n < 0:
            raise XskError(self.g.w.err.decode("utf-8", "replace"), kind=-n)
        return n

    @property
    def stats(self):
        """{"queued", "completed", "kicks", "dev_drops"} since the start:
        dev_drops are frames the device refused (veth: its peer's ring was
        full), counted in "completed" too."""
        return {"queued": self.g.queued, "completed": self.g.completed, "kicks": self.g.kicks,
                "dev_drops": self.g.dev_drops}
