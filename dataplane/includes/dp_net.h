/* Forwarding header: the network-namespace model's C ABI lives in
 * dataplane/net/csrc/dp_net.h (see dp_maps.h for why a forwarder). */
#include "../net/csrc/dp_net.h"
