"""Import NIR graphs into adaspike. ``dt`` is required: NIR stores none, and guessing it is how the same file
comes to mean different dynamics on different backends.

Under the ``adaspike`` convention a neuron keeps its true ODE (LIF/IF/CubaLIF layers at your ``dt``, the
discretisation from the node metadata unless you choose one), so retiming it later is exact. Under a peer's
convention the exporter's per-step model (decay α, gain b) is reproduced at your ``dt``: a LIF becomes
τ = −dt/ln α, R = b/(1−α) under ZOH; an IF gain b/dt; a CubaLIF with same-step coupling an ``SSMNeuron``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

import nir
from nir.ir.graph import Identity

from ..core.ssm import DiscreteSSM
from ..core.units import parse_time
from ..layers.neurons import IF, LIF, CubaLIF, NeuronLayer, SSMNeuron
from ..layers.readout import LeakyIntegrator
from ..layers.synapse import TimeFolded
from .conventions import Convention, get_convention, leaky_step, tau_from_step
from .graph_module import NIRGraphModule, SumPool2d

_WEIGHTS = (nir.Linear, nir.Affine)
_NEURONS = (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32))


def _set_bounded(bounded, value) -> None:
    with torch.no_grad():
        bounded.raw.copy_(bounded._to_raw(torch.as_tensor(value, dtype=torch.float32).expand_as(bounded.raw)))


def _tau_range(*taus: np.ndarray) -> tuple[float, float]:
    lo = min(float(np.min(t)) for t in taus)
    hi = max(float(np.max(t)) for t in taus)
    return lo / 4, hi * 4


class _Options:
    def __init__(self, dt: float, convention: Convention, method: str | None, reset: str | None,
                 strict: bool | None):
        self.dt, self.convention, self.method, self.reset, self.strict = dt, convention, method, reset, strict

    def neuron_kwargs(self, meta: dict) -> dict:
        c = self.convention
        reset = self.reset or (_text(meta["reset"]) if c.trust_metadata and "reset" in meta else c.reset)
        strict = self.strict
        if strict is None:
            cond = _text(meta.get("spike_condition", "")) if c.trust_metadata else ""
            strict = c.strict if not cond else ">=" not in cond
        kw = {"dt": self.dt, "reset": reset, "strict": strict}
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
        if value is not None and not np.allclose(value, 0):
            raise ValueError(f"NIR node {name!r}: {field} ≠ 0 is not supported (adaspike neurons rest and "
                             "reset at 0)")


def _neuron(node, name: str, opt: _Options) -> tuple[nn.Module, np.ndarray | None]:
    """(module, optional input scale) for one NIR neuron node."""
    _check_plain(node, name)
    meta = dict(node.metadata or {})
    shape = tuple(np.shape(node.r))
    c, dt = opt.convention, opt.dt
    if isinstance(node, nir.LI):
        if c.file_dt is None:
            layer = LeakyIntegrator(shape, tau=_tensor(node.tau), tau_range=_tau_range(node.tau), dt=dt,
                                    method=opt.method_for(meta))
            return layer, None if np.allclose(node.r, 1) else np.asarray(node.r)
        alpha, gain = leaky_step(node.tau, node.r, c.file_dt, opt.method_for(meta))
        tau = tau_from_step(alpha, dt, name)
        layer = LeakyIntegrator(shape, tau=_tensor(tau), tau_range=_tau_range(tau), dt=dt, method="zoh")
        return layer, gain / -np.expm1(-dt / tau)
    kw = opt.neuron_kwargs(meta)
    if isinstance(node, nir.IF):
        gain = np.asarray(node.r, np.float64) * (c.file_dt / dt if c.file_dt is not None else 1.0)
        layer = IF(shape, gain=1.0, **kw, method="zoh" if c.file_dt is not None else opt.method_for(meta))
        layer.gain.copy_(_tensor(gain))
    elif isinstance(node, nir.LIF):
        if c.file_dt is None:
            layer = LIF(shape, tau=_tensor(node.tau), tau_range=_tau_range(node.tau), method=opt.method_for(meta),
                        **kw)
            layer.r.copy_(_tensor(node.r))
        else:
            alpha, gain = leaky_step(node.tau, node.r, c.file_dt, opt.method_for(meta))
            if c.subtract_after_decay and kw["reset"] == "subtract":
                return _late_subtract_lif(alpha, gain, node.v_threshold, opt, kw), None
            tau = tau_from_step(alpha, dt, name)
            layer = LIF(shape, tau=_tensor(tau), tau_range=_tau_range(tau), method="zoh", **kw)
            layer.r.copy_(_tensor(gain / (1 - alpha)))
    elif isinstance(node, nir.CubaLIF):
        layer = _cuba(node, name, shape, meta, opt, kw)
    else:
        raise ValueError(f"NIR node {name!r}: unsupported neuron type {type(node).__name__}")
    if not isinstance(layer, SSMNeuron):  # an SSMNeuron holds θ inside its per-step form
        _set_bounded(layer.threshold, _tensor(node.v_threshold))
    return layer, None


def _cuba(node, name: str, shape, meta: dict, opt: _Options, kw: dict) -> NeuronLayer:
    c, dt = opt.convention, opt.dt
    w_in = np.asarray(node.w_in, np.float64)
    if c.file_dt is None or not c.cuba_new_current:
        if c.file_dt is None:
            tau_syn, tau_mem, method = np.asarray(node.tau_syn), np.asarray(node.tau_mem), opt.method_for(meta)
            r = np.asarray(node.r, np.float64) * w_in  # only the product reaches v
        else:  # the ODE in the file's time unit, run step for step
            scale = dt / c.file_dt
            tau_syn, tau_mem = np.asarray(node.tau_syn) * scale, np.asarray(node.tau_mem) * scale
            r, method = np.asarray(node.r, np.float64) * w_in, opt.method_for(meta)
        layer = CubaLIF(shape, tau_syn=_tensor(tau_syn), tau_mem=_tensor(tau_mem),
                        tau_range=_tau_range(tau_syn, tau_mem), method=method, **kw)
        layer.r.copy_(_tensor(r))
        return layer
    # i_t = a_s i + g_i I_t ;  v_t = a_m v + g_v i_t  (same-step coupling, as snnTorch / SpikingJelly run it)
    a_s, g_i = leaky_step(node.tau_syn, w_in, c.file_dt, "euler")
    a_m, g_v = leaky_step(node.tau_mem, node.r, c.file_dt, "euler")
    f = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    zero, one = torch.zeros(shape, dtype=torch.float64), torch.ones(shape, dtype=torch.float64)
    H = torch.stack([torch.stack([f(a_s), zero], -1), torch.stack([f(g_v * a_s), f(a_m)], -1)], -2)
    B = torch.stack([f(g_i), f(g_v * g_i)], -1)
    k_mem = -1 / f(a_m) if c.subtract_after_decay and kw["reset"] == "subtract" else -one
    ssm = DiscreteSSM(H=H, B=B, kick_reset=torch.stack([zero, k_mem], -1), kick_spike=torch.stack([zero, zero], -1),
                      threshold=f(node.v_threshold), mem_index=1, dt=dt, method=f"nir:{c.name}")
    return SSMNeuron(ssm, reset=kw["reset"], strict=kw["strict"], max_spikes=kw.get("max_spikes", 1))


def _late_subtract_lif(alpha, gain, threshold, opt: _Options, kw: dict) -> SSMNeuron:
    """v_t = α v + b I − θ s_{t−1}: the reset kick −θ/α, applied before the decay, lands as −θ after it."""
    f = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    a = f(alpha)
    ssm = DiscreteSSM(H=a[..., None, None], B=f(gain)[..., None], kick_reset=(-1 / a)[..., None],
                      kick_spike=torch.zeros_like(a)[..., None], threshold=f(threshold), dt=opt.dt,
                      method=f"nir:{opt.convention.name}")
    return SSMNeuron(ssm, reset="subtract", strict=kw["strict"], max_spikes=kw.get("max_spikes", 1))


def _stateless(node, name: str) -> nn.Module:
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


def import_nir(graph: nir.NIRGraph | str, dt: float | str, convention: str | Convention = "adaspike", *,
               method: str | None = None, reset: str | None = None, strict: bool | None = None,
               time_reduce: str | None = None) -> NIRGraphModule:
    """Build a multi-step adaspike model from a NIR graph (or a ``.nir`` file path).

    ``dt`` (seconds or ``"1ms"``) is required. ``convention``: ``adaspike`` | ``snntorch`` | ``spikingjelly`` |
    ``sinabs`` (see ``adaspike.interop.conventions``). ``method``/``reset``/``strict`` override the
    convention and metadata. ``time_reduce`` (``mean``/``sum``/``last``/``max``) defaults to the one recorded by
    an adaspike export.
    """
    if dt is None:
        raise ValueError("import_nir needs dt: NIR files carry no time step, and each exporter assumes its own")
    dt = parse_time(dt)
    if isinstance(graph, (str, bytes)) or hasattr(graph, "__fspath__"):
        graph = nir.read(graph)
    conv = get_convention(convention)
    opt = _Options(dt, conv, method, reset, strict)
    nodes, edges = flatten_graph(graph)
    nodes, edges = _simplify_identities(nodes, edges)
    recurrent, edges = _find_recurrence(nodes, edges)
    modules: dict[str, nn.Module | None] = {}
    scales: dict[str, torch.Tensor] = {}
    for name, node in nodes.items():
        key = name.replace(".", "_")
        if isinstance(node, (nir.Input, nir.Output)):
            modules[key] = None
        elif isinstance(node, _NEURONS):
            modules[key], scale = _neuron(node, name, opt)
            if scale is not None:
                scales[key] = _tensor(scale)
        else:
            modules[key] = TimeFolded(_stateless(node, name))
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
