"""Conversion + evaluation of a Fashion-MNIST ResNet: the pre-issue-13 step loop against the core runners, in one run.

The "before" runner is kept here as a minimal reference: each neuron holds its membrane in an attribute, the
whole graph is called once per time step and the Γ search reruns the whole network for every (layer, candidate)
(what ``adaspike.convert`` did before it ran on the core scan). It is swapped in by replacing
``ConversionNeuron.forward``, ``ConvertedSNN.run``, the searches' ``layer_tables`` (``replay=False``,
``burst_caps=False``) and ``bias_correction`` (``replay=False``); both
must give the same Γ, logits and spike counts (checked: the script fails otherwise), so only the time differs.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python -m benchmarks.convert --weights runs/convert13/ann_resnet.safetensors \
        --calib 256 --test 1000 -o benchmarks/results/convert_cpu.json

Without ``--weights`` a randomly initialised ResNet is used (timing only; accuracy is then meaningless).
"""
from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import torch

from adaspike.convert import ConvertedSNN, convert, evaluate_snn, pipeline, sensitivity
from adaspike.convert.neuron import ConversionNeuron
from adaspike.convert.snn import SNNRun


def _legacy_forward(self, z):
    """The old stateful single-step neuron: v kept in ``self._v``, one call per step."""
    run = self.run_now()
    if run.mode == "ann":
        a = torch.relu(z)
        if run.record.activation:
            self.activation = a.detach()
        return a
    theta = self._view(self.threshold, z).to(z.dtype)
    drive = self.drive(z, theta)
    v = drive if getattr(self, "_v", None) is None else self._v + drive
    n = torch.clamp(torch.floor(v / theta), 0, self.gamma)
    out = n * theta
    self._v = v - out
    self.spike_total = self.spike_total + n.sum()
    self.mean_count = n.flatten(1).mean(1)
    if run.record.output_sum:
        self.output_sum = out if self.output_sum is None else self.output_sum + out
    return out


@torch.no_grad()
def _legacy_run(self, x, T=None, exit_rule=None, count_ops=False, keep_steps=False):
    """The old loop: the whole graph once per step, samples leaving the batch on exit."""
    T = int(T or self.T)
    with self.running("step", T):
        return _legacy_steps(self, x, T, exit_rule, count_ops, keep_steps)


def _legacy_steps(self, x, T, exit_rule, count_ops, keep_steps):
    for n in self.neurons:
        n.reset_state()
        n._v = None
    batch = x.shape[0]
    counter = self._counter(batch, x.device) if count_ops else None
    active = torch.arange(batch, device=x.device)
    cumulative = final = exit_step = None
    steps = []
    handles, densities = self._density_hooks(1) if count_ops else ([], {})
    try:
        for t in range(1, T + 1):
            out = self.graph_module(x)
            cumulative = out.clone() if cumulative is None else cumulative + out
            if final is None:
                final = out.new_zeros((batch, out.shape[1]))
                exit_step = torch.full((batch,), T, dtype=torch.long, device=x.device)
            if keep_steps:
                steps.append(out)
            if counter is not None:
                counter.steps[active] += 1
                self._accumulate(counter, densities, active)
            leaving = torch.ones_like(active, dtype=torch.bool) if t == T else \
                (exit_rule(cumulative, t) if exit_rule is not None else None)
            if leaving is None or not bool(leaving.any()):
                continue
            gone = active[leaving]
            final[gone] = cumulative[leaving] / t
            exit_step[gone] = t
            stay = (~leaving).nonzero().squeeze(1)
            if stay.numel() == 0:
                break
            active, x, cumulative = active[stay], x[stay], cumulative[stay]
            for n in self.neurons:
                n._v = n._v[stay]
                if n.output_sum is not None:
                    n.output_sum = n.output_sum[stay]
    finally:
        for h in handles:
            h.remove()
    return SNNRun(final, exit_step, torch.stack(steps) if keep_steps else None, counter)


