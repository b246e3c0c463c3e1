"""`dataplane verify --kernel-layout` on kfuncs dataplane does not model:
each call is checked against the prototype in the running kernel's BTF
(dataplane/loader/kernel_kfuncs.py), and the verdict -- accepted or
refused -- is the kernel's own verdict on the same object (BPF_PROG_LOAD).
Accepted ones are reported verify-only: dataplane cannot run them."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli
from dataplane.errors import VerifierError

_HEAD = """#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct task_struct; struct cgroup; struct xfrm_state;
extern struct task_struct *bpf_task_from_pid(int pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern struct cgroup *bpf_cgroup_from_id(unsigned long long cgid) __ksym;
extern void bpf_cgroup_release(struct cgroup *c) __ksym;
extern int bpf_strlen(const char *s__ign) __ksym;
extern int bpf_strnlen(const char *s__ign, unsigned long count) __ksym;
extern int bpf_dynptr_from_xdp(struct xdp_md *x, unsigned long long flags, struct bpf_dynptr *p) __ksym;
extern unsigned int bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *p, unsigned int start, unsigned int end) __ksym;
extern int bpf_copy_from_user_str(void *dst, unsigned int dst__sz, const void *unsafe_ptr__ign,
                                  unsigned long long flags) __ksym;
/* struct bpf_xfrm_state_opts (net/xfrm/xfrm_state_bpf.c), 36 bytes */
struct xopts { int error, netns_id; unsigned int mark; unsigned int daddr[4]; unsigned int spi;
               unsigned char proto; unsigned short family; };
extern struct xfrm_state *bpf_xdp_get_xfrm_state(struct xdp_md *ctx, struct xopts *opts,
                                                 unsigned int opts__sz) __ksym;
