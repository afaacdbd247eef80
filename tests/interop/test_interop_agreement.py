"""Every pair of scripts/nir_agreement.py, in both directions, against the installed peers: a supported pair
agrees on ≥ 99.5 % of output spikes, an unsupported one fails with an error naming the missing feature."""
from __future__ import annotations

import importlib.util
import logging
import re
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from adaspike.interop import detect_convention, export_nir, import_nir, nir_export_problems, read_nir, write_nir
from adaspike.layers import LIF, SpikingLayer

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "nir_agreement.py"
_spec = importlib.util.spec_from_file_location("nir_agreement", _SCRIPT)
agreement = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agreement)

# Sinabs is not in the venv (it pins nir <= 1.0.4): its pairs run in test_interop_sinabs.py, from .venv/sinabs
_PEER = {"snnTorch": "snntorch", "SpikingJelly": "spikingjelly.activation_based.nir_exchange", "Norse": "norse.torch",
         "Rockpool": "rockpool.nn.modules", "Sinabs": "sinabs"}
_PROFILE_PEER = {"snntorch": "snntorch", "norse": "norse.torch", "spikingjelly": "spikingjelly.activation_based",
                 "rockpool": "rockpool.nn.modules"}


def _needs(name: str) -> None:
    if name.startswith("Sinabs") and importlib.util.find_spec("sinabs") is None:
        pytest.skip("Sinabs lives beside the venv (.venv/sinabs): its pairs run in test_interop_sinabs.py")
    for key, module in _PEER.items():
        if name.startswith(key):
            pytest.importorskip(module)
    for key, module in _PROFILE_PEER.items():
        if f"--for {key}" in name:
            pytest.importorskip(module)


@pytest.mark.slow
@pytest.mark.parametrize("case", agreement.CASES, ids=[c[0] for c in agreement.CASES])
def test_pair(case):
    name, _, run, expected = case
    _needs(name)
    logging.getLogger().setLevel(logging.ERROR)
    if expected is None:
        assert run() >= 0.995
    else:
        with pytest.raises(ValueError, match=expected):
            run()


def _lif_graph(tau, r, v_threshold=1.0):
    n = len(tau)
    zeros = np.zeros(n, np.float32)
    node = nir.LIF(tau=np.asarray(tau, np.float32), r=np.asarray(r, np.float32), v_leak=zeros,
                   v_threshold=zeros + v_threshold, v_reset=zeros)
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([n])), "lif": node, "output": nir.Output(np.array([n]))},
                        edges=[("input", "lif"), ("lif", "output")], metadata={})


def test_detection_by_signature():
    assert detect_convention(export_nir(nn.Sequential(SpikingLayer(nn.Linear(2, 2), LIF(2))), (2,))) == "adaspike"
    tau = np.array([1e-3, 2e-3])
    # R = τ/1e-4: snnTorch's Leaky or SpikingJelly's LIF(decay_input=False); per-neuron τ only snnTorch writes
    assert detect_convention(_lif_graph(tau, tau / 1e-4)) == "snntorch"
    # one τ per layer (two layers: R then encodes two steps, so not Rockpool's): told apart by dtype
    graph = _lif_graph(np.full(2, 2e-4), np.full(2, 2.0))
    graph.nodes["lif2"] = _lif_graph(np.full(2, 5e-4), np.full(2, 5.0)).nodes["lif"]
    graph.edges = [("input", "lif"), ("lif", "lif2"), ("lif2", "output")]
    assert detect_convention(graph) == "snntorch"  # float32: snnTorch writes torch tensors
    for node in (graph.nodes["lif"], graph.nodes["lif2"]):  # SpikingJelly's exporter writes Python floats
        for field in ("tau", "r", "v_threshold"):
            setattr(node, field, np.asarray(getattr(node, field), np.float64))
    assert detect_convention(graph) == "spikingjelly"
    graph.nodes["lif"].v_threshold = graph.nodes["lif"].v_threshold.astype(np.float16)  # neither writes that
    with pytest.raises(ValueError, match="--convention snntorch or --convention spikingjelly"):
        detect_convention(graph)
    with pytest.raises(ValueError, match="cannot tell"):
        detect_convention(_lif_graph(tau, [3.0, 0.5]))  # nobody writes that


