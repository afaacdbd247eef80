"""The workload tables of docs/results.md ("Metrics") from the studies' own JSON: `python scripts/metrics_tables.py`.

The studies collect ``adaspike.metrics`` in the same pass as their accuracy (a ``workload`` entry per row);
this script only averages them over seeds and prints Markdown:

* retime: per dataset, neuron adLIF, for the retime variants ``zoh`` (spike capacity in seconds), ``zoh (plain)``
  and ``none`` (the source model run unchanged on finer/coarser bins) at every evaluation step;
* coding: one row per encoding × adaptive × T of the coding study.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from adaspike.report import markdown_table

RETIME_VARIANTS = ("zoh", "zoh (plain)", "none")
RETIME_COLUMNS = ["dataset", "variant", "dt_ms", "T", "seeds", "accuracy_%", "ACs_M", "recurrent_ACs_M",
                  "mem_updates_k", "energy_uJ", "energy_uJ_per_s"]
CODING_COLUMNS = ["encoding", "adaptive", "T", "accuracy_%", "act_sparsity", "nb_MACs_M", "nb_ACs_M", "MACs_M",
                  "ACs_M", "dense_M", "energy_uJ"]


def _mean(values):
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 3) if values else None


def retime_rows(path: Path, dataset: str, neuron: str = "adlif") -> list[dict]:
    rows = json.loads(path.read_text())["rows"]
    cells = defaultdict(list)
    for row in rows:
        if row["neuron"] == neuron and row["variant"] in RETIME_VARIANTS and row.get("workload"):
            cells[(RETIME_VARIANTS.index(row["variant"]), row["eval_dt"])].append(row["workload"])
    out = []
    for (variant, dt), loads in sorted(cells.items()):
        out.append({"dataset": dataset, "variant": RETIME_VARIANTS[variant], "dt_ms": round(dt * 1e3, 3),
                    "T": loads[0]["T"], "seeds": len(loads),
                    **{k: _mean(w[k] for w in loads) for k in RETIME_COLUMNS[5:]}})
    return out


def coding_rows(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        row, workload = record["row"], record["row"].get("workload")
        if workload is None:
            continue
        out.append({"encoding": row["encoding"], "adaptive": row["adaptive"], "T": row["T"],
                    **{k: workload[k] for k in CODING_COLUMNS[3:]}})
    return sorted(out, key=lambda r: (r["encoding"], r["adaptive"], r["T"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retime", nargs=2, action="append", metavar=("DATASET", "STUDY_JSON"),
                        default=None, help="a retime study's JSON (repeatable)")
    parser.add_argument("--coding", type=Path, default=Path("runs/coding-metrics/runs"),
                        help="a coding study's runs/ folder")
    args = parser.parse_args(argv)
    retime = args.retime or [("event-digits", "runs/retime-ed/retime_study.json"),
                             ("spoken-digits", "runs/retime-sd/retime_study.json")]
    rows = [r for dataset, path in retime if Path(path).is_file() for r in retime_rows(Path(path), dataset)]
    print(markdown_table(rows, RETIME_COLUMNS) if rows else "(no retime study JSON with workload found)")
    print()
    coding = coding_rows(args.coding) if args.coding.is_dir() else []
    print(markdown_table(coding, CODING_COLUMNS) if coding else "(no coding runs with workload found)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
