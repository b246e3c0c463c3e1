# Native workload over a Map (workload.pyx): nothing to cimport; it reaches
# the map through core.pxd (Map._m and the dp_maps.h entry points).
