"""Tables of docs/results.md and docs/benchmarks.md made from the JSON the benchmarks write, never copied by hand.

A generated table sits between two markers that name its kind and its JSON files (paths from the repository
root)::

    <!-- table: speed benchmarks/results/cpu_2core_issue17_v2.json -->
    | workload | adaspike (ms) | ...
    <!-- end table -->

``python docs/site_tables.py`` rewrites every marked table in place (run it after a benchmark writes new JSON);
docs/build.py renders them again into the site's copy, so the site always shows the JSON; and
tests/docs/test_docs_tables.py fails while a committed table differs from its JSON.

Kinds: ``speed`` (``python -m benchmarks.run``), ``memory`` (``python -m benchmarks.memory``), ``convert-speed``
(``python -m benchmarks.convert``, one or more files), ``metrics-overhead`` (``python -m benchmarks.metrics``).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Callable

__all__ = ["GENERATORS", "PAGES", "ROOT", "render", "update"]

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("docs/results.md", "docs/benchmarks.md")  # the Markdown files whose marked tables are generated
MARKED = re.compile(r"(<!-- table: (?P<kind>[\w-]+) (?P<paths>[^>]+?) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)
EMPTY = {"–", "– (–)"}  # a cell the speed table writes for an implementation that did not run

MEMORY_WORKLOADS = {
    "lif_layer": "(1) LIF layer fwd+bwd, timing harness (input copy, `(s·1).sum()`)",
    "lif_layer_own": "(1) LIF layer fwd+bwd, neuron only (input and output gradient made beforehand)",
    "shd_ff_train": "(2) SHD feed-forward training step",
    "shd_rec_train": "(2) SHD recurrent training step",
}
MEMORY_IMPLS = ("adaspike", "adaspike-ref", "snntorch", "norse", "spikingjelly", "floor")
PEERS = ("snntorch", "norse", "spikingjelly")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def speed(report: dict) -> str:
    """``benchmarks.run``'s own table, less the columns of implementations that did not run in that report."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.run import markdown

    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in markdown(report).splitlines()]
    header, body = rows[0], rows[2:]
    keep = [i for i in range(len(header)) if not all(row[i] in EMPTY for row in body)]
    return _table([header[i] for i in keep], [[row[i] for i in keep] for row in body])


def memory(report: dict) -> str:
    """Peak extra memory (MiB) per workload and T, one column per implementation, and adaspike over the best peer."""
    cells: dict[tuple[str, int], dict[str, float]] = {}
    for row in report["rows"]:
        cells.setdefault((row["workload"], int(row["T"])), {})[row["impl"]] = float(row["peak_mib"])
    impls = [i for i in MEMORY_IMPLS if any(i in c for c in cells.values())]
    rows = []
    for (workload, T), values in cells.items():
        peers = {p: values[p] for p in PEERS if p in values}
        ratio = "–"
        if peers and "adaspike" in values:
            best = min(peers, key=peers.get)
            ratio = f"{values['adaspike'] / peers[best]:.2f} ({best})"
        rows.append([MEMORY_WORKLOADS.get(workload, workload), str(T)]
                    + [f"{values[i]:.1f}" if i in values else "–" for i in impls] + [ratio])
    return _table(["workload", "T", *(f"{i} (MiB)" for i in impls), "adaspike ÷ least-memory peer"], rows)


def convert_speed(*reports: dict) -> str:
    """Conversion + evaluation time, the pre-issue step loop ("before") against the library ("after")."""
    names = {"adafire": "AdaFire", "adafire+iat": "AdaFire + IAT"}
    rows = []
    for report in reports:
        weights = report["meta"]["weights"]
        model = "random init" if weights == "random init" else f"trained (`{weights}`)"
        for key, row in report["rows"].items():
            before, after = row["before"], row["after"]
            rows.append([model, names.get(key, key),
                         *(f"{t['convert_s']:.1f} + {t['evaluate_s']:.1f} = {t['total_s']:.1f}"
                           for t in (before, after)),
                         f"{100 * after['accuracy']:.1f} %", f"{row['speedup']:.2f}×"])
    return _table(["ResNet", "pipeline", "before: convert + evaluate (s)", "after: convert + evaluate (s)",
                   "accuracy (both)", "speed-up"], rows)


def metrics_overhead(report: dict) -> str:
    """Evaluation time without and with ``adaspike.metrics`` watching (medians), per evaluation."""
    rows = [[name, str(r["samples"]), f"{r['plain_s']:.3f}", f"{r['with_metrics_s']:.3f}", f"{r['overhead_%']:+.1f} %"]
            for name, r in report["results"].items()]
    return _table(["evaluation", "samples", "plain (s)", "with metrics (s)", "overhead"], rows)


def outside(report: dict) -> str:
    """``benchmarks.outside``'s ratio table (issue 33's outside harness)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.outside import table_markdown

    return table_markdown(report["table"])


GENERATORS: dict[str, Callable[..., str]] = {"speed": speed, "memory": memory, "convert-speed": convert_speed,
                                              "metrics-overhead": metrics_overhead, "outside": outside}


def render(text: str, root: Path = ROOT) -> str:
    """``text`` with every marked table made again from its JSON files."""
    def table(match: re.Match) -> str:
        kind = match["kind"]
        if kind not in GENERATORS:
            raise ValueError(f"unknown generated-table kind {kind!r}; choose one of {sorted(GENERATORS)}")
        reports = [json.loads((root / path).read_text()) for path in match["paths"].split()]
        return f"{match[1]}{GENERATORS[kind](*reports)}\n{match[5]}"

    return MARKED.sub(table, text)


def update(root: Path = ROOT) -> list[str]:
    """Rewrite the marked tables of PAGES in place; returns the pages that changed."""
    changed = []
    for page in PAGES:
        path = root / page
        old = path.read_text()
        new = render(old, root)
        if new != old:
            path.write_text(new)
            changed.append(page)
    return changed


if __name__ == "__main__":
    print("\n".join(f"updated {page}" for page in update()) or "every generated table is up to date")
