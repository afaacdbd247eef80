"""Import NIR graphs into adaspike. NIR stores no time step, and guessing it is how the same file comes to mean
different dynamics on different backends: ``dt`` is required, except for adaspike's own files, which record the
step their model was trained at (and are then imported at it, or moved to your ``dt`` exactly as ``retime``
would move the original model: input scaling, spike rule in seconds and readout included).

The writer's convention (``adaspike.interop.conventions``) is detected from the graph where its parameters
tell, else named by the caller. Under the ``adaspike`` convention a neuron keeps its true ODE (LIF/IF/CubaLIF
layers at your ``dt``, the discretisation from the node metadata unless you choose one), so retiming it later is
exact. Under a fixed-step peer's convention the writer's per-step model (decay α, gain b) is reproduced at your
``dt``: a LIF becomes τ = −dt/ln α, R = b/(1−α) under ZOH; a CubaLIF with same-step coupling an ``SSMNeuron``
(Rockpool's, whose step each node's R encodes, likewise).
Layers are built with their parameters through their constructors; a per-neuron R or θ that a layer holds only
as one number becomes an input scale R/θ on the node (a LIF with R/θ and θ = 1 fires exactly like R and θ).
"""
from __future__ import annotations

import os
import pathlib
from dataclasses import replace

import numpy as np
import torch
from torch import nn

import nir
from nir.ir.graph import Identity

import logging

from ..core.neurons import CubaLIFParams, IFParams, LIFParams
from ..core.ssm import DiscreteSSM
from ..core.units import parse_time
from ..layers.neurons import IF, LIF, CubaLIF, NeuronLayer, SSMNeuron
from ..layers.readout import LeakyIntegrator
from ..retime import SSMIntegrator, retime
from ..layers.synapse import TimeFolded
from .conventions import (AUTO, CONVENTIONS, Convention, get_convention, leaky_step, numpy_node, rockpool_step,
                          signature_candidates, tau_from_step)
from .floor import FlooredIF
from .graph_module import NIRGraphModule, SumPool2d
from .profiles import PROFILES
from .recording import RECORDING_NAME, dt_beside

log = logging.getLogger("adaspike")

_WEIGHTS = (nir.Linear, nir.Affine)
_NEURONS = (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _f64(a) -> np.ndarray:
    return np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)


def _tensor(a) -> torch.Tensor:
    return torch.as_tensor(_f64(a), dtype=torch.float32)


def _uniform(a) -> float | None:
    """The single value of ``a`` if all its entries are equal, else ``None``."""
    a = _f64(a)
    return float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else None


def _tau_range(*taus) -> tuple[float, float]:
    lo = min(float(np.min(_f64(t))) for t in taus)
    hi = max(float(np.max(_f64(t))) for t in taus)
    return lo / 4, hi * 4


def _gain_and_threshold(gain, threshold) -> tuple[float, float, np.ndarray | None]:
    """(gain, θ, input scale) for a layer that holds one gain and one θ: per-neuron values become the scale
    gain/θ with gain = θ = 1 (the membrane in units of θ: the same spikes, resets included)."""
    g, th = _uniform(gain), _uniform(threshold)
    if g is not None and th is not None:
        return g, th, None
    return 1.0, 1.0, _f64(gain) / _f64(threshold)


class _Options:
    def __init__(self, dt: float, convention: Convention, method: str | None, reset: str | None,
                 strict: bool | None, profiled: bool = False):
        self.dt, self.convention, self.method, self.reset, self.strict = dt, convention, method, reset, strict
        # an adaspike file written for a reader (a profile) records each neuron's reset and the reader's step
        self.profiled = profiled

    def neuron_kwargs(self, meta: dict) -> dict:
        c = self.convention
        recorded = (c.trust_metadata or self.profiled) and "reset" in meta
        reset = self.reset or (_text(meta["reset"]) if recorded else c.reset)
        if reset is None:
            raise ValueError(f"{c.writer or c.name} files do not record the reset mechanism; name it: "
                             "reset='subtract' (snnTorch's default for Leaky/Synaptic) or reset='zero' "
                             "(CLI: --reset subtract|zero)")
        strict = self.strict
        if strict is None:
            cond = _text(meta.get("spike_condition", "")) if c.trust_metadata else ""
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
        if value is not None and not np.allclose(_f64(value), 0):
            raise ValueError(f"NIR node {name!r}: {field} ≠ 0 is not supported (adaspike neurons rest and "
                             "reset at 0)")