@contextlib.contextmanager
def legacy_runner():
    """Old neuron, old loop, and searches that rerun the whole network for every (layer, candidate)."""
    saved = ConversionNeuron.forward, ConvertedSNN.run, sensitivity.layer_tables, pipeline.bias_correction
    ConversionNeuron.forward, ConvertedSNN.run = _legacy_forward, _legacy_run

    def full_reruns(*args, **kwargs):        # no replay, no copied burst caps: every (layer, Γ) run in full
        return saved[2](*args, **{**kwargs, "replay": False, "burst_caps": False})

    def full_bias_correction(*args, **kwargs):      # one full run per corrected layer
        return saved[3](*args, **{**kwargs, "replay": False})

    sensitivity.layer_tables, pipeline.bias_correction = full_reruns, full_bias_correction
    try:
        yield
    finally:
        ConversionNeuron.forward, ConvertedSNN.run, sensitivity.layer_tables, pipeline.bias_correction = saved


def _data(calib: int, test: int):
    from adaspike.studies.convert import image_tensors

    xtr, ytr = image_tensors("fashion-mnist", "train")
    g = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(ytr), generator=g)[:calib]
    xte, yte = image_tensors("fashion-mnist", "test", limit=test)
    return (xtr[pick], ytr[pick]), list(zip(xte.split(250), yte.split(250)))


def _pipeline(ann, calib, test, T, iat):
    tic = time.perf_counter()
    snn, report = convert(ann, calib, T=T, adafire=True, ssc=False, iat=iat, threshold_batches=2)
    mid = time.perf_counter()
    result = evaluate_snn(snn, test, T, exit_policy=report.exit_policy)
    end = time.perf_counter()
    return {"convert_s": mid - tic, "evaluate_s": end - mid, "total_s": end - tic,
            "accuracy": result["accuracy"], "mean_steps": result["mean_steps"], "energy_pj": result["energy_pj"],
            "gammas": list(report.gammas)}


def main(argv=None) -> int:
    from adaspike.models.ann import build_ann
    from adaspike.report import write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=None, help="train-ann ResNet checkpoint (default: random init)")
    p.add_argument("--calib", type=int, default=256, help="calibration images (random train subset, seed 0)")
    p.add_argument("--test", type=int, default=1000, help="first N test images evaluated")
    p.add_argument("--T", type=int, default=8, help="time steps")
    p.add_argument("-o", "--out", type=Path, default=Path("benchmarks/results/convert_cpu.json"),
                   help="JSON result path")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    if args.weights:
        from adaspike.train import load_model
        ann = load_model(args.weights).eval()
    else:
        ann = build_ann("resnet").eval()
    calib, test = _data(args.calib, args.test)
    rows = {}
    for iat in (False, True):
        key = "adafire+iat" if iat else "adafire"
        with legacy_runner():
            before = _pipeline(ann, calib, test, args.T, iat)
        after = _pipeline(ann, calib, test, args.T, iat)
        same = all(before[k] == after[k] for k in ("gammas", "accuracy", "mean_steps")) and \
            abs(before["energy_pj"] - after["energy_pj"]) <= 1e-9 * abs(before["energy_pj"])
        if not same:
            raise SystemExit(f"{key}: the runners disagree: before {before}, after {after}")
        rows[key] = {"before": before, "after": after, "speedup": before["total_s"] / after["total_s"]}
        print(f"{key:12s} before {before['total_s']:7.1f} s (acc {100 * before['accuracy']:.2f} %)  "
              f"after {after['total_s']:7.1f} s (acc {100 * after['accuracy']:.2f} %)  "
              f"speed-up {rows[key]['speedup']:.2f}x")
    meta = {"machine": "CPU, OMP_NUM_THREADS=%d" % torch.get_num_threads(), "T": args.T,
            "calibration_images": args.calib, "test_images": args.test,
            "weights": str(args.weights) if args.weights else "random init",
            "pipeline": "convert(adafire=True, ssc=False, threshold_batches=2) + evaluate_snn"}
    write_json(args.out, {"meta": meta, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
