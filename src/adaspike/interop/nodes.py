"""One NIR node → the adaspike module that runs it, under a writer's convention (``interop.conventions``).

A neuron node becomes a layer built with its parameters through its constructor; a per-neuron R or θ that a layer
holds only as one number becomes an input scale R/θ (a LIF with R/θ and θ = 1 fires exactly like R and θ).
``interop.importer`` walks the graph and wires these modules together.
"""
from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from ..core.neurons import CubaLIFParams, IFParams, LIFParams
from ..core.ssm import DiscreteSSM
from ..layers.neurons import IF, LIF, CubaLIF, NeuronLayer, SSMNeuron
from ..layers.readout import LeakyIntegrator
from ..retime import SSMIntegrator
from .conventions import Convention, leaky_step, rockpool_step, tau_from_step
from .floor import FlooredIF
from .graph_module import SumPool2d

__all__ = ["NEURON_NODES", "WEIGHT_NODES", "NodeOptions", "as_str", "exact_neuron", "f64", "neuron_module",
           "stateless_module", "tensor32"]


WEIGHT_NODES = (nir.Linear, nir.Affine)


NEURON_NODES = (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)


def as_str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def f64(a) -> np.ndarray:
    return np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)


def tensor32(a) -> torch.Tensor:
    return torch.as_tensor(f64(a), dtype=torch.float32)


def _uniform(a) -> float | None:
    """The single value of ``a`` if all its entries are equal, else ``None``."""
    a = f64(a)
    return float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else None


def _tau_range(*taus) -> tuple[float, float]:
    lo = min(float(np.min(f64(t))) for t in taus)
    hi = max(float(np.max(f64(t))) for t in taus)
    return lo / 4, hi * 4


def _gain_and_threshold(gain, threshold) -> tuple[float, float, np.ndarray | None]:
    """(gain, θ, input scale) for a layer that holds one gain and one θ: per-neuron values become the scale
    gain/θ with gain = θ = 1 (the membrane in units of θ: the same spikes, resets included)."""
    g, th = _uniform(gain), _uniform(threshold)
    if g is not None and th is not None:
        return g, th, None
    return 1.0, 1.0, f64(gain) / f64(threshold)


class NodeOptions:
    def __init__(self, dt: float, convention: Convention, method: str | None, reset: str | None,
                 strict: bool | None, profiled: bool = False):
        self.dt, self.convention, self.method, self.reset, self.strict = dt, convention, method, reset, strict
        # an adaspike file written for a reader (a profile) records each neuron's reset and the reader's step
        self.profiled = profiled

    def neuron_kwargs(self, meta: dict) -> dict:
        c = self.convention
        recorded = (c.trust_metadata or self.profiled) and "reset" in meta
        reset = self.reset or (as_str(meta["reset"]) if recorded else c.reset)
        if reset is None:
            raise ValueError(f"{c.writer or c.name} files do not record the reset mechanism; name it: "
                             "reset='subtract' (snnTorch's default for Leaky/Synaptic) or reset='zero' "
                             "(CLI: --reset subtract|zero)")
        strict = self.strict
        if strict is None:
            cond = as_str(meta.get("spike_condition", "")) if c.trust_metadata else ""
            strict = c.strict if not cond else ">=" not in cond
        kw = {"dt": self.dt, "reset": reset, "strict": strict}
        if c.max_spikes != 1:
            kw["max_spikes"] = c.max_spikes
        if c.trust_metadata and "max_spikes" in meta:
            kw["max_spikes"] = int(meta["max_spikes"])
        if c.trust_metadata and meta.get("refractory") is not None:
            kw["refractory"] = float(np.asarray(meta["refractory"]).reshape(-1)[0])
        return kw

    def method_for(self, meta: dict) -> str:
        return self.method or self.convention.step_method(meta)


def _check_plain(node, name: str) -> None:
    for field in ("v_leak", "v_reset"):
        value = getattr(node, field, None)
        if value is not None and not np.allclose(f64(value), 0):
            raise ValueError(f"NIR node {name!r}: {field} ≠ 0 is not supported (adaspike neurons rest and "
                             "reset at 0)")


def _true_tau(tau, c: Convention) -> np.ndarray:
    """τ in seconds from the file's τ (Norse 1.1 wrote dt_w·τ)."""
    return f64(tau) / c.tau_times_dt if c.tau_times_dt else f64(tau)


