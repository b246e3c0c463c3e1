/* Forwarding header: the kernel helpers' C ABI (struct dp_rt, the helper
 * tables) lives in dataplane/runtime/csrc/dp_helpers.h; other packages
 * reach it here (see dp_maps.h). */
#include "../runtime/csrc/dp_helpers.h"
