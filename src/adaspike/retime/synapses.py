"""Input-side adjustments: BatchNorm folding and the 1/ρ scale of event-count drive.

Binned counts (input events, spikes from other layers, recurrent spikes) grow with the bin width, by about ρ
per step, while the neuron maps assume level inputs. So the synaptic drive of every count input is scaled:

    I_t = W′ (x_t / ρ) + b′,   W′ = W γ/√(σ² + ε),   b′ = β_bn + γ (b − μ)/√(σ² + ε)

The scale multiplies W·x only, never a bias or a BatchNorm shift (those are levels).

Which inputs are counts: every weight module of a spiking model reads spikes, except the first one when the
model declares ``model.input_kind = "analog"`` (the default is ``"counts"``). A model may also list the
qualified names of weight modules that read analog signals in ``model.retime_analog_modules`` (both are members
of the ``SNNModel`` protocol, ``adaspike.layers.model_protocol``).
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers import RecurrentSpikingLayer
from ..layers.model_protocol import analog_modules, input_kind
from ..layers.norm import fold_batchnorm_into

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every eval-mode BatchNorm that directly follows a Linear/Conv in an ``nn.Sequential`` into it.

    The weight module gets W′ and b′ above and the BatchNorm becomes ``nn.Identity``. Returns how many were
    folded. Works in place (call it on a copy).
    """
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        keys = list(seq._modules)
        for prev_key, key in zip(keys, keys[1:]):
            prev, bn = seq._modules[prev_key], seq._modules[key]
            if isinstance(prev, WEIGHTED) and isinstance(bn, _BN) and bn.track_running_stats:
                fold_batchnorm_into(prev, bn)
                seq._modules[key] = nn.Identity()
                folded += 1
    return folded


def count_input_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every weight module (Linear/Conv) whose input is an event count, in registration
    order; recurrent weights held as parameters (``RecurrentSpikingLayer.recurrent``) are not modules here."""
    kind = input_kind(model)
    analog = analog_modules(model)
    modules: list[tuple[str, nn.Module]] = []
    first_seen = False
    for name, module in model.named_modules():
        if isinstance(module, WEIGHTED):
            is_first = not first_seen
            first_seen = True
            if name in analog or (kind == "analog" and is_first and not analog):
                continue
            modules.append((name, module))
    return modules


def count_synapses(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, weight) of every synaptic weight whose input is an event count, in registration order."""
    counted = {id(m) for _, m in count_input_modules(model)}
    weights: list[tuple[str, nn.Parameter]] = []
    for name, module in model.named_modules():
        if id(module) in counted:
            weights.append((f"{name}.weight", module.weight))
        elif isinstance(module, RecurrentSpikingLayer):
            weights.append((f"{name}.recurrent", module.recurrent))
    return weights


def scale_count_inputs(model: nn.Module, scale: float) -> list[str]:
    """Multiply the weights of count inputs by ``scale`` in place; returns the names scaled.

    BatchNorm must be folded first (see :func:`fold_batchnorm`); an eval-mode BatchNorm left after a weight is
    affine, so scaling W before it is equivalent, but a training-mode one would undo the scale.
    """
    names = []
    with torch.no_grad():
        for name, weight in count_synapses(model):
            weight.mul_(scale)
            names.append(name)
    return names
