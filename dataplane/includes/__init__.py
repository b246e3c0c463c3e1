"""C declarations for Cython: one ``.pxd`` per C header (uvloop's
``includes/``). Every ``cdef extern from`` of the project lives in this
folder, so a header's C view is written once and cimported wherever it is
used. Nothing here runs; the folder is a package only so that Cython can
cimport from it."""
