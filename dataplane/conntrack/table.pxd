# The conntrack extension types and the C view of the table's API
# (csrc/conntrack.h: dataplane/includes/conntrack.pxd).  The kfunc glue
# cimports this to reach `dp_ct_table *` (ConntrackTable._t) and call the
# data-path entry points without the GIL.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from dataplane.includes.conntrack cimport *


cdef class ConntrackTable:
    cdef dp_ct_table *_t
    cdef readonly str name
    cdef object __weakref__


cdef class Conn:
    cdef dp_nf_conn *_ct
    cdef ConntrackTable _table
    cdef readonly int dir
    @staticmethod
    cdef Conn wrap(ConntrackTable table, dp_nf_conn *ct, int dir)
    cdef dp_nf_conn *_get(self) except NULL
