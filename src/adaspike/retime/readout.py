"""Readout normalisation: a sum over time grows by about 1/ρ when a model runs 1/ρ times more steps.

argmax does not care about a uniform scale, but losses and probabilities do. ``readout`` modes:

- ``"auto"``: multiply every time *sum* by ρ, so logits keep their source-step scale;
- ``"mean"``: turn every time sum into a time mean;
- ``"keep"``: leave sums alone.

Means, maxima, last values and leaky-integrator traces are untouched (their scale does not grow with T).
Sums are found in ``TimeReduce(mode="sum")`` and ``SoftmaxSum(log=False)``: a model's time reduction is a module
(the ``SNNModel`` protocol, ``adaspike.layers.model_protocol``).
"""
from __future__ import annotations

from torch import nn

from ..layers import SoftmaxSum, TimeReduce

READOUT_MODES = ("auto", "mean", "keep")


class ScaleOutput:
    """A picklable forward hook multiplying a module's output by ``factor`` (or by 1/T with ``per_step``)."""

    def __init__(self, factor: float = 1.0, per_step: bool = False):
        self.factor, self.per_step = float(factor), bool(per_step)

    def __call__(self, module, inputs, output):
        factor = self.factor
        if self.per_step:
            factor /= inputs[0].shape[0]
        return output * factor


def normalise_readout(model: nn.Module, rho: float, mode: str) -> list[str]:
    """Adjust every time sum in ``model`` (in place) for a ratio ρ; returns descriptions of what changed."""
    if mode not in READOUT_MODES:
        raise ValueError(f"readout must be one of {READOUT_MODES}, got {mode!r}")
    if mode == "keep" or rho == 1.0:
        return []
    changed = []
    for name, module in model.named_modules():
        label = name or type(module).__name__
        if isinstance(module, TimeReduce) and module.mode == "sum":
            if mode == "mean":
                module.mode = "mean"
            else:
                module.register_forward_hook(ScaleOutput(rho))
            changed.append(f"{label}: sum -> {'mean' if mode == 'mean' else f'sum x {rho:g}'}")
        elif isinstance(module, SoftmaxSum) and not module.log:
            module.register_forward_hook(ScaleOutput(1.0, per_step=True) if mode == "mean" else ScaleOutput(rho))
            changed.append(f"{label}: softmax sum -> {'mean' if mode == 'mean' else f'sum x {rho:g}'}")
    return changed
