"""iptables-save / iptables-restore text of the ``filter`` table -> Ruleset.

Accepted (as iptables-restore accepts it): ``#`` comment lines, ``*filter``
... ``COMMIT``, chain lines ``:NAME POLICY [packets:bytes]`` (``-`` for a
user chain), ``[packets:bytes]`` rule prefixes, the commands ``-A``, ``-I``
(with a position), ``-N`` and ``-P``, and ipset-save lines (``create``/
``add``) ahead of the first table.  Every option of every rule is either
understood or an error naming the line and the option: nothing is skipped.
Other tables are an error unless ``other_tables="skip"`` is asked for.
"""
from __future__ import annotations

import copy
import re

from dataplane.filter import matches as M
from dataplane.filter import names as N
from dataplane.filter import targets as T
from dataplane.filter.errors import RulesetError
from dataplane.filter.ipset import SetParser
from dataplane.filter.lexer import split_words
from dataplane.filter.rules import (BUILTIN_CHAINS, CHAIN_NAME_MAX, MAX_CHAINS, MAX_RULES, Chain, Neg,
                                    Rule, Ruleset, Target, no_gc, parse_cidr)

MAX_INPUT_LINES = 2_000_000
IFNAMSIZ = 16
_COUNTERS = re.compile(r"^\[(\d+):(\d+)\]$")
_GENERIC = {
    "-s": "src", "--source": "src", "--src": "src",
    "-d": "dst", "--destination": "dst", "--dst": "dst",
    "-p": "proto", "--protocol": "proto",
    "-i": "iif", "--in-interface": "iif",
    "-o": "oif", "--out-interface": "oif",
    "-f": "frag", "--fragment": "frag",
    "-m": "match", "--match": "match",
    "-j": "jump", "--jump": "jump",
    "-g": "goto", "--goto": "goto",
    "-c": "counters", "--set-counters": "counters",
    "-4": "ipv4", "--ipv4": "ipv4", "-6": "ipv6", "--ipv6": "ipv6",
}
_IMPLICIT = {6: "tcp", 17: "udp", 1: "icmp"}   # -p X loads match X for its options, as iptables


def parse(text: str, *, source: str = "rules", sets: dict | None = None,
          other_tables: str = "error") -> Ruleset:
    """Parse a whole input.  ``sets``: ipsets already loaded (``--ipset FILE``)."""
    with no_gc():
        return _Parser(source, sets or {}, other_tables).run(text)


