/* Forwarding header: the JIT's batch loop API lives in
 * dataplane/runtime/jit/csrc/dp_jit_batch.h; other packages reach it here
 * (see dp_maps.h). */
#include "../runtime/jit/csrc/dp_jit_batch.h"
