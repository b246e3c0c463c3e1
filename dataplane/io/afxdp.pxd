# The AF_XDP transport: a Source (RX rings -> batches of frames that point
# into the UMEM) and its Sink (TX rings; frames it keeps come back through
# the completion ring). Contract in io/source.pxd, C in io/csrc/xsk.h.
from libc.stdint cimport uint32_t

from dataplane.includes.frame cimport dp_batch
from dataplane.includes.xsk cimport dp_xsk_worker
from dataplane.io.source cimport Sink, Source


cdef class XskPort(Source):
    cdef dp_xsk_worker w
    cdef bint inited
    cdef dp_batch b                 # the Python-side batch (poll/frames/dispatch): frames in the UMEM
    cdef readonly uint32_t batch_size
    cdef list _taps                 # TAP file objects kept open while the port lives


cdef class XskSink(Sink):
    # PASS/TX/REDIRECT frames of an XskPort's batches onto its TX rings
    cdef readonly XskPort port
