/* Forwarding header: the maps C ABI lives in dataplane/maps/csrc/maps.h.
 * Every extension has dataplane/include on its include path, so any module
 * (interpreter, JIT output) can `#include "dp_maps.h"`. */
#include "../maps/csrc/maps.h"
