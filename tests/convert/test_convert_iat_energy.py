"""IAT degenerate thresholds and real early exit (§11.5); energy bookkeeping (§11.6)."""
import math

import torch
from torch import nn

from adaspike.convert import ConvertedSNN, ExitPolicy, calibrate_exit_policy, normalised_entropy

T = 6


def _tiny_ann(bias: float = 0.5, weight: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    with torch.no_grad():
        for m in (ann[0], ann[2]):
            m.weight.fill_(weight)
            m.bias.fill_(bias)
    return ann.eval()


def _snn(ann, threshold=1.0):
    snn = ConvertedSNN(ann, T)
    for n in snn.neurons:
        n.threshold.fill_(threshold)
    snn.measure_flops(torch.rand(1, 1, 8, 8))
    return snn


def _random_snn():
    torch.manual_seed(3)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 7)).eval()
    snn = ConvertedSNN(ann, T)
    snn.neurons[0].threshold.fill_(0.3)
    return snn


def test_iat_thresholds_above_one_exit_at_T_with_fixed_T_output():
    snn, x = _random_snn(), torch.rand(20, 1, 8, 8)
    fixed = snn.run(x, T, keep_steps=True)
    late = snn.run(x, T, exit_rule=ExitPolicy(torch.full((T,), 1.5)))
    assert (late.exit_step == T).all()
    assert torch.allclose(late.logits, fixed.logits, atol=1e-6)
    assert torch.allclose(fixed.logits, fixed.step_logits.mean(0), atol=1e-6)


def test_iat_thresholds_below_zero_exit_at_step_one():
    snn, x = _random_snn(), torch.rand(20, 1, 8, 8)
    early = snn.run(x, T, exit_rule=ExitPolicy(torch.full((T,), -0.5)), count_ops=False)
    one_step = snn.run(x, 1)
    assert (early.exit_step == 1).all()
    # one step of a T-step run differs from a 1-step run only by the θ/(2T) shift; compare with the first step
    first = snn.run(x, T, keep_steps=True).step_logits[0]
    assert torch.allclose(early.logits, first, atol=1e-6)
    assert one_step.exit_step.eq(1).all()


def test_real_early_exit_matches_post_hoc_simulation_and_saves_steps():
    snn, x = _random_snn(), torch.rand(64, 1, 8, 8)
    full = snn.run(x, T, keep_steps=True)
    policy = ExitPolicy(torch.linspace(0.02, 0.2, T))
    real = snn.run(x, T, exit_rule=policy)
    assert torch.equal(real.exit_step, policy.exit_steps(full.step_logits))
    cum = full.step_logits.cumsum(0)
    expected = torch.stack([cum[t - 1, b] / t for b, t in enumerate(real.exit_step.tolist())])
    assert torch.allclose(real.logits, expected, atol=1e-5)


def test_calibrated_schedule_has_one_top_threshold_at_lowest_entropy():
    torch.manual_seed(0)
    logits = [torch.randn(T, 50, 10) * 3 for _ in range(3)]
    labels = [l.sum(0).argmax(1) for l in logits]
    policy, mean = calibrate_exit_policy(logits, labels, alpha=0.6, beta=0.4)
    top = torch.isclose(policy.thresholds.double(), torch.tensor(1.0, dtype=torch.float64))
    assert int(top.sum()) == 1 and int(top.double().argmax()) == int(mean.argmin())
    assert (policy.thresholds >= 0.6).all() and (policy.thresholds <= 1.0 + 1e-12).all()
    assert normalised_entropy(torch.zeros(2, 10)).allclose(torch.ones(2, dtype=torch.float64))


def test_no_correct_sample_gives_threshold_one():
    logits = [torch.zeros(T, 4, 3)]
    logits[0][..., 0] = 5.0
    policy, mean = calibrate_exit_policy(logits, [torch.full((4,), 2)], alpha=0.6, beta=0.4)
    assert math.isinf(float(mean[0])) and torch.allclose(policy.thresholds, torch.ones(T, dtype=torch.float64))


def _energy(snn, x):
    out = snn.run(x, T, count_ops=True)
    return out.counter, out.counter.energy_per_layer_pj(), out.counter.sops_per_layer()


def test_energy_dense_inputs():
    snn = _snn(_tiny_ann(bias=1.0), threshold=1.0)          # every neuron fires every step (v ≥ θ each step)
    counter, energy, _ = _energy(snn, torch.rand(3, 1, 8, 8))
    flops = [s.flops for s in snn.synapses]
    assert [s.kind for s in snn.synapses] == ["first", "hidden", "readout"]
    assert flops == [1 * 3 * 9 * 64, 3 * 4 * 9 * 64, 64 * 5]
    expected = T * (4.6 * flops[0] + 0.9 * (flops[1] + flops[2]))
    assert torch.allclose(energy.sum(0), torch.full((3,), expected, dtype=torch.float64))


def test_energy_all_zero_inputs():
    snn = _snn(_tiny_ann(bias=-1.0), threshold=1.0)
    counter, energy, sops = _energy(snn, torch.rand(3, 1, 8, 8))
    f1 = snn.synapses[0].flops
    assert torch.allclose(energy.sum(0), torch.full((3,), T * 4.6 * f1, dtype=torch.float64))
    assert torch.allclose(sops[1:], torch.zeros_like(sops[1:]))


def test_burst_is_one_ac_but_k_sops():
    k = 3
    snn = _snn(_tiny_ann(bias=k * 1.0), threshold=1.0)       # drive kθ per step → bursts of exactly k
    for n in snn.neurons:
        n.gamma = 8
    snn.neurons[1].threshold.fill_(1e6)                       # second layer silent: isolate layer 2's input
    counter, energy, sops = _energy(snn, torch.rand(2, 1, 8, 8))
    f2 = snn.synapses[1].flops
    assert torch.allclose(energy[1], torch.full((2,), T * 0.9 * f2, dtype=torch.float64))
    assert torch.allclose(sops[1], torch.full((2,), T * k * f2, dtype=torch.float64))