def _true_tau(tau, c: Convention) -> np.ndarray:
    """τ in seconds from the file's τ (Norse 1.1 wrote dt_w·τ)."""
    return _f64(tau) / c.tau_times_dt if c.tau_times_dt else _f64(tau)


def _exact_neuron(node, name: str, opt: _Options) -> nn.Module:
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


def written_dt(graph: nir.NIRGraph) -> float | None:
    """The step an adaspike-written graph's model ran at (its neurons' common ``dt`` hint), else None."""
    meta = dict(getattr(graph, "metadata", None) or {})
    if "source_dt" in meta:
        return float(np.asarray(meta["source_dt"]).reshape(-1)[0])
    nodes, _ = flatten_graph(graph)
    steps = {float(np.asarray(n.metadata["dt"]).reshape(-1)[0]) for n in nodes.values()
             if isinstance(n, _NEURONS) and "dt" in (n.metadata or {})}
    return steps.pop() if len(steps) == 1 else None


def _neuron(node, name: str, opt: _Options) -> tuple[nn.Module, np.ndarray | None]:
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
            layer = LeakyIntegrator(shape, tau=_tensor(tau), tau_range=_tau_range(tau), dt=dt,
                                    method=opt.method_for(meta))
            return layer, None if np.allclose(_f64(node.r), 1) else _f64(node.r)
        alpha, gain = leaky_step(node.tau, node.r, c.file_dt, opt.method_for(meta))
        gain = _f64(node.r) * np.ones_like(alpha) if "LI" in c.unit_input else gain
        tau = tau_from_step(alpha, dt, name)
        layer = LeakyIntegrator(shape, tau=_tensor(tau), tau_range=_tau_range(tau), dt=dt, method="zoh")
        return layer, gain / -np.expm1(-dt / tau)
    kw = opt.neuron_kwargs(meta)
    if isinstance(node, nir.IF) and c.if_floor:  # Sinabs' IAF: one step adds R·δ·I, membrane held ≥ −θ
        theta = _f64(node.v_threshold) * np.ones(shape)
        return FlooredIF(shape, _f64(node.r) * c.file_dt, theta, -theta, dt), None
    if isinstance(node, nir.IF):
        if c.file_dt is not None:  # one step of the writer adds R·δ·I; here one step adds gain·dt·I
            gain, method = _f64(node.r) * c.file_dt / dt, "zoh"
        else:
            gain = _f64(node.r) / dt if c.impulse_input else _f64(node.r)
            method = opt.method_for(meta)
        g, th, scale = _gain_and_threshold(gain, node.v_threshold)
        return IF(shape, gain=g, threshold=th, method=method, **kw), scale
    if isinstance(node, nir.LIF):
        if c.file_dt is None:
            tau, method, r = _true_tau(node.tau, c), opt.method_for(meta), _f64(node.r)
        else:
            alpha, gain = leaky_step(node.tau, node.r, c.file_dt, opt.method_for(meta))
            gain = _f64(node.r) * np.ones_like(alpha) if "LIF" in c.unit_input else gain
            if c.subtract_after_decay and kw["reset"] == "subtract":
                return _late_subtract_lif(alpha, gain, node.v_threshold, opt, kw), None
            tau, method, r = tau_from_step(alpha, dt, name), "zoh", gain / (1 - alpha)
        r, th, scale = _gain_and_threshold(r, node.v_threshold)
        return LIF(shape, tau=_tensor(tau), tau_range=_tau_range(tau), r=r, threshold=th, method=method,
                   **kw), scale
    if isinstance(node, nir.CubaLIF):
        return _cuba(node, name, shape, meta, opt, kw)
    raise ValueError(f"NIR node {name!r}: unsupported neuron type {type(node).__name__}")


