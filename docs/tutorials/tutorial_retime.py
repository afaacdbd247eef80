"""Retime tutorial: run a model at a coarser step without retraining; compare retime methods."""
import torch
from torch import nn

from _common import FIGURES
from adaspike.layers import LIF, LeakyIntegrator, SpikingLayer, TimeFolded, TimeReduce
from adaspike.report import save_figure
from adaspike.report.plots import accuracy_vs_ratio
from adaspike.retime import retime

torch.manual_seed(0)
dt = 1e-3
model = nn.Sequential(SpikingLayer(nn.Linear(16, 64), LIF(64, tau=20e-3, dt=dt)),
                      TimeFolded(nn.Linear(64, 5)), LeakyIntegrator(5, tau=30e-3, dt=dt), TimeReduce("mean"))
with torch.no_grad():
    model[0].synapse.module.weight.mul_(4)
    model[1].module.weight.mul_(3)

# binned event counts at 1 ms: 120 steps, 64 samples
counts = torch.poisson(torch.rand(1, 64, 16).expand(120, -1, -1) * 0.4,
                       generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    reference = model(counts).argmax(-1)

ratios, agreement = [1, 2, 4, 8], {}
for method in ("zoh", "euler", "tau", "none"):
    agreement[method] = []
    for rho in ratios:
        coarse = counts.reshape(120 // rho, rho, *counts.shape[1:]).sum(1)  # re-bin the events at rho·dt
        fast = retime(model, ratio=rho, method=method) if rho > 1 else model
        with torch.no_grad():
            agreement[method].append(float((fast(coarse).argmax(-1) == reference).float().mean()))
    print(method, [f"{a:.2f}" for a in agreement[method]])
fig = accuracy_vs_ratio(ratios, agreement)
fig.axes[0].set_ylabel("agreement with the 1 ms model")
save_figure(fig, FIGURES / "retime_agreement.png")
assert agreement["zoh"][1] >= agreement["none"][1], "exact retiming should beat ignoring the step change"
