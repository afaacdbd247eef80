"""Choose training defaults on the validation split alone: a grid of `train_run` settings × seeds.

The test split is never evaluated here (``test=False``). Each cell reports validation accuracy (mean ± sd over
seeds), epochs run and training time; results go to OUT/sweep.json and OUT/sweep.md.

    python scripts/sweep_training.py --dataset spoken-digits --seeds 0,1 \
        --grid lr=2e-3,5e-3,1e-2 adlif_form=continuous,discrete -o runs/sweep-sd
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

from adaspike.report import markdown_table, write_json, write_text
from adaspike.studies.train_run import train_run


def _value(text: str):
    if text.startswith("["):  # a list, e.g. hidden=[256] (use ';' between the items of one value)
        return json.loads(text.replace(";", ","))
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--grid", nargs="*", default=[], help="name=v1,v2 (train_run keyword arguments)")
    parser.add_argument("--set", nargs="*", default=[], help="name=value fixed for every cell")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    fixed = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
    axes = {k: [_value(v) for v in vs.split(",")] for k, vs in (item.split("=", 1) for item in args.grid)}
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, runs = [], []
    for values in itertools.product(*axes.values()) if axes else [()]:
        cell = dict(zip(axes, values))
        accs, epochs, times = [], [], []
        for seed in seeds:
            name = "_".join(f"{k}-{v}" for k, v in cell.items()) or "defaults"
            tic = time.perf_counter()
            result = train_run(dataset=args.dataset, seed=seed, out=args.out / name / f"seed{seed}", progress=False,
                               test=False, **fixed, **cell)
            accs.append(result["val_accuracy"])
            epochs.append(result["epochs_run"])
            times.append(time.perf_counter() - tic)
            runs.append({**cell, "seed": seed, "val_accuracy": result["val_accuracy"],
                         "selected": result["selected"], "epochs_run": result["epochs_run"],
                         "time_s": times[-1], "rates_hz": result["spike_rates_hz"]})
            print(json.dumps(runs[-1]), flush=True)
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        rows.append({**cell, "val accuracy %": f"{100 * statistics.mean(accs):.2f} ± {100 * sd:.2f}",
                     "epochs run": f"{statistics.mean(epochs):.0f}", "time / run (s)": f"{statistics.mean(times):.0f}"})
        write_json(args.out / "sweep.json", {"dataset": args.dataset, "fixed": fixed, "seeds": seeds, "runs": runs})
        write_text(args.out / "sweep.md", f"# Sweep on {args.dataset} (validation split only; seeds {seeds}; "
                   f"fixed {fixed})\n\n" + markdown_table(rows))
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
