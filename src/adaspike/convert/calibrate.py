"""Threshold search (per-channel MSE grid) and bias correction (conversion spec §4).

Thresholds: for channel c with maximum ANN activation M_c, try θ ∈ {M_c·(1 − 0.01 i), i = 0…94} and keep
the one minimising Σ (a − Q(a))² with

    floor (default, as fitted by the reference):  Q(a) = (θ/T)·⌊T·clip(a/θ, 0, Γ)⌋
    round (library extension, what the shifted neuron implements): Q(a) = (θ/T)·clip(⌊T a/θ + ½⌋, 0, ΓT)

Over batches: the first batch sets θ, each later one updates θ ← 0.9 θ + 0.1 θ_batch. Conv neurons get one
threshold per channel, linear ones a scalar. A channel that never activates keeps the layer's maximum.

Bias correction, layer by layer in order, each after the earlier ones are corrected:

    δ_{l,c} ← δ_{l,c} − ( mean_{N,H,W}[(1/T) Σ_t a^SNN_{l,c}(t)] − mean_{N,H,W}[a^ANN_{l,c}] )
"""
from __future__ import annotations

import torch

from .context import recording
from .snn import ConvertedSNN

GRID_STEPS = 95


def channels_first(a: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """[N, C, ...] → [C, N·…] (per channel) or [1, all]."""
    if per_channel:
        return a.transpose(0, 1).reshape(a.shape[1], -1)
    return a.reshape(1, -1)


def quantise(a: torch.Tensor, theta: torch.Tensor, T: int, gamma: int, quantiser: str = "floor",
             out: torch.Tensor | None = None) -> torch.Tensor:
    """The rate an AdaFire neuron is modelled to give for activation ``a`` (θ broadcast against a).

    ``out`` (shaped like ``a``) receives the result in place: the threshold grid search reuses one buffer.
    """
    if quantiser == "floor":        # θ/T · ⌊T · clip(a/θ, 0, Γ)⌋
        q = torch.div(a, theta, out=out) if out is not None else a / theta
        return q.clamp_(0, gamma).mul_(T).floor_().mul_(theta / T)
    if quantiser == "round":        # θ/T · clip(⌊T·a/θ + ½⌋, 0, ΓT)
        q = torch.mul(a, T, out=out) if out is not None else a * T
        return q.div_(theta).add_(0.5).floor_().clamp_(0, gamma * T).mul_(theta / T)
    raise ValueError(f"threshold_quantiser must be 'floor' or 'round', got {quantiser!r}")


def mse_threshold(a: torch.Tensor, T: int, gamma: int, quantiser: str = "floor") -> torch.Tensor:
    """Best grid threshold per row of ``a`` [C, M] (non-negative activations)."""
    peak = a.amax(1)
    fallback = peak.max().clamp_min(1e-6)
    peak = torch.where(peak > 0, peak, fallback)
    best_err = torch.full_like(peak, float("inf"))
    best = peak.clone()
    buffer = torch.empty_like(a)
    for i in range(GRID_STEPS):
        theta = peak * (1 - 0.01 * i)
        # (a − Q(a))², in place: −Q + a is a − Q exactly
        err = quantise(a, theta.unsqueeze(1), T, gamma, quantiser, out=buffer).neg_().add_(a).square_().sum(1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, theta, best)
    return best


def peak_threshold(a: torch.Tensor, gamma: int, headroom: float) -> torch.Tensor:
    """θ = headroom · peak / Γ for every row of ``a`` [C, M], with the peak over all rows: Γ spikes per step pass
    ``headroom`` times the layer's peak unclipped, at the finest step θ/T that allows. One peak per layer, not
    per channel: a channel rarely active in calibration may be far larger on other inputs (MobileNetV2's
    ReLU6 halves: up to 10⁹ times its calibration peak)."""
    peak = a.amax().clamp_min(1e-6)
    return (peak * (float(headroom) / int(gamma))).expand(a.shape[0]).clone()


@torch.no_grad()
def fit_thresholds(snn: ConvertedSNN, batches: list[torch.Tensor], T: int, quantiser: str = "floor",
                   layers=None, headroom: float | None = None) -> None:
    """Set every neuron's threshold from ANN activations on ``batches`` with its current Γ (EMA over batches).

    ``layers``: indices of the neurons to fit (default all); a neuron's fit depends only on its own Γ and
    ANN activations, so refitting after a Γ change only needs the layers whose Γ changed. ``headroom``: instead
    of the MSE grid, ``peak_threshold`` (for large-T fidelity: test inputs may exceed the calibration peak,
    and the grid's θ ≥ 0.06·peak limits the resolution).
    """
    if headroom is not None and not float(headroom) > 0:
        raise ValueError(f"threshold headroom must be > 0, got {headroom}")
    chosen = range(len(snn.neurons)) if layers is None else sorted(set(layers))
    thetas: dict[int, torch.Tensor] = {}
    for x in batches:
        _, acts = snn.ann_forward(x, capture=True)
        for i in chosen:
            neuron = snn.neurons[i]
            a = channels_first(acts[i], neuron.per_channel)
            th = (mse_threshold(a, T, neuron.gamma, quantiser) if headroom is None
                  else peak_threshold(a, neuron.gamma, headroom))
            thetas[i] = th if i not in thetas else 0.9 * thetas[i] + 0.1 * th
    for i, th in thetas.items():
        snn.neurons[i].threshold.copy_(th)


def _channel_mean(a: torch.Tensor, per_channel: bool) -> torch.Tensor:
    return channels_first(a, per_channel).mean(1)


@torch.no_grad()
def bias_correction(snn: ConvertedSNN, x: torch.Tensor, T: int, replay: bool = True) -> list[float]:
    """Correct each neuron's bias shift in layer order on batch ``x``; returns the mean |correction| per layer.

    Conv neurons are corrected per channel, linear neurons per output feature. After correcting layer i − 1
    only the layers downstream of it are rerun (``LayerReplay``, refreshed each time; ``replay=False`` reruns
    the whole network for every layer, with the same result). A layer's rate is read from the last run that
    computed it, which saw every correction upstream of it.
    """
    from .replay import LayerReplay

    _, acts = snn.ann_forward(x, capture=True)
    rates: dict[int, torch.Tensor] = {}

    def keep_rates():
        for k, n in enumerate(snn.neurons):
            if n.output_sum is not None:        # neurons upstream of a rerun do not run
                rates[k] = n.output_sum / T

    sizes = []
    with recording(output_sum=True):
        runs = LayerReplay(snn, x, T, enabled=replay)
        keep_rates()
        for i, (neuron, a) in enumerate(zip(snn.neurons, acts)):
            if i:
                runs.run_from(i - 1, refresh=True)      # the correction of layer i − 1 reaches layer i
                keep_rates()
            delta = _channel_mean(rates[i], True) - _channel_mean(a, True)
            neuron.bias_shift -= delta
            sizes.append(float(delta.abs().mean()))
    return sizes
