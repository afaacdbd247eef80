"""``convert``: the training-free ANN→SNN pipeline in the spec's normative order (§2).

1 trace + fold BN → 2 wrap ReLUs as AdaFire neurons (Γ_init) → 3 per-channel MSE thresholds →
4 AdaFire Γ allocation (Pareto DP) → 5 thresholds again with each Γ_l → 6 bias correction →
7 SSC threshold ratios → 8 bias correction again → 9 IAT exit thresholds.
Defaults: Γ 1..8 as the paper's published code, but the spike budget at max Γ (η = 1): the paper's budget
(all-Γ = 4 spike count, ``budget="paper"``) cost up to 1.6 points at T = 2 and 0.6 at T = 8 on the models of
docs/results.md (issue 29); IAT α, β chosen on held-back calibration data within a 0.3-point tolerance,
cross-fitted over 4 folds. Each of AdaFire, bias correction, SSC and IAT can be switched off; with all off, this
is plain IF with MSE
thresholds (the baseline). Without AdaFire a uniform Γ (default 1, binary IF) is used.
"""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
from torch import nn

from .calibrate import bias_correction, fit_thresholds
from .iat import ExitPolicy, calibrate_exit_policy, select_exit_policy
from .progress import StageProgress, tick
from .sensitivity import allocate_gammas, compress_thresholds
from .snn import ConvertedSNN, input_defaults

log = logging.getLogger("adaspike")

SSC_RATIOS = tuple(1.0 + 0.5 * i for i in range(19))        # 1.0, 1.5, …, 10.0


@dataclass
class ConversionReport:
    """What the conversion did: chosen Γ_l, thresholds, SSC ratios, IAT thresholds, per-stage snapshots."""

    T: int
    options: dict
    gammas: list[int] = field(default_factory=list)
    ssc_ratios: list[float] | None = None
    exit_policy: ExitPolicy | None = None
    mean_correct_entropy: list[float] | None = None
    iat_selection: dict | None = None                   # chosen α, β and the held-back check
    adafire_search: dict | None = None
    ssc_search: dict | None = None
    bias_corrections: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)          # stage name → ConvertedSNN.neuron_config()
    maxpool_nodes: list[str] = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        """One line per item that matters (the dataclass repr prints every stage's threshold tensors)."""
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings_s.items()) or "none"
        on = [k for k in ("adafire", "bias_correct", "ssc", "iat") if self.options.get(k)]
        count = f"{len(self.gammas)} neuron{'' if len(self.gammas) == 1 else 's'}"
        lines = [f"ConversionReport(T={self.T}, {count}, stages: {stages}",
                 f"  options: {', '.join(on) or 'plain IF'}"]
        if self.gammas:
            counts = {g: self.gammas.count(g) for g in sorted(set(self.gammas))}
            budget = ""
            if self.options.get("adafire") and self.options.get("gamma_target") is not None:
                budget = (f" (budget: all-Γ = {self.options['gamma_target']} spike count × η "
                          f"{self.options.get('spike_budget', 1.0):g})")
            lines.append("  Γ per layer: " + ", ".join(f"{g}×{n}" for g, n in counts.items()) + budget)
        if self.ssc_ratios is not None:
            lines.append(f"  SSC ratios: {min(self.ssc_ratios):g}..{max(self.ssc_ratios):g}")
        if self.iat_selection:
            sel = self.iat_selection
            lines.append(f"  IAT: α = {sel.get('alpha')}, β = {sel.get('beta')}")
        if self.maxpool_nodes:
            lines.append(f"  approximate max-pools: {', '.join(self.maxpool_nodes)}")
        return "\n".join(lines) + ")"

    def summary(self) -> dict:
        """JSON-friendly view (no tensors)."""
        return {"T": self.T, "options": self.options, "gammas": self.gammas, "ssc_ratios": self.ssc_ratios,
                "iat_thresholds": None if self.exit_policy is None else
                [round(float(v), 6) for v in self.exit_policy.thresholds],
                "mean_correct_entropy": self.mean_correct_entropy, "iat_selection": self.iat_selection,
                "maxpool_nodes": self.maxpool_nodes,
                "timings_s": self.timings_s, "stages": list(self.stages)}


