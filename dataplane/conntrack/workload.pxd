# Native workloads over a ConntrackTable (workload.pyx): nothing to cimport;
# they reach the table through table.pxd's struct dp_ct_api.