extern void bpf_xdp_xfrm_state_release(struct xfrm_state *x) __ksym;
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, int); __type(value, long); } m SEC(".maps");
extern long long bpf_map_sum_elem_count(const struct bpf_map *map) __ksym;
char LICENSE[] SEC("license") = "GPL";
"""

# name -> XDP program body; the kernel decides which are valid
CASES = {
    "task_released": "struct task_struct *t = bpf_task_from_pid(1); if (t) bpf_task_release(t); return XDP_PASS;",
    "task_leaked": "struct task_struct *t = bpf_task_from_pid(1); return t ? XDP_DROP : XDP_PASS;",
    "task_maybe_null_release": "struct task_struct *t = bpf_task_from_pid(1); bpf_task_release(t); return XDP_PASS;",
    "task_double_release": "struct task_struct *t = bpf_task_from_pid(1); if (!t) return XDP_PASS; "
                           "bpf_task_release(t); bpf_task_release(t); return XDP_PASS;",
    "task_release_scalar": "bpf_task_release((struct task_struct *)(long)ctx->data); return XDP_PASS;",
    "cgroup_released": "struct cgroup *c = bpf_cgroup_from_id(1); if (c) bpf_cgroup_release(c); return XDP_PASS;",
    "cgroup_into_task_release": "struct cgroup *c = bpf_cgroup_from_id(1); if (!c) return XDP_PASS; "
                                "bpf_task_release((struct task_struct *)c); return XDP_PASS;",
    "xfrm_ok": "struct xopts o = {.netns_id = -1, .family = 2}; struct xfrm_state *x = "
               "bpf_xdp_get_xfrm_state(ctx, &o, sizeof(o)); if (x) bpf_xdp_xfrm_state_release(x); return XDP_PASS;",
    "xfrm_size_past_stack": "struct xopts o = {.netns_id = -1}; struct xfrm_state *x = "
                            "bpf_xdp_get_xfrm_state(ctx, &o, 600); if (x) bpf_xdp_xfrm_state_release(x); return XDP_PASS;",
    "xfrm_leak": "struct xopts o = {.netns_id = -1}; return bpf_xdp_get_xfrm_state(ctx, &o, sizeof(o)) ? 1 : 2;",
    "strlen_any_pointer": "return bpf_strlen((const char *)(long)ctx->data) + bpf_strnlen(0, 4) > 0 ? 2 : 1;",
    "dynptr_size": "struct bpf_dynptr d; bpf_dynptr_from_xdp(ctx, 0, &d); bpf_dynptr_adjust(&d, 0, 1); "
                   "return bpf_dynptr_size(&d) ? XDP_PASS : XDP_DROP;",
    "dynptr_size_uninit": "struct bpf_dynptr d; return bpf_dynptr_size(&d) ? XDP_PASS : XDP_DROP;",
    "map_elem_count": "return bpf_map_sum_elem_count((const struct bpf_map *)&m) ? XDP_PASS : XDP_DROP;",
    "sleepable_in_xdp": "char buf[8]; return bpf_copy_from_user_str(buf, sizeof(buf), 0, 0) ? 1 : 2;",
}


def _obj(build_c, name: str, body: str):
    return build_c(_HEAD + f'SEC("xdp") int prog(struct xdp_md *ctx) {{ {body} }}\n', f"kl_{name}")


def _kernel_accepts(path) -> bool:
    from dataplane.io.kload import KernelObject
    try:
        KernelObject.load(str(path)).close()
        return True
    except VerifierError:
        return False


def _dataplane(path):
    """(accepted, log, verify-only kfuncs) of verify --kernel-layout, in process."""
    from dataplane.cli.verify_cmd import prepare_program
    from dataplane.loader import load_object
    spec = load_object(str(path))
    ps = spec.programs["prog"]
    try:
        run = prepare_program(spec, ps, kernel_layout=True)
        run(log_level=1)
        return True, "", run.verify_only
    except VerifierError as e:
        return False, e.log or e.summary, ()


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_layout_agrees_with_the_kernel(name, build_c, root_required):
    path = _obj(build_c, name, CASES[name])
    kernel = _kernel_accepts(path)
    ok, log, verify_only = _dataplane(path)
    assert ok == kernel, f"{name}: kernel {'accepts' if kernel else 'refuses'}, dataplane:\n{log}"
    assert "does not model" not in log and "is not implemented by dataplane" not in log, log
    if ok:
        assert verify_only, "a program calling kfuncs dataplane does not run is verify-only"


def test_the_matrix_has_both_verdicts(build_c, root_required):
    """The cases above are not all accepted or all refused by the kernel."""
    verdicts = {_kernel_accepts(_obj(build_c, n, CASES[n])) for n in ("task_released", "task_leaked")}
    assert verdicts == {True, False}


def test_cli_reports_verify_only(build_c, root_required):
    path = _obj(build_c, "xfrm_ok", CASES["xfrm_ok"])
    out = run_cli("verify", "--kernel-layout", str(path))
    assert "accepted" in out.stdout and "verify-only: dataplane cannot run" in out.stdout
    assert "bpf_xdp_get_xfrm_state" in out.stdout
    res = json.loads(run_cli("verify", "--kernel-layout", "-j", str(path)).stdout)["programs"][0]
    assert res["accepted"] and res["verify_only"] == ["bpf_xdp_get_xfrm_state", "bpf_xdp_xfrm_state_release"]
    # without --kernel-layout (what `prog run` would execute) the gap is named
    out = run_cli("verify", "-j", str(path), check=False)
    assert "is not implemented by dataplane" in json.loads(out.stdout)["programs"][0]["log"]


def test_kfunc_not_allowed_in_xdp_gets_the_kernels_words(build_c, root_required):
    """A kfunc the kernel exports but not to XDP: the kernel's refusal text."""
    src = ('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
           'extern int bpf_dynptr_from_skb(struct __sk_buff *s, unsigned long long f, struct bpf_dynptr *p) __ksym;\n'
           'SEC("xdp") int prog(struct xdp_md *ctx) { struct bpf_dynptr d; '
           'return bpf_dynptr_from_skb((void *)ctx, 0, &d); }\nchar LICENSE[] SEC("license") = "GPL";\n')
    path = build_c(src, "kl_skb_in_xdp")
    from dataplane.io.kload import KernelObject
    with pytest.raises(VerifierError) as ei:
        KernelObject.load(str(path)).close()
    want = "calling kernel function bpf_dynptr_from_skb is not allowed"
    assert want in ei.value.log
    ok, log, _ = _dataplane(path)
    assert not ok and want in log
