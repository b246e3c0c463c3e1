# distutils: sources = dataplane/io/csrc/pcap_read.c dataplane/io/csrc/pcap_write.c dataplane/io/csrc/pcap_guard.c dataplane/io/csrc/out_file.c
"""pcap / pcapng replay and capture for the data path.

``PcapReader`` maps a capture (truncation-safe, see its docstring) and fills a :class:`FrameBatch` with
up to ``capacity`` packets per native call (bytes are copied into the
batch's XDP-style slots so programs may rewrite them).  ``PcapWriter``
writes classic pcap, a whole batch (or a selection of it) per call.

Neither runs Python per packet on the batch paths; ``write()`` and
``packets()`` are per-packet conveniences for the control plane and tests.
"""
import os

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.errno cimport EINTR, errno
from libc.stdint cimport uintptr_t
from libc.string cimport memcpy
from posix.mman cimport MADV_SEQUENTIAL, MAP_FAILED, MAP_PRIVATE, PROT_READ, madvise, mmap, munmap
from posix.stat cimport fstat, struct_stat
from posix.unistd cimport close as os_close

from dataplane.includes.atomics cimport __ATOMIC_RELAXED, __atomic_add_fetch
from dataplane.includes.system cimport F_GETLEASE, F_RDLCK, F_SETLEASE, F_SETOWN, F_UNLCK, fcntl

from dataplane.errors import DataplaneError, PcapError


class OutputFull(DataplaneError):
    """A PcapWriter with max_bytes would grow past it (EFBIG, as a file past RLIMIT_FSIZE)."""

    def __init__(self, message):
        super().__init__(message, kind=27)
from dataplane.includes.pcap cimport (DP_PCAP_CLASSIC, DP_PCAP_NG, dp_pcap_close, dp_pcap_fill_guarded, dp_pcap_flush, dp_pcap_iface,
                                     dp_pcap_open_guarded, dp_pcap_rewind_guarded, dp_pcap_write_batch,
                                     dp_pcap_write_frames, dp_pcap_write_packet, dp_pcap_writer_close,
                                     dp_out_reserve, dp_out_times, dp_pcap_writer_open, dp_pcap_writer_open_mode, dp_sigbus_guard_install,
                                     DP_OUT_SYNC, DP_OUT_THREAD)
from dataplane.io.frames cimport DP_BATCH_IN_PLACE, FrameBatch, dp_frame_len
from dataplane.io.source cimport DP_NEED_GIL

LINKTYPE_ETHERNET = 1


