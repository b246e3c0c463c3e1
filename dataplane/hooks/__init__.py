"""Hooks: attachment points holding an ordered chain of XDP programs.

Public API (stable; the service builds on it)::

    from dataplane.hooks import Hook, bind, Worker
    from dataplane.abi.xdp import XDP_PASS, VERDICTS   # verdicts are kernel ABI

    prog = bind(collection, "xdp_fw")       # BoundProgram: a Collection's program, runnable in a chain
    hook = Hook("replay0", ifindex=1)       # ifindex: what ctx->ingress_ifindex reads (1 = lo, as BPF_PROG_TEST_RUN)
    rev = hook.attach(prog, Before(other), expected_revision=None, first=False, last=False,
                      proceed_on=None)      # BPF_PROG_ATTACH -> new revision
    rev = hook.attach(prog, flags=BPF_F_BEFORE | BPF_F_ID, relative=7)   # the kernel's vocabulary
    rev = hook.attach(prog, replace=old)    # BPF_F_REPLACE (shorthands: before=, after= a program or id)
    rev = hook.detach(prog_or_id)           # or hook.detach(anchor=Head()): first entry (BPF_F_BEFORE, no prog)
    link = hook.link_create(prog, After(link_id=3))   # BPF_LINK_CREATE -> Link (hooks.link)
    rev = hook.link_update(link, prog2)     # BPF_LINK_UPDATE: same place, revision +1 (not if same prog)
    rev = hook.link_detach(link)            # BPF_LINK_DETACH
    hook.query()          # mprog.Query(count, revision, prog_ids, link_ids, flags, error)
    hook.chain            # tuple[BoundProgram, ...] in run order; hook.entries: mprog.Entry values
    hook.revision         # starts at 1, +1 per commit; back to 1 when the last program leaves (tcx)
    hook.stats()          # {prog_id: {"name", "runs", "run_ns", "errors", "invalid",
                          #            "packets": {"aborted","drop","pass","tx","redirect": n},
                          #            "bytes":   {same keys: n}}}
    hook.totals()         # {"packets": {verdict: n}, "bytes": {verdict: n}}: chain verdicts
    hook.current()        # (revision, Chain): the published native chain (what workers run)

    Worker(hook, source, sinks, batch_size=256)
                          # a thread pumping a dataplane.io Source into Sinks (dataplane.hooks.worker)

Values (pure Python, no native code): ``hooks.mprog`` -- the kernel's
bpf_mprog rules (BPF_F_BEFORE/AFTER/REPLACE/ID/LINK, expected_revision,
EEXIST/ENOENT/EINVAL/EBUSY/ERANGE/ESTALE, the 63-program limit, query) plus
the dataplane's FIRST/LAST pins and proceed-on sets; ``hooks.anchor`` --
Head, Tail, Before(prog|link), After(prog|link); ``hooks.link`` -- Link.

Chain semantics (the kernel's multi-program XDP, libxdp dispatcher /
bpf_mprog style): programs run in chain order on each packet; a verdict in
the attachment's proceed-on set (default {XDP_PASS}) continues with the
next program, any other verdict ends the chain for that packet and is the
chain's verdict; a packet that leaves the last program has that program's
verdict (XDP_PASS for an all-PASS chain). Packet modifications (bytes,
bpf_xdp_adjust_head/tail/meta) carry over to the next program and to the
sinks. A verdict outside 0..4 is counted as "invalid" and turned into
XDP_ABORTED (bpf_warn_invalid_xdp_action); a program that faults at run
time (checked engines) counts an error and gives XDP_ABORTED. An empty
chain passes every packet.

Every successful change builds a new immutable native
:class:`~dataplane.hooks.chain.Chain` and publishes it by swapping one
reference under the hook's lock; workers pick it up between batches only,
so no packet sees a half-updated chain. Counters of a program survive chain
changes (they belong to the attachment, and come back on re-attach).

Native layer (dataplane.hooks.chain, Cython over csrc/dp_chain.h):

    Chain(entries, ifindex=1)      # entries: [(BoundProgram, ProgStats)], immutable
    Chain.run(batch: FrameBatch)   # one call per batch, GIL released: sets each frame's
                                   # data/data_end/data_meta, verdict, and for XDP_REDIRECT
                                   # frame.reserved = redirect target (ifindex; XSKMAP/CPUMAP: map key)
    Chain.revision, len(Chain), Chain.prog_ids, Chain.last_errors()
    redirect_target(batch, i)      # frame i's redirect target after run()
    ProgStats()                    # native counters of one attachment; .snapshot() -> dict
    ChainSlot(chain).chain         # a hook's published chain (hook.slot), swapped whole

    dataplane.hooks.pump: Pump(source, slot, sinks[5], batch).run(max_batches, wait_ns)
                                   # the one generic loop (Cython): fill from any Source
                                   # (dataplane.io.source), run the chain, hand each verdict's
                                   # frames to its Sink in one bucketing pass, release the frames

ctx->ingress_ifindex is per frame: a frame's ``ifindex`` when nonzero (the
source sets it: PcapSource maps pcapng interface i -> i + 1, or its own mapping),
else the hook's ``ifindex`` (classic pcap frames).
"""
from dataplane.errors import StaleRevision
from dataplane.hooks.anchor import After, Anchor, Before, Head, Tail
from dataplane.hooks.hook import BoundProgram, Hook, bind
from dataplane.hooks.link import Link
from dataplane.hooks.mprog import (BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK, BPF_F_REPLACE, DP_F_FIRST,
                                   DP_F_LAST, MAX_PROGS)
from dataplane.hooks.worker import Worker

__all__ = ["Hook", "BoundProgram", "bind", "Worker", "StaleRevision", "Anchor", "Head", "Tail",
           "Before", "After", "Link", "BPF_F_AFTER", "BPF_F_BEFORE", "BPF_F_ID", "BPF_F_LINK", "BPF_F_REPLACE",
           "DP_F_FIRST", "DP_F_LAST", "MAX_PROGS"]
