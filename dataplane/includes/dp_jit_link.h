/* Forwarding header: the JIT's registry for tail calls and callbacks lives
 * in dataplane/runtime/jit/csrc/dp_jit_link.h; other packages reach it
 * here (see dp_maps.h). */
#include "../runtime/jit/csrc/dp_jit_link.h"
