"""The benchmark networks, built from one shared set of weights so every library computes the same thing."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .neurons import AdaspikeLIF, Identity, available_impls, plain_lif_step, step_impls


class FeedForward(nn.Module):
    """Linear → LIF → Linear → LIF → Linear, logits averaged over time (the SHD-shaped 700-256-256-20 net)."""

    def __init__(self, linears: list[nn.Linear], make_neuron):
        super().__init__()
        self.linears = nn.ModuleList(copy.deepcopy(linears))
        self.neurons = nn.ModuleList(make_neuron(l.out_features) for l in linears[:-1])

    def forward(self, x):
        for linear, neuron in zip(self.linears, self.neurons):
            x = neuron(linear(x))  # nn.Linear on [T, B, F] folds time into the batch
        return self.linears[-1](x).mean(0)


class RecurrentLoop(nn.Module):
    """Feed-forward drive for all steps at once, then s_t = neuron(W x_t + V s_{t−1}) step by step (peers)."""

    def __init__(self, linear: nn.Linear, recurrent: torch.Tensor, step_module):
        super().__init__()
        self.linear, self.recurrent, self.steps = linear, nn.Parameter(recurrent.clone()), step_module

    def forward(self, x):
        drive = self.linear(x)
        s, state, out = drive.new_zeros(drive.shape[1:]), None, []
        for t in range(drive.shape[0]):
            d = drive[t] + s @ self.recurrent.T
            s, state = self.steps.step(d * self.steps.scale if self.steps.scale != 1.0 else d, state)
            out.append(s)
        return torch.stack(out)


class AdaspikeRecurrent(nn.Module):
    def __init__(self, linear: nn.Linear, recurrent: torch.Tensor, backend="auto"):
        super().__init__()
        self.linear, self.recurrent = linear, nn.Parameter(recurrent.clone())
        self.neuron = AdaspikeLIF(linear.out_features, backend=backend).lif

    def forward(self, x):
        return self.neuron.run(self.linear(x), recurrent_weight=self.recurrent).spikes


class FloorRecurrent(RecurrentLoop):
    """The recurrent floor: the same T sequential matrix products, no neuron (V has spectral radius ~0.5, so values stay bounded)."""

    def forward(self, x):
        drive = self.linear(x)
        s, out = drive.new_zeros(drive.shape[1:]), []
        for t in range(drive.shape[0]):
            s = drive[t] + s @ self.recurrent.T
            out.append(s)
        return torch.stack(out)


class BatchedFloorRecurrent(RecurrentLoop):
    """The batched recurrent floor (the speed issue's): the recurrent product over all T·B rows in one matrix
    product, as if s_{t−1} were known in advance; no real recurrent network can do this."""

    def forward(self, x):
        drive = self.linear(x)
        return drive + drive @ self.recurrent.T


class PlainStepNet(nn.Module):
    """The plain per-step loop: the whole network on x_t, then on x_{t+1}. Per step each stage runs its synapse
    (Linear or Conv on [B, ...], plus V·s_{t−1} when recurrent), the plain LIF step and an optional pool; the
    readout is averaged over time like the other networks'. ``step(current, state) -> (s, state)`` is the LIF
    step (default ``plain_lif_step``); ``forward(x, record=True)`` also returns the first layer's spikes."""

    def __init__(self, synapses: list[nn.Module], readout: nn.Linear, recurrents=None, pool: nn.Module | None = None,
                 step=plain_lif_step):
        super().__init__()
        self.synapses, self.readout = nn.ModuleList(copy.deepcopy(synapses)), copy.deepcopy(readout)
        self.recurrents = None if recurrents is None else nn.ParameterList(nn.Parameter(r.clone()) for r in recurrents)
        self.pool, self.step = pool, step

    def forward(self, x, record: bool = False):
        states, out, first = [None] * len(self.synapses), 0.0, []
        for t in range(x.shape[0]):
            h = x[t]
            for i, synapse in enumerate(self.synapses):
                d = synapse(h)
                if self.recurrents is not None and states[i] is not None:
                    d = d + states[i][1] @ self.recurrents[i].T
                h, states[i] = self.step(d, states[i])
                if record and i == 0:
                    first.append(h)
                if self.pool is not None:
                    h = self.pool(h)
            out = out + self.readout(h.flatten(1))
        return (out / x.shape[0], torch.stack(first)) if record else out / x.shape[0]


class Recurrent(nn.Module):
    def __init__(self, layers: list[nn.Module], readout: nn.Linear):
        super().__init__()
        self.layers, self.readout = nn.ModuleList(layers), copy.deepcopy(readout)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.readout(x).mean(0)


def shd_weights(seed: int = 0, sizes=(700, 256, 256, 20), gain: float = 4.0):
    """Linear layers and recurrent matrices shared by all implementations (scaled so neurons fire)."""
    g = torch.Generator().manual_seed(seed)
    linears = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g) * gain / a ** 0.5)
            lin.bias.zero_()
        linears.append(lin)
    recurrents = [torch.randn(n, n, generator=g) * 0.5 / n ** 0.5 for n in sizes[1:-1]]
    return linears, recurrents


