/* Forwarding header: the connection table's API lives in
 * dataplane/conntrack/csrc/conntrack.h; other packages reach it here (see
 * dp_maps.h). */
#include "../conntrack/csrc/conntrack.h"
