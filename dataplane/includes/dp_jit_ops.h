/* Forwarding header: the JIT's op name table lives in
 * dataplane/runtime/jit/csrc/dp_jit_ops.h; other packages reach it here
 * (see dp_maps.h). */
#include "../runtime/jit/csrc/dp_jit_ops.h"
