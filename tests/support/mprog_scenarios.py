"""The kernel's tcx acceptance suite as data: tools/testing/selftests/bpf/
prog_tests/tc_opts.c (20 tests) and tc_links.c (14 tests), each a sequence
of operations that tests/support/tcx.py runs against the running kernel's tcx
and against the dataplane's hooks, comparing every step.

Programs are named as in the selftests (tc1..tc6: each counts its runs and
returns TCX_NEXT / XDP_PASS, so the next one runs); links get the names the
scenario gives them. A relative object is ``P(name)`` / ``K(name)`` (the
program's / link's fd -- in the dataplane its handle), ``P(name, id=True)``
/ ``K(name, id=True)`` (by id: the runner adds BPF_F_ID, as libbpf does
for relative_id), or ``NOTHING`` (an id that names no object).

``expect`` is the selftest's own expectation for the step (an errno, or
FAIL for "should fail"); the runner checks that the kernel meets it (so the
port is faithful) and that the dataplane gives the kernel's answer.

Left out, on purpose, and said where: classic tc (cls_bpf filters on a
clsact/ingress qdisc, `tc filter`, qdisc replacement) -- the dataplane has
no cls_bpf; the tcx operation sequences around them are kept. libbpf's own
refusal of ifindex 0 never reaches the kernel.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field

from dataplane.hooks.mprog import BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK, BPF_F_REPLACE

BEFORE, AFTER, REPLACE, ID, LINK = BPF_F_BEFORE, BPF_F_AFTER, BPF_F_REPLACE, BPF_F_ID, BPF_F_LINK
IN, EG = "ingress", "egress"
FAIL = -1           # "should fail" without a specific errno in the selftest
ESTALE, EEXIST, ENOENT, EINVAL, EBUSY, ERANGE, ENOSPC = (errno.ESTALE, errno.EEXIST, errno.ENOENT, errno.EINVAL,
                                                         errno.EBUSY, errno.ERANGE, errno.ENOSPC)


@dataclass(frozen=True)
class P:
    name: str
    id: bool = False


@dataclass(frozen=True)
class K:
    name: str
    id: bool = False


@dataclass(frozen=True)
class Nothing:
    """An id naming no program or link (the selftests use 42 and ~0)."""
    value: int = 42


NOTHING = Nothing()


@dataclass(frozen=True)
class Op:
    kind: str            # attach detach link update link_detach close query run dev_del link_info
    target: str = IN
    prog: str | None = None
    link: str | None = None
    flags: int = 0
    rel: object = None
    replace: str | None = None
    rev: int = 0
    expect: int = 0
    count: int | None = 64        # query: id array size (None: no arrays)
    query_flags: int = 0
    attach_flags: int = 0


def A(prog, t=IN, flags=0, rel=None, replace=None, rev=0, expect=0):
    return Op("attach", t, prog, flags=flags, rel=rel, replace=replace, rev=rev, expect=expect)


def D(prog=None, t=IN, flags=0, rel=None, rev=0, expect=0):
    return Op("detach", t, prog, flags=flags, rel=rel, rev=rev, expect=expect)


def L(prog, link, t=IN, flags=0, rel=None, rev=0, expect=0):
    return Op("link", t, prog, link, flags=flags, rel=rel, rev=rev, expect=expect)


def U(link, prog, expect=0):
    return Op("update", prog=prog, link=link, expect=expect)


def X(link, expect=0):
    """bpf_link__detach."""
    return Op("link_detach", link=link, expect=expect)


def CLOSE():
    """The skeleton's destroy: every link fd closed (tcx_link_release)."""
    return Op("close")


def Q(t=IN, count=64, query_flags=0, attach_flags=0, expect=0):
    return Op("query", t, count=count, query_flags=query_flags, attach_flags=attach_flags, expect=expect)


def RUN(t=IN):
    """One packet through the target (the selftest's ping): which programs ran."""
    return Op("run", t)


def DEV_DEL():
    return Op("dev_del")


def INFO(link):
    return Op("link_info", link=link)


@dataclass
class Scenario:
    name: str                      # the selftest's name
    source: str                    # tc_opts.c / tc_links.c
    steps: list[Op]
    progs: tuple[str, ...] = ("tc1", "tc2", "tc3", "tc4")
    note: str = ""
    variants: list[str] = field(default_factory=list)   # the selftest's parameter sets this covers


