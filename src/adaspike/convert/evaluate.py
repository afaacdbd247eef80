"""Batched evaluation of a converted SNN: accuracy, steps used (real early exit) and energy per sample."""
from __future__ import annotations

import torch

from .energy import summarise_energy
from .iat import ExitPolicy
from .snn import ConvertedSNN


@torch.no_grad()
def evaluate_snn(snn: ConvertedSNN, loader, T: int | None = None, exit_policy: ExitPolicy | None = None,
                 device=None) -> dict:
    """Accuracy, mean/histogram of exit steps and the energy summary over ``loader`` ((x, y) batches).

    With ``exit_policy`` samples leave the batch as they exit (their later steps are never computed).
    """
    T = int(T or snn.T)
    correct = total = 0
    steps, counters = [], []
    for x, y in loader:
        if device is not None:
            x, y = x.to(device), y.to(device)
        out = snn.run(x, T, exit_rule=exit_policy, count_ops=True)
        correct += int((out.logits.argmax(1) == y).sum())
        total += int(y.numel())
        steps.append(out.exit_step.cpu())
        counters.append(out.counter)
    steps_all = torch.cat(steps)
    hist = torch.bincount(steps_all, minlength=T + 1)[1:].tolist()
    return {"accuracy": correct / max(1, total), "samples": total, "T": T,
            "mean_steps": float(steps_all.double().mean()), "steps_histogram": hist,
            **summarise_energy(counters, [s.flops for s in snn.synapses])}


@torch.no_grad()
def evaluate_ann(snn: ConvertedSNN, loader, device=None) -> dict:
    """Accuracy of the BN-folded ANN inside ``snn`` and its energy per sample (4.6 pJ/MAC)."""
    correct = total = 0
    for x, y in loader:
        if device is not None:
            x, y = x.to(device), y.to(device)
        correct += int((snn.ann_forward(x)[0].argmax(1) == y).sum())
        total += int(y.numel())
    flops = sum(s.flops for s in snn.synapses)
    return {"accuracy": correct / max(1, total), "samples": total, "macs": flops, "energy_pj": 4.6 * flops}
