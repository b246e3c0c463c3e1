/* Forwarding header: the instruction budget of unverified programs lives
 * in dataplane/runtime/csrc/dp_budget.h; other packages reach it here (see
 * dp_maps.h). */
#include "../runtime/csrc/dp_budget.h"
