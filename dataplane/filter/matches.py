"""Extension matches (``-m NAME ...``): option parsing, iptables-save text
and ``iptables -L`` text, one class per module as libxtables has one
libxt_NAME.c per module.

Each class lists its options (name -> (key, number of arguments)); the
parser hands it every option it claims, with ``!`` when one preceded the
option; ``finish`` checks what iptables checks once the rule is complete.
A value that does not parse raises ValueError with the reason; the parser
turns that into a RulesetError naming line and option.
"""
from __future__ import annotations

import ipaddress

from dataplane.filter import names as N
from dataplane.filter.rules import ip_str

MULTIPORT_MAX = 15            # XT_MULTI_PORTS


def _port_range(text: str, proto: str, inverted: str | None) -> tuple[int, int]:
    """``lo[:hi]`` as (lo, hi). An inverted range (lo > hi) is refused with
    ``inverted`` as the message, or kept when that is None: iptables 1.8.9
    refuses one for -m tcp and multiport, and keeps it for -m udp, where
    the kernel's range test then matches no port (and ``!`` every port)."""
    lo, sep, hi = text.partition(":")
    a = N.port_number(lo, proto) if lo else 0
    b = (N.port_number(hi, proto) if hi else 65535) if sep else a
    if a is None or b is None:
        raise ValueError(f"invalid port/service {text!r} specified")
    if a > b and inverted is not None:
        raise ValueError(inverted)
    return a, b


def _u32(text: str, what: str, hi: int = 0xFFFFFFFF) -> int:
    v = N.c_number(text, 1 << 64)
    if v is None:
        raise ValueError(f"invalid {what} {text!r}")
    if v > hi:
        raise ValueError(f"{what} {text!r} out of range")
    return v


def _neg(neg: bool) -> str:
    return " !" if neg else ""