def exact_neuron(node, name: str, opt: NodeOptions) -> nn.Module:
    """An adaspike-written neuron node as the per-step neuron its writer ran: the file's float32 parameters
    discretised exactly as the exporting layer discretised its own (so a retime of it equals a retime of the
    original model, bit for bit), held fixed (``SSMNeuron``/``SSMIntegrator``)."""
    _check_plain(node, name)
    meta = dict(node.metadata or {})
    f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))
    method = opt.method_for(meta)
    if isinstance(node, nir.LI):
        return SSMIntegrator(LIFParams(tau=f32(node.tau)).discretise(opt.dt, method))
    if isinstance(node, nir.LIF):
        params = LIFParams(tau=f32(node.tau), threshold=f32(node.v_threshold), r=f32(node.r))
    elif isinstance(node, nir.IF):
        params = IFParams(gain=f32(node.r), threshold=f32(node.v_threshold))
    elif isinstance(node, nir.CubaLIF):
        params = CubaLIFParams(tau_syn=f32(node.tau_syn), tau_mem=f32(node.tau_mem), threshold=f32(node.v_threshold),
                               r=f32(node.r), w_in=f32(node.w_in))
    else:
        raise ValueError(f"NIR node {name!r}: unsupported neuron type {type(node).__name__}")
    kw = {k: v for k, v in opt.neuron_kwargs(meta).items() if k != "dt"}
    return SSMNeuron(params.discretise(opt.dt, method), **kw)


def neuron_module(node, name: str, opt: NodeOptions) -> tuple[nn.Module, np.ndarray | None]:
    """(module, optional input scale) for one NIR neuron node."""
    _check_plain(node, name)
    meta = dict(node.metadata or {})
    shape = tuple(np.shape(node.r))
    c, dt = opt.convention, opt.dt
    if c.step_in_r:
        return _unit_input_neuron(node, name, shape, meta, opt)
    if isinstance(node, nir.LI):
        if c.file_dt is None:
            tau = _true_tau(node.tau, c)
            layer = LeakyIntegrator(shape, tau=tensor32(tau), tau_range=_tau_range(tau), dt=dt,
                                    method=opt.method_for(meta))
            return layer, None if np.allclose(f64(node.r), 1) else f64(node.r)
        alpha, gain = leaky_step(node.tau, node.r, c.file_dt, opt.method_for(meta))
        gain = f64(node.r) * np.ones_like(alpha) if "LI" in c.unit_input else gain
        tau = tau_from_step(alpha, dt, name)
        layer = LeakyIntegrator(shape, tau=tensor32(tau), tau_range=_tau_range(tau), dt=dt, method="zoh")
        return layer, gain / -np.expm1(-dt / tau)
    kw = opt.neuron_kwargs(meta)
    if isinstance(node, nir.IF) and c.if_floor:  # Sinabs' IAF: one step adds R·δ·I, membrane held ≥ −θ
        theta = f64(node.v_threshold) * np.ones(shape)
        return FlooredIF(shape, f64(node.r) * c.file_dt, theta, -theta, dt), None
    if isinstance(node, nir.IF):
        if c.file_dt is not None:  # one step of the writer adds R·δ·I; here one step adds gain·dt·I
            gain, method = f64(node.r) * c.file_dt / dt, "zoh"
        else:
            gain = f64(node.r) / dt if c.impulse_input else f64(node.r)
            method = opt.method_for(meta)
        g, th, scale = _gain_and_threshold(gain, node.v_threshold)
        return IF(shape, gain=g, threshold=th, method=method, **kw), scale
    if isinstance(node, nir.LIF):
        if c.file_dt is None:
            tau, method, r = _true_tau(node.tau, c), opt.method_for(meta), f64(node.r)
        else:
            alpha, gain = leaky_step(node.tau, node.r, c.file_dt, opt.method_for(meta))
            gain = f64(node.r) * np.ones_like(alpha) if "LIF" in c.unit_input else gain
            if c.subtract_after_decay and kw["reset"] == "subtract":
                return _late_subtract_lif(alpha, gain, node.v_threshold, opt, kw), None
            tau, method, r = tau_from_step(alpha, dt, name), "zoh", gain / (1 - alpha)
        r, th, scale = _gain_and_threshold(r, node.v_threshold)
        return LIF(shape, tau=tensor32(tau), tau_range=_tau_range(tau), r=r, threshold=th, method=method,
                   **kw), scale
    if isinstance(node, nir.CubaLIF):
        return _cuba(node, name, shape, meta, opt, kw)
    raise ValueError(f"NIR node {name!r}: unsupported neuron type {type(node).__name__}")