def _cuba(node, name: str, shape, meta: dict, opt: _Options, kw: dict) -> tuple[NeuronLayer, np.ndarray | None]:
    c, dt = opt.convention, opt.dt
    w_in = _f64(node.w_in)
    if not c.cuba_new_current:
        if c.file_dt is None:
            tau_syn, tau_mem = _true_tau(node.tau_syn, c), _true_tau(node.tau_mem, c)
            method = opt.method_for(meta)
        else:  # the ODE in the file's time unit, run step for step
            scale = dt / c.file_dt
            tau_syn, tau_mem = _f64(node.tau_syn) * scale, _f64(node.tau_mem) * scale
            method = opt.method_for(meta)
        r, th, in_scale = _gain_and_threshold(_f64(node.r) * w_in, node.v_threshold)  # only R·w_in reaches v
        layer = CubaLIF(shape, tau_syn=_tensor(tau_syn), tau_mem=_tensor(tau_mem), r=r, threshold=th,
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
                      threshold=f(_f64(node.v_threshold)), mem_index=1, dt=dt, method=f"nir:{c.name}")
    return SSMNeuron(ssm, reset=kw["reset"], strict=kw["strict"], max_spikes=kw.get("max_spikes", 1)), None


def _unit_input_neuron(node, name: str, shape, meta: dict, opt: _Options) -> tuple[nn.Module, np.ndarray | None]:
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
    tau = _f64(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau)
    alpha = np.exp(-step / tau)
    if isinstance(node, nir.LI):  # ExpSynTorch: the input enters before the decay, with gain β
        tau_here = tau_from_step(alpha, dt, name)
        layer = LeakyIntegrator(shape, tau=_tensor(tau_here), tau_range=_tau_range(tau_here), dt=dt, method="zoh")
        return layer, alpha / -np.expm1(-dt / tau_here)
    kw = opt.neuron_kwargs(meta)
    if isinstance(node, nir.LIF):  # LIFNeuronTorch: ZOH gain R(1 − α) = 1
        tau_here = tau_from_step(alpha, dt, name)
        r, th, scale = _gain_and_threshold(1 / (1 - alpha), node.v_threshold)
        return LIF(shape, tau=_tensor(tau_here), tau_range=_tau_range(tau_here), r=r, threshold=th, method="zoh",
                   **kw), scale
    # LIFTorch: state (i, v); the step's input reaches v through the decayed current of the same step
    beta = np.exp(-step / _f64(node.tau_syn)) * np.ones(shape)
    gain = beta * _f64(node.w_in)
    f = lambda a: torch.as_tensor(np.asarray(a, np.float64) * np.ones(shape))
    zero = torch.zeros(shape, dtype=torch.float64)
    H = torch.stack([torch.stack([f(beta), zero], -1), torch.stack([f(beta), f(alpha)], -1)], -2)
    kick = torch.stack([zero, -torch.ones_like(zero)], -1)  # subtract θ per spike from v, before the next decay
    ssm = DiscreteSSM(H=H, B=torch.stack([f(gain), f(gain)], -1), kick_reset=kick,
                      kick_spike=torch.stack([zero, zero], -1), threshold=f(_f64(node.v_threshold)), mem_index=1,
                      dt=dt, method=f"nir:{opt.convention.name}")
    return SSMNeuron(ssm, reset=kw["reset"], strict=kw["strict"], max_spikes=kw.get("max_spikes", 1)), None


def _late_subtract_lif(alpha, gain, threshold, opt: _Options, kw: dict) -> SSMNeuron:
    """v_t = α v + b I − θ s_{t−1}: the reset kick −θ/α, applied before the decay, lands as −θ after it."""
    f = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    a = f(alpha)
    ssm = DiscreteSSM(H=a[..., None, None], B=f(gain)[..., None], kick_reset=(-1 / a)[..., None],
                      kick_spike=torch.zeros_like(a)[..., None], threshold=f(_f64(threshold)), dt=opt.dt,
                      method=f"nir:{opt.convention.name}")
    return SSMNeuron(ssm, reset="subtract", strict=kw["strict"], max_spikes=kw.get("max_spikes", 1))


