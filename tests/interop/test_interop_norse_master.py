"""Norse master → adaspike, with the graph built node for node as Norse master's exporter writes it.

Norse master is not installable here (PyPI's newest is 1.1.0). Read with the repository search tools: the exporter
``norse/torch/utils/export_nir.py`` (the revision with ``to_nir(..., time_scaling_factor=1)``; the stored
revision 22a17ec2 is the 1.1 one, τ = dt/τ⁻¹) writes
``LIFBoxCell`` → ``nir.LIF(tau=time_scaling_factor / p.tau_mem_inv, v_threshold=p.v_th, v_leak=p.v_leak,
r=torch.ones_like(v_leak), v_reset=p.v_reset)`` and ``LIFCell`` → ``nir.CubaLIF(tau_mem=…/p.tau_mem_inv,
tau_syn=…/p.tau_syn_inv, …, r=np.ones_like(v_leak), w_in=np.ones_like(v_leak), v_reset=p.v_reset)``, shapes
aligned to τ⁻¹'s. So τ is in seconds by default (``norse``), and ``norse-1.1`` (τ = dt·τ) is for 1.1's files
only. Its importer (``import_nir.py``, the same in 1.1 and master) reads τ in seconds at the ``dt`` passed to it.
The cells' dynamics are those of the installed Norse 1.1 (they did not change in the exporter's revision).
"""
from __future__ import annotations

import logging

import nir
import numpy as np
import pytest
import torch
from torch import nn

from adaspike.interop import detect_convention, import_nir, read_nir, write_nir

norse = pytest.importorskip("norse.torch")

T, B, N_IN = 100, 8, 12


def _master_node(cell, scale: float = 1.0):
    """The NIR node Norse master's exporter writes for ``cell`` (time_scaling_factor = ``scale``)."""
    p = cell.p
    shape = p.tau_mem_inv.shape
    fit = lambda a: a.detach().view(shape) if a.shape != shape else a.detach()
    if isinstance(cell, norse.LIFCell):
        ones = np.ones_like(fit(p.v_leak).numpy())
        return nir.CubaLIF(tau_mem=scale / fit(p.tau_mem_inv), tau_syn=scale / fit(p.tau_syn_inv),
                           v_threshold=fit(p.v_th), v_leak=fit(p.v_leak), r=ones, w_in=ones, v_reset=fit(p.v_reset))
    return nir.LIF(tau=scale / fit(p.tau_mem_inv), v_threshold=fit(p.v_th), v_leak=fit(p.v_leak),
                   r=torch.ones_like(fit(p.v_leak)), v_reset=fit(p.v_reset))


def _net(cuba: bool, per_neuron: bool, dt: float):
    def cell(n):
        # master's exporter views every parameter as τ⁻¹'s shape (a scalar v_leak beside a per-neuron τ⁻¹ fails
        # there), so per-neuron cells get every parameter per neuron
        full = (lambda v: torch.full((n,), v)) if per_neuron else torch.tensor
        common = dict(v_leak=full(0.0), v_th=full(1.0), v_reset=full(0.0))
        if cuba:
            inv = torch.linspace(150.0, 250.0, n) if per_neuron else torch.tensor(200.0)
            return norse.LIFCell(norse.LIFParameters(tau_syn_inv=inv, tau_mem_inv=inv / 2, **common), dt=dt)
        inv = torch.linspace(60.0, 140.0, n) if per_neuron else torch.tensor(100.0)
        return norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=inv, **common), dt=dt)
    torch.manual_seed(0)
    net = norse.SequentialState(nn.Linear(N_IN, 16), cell(16), nn.Linear(16, 6), cell(6))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_((30.0 if not cuba else 6.0) * 1e-3 / dt)  # the same drive per second at any dt
                m.bias.add_(1.0 if not cuba else 0.3)
    return net


def _graph(net) -> nir.NIRGraph:
    nodes = {"input": nir.Input(np.array([N_IN]))}
    for i, m in enumerate(net):
        nodes[str(i)] = (nir.Affine(m.weight.detach(), m.bias.detach()) if isinstance(m, nn.Linear)
                         else _master_node(m))
    nodes["output"] = nir.Output(np.array([6]))
    order = list(nodes)
    # no type check: Norse's scalar parameters give 0-d node types that nir's inference rejects
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:])), type_check=False)


def _stepwise(module, x):
    state, outs = None, []
    for t in range(x.shape[0]):
        y, state = module(x[t], state)
        outs.append(y)
    return torch.stack(outs)


@pytest.mark.parametrize("cuba", [False, True], ids=["LIFBoxCell", "LIFCell"])
@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per-neuron"])
@pytest.mark.parametrize("dt", [1e-3, 5e-4])
def test_norse_master_graph_imports(cuba, per_neuron, dt, tmp_path):
    logging.getLogger().setLevel(logging.ERROR)
    net = _net(cuba, per_neuron, dt)
    x = (torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    graph = _graph(net)
    with torch.no_grad():
        theirs = _stepwise(net, x)
        ours = import_nir(graph, dt=dt, convention="norse")(x)
        old = import_nir(graph, dt=dt, convention="norse-1.1")(x)
    assert theirs.sum() > 200, "the fixture must fire"
    print(f"spikes {int(theirs.sum())}, agreement {(ours == theirs).float().mean():.4%}, "
          f"as norse-1.1 {(old == theirs).float().mean():.4%}")
    assert (ours == theirs).float().mean() >= 0.995
    assert (old == theirs).float().mean() < 0.99  # reading master's file as 1.1's (τ·dt) is wrong: it must matter
    # torch tensors in memory tell the writer is Norse (or Rockpool/Sinabs); τ ≥ 0.5 ms tells master from 1.1
    assert detect_convention(graph) == "norse"
    reread = import_nir(read_nir(_as_file(graph, tmp_path)), dt=dt, convention="norse")
    with torch.no_grad():
        assert (reread(x) == theirs).float().mean() >= 0.995


def _as_file(graph, tmp_path):
    """Write the graph as a file would hold it (nir.write needs numpy arrays of rank ≥ 1)."""
    for node in graph.nodes.values():
        for k, v in list(vars(node).items()):
            if isinstance(v, torch.Tensor) or (isinstance(v, np.ndarray) and v.ndim == 0):
                v = v.detach().numpy() if isinstance(v, torch.Tensor) else v
                setattr(node, k, np.atleast_1d(np.asarray(v, np.float32)))
    return write_nir(tmp_path / "norse_master.nir", graph)