def _targets(fn):
    return [op for t in (IN, EG) for op in fn(t)]


# ================================================================ tc_opts.c

def opts_basic():
    s = [Q(IN), Q(EG), A("tc1", IN), Q(IN, 2), Q(EG), RUN(IN), A("tc2", EG), Q(IN), Q(EG, 2), RUN(EG),
         D("tc2", EG), Q(IN), Q(EG), D("tc1", IN), Q(IN), Q(EG)]
    return Scenario("tc_opts_basic", "tc_opts.c", s)


def _opts_before(t):
    return [Q(t), A("tc1", t), A("tc2", t), Q(t, 5), RUN(t),
            A("tc3", t, BEFORE, rel=P("tc2")), Q(t, 5),
            A("tc4", t, BEFORE, rel=P("tc1", id=True)), Q(t, 5), RUN(t),
            D("tc4", t), D("tc3", t), D("tc2", t), D("tc1", t), Q(t)]


def _opts_after(t):
    return [Q(t), A("tc1", t), A("tc2", t), Q(t, 5), RUN(t),
            A("tc3", t, AFTER, rel=P("tc1")), Q(t, 5),
            A("tc4", t, AFTER, rel=P("tc2", id=True)), Q(t, 5), RUN(t),
            D("tc4", t), Q(t, 5), D("tc3", t), Q(t, 5), D("tc2", t), Q(t, 5), D("tc1", t), Q(t)]


def _opts_revision(t):
    return [Q(t), A("tc1", t, rev=1), A("tc2", t, rev=1, expect=ESTALE), Q(t), A("tc2", t, rev=2), Q(t, 3), RUN(t),
            D("tc2", t, rev=2, expect=ESTALE), Q(t), D("tc2", t, rev=3), Q(t), D("tc1", t), Q(t)]


def _opts_chain_classic(t):
    return [Q(t), A("tc1", t), A("tc2", t), Q(t), RUN(t), D("tc2", t), Q(t), RUN(t), D("tc1", t), Q(t)]


def _opts_replace(t):
    return [Q(t), A("tc1", t, rev=1), A("tc2", t, BEFORE, rel=P("tc1", id=True), rev=2), Q(t, 4), RUN(t),
            A("tc3", t, REPLACE, replace="tc2", rev=3), Q(t, 4), RUN(t),
            A("tc2", t, REPLACE | BEFORE, replace="tc3", rel=P("tc1"), rev=4), Q(t, 4), RUN(t),
            A("tc2", t, REPLACE, replace="tc2", expect=EEXIST), Q(t),
            A("tc3", t, REPLACE | AFTER, replace="tc2", rel=P("tc1"), rev=5, expect=ERANGE), Q(t),
            A("tc3", t, BEFORE | AFTER | REPLACE, replace="tc2", rel=P("tc1"), rev=5, expect=ERANGE), Q(t),
            D("tc2", t, BEFORE, rel=P("tc1", id=True), rev=5), Q(t), D("tc1", t), Q(t)]


def _opts_invalid(t):
    return [Q(t),
            A("tc1", t, BEFORE | AFTER, expect=ERANGE), Q(t),
            A("tc1", t, BEFORE | ID, expect=ENOENT), Q(t),
            A("tc1", t, AFTER | ID, expect=ENOENT), Q(t),
            A("tc1", t, rel=P("tc2"), expect=EINVAL), Q(t),
            A("tc1", t, BEFORE | AFTER, rel=P("tc2"), expect=ENOENT), Q(t),
            A("tc1", t, ID, rel=P("tc2", id=True), expect=EINVAL), Q(t),
            A("tc1", t, BEFORE, rel=P("tc1"), expect=ENOENT), Q(t),
            A("tc1", t, AFTER, rel=P("tc1"), expect=ENOENT), Q(t),
            A("tc1", t), Q(t),
            A("tc1", t, expect=EEXIST), Q(t),
            A("tc1", t, BEFORE, rel=P("tc1"), expect=EEXIST), Q(t),
            A("tc1", t, AFTER, rel=P("tc1"), expect=EEXIST), Q(t),
            # REPLACE with relative_fd but no replace_prog_fd: the kernel looks up fd 0
            A("tc1", t, REPLACE, rel=P("tc1"), expect=EINVAL), Q(t),
            A("tc1", t, REPLACE, replace="tc1", expect=EEXIST), Q(t),
            D("tc1", t), Q(t)]


