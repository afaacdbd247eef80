"""Zero-shot retiming of a whole model: every neuron layer, the count-input drive and the readout.

``retime(model, dt=...)`` (or ``ratio=``) deep-copies the model, replaces each neuron layer (every
``NeuronLayer`` and ``LeakyIntegrator``) by its map at Δ_T = ρ Δ_S, folds BatchNorm and scales the drive of
count inputs by ``input_scale`` (``"auto"``: 1/ρ for zoh/euler/bilinear, 1 for tau/none), and normalises time
sums in the readout. The input model is never modified.

Spike rules are carried across resolutions too (``spike_rule="seconds"``, the default): a neuron trained with
"at most one spike per step" keeps its spike capacity of one spike per Δ_S *seconds* at the new step (a
refractory period of Δ_S when Δ_T < Δ_S, bursts of up to ρ spikes when Δ_T > Δ_S; see
:func:`adaspike.core.spikes.rule_for_step`). ``spike_rule="steps"`` keeps one spike per *step*, the plain maps.
Method ``none`` changes nothing, the spike rule included.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

from torch import nn

from ..core.units import check_dt
from ..layers import NeuronLayer
from .maps import MAPS, UNSTABLE_MODES, check_ratio
from .neurons import is_neuron, retime_layer, retime_methods

SPIKE_RULES = ("seconds", "steps")
from .readout import normalise_readout
from .synapses import fold_batchnorm, scale_count_inputs


@dataclass
class RetimeInfo:
    """What ``retime`` did, stored on the new model as ``model.retime_info``."""

    method: str
    ratio: float
    source_dt: float
    target_dt: float
    input_scale: float
    readout: str
    spike_rule: str = "steps"
    layers: list[str] = field(default_factory=list)
    scaled_weights: list[str] = field(default_factory=list)
    folded_batchnorms: int = 0
    readout_changes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def source_dt(model: nn.Module) -> float:
    """The common time step of all neuron layers (error naming them when they disagree or none exist)."""
    steps = {name or "<model>": float(m.dt) for name, m in model.named_modules() if is_neuron(m)}
    if not steps:
        raise ValueError(f"{type(model).__name__} has no neuron layers (NeuronLayer or LeakyIntegrator) to retime")
    values = sorted(set(steps.values()))
    if not all(math.isclose(v, values[0], rel_tol=1e-9) for v in values):
        raise ValueError(f"neuron layers run at different time steps {steps}; retime them one by one with ratio=")
    return values[0]


def resolve_ratio(model: nn.Module, dt: float | None, ratio: float | None) -> tuple[float, float]:
    """(ρ, Δ_S) from exactly one of a target ``dt`` (seconds) or a ``ratio`` ρ = Δ_T/Δ_S."""
    if (dt is None) == (ratio is None):
        raise ValueError("give exactly one of dt= (target time step, seconds) or ratio= (Δ_T/Δ_S)")
    dt_s = source_dt(model)
    rho = check_ratio(ratio) if ratio is not None else check_dt(dt) / dt_s
    if ratio is None and math.isclose(rho, round(rho), rel_tol=1e-12) and round(rho) >= 1:
        rho = float(round(rho))  # 8ms/4ms is exactly 2, not 2.0000000000000004
    elif ratio is None and math.isclose(1 / rho, round(1 / rho), rel_tol=1e-12):
        rho = 1.0 / round(1 / rho)
    return rho, dt_s


def resolve_input_scale(input_scale: str | float, method: str, rho: float) -> float:
    """``auto``: 1/ρ for maps that assume level inputs (zoh, euler, bilinear); 1 for tau and none."""
    if isinstance(input_scale, str):
        if input_scale != "auto":
            raise ValueError(f"input_scale must be 'auto' or a number, got {input_scale!r}")
        return 1.0 / rho if method in MAPS and MAPS[method].level_inputs else 1.0
    scale = float(input_scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"input_scale must be a finite number > 0, got {input_scale!r}")
    return scale


def retime(model: nn.Module, dt: float | str | None = None, ratio: float | None = None, method: str = "zoh",
           input_scale: str | float = "auto", readout: str = "auto", unstable: str = "raise",
           spike_rule: str = "seconds", *, structure_only: bool = False) -> nn.Module:
    """A deep copy of ``model`` whose every neuron layer runs at the target step.

    Args:
        dt: target step Δ_T in seconds (or "1ms"); or give ``ratio`` ρ = Δ_T/Δ_S instead.
        method: ``none``, ``tau`` (reference: decays α^ρ, β^ρ), ``zoh`` (H^ρ, g(H)B), ``euler``, ``bilinear``.
        input_scale: ``"auto"`` or a float multiplying the drive W·x of every count input (never biases).
        readout: ``"auto"`` (time sums × ρ), ``"mean"`` (sums become means) or ``"keep"``.
        unstable: ``"raise"``, ``"warn"`` or ``"ignore"`` when Euler pushes |eig(H_T)| ≥ 1.
        spike_rule: ``"seconds"`` (keep each neuron's spike capacity per second) or ``"steps"`` (one spike
            per step at the new step: the plain maps).
        structure_only: build module types only, without evaluating the maps (checkpoint rebuilding).
    """
    if method not in retime_methods():
        raise ValueError(f"unknown retime method {method!r}; choose one of {retime_methods()}")
    if spike_rule not in SPIKE_RULES:
        raise ValueError(f"unknown spike_rule {spike_rule!r}; choose one of {SPIKE_RULES}")
    if unstable not in UNSTABLE_MODES:  # checked up front: method 'none' or ρ = 1 never reach check_stability
        raise ValueError(f"unstable must be one of {UNSTABLE_MODES}, got {unstable!r}")
    if dt is not None:
        from ..core.units import parse_time
        dt = parse_time(dt)  # the one dt owner: strings with units and floats in seconds alike
    rho, dt_s = resolve_ratio(model, dt, ratio)
    scale = resolve_input_scale(input_scale, method, rho)
    new = copy.deepcopy(model)
    info = RetimeInfo(method=method, ratio=rho, source_dt=dt_s, target_dt=dt_s * rho, input_scale=scale,
                      readout=readout, spike_rule=spike_rule)
    for name, layer in [(n, m) for n, m in new.named_modules() if is_neuron(m)]:
        replacement = retime_layer(layer, rho, method, name=name or type(layer).__name__, unstable=unstable,
                                   structure_only=structure_only)
        if spike_rule == "seconds" and method != "none" and isinstance(replacement, NeuronLayer) \
                and replacement.refractory is None:
            replacement.refractory = float(layer.dt)  # the capacity the source was trained with
        if not name:
            raise ValueError("retime expects a model that contains neuron layers, not a bare neuron; "
                             "use adaspike.retime.retime_layer for a single layer")
        new.set_submodule(name, replacement)
        info.layers.append(f"{name}: {type(layer).__name__} -> {type(replacement).__name__}")
    if scale != 1.0:
        info.folded_batchnorms = fold_batchnorm(new)
        info.scaled_weights = scale_count_inputs(new, scale)
    info.readout_changes = normalise_readout(new, rho, readout)
    new.retime_info = info
    if getattr(model, "config", None):
        new.config = {"name": "retimed", "kwargs": {"source": model.config, "ratio": rho, "method": method,
                                                    "input_scale": input_scale, "readout": readout,
                                                    "spike_rule": spike_rule}}
    return new
