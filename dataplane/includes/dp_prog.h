/* Forwarding header: the decoded program lives in
 * dataplane/runtime/csrc/dp_prog.h; other packages reach it here (see
 * dp_maps.h). */
#include "../runtime/csrc/dp_prog.h"
