"""adaspike.metrics: NeuroBench's numbers on feed-forward models, burst-aware and recurrent counts, energy."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from adaspike.layers import LIF, NeuronLayer, TimeFolded
from adaspike.metrics import EnergyModel, MetricsCollector, connection_sparsity, measure, summary_row
from adaspike.models import build_model


def _events(T, B, F, seed, bursts=False, batches=3):
    g = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(batches):
        x = (torch.rand(T, B, F, generator=g) < 0.3).float()
        if bursts:
            x = x * torch.randint(1, 4, (T, B, F), generator=g)
        data.append((x, torch.randint(0, 3, (B,), generator=g)))
    return data


def _prune(model, fraction=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.mul_((torch.rand(p.shape, generator=g) > fraction).to(p))


def _mlp(recurrent=False):
    torch.manual_seed(0)
    model = build_model("snn", input_shape=[12], classes=3, hidden=[10, 8], neuron="lif", recurrent=recurrent)
    _prune(model)
    return model


def _brute_pairs(x: torch.Tensor, weight: torch.Tensor) -> float:
    """Σ_rows Σ_i Σ_j x[row, i]·1[W[j, i] ≠ 0], by explicit loops."""
    rows = x.reshape(-1, x.shape[-1])
    total = 0.0
    for r in range(rows.shape[0]):
        for i in range(rows.shape[1]):
            if rows[r, i] != 0:
                total += float(rows[r, i].abs()) * int((weight[:, i] != 0).sum())
    return total


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(2, 6), st.integers(0, 10_000), st.integers(1, 5))
def test_burst_of_k_costs_k_acs(T, B, F, seed, cap):
    g = torch.Generator().manual_seed(seed)
    linear = nn.Linear(F, 3)
    with torch.no_grad():
        linear.weight.mul_((torch.rand(linear.weight.shape, generator=g) > 0.4).float())
    model = nn.Sequential(TimeFolded(linear))
    x = torch.randint(0, cap + 1, (T, B, F), generator=g).float()
    collector = MetricsCollector()
    with collector.watch(model):
        model(x)
    result = collector.result()
    layer, n = result["layers"][0], result["samples"]     # samples: the output's first axis (here T)
    assert layer["acs"] * n == pytest.approx(_brute_pairs(x, linear.weight))
    assert layer["macs"] == 0
    assert layer["dense"] * n == T * B * F * 3
    binary = bool(((x == 0) | (x == 1)).all())
    nb_effective = _brute_pairs((x != 0).float(), linear.weight) / n
    assert (layer["neurobench_acs"], layer["neurobench_macs"]) == \
        pytest.approx((nb_effective, 0.0) if binary else (0.0, nb_effective))


def test_analog_input_costs_macs():
    linear = nn.Linear(4, 2)
    x = torch.randn(3, 2, 4)
    collector = MetricsCollector()
    model = nn.Sequential(TimeFolded(linear))
    with collector.watch(model):
        model(x)
    result = collector.result()
    layer = result["layers"][0]
    assert layer["acs"] == 0 and layer["macs"] == pytest.approx(layer["neurobench_macs"]) == pytest.approx(
        _brute_pairs((x != 0).float(), linear.weight) / result["samples"])


def test_recurrent_synapses_are_counted():
    model = _mlp(recurrent=True)
    data = _events(9, 4, 12, seed=1)
    spikes = []
    hook = model.hidden[0].register_forward_hook(lambda m, a, out: spikes.append(out.detach()))
    result = measure(model, data)
    hook.remove()
    rec = next(layer for layer in result["layers"] if layer["layer"] == "hidden.0.recurrent")
    expected = sum(_brute_pairs(s[:-1], model.hidden[0].recurrent) for s in spikes[:len(data)]) / 12
    assert rec["acs"] == pytest.approx(expected)
    assert rec["dense"] == 9 * 10 * 10
    assert rec["neurobench_acs"] == rec["neurobench_macs"] == 0  # NeuroBench's hooks cannot see it
    assert result["adaspike"]["recurrent_acs"] == pytest.approx(sum(
        layer["acs"] for layer in result["layers"] if layer["kind"] == "recurrent"))
    zeros = sum(int((w == 0).sum()) for w in (model.hidden[0].recurrent, model.hidden[1].recurrent))
    assert result["static"]["connection_sparsity"] > result["static"]["connection_sparsity_feedforward"] or zeros == 0
    assert connection_sparsity(model, recurrent=False) == result["static"]["connection_sparsity_feedforward"]


def test_membrane_updates_follow_neurobench_rule():
    # no input: the membrane never moves, so only the first step counts (NeuroBench counts it for every neuron)
    body = nn.Sequential(TimeFolded(nn.Linear(5, 7)), LIF(7, dt=1e-3))
    with torch.no_grad():
        body[0].module.weight.zero_()
        body[0].module.bias.zero_()
    model = _time_mean(body, T=6)
    result = measure(model, [(torch.zeros(6, 2, 5), torch.zeros(2, dtype=torch.long))])
    assert result["neurobench"]["membrane_updates"] == 7  # 7 neurons, per sample
    assert result["neurobench"]["neuron_operations"]["Effective Neuron Ops"] == 7 * 4
    assert result["neurobench"]["neuron_operations"]["Neuron Dense Ops"] == 7 * 6 * 4
    assert result["neurobench"]["activation_sparsity"] == 1.0


def test_watch_leaves_no_trace():
    model = _mlp(recurrent=True)
    before = {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for name, m in model.named_modules()}
    collector = MetricsCollector()
    with collector.watch(model):
        assert "run" in model.hidden[0].neuron.__dict__
        model(_events(4, 2, 12, 0)[0][0])
    after = {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for name, m in model.named_modules()}
    assert before == after
    assert all("run" not in m.__dict__ for m in model.modules() if isinstance(m, NeuronLayer))


def test_metrics_do_not_change_outputs():
    model = _mlp(recurrent=True).eval()
    x = _events(5, 3, 12, 2, bursts=True)[0][0]
    with torch.no_grad():
        plain = model(x)
        with MetricsCollector().watch(model):
            watched = model(x)
    assert torch.equal(plain, watched)


def test_energy_per_layer_sample_and_second():
    model = _mlp(recurrent=True)
    result = measure(model, _events(10, 4, 12, 3, bursts=True), energy=EnergyModel(mac_pj=2.0, ac_pj=0.5))
    ada = result["adaspike"]
    assert ada["energy_pj"] == pytest.approx(2.0 * ada["macs"] + 0.5 * ada["acs"])
    assert ada["energy_pj"] == pytest.approx(sum(layer["energy_pj"] for layer in result["layers"]))
    assert result["input_seconds"] == pytest.approx(10 * model.hidden[0].neuron.dt)
    assert ada["energy_pj_per_second"] == pytest.approx(ada["energy_pj"] / result["input_seconds"])
    assert result["samples"] == 12
    assert summary_row(result, "m")["energy_uJ"] == round(ada["energy_pj"] / 1e6, 4)
    with pytest.raises(ValueError, match="mac_pj"):
        EnergyModel(mac_pj=-1)


def test_input_step_other_than_the_model_dt():
    """A model run on data binned at another step (retime's method "none"): per-second figures use the data's."""
    model = _mlp(recurrent=False)
    collector = MetricsCollector()
    with collector.watch(model), torch.no_grad():
        for x, _ in _events(10, 4, 12, 3):
            model(x)
    own = collector.result()
    other = collector.result(step_s=4 * model.hidden[0].neuron.dt)
    assert other["input_seconds"] == pytest.approx(4 * own["input_seconds"])
    assert other["adaspike"]["energy_pj_per_second"] == pytest.approx(own["adaspike"]["energy_pj_per_second"] / 4)
    assert other["adaspike"]["energy_pj"] == own["adaspike"]["energy_pj"] and other["dt_s"] == own["dt_s"]
    for bad in (0.0, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="step_s"):
            collector.result(step_s=bad)


def test_coding_model_and_retimed_model_run():
    from adaspike.retime import retime

    coding = build_model("spiking-resnet", T=2, width=4, stages=1, encoding="direct")
    images = [(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))]
    result = measure(coding, images)
    assert result["adaspike"]["macs"] > 0          # the direct-coded stem multiplies
    assert result["adaspike"]["acs"] > 0 or result["neurobench"]["activation_sparsity"] == 1.0
    source = _mlp(recurrent=True)
    fine = retime(source, dt=2e-3)
    r_src = measure(source, _events(8, 2, 12, 4))
    r_fine = measure(fine, [(x.repeat_interleave(2, 0) * 0, y) for x, y in _events(8, 2, 12, 4)])
    assert r_fine["steps"] == 2 * r_src["steps"] and r_fine["dt_s"] == pytest.approx(r_src["dt_s"] / 2)
    assert r_fine["input_seconds"] == pytest.approx(r_src["input_seconds"])


# -- the cross-check against the neurobench package ------------------------------------------------------------

class BatchFirst(nn.Module):
    """NeuroBench feeds [B, T, ...]; adaspike models are time-major."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.transpose(0, 1))


def _conv_model():
    torch.manual_seed(1)
    model = nn.Sequential(TimeFolded(nn.Conv2d(2, 4, 3, padding=1)), LIF((4, 6, 6), dt=1e-3),
                          TimeFolded(nn.Conv2d(4, 3, 3, stride=2)), LIF((3, 2, 2), dt=1e-3),
                          TimeFolded(nn.Flatten()), TimeFolded(nn.Linear(12, 3)))
    _prune(model)
    return model


@pytest.mark.parametrize("case", ["mlp-binary", "mlp-counts", "conv-binary"])
def test_equal_to_neurobench(case):
    nb = pytest.importorskip("neurobench", reason="the neurobench package (optional test dependency) is absent")
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    if case.startswith("mlp"):
        net = BatchFirst(_mlp(recurrent=False))
        data = [(x.transpose(0, 1), y) for x, y in _events(7, 4, 12, 5, bursts=case == "mlp-counts")]
    else:
        net = BatchFirst(_time_mean(_conv_model(), T=5))
        g = torch.Generator().manual_seed(6)
        data = [((torch.rand(4, 5, 2, 6, 6, generator=g) < 0.3).float(), torch.randint(0, 3, (4,), generator=g))
                for _ in range(3)]
    dataset = torch.utils.data.TensorDataset(torch.cat([x for x, _ in data]), torch.cat([y for _, y in data]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=False)
    ours = measure(net, loader)

    model = TorchModel(net)
    model.add_activation_module(NeuronLayer)
    benchmark = Benchmark(model, loader, [], [], [[Footprint, ParameterCount, ConnectionSparsity],
                                                  [ActivationSparsity, SynapticOperations]])
    theirs = benchmark.run(quiet=True)
    assert nb is not None
    assert theirs["Footprint"] == ours["static"]["footprint_bytes"]
    assert theirs["ParameterCount"] == ours["static"]["parameter_count"]
    assert theirs["ConnectionSparsity"] == round(ours["static"]["connection_sparsity"], 4)
    assert theirs["ActivationSparsity"] == pytest.approx(ours["neurobench"]["activation_sparsity"], rel=1e-12)
    sops = ours["neurobench"]["synaptic_operations"]
    for key in ("Effective_MACs", "Effective_ACs", "Dense"):
        assert theirs["SynapticOperations"][key] == pytest.approx(sops[key], rel=1e-12), key
    if case == "mlp-counts":  # the counts that differ on purpose: bursts are k ACs, not MACs
        assert sops["Effective_MACs"] > 0 and ours["adaspike"]["acs"] > sops["Effective_ACs"]


def _time_mean(body, T):
    class Mean(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x).mean(0)
    return Mean()


def test_convert_energy_is_the_metrics_energy_model():
    from adaspike.convert import energy as convert_energy
    from adaspike.metrics import energy

    assert (convert_energy.E_MAC_PJ, convert_energy.E_AC_PJ) == (energy.E_MAC_PJ, energy.E_AC_PJ) == (4.6, 0.9)
    counter = convert_energy.OperationCounter(["stem", "fc"], ["first", "hidden"], [10, 20], batch=2)
    counter.steps[:] = 3
    counter.density[1] = torch.tensor([0.5, 1.0], dtype=torch.float64)
    assert counter.energy_per_layer_pj().tolist() == [[4.6 * 10 * 3] * 2, [0.9 * 20 * 0.5, 0.9 * 20 * 1.0]]
    assert convert_energy.ann_energy_pj([10, 20]) == pytest.approx(4.6 * 30)
    conv, out = nn.Conv2d(2, 3, 3), torch.zeros(1, 3, 5, 5)
    assert convert_energy.layer_flops(conv, None, out) == energy.nominal_macs(conv, out) == 2 * 3 * 9 * 25


def test_layer_plot():
    from adaspike.report.plots import layer_operations

    result = measure(_mlp(recurrent=True), _events(6, 2, 12, 7, bursts=True))
    fig = layer_operations(result["layers"])
    assert len(fig.axes) == 2 and len(fig.axes[1].patches) == len(result["layers"])


def test_converted_model_inside_its_own_evaluation():
    from adaspike.convert import convert, evaluate_snn

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 3, (16,))
    out = convert(ann, [x], T=3, adafire=True)
    snn = out[0] if isinstance(out, tuple) else out
    collector = MetricsCollector()
    with collector.watch(snn.graph_module):    # called once per step: the samples come from the evaluation
        result = evaluate_snn(snn, [(x[:8], y[:8]), (x[8:], y[8:])], 3)
    metrics = collector.result(samples=result["samples"])
    assert metrics["samples"] == 16
    stem = metrics["layers"][0]
    # analog image (all pixels > 0) at every step: 3 steps x 4 channels x the in-bound taps of a padded 3x3 conv
    # on 8x8, (6·3 + 2·2)² per channel
    assert stem["macs"] == stem["neurobench_macs"] == 3 * 4 * 22 ** 2
    assert stem["dense"] == 3 * 4 * 22 ** 2
    assert 0 <= metrics["neurobench"]["activation_sparsity"] <= 1


def test_graded_spikes_of_a_converted_model_count_as_their_spike_counts():
    """n·θ feeding a Linear directly: adaspike counts n ACs per non-zero weight, NeuroBench MACs."""
    from adaspike.convert import convert, evaluate_snn
    from adaspike.convert.energy import spike_counts
    from adaspike.convert.neuron import ConversionNeuron

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.rand(32, 12), torch.randint(0, 3, (32,))
    out = convert(ann, [x], T=4, adafire=True)
    snn = out[0] if isinstance(out, tuple) else out
    neurons = [m for m in snn.graph_module.modules() if isinstance(m, ConversionNeuron)]
    seen = {id(m): [] for m in neurons}
    handles = [m.register_forward_hook(lambda m, a, o: seen[id(m)].append(spike_counts(m, o))) for m in neurons]
    collector = MetricsCollector()
    with collector.watch(snn.graph_module):
        result = evaluate_snn(snn, [(x, y)], 4)
    for h in handles:
        h.remove()
    metrics = collector.result(samples=result["samples"])
    linears = [m for m in snn.graph_module.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3 and len(neurons) == 2
    counts = [torch.cat(seen[id(m)]) for m in neurons]
    assert all(bool((c == c.round()).all()) and float(c.max()) > 1 for c in counts)   # bursts happen
    for layer, (linear, fed_by) in zip(metrics["layers"][1:], zip(linears[1:], counts)):
        fan_out = (linear.weight != 0).sum(0).to(torch.float64)
        expected = float((fed_by.to(torch.float64) @ fan_out).sum()) / 32
        assert layer["acs"] == pytest.approx(expected) and layer["macs"] == 0
        assert layer["neurobench_macs"] > 0 and layer["neurobench_acs"] == 0       # graded values, for NeuroBench
