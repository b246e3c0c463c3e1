# The reference interpreter's extension types, and the C view of its core
# (dp_env.h, dp_prog.h, dp_interp.h: dataplane/includes/env.pxd), cimported
# from here.
#
# Other Cython modules build on this: helpers and kfuncs are C functions with
# the dp_helper_fn signature, installed with HelperTable.set(); memory a
# helper hands to the program (a map value, packet data) is made accessible
# with dp_env_add_region(env, ...) from inside the helper.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

from dataplane.includes.env cimport *


cdef class Program:
    cdef dp_prog prog
    cdef readonly bytes code


cdef class HelperTable:
    """A growable id -> dp_helper_fn table (helpers by id, or kfuncs by index)."""
    cdef dp_helper_fn *fns
    cdef uint32_t n
    # A kfunc table's run-end cleanup (dp_run_end_fn in dp_env.h), set by
    # the kfunc family that needs one; env_set_tables installs it.
    cdef dp_run_end_fn run_end
    cdef int set(self, uint32_t id, dp_helper_fn fn) except -1
    cdef dp_helper_fn get(self, uint32_t id) noexcept


# Point an env at the tables' current arrays: a HelperTable may reallocate
# when ids are added, so every run re-reads them.
cdef inline void env_set_tables(dp_env *env, HelperTable helpers, HelperTable kfuncs) noexcept:
    env.helpers = helpers.fns
    env.nhelpers = helpers.n
    env.kfuncs = kfuncs.fns
    env.nkfuncs = kfuncs.n
    env.run_end = kfuncs.run_end


# The Python buffers of one run (r1/r2 = `mem`, LD_ABS/LD_IND data =
# `packet`) mapped into a dp_env; shared by the interpreter and the JIT
# engine. Call run_bufs_get inside a try and run_bufs_put in its finally.
cdef struct RunBufs:
    Py_buffer mview
    Py_buffer pview
    bint have_m
    bint have_p
    uint64_t r1
    uint64_t r2

cdef int run_bufs_get(dp_env *env, RunBufs *b, object mem, object packet, bint pin_writable) except -1
cdef void run_bufs_put(dp_env *env, RunBufs *b) noexcept
# A buffer as a fixed region of env, pinned in `pinned` until env_clear_pinned.
cdef int env_add_pinned(dp_env *env, list pinned, object buf, object writable) except -1
cdef void env_clear_pinned(dp_env *env, list pinned)


cdef class Interpreter:
    cdef dp_env env
    cdef readonly Program program
    cdef readonly HelperTable helpers
    cdef readonly HelperTable kfuncs
    cdef list _pinned          # exporters of the fixed regions, kept alive
    cdef int add_region_ptr(self, const void *ptr, uint64_t length, uint32_t flags, uint32_t kind) except -1
    cdef int run_c(self, uint64_t r1, uint64_t r2, uint64_t *r0) except -1
    cdef _raise(self)
