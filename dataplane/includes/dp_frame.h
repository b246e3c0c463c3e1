/* Forwarding header: the packet batch every data path shares lives in
 * dataplane/io/csrc/dp_frame.h; other packages reach it here (see
 * dp_maps.h). */
#include "../io/csrc/dp_frame.h"