def _opts_prepend(t):
    return [Q(t), A("tc1", t), A("tc2", t, BEFORE), Q(t, 5), RUN(t), A("tc3", t, BEFORE), A("tc4", t, BEFORE),
            Q(t, 5), RUN(t), D("tc4", t), D("tc3", t), D("tc2", t), D("tc1", t), Q(t)]


def _opts_append(t):
    return [Q(t), A("tc1", t), A("tc2", t, AFTER), Q(t, 5), RUN(t), A("tc3", t, AFTER), A("tc4", t, AFTER),
            Q(t, 5), RUN(t), D("tc4", t), D("tc3", t), D("tc2", t), D("tc1", t), Q(t)]


def _opts_dev_cleanup(t):
    return [Q(t), A("tc1", t), Q(t), A("tc2", t), Q(t), A("tc3", t), Q(t), A("tc4", t), Q(t), DEV_DEL()]


def _opts_mixed(t):
    return [Q(t), A("tc1", t), Q(t), L("tc2", "l2", t), Q(t),
            A("tc2", t, REPLACE, replace="tc1", expect=EEXIST), Q(t),
            A("tc1", t, REPLACE, replace="tc2", expect=EEXIST), Q(t),
            A("tc3", t, REPLACE, replace="tc2", expect=EBUSY), Q(t),
            A("tc3", t, REPLACE, replace="tc1"), Q(t),
            L("tc4", "l4", t), Q(t),
            A("tc2", t, REPLACE, replace="tc4", expect=EEXIST), Q(t, 4), RUN(t),
            D("tc3", t), Q(t), CLOSE(), Q(t)]


def _opts_demixed(t):
    return [Q(t), A("tc1", t), Q(t), L("tc2", "l2", t), Q(t),
            D(None, t, AFTER, expect=EBUSY), Q(t), D(None, t, BEFORE), Q(t), CLOSE(), Q(t)]


def _opts_detach(t):
    return [Q(t), A("tc1", t), A("tc2", t), A("tc3", t), A("tc4", t), Q(t, 5),
            D(None, t, BEFORE), Q(t, 5), D(None, t, AFTER), Q(t, 5), D("tc3", t), Q(t), D("tc2", t), Q(t),
            D(None, t, BEFORE, expect=ENOENT), D(None, t, AFTER, expect=ENOENT), Q(t)]


def _opts_detach_before(t):
    return [Q(t), A("tc1", t), A("tc2", t), A("tc3", t), A("tc4", t), Q(t, 5),
            D("tc1", t, BEFORE, rel=P("tc2")), Q(t, 5),
            D("tc1", t, BEFORE, rel=P("tc2"), expect=ENOENT), Q(t),
            D("tc2", t, BEFORE, rel=P("tc4"), expect=ERANGE), Q(t),
            D("tc2", t, BEFORE, rel=P("tc1"), expect=ENOENT), Q(t),
            D("tc2", t, BEFORE, rel=P("tc3")), Q(t, 5),
            D(None, t, BEFORE, rel=P("tc4")), Q(t, 5),
            D(None, t, BEFORE), Q(t)]


def _opts_detach_after(t):
    return [Q(t), A("tc1", t), A("tc2", t), A("tc3", t), A("tc4", t), Q(t, 5),
            D("tc2", t, AFTER, rel=P("tc1")), Q(t, 5),
            D("tc2", t, AFTER, rel=P("tc1"), expect=ENOENT), Q(t),
            D("tc1", t, AFTER, rel=P("tc4"), expect=ERANGE), Q(t),
            D("tc1", t, AFTER, rel=P("tc3"), expect=ERANGE), Q(t),
            D("tc1", t, AFTER, rel=P("tc1"), expect=ERANGE), Q(t),
            D("tc3", t, AFTER, rel=P("tc1")), Q(t, 5),
            D(None, t, AFTER, rel=P("tc1")), Q(t, 5),
            D(None, t, AFTER), Q(t)]


def _opts_delete_empty(t):
    return [Q(t), D(None, t, expect=ENOENT), Q(t)]


def _opts_chain_mixed(t):
    # tc5 sits on the classic tc hook in the selftest (left out); tc6 is
    # attached, replaced by tc4, detached.
    return [Q(t), A("tc6", t), Q(t), RUN(t), A("tc4", t, REPLACE, replace="tc6"), Q(t), RUN(t),
            D("tc4", t), Q(t), RUN(t)]


