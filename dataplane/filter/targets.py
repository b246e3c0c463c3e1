"""Extension targets (``-j REJECT|LOG|MARK ...``): option parsing and their
iptables-save / ``iptables -L`` text.  Standard verdicts and chain jumps
need no options and are handled by the parser."""
from __future__ import annotations

from dataplane.filter import names as N
from dataplane.filter.matches import save_string
from dataplane.filter.rules import Target

EXTENSION_TARGETS = ("REJECT", "LOG", "MARK")
# Targets iptables knows that the translator refuses by name (never ignored).
KNOWN_UNSUPPORTED = ("DNAT", "SNAT", "MASQUERADE", "REDIRECT", "CT", "NFLOG", "NFQUEUE", "QUEUE",
                     "TCPMSS", "CONNMARK", "TPROXY", "NOTRACK", "TEE", "AUDIT", "CLASSIFY",
                     "DSCP", "TOS", "TTL", "SET", "CHECKSUM", "SECMARK", "CONNSECMARK", "ULOG",
                     "TRACE", "IDLETIMER", "LED", "RATEEST", "SYNPROXY", "HMARK", "CLUSTERIP")

LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "err": 3, "warning": 4, "warn": 4,
              "notice": 5, "info": 6, "debug": 7, "panic": 0}
LOG_FLAGS = {"--log-tcp-sequence": 0x01, "--log-tcp-options": 0x02, "--log-ip-options": 0x04,
             "--log-uid": 0x08, "--log-macdecode": 0x20}
LOG_PREFIX_MAX = 29


def target_options(kind: str) -> dict[str, int]:
    """option -> number of arguments, for an extension target."""
    if kind == "REJECT":
        return {"--reject-with": 1}
    if kind == "LOG":
        return {"--log-prefix": 1, "--log-level": 1, **{f: 0 for f in LOG_FLAGS}}
    if kind == "MARK":
        return {"--set-mark": 1, "--set-xmark": 1, "--and-mark": 1, "--or-mark": 1, "--xor-mark": 1}
    return {}


def new_target(kind: str) -> Target:
    if kind == "REJECT":
        return Target("REJECT", opts={"with": "icmp-port-unreachable"})
    if kind == "LOG":
        return Target("LOG", opts={"prefix": "", "level": 4, "flags": 0})
    if kind == "MARK":
        return Target("MARK", opts={})
    return Target(kind)


def _u32(text: str, what: str) -> int:
    v = N.c_number(text, 1 << 64)
    if v is None:
        raise ValueError(f"bad {what} value {text!r}")
    if v > 0xFFFFFFFF:
        raise ValueError(f"{what} value {text!r} out of range")
    return v


def add_option(t: Target, opt: str, neg: bool, args: list[str], proto: int | None) -> None:
    if neg:
        raise ValueError(f"{t.kind} target: unexpected `!'")
    o = t.opts
    if t.kind == "REJECT":
        name = args[0]
        if name not in N.REJECT_TYPES:
            raise ValueError(f"unknown reject type {name!r}")
        o["with"] = N.reject_canonical(name)
    elif t.kind == "LOG":
        if opt == "--log-prefix":
            if len(args[0]) > LOG_PREFIX_MAX:
                raise ValueError(f"maximum prefix length {LOG_PREFIX_MAX} for --log-prefix")
            if not args[0]:
                raise ValueError("no prefix specified for --log-prefix")
            o["prefix"] = args[0]
        elif opt == "--log-level":
            lv = args[0].lower()
            if lv in LOG_LEVELS:
                o["level"] = LOG_LEVELS[lv]
            elif lv.isdigit() and int(lv) <= 7:
                o["level"] = int(lv)
            else:
                raise ValueError(f"log-level {args[0]!r} unknown")
        else:
            o["flags"] |= LOG_FLAGS[opt]
    elif t.kind == "MARK":
        if "value" in o:
            raise ValueError("MARK target: can only specify one action")
        if opt in ("--set-mark", "--set-xmark"):
            v, sep, m = args[0].partition("/")
            value = _u32(v, "mark")
            mask = _u32(m, "mask") if sep else 0xFFFFFFFF
            if opt == "--set-mark":         # value/mask: zero the mask bits, then or in
                value, mask = value, (mask | value) & 0xFFFFFFFF if sep else 0xFFFFFFFF
            o["value"], o["mask"] = value, mask
        elif opt == "--and-mark":
            o["value"], o["mask"] = 0, (~_u32(args[0], "mark")) & 0xFFFFFFFF
        elif opt == "--or-mark":
            v = _u32(args[0], "mark")
            o["value"], o["mask"] = v, v
        elif opt == "--xor-mark":
            o["value"], o["mask"] = _u32(args[0], "mark"), 0


def finish(t: Target, proto: int | None, proto_neg: bool) -> None:
    if t.kind == "REJECT" and t.opts["with"] == "tcp-reset" and (proto != 6 or proto_neg):
        raise ValueError("REJECT --reject-with tcp-reset is only valid with -p tcp")
    if t.kind == "MARK" and "value" not in t.opts:
        raise ValueError("MARK target: parameter required")


def save(t: Target) -> str:
    o = t.opts
    if t.kind == "REJECT":
        return f" -j REJECT --reject-with {o['with']}"
    if t.kind == "LOG":
        s = " -j LOG"
        if o["prefix"]:
            s += f" --log-prefix {save_string(o['prefix'])}"
        if o["level"] != 4:
            s += f" --log-level {o['level']}"
        for name, bit in LOG_FLAGS.items():
            if o["flags"] & bit:
                s += f" {name}"
        return s
    if t.kind == "MARK":
        return f" -j MARK --set-xmark 0x{o['value']:x}/0x{o['mask']:x}"
    if t.kind == "GOTO":
        return f" -g {t.chain}"
    if t.kind == "JUMP":
        return f" -j {t.chain}"
    if t.kind == "NONE":
        return ""
    return f" -j {t.kind}"


def listing(t: Target) -> str:
    """The target's options as ``iptables -L`` prints them after the matches."""
    o = t.opts
    if t.kind == "REJECT":
        return f"reject-with {o['with']}"
    if t.kind == "LOG":
        s = f"LOG flags {o['flags']} level {o['level']}"
        if o["prefix"]:
            s += f' prefix "{o["prefix"]}"'
        return s
    if t.kind == "MARK":
        v, m = o["value"], o["mask"]        # libxt_MARK's mark_tg_print, in its order
        if v == 0:
            return f"MARK and 0x{(~m) & 0xFFFFFFFF:x}"
        if v == m:
            return f"MARK or 0x{v:x}"
        if m == 0:
            return f"MARK xor 0x{v:x}"
        if m == 0xFFFFFFFF:
            return f"MARK set 0x{v:x}"
        return f"MARK xset 0x{v:x}/0x{m:x}"
    if t.kind == "GOTO":
        return "[goto]"
    return ""


def list_name(t: Target) -> str:
    """The target column of ``iptables -L``."""
    if t.kind in ("JUMP", "GOTO"):
        return t.chain
    if t.kind == "NONE":
        return ""
    return t.kind