def _cuba(node, name: str, shape, meta: dict, opt: NodeOptions, kw: dict) -> tuple[NeuronLayer, np.ndarray | None]:
    c, dt = opt.convention, opt.dt
    w_in = f64(node.w_in)
    if not c.cuba_new_current:
        if c.file_dt is None:
            tau_syn, tau_mem = _true_tau(node.tau_syn, c), _true_tau(node.tau_mem, c)
            method = opt.method_for(meta)
        else:  # the ODE in the file's time unit, run step for step
            scale = dt / c.file_dt
            tau_syn, tau_mem = f64(node.tau_syn) * scale, f64(node.tau_mem) * scale
            method = opt.method_for(meta)
        r, th, in_scale = _gain_and_threshold(f64(node.r) * w_in, node.v_threshold)  # only R·w_in reaches v
        layer = CubaLIF(shape, tau_syn=tensor32(tau_syn), tau_mem=tensor32(tau_mem), r=r, threshold=th,
                        tau_range=_tau_range(tau_syn, tau_mem), method=method, **kw)
        return layer, in_scale
    if c.subtract_after_decay and kw["reset"] == "zero":
        raise ValueError(f"NIR node {name!r}: snnTorch's Synaptic with reset to zero also drops the step's "
                         "synaptic input after a spike (mem_t = 0), which adaspike's reset (before the step's "
                         "integration) cannot express; only reset='subtract' Synaptic files are supported")
    # i_t = a_s i + g_i I_t ;  v_t = a_m v + g_v i_t  (same-step coupling, as snnTorch / SpikingJelly / Norse run it)
    step = c.file_dt if c.file_dt is not None else dt
    tau_syn, tau_mem = _true_tau(node.tau_syn, c), _true_tau(node.tau_mem, c)
    a_s, g_i = leaky_step(tau_syn, w_in, step, "euler")
    if c.impulse_input:  # Norse: each step's input jumps the current by w_in·I
        g_i = w_in * np.ones_like(a_s)
    a_m, g_v = leaky_step(tau_mem, node.r, step, "euler")
    f = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    zero, one = torch.zeros(shape, dtype=torch.float64), torch.ones(shape, dtype=torch.float64)
    H = torch.stack([torch.stack([f(a_s), zero], -1), torch.stack([f(g_v * a_s), f(a_m)], -1)], -2)
    B = torch.stack([f(g_i), f(g_v * g_i)], -1)
    k_mem = -1 / f(a_m) if c.subtract_after_decay and kw["reset"] == "subtract" else -one
    ssm = DiscreteSSM(H=H, B=B, kick_reset=torch.stack([zero, k_mem], -1), kick_spike=torch.stack([zero, zero], -1),
                      threshold=f(f64(node.v_threshold)), mem_index=1, dt=dt, method=f"nir:{c.name}")
    return SSMNeuron(ssm, reset=kw["reset"], strict=kw["strict"], max_spikes=kw.get("max_spikes", 1)), None


