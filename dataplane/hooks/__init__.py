"""Hooks: attachment points holding an ordered chain of XDP programs.

Public API (stable; the service builds on it)::

    from dataplane.hooks import Hook, bind, Worker, XDP_PASS, VERDICTS

    prog = bind(collection, "xdp_fw")       # BoundProgram: a Collection's program, runnable in a chain
    hook = Hook("replay0", ifindex=1)       # ifindex: what ctx->ingress_ifindex reads (1 = lo, as BPF_PROG_TEST_RUN)
    rev = hook.attach(prog, before=None, after=None, replace=None, expected_revision=None)  # -> new revision
    rev = hook.detach(prog_or_id, expected_revision=None)                                  # -> new revision
    hook.chain            # tuple[BoundProgram, ...] in run order
    hook.revision         # int, +1 on every change (bpf_mprog); starts at 1 when empty
    hook.stats()          # {prog_id: {"name", "runs", "run_ns", "errors", "invalid",
                          #            "packets": {"aborted","drop","pass","tx","redirect": n},
                          #            "bytes":   {same keys: n}}}
    hook.totals()         # {"packets": {verdict: n}, "bytes": {verdict: n}}: chain verdicts
    hook.current()        # (revision, Chain): the published native chain (what workers run)

    Worker(hook, source, sinks, batch_size=256)
                          # a thread pumping a dataplane.io Source into Sinks (dataplane.hooks.worker)

Chain semantics (the kernel's multi-program XDP, libxdp dispatcher /
bpf_mprog style): programs run in chain order on each packet; XDP_PASS
continues with the next program, any other verdict ends the chain for that
packet and is the chain's verdict; if every program passes, the verdict is
XDP_PASS. Packet modifications (bytes, bpf_xdp_adjust_head/tail/meta) carry
over to the next program and to the sinks. A verdict outside 0..4 is counted
as "invalid" and turned into XDP_ABORTED (bpf_warn_invalid_xdp_action); a
program that faults at run time (checked engines) counts an error and gives
XDP_ABORTED. An empty chain passes every packet.

attach()/detach() follow bpf_mprog: ``before``/``after``/``replace`` name an
attached program (BoundProgram or program id), at most one of them; with
none given, attach appends at the end (the last program runs last).
Attaching a program already in the chain raises AlreadyExists (EEXIST);
an anchor not in the chain raises NotFound (ENOENT); an
``expected_revision`` that differs from ``hook.revision`` raises
StaleRevision (errno ESTALE). Every successful change builds a new
immutable native :class:`~dataplane.hooks.chain.Chain` and publishes it by
swapping one reference under the hook's lock; workers pick it up between
batches only, so no packet sees a half-updated chain. Counters of a
program survive chain changes (they belong to the attachment).

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
from dataplane.hooks.verdicts import (VERDICT_NAMES, VERDICTS, XDP_ABORTED, XDP_DROP, XDP_PASS,
                                      XDP_REDIRECT, XDP_TX, verdict_name)

__all__ = ["VERDICT_NAMES", "VERDICTS", "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_REDIRECT", "XDP_TX",
           "verdict_name", "Hook", "BoundProgram", "bind", "Worker", "StaleRevision"]


def __getattr__(name):
    # Lazy: importing the package must not require the native extension to be built.
    if name in ("Hook", "BoundProgram", "bind", "StaleRevision"):
        from dataplane.hooks import hook
        return getattr(hook, name)
    if name == "Worker":
        from dataplane.hooks.worker import Worker
        return Worker
    raise AttributeError(name)