def shd_networks(recurrent: bool, seed: int = 0) -> dict[str, nn.Module]:
    """adaspike, its reference path, every installed peer, the plain per-step and layer-wise loops and the floor
    (recurrent: the batched floor, and ``floor-step`` with the recurrent products step by step), with identical
    weights."""
    linears, recs = shd_weights(seed)
    if not recurrent:
        nets = {name: FeedForward(linears, make) for name, make in available_impls().items()}
        nets["plain-step"] = PlainStepNet(linears[:-1], linears[-1])
        nets["floor"] = FeedForward(linears, lambda f: Identity())
        return nets
    nets = {
        "adaspike": Recurrent([AdaspikeRecurrent(copy.deepcopy(l), r) for l, r in zip(linears, recs)], linears[-1]),
        "adaspike-ref": Recurrent([AdaspikeRecurrent(copy.deepcopy(l), r, "reference") for l, r in zip(linears, recs)],
                                  linears[-1]),
    }
    for name, make in step_impls().items():
        nets[name] = Recurrent([RecurrentLoop(copy.deepcopy(l), r, make(l.out_features)) for l, r in zip(linears, recs)],
                               linears[-1])
    nets["plain-step"] = PlainStepNet(linears[:-1], linears[-1], recurrents=recs)
    nets["floor"] = Recurrent([BatchedFloorRecurrent(copy.deepcopy(l), r, None) for l, r in zip(linears, recs)],
                              linears[-1])
    nets["floor-step"] = Recurrent([FloorRecurrent(copy.deepcopy(l), r, None) for l, r in zip(linears, recs)],
                                   linears[-1])
    return nets


class ConvNet(nn.Module):
    """conv3x3(3→16) → LIF → pool → conv3x3(16→32) → LIF → pool → linear(2048→10), time folded into batch."""

    def __init__(self, convs: list[nn.Module], head: nn.Linear, make_neuron):
        super().__init__()
        self.convs, self.head = nn.ModuleList(copy.deepcopy(convs)), copy.deepcopy(head)
        self.neurons = nn.ModuleList(make_neuron(None) for _ in convs)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        T, B = x.shape[:2]
        for conv, neuron in zip(self.convs, self.neurons):
            y = conv(x.reshape(T * B, *x.shape[2:]))
            x = self.pool(neuron(y.reshape(T, B, *y.shape[1:])).reshape(T * B, *y.shape[1:]))
            x = x.reshape(T, B, *x.shape[1:])
        return self.head(x.reshape(T, B, -1)).mean(0)


def conv_networks(seed: int = 0) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    convs = [nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)]
    with torch.no_grad():
        for c in convs:
            c.weight.mul_(3.0)
    head = nn.Linear(32 * 8 * 8, 10)
    nets = {name: ConvNet(convs, head, make) for name, make in available_impls().items()}
    nets["plain-step"] = PlainStepNet(convs, head, pool=nn.AvgPool2d(2))
    nets["floor"] = ConvNet(convs, head, lambda f: Identity())
    return nets