def _opts_max(t, flags, relative):
    dummies = [f"d{i}" for i in range(63)]
    s = [Q(t)]
    for i, d in enumerate(dummies):
        s += [A(d, t), Q(t, count=None)]
    s += [A("d63", t, flags, rel=P("d62") if relative else None, expect=ERANGE), Q(t, count=None), Q(t)]
    return s


def _opts_query(t):
    return [Q(t), A("tc1", t, rev=1), Q(t), A("tc2", t, rev=2), Q(t), A("tc3", t, rev=3), Q(t),
            A("tc4", t, rev=4), Q(t),
            Q(t, count=None),              # no arrays: count and revision only
            Q(t, count=10),
            Q(t, count=2, expect=ENOSPC),  # smaller array: the first two, ENOSPC, count 4
            Q(t, count=0),                 # an array but count 0: nothing filled, no error
            Q(t, query_flags=1, expect=EINVAL), Q(t, attach_flags=1, expect=EINVAL),
            D("tc4", t), Q(t), D("tc3", t), Q(t), D("tc2", t), Q(t), D("tc1", t), Q(t)]


def _opts_query_attach(t):
    # expected_revision taken from the query before: an empty hook reads revision 1
    return [Q(t, count=None), A("tc1", t, rev=1), Q(t, 2), D("tc1", t), Q(t)]


# ================================================================ tc_links.c

def links_basic():
    s = [Q(IN), Q(EG), L("tc1", "l1", IN), Q(IN), Q(EG), Q(IN, 2), RUN(IN), L("tc2", "l2", EG), Q(IN), Q(EG),
         Q(EG, 2), RUN(IN), RUN(EG), CLOSE(), Q(IN), Q(EG)]
    return Scenario("tc_links_basic", "tc_links.c", s)


def _links_before(t):
    return [Q(t), L("tc1", "l1", t), L("tc2", "l2", t), Q(t, 5), RUN(t),
            L("tc3", "l3", t, BEFORE, rel=P("tc2")),
            L("tc4", "l4", t, BEFORE | LINK, rel=K("l1", id=True)), Q(t, 5), RUN(t), CLOSE(), Q(t)]


def _links_after(t):
    return [Q(t), L("tc1", "l1", t), L("tc2", "l2", t), Q(t, 5), RUN(t),
            L("tc3", "l3", t, AFTER, rel=P("tc1")),
            L("tc4", "l4", t, AFTER | LINK, rel=K("l2")), Q(t, 5), RUN(t), CLOSE(), Q(t)]


def _links_revision(t):
    return [Q(t), L("tc1", "l1", t, rev=1), Q(t), L("tc2", "l2", t, rev=1, expect=FAIL), Q(t),
            L("tc2", "l2", t, rev=2), Q(t, 3), RUN(t), CLOSE(), Q(t)]


def _links_chain_classic(t):
    return [Q(t), L("tc1", "l1", t), L("tc2", "l2", t), Q(t), RUN(t), X("l2"), Q(t), RUN(t), CLOSE(), Q(t)]


def _links_replace(t):
    return [Q(t), L("tc1", "l1", t, rev=1), Q(t), L("tc2", "l2", t, BEFORE, rel=P("tc1", id=True), rev=2),
            Q(t, 4), RUN(t),
            L("tc3", "l3", t, REPLACE, rel=P("tc2"), rev=3, expect=FAIL), Q(t),
            L("tc3", "l3", t, REPLACE | LINK, rel=K("l2"), rev=3, expect=FAIL), Q(t),
            L("tc3", "l3", t, REPLACE | LINK | AFTER, rel=K("l2", id=True), expect=FAIL), Q(t),
            U("l2", "tc3"), Q(t, 4), RUN(t), X("l2"), Q(t, 4), RUN(t),
            U("l1", "tc1"), Q(t, 4), RUN(t), CLOSE(), Q(t)]


