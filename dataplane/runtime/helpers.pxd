# The Runner that executes XDP / socket-filter programs with the kernel
# helpers, and the helpers' C view (csrc/dp_helpers.h: dataplane/includes/
# helpers.pxd), cimported from here.
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from dataplane.maps.core cimport dp_map
from dataplane.runtime.interp cimport dp_env, dp_helper_fn, dp_ctx_load_fn, Interpreter

from dataplane.includes.helpers cimport *


# The one dp_xdp_ctx_load (helpers_xdp.c is linked into this module only):
# bpf_xdp_adjust_*, the XDP dynptr kfuncs and bpf_xdp_event_output know an
# XDP ctx by env->ctx_load == dp_xdp_ctx_load, so every runner that sets up
# an XDP env (the JIT's frame loop, the hooks' chain) takes it from here.
# Cross-module cimport: a module that cannot find it fails at import.
cdef dp_ctx_load_fn xdp_ctx_load() noexcept nogil


cdef class Runner:
    cdef dp_rt rt
    cdef dp_xdp_buff xdp
    cdef dp_skb skb
    cdef uint8_t *frame          # DP_XDP_FRAME_SIZE bytes, page aligned
    cdef uint8_t *frag_pages     # DP_XDP_MAX_FRAGS pages for multi-buffer test runs (lazily)
    cdef dp_xdp_frags frags
    cdef list _maps              # keep the Map objects alive
    cdef object _ct              # conntrack kfunc context (dataplane.kfuncs CtContext) kept alive
    cdef object _net             # network namespace model (dataplane.net.core.Net) kept alive
    cdef readonly uint32_t ingress_ifindex
    cdef readonly uint32_t rx_queue_index
    cdef _prepare(self, Interpreter interp)
    cdef _finish(self, Interpreter interp)
