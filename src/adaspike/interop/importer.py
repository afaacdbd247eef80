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

import logging
import os
import pathlib
from dataclasses import replace

import nir
import numpy as np
import torch
from torch import nn

from ..core.units import parse_time
from ..layers.synapse import TimeFolded
from ..retime import retime
from .conventions import AUTO, Convention, get_convention, numpy_node
from .detect import adaspike_profile, detect_convention, find_recurrence, flatten_graph, simplify_identities
from .graph_module import NIRGraphModule
from .nodes import NEURON_NODES, NodeOptions, as_str, exact_neuron, f64, neuron_module, stateless_module, tensor32
from .profiles import PROFILES
from .recording import RECORDING_NAME, dt_beside

log = logging.getLogger("adaspike")

__all__ = ["import_nir", "read_graph", "written_dt"]


def written_dt(graph: nir.NIRGraph) -> float | None:
    """The step an adaspike-written graph's model ran at (its neurons' common ``dt`` hint), else None."""
    meta = dict(getattr(graph, "metadata", None) or {})
    if "source_dt" in meta:
        return float(np.asarray(meta["source_dt"]).reshape(-1)[0])
    nodes, _ = flatten_graph(graph)
    steps = {float(np.asarray(n.metadata["dt"]).reshape(-1)[0]) for n in nodes.values()
             if isinstance(n, NEURON_NODES) and "dt" in (n.metadata or {})}
    return steps.pop() if len(steps) == 1 else None


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
    if as_str(meta.get("exporter", "")) != "adaspike":
        return False
    profile = adaspike_profile(graph)
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
    meta = {k: as_str(v) for k, v in dict(node.metadata or {}).items() if isinstance(v, (str, bytes))}
    if isinstance(node, nir.LIF) and meta.get("readout") == "membrane":
        return nir.LI(tau=node.tau, r=node.r, v_leak=node.v_leak, metadata=dict(node.metadata))
    if isinstance(node, nir.CubaLIF) and meta.get("synapse") == "pass-through":
        return nir.LIF(tau=node.tau_mem, r=f64(node.r) * f64(node.w_in), v_leak=node.v_leak,
                       v_threshold=node.v_threshold, v_reset=node.v_reset, metadata=dict(node.metadata))
    return node


def _build(graph, dt: float, conv: Convention, method, reset, strict, time_reduce,
           exact: bool = False, profiled: bool = False) -> NIRGraphModule:
    """The graph as a NIRGraphModule at ``dt``; ``exact``: adaspike neurons as their writer's fixed per-step form;
    ``profiled``: an adaspike file written for a reader, whose neurons' metadata record their reset and the
    reader's step."""
    opt = NodeOptions(dt, conv, method, reset, strict, profiled)
    nodes, edges = flatten_graph(graph)
    # Norse leaves torch tensors in its graphs
    nodes = {k: _stands_for(numpy_node(v)) for k, v in nodes.items()}
    nodes, edges = simplify_identities(nodes, edges)
    recurrent, edges = find_recurrence(nodes, edges)
    modules: dict[str, nn.Module | None] = {}
    scales: dict[str, torch.Tensor] = {}
    for name, node in nodes.items():
        key = name.replace(".", "_")
        if isinstance(node, (nir.Input, nir.Output)):
            modules[key] = None
        elif isinstance(node, NEURON_NODES) and exact:
            modules[key] = exact_neuron(node, name, opt)
        elif isinstance(node, NEURON_NODES):
            modules[key], scale = neuron_module(node, name, opt)
            if scale is not None:
                scales[key] = tensor32(scale)
        else:
            modules[key] = TimeFolded(stateless_module(node, name, conv.flatten_counts_batch))
    fix = lambda n: n.replace(".", "_")
    meta = dict(graph.metadata or {})
    reduce = time_reduce or (as_str(meta["time_reduce"]) if "time_reduce" in meta else None)
    model = NIRGraphModule(modules, [(fix(s), fix(d)) for s, d in edges],
                           inputs=[fix(k) for k, v in nodes.items() if isinstance(v, nir.Input)],
                           outputs=[fix(k) for k, v in nodes.items() if isinstance(v, nir.Output)],
                           recurrent={fix(k): fix(v) for k, v in recurrent.items()}, scale=scales,
                           time_reduce=reduce)
    model.nir_import = {"dt": dt, "convention": conv.name}
    return model