def _links_invalid(t):
    s = [Q(t)]
    for flags, rel in [(BEFORE | AFTER, None), (BEFORE | ID, None), (AFTER | ID, None), (ID, None),
                       (LINK, P("tc2")), (LINK, None), (0, P("tc2")), (BEFORE | AFTER, P("tc2")),
                       (BEFORE, P("tc1")), (ID, P("tc2", id=True)), (ID, NOTHING), (BEFORE, P("tc1")),
                       (BEFORE | LINK, P("tc1")), (AFTER, P("tc1"))]:
        s += [L("tc1", "l1", t, flags, rel=rel, expect=FAIL), Q(t)]
    # (libbpf refuses ifindex 0 itself: no kernel step)
    s += [L("tc1", "l1", t, AFTER | LINK, rel=P("tc1"), expect=FAIL), Q(t),
          L("tc1", "l1", t), Q(t),
          L("tc2", "l2", t, AFTER | LINK, rel=P("tc1"), expect=FAIL), Q(t),
          L("tc2", "l2", t, BEFORE | LINK | ID, rel=Nothing(0xFFFFFFFF), expect=FAIL), Q(t),
          L("tc1", "l9", t, BEFORE | LINK | ID, rel=K("l1", id=True), expect=FAIL), Q(t),
          L("tc1", "l9", t, BEFORE | ID, rel=P("tc1", id=True), expect=FAIL), Q(t),
          L("tc2", "l2", t, BEFORE | LINK | ID, rel=K("l1", id=True)), Q(t), CLOSE(), Q(t)]
    return s


def _links_prepend(t):
    return [Q(t), L("tc1", "l1", t), L("tc2", "l2", t, BEFORE), Q(t, 5), RUN(t),
            L("tc3", "l3", t, BEFORE), L("tc4", "l4", t, BEFORE), Q(t, 5), RUN(t), CLOSE(), Q(t)]


def _links_append(t):
    return [Q(t), L("tc1", "l1", t), L("tc2", "l2", t, AFTER), Q(t, 5), RUN(t),
            L("tc3", "l3", t, AFTER), L("tc4", "l4", t, AFTER), Q(t, 5), RUN(t), CLOSE(), Q(t)]


def _links_dev_cleanup(t):
    return [Q(t), L("tc1", "l1", t), Q(t), L("tc2", "l2", t), Q(t), L("tc3", "l3", t), Q(t),
            L("tc4", "l4", t), Q(t), DEV_DEL(), INFO("l1"), INFO("l2"), INFO("l3"), INFO("l4"), CLOSE()]


def _links_chain_mixed(t):
    # tc5 sits on the classic tc hook in the selftest (left out)
    return [Q(t), L("tc6", "l6", t), Q(t), RUN(t), U("l6", "tc4"), Q(t), RUN(t), X("l6"), Q(t), RUN(t), CLOSE()]


def _links_ingress(t):
    return [Q(t), L("tc1", "l1", t), L("tc2", "l2", t), Q(t), RUN(t), X("l2"), Q(t), RUN(t), CLOSE(), Q(t)]


def _links_dev_chain0():
    # qdisc replacement on a fresh device: no tcx operation at all in the selftest
    return [Q(IN), Q(EG), DEV_DEL()]


def _links_dev_mixed(t):
    return [Q(t), L("tc1", "l1", t), Q(t), L("tc2", "l2", t), Q(t), L("tc3", "l3", t), Q(t),
            L("tc4", "l4", t), Q(t), DEV_DEL(), INFO("l1"), INFO("l2"), INFO("l3"), INFO("l4"), CLOSE()]


CLASSIC = "the classic tc (cls_bpf) filter of the selftest is left out: no dataplane counterpart"
_MAX_VARIANTS = [(IN, 0, False), (EG, 0, False), (IN, BEFORE, False), (EG, BEFORE, True), (IN, AFTER, True),
                 (EG, AFTER, False)]


