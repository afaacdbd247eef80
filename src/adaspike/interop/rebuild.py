"""Checkpoints of imported NIR models: the registered builder ``nir_graph`` rebuilds the graph from JSON.

The JSON keeps the graph structure and the (small, per-neuron) neuron parameters; weight and bias arrays are
stored only by shape, since the checkpoint's tensors overwrite them on load.
"""
from __future__ import annotations

import nir
import numpy as np
from torch import nn

from ..models import register_model
from .importer import import_nir

_BY_SHAPE = {"weight", "bias"}


def _encode(value, key: str = ""):
    if isinstance(value, dict):
        return {str(k): _encode(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and key != "edges":
        return [_encode(v) for v in value]
    if isinstance(value, np.ndarray):
        if key in _BY_SHAPE and value.ndim >= 1:
            return {"__zeros__": list(value.shape), "dtype": str(value.dtype)}
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    if key == "edges":
        return [list(e) for e in value]
    return value


def _decode(value):
    if isinstance(value, dict):
        if "__zeros__" in value:
            return np.zeros(value["__zeros__"], dtype=value["dtype"])
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value["dtype"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def graph_spec(graph: nir.NIRGraph) -> dict:
    """JSON-able description of ``graph`` without its weight values."""
    return _encode(graph.to_dict())


def graph_from_spec(spec: dict) -> nir.NIRGraph:
    data = _decode(spec)
    for node in data["nodes"].values():
        if node.get("type") == "Flatten" and isinstance(node.get("input_type"), dict):
            node["input_type"] = node["input_type"].get("input")
    return nir.dict2NIRNode(data)


@register_model("nir_graph")
def build_nir_graph(graph: dict, dt: float, convention: str = "adaspike", method: str | None = None,
                    reset: str | None = None, strict: bool | None = None,
                    time_reduce: str | None = None, frozen: bool = False, writer_dt: float | None = None) -> nn.Module:
    """Rebuild an imported NIR model (values come from the checkpoint's tensors)."""
    return import_nir(graph_from_spec(graph), dt=dt, convention=convention, method=method, reset=reset,
                      strict=strict, time_reduce=time_reduce, frozen=frozen, writer_dt=writer_dt)


def imported_model(graph: nir.NIRGraph, dt: float | None = None, convention: str = "adaspike",
                   **options) -> nn.Module:
    """``import_nir`` plus a ``config`` so that ``adaspike.train.save_checkpoint``/``load_model`` round-trip it.

    An adaspike file moved to another step is saved as what it is, the retime of the file's model at its own
    step (builder ``retimed``)."""
    model = import_nir(graph, dt=dt, convention=convention, **options)
    info = model.nir_import
    spec = graph_spec(graph)
    written = info.get("written_dt")
    if written is not None and getattr(model, "retime_info", None) is not None:
        method = model.retime_info.method
        source = {"name": "nir_graph", "kwargs": {"graph": spec, "dt": written, "convention": info["convention"],
                                                  "frozen": True, **{k: v for k, v in options.items()
                                                                     if k != "method"}}}
        model.config = {"name": "retimed", "kwargs": {"source": source, "ratio": model.retime_info.ratio,
                                                      "method": method, "input_scale": "auto", "readout": "auto",
                                                      "spike_rule": "seconds"}}
        return model
    model.config = {"name": "nir_graph", "kwargs": {"graph": spec, "dt": info["dt"],
                                                     "convention": info["convention"], **options}}
    return model
