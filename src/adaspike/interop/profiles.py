"""Export profiles: rewrite a generic adaspike NIR graph (true τ in seconds) into what one reader interprets
correctly (``export_nir(..., profile=...)``, CLI ``export-nir --for``).

Every reader simulates a per-step model of its own: snnTorch and SpikingJelly read τ as Euler at a fixed
δ = 1e-4 s; Norse reads τ in seconds but runs Euler at the ``dt`` passed to ``from_nir`` and ignores R; Rockpool
(3.1) reads only CubaLIF, takes its step from min τ_mem/(1+R), runs i_t = β (i + I_t), v_t = α v + i_t (α, β =
e^{−δ/τ}) and ignores w_in, so a LIF is written as a CubaLIF whose current lasts one step (τ_syn = δ/20, weights
× e^{20}: the current left over into the next step is e^{−20} ≈ 2e-9 of it). A
profile keeps *our* per-step model (decay α, gain b at the model's dt and discretisation) and writes the τ the
reader turns back into α (τ = δ/(1−α)); the gain b that the reader cannot hold goes into the weights feeding the
neuron. What the reader cannot run at all (its reset, its CubaLIF coupling, a missing node type) is an error
naming the feature; what it runs nearly alike (a tie at the threshold) is a warning.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import nir
import numpy as np

from ..core.backends.codes import MAX_BURST
from .conventions import leaky_step

__all__ = ["PROFILES", "Profile", "apply_profile"]


@dataclass(frozen=True)
class Profile:
    """A reader: its fixed step (``None``: the ``dt`` the user passes to it), the neuron nodes it reads, its reset
    and spike condition, how it holds R (``r_form``: ``"one"`` — R = 1, ``"tau"`` — R = τ/δ, ``"rockpool"`` — a
    CubaLIF with R = τ/δ − 1 and a one-step current) and whether its ``Flatten`` counts the batch axis.
    ``stateless``: the weight/shape nodes it reads (``None``: all); ``max_spikes``: its spikes per step."""

    name: str
    reader: str
    step: float | None
    nodes: tuple[type, ...]
    reset: str
    strict: bool
    r_form: str
    flatten_counts_batch: bool
    recurrent: bool = True
    stateless: tuple[type, ...] | None = None
    max_spikes: int = 1
    note: str = ""


PROFILES: dict[str, Profile | None] = {
    "generic": None,
    "snntorch": Profile("snntorch", "snntorch.import_nir.import_from_nir", 1e-4, (nir.LIF,), "zero", True,
                        "tau", True, recurrent=False),
    "norse": Profile("norse", "norse.torch.from_nir(graph, dt=...)", None, (nir.LIF,), "zero", True,
                     "one", True),
    "spikingjelly": Profile("spikingjelly", "spikingjelly nir_exchange.import_from_nir(dt=1e-4)", 1e-4,
                            (nir.LIF,), "zero", False, "tau", True),
    "rockpool": Profile("rockpool", "rockpool.nn.modules.from_nir (Rockpool 3.1)", None, (nir.LIF,), "subtract",
                        False, "rockpool", False, recurrent=False, stateless=(nir.Affine, nir.Linear),
                        max_spikes=2 ** 16, note="feed it [batch, time, features] (Rockpool is batch-first); LIF "
                        "layers are written as CubaLIF with a one-step current, since its from_nir reads no LIF"),
}
#: Rockpool profile: the written synaptic τ in steps of δ (the current decays by e^{−20} within a step)
_ONE_STEP_SYN = 1 / 20

_WHY = {  # what a reader lacks, for the errors
    nir.CubaLIF: "runs CubaLIF with the same step's synaptic current (v_t driven by i_t), adaspike's CubaLIF is "
                 "the ODE; export LIF layers or use --for generic",
    nir.IF: "has no IF reader matching dv/dt = R·I",
    nir.LI: "has no LI (non-spiking readout) node",
}
_WHY_PROFILE = {("rockpool", nir.LI): "has no usable LI reader (its from_nir truncates τ to whole seconds, "
                                      "tau.int()); end the model on a spiking layer",
                ("rockpool", nir.CubaLIF): "runs CubaLIF with the same step's synaptic current (v_t driven by i_t), "
                                           "adaspike's CubaLIF is the ODE; export LIF layers"}


def _meta(node) -> dict:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in dict(node.metadata or {}).items()}


def _fold_into_inputs(graph: nir.NIRGraph, name: str, factor: np.ndarray) -> None:
    """Multiply the rows of every weight node feeding ``name`` by ``factor`` (the input gain the reader lacks)."""
    if np.allclose(factor, 1, rtol=1e-7, atol=0):
        return
    feeders = [s for s, d in graph.edges if d == name]
    for src in feeders:
        w = graph.nodes[src]
        if not isinstance(w, (nir.Affine, nir.Linear)) or sum(1 for s, _ in graph.edges if s == src) != 1:
            raise ValueError(f"NIR node {name!r}: its input gain R = {factor.flat[0]:.4g}… must go into the weights "
                             f"feeding it, but {src!r} ({type(w).__name__}) is not a Linear/Affine used only there")
        w.weight = (np.asarray(w.weight, np.float64) * factor.reshape(-1, 1)).astype(np.float32)
        if isinstance(w, nir.Affine):
            w.bias = (np.asarray(w.bias, np.float64) * factor.reshape(-1)).astype(np.float32)


def _rockpool_cuba(graph: nir.NIRGraph, name: str, node: nir.LIF, alpha, gain, dt: float, meta: dict) -> nir.CubaLIF:
    """A LIF (per-step α, gain b at ``dt``) as the CubaLIF Rockpool's from_nir runs alike: τ_mem = −δ/ln α, R with
    min τ_mem/(1+R) = δ, τ_syn = δ/20, and b/β folded into the weights (Rockpool adds β·I to v each step)."""
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    tau_mem = f32(-dt / np.log(alpha))
    r = f32(tau_mem.astype(np.float64) / dt - 1)
    tau_syn = f32(np.full_like(alpha, _ONE_STEP_SYN * dt))
    # the step Rockpool recovers from the float32 values it reads, and the β it then runs
    step = float(np.min(tau_mem / (np.float32(1) + r)))
    beta = np.exp(-step / tau_syn.astype(np.float64))
    _fold_into_inputs(graph, name, gain / beta)
    zeros = np.zeros_like(tau_mem)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=zeros, v_threshold=f32(node.v_threshold),
                       v_reset=zeros, w_in=np.ones_like(tau_mem), metadata={**meta, "reader_dt": step})


def apply_profile(graph: nir.NIRGraph, profile: str) -> nir.NIRGraph:
    """``graph`` (a generic adaspike export) rewritten for ``profile`` (see ``PROFILES``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown export profile {profile!r}; choose one of {sorted(PROFILES)}")
    p = PROFILES[profile]
    if p is None:
        return graph
    graph = copy.deepcopy(graph)
    notes = []
    loops = {s for s, d in graph.edges if (d, s) in set(graph.edges)}
    if loops and not p.recurrent:
        raise ValueError(f"cannot export the recurrent loop through {sorted(loops)} for {profile}: {p.reader} reads "
                         "recurrent layers only from its own subgraphs (snnTorch RLeaky, Rockpool LIFTorch(has_rec)); "
                         "export a feed-forward model")
    for name, node in list(graph.nodes.items()):
        if isinstance(node, nir.NIRGraph):
            raise ValueError(f"nested NIR graphs are not rewritten for {profile}")
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        if not isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)) and p.stateless is not None \
                and not isinstance(node, p.stateless):
            raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} has no {type(node).__name__} node "
                             f"(it reads {', '.join(t.__name__ for t in p.stateless)} and neurons only)")
        if isinstance(node, (nir.Affine, nir.Linear)):
            continue
        if isinstance(node, nir.Flatten):
            if p.flatten_counts_batch:  # the reader applies torch Flatten to [B, ...]: count the batch axis
                start, end = int(node.start_dim), int(node.end_dim)
                node.start_dim, node.end_dim = start + 1 if start >= 0 else start, end + 1 if end >= 0 else end
            continue
        if not isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)):
            continue  # stateless nodes pass as they are; the reader's own errors name what it lacks
        if not isinstance(node, p.nodes):
            why = _WHY_PROFILE.get((profile, type(node)), _WHY[type(node)])
            raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} {why}")
        meta = _meta(node)
        dt, method = float(meta["dt"]), str(meta["discretisation"])
        if isinstance(node, nir.LIF):
            if meta.get("reset") != p.reset:
                how = "to zero" if p.reset == "zero" else "by subtraction"
                raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} resets {how}, the "
                                 f"model resets by {meta.get('reset')!r}; build its neurons with reset={p.reset!r} "
                                 f"(models: neuron_options={{'reset': {p.reset!r}}})")
            if ("v > threshold" == meta.get("spike_condition")) != p.strict:
                notes.append(f"{name}: {profile} spikes when v {'>' if p.strict else '>='} θ, the model when "
                             f"{meta.get('spike_condition')}: a step landing exactly on θ differs")
            spikes = int(meta.get("max_spikes", 1))
            if meta.get("refractory") is not None or (spikes != 1 and p.max_spikes == 1):
                raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} has no refractory period or "
                                 "multi-spike rule")
            if spikes < min(p.max_spikes, MAX_BURST):  # the reader bursts where the model cannot
                raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} emits ⌊v/θ⌋ spikes per step (up "
                                 f"to {p.max_spikes}), the model at most {spikes}; build its neurons with "
                                 f"max_spikes={MAX_BURST} (models: neuron_options={{'max_spikes': {MAX_BURST}}})")
        alpha, gain = leaky_step(node.tau, node.r, dt, method)
        if p.r_form == "rockpool":
            graph.nodes[name] = _rockpool_cuba(graph, name, node, alpha, gain, dt, {**meta, "profile": profile})
            continue
        step = p.step if p.step is not None else dt
        tau = step / (1 - alpha)  # the reader's Euler decay 1 − δ/τ equals our α
        reader_gain = 1.0 - alpha if p.r_form == "one" else np.ones_like(alpha)  # Euler gain R·δ/τ
        _fold_into_inputs(graph, name, gain / reader_gain)
        r = np.ones_like(tau) if p.r_form == "one" else tau / step
        node.tau = tau.astype(np.float32)
        node.r = r.astype(np.float32)
        node.metadata = {**meta, "profile": profile, "reader_dt": step}
        if isinstance(node, nir.LIF) and p.name != "norse" and np.unique(node.v_threshold).size != 1:
            raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} needs one threshold per layer")
    if graph.metadata.get("time_reduce"):
        notes.append(f"the model's time reduction ({graph.metadata['time_reduce']}) is not a NIR node: "
                     f"{profile} returns the per-step output")
    if p.note:
        notes.append(p.note)
    if p.step is None and p.r_form != "rockpool":  # Rockpool reads its step from the file
        dts = {float(_meta(n)["dt"]) for n in graph.nodes.values() if "dt" in _meta(n)}
        notes.append(f"run it with {p.reader.replace('...', 'dt=' + ', '.join(f'{d:g}' for d in sorted(dts)))}")
    graph.metadata = {**graph.metadata, "profile": profile}
    for note in notes:
        warnings.warn(f"NIR export for {profile}: {note}", stacklevel=3)
    return graph
