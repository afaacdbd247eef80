"""Rockpool's NIR convention: the step hidden in R, its per-step model, detection, and its LI readout.

The fixture graphs are built node for node as ``rockpool.nn.modules.to_nir`` (Rockpool 3.1.0,
``_extract_rockpool_module``) writes them: LIFTorch → CubaLIF(τ_syn, τ_mem, R = τ_mem·e^{−δ/τ_mem}/δ, w_in = 1),
LIFNeuronTorch → LIF(τ, R = τ·e^{−δ/τ}/δ); they are checked against Rockpool's update equations written out here
from its source (``lif_torch.py``, ``lif_neuron_torch.py``: ⌊v/θ⌋ spikes where v ≥ θ, minus that many θ), so
they run without Rockpool; the pairs against Rockpool itself are in test_interop_agreement.py.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike.interop import detect_convention, import_nir, read_nir, write_nir
from adaspike.interop.conventions import step_from_r

DT = 1e-3


@settings(max_examples=200, deadline=None)
@given(tau=st.floats(1e-4, 1.0), ratio=st.floats(1e-3, 5.0))
def test_step_from_r_inverts_rockpools_r(tau, ratio):
    step = tau * ratio
    r = tau * np.exp(-step / tau) / step
    assert step_from_r(tau, r) == pytest.approx(step, rel=1e-9)


def _r(tau, step=DT):
    tau = np.asarray(tau, np.float64)
    return (tau * np.exp(-step / tau) / step).astype(np.float32)


def _graph(step=DT, second_step=None):
    """Affine → CubaLIF (per-neuron τ_mem) → Linear → LIF, as Rockpool writes them."""
    g = np.random.default_rng(0)
    tau_mem = np.linspace(5e-3, 25e-3, 10).astype(np.float32)
    tau_syn = np.full(10, 5e-3, np.float32)
    tau_lif = np.full(4, 10e-3, np.float32)
    zeros = lambda n: np.zeros(n, np.float32)
    nodes = {
        "input": nir.Input(np.array([6])),
        "0_LinearTorch": nir.Affine((g.standard_normal((10, 6)) * 1.5).astype(np.float32), zeros(10) + 0.05),
        "1_LIFTorch": nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=_r(tau_mem, step), v_leak=zeros(10),
                                  v_threshold=zeros(10) + 1, v_reset=zeros(10), w_in=np.ones(10, np.float32)),
        "2_LinearTorch": nir.Linear((g.standard_normal((4, 10)) * 1.2).astype(np.float32)),
        "3_LIFNeuronTorch": nir.LIF(tau=tau_lif, r=_r(tau_lif, second_step or step), v_leak=zeros(4),
                                    v_threshold=zeros(4) + 1, v_reset=zeros(4)),
        "output": nir.Output(np.array([4])),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:])), type_check=False)


def _rockpool_reference(graph, x: torch.Tensor, step=DT) -> torch.Tensor:
    """LIFTorch: i = β(i + I), v = αv + i; LIFNeuronTorch: v = αv + I; then s = ⌊v/θ⌋ where v ≥ θ, v −= sθ."""
    n = graph.nodes
    a1, b1 = np.exp(-step / n["1_LIFTorch"].tau_mem), np.exp(-step / n["1_LIFTorch"].tau_syn)
    a2 = np.exp(-step / n["3_LIFNeuronTorch"].tau)
    t64 = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    w1, c1, w2 = t64(n["0_LinearTorch"].weight), t64(n["0_LinearTorch"].bias), t64(n["2_LinearTorch"].weight)
    i = torch.zeros(x.shape[1], 10, dtype=torch.float64)
    v1, v2 = i.clone(), torch.zeros(x.shape[1], 4, dtype=torch.float64)
    spike = lambda v: (v >= 1) * torch.floor(v)
    out = []
    for t in range(x.shape[0]):
        i = t64(b1) * (i + x[t].double() @ w1.T + c1)
        v1 = t64(a1) * v1 + i
        s1 = spike(v1)
        v1 = v1 - s1
        v2 = t64(a2) * v2 + s1 @ w2.T
        s2 = spike(v2)
        v2 = v2 - s2
        out.append(s2)
    return torch.stack(out).float()


def test_rockpool_written_graph_imports_step_for_step(tmp_path):
    graph = _graph()
    x = (torch.rand(100, 8, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    theirs = _rockpool_reference(graph, x)
    assert theirs.sum() > 100 and theirs.max() > 1, "the fixture must fire, with bursts, to test the spike rule"
    for g in (graph, read_nir(write_nir(tmp_path / "r.nir", graph))):
        assert detect_convention(g) == "rockpool"
        model = import_nir(g, dt="0.5ms")  # any dt: the file's step is run step for step
        with torch.no_grad():
            assert (model(x) == theirs).float().mean() >= 0.999


def test_layers_at_different_steps_are_not_rockpool():
    """Rockpool runs one network at one step; R encoding two steps is not its file."""
    with pytest.raises(ValueError, match="cannot tell"):
        detect_convention(_graph(second_step=2e-3))


def test_rockpool_reading_rejects_what_rockpool_does_not_write():
    node = nir.IF(r=np.ones(2, np.float32), v_threshold=np.ones(2, np.float32))
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "if": node, "output": nir.Output(np.array([2]))},
                         edges=[("input", "if"), ("if", "output")], type_check=False)
    with pytest.raises(ValueError, match="Rockpool writes no IF"):
        import_nir(graph, dt="1ms", convention="rockpool")
    lif = _graph().nodes["3_LIFNeuronTorch"]
    lif.r = np.array([3.0, 0.5, 1.0, 2.0], np.float32)  # four different steps: not one Rockpool layer
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "lif": lif, "output": nir.Output(np.array([4]))},
                         edges=[("input", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(ValueError, match="does not encode one Rockpool step"):
        import_nir(graph, dt="1ms", convention="rockpool")


def test_rockpool_li_readout_matches_expsyn():
    """ExpSynTorch (LI): i = β(i + I), against Rockpool itself (its LI cannot be written to a file: the graph is
    read in memory)."""
    pytest.importorskip("rockpool.nn.modules")
    script = Path(__file__).resolve().parents[2] / "scripts" / "nir_agreement.py"
    spec = importlib.util.spec_from_file_location("nir_agreement_rockpool", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    logging.getLogger().setLevel(logging.ERROR)
    assert module.from_rockpool(readout=True) < 1e-4
