"""The benchmarks' results writer: every benchmark that calls it leaves its
figures in ``benchmarks/results/`` (``$DATAPLANE_RESULTS_DIR`` overrides),
and the directory's ``README.md`` is a Markdown table of all of them, each
figure with its ratio to the kernel (or the named peer) measured in the same
run, beside the PNG plots the benchmarks draw (matplotlib).

    from results import Results                  # benchmarks/ is on sys.path when a benchmark runs
    res = Results("kernel_compare", "ns per packet, kernel vs dataplane")
    res.figure("xdp_fw jit", 35.2, "ns/packet", spread=(33.0, 40.1), runs=3,
               peer="kernel", peer_value=30.1)    # ratio = value / peer_value
    res.plot("ns_per_packet", "ns per packet by program", "program", "ns/packet",
             {"kernel": (names, ks), "dataplane jit": (names, js)}, kind="bar")
    res.write()                                  # <name>.json + PNGs; README.md regenerated

``python benchmarks/results.py`` regenerates README.md from the JSON files
alone (``make bench`` runs it last). Figures are medians over rounds with
their spread (min-max), as the project's benchmarks report them.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_FIGURES = 10_000          # per benchmark: a runaway loop must not write a gigabyte of Markdown


def results_dir() -> Path:
    return Path(os.environ.get("DATAPLANE_RESULTS_DIR") or HERE / "results")


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    spread: tuple[float, float] | None = None    # (min, max) over the rounds
    runs: int = 0
    peer: str = ""                               # "kernel", "iptables", ...
    peer_value: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.peer_value in (None, 0) or self.value is None:
            return None
        return self.value / self.peer_value


@dataclass
class Results:
    bench: str
    title: str = ""
    figures: list[Figure] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def figure(self, name: str, value: float, unit: str, *, spread=None, runs: int = 0, peer: str = "",
               peer_value: float | None = None, note: str = "") -> Figure:
        if len(self.figures) >= MAX_FIGURES:
            raise ValueError(f"{self.bench}: more than {MAX_FIGURES} figures")
        f = Figure(name, float(value), unit, tuple(map(float, spread)) if spread else None, runs, peer,
                   None if peer_value is None else float(peer_value), note)
        self.figures.append(f)
        return f

    def plot(self, name: str, title: str, xlabel: str, ylabel: str, series: dict, *, kind: str = "bar",
             logx: bool = False, logy: bool = False) -> Path:
        """A PNG ``<bench>_<name>.png``: ``series`` is {label: (xs, ys)} (bar: xs are category
        names shared by all series, drawn side by side; line: numeric xs)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
        if kind == "bar":
            cats = list(next(iter(series.values()))[0])
            width = 0.8 / max(1, len(series))
            for i, (label, (xs, ys)) in enumerate(series.items()):
                ax.bar([j + i * width for j in range(len(xs))], ys, width, label=label)
            ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(cats))])
            ax.set_xticklabels(cats, rotation=30, ha="right")
        else:
            for label, (xs, ys) in series.items():
                ax.plot(xs, ys, marker="o", label=label)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        out = results_dir()
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.bench}_{name}.png"
        fig.savefig(path)
        plt.close(fig)
        if path.name not in self.plots:
            self.plots.append(path.name)
        return path

    def write(self) -> Path:
        out = results_dir()
        out.mkdir(parents=True, exist_ok=True)
        self.meta.setdefault("time", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        self.meta.setdefault("load_avg", [round(x, 1) for x in os.getloadavg()])
        self.meta.setdefault("machine", f"{platform.machine()} {os.cpu_count()} CPUs, Linux {platform.release()}")
        path = out / f"{self.bench}.json"
        d = asdict(self)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(d, indent=1) + "\n")
        os.replace(tmp, path)
        write_index(out)
        return path


def load(path: Path) -> Results:
    d = json.loads(path.read_text())
    r = Results(d["bench"], d.get("title", ""), [], d.get("plots", []), d.get("meta", {}))
    for f in d.get("figures", []):
        f["spread"] = tuple(f["spread"]) if f.get("spread") else None
        r.figures.append(Figure(**f))
    return r


def _num(x: float | None) -> str:
    if x is None:
        return ""
    a = abs(x)
    return f"{x:.3g}" if a < 10 else f"{x:.1f}" if a < 1000 else f"{x:,.0f}"


def markdown(all_results: list[Results]) -> str:
    lines = ["# Benchmark results", "",
             "Written by `make bench` (benchmarks/results.py). Each figure is the median of its rounds, "
             "with the spread (min-max); *ratio* = the figure / the peer's, both measured in the same run "
             "on the same machine (a ratio below 1 is faster for times, slower for rates).", ""]
    for r in all_results:
        lines += [f"## {r.bench}" + (f": {r.title}" if r.title else ""), ""]
        m = r.meta
        if m:
            lines += [f"Run {m.get('time', '?')} on {m.get('machine', '?')}, load average "
                      f"{' '.join(map(str, m.get('load_avg', [])))}.", ""]
        lines += ["| figure | value | unit | spread | runs | peer | peer value | ratio |",
                  "|---|---:|---|---:|---:|---|---:|---:|"]
        for f in r.figures:
            spread = f"{_num(f.spread[0])}-{_num(f.spread[1])}" if f.spread else ""
            ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
            note = f" ({f.note})" if f.note else ""
            lines.append(f"| {f.name}{note} | {_num(f.value)} | {f.unit} | {spread} | {f.runs or ''} | {f.peer} | "
                         f"{_num(f.peer_value)} | {ratio} |")
        lines.append("")
        for p in r.plots:
            lines += [f"![{p}]({p})", ""]
    return "\n".join(lines)


def write_index(out: Path | None = None) -> Path:
    out = out or results_dir()
    out.mkdir(parents=True, exist_ok=True)
    found = [load(p) for p in sorted(out.glob("*.json"))]
    path = out / "README.md"
    path.write_text(markdown(found))
    return path


if __name__ == "__main__":
    p = write_index()
    print(f"wrote {p}", file=sys.stderr)
