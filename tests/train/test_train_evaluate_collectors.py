"""``adaspike.train.evaluate`` is the one evaluation loop: collectors watch its pass, accuracy is an exact
fraction, and the studies that used loops of their own (coding, the ANN of the convert study) get the same
numbers from it."""
from contextlib import contextmanager

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from adaspike.layers.adaptive import PerStepLIF
from adaspike.layers.norm import TemporalBatchNorm
from adaspike.metrics import MetricsCollector
from adaspike.models import build_model
from adaspike.studies.coding import batch_loader, evaluate_with_spikes
from adaspike.train import SpikeRateMonitor, Trainer, evaluate


class BatchCounter:
    """A collector: counts the batches and samples the watched model's forward passes see."""

    def __init__(self):
        self.entered = self.exited = 0
        self.batches = self.samples = 0

    @contextmanager
    def watch(self, model):
        self.entered += 1
        handle = model.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()
            self.exited += 1

    def _hook(self, module, args, output):
        self.batches += 1
        self.samples += output.shape[0]


def _coding_net(bn_mode="flat", seed=0):
    """An untrained coding-study LeNet, its weights scaled up so that its neurons spike."""
    torch.manual_seed(seed)
    net = build_model("lenet", T=2, encoding="hybrid", adaptive="on", num_classes=10, width=4, input_size=(8, 8),
                      bn_mode=bn_mode, seed=seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(10)
    return net


def _images(n=40, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


@torch.no_grad()
def _old_coding_loop(model, loader, train_bn=False):
    """The coding study's own loop before issue 30 (``evaluate_with_spikes``), kept as the reference."""
    model.eval()
    norms = [m for m in model.modules() if isinstance(m, TemporalBatchNorm)]
    for m in norms:
        m.train_bn_at_eval = train_bn
    counts = [0.0]
    hooks = [m.register_forward_hook(lambda mod, inp, out: counts.__setitem__(0, counts[0] + float(out.sum())))
             for m in model.modules() if isinstance(m, PerStepLIF)]
    correct = loss = total = 0.0
    try:
        for x, y in loader:
            logits = model(x)
            correct += float((logits.argmax(-1) == y).sum())
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            total += len(y)
    finally:
        for h in hooks:
            h.remove()
        for m in norms:
            m.train_bn_at_eval = False
    return {"accuracy": correct / total, "test_loss": loss / total, "spikes_per_sample": counts[0] / total}


def test_a_collector_is_entered_once_and_sees_every_batch():
    net = _coding_net()
    x, y = _images(37)
    loader = batch_loader(x, y, 8)
    counter = BatchCounter()
    result = evaluate(net, loader, collectors=[counter])
    assert (counter.entered, counter.exited) == (1, 1)
    assert counter.batches == len(loader) == 5 and counter.samples == result["samples"] == 37
    assert not net._forward_hooks  # nothing stays on the model
    assert not any(m._forward_hooks for m in net.modules())
    assert result["spike_rates"]  # the default SpikeRateMonitor still reports


def test_collectors_watch_a_custom_forward_too():
    net = nn.Linear(4, 3)
    data = [(torch.randn(5, 4), torch.randint(0, 3, (5,)), "tag") for _ in range(3)]
    counter = BatchCounter()
    result = evaluate(net, data, forward=lambda model, batch: (model(batch[0]), batch[1]), collectors=[counter])
    assert counter.batches == 3 and counter.samples == result["samples"] == 15


def test_a_metrics_collector_counts_the_loaders_samples_and_matches_watching_from_outside():
    net = _coding_net()
    x, y = _images(30)
    inside = MetricsCollector()
    result = evaluate(net, batch_loader(x, y, 7), collectors=[inside])
    outside = MetricsCollector()
    with outside.watch(net):
        again = evaluate(net, batch_loader(x, y, 7))
    assert inside.samples == result["samples"] == len(y) == 30 and inside.batches == 5
    assert inside.result()["adaspike"] == outside.result()["adaspike"]
    assert result == again


def test_the_coding_study_numbers_equal_its_old_loop():
    x, y = _images(45)
    results = []
    for bn_mode, train_bn in (("flat", False), ("shared", False), ("shared", True)):
        old = _old_coding_loop(_coding_net(bn_mode), batch_loader(x, y, 16), train_bn=train_bn)
        net = _coding_net(bn_mode)
        new = evaluate_with_spikes(net, batch_loader(x, y, 16), "cpu", train_bn=train_bn)
        assert new == old, (bn_mode, train_bn)
        assert new["spikes_per_sample"] > 0
        results.append(new)
        assert not any(m.train_bn_at_eval for m in net.modules() if isinstance(m, TemporalBatchNorm))
    assert results[2] != results[1]  # batch statistics do change the numbers


def test_evaluate_with_spikes_counts_only_per_step_lif_layers():
    net = _coding_net()
    x, y = _images(20)
    monitor = SpikeRateMonitor(kinds=PerStepLIF)
    result = evaluate_with_spikes(net, batch_loader(x, y, 10), collectors=[monitor])
    assert result["spikes_per_sample"] == pytest.approx(monitor.total_spikes() / 20)
    assert set(monitor.totals) == {n for n, m in net.named_modules() if isinstance(m, PerStepLIF)}


def test_accuracy_is_an_exact_fraction_and_the_ann_loop_of_the_convert_study_agrees():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    x, y = torch.randn(50, 6), torch.randint(0, 4, (50,))
    loader = DataLoader(TensorDataset(x, y), batch_size=3)
    with torch.no_grad():  # the convert study's train_ann before issue 30
        correct = sum(int((ann(a).argmax(1) == b).sum()) for a, b in loader)
    result = evaluate(ann, loader, device="cpu")
    assert result["accuracy"] == correct / len(y)  # exact: counts, not batch means times batch sizes
    logits = torch.eye(3).repeat(4, 1)[:10]          # predicts 0, 1, 2, 0, 1, ... ; 7 of 10 right
    labels = logits.argmax(1).clone()
    labels[[1, 5, 9]] = (labels[[1, 5, 9]] + 1) % 3
    exact = evaluate(nn.Identity(), DataLoader(TensorDataset(logits, labels), batch_size=3))
    assert exact["accuracy"] == 0.7


def test_a_summed_loss_gives_the_same_mean_loss_and_the_mode_is_restored():
    net = _coding_net()
    net.train()
    x, y = _images(25)
    mean = evaluate(net, batch_loader(x, y, 10))
    summed = evaluate(net, batch_loader(x, y, 10), nn.CrossEntropyLoss(reduction="sum"))
    assert summed["loss"] == pytest.approx(mean["loss"], rel=1e-5) and summed["accuracy"] == mean["accuracy"]
    assert net.training


def test_trainer_evaluate_passes_collectors_on():
    net = nn.Sequential(nn.Linear(4, 3))
    data = [(torch.randn(6, 4), torch.randint(0, 3, (6,))) for _ in range(2)]
    counter = BatchCounter()
    result = Trainer(net, epochs=1, progress=False, log_file=False).evaluate(data, collectors=[counter])
    assert counter.batches == 2 and counter.samples == result["samples"] == 12