def calibration_batches(data, batch_size: int = 128, device=None) -> tuple[list[torch.Tensor], list | None]:
    """Normalise ``data`` (tensor [N, ...], (x, y) tuple, or iterable of x / (x, y) batches) to batch lists."""
    if isinstance(data, torch.Tensor):
        xs, ys = list(data.split(batch_size)), None
    elif isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        xs, ys = list(data[0].split(batch_size)), list(data[1].split(batch_size))
    else:
        xs, ys = [], []
        for batch in data:
            if isinstance(batch, (tuple, list)):
                xs.append(batch[0])
                ys.append(batch[1])
            else:
                xs.append(batch)
                ys = None
        if not xs:
            raise ValueError("calibration_data is empty")
    xs = [x.to(device) if device is not None else x for x in xs]
    if ys is not None:
        ys = [y.to(device) if device is not None else y for y in ys]
    return xs, ys


DEFAULT_GAMMAS = tuple(range(1, 9))     # paper code: Γ candidates 1..8 (CIFAR)
DEFAULT_GAMMA_TARGET = None            # the spike budget is the all-max-Γ network's count (issue 29: the paper's
                                       # all-Γ=4 budget cost up to 1.6 points at T = 2, 0.6 at T = 8)
PAPER_GAMMA_TARGET = 4                 # paper code: the spike budget is the all-Γ=4 network's count
DEFAULT_SPIKE_BUDGET = 1.0             # η
BUDGETS = ("accuracy", "paper")        # convert(budget=...): the default budget, or the paper's (Γ = 4, η = 1)