def test_snntorch_reset_must_be_named():
    tau = np.array([1e-3, 2e-3])
    with pytest.raises(ValueError, match="reset"):
        import_nir(_lif_graph(tau, tau / 1e-4), dt="1ms", convention="snntorch")


def test_per_neuron_threshold_and_r_fire_alike():
    """A per-neuron R and θ (held as the input scale R/θ) fires exactly like the same LIFs one by one."""
    tau, r, th = [5e-3, 9e-3, 20e-3], [1.0, 2.5, 0.7], [1.0, 0.4, 2.0]
    zeros = np.zeros(3, np.float32)
    node = nir.LIF(tau=np.float32(tau), r=np.float32(r), v_leak=zeros, v_threshold=np.float32(th), v_reset=zeros)
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "lif": node, "output": nir.Output(np.array([3]))},
                         edges=[("input", "lif"), ("lif", "output")], metadata={})
    x = torch.rand(200, 2, 3, generator=torch.Generator().manual_seed(0)) * 3
    both = import_nir(graph, dt="1ms", convention="adaspike")(x)
    for k in range(3):
        one = LIF(1, tau=tau[k], r=r[k], threshold=th[k], dt=1e-3, reset="zero", strict=True)
        torch.testing.assert_close(both[..., k], one(x[..., k:k + 1])[..., 0])
    assert both.sum() > 0


def test_torch_tensors_in_graph_do_not_crash():
    node = nir.LIF(tau=torch.full((2,), 1e-5), r=torch.ones(2), v_leak=torch.zeros(2), v_threshold=torch.ones(2),
                   v_reset=torch.zeros(2))
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "lif": node, "output": nir.Output(np.array([2]))},
                         edges=[("input", "lif"), ("lif", "output")], metadata={})
    model = import_nir(graph, dt="1ms")
    assert model.nir_import["convention"] == "norse-1.1"
    assert float(model.layers["lif"].tau().max()) == pytest.approx(1e-2, rel=1e-4)  # 1e-5 s² / 1 ms


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="NIR file not found"):
        read_nir(tmp_path / "nope.nir")
    with pytest.raises(FileNotFoundError, match="NIR file not found"):
        import_nir(tmp_path / "nope.nir", dt="1ms")


def test_profile_keeps_spikes_and_warns(tmp_path):
    """A reset snnTorch cannot run is an error naming the training option; Norse runs a reset by subtraction as
    a CubaLIF with a pass-through synapse and the reset_method the file names; a different tie at θ warns."""
    net = nn.Sequential(SpikingLayer(nn.Linear(3, 2), LIF(2, dt=1e-3, reset="subtract")))
    fix = "--model-options '{\"neuron_options\": {\"reset\": \"zero\"}}'"
    with pytest.raises(ValueError, match=f"resets to zero.*{re.escape(fix)}"):
        export_nir(net, (3,), profile="snntorch")
    with pytest.warns(UserWarning, match="reset_method=norse.torch.functional.reset.reset_subtract"):
        graph = export_nir(net, (3,), profile="norse")
    assert graph.metadata["reset_method"] == "subtract"
    cuba = graph.nodes["0_neuron"]
    assert isinstance(cuba, nir.CubaLIF) and np.float32(1e-3) * (np.float32(1) / cuba.tau_syn[0]) == 1
    net = nn.Sequential(SpikingLayer(nn.Linear(3, 2), LIF(2, dt=1e-3, reset="zero")))
    with pytest.warns(UserWarning, match="spikes when"):
        export_nir(net, (3,), profile="norse")
    with pytest.raises(ValueError, match="profile"):
        export_nir(net, (3,), profile="brian")


def test_adlif_problems_for_train_time_warning():
    from adaspike.models import build_model
    model = build_model("snn", input_shape=[4], classes=2, hidden=[4], neuron="adlif", dt=1e-3)
    problems = nir_export_problems(model)
    assert problems and "membrane" in problems[0]
    assert nir_export_problems(build_model("snn", input_shape=[4], classes=2, hidden=[4], neuron="lif")) == []