def _stateless(node, name: str, counts_batch: bool = False) -> nn.Module:
    if isinstance(node, _WEIGHTS):
        w = _tensor(node.weight)
        layer = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(node, nir.Affine))
        with torch.no_grad():
            layer.weight.copy_(w)
            if isinstance(node, nir.Affine):  # our own mapping: nirtorch's default loses this bias
                layer.bias.copy_(_tensor(node.bias).reshape(-1))
        return layer
    if isinstance(node, nir.Conv2d):
        w = _tensor(node.weight)
        pad = node.padding if isinstance(node.padding, str) else tuple(int(p) for p in np.ravel(node.padding))
        conv = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[-2:]),
                         stride=tuple(int(s) for s in np.ravel(node.stride)), padding=pad,
                         dilation=tuple(int(d) for d in np.ravel(node.dilation)), groups=int(node.groups))
        with torch.no_grad():
            conv.weight.copy_(w)
            conv.bias.copy_(_tensor(node.bias).reshape(-1))
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
        return _ScaleModule(_tensor(node.scale))
    raise ValueError(f"NIR node {name!r}: unsupported type {type(node).__name__}")


class _ScaleModule(nn.Module):
    def __init__(self, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x):
        return x * self.scale


def flatten_graph(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict, list]:
    """Inline nested NIRGraph nodes (snnTorch wraps recurrent layers so), rewiring through their Input/Output."""
    nodes, edges = {}, []
    entry, exit_ = {}, {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = flatten_graph(node, full + "_")
            nodes.update(sub_nodes)
            edges += sub_edges
            entry[full] = [f"{full}_{k}" for k, n in node.nodes.items() if isinstance(n, nir.Input)]
            exit_[full] = [f"{full}_{k}" for k, n in node.nodes.items() if isinstance(n, nir.Output)]
        else:
            nodes[full] = node
    for src, dst in graph.edges:
        for s in exit_.get(f"{prefix}{src}", [f"{prefix}{src}"]):
            for d in entry.get(f"{prefix}{dst}", [f"{prefix}{dst}"]):
                edges.append((s, d))
    if prefix:  # inner Input/Output become identities
        nodes = {k: (Identity(input_type={"input": None}) if isinstance(v, (nir.Input, nir.Output)) else v)
                 for k, v in nodes.items()}
    return nodes, edges


def _find_recurrence(nodes: dict, edges: list) -> tuple[dict, list]:
    """neuron → W → neuron loops (W fed by that neuron only) become recurrent weights of the neuron's scan."""
    preds: dict[str, set] = {k: set() for k in nodes}
    for s, d in edges:
        preds[d].add(s)
    recurrent = {}
    for w, wnode in nodes.items():
        if not isinstance(wnode, _WEIGHTS) or len(preds[w]) != 1:
            continue
        (n,) = preds[w]
        if isinstance(nodes[n], _NEURONS) and (w, n) in set(edges):
            if n in recurrent:
                raise ValueError(f"neuron {n!r} has two recurrent loops; merge them into one weight")
            recurrent[n] = w
    dropped = {(n, w) for n, w in recurrent.items()} | {(w, n) for n, w in recurrent.items()}
    return recurrent, [e for e in edges if e not in dropped]


def _simplify_identities(nodes: dict, edges: list) -> tuple[dict, list]:
    """Remove Identity nodes (left by inlined subgraphs) by joining their predecessors to their successors."""
    for name in [k for k, v in nodes.items() if isinstance(v, Identity)]:
        ins = [s for s, d in edges if d == name]
        outs = [d for s, d in edges if s == name]
        edges = [e for e in edges if name not in e] + [(s, d) for s in ins for d in outs]
        del nodes[name]
    return nodes, list(dict.fromkeys(edges))


def _adaspike_profile(graph) -> str | None:
    """The reader an adaspike-written graph was rewritten for (``export_nir(profile=...)``), else ``None``."""
    meta = dict(getattr(graph, "metadata", None) or {})
    if _text(meta.get("exporter", "")) != "adaspike":
        return None
    profile = _text(meta.get("profile", "generic"))
    if profile == "generic":
        return None
    if PROFILES.get(profile) is None:
        raise ValueError(f"this adaspike file was written for the reader {profile!r}, which this version of adaspike "
                         f"does not know (it knows {sorted(p for p in PROFILES if p != 'generic')})")
    return profile


def _snntorch_or_spikingjelly(nodes: dict) -> str | None:
    """Tell the two fixed-step writers apart where their parameters allow: SpikingJelly's neurons hold one τ and θ
    per layer and its exporter writes float64 arrays (Python floats); snnTorch's hold per-neuron β and write float32
    (torch tensors)."""
    params = [np.asarray(_f64(getattr(n, f)) if isinstance(getattr(n, f), torch.Tensor) else getattr(n, f))
              for n in nodes.values() if isinstance(n, _NEURONS)
              for f in ("tau", "tau_mem", "tau_syn", "v_threshold") if getattr(n, f, None) is not None]
    if not params:
        return None
    if any(p.size > 1 and not np.all(p == p.flat[0]) for p in params):
        return "snntorch"  # per-neuron values: SpikingJelly's LIFNode holds one τ
    dtypes = {p.dtype for p in params}
    return {frozenset({np.dtype(np.float32)}): "snntorch",
            frozenset({np.dtype(np.float64)}): "spikingjelly"}.get(frozenset(dtypes))


def detect_convention(graph) -> str:
    """The writer's convention, read from the graph: adaspike files say so in their metadata (a file written for a
    reader is read as that reader reads it); peers' files are told apart by the parameter signature each exporter
    leaves (e.g. snnTorch's R = τ/1e-4). Raises a ``ValueError`` naming the candidates when the graph does not
    decide."""
    meta = dict(getattr(graph, "metadata", None) or {})
    if _text(meta.get("exporter", "")) == "adaspike":
        profile = _adaspike_profile(graph)
        return PROFILES[profile].convention if profile else "adaspike"
    nodes, _ = flatten_graph(graph)
    seen = set(CONVENTIONS) - {"adaspike"}
    if any(isinstance(v, torch.Tensor) for n in nodes.values() for v in vars(n).values()):
        # torch tensors in a graph: written in memory by Norse, Rockpool or Sinabs
        seen &= {"norse", "norse-1.1", "rockpool", "sinabs", "sinabs-raw"}
    for node in nodes.values():
        c = signature_candidates(numpy_node(node))
        if c is not None:
            seen &= c
    # Rockpool runs a whole network at one step: R encoding different steps in different layers is someone else
    if "rockpool" in seen:
        steps = {round(rockpool_step(numpy_node(n)) or 0, 9) for n in nodes.values() if isinstance(n, _NEURONS)}
        if len(steps) > 1:
            seen.discard("rockpool")
    # the two fixed-step writers run the same per-step model; SpikingJelly writes IF with R = 1/δ and hard reset
    if seen == {"snntorch", "spikingjelly"}:
        told = _snntorch_or_spikingjelly(nodes)
        if told is not None:
            return told
        raise ValueError("this NIR file matches both snnTorch and SpikingJelly (the same 0.1 ms per-step model; "
                         "they differ in reset and spike condition): name it with --convention snntorch or "
                         "--convention spikingjelly (convention=... in Python)")
    if len(seen) == 1:
        return seen.pop()
    hint = f"it could be any of {sorted(seen)}" if seen else "no known writer's signature matches"
    raise ValueError(f"cannot tell which library wrote this NIR file ({hint}); name it with "
                     f"convention=... / --convention, one of {sorted(CONVENTIONS)}")


def read_graph(path: str | os.PathLike) -> nir.NIRGraph:
    """``nir.read`` with a clear error for a missing or unreadable file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file not found: {path}")
    try:  # no type check: peers write scalar parameters (shape [1]) that nir's inference rejects; we broadcast
        return nir.read(path, type_check=False)
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path} is not a readable NIR file ({type(err).__name__}: {err})") from None


def _with_writer_step(conv: Convention, writer_dt: float | None) -> Convention:
    """The convention with its writer's step set: Norse 1.1 wrote τ·dt_w, SpikingJelly τ_steps·dt_w."""
    if writer_dt is None:
        return conv
    if conv.tau_times_dt is not None:
        return replace(conv, tau_times_dt=writer_dt)
    if conv.name == "spikingjelly":
        return replace(conv, file_dt=writer_dt)
    fixed = {"snntorch": "snnTorch's exporter always writes at 0.1 ms",
             "sinabs": "Sinabs writes τ in steps", "sinabs-raw": "Sinabs writes τ in steps",
             "rockpool": "Rockpool's files hold their step in R", "norse": "Norse master writes τ in seconds",
             "adaspike": "adaspike files record their step"}
    raise ValueError(f"writer_dt (--writer-dt) does not apply to {conv.name} files: "
                     f"{fixed.get(conv.name, 'their writer has no step argument')}")


def _own_reading(graph, conv: Convention) -> bool:
    """Whether ``conv`` is how an adaspike-written graph means itself (its own, or that of the reader it was
    written for): then the graph's recorded step is the model's."""
    meta = dict(getattr(graph, "metadata", None) or {})
    if _text(meta.get("exporter", "")) != "adaspike":
        return False
    profile = _adaspike_profile(graph)
    return conv.name == (PROFILES[profile].convention if profile else "adaspike")


def import_nir(graph: nir.NIRGraph | str | os.PathLike, dt: float | str | None = None,
               convention: str | Convention = AUTO, *, method: str | None = None, reset: str | None = None,
               strict: bool | None = None, time_reduce: str | None = None, adapt: bool = True,
               frozen: bool = False, writer_dt: float | str | None = None) -> NIRGraphModule:
    """Build a multi-step adaspike model from a NIR graph (or a ``.nir`` file path).

    ``dt`` (seconds or ``"1ms"``): the step to run at. Required for other writers' files (NIR stores no step);
    an adaspike file records its model's step, which is the default. At another step an adaspike file is
    imported at its own step and moved to ``dt`` by :func:`adaspike.retime.retime` (``method`` the map, zoh by
    default): the same model as retiming the original checkpoint, input scaling, spike rule in seconds and
    readout included; ``adapt=False`` re-discretises the ODEs alone (the neurons' dynamics, nothing else).
    ``frozen`` (adaspike files): hold each neuron as the fixed per-step form its writer ran (not trainable).
    ``convention``: which library wrote the file, ``auto`` (detect it from the graph; an error names the
    candidates when the graph does not tell) or one of ``adaspike.interop.CONVENTIONS``. An adaspike file
    written for a reader (``export_nir(profile=...)``) is read as that reader reads it.
    A ``.nir`` path with NIR data beside it (``activity.nir``, whose ``TimeGriddedData`` state their ``dt``) needs
    no ``dt`` either.
    ``writer_dt``: the step the writer ran at, for writers whose files depend on it and do not record it (Norse
    1.1's ``to_nir(dt=...)``, SpikingJelly's ``export_to_nir(dt=...)``); by default ``dt`` for Norse 1.1 (the file
    is read at its writer's step) and 0.1 ms for SpikingJelly (its exporter's default).
    ``method``/``reset``/``strict`` override the convention and metadata. ``time_reduce``
    (``mean``/``sum``/``last``/``max``) defaults to the one recorded by an adaspike export.
    """
    source = None
    if isinstance(graph, (str, bytes)) or hasattr(graph, "__fspath__"):
        source, graph = graph, read_graph(graph)
    conv = get_convention(detect_convention(graph) if convention == AUTO else convention)
    own = _own_reading(graph, conv)
    written = written_dt(graph) if own else None
    if dt is None:
        beside = dt_beside(source) if written is None and source is not None else None
        if written is None and beside is None:
            raise ValueError("import_nir needs dt: NIR files carry no time step, and each exporter assumes its "
                             f"own (adaspike's own files record theirs, as does NIR data in {RECORDING_NAME} "
                             "beside a file)")
        dt = written if written is not None else beside
    dt = parse_time(dt)
    if conv.tau_times_dt is not None and writer_dt is None:
        writer_dt = dt  # Norse 1.1 wrote τ·dt_w: read at the step it ran at unless told otherwise
        log.info("note: %s files hold τ·dt_w, with dt_w the step passed to Norse's to_nir; taking dt_w = %gs (the "
                 "step imported at); name another with writer_dt= / --writer-dt", conv.name, dt)
    conv = _with_writer_step(conv, None if writer_dt is None else parse_time(writer_dt))
    profiled = own and conv.name != "adaspike"
    if written is not None and adapt and abs(dt - written) > 1e-12 * written:
        log.info("note: this adaspike file's model ran at dt = %gs; imported there and retimed to %gs (method "
                 "%s, input scaling, spike rule in seconds, readout), as `adaspike retime` would move the "
                 "original", written, dt, method or "zoh")
        source = _build(graph, written, conv, method, reset, strict, time_reduce, exact=not profiled,
                        profiled=profiled)
        moved = retime(source, dt=dt, method=method or "zoh")
        moved.nir_import = {"dt": dt, "convention": conv.name, "written_dt": written}
        return moved
    if conv.file_dt is not None and abs(dt - conv.file_dt) > 1e-12 * conv.file_dt and not profiled:
        log.info("note: %s files hold a per-step model written for dt = %gs; at dt = %gs each of its steps runs as "
                 "one step of %gs (the same per-step dynamics on a stretched time axis)", conv.name, conv.file_dt,
                 dt, dt)
    model = _build(graph, dt, conv, method, reset, strict, time_reduce, exact=frozen and conv.name == "adaspike",
                   profiled=profiled)
    if written is not None:
        model.nir_import["written_dt"] = written
    return model


def _stands_for(node):
    """A node an adaspike profile wrote in a reader's own form, as the node it stands for: a never-firing LIF whose
    membrane is read (``readout: membrane``) is a leaky-integrator readout, an LI node; a CubaLIF whose synapse
    passes each step's input through (``synapse: pass-through``, Norse's reset by subtraction) is a LIF."""
    meta = {k: _text(v) for k, v in dict(node.metadata or {}).items() if isinstance(v, (str, bytes))}
    if isinstance(node, nir.LIF) and meta.get("readout") == "membrane":
        return nir.LI(tau=node.tau, r=node.r, v_leak=node.v_leak, metadata=dict(node.metadata))
    if isinstance(node, nir.CubaLIF) and meta.get("synapse") == "pass-through":
        return nir.LIF(tau=node.tau_mem, r=_f64(node.r) * _f64(node.w_in), v_leak=node.v_leak,
                       v_threshold=node.v_threshold, v_reset=node.v_reset, metadata=dict(node.metadata))
    return node


def _build(graph, dt: float, conv: Convention, method, reset, strict, time_reduce,
           exact: bool = False, profiled: bool = False) -> NIRGraphModule:
    """The graph as a NIRGraphModule at ``dt``; ``exact``: adaspike neurons as their writer's fixed per-step form;
    ``profiled``: an adaspike file written for a reader, whose neurons' metadata record their reset and the
    reader's step."""
    opt = _Options(dt, conv, method, reset, strict, profiled)
    nodes, edges = flatten_graph(graph)
    # Norse leaves torch tensors in its graphs
    nodes = {k: _stands_for(numpy_node(v)) for k, v in nodes.items()}
    nodes, edges = _simplify_identities(nodes, edges)
    recurrent, edges = _find_recurrence(nodes, edges)
    modules: dict[str, nn.Module | None] = {}
    scales: dict[str, torch.Tensor] = {}
    for name, node in nodes.items():
        key = name.replace(".", "_")
        if isinstance(node, (nir.Input, nir.Output)):
            modules[key] = None
        elif isinstance(node, _NEURONS) and exact:
            modules[key] = _exact_neuron(node, name, opt)
        elif isinstance(node, _NEURONS):
            modules[key], scale = _neuron(node, name, opt)
            if scale is not None:
                scales[key] = _tensor(scale)
        else:
            modules[key] = TimeFolded(_stateless(node, name, conv.flatten_counts_batch))
    fix = lambda n: n.replace(".", "_")
    meta = dict(graph.metadata or {})
    reduce = time_reduce or (_text(meta["time_reduce"]) if "time_reduce" in meta else None)
    model = NIRGraphModule(modules, [(fix(s), fix(d)) for s, d in edges],
                           inputs=[fix(k) for k, v in nodes.items() if isinstance(v, nir.Input)],
                           outputs=[fix(k) for k, v in nodes.items() if isinstance(v, nir.Output)],
                           recurrent={fix(k): fix(v) for k, v in recurrent.items()}, scale=scales,
                           time_reduce=reduce)
    model.nir_import = {"dt": dt, "convention": conv.name}
    return model