class Match:
    name = ""
    OPTIONS: dict[str, tuple[str, int]] = {}
    UNSUPPORTED: tuple = ()         # options the module has in iptables that the translator refuses
    NEGATABLE: frozenset = frozenset()

    def __init__(self, proto_name: str = ""):
        self.proto_name = proto_name

    def add(self, key: str, neg: bool, args: list[str]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Called once the rule is parsed; raise ValueError if incomplete."""

    def save(self) -> str:
        raise NotImplementedError

    def listing(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.name}{self.save()}>"


class PortsMatch(Match):
    """-m tcp / -m udp.  ``sport``/``dport``: (lo, hi, neg), None, or "any"
    (a full range given: tests nothing)."""

    def port(self, which: str):
        v = getattr(self, which)
        return None if v == "any" else v

    def __init__(self, proto_name: str):
        super().__init__(proto_name)
        self.name = proto_name
        self.sport = None                  # (lo, hi, neg)
        self.dport = None
        self.flags = None                  # (mask, comp, neg), tcp only

    @property
    def OPTIONS(self):
        o = {"--sport": ("sport", 1), "--source-port": ("sport", 1),
             "--dport": ("dport", 1), "--destination-port": ("dport", 1)}
        if self.name == "tcp":
            o.update({"--tcp-flags": ("flags", 2), "--syn": ("syn", 0)})
        return o

    def add(self, key, neg, args):
        if key in ("sport", "dport"):
            if getattr(self, key) is not None:
                raise ValueError("multiple source/destination port flags not allowed")
            lo, hi = _port_range(args[0], self.name,
                                 "invalid portrange (min > max)" if self.name == "tcp" else None)
            # iptables-nft stores a port range as one interval: "! 0:N" reads back as
            # "N+1:65535" and "0:65535" as no test at all; keep the form it saves
            if neg and lo == 0:
                if hi == 65535:
                    raise ValueError("`! 0:65535' matches no port (iptables-nft would save it as "
                                     "matching every port)")
                lo, hi, neg = hi + 1, 65535, False
            if (lo, hi, neg) == (0, 65535, False):
                setattr(self, key, "any")
                return
            setattr(self, key, (lo, hi, neg))
        elif key == "flags" or key == "syn":
            if self.flags is not None:
                raise ValueError("only one of --tcp-flags/--syn allowed")
            if key == "syn":
                self.flags = (0x17, 0x02, neg)
                return
            mask = self._flag_list(args[0])
            comp = self._flag_list(args[1])
            self.flags = (mask, comp, neg)

    @staticmethod
    def _flag_list(text: str) -> int:
        v = 0
        for f in text.split(","):
            if f.upper() not in N.TCP_FLAGS:
                raise ValueError(f"unknown TCP flag {f!r}")
            v |= N.TCP_FLAGS[f.upper()]
        return v

    def save(self):
        s = f" -m {self.name}"
        for opt, v in (("--sport", self.sport), ("--dport", self.dport)):
            if v is not None and v != "any":
                lo, hi, neg = v
                s += f"{_neg(neg)} {opt} {lo}" + (f":{hi}" if lo != hi else "")
        if self.flags is not None:
            mask, comp, neg = self.flags
            s += f"{_neg(neg)} --tcp-flags {N.tcp_flags_str(mask)} {N.tcp_flags_str(comp)}"
        return s

    def listing(self):
        s = f"{self.name}"
        for name, v in (("spt", self.sport), ("dpt", self.dport)):
            if v is None or v == "any":
                continue
            lo, hi, neg = v
            if lo == 0 and hi == 0xFFFF and not neg:
                continue
            inv = "!" if neg else ""
            s += f" {name}:{inv}{lo}" if lo == hi else f" {name}s:{inv}{lo}:{hi}"
        if self.flags is not None:
            mask, comp, neg = self.flags
            s += f" flags:{'!' if neg else ''}0x{mask:02X}/0x{comp:02X}"
        return s


class IcmpMatch(Match):
    name = "icmp"
    OPTIONS = {"--icmp-type": ("type", 1)}

    def __init__(self, proto_name="icmp"):
        super().__init__(proto_name)
        self.type = None                   # (type, code_min, code_max, neg)

    def add(self, key, neg, args):
        text = args[0]
        for n, t, lo, hi in N.ICMP_TYPES:
            if n.lower() == text.lower():
                self.type = (t, lo, hi, neg)
                return
        ty, _, code = text.partition("/")
        t = _u32(ty, "ICMP type", 255)
        if code:
            c = _u32(code, "ICMP code", 255)
            self.type = (t, c, c, neg)
        else:
            self.type = (t, 0, 0xFF, neg)

    def finish(self):
        if self.type is None:
            self.type = (0xFF, 0, 0xFF, False)

    def save(self):
        t, lo, hi, neg = self.type
        if t == 0xFF:
            return f" -m icmp{_neg(neg)} --icmp-type any"
        code = f"/{lo}" if (lo != 0 or hi != 0xFF) else ""
        return f" -m icmp{_neg(neg)} --icmp-type {t}{code}"

    def listing(self):
        t, lo, hi, neg = self.type
        s = "icmp" + (" !" if neg else "") + f"type {t}"
        if lo == hi:
            s += f" code {lo}"
        elif lo != 0 or hi != 0xFF:
            s += f" codes {lo}-{hi}"
        return s


class MultiportMatch(Match):
    name = "multiport"
    OPTIONS = {"--sports": ("src", 1), "--source-ports": ("src", 1), "--dports": ("dst", 1),
               "--destination-ports": ("dst", 1), "--ports": ("any", 1)}

    def __init__(self, proto_name=""):
        super().__init__(proto_name)
        self.flavour = None
        self.ports: list[tuple[int, int]] = []
        self.neg = False

    def add(self, key, neg, args):
        if self.flavour is not None:
            raise ValueError("multiport can only have one option")
        if self.proto_name not in ("tcp", "udp", "udplite", "sctp", "dccp"):
            raise ValueError("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
        self.flavour, self.neg = key, neg
        slots = 0
        for part in args[0].split(","):
            lo, hi = _port_range(part, self.proto_name, "invalid portrange specified")
            self.ports.append((lo, hi))
            slots += 1 if lo == hi else 2
        if slots > MULTIPORT_MAX:
            raise ValueError(f"too many ports specified (at most {MULTIPORT_MAX})")

    def finish(self):
        if self.flavour is None:
            raise ValueError("multiport expects an option")

    def _list(self) -> str:
        return ",".join(f"{lo}" if lo == hi else f"{lo}:{hi}" for lo, hi in self.ports)

    def save(self):
        opt = {"src": "--sports", "dst": "--dports", "any": "--ports"}[self.flavour]
        return f" -m multiport{_neg(self.neg)} {opt} {self._list()}"

    def listing(self):
        word = {"src": "sports", "dst": "dports", "any": "ports"}[self.flavour]
        return f"multiport {word} {' !' if self.neg else ''}{self._list()}"


class IprangeMatch(Match):
    name = "iprange"
    OPTIONS = {"--src-range": ("src", 1), "--dst-range": ("dst", 1)}

    def __init__(self, proto_name=""):
        super().__init__(proto_name)
        self.src = None                     # (lo, hi, neg)
        self.dst = None

    def add(self, key, neg, args):
        lo, sep, hi = args[0].partition("-")
        try:
            a = int(ipaddress.IPv4Address(lo))
            b = int(ipaddress.IPv4Address(hi)) if sep else a
        except ValueError:
            raise ValueError(f"invalid IP address range {args[0]!r}") from None
        setattr(self, key, (a, b, neg))

    def finish(self):
        if self.src is None and self.dst is None:
            raise ValueError("iprange match: you must specify `--src-range' or `--dst-range'")

    def save(self):
        s = " -m iprange"
        for opt, v in (("--src-range", self.src), ("--dst-range", self.dst)):
            if v is not None:
                s += f"{_neg(v[2])} {opt} {ip_str(v[0])}-{ip_str(v[1])}"
        return s

    def listing(self):
        parts = []
        for word, v in (("source IP range", self.src), ("destination IP range", self.dst)):
            if v is not None:
                parts.append(f"{word} {'! ' if v[2] else ''}{ip_str(v[0])}-{ip_str(v[1])}")
        return " ".join(parts)


CONNTRACK_UNSUPPORTED = ("--ctproto", "--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst",
                         "--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport",
                         "--ctstatus", "--ctexpire", "--ctdir")


class CtStateMatch(Match):
    """-m conntrack --ctstate and -m state --state (same semantics)."""

    def __init__(self, proto_name="", module="conntrack"):
        super().__init__(proto_name)
        self.name = module
        self.states = 0
        self.neg = False
        self.given = False

    @property
    def OPTIONS(self):
        return {"--ctstate": ("state", 1)} if self.name == "conntrack" else {"--state": ("state", 1)}

    @property
    def UNSUPPORTED(self):
        return CONNTRACK_UNSUPPORTED if self.name == "conntrack" else ()

    def add(self, key, neg, args):
        v = 0
        for s in args[0].split(","):
            if s.upper() not in N.CT_STATES:
                raise ValueError(f"bad ctstate {s!r}")
            v |= N.CT_STATES[s.upper()]
        if self.name == "state" and v & (N.CT_STATES["SNAT"] | N.CT_STATES["DNAT"]):
            raise ValueError("bad state: SNAT/DNAT are conntrack-only")
        self.states, self.neg, self.given = v, neg, True

    def finish(self):
        if not self.given:
            raise ValueError(f"{self.name} match: you must specify "
                             + ("--ctstate" if self.name == "conntrack" else "--state"))

    def state_list(self) -> str:
        return ",".join(s for s in N.CT_STATE_ORDER if self.states & N.CT_STATES[s])

    def save(self):
        opt = "--ctstate" if self.name == "conntrack" else "--state"
        return f" -m {self.name}{_neg(self.neg)} {opt} {self.state_list()}"

    def listing(self):
        word = "ctstate" if self.name == "conntrack" else "state"
        return f"{'! ' if self.neg else ''}{word} {self.state_list()}"


class SetMatch(Match):
    name = "set"
    OPTIONS = {"--match-set": ("set", 2)}

    def __init__(self, proto_name=""):
        super().__init__(proto_name)
        self.set_name = ""
        self.dirs: tuple[str, ...] = ()
        self.neg = False

    def add(self, key, neg, args):
        if self.set_name:
            raise ValueError("--match-set can be specified only once")
        dirs = tuple(args[1].split(","))
        if not 1 <= len(dirs) <= 6 or any(d not in ("src", "dst") for d in dirs):
            raise ValueError(f"invalid direction {args[1]!r} (src|dst[,src|dst...])")
        self.set_name, self.dirs, self.neg = args[0], dirs, neg

    def finish(self):
        if not self.set_name:
            raise ValueError("set match: you must specify `--match-set' with proper arguments")

    def save(self):
        return f" -m set{_neg(self.neg)} --match-set {self.set_name} {','.join(self.dirs)}"

    def listing(self):
        return f"{'! ' if self.neg else ''}match-set {self.set_name} {','.join(self.dirs)}"


XT_LIMIT_SCALE = 10000


class LimitMatch(Match):
    """-m limit: xt_limit's token bucket (credits in 1/XT_LIMIT_SCALE s)."""
    name = "limit"
    OPTIONS = {"--limit": ("limit", 1), "--limit-burst": ("burst", 1)}

    def __init__(self, proto_name=""):
        super().__init__(proto_name)
        self.avg = XT_LIMIT_SCALE * 3600 // 3     # default 3/hour, in xt units
        self.burst = 5

    def add(self, key, neg, args):
        if neg:
            raise ValueError("limit does not support invert")
        if key == "burst":
            b = _u32(args[0], "limit-burst", 10000)
            if b == 0:
                raise ValueError("bad --limit-burst `0'")
            self.burst = b
            return
        num, sep, unit = args[0].partition("/")
        mult = 1
        if sep:
            for word, m in (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400)):
                if unit and word.startswith(unit.lower()):
                    mult = m
                    break
            else:
                raise ValueError(f"bad rate {args[0]!r}")
        r = _u32(num, "rate") if num.isdigit() else 0
        if r == 0:
            raise ValueError(f"bad rate {args[0]!r}")
        if r > XT_LIMIT_SCALE * mult:
            raise ValueError(f"rate too fast {args[0]!r}")
        self.avg = XT_LIMIT_SCALE * mult // r

    def rate_str(self) -> str:
        # libxt_limit's print_rate: the coarsest unit that still shows the rate
        rates = [("day", 86400 * XT_LIMIT_SCALE), ("hour", 3600 * XT_LIMIT_SCALE),
                 ("min", 60 * XT_LIMIT_SCALE), ("sec", XT_LIMIT_SCALE)]
        i = 1
        while i < len(rates):
            mult = rates[i][1]
            if self.avg > mult or mult // self.avg < mult % self.avg:
                break
            i += 1
        name, mult = rates[i - 1]
        return f"{mult // self.avg}/{name}"

    def save(self):
        s = f" -m limit --limit {self.rate_str()}"
        if self.burst != 5:
            s += f" --limit-burst {self.burst}"
        return s

    def listing(self):
        return f"limit: avg {self.rate_str()} burst {self.burst}"


