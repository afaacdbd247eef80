"""Pareto-frontier DP against brute force (spec §5, §11.4) and a finite symmetric KL (§11.7)."""
import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike.convert import brute_force, pareto_dp, symmetric_kl
from adaspike.convert.search import objective


def _problem(rng, layers, cands):
    obj = [[rng.random() for _ in range(layers)] for _ in range(cands)]
    cost = [[rng.randint(0, 20) * 1.0 for _ in range(layers)] for _ in range(cands)]
    return obj, cost


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10**6), layers=st.integers(1, 5), cands=st.integers(1, 4), frac=st.floats(0, 1))
def test_dp_equals_brute_force(seed, layers, cands, frac):
    rng = random.Random(seed)
    obj, cost = _problem(rng, layers, cands)
    candidates = [10 + k for k in range(cands)]
    budget = frac * sum(max(cost[k][i] for k in range(cands)) for i in range(layers))
    dp, bf = pareto_dp(obj, cost, candidates, budget), brute_force(obj, cost, candidates, budget)
    assert (dp is None) == (bf is None)
    if dp is not None:
        o_dp, c_dp = objective(dp, obj, cost, candidates)
        o_bf, _ = objective(bf, obj, cost, candidates)
        assert math.isclose(o_dp, o_bf, rel_tol=1e-12, abs_tol=1e-12)
        assert c_dp <= budget
        assert len(dp) == layers


def test_dp_returns_layers_in_order():
    # each layer has exactly one cheap-and-good candidate, different per layer: a reversed list is wrong
    candidates = ["a", "b", "c"]
    layers = [0, 1, 2, 0, 2]
    obj = [[0.0 if layers[i] == k else 1.0 for i in range(5)] for k in range(3)]
    cost = [[1.0] * 5 for _ in range(3)]
    assert pareto_dp(obj, cost, candidates, budget=5.0) == ["a", "b", "c", "a", "c"]


def test_budget_row_is_indexed_by_value_when_gamma_min_above_one(monkeypatch):
    from types import SimpleNamespace

    from adaspike.convert import sensitivity
    gammas = [2, 3, 4]
    spikes = [[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]]     # row k ↔ Γ = gammas[k]
    sens = [[1.0, 1.0], [0.3, 0.3], [0.0, 0.0]]
    monkeypatch.setattr(sensitivity, "layer_tables", lambda *a, **k: (sens, spikes))
    snn = SimpleNamespace(neurons=[SimpleNamespace(gamma=4), SimpleNamespace(gamma=4)])
    # Γ_target = 3 → budget 40 → [3, 3]; the reference's row Γ_target − 1 would be Γ = 4 → budget 60 → [4, 4]
    result = sensitivity.allocate_gammas(snn, None, 4, gammas, gamma_target=3, spike_budget=1.0)
    assert result["budget"] == 40.0
    assert result["gammas"] == [3, 3]


def test_dp_rejects_negative_costs():
    with pytest.raises(ValueError):
        pareto_dp([[0.0]], [[-1.0]], [1], 0.0)


def test_symmetric_kl_finite_when_saturated():
    a = torch.tensor([[1e4, -1e4, 0.0], [0.0, 1e4, -1e4]])
    b = torch.tensor([[-1e4, 1e4, 0.0], [0.0, 1e4, -1e4]])
    kl = symmetric_kl(a, b)
    assert math.isfinite(kl) and kl > 0
    assert symmetric_kl(a, a) == 0.0
    x, y = torch.randn(4, 5), torch.randn(4, 5)
    assert math.isclose(symmetric_kl(x, y), symmetric_kl(y, x), rel_tol=1e-9)
