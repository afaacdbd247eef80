"""Score IAT α-selection rules post hoc on saved per-step logits (issue 29, point 3).

Input: the ``.pt`` files ``benchmarks/convert_pretrained.py --save DIR`` writes, one per (model, budget) at T = 8:
per-step logits of the full pipeline's SSC-stage SNN on the calibration, validation (training split, disjoint from
calibration) and test images. Each rule picks α from the calibration logits alone (as ``convert`` does), then its
policy is simulated on validation and test (exact: samples are independent, so exiting post hoc gives the same
prediction and step as exiting in the run). Rules are compared on validation; the test columns are reported only.

    PYTHONPATH=src python scripts/convert_iat_rules.py runs/convert29/logits/*.pt -o runs/convert29/iat_rules.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from adaspike.convert.iat import ExitPolicy, select_exit_policy
from adaspike.convert.iat import PAPER_ALPHAS as ALPHAS

WIDE = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5) + ALPHAS
RULES = {
    "losses, α 0.6-1 (issue-13 rule)": dict(alphas=ALPHAS, criterion="losses"),
    "losses, α 0-1": dict(alphas=WIDE, criterion="losses"),
    "losses+1, α 0.6-1": dict(alphas=ALPHAS, criterion="losses+1"),
    "losses+1, α 0-1 (issue-29 default)": dict(alphas=WIDE, criterion="losses+1"),
    "net, α 0.6-1": dict(alphas=ALPHAS, criterion="net"),
    "net, α 0-1": dict(alphas=WIDE, criterion="net"),
    "net, α 0-1, confidence": dict(alphas=WIDE, criterion="net", score="confidence"),
}


def simulate(policy: ExitPolicy, logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    steps = policy.exit_steps(logits)
    chosen = logits.cumsum(0)[steps - 1, torch.arange(logits.shape[1])]
    return 100 * float((chosen.argmax(-1) == y).double().mean()), float(steps.double().mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--tolerance", type=float, default=0.3)
    p.add_argument("-o", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    rows = []
    print("| model / budget | rule | α | val Δ vs ANN (pp) | val steps | test Δ vs ANN (pp) | test steps |")
    print("|---|---|---|---|---|---|---|")
    for f in args.files:
        d = torch.load(f, weights_only=False)
        L = {k: v.double() for k, v in d["logits"].items()}
        Y = d["labels"]
        ann = {"val": d["ann_val_accuracy"], "test": d["ann_test_accuracy"]}
        fixed = {k: 100 * float((L[k].sum(0).argmax(-1) == Y[k]).double().mean()) for k in ("val", "test")}
        print(f"| {f.stem} | fixed T = 8 | | {fixed['val'] - ann['val']:+.2f} | 8 | {fixed['test'] - ann['test']:+.2f} | 8 |")
        for name, kw in RULES.items():
            policy, info = select_exit_policy([L["calib"]], [Y["calib"]], tolerance=args.tolerance, **kw)
            res = {k: simulate(policy, L[k], Y[k]) for k in ("val", "test")}
            row = {"file": f.stem, "rule": name, "alpha": info["alpha"],
                   **{f"{k}_delta_pp": round(res[k][0] - ann[k], 2) for k in res},
                   **{f"{k}_steps": round(res[k][1], 2) for k in res}, "fixed_T": fixed, "ann": ann}
            rows.append(row)
            print(f"| {f.stem} | {name} | {info['alpha']} | {row['val_delta_pp']:+.2f} | {row['val_steps']:.2f} | "
                  f"{row['test_delta_pp']:+.2f} | {row['test_steps']:.2f} |")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
