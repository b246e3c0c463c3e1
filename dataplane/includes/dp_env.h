/* Forwarding header: the execution environment (regions, faults, helper
 * tables) lives in dataplane/runtime/csrc/dp_env.h; other packages reach
 * it here (see dp_maps.h). */
#include "../runtime/csrc/dp_env.h"
