# The AF_PACKET (TPACKET_V3) transport: a Source copying ring blocks into
# batch slots and its Sink (sendmmsg). Contract in io/source.pxd, C in
# io/csrc/pkt.h.
from dataplane.includes.pkt cimport dp_pkt_worker
from dataplane.io.frames cimport FrameBatch
from dataplane.io.source cimport Sink, Source


cdef class PacketPort(Source):
    cdef dp_pkt_worker w
    cdef bint inited
    cdef readonly FrameBatch batch     # the Python-side batch (poll/frames/dispatch)


cdef class PacketSink(Sink):
    cdef readonly PacketPort port
