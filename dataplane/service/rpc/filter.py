"""Filter: iptables rulesets as hook programs (Restore, Save, List, Log, Remove)."""
from __future__ import annotations

import asyncio

from dataplane.service.errors import guard, guard_stream
from dataplane.service.protos import pb, rpc

LOG_POLL_S = 0.1


class FilterServicer(rpc.FilterServicer):
    def __init__(self, filters, pool=None):
        self.filters = filters
        self.pool = pool          # service/verifypool.VerifyPool, shared with Programs.Load (None: a thread)

    @guard
    async def Restore(self, request, context):
        # translation and verification are CPU work: off the event loop, on the bounded pool
        # loads use (a huge ruleset waits its turn and is stopped at its deadline)
        def restore(cancel):
            return self.filters.restore(request.hook, request.rules, request.ipset, counters=request.counters,
                                        chain=request.chain, interfaces=list(request.interfaces),
                                        filter_only=request.filter_only, cancel=cancel)
        if self.pool is None:
            f, rev = await asyncio.to_thread(restore, None)
        else:
            f, rev = await self.pool.run(restore, timeout=context.time_remaining())
        cf = f.cf
        return pb.RestoreFilterResponse(program_id=f.program_id, rules=cf.nrules, instructions=cf.insns,
                                        groups=cf.groups, grouped_rules=cf.grouped_rules,
                                        chain=cf.binding.chain, revision=rev)

    @guard
    async def Save(self, request, context):
        from dataplane.filter.save import save
        f, counters = self.filters.counters(request.hook)
        return pb.SaveFilterResponse(text=save(f.cf.ruleset, counters, with_counters=request.counters))

    @guard
    async def List(self, request, context):
        from dataplane.filter.listing import listing
        from dataplane.filter.save import rule_spec
        f, counters = self.filters.counters(request.hook)
        rs = f.cf.ruleset
        text = listing(rs, counters, request.chain or None, exact=request.exact)
        out, i = [], 0
        for c in rs.save_order():
            for r in c.rules:
                out.append(pb.RuleCounter(chain=c.name, index=i, packets=counters[i][0], bytes=counters[i][1],
                                          rule=f"-A {c.name}{rule_spec(r)}"))
                i += 1
        for c in rs.builtins():
            out.append(pb.RuleCounter(chain=c.name, index=i, packets=counters[i][0], bytes=counters[i][1],
                                      rule=f"policy {c.policy}"))
            i += 1
        return pb.ListFilterResponse(text=text, counters=out)

    @guard_stream
    async def Log(self, request, context):
        from dataplane.filter.log import format_event
        import struct
        f = self.filters.get(request.hook)
        names = {i: n for n, i in f.cf.binding.ifaces}
        rules = f.cf.ruleset.all_rules()
        while True:
            for rec in self.filters.log_records(request.hook):
                idx = struct.unpack_from("<I", rec, 0)[0]
                prefix = rules[idx].target.opts.get("prefix", "") if idx < len(rules) else ""
                yield pb.FilterLogEvent(rule_index=idx, prefix=prefix,
                                        line=format_event(rec, f.cf.ruleset, names, f.cf.binding.out_of))
            if not request.follow:
                return
            await asyncio.sleep(LOG_POLL_S)

    @guard
    async def Remove(self, request, context):
        rev = await asyncio.to_thread(self.filters.remove, request.hook)
        return pb.RemoveFilterResponse(revision=rev)


def register(server, app, serving) -> None:
    rpc.add_FilterServicer_to_server(FilterServicer(app.filters, getattr(app, "loads", None)), server)