class _Parser:
    def __init__(self, source: str, sets: dict, other_tables: str):
        self.source = source
        self.rs = Ruleset()
        self.rs.sets = dict(sets)
        self.setp = SetParser(source, self.rs.sets)
        self.other = other_tables
        self.table: str | None = None
        self.skipping = False
        self.nrules = 0
        self.seen_filter = False

    def err(self, reason: str, line: int, token: str = "") -> RulesetError:
        return RulesetError(reason, line=line, token=token, source=self.source)

    def run(self, text: str) -> Ruleset:
        lines = text.splitlines()
        if len(lines) > MAX_INPUT_LINES:
            raise self.err(f"more than {MAX_INPUT_LINES} lines", 0)
        last = 0
        for no, raw in enumerate(lines, 1):
            last = no
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if self.table is None:
                if line.startswith("*"):
                    self._open_table(line[1:].strip(), no)
                elif line.split(None, 1)[0] in ("create", "add", "-N", "-A", "-exist", "-!"):
                    self.setp.line(line, no)
                else:
                    raise self.err("expected a table (*filter) or ipset save lines", no,
                                   line.split()[0])
                continue
            if line == "COMMIT":
                self.table, self.skipping = None, False
                continue
            if self.skipping:
                continue
            if line.startswith(":"):
                self._chain_line(line, no)
            elif line.startswith("*"):
                raise self.err(f"table '{self.table}' is not closed by COMMIT before a new table", no,
                               line)
            else:
                self._command(line, no)
        if self.table is not None:
            raise self.err(f"missing COMMIT for table '{self.table}'", last or 1, "*" + self.table)
        if not self.seen_filter:
            raise self.err("no *filter table in the input", 0)
        from dataplane.filter.check import check
        check(self.rs, self.source)
        return self.rs

    # -- structure ------------------------------------------------------------
    def _open_table(self, name: str, no: int) -> None:
        if name != "filter":
            if self.other == "skip":
                self.table, self.skipping = name, True
                return
            raise self.err(f"table '{name}' is not supported (only the filter table is translated; "
                           f"pass --filter-only to skip other tables)", no, "*" + name)
        if self.seen_filter:
            raise self.err("the filter table appears twice", no, "*filter")
        self.seen_filter = True
        self.table = name
        for c in BUILTIN_CHAINS:
            self.rs.chains[c] = Chain(c, True, "ACCEPT", line=no)

    def _chain_line(self, line: str, no: int) -> None:
        parts = line[1:].split()
        if len(parts) < 2:
            raise self.err("chain line needs a name and a policy", no, line)
        name, policy = parts[0], parts[1]
        counters = [0, 0]
        if len(parts) >= 3:
            m = _COUNTERS.match(parts[2])
            if not m:
                raise self.err("bad chain counters (expected [packets:bytes])", no, parts[2])
            counters = [int(m.group(1)), int(m.group(2))]
        if len(parts) > 3:
            raise self.err("trailing words on a chain line", no, parts[3])
        if name in BUILTIN_CHAINS:
            if policy not in ("ACCEPT", "DROP"):
                raise self.err(f"bad policy for built-in chain {name} (ACCEPT or DROP)", no, policy)
            ch = self.rs.chains[name]
            ch.policy, ch.counters, ch.line = policy, counters, no
            return
        if policy != "-":
            raise self.err(f"user chain {name} cannot have a policy", no, policy)
        self._new_chain(name, no, counters)

    def _new_chain(self, name: str, no: int, counters=None) -> None:
        if name in self.rs.chains:
            raise self.err(f"chain {name} already exists", no, name)
        if len(name) > CHAIN_NAME_MAX or not name or name.startswith("-") or name == "!":
            raise self.err(f"invalid chain name (at most {CHAIN_NAME_MAX} characters, not starting "
                           f"with '-')", no, name)
        if name in ("ACCEPT", "DROP", "RETURN", "QUEUE") or name in T.EXTENSION_TARGETS:
            raise self.err("chain name clashes with a target", no, name)
        if len(self.rs.chains) >= MAX_CHAINS + len(BUILTIN_CHAINS):
            raise self.err(f"more than {MAX_CHAINS} user chains", no, name)
        self.rs.chains[name] = Chain(name, False, counters=counters or [0, 0], line=no)

    def _chain(self, name: str, no: int) -> Chain:
        ch = self.rs.chains.get(name)
        if ch is None:
            raise self.err(f"chain '{name}' does not exist", no, name)
        return ch

    def _command(self, line: str, no: int) -> None:
        words = split_words(line, no, self.source)
        counters = None
        if words and words[0].startswith("["):
            m = _COUNTERS.match(words[0])
            if not m:
                raise self.err("bad rule counters (expected [packets:bytes])", no, words[0])
            counters = [int(m.group(1)), int(m.group(2))]
            words = words[1:]
        family = ""
        while words and words[0] in ("-4", "--ipv4", "-6", "--ipv6"):      # allowed before the command
            family = family or words[0].lstrip("-")[-1]
            words = words[1:]
        if not words:
            raise self.err("empty command", no)
        cmd = words[0]
        if cmd in ("-N", "--new-chain"):
            if len(words) != 2:
                raise self.err("-N takes exactly one chain name", no, cmd)
            self._new_chain(words[1], no)
            return
        if cmd in ("-P", "--policy"):
            if len(words) != 3:
                raise self.err("-P takes a chain and a policy", no, cmd)
            ch = self._chain(words[1], no)
            if not ch.builtin or words[2] not in ("ACCEPT", "DROP"):
                raise self.err("-P needs a built-in chain and ACCEPT or DROP", no, words[2])
            ch.policy = words[2]
            return
        if cmd not in ("-A", "--append", "-I", "--insert"):
            raise self.err("unsupported command (the translator takes -A, -I, -N, -P)", no, cmd)
        if len(words) < 2:
            raise self.err(f"{cmd} needs a chain", no, cmd)
        ch = self._chain(words[1], no)
        rest = words[2:]
        pos = None
        if cmd in ("-I", "--insert"):
            pos = 1
            if rest and rest[0].isdigit():
                pos = int(rest[0])
                rest = rest[1:]
                if not 1 <= pos <= len(ch.rules) + 1:
                    raise self.err(f"index of insertion too big (chain {ch.name} has "
                                   f"{len(ch.rules)} rules)", no, str(pos))
        self._multi: dict[str, list] = {}
        self._ipv6 = family == "6"
        rule = self._rule(ch.name, rest, no)
        if self._ipv6:
            return              # iptables-restore skips a -6 rule (one file for both families)
        if counters is not None:
            rule.counters = counters
        # -s/-d with comma-separated addresses: one rule per (source, destination), sources
        # outermost, as iptables adds them (each -I at the same position: reversed)
        rules = [rule]
        if self._multi:
            rules = []
            for src in self._multi.get("src", [rule.src]):
                for dst in self._multi.get("dst", [rule.dst]):
                    r = copy.deepcopy(rule)
                    r.src, r.dst = src, dst
                    rules.append(r)
        self.nrules += len(rules)
        if self.nrules > MAX_RULES:
            raise self.err(f"more than {MAX_RULES} rules", no)
        if pos is None:
            ch.rules.extend(rules)
        else:
            ch.rules[pos - 1:pos - 1] = rules[::-1]

    # -- one rule ---------------------------------------------------------------
    def _rule(self, chain: str, w: list[str], no: int) -> Rule:
        r = Rule(chain, no)
        neg = False
        i = 0
        proto_name = ""
        target_opts: dict[str, int] = {}

        def need(k: int, opt: str) -> list[str]:
            args = w[i + 1:i + 1 + k]
            if len(args) < k or "!" in args:
                raise self.err(f"option {opt} requires {k} argument{'s' if k > 1 else ''}", no, opt)
            return args

        while i < len(w):
            t = w[i]
            if t == "!":
                if neg:
                    raise self.err("multiple consecutive ! not allowed", no, t)
                neg = True
                i += 1
                continue
            key = _GENERIC.get(t)
            try:
                if key in ("src", "dst"):
                    (v,) = need(1, t)
                    if getattr(r, key) is not None:
                        raise self.err("multiple -s/-d flags not allowed", no, t)
                    parts = v.split(",")
                    if len(parts) > 1 and neg:
                        raise self.err("! not allowed with multiple source or destination IP "
                                       "addresses", no, t)
                    cidrs = []
                    for part in parts:
                        try:
                            c = parse_cidr(part, xtables=True)
                            if c.plen == 0 and neg:
                                raise self.err(f"! {t} {part}: a /0 network matches every address, so the "
                                               f"rule would never match (iptables-restore refuses it)", no, t)
                            # a /0 network tests nothing: iptables drops it (and its -s/-d in saves)
                            cidrs.append(None if c.plen == 0 else Neg(c, neg))
                        except ValueError as e:
                            hint = (" (host names are not resolved by the translator: give an "
                                    "address)" if any(c.isalpha() for c in part.split("/")[0]) else "")
                            raise self.err(f"host/network {part!r} not found ({e}){hint}", no,
                                           t) from None
                    setattr(r, key, cidrs[0])
                    if len(cidrs) > 1:
                        self._multi[key] = cidrs
                    i += 2
                elif key == "proto":
                    (v,) = need(1, t)
                    if r.proto is not None:
                        raise self.err("multiple -p flags not allowed", no, t)
                    num = N.protocol_number(v)
                    if num is None:
                        raise self.err(f"unknown protocol {v!r} specified", no, t)
                    if num == 0 and neg:
                        raise self.err("rule would never match protocol", no, t)
                    r.proto = Neg(num, neg) if num != 0 else None
                    proto_name = N.PROTO_NAMES.get(num, "") if not neg else ""
                    i += 2
                elif key in ("iif", "oif"):
                    (v,) = need(1, t)
                    if len(v) >= IFNAMSIZ:
                        raise self.err(f"interface name {v!r} must be shorter than {IFNAMSIZ} "
                                       f"characters", no, t)
                    if getattr(r, key) is not None:
                        raise self.err("multiple -i/-o flags not allowed", no, t)
                    # "+" alone is every interface: iptables drops the test (and it from saves)
                    setattr(r, key, None if v == "+" and not neg else Neg(v, neg))
                    i += 2
                elif key == "frag":
                    if r.frag is not None:
                        raise self.err("multiple -f flags not allowed", no, t)
                    r.frag = not neg
                    i += 1
                elif key == "match":
                    (v,) = need(1, t)
                    if neg:
                        raise self.err("unexpected ! before -m", no, t)
                    try:
                        r.matches.append(M.new_match(v, proto_name))
                    except ValueError as e:
                        raise self.err(str(e), no, v) from None
                    i += 2
                elif key in ("jump", "goto"):
                    (v,) = need(1, t)
                    if neg:
                        raise self.err("cannot have ! before -j/-g", no, t)
                    if r.target.kind != "NONE":
                        raise self.err("multiple -j/-g flags not allowed", no, t)
                    r.target = self._target(v, key == "goto", no, t)
                    target_opts = T.target_options(r.target.kind)
                    i += 2
                elif key in ("ipv4", "ipv6"):
                    if neg:
                        raise self.err(f"cannot have ! before {t}", no, t)
                    self._ipv6 = self._ipv6 or key == "ipv6"
                    i += 1
                elif key == "counters":
                    p, b = need(2, t)
                    if not (p.isdigit() and b.isdigit()):
                        raise self.err("-c packet counter/byte counter not numeric", no, t)
                    r.counters = [int(p), int(b)]
                    i += 3
                elif t.startswith("-"):
                    i = self._ext_option(r, w, i, neg, no, target_opts, proto_name)
                else:
                    raise self.err("bad argument", no, t)
            except ValueError as e:
                raise self.err(str(e), no, t) from None
            neg = False
        if neg:
            raise self.err("trailing ! at the end of the rule", no, "!")
        # iptables refuses interfaces its built-in chains never have
        if chain == "INPUT" and r.oif is not None:
            raise self.err("Can't use -o with INPUT", no, "-o")
        if chain == "OUTPUT" and r.iif is not None:
            raise self.err("Can't use -i with OUTPUT", no, "-i")
        for m in r.matches:
            try:
                m.finish()
            except ValueError as e:
                raise self.err(str(e), no, f"-m {m.name}") from None
            self._check_proto(r, m, no)
        try:
            T.finish(r.target, r.proto.value if r.proto else None, bool(r.proto and r.proto.neg))
        except ValueError as e:
            raise self.err(str(e), no, f"-j {r.target.kind}") from None
        for m in r.matches:
            if isinstance(m, M.SetMatch) and m.set_name not in self.rs.sets:
                raise self.err(f"set '{m.set_name}' does not exist", no, m.set_name)
        return r

    def _check_proto(self, r: Rule, m, no: int) -> None:
        need = {"tcp": 6, "udp": 17, "icmp": 1}.get(m.name)
        if need is not None and (r.proto is None or r.proto.value != need or r.proto.neg):
            raise self.err(f"{m.name} match is only valid with -p {m.name}", no, f"-m {m.name}")
        if isinstance(m, M.MultiportMatch) and (r.proto is None or r.proto.neg):
            raise self.err("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'",
                           no, "-m multiport")

    def _target(self, name: str, goto: bool, no: int, tok: str) -> Target:
        if goto:
            if name not in self.rs.chains or self.rs.chains[name].builtin:
                raise self.err(f"goto target '{name}' is not a user chain", no, name)
            return Target("GOTO", chain=name)
        if name in ("ACCEPT", "DROP", "RETURN"):
            return Target(name)
        if name in T.EXTENSION_TARGETS:
            return T.new_target(name)
        if name in self.rs.chains:
            if self.rs.chains[name].builtin:
                raise self.err(f"cannot jump to built-in chain {name}", no, name)
            return Target("JUMP", chain=name)
        if name in T.KNOWN_UNSUPPORTED:
            raise self.err(f"target {name} is not supported by the translator", no, name)
        raise self.err(f"unknown target or chain '{name}' (chains must be declared before use)",
                       no, name)

    def _ext_option(self, r: Rule, w: list[str], i: int, neg: bool, no: int,
                    target_opts: dict[str, int], proto_name: str) -> int:
        opt = w[i]
        if opt in target_opts:
            k = target_opts[opt]
            args = w[i + 1:i + 1 + k]
            if len(args) < k:
                raise self.err(f"option {opt} requires an argument", no, opt)
            T.add_option(r.target, opt, neg, args, r.proto.value if r.proto else None)
            return i + 1 + k
        for m in reversed(r.matches):
            spec = m.OPTIONS.get(opt)
            if spec is not None:
                key, k = spec
                args = w[i + 1:i + 1 + k]
                if len(args) < k or "!" in args:
                    if "!" in args:
                        raise self.err("Using intrapositioned negation (`--option ! this`) is not "
                                       "supported; write `! --option this`", no, opt)
                    raise self.err(f"option {opt} requires {k} argument(s)", no, opt)
                m.add(key, neg, args)
                return i + 1 + k
        for m in r.matches:
            if opt in m.UNSUPPORTED:
                raise self.err(f"option {opt} of -m {m.name} is not supported by the translator "
                               f"(supported: {', '.join(m.OPTIONS)})", no, opt)
        # iptables loads the protocol's match on its first unknown option
        pname = _IMPLICIT.get(r.proto.value) if r.proto and not r.proto.neg else None
        if pname and not any(m.name == pname for m in r.matches):
            r.matches.append(M.new_match(pname, proto_name))
            return self._ext_option(r, w, i, neg, no, target_opts, proto_name)
        if r.proto and not r.proto.neg and r.proto.value in (33, 132, 136):
            raise self.err(f"option {opt} belongs to -m {N.proto_name(r.proto.value)}, which is not "
                           f"supported by the translator", no, opt)
        raise self.err("unknown option", no, opt)
