/* Forwarding header: the conntrack kfuncs' API lives in
 * dataplane/kfuncs/csrc/ct_kfuncs.h; other packages reach it here (see
 * dp_maps.h). */
#include "../kfuncs/csrc/ct_kfuncs.h"
