/* The numeric iterator kfuncs for the must-reject corpus. */
#include "common.h"
#include "../progs/iter_num.h"
char _license[] SEC("license") = "GPL";