@torch.no_grad()
def convert(ann: nn.Module, calibration_data, T: int = 8, *, adafire: bool = True, bias_correct: bool = True,
            ssc: bool = False, iat: bool = False, gamma: int = 1, gammas: Sequence[int] = DEFAULT_GAMMAS,
            gamma_target: int | None = DEFAULT_GAMMA_TARGET, spike_budget: float = DEFAULT_SPIKE_BUDGET,
            ssc_ratios: Iterable[float] = SSC_RATIOS, ssc_kl_budget: float = 1.0, iat_alpha: float | None = None,
            iat_beta: float | None = None, iat_tolerance: float = 0.3, iat_score: str = "entropy", iat_folds: int = 4,
            threshold_quantiser: str = "floor", threshold_batches: int = 7, threshold_headroom: float | None = None,
            batch_size: int = 128,
            spiking_linear: bool = True, half_shift: bool = True, neuron=None, frames: bool = False,
            concrete_args: dict | None = None, leaf_modules: tuple = (), device=None, budget: str | None = None,
            maxpool: str | None = None,
            progress: bool | None = None) -> tuple[ConvertedSNN, ConversionReport]:
    """Convert a ReLU ANN (any ``nn.Module``) into a ``ConvertedSNN`` running ``T`` steps; returns (snn, report).

    ``calibration_data``: a tensor of inputs, an (inputs, labels) tuple or an iterable of batches (x or
    (x, y)); un-augmented training data is recommended. With ``frames=True`` inputs are event frames
    [B, T, ...]: the SNN gets one frame per step, the ANN reference their mean. The first batch is used for
    the Γ/SSC searches and bias correction, up to ``threshold_batches`` for thresholds, all of them for IAT
    (labels needed there; without labels the ANN's predictions stand in).

    Γ candidates 1..8 (``gammas``, the paper's code), spike budget η = 1.0 (``spike_budget``) times the spike
    count of the network with Γ = ``gamma_target`` everywhere; the default None means max(gammas), an effectively
    unconstrained budget, because the paper's Γ = 4 cost up to 1.6 points against the ANN at T = 2 (issue 29).
    ``budget="paper"`` reproduces the paper's code (``gamma_target=4``, ``spike_budget=1.0``, overriding both);
    ``budget="accuracy"`` is the default budget (``gamma_target=None``, ``spike_budget=1.0``).
    IAT: with ``iat_alpha=None`` α and β = 1 − α are chosen so that the
    held-back calibration samples lose at most ``iat_tolerance`` percentage points against the fixed-T SNN,
    cross-fitted over ``iat_folds`` parts so every calibration sample is held back once
    (``report.iat_selection``; ``select_exit_policy``); pass ``iat_alpha`` (and ``iat_beta``, default 1 − α)
    to fix them.
    ``neuron``: a name registered with ``register_conversion_neuron`` or a ``ConversionNeuron`` class.
    ``threshold_headroom``: None (default) fits thresholds by the per-channel MSE grid; a number h sets
    θ = h·peak/Γ instead (``calibrate.peak_threshold``), for conversions judged by large-T fidelity (the zoo
    benchmark: ``neuron="signed"``, a large Γ, h = 4).
    ``maxpool``: "per_step" (conversion spec: each step's spike map is pooled, an approximation that warns) or
    "running" (``RunningMaxPool``: pools running sums, exact in rate at every step; an extension). ``neuron`` and
    ``maxpool`` left None follow the input (``snn.input_defaults``): AdaFire and per-step pooling for static
    inputs, signed neurons and running pools for event frames.
    ``concrete_args``/``leaf_modules`` go to torch.fx when the model needs them to trace.
    ``progress``: one bar per stage on stderr with a time estimate (``convert.progress``); None (default) shows
    them only when stderr is a terminal, False never.
    """
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    gammas = sorted(int(g) for g in gammas)
    if budget is not None:
        if budget not in BUDGETS:
            raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
        gamma_target, spike_budget = (PAPER_GAMMA_TARGET if budget == "paper" else None), DEFAULT_SPIKE_BUDGET
    if gamma_target is None:
        gamma_target = max(gammas)
    elif adafire and int(gamma_target) not in gammas:
        raise ValueError(f"gamma_target {gamma_target} is not among the Γ candidates {gammas}")
    neuron, maxpool = input_defaults(frames, neuron, maxpool)
    options = dict(T=T, adafire=adafire, bias_correct=bias_correct, ssc=ssc, iat=iat, gamma=gamma,
                   gammas=list(gammas), gamma_target=int(gamma_target), spike_budget=spike_budget, budget=budget,
                   ssc_kl_budget=ssc_kl_budget, iat_alpha=iat_alpha, iat_beta=iat_beta, iat_tolerance=iat_tolerance,
                   iat_folds=iat_folds, iat_score=iat_score, threshold_quantiser=threshold_quantiser, threshold_batches=threshold_batches,
                   threshold_headroom=threshold_headroom,
                   batch_size=batch_size, spiking_linear=spiking_linear, half_shift=half_shift,
                   neuron=neuron if isinstance(neuron, str) else neuron.__name__, frames=frames, maxpool=maxpool)
    xs, ys = calibration_batches(calibration_data, batch_size, device)
    example = xs[0][:2].mean(1) if frames else xs[0][:2]
    snn = ConvertedSNN(ann.to(device or xs[0].device), T, spiking_linear, neuron=neuron, frames=frames,
                       example=example, concrete_args=concrete_args, leaf_modules=leaf_modules, maxpool=maxpool)
    snn = snn.to(device or xs[0].device)
    snn.eval()
    report = ConversionReport(T=T, options=options, maxpool_nodes=list(snn.maxpool_nodes))
    if snn.maxpool_nodes:
        warnings.warn(f"max-pooling per step ({', '.join(snn.maxpool_nodes)}) only approximates the ANN's "
                      "max-pool of rates: it takes the max of each step's spike map, which over-estimates it when "
                      "inputs fire at different steps; prefer average pooling", stacklevel=3)
    if not snn.neurons:
        raise ValueError("the ANN has no ReLU after a Conv2d/Linear: nothing to convert into spiking neurons")
    if ys is not None:
        _warn_if_chance(snn, xs, ys)
    for n in snn.neurons:
        if hasattr(n, "half_shift"):
            n.half_shift = half_shift
    snn.measure_flops(xs[0])
    clock = time.perf_counter()
    bars = StageProgress(progress)

    def stage(name: str) -> None:
        nonlocal clock
        bars.end()
        report.stages[name] = snn.neuron_config()
        now = time.perf_counter()
        report.timings_s[name] = round(now - clock, 3)
        clock = now

    start_gamma = max(gammas) if adafire else int(gamma)
    _set_gammas(snn, [start_gamma] * len(snn.neurons))
    bars.begin("thresholds")
    fit_thresholds(snn, xs[:threshold_batches], T, threshold_quantiser, headroom=threshold_headroom)
    stage("thresholds")
    bars.begin("Γ search" if adafire else "bias correction", len(gammas) * len(snn.neurons) + 1 if adafire else None)
    if adafire:
        search = allocate_gammas(snn, xs[0], T, gammas, int(gamma_target), spike_budget)
        report.adafire_search = search
        _set_gammas(snn, search["gammas"])
        changed = [i for i, g in enumerate(search["gammas"]) if g != start_gamma]    # the others keep their fit
        if changed:
            fit_thresholds(snn, xs[:threshold_batches], T, threshold_quantiser, layers=changed,
                           headroom=threshold_headroom)
    report.gammas = [n.gamma for n in snn.neurons]
    if bias_correct:
        report.bias_corrections["after_thresholds"] = bias_correction(snn, xs[0], T)
    stage("adafire" if adafire else "baseline")
    if ssc:
        ssc_ratios = list(ssc_ratios)
        bars.begin("SSC", len(ssc_ratios) * len(snn.neurons) + 1)
        search = compress_thresholds(snn, xs[0], T, ssc_ratios, ssc_kl_budget)
        report.ssc_search, report.ssc_ratios = search, search["ratios"]
        if bias_correct:
            report.bias_corrections["after_ssc"] = bias_correction(snn, xs[0], T)
        stage("ssc")
    if iat:
        bars.begin("IAT", len(xs))
        labels = ys if ys is not None else [snn.ann_forward(x)[0].argmax(1) for x in xs]
        step_logits = [_ticked(snn.run(x, T, keep_steps=True).step_logits) for x in xs]
        if iat_alpha is None:
            policy, info = select_exit_policy(step_logits, labels, tolerance=iat_tolerance, score=iat_score,
                                              folds=iat_folds)
            report.iat_selection = {k: v for k, v in info.items() if k != "mean_correct_entropy"}
            report.mean_correct_entropy = info["mean_correct_entropy"]
        else:
            beta = 1.0 - float(iat_alpha) if iat_beta is None else float(iat_beta)
            policy, mean_entropy = calibrate_exit_policy(step_logits, labels, float(iat_alpha), beta, iat_score)
            report.mean_correct_entropy = [float(v) for v in mean_entropy]
            report.iat_selection = {"alpha": float(iat_alpha), "beta": beta, "chosen_by": "user"}
        report.exit_policy = policy
        stage("iat")
    return snn, report


def _ticked(value):
    tick()
    return value


def _warn_if_chance(snn: ConvertedSNN, xs: list, ys: list) -> None:
    """Warn loudly when the source ANN is at chance level on the calibration data (an untrained model)."""
    correct = total = 0
    classes = 2
    for x, y in zip(xs, ys):
        logits = snn.ann_forward(x)[0]
        classes = logits.shape[1]
        correct += int((logits.argmax(1) == y).sum())
        total += int(y.numel())
    accuracy = correct / max(1, total)
    if accuracy < 1.5 / classes:
        warnings.warn(f"the source ANN is at chance level on the calibration data ({100 * accuracy:.1f} % with "
                      f"{classes} classes): it looks untrained, so the converted SNN will be too. Train it "
                      "longer (or check the weights / input scaling) before converting", stacklevel=4)


def _set_gammas(snn: ConvertedSNN, gammas: Sequence[int]) -> None:
    for neuron, g in zip(snn.neurons, gammas):
        neuron.gamma = int(g)
