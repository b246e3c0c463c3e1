"""C declarations for Cython: one ``.pxd`` per C header family (uvloop's
``includes/``). Every ``cdef extern from`` of the project lives in this
folder (tests/test_layering.py checks it), so a header's C view is written
once and cimported wherever it is used: ``system.pxd`` and ``atomics.pxd``
for libc/POSIX and compiler builtins Cython does not declare, ``python.pxd``
for CPython internals, and one file per project header (``env.pxd`` for the
shared core, ``helpers.pxd``, ``jit.pxd``, ``maps.pxd``, ``conntrack.pxd``,
``chain.pxd``, ``frame.pxd`` ...). A package's own ``.pxd`` (say
``runtime/interp.pxd``) holds its extension types and re-exports the C view
of its header (``from dataplane.includes.env cimport *``), so modules keep
cimporting the C ABI and the owning module's types from one place. Nothing
here runs; the folder is a package only so that Cython can cimport from it."""
