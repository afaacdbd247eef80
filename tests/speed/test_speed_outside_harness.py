"""The outside harness (benchmarks.outside) times the networks it claims to: adaspike built from its public layers
at default arguments computes the plain loops' network, spike for spike, and a training step learns."""
from __future__ import annotations

import pytest
import torch

outside = pytest.importorskip("benchmarks.outside")

QUICK = ["ff-infer", "rec-infer", "conv-train"]


@pytest.mark.parametrize("name", QUICK)
def test_adaspike_default_layers_spike_like_the_plain_loop(name):
    assert outside.spike_agreement(outside.WORKLOADS[name]) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ff-infer", "rec-infer", "conv-train"])
def test_plain_layerwise_and_per_step_loops_agree(name):
    work = outside.WORKLOADS[name]
    x, _ = outside.inputs(work)
    with torch.no_grad():
        per_step = outside.plain_net(work, layerwise=False)(x)
        layerwise = outside.plain_net(work, layerwise=True)(x)
        ours = outside.adaspike_net(work)(x)
    torch.testing.assert_close(layerwise, per_step, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours, per_step, rtol=1e-4, atol=1e-4)


def test_the_default_lif_fires_on_the_benchmark_weights():
    # a silent network would time nothing but matrix products
    work = outside.WORKLOADS["ff-infer"]
    x, _ = outside.inputs(work)
    with torch.no_grad():
        spikes = outside.adaspike_net(work).body[0](x)
    assert 0.02 < float(spikes.mean()) < 0.5


def test_worker_times_each_workload_and_checks_spikes():
    result = outside.worker("adaspike", ["rec-infer"], threads=1, reps=1)
    assert result["rec-infer"] > 0 and result["rec-infer:agreement"] == 1.0


def test_summary_ratio_is_fastest_other_over_adaspike():
    rounds = [{"adaspike": {"w": 10.0, "w:agreement": 1.0}, "plain-step": {"w": 30.0}, "plain-layer": {"w": 20.0},
               "floor": {"w": 8.0}}] * 3
    outside.GOALS["w"] = 1.5
    try:
        row = outside.summarise(rounds, ["w"])["w"]
    finally:
        del outside.GOALS["w"]
    assert row["ratio_median"] == 2.0 and row["fastest_other"] == "plain-layer"
    assert row["floor_ratio_median"] == 10.0 / 8.0
