"""The outside harness's table (issue 33): `python -m benchmarks.outside [--rounds 5] [--threads 2] [--out FILE]`.

Written the way an outside user would time adaspike, not the way the project's own ``benchmarks.run`` does:

* adaspike's networks come from the public layers API with **default arguments** (``LIF(n)``: learnable τ,
  dt = 1 ms, τ = 20 ms, ZOH), stacked with ``spiking_linear`` / ``RecurrentSpikingLayer`` / ``spiking_conv2d``;
* every library runs in **its own worker process**, in shuffled rounds (a fresh order of libraries and of
  workloads every round), on ``--threads`` torch threads each;
* the plain-PyTorch loops compute the same network with the same per-step decay α and gain b as adaspike's
  layer: ``plain-step`` (the whole network one step at a time) and ``plain-layer`` (each Linear/Conv over all
  T·B rows at once, then a Python loop of the LIF step; recurrent: + V·s_{t−1} per step);
* before timing, adaspike's spikes are checked against the plain per-step loop's (must agree 100 %);
* peers (snntorch, Norse, SpikingJelly) run their own LIF at the same α with the drive scaled by b: the same
  cost, not bit-equal spikes;
* ``floor``: the same matrix products and convolutions with no neuron (recurrent: the T sequential products).

Workloads (exactly the issue's shapes): feed-forward 700 → 256 → 256 → 20 LIF, T = 100, B = 64, inference and
training step; the same recurrent; feed-forward at T = 1000, B = 16, inference; conv 3×32×32 → conv3×3 32 → LIF →
avg-pool 2 → conv3×3 64 → LIF → avg-pool 2 → linear 10, T = 8, B = 32, training step. A training step is
zero_grad, forward, cross-entropy on the time-averaged logits, backward and an SGD step.

Per round and workload the ratio is (fastest plain loop or peer) ÷ adaspike, from each worker's median of
``--reps`` calls (at least 2; fewer than ``--reps`` once a workload has taken 2 s); the table gives the median
ratio over rounds and its range.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from .networks import PlainStepNet
from .neurons import PlainSpike

DT, TAU = 1e-3, 20e-3                     # adaspike's LIF defaults


def _default_lif_step() -> tuple[float, float]:
    """The per-step decay α and gain b of a default ``LIF`` (ZOH: α = exp(−dt/τ), b = 1 − α), as the layer
    computes them: τ passes through its log-parameterisation, so α differs from math.exp(−0.05) in the 9th digit,
    enough to flip a few spikes in 10⁷."""
    from adaspike.layers import LIF

    with torch.no_grad():
        ssm = LIF(1).ssm()
    return float(ssm.H.flatten()[0]), float(ssm.B.flatten()[0])


ALPHA, GAIN = _default_lif_step()


@dataclass(frozen=True)
class Workload:
    kind: str                             # "ff", "rec" or "conv"
    T: int
    B: int
    train: bool


WORKLOADS = {
    "ff-infer": Workload("ff", 100, 64, False),
    "ff-train": Workload("ff", 100, 64, True),
    "rec-infer": Workload("rec", 100, 64, False),
    "rec-train": Workload("rec", 100, 64, True),
    "ff-T1000-infer": Workload("ff", 1000, 16, False),
    "conv-train": Workload("conv", 8, 32, True),
}
GOALS = {"ff-infer": 1.5, "ff-train": 1.5, "rec-infer": 1.5, "rec-train": 1.5, "ff-T1000-infer": 1.5,
         "conv-train": 1.0}
MIN_REPS, BUDGET_S = 2, 2.0   # a slow loop (a peer at T = 1000) stops after 2 calls once it has run 2 s
LIBRARIES = ("adaspike", "plain-step", "plain-layer", "snntorch", "norse", "spikingjelly", "floor")
SIZES = (700, 256, 256, 20)


# -- the shared weights ------------------------------------------------------------------------------------------
def dense_weights(seed: int = 0):
    """Linear weights and recurrent matrices scaled so that b·W·x makes the default LIF fire (~10-20 %)."""
    g = torch.Generator().manual_seed(seed)
    linears, recurrents = [], []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        lin = nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g) * 3.0 / (GAIN * a ** 0.5))
            lin.bias.zero_()
        linears.append(lin)
    for n in SIZES[1:-1]:
        recurrents.append(torch.randn(n, n, generator=g) * 1.0 / (GAIN * n ** 0.5))
    return linears, recurrents


def conv_weights(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    convs = [nn.Conv2d(3, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)]
    with torch.no_grad():
        for conv in convs:
            fan_in = conv.in_channels * 9
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 3.0 / (GAIN * fan_in ** 0.5))
            conv.bias.zero_()
    head = nn.Linear(64 * 8 * 8, 10)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=g) / head.in_features ** 0.5)
        head.bias.zero_()
    return convs, head


def inputs(work: Workload, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    shape = (work.T, work.B, 3, 32, 32) if work.kind == "conv" else (work.T, work.B, SIZES[0])
    x = (torch.rand(shape, generator=g) < 0.1).float()   # sparse binary input, as event data
    return x, torch.randint(0, 10, (work.B,), generator=g)


# -- plain PyTorch, as a user writes it --------------------------------------------------------------------------
def plain_step(current, state):
    """v = α(v − s) + b·I, s = Θ(v − 1), with adaspike's fast-sigmoid surrogate (``benchmarks.neurons``)."""
    v = GAIN * current if state is None else ALPHA * (state[0] - state[1]) + GAIN * current
    s = PlainSpike.apply(v - 1.0)
    return s, (v, s)