def scenarios() -> list[Scenario]:
    tc = ("tc1", "tc2", "tc3", "tc4", "tc6")
    both = ["ingress", "egress"]
    out = [
        opts_basic(),
        Scenario("tc_opts_before", "tc_opts.c", _targets(_opts_before), variants=both),
        Scenario("tc_opts_after", "tc_opts.c", _targets(_opts_after), variants=both),
        Scenario("tc_opts_revision", "tc_opts.c", _targets(_opts_revision), variants=both),
        Scenario("tc_opts_chain_classic", "tc_opts.c", _targets(_opts_chain_classic), note=CLASSIC,
                 variants=["ingress", "egress", "ingress+tc", "egress+tc"]),
        Scenario("tc_opts_replace", "tc_opts.c", _targets(_opts_replace), variants=both),
        Scenario("tc_opts_invalid", "tc_opts.c", _targets(_opts_invalid), variants=both),
        Scenario("tc_opts_prepend", "tc_opts.c", _targets(_opts_prepend), variants=both),
        Scenario("tc_opts_append", "tc_opts.c", _targets(_opts_append), variants=both),
        Scenario("tc_opts_dev_cleanup", "tc_opts.c", _opts_dev_cleanup(IN), variants=["ingress"],
                 note="egress variant: the same steps on the other attach type"),
        Scenario("tc_opts_dev_cleanup_egress", "tc_opts.c", _opts_dev_cleanup(EG), variants=["egress"]),
        Scenario("tc_opts_mixed", "tc_opts.c", _targets(_opts_mixed), variants=both),
        Scenario("tc_opts_demixed", "tc_opts.c", _targets(_opts_demixed), variants=both),
        Scenario("tc_opts_detach", "tc_opts.c", _targets(_opts_detach), variants=both),
        Scenario("tc_opts_detach_before", "tc_opts.c", _targets(_opts_detach_before), variants=both),
        Scenario("tc_opts_detach_after", "tc_opts.c", _targets(_opts_detach_after), variants=both),
        Scenario("tc_opts_delete_empty", "tc_opts.c", _targets(_opts_delete_empty), note=CLASSIC,
                 variants=["ingress", "egress", "ingress+tc", "egress+tc"]),
        Scenario("tc_opts_chain_mixed", "tc_opts.c", _targets(_opts_chain_mixed), progs=tc, note=CLASSIC,
                 variants=both),
        Scenario("tc_opts_query", "tc_opts.c", _targets(_opts_query), variants=both),
        Scenario("tc_opts_query_attach", "tc_opts.c", _targets(_opts_query_attach), variants=both),
        links_basic(),
        Scenario("tc_links_before", "tc_links.c", _targets(_links_before), variants=both),
        Scenario("tc_links_after", "tc_links.c", _targets(_links_after), variants=both),
        Scenario("tc_links_revision", "tc_links.c", _targets(_links_revision), variants=both),
        Scenario("tc_links_chain_classic", "tc_links.c", _targets(_links_chain_classic), note=CLASSIC,
                 variants=["ingress", "egress", "ingress+tc", "egress+tc"]),
        Scenario("tc_links_replace", "tc_links.c", _targets(_links_replace), variants=both),
        Scenario("tc_links_invalid", "tc_links.c", _targets(_links_invalid), variants=both,
                 note="the ifindex-0 step is libbpf's own refusal: no kernel call to compare"),
        Scenario("tc_links_prepend", "tc_links.c", _targets(_links_prepend), variants=both),
        Scenario("tc_links_append", "tc_links.c", _targets(_links_append), variants=both),
        Scenario("tc_links_dev_cleanup", "tc_links.c", _links_dev_cleanup(IN), variants=["ingress"]),
        Scenario("tc_links_dev_cleanup_egress", "tc_links.c", _links_dev_cleanup(EG), variants=["egress"]),
        Scenario("tc_links_chain_mixed", "tc_links.c", _targets(_links_chain_mixed), progs=tc, note=CLASSIC,
                 variants=both),
        Scenario("tc_links_ingress", "tc_links.c", _links_ingress(IN), note=CLASSIC,
                 variants=["tc+teardown-first", "tc", "tcx only"]),
        Scenario("tc_links_dev_chain0", "tc_links.c", _links_dev_chain0(),
                 note="the selftest replaces qdiscs on a fresh device; it has no tcx operation"),
        Scenario("tc_links_dev_mixed", "tc_links.c", _links_dev_mixed(IN), note=CLASSIC, variants=["ingress"]),
        Scenario("tc_links_dev_mixed_egress", "tc_links.c", _links_dev_mixed(EG), note=CLASSIC,
                 variants=["egress"]),
    ]
    for i, (t, flags, rel) in enumerate(_MAX_VARIANTS):
        out.append(Scenario(f"tc_opts_max_{i}", "tc_opts.c", _opts_max(t, flags, rel),
                            progs=tuple(f"d{k}" for k in range(64)), variants=[f"{t} flags={flags:#x} rel={rel}"]))
    return out


def selftests() -> set[str]:
    """The selftest functions covered (names without the variant suffix)."""
    out = set()
    for s in scenarios():
        base = s.name
        for suffix in ("_egress",) + tuple(f"_{i}" for i in range(len(_MAX_VARIANTS))):
            if base.endswith(suffix) and base[:-len(suffix)].startswith("tc_"):
                base = base[:-len(suffix)]
        out.add(base)
    return out
