"""A layer's discretisation is reused only while it cannot have changed, and never when gradients need it."""
import pytest
import torch

from adaspike.layers import LIF, LeakyIntegrator, clear_ssm_cache
from adaspike.layers.discretisation_cache import layer_ssm


def _built(layer, monkeypatch):
    calls = []
    original = type(layer).ssm
    monkeypatch.setattr(type(layer), "ssm", lambda self, dt=None: calls.append(1) or original(self, dt))
    return calls


def test_reused_in_inference_and_rebuilt_after_an_update(monkeypatch):
    layer, fresh = LIF(5, tau=0.02), LIF(5, tau=0.02).state_dict()
    calls = _built(layer, monkeypatch)
    x = 40 * torch.rand(30, 2, 5)
    with torch.no_grad():
        first = layer(x)
        assert first.sum() > 0
        assert torch.equal(layer(x), first) and len(calls) == 1
        layer.tau.raw.add_(3.0)  # an in-place update, like an optimiser step: a slower neuron
        changed = layer(x)
    assert len(calls) == 2 and not torch.equal(changed, first)
    layer.load_state_dict(fresh)
    with torch.no_grad():
        assert torch.equal(layer(x), first) and len(calls) == 3


def test_dt_dtype_and_inference_mode_are_part_of_the_key(monkeypatch):
    layer = LIF(3, learn_tau=False)
    calls = _built(layer, monkeypatch)
    x = torch.rand(4, 2, 3)
    layer(x)
    layer.dt = 2e-3
    assert layer_ssm(layer, x).dt == 2e-3
    assert layer_ssm(layer, x.double()).H.dtype == torch.float64
    with torch.inference_mode():
        layer(x)
    n = len(calls)
    y = x.clone().requires_grad_(True)
    layer(y).sum().backward()  # not an inference tensor from the cache: backward works
    assert len(calls) == n + 1 and y.grad is not None


def test_learnable_parameters_get_a_fresh_graph_every_call(monkeypatch):
    layer = LIF(3)
    calls = _built(layer, monkeypatch)
    x = torch.rand(6, 2, 3) * 3
    for _ in range(2):
        layer.zero_grad()
        layer(x).sum().backward()
        assert layer.tau.raw.grad is not None and bool(layer.tau.raw.grad.abs().sum() > 0)
    assert len(calls) == 2


def test_data_writes_need_an_explicit_clear():
    layer = LeakyIntegrator(3, learn_tau=False)
    x = torch.rand(5, 1, 3)
    before = layer(x)
    for p in layer.parameters(recurse=True):
        p.data.mul_(0.5)
    for b in layer.buffers():
        b.data.mul_(0.5)
    clear_ssm_cache(layer)
    assert not torch.equal(layer(x), before)