def _unit_input_neuron(node, name: str, shape, meta: dict, opt: NodeOptions) -> tuple[nn.Module, np.ndarray | None]:
    """Rockpool's per-step model (see ``conventions``) at the step its R encodes, run step for step at our dt:
    LIF v_t = α v + I_t; LI i_t = β (i + I_t); CubaLIF i_t = β (i + I_t), v_t = α v + i_t."""
    dt = opt.dt
    if isinstance(node, nir.IF):
        raise ValueError(f"NIR node {name!r}: Rockpool writes no IF nodes, so the rockpool convention has no "
                         "reading for one; name the convention of the library that wrote this file")
    # Rockpool's writer hides its step in R exactly; a file written for Rockpool's reader (which takes
    # min τ/(1+R)) records the step that reader runs at
    step = float(meta["reader_dt"]) if opt.profiled and "reader_dt" in meta else rockpool_step(node)
    if step is None:
        raise ValueError(f"NIR node {name!r}: its R does not encode one Rockpool step (R = τ·e^(−δ/τ)/δ with one δ "
                         "per layer, w_in = 1), so Rockpool's to_nir did not write it; name another convention")
    tau = f64(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau)
    alpha = np.exp(-step / tau)
    if isinstance(node, nir.LI):  # ExpSynTorch: the input enters before the decay, with gain β
        tau_here = tau_from_step(alpha, dt, name)
        layer = LeakyIntegrator(shape, tau=tensor32(tau_here), tau_range=_tau_range(tau_here), dt=dt, method="zoh")
        return layer, alpha / -np.expm1(-dt / tau_here)
    kw = opt.neuron_kwargs(meta)
    if isinstance(node, nir.LIF):  # LIFNeuronTorch: ZOH gain R(1 − α) = 1
        tau_here = tau_from_step(alpha, dt, name)
        r, th, scale = _gain_and_threshold(1 / (1 - alpha), node.v_threshold)
        return LIF(shape, tau=tensor32(tau_here), tau_range=_tau_range(tau_here), r=r, threshold=th, method="zoh",
                   **kw), scale
    # LIFTorch: state (i, v); the step's input reaches v through the decayed current of the same step
    beta = np.exp(-step / f64(node.tau_syn)) * np.ones(shape)
    gain = beta * f64(node.w_in)
    f = lambda a: torch.as_tensor(np.asarray(a, np.float64) * np.ones(shape))
    zero = torch.zeros(shape, dtype=torch.float64)
    H = torch.stack([torch.stack([f(beta), zero], -1), torch.stack([f(beta), f(alpha)], -1)], -2)
    kick = torch.stack([zero, -torch.ones_like(zero)], -1)  # subtract θ per spike from v, before the next decay
    ssm = DiscreteSSM(H=H, B=torch.stack([f(gain), f(gain)], -1), kick_reset=kick,
                      kick_spike=torch.stack([zero, zero], -1), threshold=f(f64(node.v_threshold)), mem_index=1,
                      dt=dt, method=f"nir:{opt.convention.name}")
    return SSMNeuron(ssm, reset=kw["reset"], strict=kw["strict"], max_spikes=kw.get("max_spikes", 1)), None


def _late_subtract_lif(alpha, gain, threshold, opt: NodeOptions, kw: dict) -> SSMNeuron:
    """v_t = α v + b I − θ s_{t−1}: the reset kick −θ/α, applied before the decay, lands as −θ after it."""
    f = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    a = f(alpha)
    ssm = DiscreteSSM(H=a[..., None, None], B=f(gain)[..., None], kick_reset=(-1 / a)[..., None],
                      kick_spike=torch.zeros_like(a)[..., None], threshold=f(f64(threshold)), dt=opt.dt,
                      method=f"nir:{opt.convention.name}")
    return SSMNeuron(ssm, reset="subtract", strict=kw["strict"], max_spikes=kw.get("max_spikes", 1))


def stateless_module(node, name: str, counts_batch: bool = False) -> nn.Module:
    if isinstance(node, WEIGHT_NODES):
        w = tensor32(node.weight)
        layer = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(node, nir.Affine))
        with torch.no_grad():
            layer.weight.copy_(w)
            if isinstance(node, nir.Affine):  # our own mapping: nirtorch's default loses this bias
                layer.bias.copy_(tensor32(node.bias).reshape(-1))
        return layer
    if isinstance(node, nir.Conv2d):
        w = tensor32(node.weight)
        pad = node.padding if isinstance(node.padding, str) else tuple(int(p) for p in np.ravel(node.padding))
        conv = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[-2:]),
                         stride=tuple(int(s) for s in np.ravel(node.stride)), padding=pad,
                         dilation=tuple(int(d) for d in np.ravel(node.dilation)), groups=int(node.groups))
        with torch.no_grad():
            conv.weight.copy_(w)
            conv.bias.copy_(tensor32(node.bias).reshape(-1))
        return conv
    if isinstance(node, nir.Flatten):
        start, end = int(node.start_dim), int(node.end_dim)
        if counts_batch:  # the writer's dims already count the batch axis
            return nn.Flatten(start, end)
        return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        k, s, p = (tuple(int(v) for v in np.ravel(getattr(node, f))) for f in ("kernel_size", "stride", "padding"))
        k, s, p = (v * 2 if len(v) == 1 else v for v in (k, s, p))
        return nn.AvgPool2d(k, s, p) if isinstance(node, nir.AvgPool2d) else SumPool2d(k, s, p)
    if isinstance(node, nir.Scale):
        return _ScaleModule(tensor32(node.scale))
    raise ValueError(f"NIR node {name!r}: unsupported type {type(node).__name__}")


class _ScaleModule(nn.Module):
    def __init__(self, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x):
        return x * self.scale
