/* Shared prelude of the must-accept corpus: realistic XDP code shapes the
 * verifier has to prove safe (loops, subprograms, spills, variable offsets). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";