class LengthMatch(Match):
    name = "length"
    OPTIONS = {"--length": ("length", 1)}

    def __init__(self, proto_name=""):
        super().__init__(proto_name)
        self.range = None

    def add(self, key, neg, args):
        lo, sep, hi = args[0].partition(":")
        a = _u32(lo, "length", 0xFFFF) if lo else 0
        b = (_u32(hi, "length", 0xFFFF) if hi else 0xFFFF) if sep else a
        # an inverted range is kept, as iptables keeps it: it matches no length
        self.range = (a, b, neg)

    def finish(self):
        if self.range is None:
            raise ValueError("length: you must specify `--length'")

    def save(self):
        a, b, neg = self.range
        return f" -m length{_neg(neg)} --length {a}" + (f":{b}" if a != b else "")

    def listing(self):
        a, b, neg = self.range
        return f"length {'!' if neg else ''}{a}" + (f":{b}" if a != b else "")


class TtlMatch(Match):
    name = "ttl"
    OPTIONS = {"--ttl-eq": ("eq", 1), "--ttl-gt": ("gt", 1), "--ttl-lt": ("lt", 1)}

    def __init__(self, proto_name=""):
        super().__init__(proto_name)
        self.op = None
        self.value = 0
        self.neg = False

    def add(self, key, neg, args):
        if self.op is not None:
            raise ValueError("can't specify TTL option twice")
        if neg and key != "eq":
            raise ValueError("unexpected `!' (only --ttl-eq can be inverted)")
        self.op, self.value, self.neg = key, _u32(args[0], "TTL", 255), neg

    def finish(self):
        if self.op is None:
            raise ValueError("TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt'")

    def save(self):
        if self.neg:
            return f" -m ttl ! --ttl-eq {self.value}"
        return f" -m ttl --ttl-{self.op} {self.value}"

    def listing(self):
        sym = {"eq": "==", "gt": ">", "lt": "<"}[self.op]
        if self.neg:
            sym = "!="
        return f"TTL match TTL {sym} {self.value}"


