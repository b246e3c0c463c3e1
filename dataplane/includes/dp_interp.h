/* Forwarding header: the interpreter loop's API lives in
 * dataplane/runtime/csrc/dp_interp.h; other packages reach it here (see
 * dp_maps.h). */
#include "../runtime/csrc/dp_interp.h"
