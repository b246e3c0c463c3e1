"""Connection tracking: a native nf_conntrack-like table (csrc/), its Python
API (table.pyx: ConntrackTable, Conn), tuples (tuples.py) and the
``conntrack -L`` line format (format.py)."""
from dataplane.conntrack.tuples import CtTuple  # noqa: F401