class CommentMatch(Match):
    name = "comment"
    OPTIONS = {"--comment": ("comment", 1)}
    MAX = 255                               # XT_MAX_COMMENT_LEN - 1

    def __init__(self, proto_name=""):
        super().__init__(proto_name)
        self.text = None

    def add(self, key, neg, args):
        if neg:
            raise ValueError("comment does not support invert")
        if len(args[0]) > self.MAX:
            raise ValueError(f"comment too long (at most {self.MAX} characters)")
        self.text = args[0]

    def finish(self):
        if self.text is None:
            raise ValueError("COMMENT match: You must specify `--comment'")

    def save(self):
        return f" -m comment --comment {save_string(self.text)}"

    def listing(self):
        return f"/* {self.text} */"


_SAVE_PLAIN = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def save_string(text: str) -> str:
    """xtables_save_string: bare when the text is only [A-Za-z0-9_-] (and not
    empty), else double-quoted with \\, \" and \' escaped."""
    if text and all(c in _SAVE_PLAIN for c in text):
        return text
    return '"' + "".join("\\" + c if c in "\"\\'" else c for c in text) + '"'


class MarkMatch(Match):
    name = "mark"
    OPTIONS = {"--mark": ("mark", 1)}

    def __init__(self, proto_name=""):
        super().__init__(proto_name)
        self.value = None
        self.mask = 0xFFFFFFFF
        self.neg = False

    def add(self, key, neg, args):
        v, sep, m = args[0].partition("/")
        self.value = _u32(v, "mark")
        self.mask = _u32(m, "mask") if sep else 0xFFFFFFFF
        self.neg = neg

    def finish(self):
        if self.value is None:
            raise ValueError("mark match: The --mark option is required")

    def _val(self) -> str:
        return f"0x{self.value:x}" + (f"/0x{self.mask:x}" if self.mask != 0xFFFFFFFF else "")

    def save(self):
        return f" -m mark{_neg(self.neg)} --mark {self._val()}"

    def listing(self):
        return f"mark match {'! ' if self.neg else ''}{self._val()}"


