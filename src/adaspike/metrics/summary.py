"""Flat rows of a metrics result, for tables (``adaspike.report.markdown_table``) and studies' JSON."""
from __future__ import annotations

SUMMARY_COLUMNS = ["model", "dt_ms", "T", "accuracy_%", "params", "footprint_kB", "conn_sparsity", "act_sparsity",
                   "nb_MACs_M", "nb_ACs_M", "dense_M", "MACs_M", "ACs_M", "recurrent_ACs_M", "mem_updates_k",
                   "neuron_ops_k", "energy_uJ", "energy_uJ_per_s"]
LAYER_COLUMNS = ["layer", "kind", "dense_M", "nb_MACs_M", "nb_ACs_M", "MACs_M", "ACs_M", "energy_nJ"]


def _r(value, scale: float = 1.0, digits: int = 3):
    return None if value is None else round(float(value) / scale, digits)


def summary_row(result: dict, model: str = "") -> dict:
    """One row: the static metrics, NeuroBench's workload metrics and adaspike's burst-aware SOPs and energy."""
    nb, ada, static = result["neurobench"], result["adaspike"], result.get("static", {})
    sops = nb["synaptic_operations"]
    accuracy = result.get("accuracy")
    return {"model": model, "dt_ms": _r(result["dt_s"], 1e-3, 4), "T": result["steps"],
            "accuracy_%": _r(accuracy, 0.01, 2) if accuracy is not None else None,
            "params": static.get("parameter_count"), "footprint_kB": _r(static.get("footprint_bytes"), 1e3, 1),
            "conn_sparsity": _r(static.get("connection_sparsity"), 1, 4),
            "act_sparsity": _r(nb["activation_sparsity"], 1, 4),
            "nb_MACs_M": _r(sops["Effective_MACs"], 1e6), "nb_ACs_M": _r(sops["Effective_ACs"], 1e6),
            "dense_M": _r(ada["dense"], 1e6), "MACs_M": _r(ada["macs"], 1e6), "ACs_M": _r(ada["acs"], 1e6),
            "recurrent_ACs_M": _r(ada["recurrent_acs"], 1e6), "mem_updates_k": _r(nb["membrane_updates"], 1e3, 2),
            "neuron_ops_k": _r(nb["neuron_operations"]["Effective Neuron Ops"], 1e3, 2),
            "energy_uJ": _r(ada["energy_pj"], 1e6, 4), "energy_uJ_per_s": _r(ada["energy_pj_per_second"], 1e6, 3)}


def layer_rows(result: dict) -> list[dict]:
    """One row per connection (synapse or recurrent matrix), per sample."""
    return [{"layer": layer["layer"], "kind": layer["kind"], "dense_M": _r(layer["dense"], 1e6),
             "nb_MACs_M": _r(layer["neurobench_macs"], 1e6), "nb_ACs_M": _r(layer["neurobench_acs"], 1e6),
             "MACs_M": _r(layer["macs"], 1e6), "ACs_M": _r(layer["acs"], 1e6),
             "energy_nJ": _r(layer["energy_pj"], 1e3, 2)} for layer in result["layers"]]


__all__ = ["LAYER_COLUMNS", "SUMMARY_COLUMNS", "layer_rows", "summary_row"]
