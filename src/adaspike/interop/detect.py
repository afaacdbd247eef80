"""Reading a NIR graph's shape and its writer: the flattened node list, recurrence, and the convention
(``interop.conventions``) whose parameters the graph shows."""
from __future__ import annotations

import nir
import numpy as np
import torch
from nir.ir.graph import Identity

from .conventions import CONVENTIONS, numpy_node, rockpool_step, signature_candidates
from .nodes import NEURON_NODES, WEIGHT_NODES, as_str, f64
from .profiles import PROFILES

__all__ = ["adaspike_profile", "detect_convention", "find_recurrence", "flatten_graph", "simplify_identities"]


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


def find_recurrence(nodes: dict, edges: list) -> tuple[dict, list]:
    """neuron → W → neuron loops (W fed by that neuron only) become recurrent weights of the neuron's scan."""
    preds: dict[str, set] = {k: set() for k in nodes}
    for s, d in edges:
        preds[d].add(s)
    recurrent = {}
    for w, wnode in nodes.items():
        if not isinstance(wnode, WEIGHT_NODES) or len(preds[w]) != 1:
            continue
        (n,) = preds[w]
        if isinstance(nodes[n], NEURON_NODES) and (w, n) in set(edges):
            if n in recurrent:
                raise ValueError(f"neuron {n!r} has two recurrent loops; merge them into one weight")
            recurrent[n] = w
    dropped = {(n, w) for n, w in recurrent.items()} | {(w, n) for n, w in recurrent.items()}
    return recurrent, [e for e in edges if e not in dropped]


def simplify_identities(nodes: dict, edges: list) -> tuple[dict, list]:
    """Remove Identity nodes (left by inlined subgraphs) by joining their predecessors to their successors."""
    for name in [k for k, v in nodes.items() if isinstance(v, Identity)]:
        ins = [s for s, d in edges if d == name]
        outs = [d for s, d in edges if s == name]
        edges = [e for e in edges if name not in e] + [(s, d) for s in ins for d in outs]
        del nodes[name]
    return nodes, list(dict.fromkeys(edges))


def adaspike_profile(graph) -> str | None:
    """The reader an adaspike-written graph was rewritten for (``export_nir(profile=...)``), else ``None``."""
    meta = dict(getattr(graph, "metadata", None) or {})
    if as_str(meta.get("exporter", "")) != "adaspike":
        return None
    profile = as_str(meta.get("profile", "generic"))
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
    params = [np.asarray(f64(getattr(n, f)) if isinstance(getattr(n, f), torch.Tensor) else getattr(n, f))
              for n in nodes.values() if isinstance(n, NEURON_NODES)
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
    if as_str(meta.get("exporter", "")) == "adaspike":
        profile = adaspike_profile(graph)
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
        steps = {round(rockpool_step(numpy_node(n)) or 0, 9) for n in nodes.values() if isinstance(n, NEURON_NODES)}
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
