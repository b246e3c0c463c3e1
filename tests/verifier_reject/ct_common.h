/* Shared prelude of the conntrack must-reject programs: the kernel's
 * conntrack kfuncs as libbpf programs declare them. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* The kernel's struct nf_conn at its 6.18 offsets (dataplane's loader, like
 * kload, applies no CO-RE relocations, so the local mirror must match). */
struct nf_conn {
	char __pad0[128];
	unsigned long status;
	char __pad1[32];
	__u32 mark;
};

struct bpf_ct_opts___local {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple,
					 __u32 len_tuple, struct bpf_ct_opts___local *opts,
					 __u32 len_opts) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

/* Look a zeroed UDP tuple up; enough for the verifier, which never runs it. */
#define CT_LOOKUP(ctx, ct)                                                        \
	struct bpf_sock_tuple tup = {};                                           \
	struct bpf_ct_opts___local opts = { .netns_id = -1, .l4proto = IPPROTO_UDP }; \
	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, sizeof(opts))

char _license[] SEC("license") = "GPL";
