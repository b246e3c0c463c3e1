"""pcap replay: run a hook's chain over a trace, write each verdict's packets.

Public API (stable; the service and the CLI build on it)::

    from dataplane.replay import Replay, ReplaySummary, parse_map_update, apply_map_updates

    r = Replay(target, "trace.pcap", loop=1, outputs={"pass": "p.pcap", "drop": "d.pcap"},
               batch=256, rate="max", speed=None, ifindexes=None)
        # rate:   "max" flat out (benchmarks), "pcap" the trace's timestamps (times
        #         ``speed``, default 1.0), or N packets/s; a paced replay sleeps
        #         between 1 ms groups of packets (GIL released) and cancel() lands
        #         within ~20 ms
        # ifindexes: pcapng interface id -> ctx->ingress_ifindex, a list by id or
        #         {id: ifindex}; default: interface i (i-th IDB) -> ifindex i + 1.
        #         Classic pcap frames read the hook's ifindex.
        # target: a dataplane.hooks.Hook (replay into its live chain: attach/detach
        #         while it runs), or a sequence of BoundProgram (a private hook is built)
        # loop:   times to play the trace (0 = until cancelled)
        # outputs: verdict name ("aborted","drop","pass","tx","redirect") -> pcap path;
        #          packets are written as they leave the chain (with modifications)
        # workers: N native worker threads (1..possible CPUs), the trace dealt in
        #         batches; worker i runs as CPU i (per-CPU map slot i,
        #         bpf_get_smp_processor_id() == i); flat out only (rate "max").
        #         Verdict counts and written counts are the workers' sums.
        # deterministic: (default: True for 1 worker, False for N) batch k on worker
        #         k % N and chains/sinks in batch order: programs, maps and each
        #         output file see exactly the single-worker sequence (the output
        #         bytes equal a 1-worker replay's); only per-CPU slots differ.
        #         False: batches run at once on whichever worker is free; each
        #         output holds every batch's frames together, in trace order within
        #         the batch, batches in the order their workers finished them.
    r.start()              # background worker thread; returns self
    r.progress()           # ReplayProgress: packets, bytes, loops_done, position, size,
                           #   fraction (0..1, None when looping forever), elapsed_s, running
    r.cancel()             # stop between batches; wait() then returns a summary with cancelled=True
    r.wait(timeout=None)   # -> ReplaySummary (raises TimeoutError when still running)
    r.summary              # ReplaySummary or None while running
    r.run()                # start() + wait() in the caller's thread, for scripts and the CLI

    ReplaySummary fields: packets, bytes, verdicts {name: packets}, verdict_bytes {name: bytes},
        wall_s, mpps, ns_per_packet, loops, cancelled, error (None, or the error message --
        e.g. a malformed pcap record: "file: offset N: reason", raised by wait() too as
        the original PcapError after the good records before it were processed and written),
        outputs {name: path}, written {name: packets written}, revisions (chain revisions
        the replay ran), workers, deterministic, worker_packets [packets per worker], rate (pacing text: "max", "pcap", "pcap x2", "20000 pps"),
        stage_ns {fill, run, put, release: the pumps' wall ns per stage}, write_cpu_ns and
        write_wall_ns (the outputs' writer threads), write_wait_ns (puts blocked on them).  .to_dict() for JSON, .text() for the CLI.
    r.hook                 # the Hook it runs (the private one when given programs)

    parse_rate("max"|"pcap"|N, speed=None) -> (pps, speed)   # (0, 0) = flat out
    parse_map_update("MAP:KEYHEX:VALUEHEX") -> (map_name, key_bytes, value_bytes)
    apply_map_updates(collection, ["MAP:KEY:VALUE", ...])

Sample trace (the bundled trace of configs/default.yaml)::

    from dataplane.replay.sample_trace import write_sample_trace, SAMPLE_PCAP
    write_sample_trace(path, count=1000, seed=7)  # deterministic mixed IPv4/IPv6 TCP/UDP/ICMP/ARP
"""
from dataplane.replay.replay import (Replay, ReplayProgress, ReplaySummary, apply_map_updates, parse_map_update,
                                     parse_rate, rate_text)

__all__ = ["Replay", "ReplaySummary", "ReplayProgress", "parse_map_update", "apply_map_updates", "parse_rate",
           "rate_text"]