def new_match(name: str, proto_name: str) -> Match:
    """The match object for ``-m name`` (ValueError for unknown modules)."""
    if name in ("tcp", "udp"):
        return PortsMatch(name)
    if name in ("state", "conntrack"):
        return CtStateMatch(proto_name, name)
    cls = _MODULES.get(name)
    if cls is None:
        if name in KNOWN_UNSUPPORTED:
            raise ValueError(f"match {name!r} is not supported by the translator "
                             f"(supported: {', '.join(SUPPORTED)})")
        raise ValueError(f"unknown match {name!r} (supported: {', '.join(SUPPORTED)})")
    return cls(proto_name)


_MODULES = {"icmp": IcmpMatch, "multiport": MultiportMatch, "iprange": IprangeMatch, "set": SetMatch,
            "limit": LimitMatch, "length": LengthMatch, "ttl": TtlMatch, "comment": CommentMatch,
            "mark": MarkMatch}
# Matches iptables has that the translator refuses by name (what ufw, kube-proxy, Docker
# and firewalld write beside the supported ones); any other name is "unknown".
KNOWN_UNSUPPORTED = ("addrtype", "recent", "hashlimit", "connlimit", "owner", "pkttype", "physdev",
                     "mac", "string", "u32", "bpf", "cgroup", "socket", "policy", "realm", "rpfilter",
                     "statistic", "time", "quota", "connbytes", "connmark", "helper", "dscp", "tos",
                     "ecn", "tcpmss", "hl", "esp", "ah", "sctp", "dccp", "udplite", "devgroup", "cpu",
                     "nfacct", "osf", "rateest", "set-counters", "cluster", "ipvs", "l2tp", "ipcomp",
                     "geoip")
SUPPORTED = ("tcp", "udp", "icmp", "multiport", "iprange", "conntrack", "state", "set", "limit",
             "length", "ttl", "comment", "mark")
