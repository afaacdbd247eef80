"""The CPU-sized coding grid of docs/results.md ("Hybrid coding and time-step-adaptive SNNs"), in four parts.

    python scripts/coding_grid.py [--out runs/coding-grid] [--parts cost,authors-shared,authors-flat,grid]

Each part is one ``adaspike study coding`` command (printed before it runs); finished runs are reused, so an
interrupted grid resumes. One torch thread per run; run with OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import statistics
import sys
from pathlib import Path

COMMON = ["--dataset", "fashion-mnist", "--model", "lenet", "--threads", "1"]
PARTS = {
    # time and peak memory per epoch against T: one fresh process per run
    "cost": ["--encodings", "direct,hybrid", "--adaptive", "on", "--T", "2,4,7", "--seeds", "0", "--epochs", "1",
             "--limit", "1000", "--val-limit", "500", "--test-limit", "1000"],
    # the authors' demo setting as far as the data allows: T = 7, 3 conv blocks, fc 256, mixup, Adam 5e-3
    # cosine; their per-step BatchNorm ("shared") with training-mode BN at test, beside the library default
    "authors-shared": ["--encodings", "direct,temporal,hybrid", "--adaptive", "on", "--T", "7", "--seeds", "0",
                       "--epochs", "6", "--limit", "2000", "--val-limit", "1000", "--convs", "3", "--hidden", "256",
                       "--mixup", "--bn-mode", "shared", "--train-bn-at-eval", "--no-isolate"],
    "authors-flat": ["--encodings", "direct,temporal,hybrid", "--adaptive", "on", "--T", "7", "--seeds", "0",
                     "--epochs", "6", "--limit", "2000", "--val-limit", "1000", "--convs", "3", "--hidden", "256",
                     "--mixup", "--bn-mode", "flat", "--no-isolate"],
    # the comparison grid: 4 codes × adaptive off/on × T ∈ {2, 4} × 3 seeds = 48 runs
    "grid": ["--encodings", "direct,rate,temporal,hybrid", "--adaptive", "off,on", "--T", "2,4", "--seeds", "0,1,2",
             "--epochs", "5", "--limit", "2000", "--val-limit", "1000", "--target", "0.7,0.75,0.8", "--no-isolate"],
}


def coding_parser() -> argparse.ArgumentParser:
    """The ``adaspike study coding`` parser alone, so a broken unrelated sub-command cannot stop the grid."""
    from adaspike.cli import coding

    root = argparse.ArgumentParser(prog="adaspike study")
    coding.register(None, root.add_subparsers())
    return root


def _runs(folder: Path) -> list[dict]:
    return [json.loads(p.read_text())["row"] for p in sorted((folder / "runs").glob("*.json"))]


def _ms(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else "–"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def report(out: Path, targets=(0.7, 0.75, 0.8)) -> str:
    """The Markdown tables of docs/results.md from the finished runs under ``out``."""
    from adaspike.report import markdown_table
    from adaspike.report.coding_study import epochs_to_reach

    lines = []
    cost = _runs(out / "cost")
    if cost:
        lines += ["Time and peak memory per epoch against T (1000 images per epoch, batch 64, one thread):", "",
                  markdown_table([{"encoding": r["encoding"], "T": r["T"], "s/epoch": f"{r['epoch_time_s']:.2f}",
                                   "peak RSS growth MiB": f"{r['peak_mem_mb']:.0f}"} for r in cost]), ""]
    authors = _runs(out / "authors-shared") + _runs(out / "authors-flat")
    if authors:
        shared = {r["encoding"]: r for r in _runs(out / "authors-shared")}
        flat = {r["encoding"]: r for r in _runs(out / "authors-flat")}
        rows = [{"encoding": e,
                 "per-step BN, train-mode BN at test (authors)": f"{shared[e]['accuracy_train_bn']:.3f}" if e in shared else "–",
                 "per-step BN, eval mode": f"{shared[e]['accuracy']:.3f}" if e in shared else "–",
                 "flat BN, eval mode (library default)": f"{flat[e]['accuracy']:.3f}" if e in flat else "–"}
                for e in ("direct", "temporal", "hybrid")]
        lines += ["Authors' setting (T = 7, seed 0), test accuracy:", "", markdown_table(rows), ""]
    grid = _runs(out / "grid")
    if grid:
        cells = sorted({(r["encoding"], r["adaptive"]) for r in grid}, key=lambda c: (ORDER.index(c[0]), c[1]))
        steps = sorted({r["T"] for r in grid})
        pick = lambda e, a, T: [r for r in grid if (r["encoding"], r["adaptive"], r["T"]) == (e, a, T)]
        acc = [{"encoding": e, "adaptive": a, **{f"T={T} (n)": f"{_ms([r['accuracy'] for r in pick(e, a, T)])} "
                                                 f"({len(pick(e, a, T))})" for T in steps}} for e, a in cells]
        lines += ["Test accuracy, mean ± sd over seeds:", "", markdown_table(acc), ""]
        reach = []
        for e, a in cells:
            for T in steps:
                runs = pick(e, a, T)
                entry = {"encoding": e, "adaptive": a, "T": T}
                for target in targets:
                    hit = [x for x in (epochs_to_reach(r["val_curve"], target) for r in runs) if x is not None]
                    entry[f"epochs to val {target:g}"] = (f"{statistics.fmean(hit):.1f} ({len(hit)}/{len(runs)})"
                                                          if hit else f"never (0/{len(runs)})")
                reach.append(entry)
        lines += ["Epochs to reach a validation accuracy (mean over the seeds that reached it; reached/all):", "",
                  markdown_table(reach), ""]
        diffs = []
        for e in sorted({c[0] for c in cells}, key=ORDER.index):
            for T in steps:
                on = {r["seed"]: r["accuracy"] for r in pick(e, "on", T)}
                off = {r["seed"]: r["accuracy"] for r in pick(e, "off", T)}
                d = [on[s] - off[s] for s in sorted(set(on) & set(off))]
                if d:
                    diffs.append({"encoding": e, "T": T, "adaptive on − off (paired by seed)": _ms(d),
                                  "seeds where on wins": f"{sum(x > 0 for x in d)}/{len(d)}"})
        lines += ["Adaptive neurons, paired by seed (test accuracy difference):", "", markdown_table(diffs), ""]
    return "\n".join(lines)


ORDER = ["direct", "rate", "latency", "temporal", "temporal-drop", "temporal-em", "hybrid", "hybrid-em"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("runs/coding-grid"), help="output root folder")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    parser.add_argument("--report", action="store_true", help="print the docs tables from finished runs, train nothing")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.out))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    study = coding_parser()
    for part in args.parts.split(","):
        argv_part = ["coding", *COMMON, *PARTS[part], "-o", str(args.out / part)]
        print("$ adaspike study", shlex.join(argv_part), flush=True)
        options = study.parse_args(argv_part)
        options.func(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
