"""Export profiles: rewrite a generic adaspike NIR graph (true τ in seconds) into what one reader interprets
correctly (``export_nir(..., profile=...)``, CLI ``export-nir --for``).

Every reader simulates a per-step model of its own: snnTorch and SpikingJelly read τ as Euler at a fixed
δ = 1e-4 s; Norse reads τ in seconds but runs Euler at the ``dt`` passed to ``from_nir`` and ignores R. A
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

from .conventions import leaky_step

__all__ = ["PROFILES", "Profile", "apply_profile"]


@dataclass(frozen=True)
class Profile:
    """A reader: its fixed step (``None``: the ``dt`` the user passes to it), the neuron nodes it reads, its reset
    and spike condition, how it holds R (``r_form``: ``"one"`` — R = 1, ``"tau"`` — R = τ/δ) and whether its
    ``Flatten`` counts the batch axis."""

    name: str
    reader: str
    step: float | None
    nodes: tuple[type, ...]
    reset: str
    strict: bool
    r_form: str
    flatten_counts_batch: bool
    recurrent: bool = True


PROFILES: dict[str, Profile | None] = {
    "generic": None,
    "snntorch": Profile("snntorch", "snntorch.import_nir.import_from_nir", 1e-4, (nir.LIF,), "zero", True,
                        "tau", True, recurrent=False),
    "norse": Profile("norse", "norse.torch.from_nir(graph, dt=...)", None, (nir.LIF,), "zero", True,
                     "one", True),
    "spikingjelly": Profile("spikingjelly", "spikingjelly nir_exchange.import_from_nir(dt=1e-4)", 1e-4,
                            (nir.LIF,), "zero", False, "tau", True),
}

_WHY = {  # what a reader lacks, for the errors
    nir.CubaLIF: "runs CubaLIF with the same step's synaptic current (v_t driven by i_t), adaspike's CubaLIF is "
                 "the ODE; export LIF layers or use --for generic",
    nir.IF: "has no IF reader matching dv/dt = R·I",
    nir.LI: "has no LI (non-spiking readout) node",
}


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
                         "recurrent layers only from its own RLeaky subgraphs; export a feed-forward model")
    for name, node in list(graph.nodes.items()):
        if isinstance(node, nir.NIRGraph):
            raise ValueError(f"nested NIR graphs are not rewritten for {profile}")
        if isinstance(node, (nir.Input, nir.Output, nir.Affine, nir.Linear)):
            continue
        if isinstance(node, nir.Flatten):
            if p.flatten_counts_batch:  # the reader applies torch Flatten to [B, ...]: count the batch axis
                start, end = int(node.start_dim), int(node.end_dim)
                node.start_dim, node.end_dim = start + 1 if start >= 0 else start, end + 1 if end >= 0 else end
            continue
        if not isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)):
            continue  # stateless nodes pass as they are; the reader's own errors name what it lacks
        if not isinstance(node, p.nodes):
            raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} {_WHY[type(node)]}")
        meta = _meta(node)
        dt, method = float(meta["dt"]), str(meta["discretisation"])
        if isinstance(node, nir.LIF):
            if meta.get("reset") != p.reset:
                raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} resets to {p.reset}, the "
                                 f"model resets by {meta.get('reset')!r}; build its neurons with reset={p.reset!r} "
                                 f"(models: neuron_options={{'reset': {p.reset!r}}})")
            if ("v > threshold" == meta.get("spike_condition")) != p.strict:
                notes.append(f"{name}: {profile} spikes when v {'>' if p.strict else '>='} θ, the model when "
                             f"{meta.get('spike_condition')}: a step landing exactly on θ differs")
            if meta.get("refractory") is not None or int(meta.get("max_spikes", 1)) != 1:
                raise ValueError(f"cannot export {name!r} for {profile}: {p.reader} has no refractory period or "
                                 "multi-spike rule")
        alpha, gain = leaky_step(node.tau, node.r, dt, method)
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
    if p.step is None:
        dts = {float(_meta(n)["dt"]) for n in graph.nodes.values() if "dt" in _meta(n)}
        notes.append(f"run it with {p.reader.replace('...', 'dt=' + ', '.join(f'{d:g}' for d in sorted(dts)))}")
    graph.metadata = {**graph.metadata, "profile": profile}
    for note in notes:
        warnings.warn(f"NIR export for {profile}: {note}", stacklevel=3)
    return graph
