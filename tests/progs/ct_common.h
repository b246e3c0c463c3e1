/* Shared prelude of the conntrack test programs (xdp_conntrack.c,
 * xdp_ct_*.c): the kernel's conntrack kfuncs as libbpf programs declare
 * them, the local mirrors of the types they take, and the IPv4 tuple of a
 * packet.  Included with quotes, so clang finds it beside the program. */
#ifndef TESTS_PROGS_CT_COMMON_H
#define TESTS_PROGS_CT_COMMON_H
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* struct nf_conn the vmlinux.h way: preserve_access_index, fields in an
 * order found nowhere real, so every ct->field is a CO-RE relocation (the
 * kernel's offsets there, dataplane's here; test_kfunc_registry.py checks
 * xdp_ct_fw's: mark is 0:0 at local offset 0, status 0:1 at 8).  A forward declaration would
 * not do: libbpf checks kfunc prototypes against the kernel's BTF, and a
 * forward does not match a struct. */
struct nf_conn {
	unsigned int mark;
	unsigned long status;
	unsigned int timeout;
} __attribute__((preserve_access_index));

/* struct bpf_ct_opts, 16 bytes (with the zone), and its older 12-byte form
 * which the kernel still takes (opts__sz says which). */
struct bpf_ct_opts___local {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};

struct bpf_ct_opts12___local {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

/* libbpf checks these prototypes against the kernel's (kinds must match) */
union nf_inet_addr___local { __u32 all[4]; };
enum nf_nat_manip_type___local { NAT_SRC___local, NAT_DST___local };

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *, struct bpf_sock_tuple *, __u32,
					 struct bpf_ct_opts___local *, __u32) __ksym;
extern struct nf_conn *bpf_xdp_ct_alloc(struct xdp_md *, struct bpf_sock_tuple *, __u32,
					struct bpf_ct_opts___local *, __u32) __ksym;
extern struct nf_conn *bpf_ct_insert_entry(struct nf_conn *) __ksym;
extern void bpf_ct_release(struct nf_conn *) __ksym;
extern void bpf_ct_set_timeout(struct nf_conn *, __u32) __ksym;
extern int bpf_ct_change_timeout(struct nf_conn *, __u32) __ksym;
extern int bpf_ct_set_status(struct nf_conn *, __u32) __ksym;
extern int bpf_ct_change_status(struct nf_conn *, __u32) __ksym;
extern int bpf_ct_set_nat_info(struct nf_conn *, union nf_inet_addr___local *, int,
			       enum nf_nat_manip_type___local) __ksym;

/* The IPv4 tuple of a packet whose L4 header starts with the two ports
 * (TCP, UDP); the caller has bounds-checked both headers. */
static __always_inline void ct_tuple_v4(struct bpf_sock_tuple *t, const struct iphdr *ip, const __u16 *ports)
{
	t->ipv4.saddr = ip->saddr;
	t->ipv4.daddr = ip->daddr;
	t->ipv4.sport = ports[0];
	t->ipv4.dport = ports[1];
}

#endif
