# fastpkt has no Python-level API: fastloop.pyx cimports it (see fastpkt.pxd).
