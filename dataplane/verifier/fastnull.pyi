# fastnull has no Python-level API: fastloop.pyx cimports it (see fastnull.pxd).
