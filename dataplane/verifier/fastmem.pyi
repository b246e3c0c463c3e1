# fastmem has no Python-level API: fastloop.pyx cimports it (see fastmem.pxd).