cdef class PcapReader:
    """``PcapReader(path)``: a pcap or pcapng file, detected by its magic.

    The whole file is mapped read-only, so each packet is copied once, from
    the page cache into its batch slot.  If another process truncates the
    file while we read, touching a page past its new end raises SIGBUS: the
    native fill runs with a SIGBUS guard (csrc/pcap_guard.c) that jumps back
    out of it, and the batch is redone against the new size, so the record
    that is no longer whole raises PcapError naming its offset.
    """

    def __cinit__(self):
        self.map = NULL
        self.map_len = 0
        self.fd = -1
        self.opened = False

    def __init__(self, path):
        cdef void *p
        cdef int rc = 0, fault
        self.path = os.fsdecode(path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.opened_size = os.fstat(self.fd).st_size
            if self.opened_size:
                p = mmap(NULL, self.opened_size, PROT_READ, MAP_PRIVATE, self.fd, 0)
                if p == MAP_FAILED:
                    raise OSError(errno, f"mmap {self.path}: {os.strerror(errno)}")
                self.map = <const uint8_t *>p
                self.map_len = self.opened_size
                madvise(p, self.map_len, MADV_SEQUENTIAL)
            self._guard()
            with nogil:
                fault = dp_pcap_open_guarded(&self.r, self.map, self.map_len, &rc)
        except BaseException:
            self._release()
            raise
        if fault or rc < 0:
            msg = "the file shrank while it was being opened" if fault else self.r.errmsg.decode(errors="replace")
            off = 0 if fault else self.r.err_off
            dp_pcap_close(&self.r)
            self._release()
            raise PcapError(msg, path=self.path, offset=off)
        self.opened = True

    cdef int _guard(self) except -1:
        # one rt_sigaction per batch: puts our handler back if something
        # (faulthandler) replaced it since
        cdef int rc = dp_sigbus_guard_install()
        if rc < 0:
            raise OSError(-rc, f"install SIGBUS handler: {os.strerror(-rc)}")
        return 0

    cdef bint _shrunk(self) except -1:
        """Is the file now shorter than the reader thinks?  If so the
        reader's size drops to what is there, so the record that no longer
        fits is reported as truncated at its offset."""
        cdef uint64_t now = os.fstat(self.fd).st_size
        if now >= self.r.size:
            return False
        self.r.size = now
        return True

    cdef bint _in_place_ok(self) except -1:
        """May frames point into the mapping (DP_BATCH_IN_PLACE)? Only while
        the file cannot shrink under a running program, which the SIGBUS
        guard of a fill does not cover: we hold a read lease (F_SETLEASE).
        Anyone truncating or opening the file for writing then waits until
        we let go -- which the next fill does, on seeing the break
        (F_GETLEASE turns F_UNLCK), after the frames in the mapping were
        run: from then on packets are copied under the guard, as always.
        No lease (a writer has the file open, not our file, leases off):
        copies. The owner is cleared so a break sends no SIGIO (whose
        default action would end the process); breaks are polled."""
        cdef uint64_t now
        if self.in_place > 0:
            if fcntl(self.fd, F_GETLEASE) == F_RDLCK:
                return True
            fcntl(self.fd, F_SETLEASE, F_UNLCK)
            self.in_place = -1
            return False
        if self.in_place < 0 or self.map == NULL:
            return False
        self.in_place = -1
        if fcntl(self.fd, F_SETLEASE, F_RDLCK) < 0:
            return False
        fcntl(self.fd, F_SETOWN, 0)
        # cut before the lease: the guarded fills see records past the end,
        # but not packet bytes on pages past it
        now = os.fstat(self.fd).st_size
        if now < self.opened_size:
            fcntl(self.fd, F_SETLEASE, F_UNLCK)
            return False
        self.in_place = 1
        return True

    cdef bint lease_breaking(self) noexcept nogil:
        # the next fill will let the lease go (see _in_place_ok)
        return self.in_place > 0 and fcntl(self.fd, F_GETLEASE) != F_RDLCK

    cdef void _release(self) noexcept:
        if self.map != NULL:
            munmap(<void *>self.map, self.map_len)
            self.map = NULL
            self.map_len = 0
        if self.fd >= 0:
            os_close(self.fd)
            self.fd = -1

    def __dealloc__(self):
        if self.opened:
            dp_pcap_close(&self.r)
        self._release()

    def close(self):
        if self.opened:
            dp_pcap_close(&self.r)
            self.opened = False
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    cdef uint32_t read_into(self, dp_batch *b) except? 0xffffffff:
        cdef uint32_t n = 0, n_ifaces, n_sections, first_if
        cdef uint64_t pos, packets, truncated
        cdef int fault, swapped, tail = 0
        if not self.opened:
            raise ValueError("read from a closed PcapReader")
        self._guard()
        if b.flags & DP_BATCH_IN_PLACE and not self._in_place_ok():
            b.flags &= ~DP_BATCH_IN_PLACE
        # what a fill changes, to redo it after the file shrank under it
        pos, packets, truncated = self.r.pos, self.r.packets, self.r.truncated
        n_ifaces, n_sections, first_if, swapped = (self.r.n_ifaces, self.r.n_sections,
                                                   self.r.section_first_if, self.r.swapped)
        while True:
            with nogil:
                fault = dp_pcap_fill_guarded(&self.r, b, 0, self.map, self.map_len, &n, &tail)
            if fault:
                if not self._shrunk():
                    raise PcapError(f"SIGBUS reading the mapping near offset {self.r.pos} "
                                    "(I/O error?)", path=self.path, offset=self.r.pos)
            # Past a new end of file the rest of its page reads as zeros, not
            # SIGBUS: a fill that reached the last page (or stopped on a bad
            # record, maybe read from such zeros) checks the size before its
            # packets are trusted.
            elif not ((self.r.err or tail) and self._shrunk()):
                break
            if pos > self.r.size:
                self.r.pos = pos   # delivered zeros before: cannot redo, report
                raise PcapError(f"the file shrank from {self.opened_size} to {self.r.size} bytes while it "
                                f"was being read: offset {pos} is past its end", path=self.path, offset=pos)
            self.r.pos, self.r.packets, self.r.truncated = pos, packets, truncated
            self.r.n_ifaces, self.r.n_sections = n_ifaces, n_sections
            self.r.section_first_if, self.r.swapped = first_if, swapped
        if n == 0 and self.r.size < self.opened_size:
            # truncated by someone else: an error even when the cut fell on
            # a record boundary (the end of the trace is not its end)
            shrank = (f"the file shrank from {self.opened_size} to {os.fstat(self.fd).st_size} bytes "
                      "while it was being read")
            if self.r.err:
                raise PcapError(f"{self.r.errmsg.decode(errors='replace')} ({shrank})", path=self.path,
                                offset=self.r.err_off)
            raise PcapError(f"{shrank}: no record at offset {self.r.pos}", path=self.path, offset=self.r.pos)
        if n == 0 and self.r.err:
            raise PcapError(self.r.errmsg.decode(errors="replace"), path=self.path, offset=self.r.err_off)
        return n

    cdef int read_nogil(self, dp_batch *b) noexcept nogil:
        # read_into's common path, step for step, and nothing else: whatever
        # read_into would raise about or redo is left to it, the reader's
        # position put back first
        cdef uint32_t n = 0, n_ifaces, n_sections, first_if
        cdef uint64_t pos, packets, truncated
        cdef int fault, swapped, tail = 0
        cdef struct_stat st
        if not self.opened or dp_sigbus_guard_install() < 0:
            return DP_NEED_GIL
        if b.flags & DP_BATCH_IN_PLACE:
            if self.in_place == 0 and self.map != NULL:
                return DP_NEED_GIL               # taking the lease: _in_place_ok
            if self.in_place > 0:
                if fcntl(self.fd, F_GETLEASE) != F_RDLCK:
                    return DP_NEED_GIL           # a break: _in_place_ok lets go
            else:
                b.flags &= ~DP_BATCH_IN_PLACE
        pos, packets, truncated = self.r.pos, self.r.packets, self.r.truncated
        n_ifaces, n_sections, first_if, swapped = (self.r.n_ifaces, self.r.n_sections,
                                                   self.r.section_first_if, self.r.swapped)
        fault = dp_pcap_fill_guarded(&self.r, b, 0, self.map, self.map_len, &n, &tail)
        if not fault and n > 0 and not self.r.err:
            if not tail:
                return n
            # the last page: trusted only while the file is still whole (_shrunk)
            if fstat(self.fd, &st) == 0 and <uint64_t>st.st_size >= self.r.size:
                return n
        self.r.pos, self.r.packets, self.r.truncated = pos, packets, truncated
        self.r.n_ifaces, self.r.n_sections = n_ifaces, n_sections
        self.r.section_first_if, self.r.swapped = first_if, swapped
        return DP_NEED_GIL

    cdef int read_at_nogil(self, dp_batch *b, uint64_t pos) noexcept nogil:
        cdef dp_pcap_reader r
        cdef uint32_t n = 0
        cdef int fault, tail = 0
        cdef struct_stat st
        if not self.opened or self.r.format != DP_PCAP_CLASSIC or dp_sigbus_guard_install() < 0:
            return DP_NEED_GIL
        if b.flags & DP_BATCH_IN_PLACE:
            if self.in_place == 0 and self.map != NULL:
                return DP_NEED_GIL
            if self.in_place > 0:
                if fcntl(self.fd, F_GETLEASE) != F_RDLCK:
                    return DP_NEED_GIL
            else:
                b.flags &= ~DP_BATCH_IN_PLACE
        # a private copy of the reader: classic pcap keeps nothing but the
        # position per record (no interface table, no sections)
        memcpy(&r, &self.r, sizeof(r))
        r.pos = pos
        r.packets = r.truncated = 0
        fault = dp_pcap_fill_guarded(&r, b, 0, self.map, self.map_len, &n, &tail)
        if fault or n == 0 or r.err:
            return DP_NEED_GIL
        if tail and (fstat(self.fd, &st) != 0 or <uint64_t>st.st_size < self.r.size):
            return DP_NEED_GIL
        __atomic_add_fetch(&self.r.packets, r.packets, __ATOMIC_RELAXED)
        __atomic_add_fetch(&self.r.truncated, r.truncated, __ATOMIC_RELAXED)
        return n                  # self.r.pos untouched: a read_at under the lock may be using it

    cdef uint32_t read_at(self, dp_batch *b, uint64_t pos) except? 0xffffffff:
        # with the GIL, a shrunk file or a bad record raise as read_into's
        if not self.opened:
            raise ValueError("read from a closed PcapReader")
        self.r.pos = pos
        return self.read_into(b)

    @property
    def reads_in_place(self):
        """Whether fills asked for DP_BATCH_IN_PLACE get frames in the mapping."""
        return self.in_place > 0

    def read_batch(self, FrameBatch batch not None):
        """Fill ``batch`` with the next packets; returns how many (0 at end).

        Packets before a malformed record are returned first; the call
        after them raises :class:`PcapError` naming the record's offset.
        """
        return self.read_into(batch.ptr())

    def rewind(self):
        """Start again from the first packet (for --loop replay)."""
        self.rewind_c()

    cdef int rewind_c(self) except -1:
        cdef int rc = 0, fault
        if not self.opened:
            raise ValueError("rewind a closed PcapReader")
        self._guard()
        with nogil:
            fault = dp_pcap_rewind_guarded(&self.r, self.map, self.map_len, &rc)
        if fault or (rc < 0 and self._shrunk()):
            self._shrunk()
            raise PcapError(f"the file shrank from {self.opened_size} to {self.r.size} bytes while it was "
                            "being read (rewind)", path=self.path, offset=0)
        if rc < 0:
            raise PcapError(self.r.errmsg.decode(errors="replace"), path=self.path,
                            offset=self.r.err_off)
        return 0

    def packets(self, uint32_t batch_size=256):
        """Yield ``(ts_ns, bytes)`` per packet: control plane and tests only."""
        cdef FrameBatch b = FrameBatch(batch_size)
        cdef uint32_t i, n
        while True:
            n = self.read_into(b.ptr())
            if n == 0:
                return
            for i in range(n):
                yield b.b.frames[i].ts_ns, b.frame(i)

    @property
    def format(self):
        return "pcapng" if self.r.format == DP_PCAP_NG else "pcap"

    @property
    def linktype(self):
        """Link type of the file (classic) or of its first interface (pcapng)."""
        return self.r.linktype

    @property
    def snaplen(self):
        return self.r.snaplen

    @property
    def nanosecond(self):
        """Classic pcap: timestamps in ns (magic a1b23c4d); pcapng: always True."""
        return bool(self.r.nsec)

    @property
    def byte_order(self):
        """'little' or 'big': of the file (classic) / of the current section."""
        import sys
        if self.r.swapped:
            return "big" if sys.byteorder == "little" else "little"
        return sys.byteorder

    @property
    def version(self):
        return (self.r.ver_major, self.r.ver_minor)

    @property
    def size(self):
        return self.r.size

    @property
    def position(self):
        """Byte offset of the next record or block."""
        return self.r.pos

    @property
    def packets_read(self):
        return self.r.packets

    @property
    def truncated(self):
        """Packets cut to fit a batch slot since open/rewind."""
        return self.r.truncated

    @property
    def interfaces(self):
        """Interfaces seen so far (pcapng; all of those before the first
        packet after open). Frame.ifindex is an index into this list."""
        cdef uint32_t i
        cdef dp_pcap_iface *f
        if self.r.format != DP_PCAP_NG:
            return [{"linktype": self.r.linktype, "snaplen": self.r.snaplen, "section": 0,
                     "tsresol": 9 if self.r.nsec else 6, "tsoffset": 0, "name": ""}]
        out = []
        for i in range(self.r.n_ifaces):
            f = &self.r.ifaces[i]
            out.append({"linktype": f.linktype, "snaplen": f.snaplen, "section": f.section,
                        "tsresol": f.tsresol, "tsoffset": f.tsoffset,
                        "name": f.name.decode(errors="replace")})
        return out

    def __repr__(self):
        return f"<PcapReader {self.path!r} {self.format} linktype={self.linktype}>"


cdef class PcapWriter(Sink):
    """``PcapWriter(path, linktype=1, nanosecond=True, snaplen=262144, threaded=True)``: classic pcap.

    As a Sink (the replay's outputs), put() appends the frames it is handed
    to a 1 MiB buffer in one native pass; full buffers go to the file's
    writer thread (O_DIRECT where the filesystem takes it: ``direct``), so
    the caller never waits for the page cache or the disk unless the writer
    is 3 MiB behind (``wait_ns``). flush_c() returns once everything is in
    the file. ``threaded=False``: write(2) from the caller's thread, as for
    pipes and devices (which never get a thread). Same bytes either way."""

    def __cinit__(self):
        self.opened = False
        self.max_bytes = 0
        self.nogil_err = 0

    def __init__(self, path, uint32_t linktype=LINKTYPE_ETHERNET, bint nanosecond=True,
                 uint32_t snaplen=262144, bint threaded=True):
        cdef int fd, rc
        if snaplen == 0:
            raise ValueError("snaplen must be > 0")
        self.path = os.fsdecode(path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        rc = dp_pcap_writer_open_mode(&self.w, fd, linktype, snaplen, nanosecond,
                                      DP_OUT_THREAD if threaded else DP_OUT_SYNC)
        if rc < 0:
            os.close(fd)
            raise OSError(-rc, os.strerror(-rc), self.path)
        self.opened = True

    def __dealloc__(self):
        if self.opened:
            dp_pcap_writer_close(&self.w)

    cdef int64_t write_into(self, const dp_batch *b, const uint32_t *idx, uint32_t n_idx,
                            const uint8_t *mask, int64_t verdict) except -1:
        cdef int64_t n
        if not self.opened:
            raise ValueError("write to a closed PcapWriter")
        with nogil:
            n = dp_pcap_write_batch(&self.w, b, idx, n_idx, mask, verdict)
        if n < 0:
            if n == -22:
                raise IndexError(f"frame index out of range (count {b.count})")
            raise OSError(-n, os.strerror(-n), self.path)
        return n

    def write_batch(self, FrameBatch batch not None, indexes=None, mask=None, verdict=None):
        """Write frames of ``batch`` in one native call; returns how many.

        ``indexes``: frame numbers (a uint32 buffer such as array('I'), or a
        sequence); ``mask``: one byte per frame, nonzero = write; ``verdict``:
        write the frames whose ``verdict`` field equals it.  Default: all.
        """
        cdef const uint32_t[::1] iv
        cdef const uint8_t[::1] mv
        cdef Py_ssize_t given = (indexes is not None) + (mask is not None) + (verdict is not None)
        if given > 1:
            raise ValueError("give at most one of indexes, mask, verdict")
        if indexes is not None:
            try:
                iv = indexes
            except (TypeError, ValueError):
                import array
                iv = array.array("I", indexes)
            if iv.shape[0] == 0:
                return 0
            return self.write_into(batch.ptr(), &iv[0], <uint32_t>iv.shape[0], NULL, -1)
        if mask is not None:
            if not isinstance(mask, (bytes, bytearray, memoryview)):
                mask = bytes(1 if m else 0 for m in mask)
            mv = mask
            if mv.shape[0] < batch.b.count:
                raise ValueError(f"mask has {mv.shape[0]} entries for {batch.b.count} frames")
            if mv.shape[0] == 0:
                return 0
            return self.write_into(batch.ptr(), NULL, 0, &mv[0], -1)
        return self.write_into(batch.ptr(), NULL, 0, NULL, -1 if verdict is None else <uint32_t>verdict)

    def write(self, const uint8_t[::1] data not None, uint64_t ts_ns=0, orig_len=None):
        """Write one packet (control plane use: one Python call per packet)."""
        cdef uint32_t n = <uint32_t>data.shape[0]
        cdef uint32_t extra = 0
        cdef int rc
        cdef const uint8_t *p = &data[0] if n else <const uint8_t *>""
        if not self.opened:
            raise ValueError("write to a closed PcapWriter")
        if orig_len is not None and orig_len > n:
            extra = orig_len - n
        if dp_out_reserve(&self.w.out, 16 + <size_t>n) != NULL:
            rc = dp_pcap_write_packet(&self.w, p, n, extra, ts_ns)
        else:
            # the buffer is full: handing it over may block (a pipe's reader,
            # a writer thread behind), so without the GIL
            with nogil:
                rc = dp_pcap_write_packet(&self.w, p, n, extra, ts_ns)
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc), self.path)

    cdef uint32_t fits(self, dp_batch *b, const uint32_t *idx, uint32_t n) noexcept nogil:
        """How many of the frames fit under max_bytes (all when no cap)."""
        cdef uint64_t want = 0, rec
        cdef uint32_t i
        if not self.max_bytes:
            return n
        for i in range(n):
            rec = 16 + min(dp_frame_len(&b.frames[idx[i]]), self.w.snaplen)
            if self.w.bytes + want + rec > self.max_bytes:
                return i
            want += rec
        return n

    cdef int64_t put(self, dp_batch *b, const uint32_t *idx, uint32_t n) except -1:
        cdef int64_t k
        cdef uint32_t fit
        if self.nogil_err:
            k, self.nogil_err = self.nogil_err, 0
            raise OSError(<int>-k, os.strerror(<int>-k), self.path)
        if not self.opened:
            raise ValueError("write to a closed PcapWriter")
        # a cap (the service's limits.replay_output_bytes): the frames that fit are written,
        # whole records, then the put fails, so the file ends at most max_bytes long
        fit = self.fits(b, idx, n)
        with nogil:
            k = dp_pcap_write_frames(&self.w, b, idx, fit)
        if k < 0:
            raise OSError(<int>-k, os.strerror(<int>-k), self.path)
        if fit < n:
            raise OutputFull(f"output {self.path} reached its cap of {self.max_bytes} bytes "
                             f"(limits.replay_output_bytes): {self.w.packets} packets written")
        return k

    cdef int64_t put_nogil(self, dp_batch *b, const uint32_t *idx, uint32_t n) noexcept nogil:
        cdef int64_t k
        if not self.opened or self.nogil_err or self.fits(b, idx, n) < n:
            return DP_NEED_GIL
        k = dp_pcap_write_frames(&self.w, b, idx, n)
        if k < 0:
            self.nogil_err = <int>k      # the put() the pump makes next raises it
            return DP_NEED_GIL
        return k

    cdef int flush_c(self) except -1:
        cdef int rc
        if self.opened:
            with nogil:
                rc = dp_pcap_flush(&self.w)
            if rc < 0:
                raise OSError(-rc, os.strerror(-rc), self.path)
        return 0

    def flush(self):
        self.flush_c()

    def close(self):
        cdef int rc
        if self.opened:
            self.opened = False
            with nogil:
                rc = dp_pcap_writer_close(&self.w)
            if rc < 0:
                raise OSError(-rc, os.strerror(-rc), self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def packets_written(self):
        return self.w.packets

    @property
    def threaded(self):
        """Whether a writer thread writes the buffers (regular files only)."""
        return self.w.out.mode == DP_OUT_THREAD

    @property
    def direct(self):
        """Whether the writer thread uses O_DIRECT."""
        return bool(self.w.out.direct)

    @property
    def wait_ns(self):
        """Time put()/flush callers waited for the writer thread to free a buffer."""
        return self.w.out.wait_ns

    @property
    def write_times(self):
        """(CPU ns, elapsed ns) spent writing the buffers to the file so far:
        the writer thread's own (or the caller's write(2) time without one);
        the figures at close once closed."""
        cdef uint64_t cpu = 0, wall = 0
        dp_out_times(&self.w.out, &cpu, &wall)
        return cpu, wall

    @property
    def bytes_written(self):
        return self.w.bytes

    @property
    def linktype(self):
        return self.w.linktype

    @property
    def snaplen(self):
        return self.w.snaplen

    @property
    def nanosecond(self):
        return bool(self.w.nsec)

    def __repr__(self):
        return f"<PcapWriter {self.path!r} linktype={self.w.linktype}>"
