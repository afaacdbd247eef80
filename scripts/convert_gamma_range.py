"""ResNet at T = 2: does a larger burst cap close AdaFire's gap? (issue 29; one model, the first 2000 test images)

Converts the Fashion-MNIST ResNet of ``benchmarks/convert_pretrained.py`` (512 calibration images, seed 0) at
T = 2 with AdaFire over Γ ∈ 1..8 (the default) and over {1, 2, 3, 4, 6, 8, 12, 16}, and with a uniform Γ of 8 and
of 16 (no Γ search), bias correction on; prints and writes accuracy and Δ against the ANN.

    OMP_NUM_THREADS=1 PYTHONPATH=src:. python scripts/convert_gamma_range.py \
        --resnet runs/convert29/ann_resnet/model.safetensors -o benchmarks/results/convert_gamma_range.json
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch

from adaspike.convert import convert
from adaspike.train import load_model
from benchmarks.convert_pretrained import accuracy, data_fmnist, step_logits


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resnet", default="runs/convert29/ann_resnet/model.safetensors")
    p.add_argument("--T", type=int, default=2)
    p.add_argument("--test-limit", type=int, default=2000)
    p.add_argument("-o", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    model = load_model(args.resnet).eval()
    (xtr, ytr), (xte, yte), _ = data_fmnist()
    xte, yte = xte[:args.test_limit], yte[:args.test_limit]
    g = torch.Generator()
    g.manual_seed(0)
    order = torch.randperm(len(ytr), generator=g)
    calib = (xtr[order[:512]], ytr[order[:512]])
    with torch.no_grad():
        ann = accuracy(torch.cat([model(xte[i:i + 500]) for i in range(0, len(yte), 500)]), yte)
    variants = {"AdaFire, Γ 1..8 (default)": dict(gammas=tuple(range(1, 9))),
                "AdaFire, Γ 1..16": dict(gammas=(1, 2, 3, 4, 6, 8, 12, 16)),
                "uniform Γ = 8": dict(adafire=False, gamma=8), "uniform Γ = 16": dict(adafire=False, gamma=16)}
    rows = []
    for name, kw in variants.items():
        tic = time.perf_counter()
        snn, report = convert(model, calib, T=args.T, progress=False, **kw)
        acc = accuracy(step_logits(snn, xte, args.T).sum(0), yte)
        rows.append({"variant": name, "gammas": report.gammas, "accuracy": acc, "delta_pp": round(acc - ann, 2),
                     "seconds": round(time.perf_counter() - tic, 1)})
        print(rows[-1], flush=True)
    if args.output:
        args.output.write_text(json.dumps({"T": args.T, "ann_accuracy": ann, "test": len(yte), "rows": rows},
                                          indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