def shared_layers(work: Workload):
    """Fresh copies of the workload's synapses, readout and recurrent matrices (None when feed-forward)."""
    if work.kind == "conv":
        convs, head = conv_weights()
        return [copy.deepcopy(c) for c in convs], copy.deepcopy(head), None
    linears, recs = dense_weights()
    return ([copy.deepcopy(l) for l in linears[:-1]], copy.deepcopy(linears[-1]),
            [r.clone() for r in recs] if work.kind == "rec" else None)


def _folded(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module`` over all T·B rows of [T, B, ...] at once, back to [T, B, ...]."""
    T, B = x.shape[:2]
    y = module(x.reshape(T * B, *x.shape[2:]))
    return y.reshape(T, B, *y.shape[1:])


class LayerwiseNet(nn.Module):
    """Each synapse over all T·B rows at once, then a Python loop of ``step(current, state) -> (s, state)``
    (recurrent: + V·s_{t−1} per step; conv: avg-pool 2 after each layer), the readout averaged over time."""

    def __init__(self, work: Workload, make_step):
        super().__init__()
        synapses, self.readout, recurrents = shared_layers(work)
        self.synapses, self.conv = nn.ModuleList(synapses), work.kind == "conv"
        self.recurrents = None if recurrents is None else nn.ParameterList(nn.Parameter(r) for r in recurrents)
        self.steps = [make_step() for _ in synapses]
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        T, B = x.shape[:2]
        for i, synapse in enumerate(self.synapses):
            drive = _folded(synapse, x)
            state, s, out = None, None, []
            for t in range(T):
                d = drive[t]
                if self.recurrents is not None and s is not None:
                    d = d + s @ self.recurrents[i].T
                s, state = self.steps[i](d, state)
                out.append(s)
            x = torch.stack(out)
            if self.conv:
                x = _folded(self.pool, x)
        return self.readout(x.reshape(T, B, -1)).mean(0)


# -- the networks of each library --------------------------------------------------------------------------------
def adaspike_net(work: Workload):
    """adaspike from its public layers API, default arguments."""
    from adaspike.layers import LIF, RecurrentSpikingLayer, TimeFolded, spiking_conv2d, spiking_linear

    synapses, readout, recurrents = shared_layers(work)
    layers = []
    for i, synapse in enumerate(synapses):
        if work.kind == "conv":
            layer = spiking_conv2d(synapse.in_channels, synapse.out_channels, 3, LIF((synapse.out_channels, 1, 1)))
        elif recurrents is not None:
            layer = RecurrentSpikingLayer(synapse.in_features, synapse.out_features, LIF(synapse.out_features))
            with torch.no_grad():
                layer.recurrent.copy_(recurrents[i])
        else:
            layer = spiking_linear(synapse.in_features, synapse.out_features, LIF(synapse.out_features))
        layer.synapse.module.load_state_dict(synapse.state_dict())
        layers += [layer, TimeFolded(nn.AvgPool2d(2))] if work.kind == "conv" else [layer]
    head = TimeFolded(nn.Sequential(nn.Flatten(), readout) if work.kind == "conv" else readout)
    return _MeanOverTime(nn.Sequential(*layers, head))


class _MeanOverTime(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x).mean(0)


def plain_net(work: Workload, layerwise: bool):
    if layerwise:
        return LayerwiseNet(work, lambda: plain_step)
    synapses, readout, recurrents = shared_layers(work)
    return PlainStepNet(synapses, readout, recurrents=recurrents,
                        pool=nn.AvgPool2d(2) if work.kind == "conv" else None, step=plain_step)


def _gained(step):
    """A peer's step on the drive scaled by b, as adaspike's LIF scales its input."""
    return lambda x, state: step(GAIN * x, state)


def snntorch_step():
    import snntorch as snn

    leaky = snn.Leaky(beta=ALPHA, threshold=1.0, reset_mechanism="subtract")
    return _gained(lambda x, mem: leaky(x, torch.zeros_like(x) if mem is None else mem))


def norse_step():
    from norse.torch import LIFBoxCell, LIFBoxParameters
    from norse.torch.functional.reset import reset_subtract

    params = LIFBoxParameters(tau_mem_inv=torch.tensor(1.0 / TAU), v_th=torch.tensor(1.0), reset_method=reset_subtract)
    cell = LIFBoxCell(params, dt=DT)
    return _gained(lambda x, state: cell(x / (DT / TAU), state))   # Euler gain dt/τ: the step adds b·I


def spikingjelly_step():
    from spikingjelly.activation_based import functional, neuron

    node = neuron.LIFNode(tau=1.0 / (1.0 - ALPHA), decay_input=False, v_reset=None, v_threshold=1.0, step_mode="s")

    def step(x, state):
        if state is None:
            functional.reset_net(node)
        return node(x), True
    return _gained(step)


PEERS = {"snntorch": snntorch_step, "norse": norse_step, "spikingjelly": spikingjelly_step}


class FloorNet(nn.Module):
    """The same products with no neuron (recurrent: T sequential V·h_{t−1} products)."""

    def __init__(self, work: Workload):
        super().__init__()
        synapses, self.readout, recurrents = shared_layers(work)
        self.synapses, self.kind = nn.ModuleList(synapses), work.kind
        self.recurrents = None if recurrents is None else [0.01 * r for r in recurrents]  # bounded values
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        T, B = x.shape[:2]
        for i, synapse in enumerate(self.synapses):
            h = _folded(synapse, x)
            if self.recurrents is not None:
                prev, out = h.new_zeros(h.shape[1:]), []
                for t in range(T):
                    prev = h[t] + prev @ self.recurrents[i].T
                    out.append(prev)
                h = torch.stack(out)
            if self.kind == "conv":
                h = _folded(self.pool, h)
            x = h
        return self.readout(x.reshape(T, B, -1)).mean(0)


def build(library: str, work: Workload) -> nn.Module:
    if library == "adaspike":
        return adaspike_net(work)
    if library in ("plain-step", "plain-layer"):
        return plain_net(work, layerwise=library == "plain-layer")
    if library == "floor":
        return FloorNet(work)
    return LayerwiseNet(work, PEERS[library])


def installed(library: str) -> bool:
    import importlib.util
    return library not in PEERS or importlib.util.find_spec(library) is not None


# -- timing ------------------------------------------------------------------------------------------------------
def timed_call(net: nn.Module, work: Workload):
    x, y = inputs(work)
    if not work.train:
        def call():
            with torch.no_grad():
                net(x)
        return call
    opt = torch.optim.SGD(net.parameters(), lr=1e-4)

    def call():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return call


def spike_agreement(work: Workload) -> float:
    """Fraction of adaspike's first-layer spikes equal to the plain per-step loop's (forward, no grad)."""
    x, _ = inputs(work)
    ours = adaspike_net(work).body[0]
    with torch.no_grad():
        _, reference = plain_net(work, layerwise=False)(x, record=True)
        spikes = ours(x)
    return float((spikes == reference).float().mean())


def worker(library: str, names: list[str], threads: int, reps: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    result = {}
    for name in names:
        work = WORKLOADS[name]
        net = build(library, work)
        call = timed_call(net, work)
        call()                                   # warm-up: first-call dispatch, kernel compilation
        times = []
        while len(times) < reps and (len(times) < MIN_REPS or sum(times) < BUDGET_S):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        result[name] = statistics.median(times) * 1e3
        if library == "adaspike":
            result[name + ":agreement"] = spike_agreement(work)
    # the worker's peak resident memory over all its workloads (Linux reports KiB)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_rounds(rounds: int, threads: int, reps: int, libraries, names, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
    out = []
    for r in range(rounds):
        order = list(libraries)
        rng.shuffle(order)
        timings = {}
        for library in order:
            shuffled = list(names)
            rng.shuffle(shuffled)
            cmd = [sys.executable, "-m", "benchmarks.outside", "--worker", library, "--workloads", ",".join(shuffled),
                   "--threads", str(threads), "--reps", str(reps)]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{library} worker failed:\n{done.stderr[-2000:]}")
            timings[library] = json.loads(done.stdout.strip().splitlines()[-1])
        out.append(timings)
        print(f"round {r + 1}/{rounds}: {' '.join(order)}", file=sys.stderr)
    return out


def summarise(rounds: list[dict], names) -> dict:
    table = {}
    for name in names:
        ratios, floors, best_names = [], [], []
        for timings in rounds:
            ours = timings["adaspike"][name]
            others = {lib: t[name] for lib, t in timings.items() if lib not in ("adaspike", "floor")}
            best = min(others, key=others.get)
            ratios.append(others[best] / ours)
            floors.append(ours / timings["floor"][name])
            best_names.append(best)
        table[name] = {
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "fastest_other": max(set(best_names), key=best_names.count), "goal": GOALS[name],
            "floor_ratio_median": statistics.median(floors),
            "adaspike_ms_median": statistics.median(t["adaspike"][name] for t in rounds),
            "ms_median": {lib: statistics.median(t[lib][name] for t in rounds) for lib in rounds[0]},
            "spike_agreement": min(t["adaspike"][name + ":agreement"] for t in rounds),
        }
    return table


def table_markdown(table: dict) -> str:
    """The ratio table (docs/site_tables.py renders it from the JSON's ``table``)."""
    lines = ["| workload | adaspike ms | fastest other (ms) | ratio median (range) | goal | adaspike ÷ floor | spikes = plain |",
             "|---|---|---|---|---|---|---|"]
    for name, row in table.items():
        best = row["fastest_other"]
        lines.append(f"| {name} | {row['adaspike_ms_median']:.1f} | {best} ({row['ms_median'][best]:.1f}) | "
                     f"{row['ratio_median']:.2f}× ({row['ratio_min']:.2f}–{row['ratio_max']:.2f}) | "
                     f"≥ {row['goal']}× {'✔' if row['ratio_median'] >= row['goal'] else '✘'} | "
                     f"{row['floor_ratio_median']:.2f}× | {100 * row['spike_agreement']:.0f} % |")
    return "\n".join(lines)


def markdown(table: dict, meta: dict) -> str:
    return (f"Outside-harness table: {meta['rounds']} shuffled rounds, one process per library and round, "
            f"{meta['threads']} torch threads, median of up to {meta['reps']} calls per worker; {meta['machine']}."
            f"\n\n{table_markdown(table)}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--libraries", default=",".join(LIBRARIES))
    p.add_argument("--out", default=None, help="write the JSON here (and the Markdown table beside it)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    names = [n for n in args.workloads.split(",") if n]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    if args.worker:
        print(json.dumps(worker(args.worker, names, args.threads, args.reps)))
        return
    libraries = [lib for lib in args.libraries.split(",") if lib and installed(lib)]
    rounds = run_rounds(args.rounds, args.threads, args.reps, libraries, names)
    meta = {"rounds": args.rounds, "threads": args.threads, "reps": args.reps, "libraries": libraries,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
            "load_average": os.getloadavg()}
    table = summarise(rounds, names)
    meta["peak_rss_mib"] = {lib: statistics.median(t[lib]["peak_rss_mib"] for t in rounds) for lib in libraries}
    text = markdown(table, meta)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "table": table, "rounds": rounds}, f, indent=1)
        with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
