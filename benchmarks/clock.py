"""Any clock, timed: what step lengths as data cost, in one run: `python -m benchmarks.clock [--quick] [--out F]`.

Rows (medians over shuffled rounds, ms, and ratios to the fixed-step path of the same network):

- ``fixed``: the SHD-shaped recurrent LIF net (700-256(rec)-20, LI readout, T = 100, B = 64) at its own step, the
  path every trained model runs; ``own clock``: the same through ``run_on_clock`` with a [T] tensor of its own
  step (must cost the same: it is the same path); ``irregular [T]``: ±30 % per step, one clock for the batch;
  ``irregular [T, B]``: one clock per sample (one scan per sample); inference and a training step each.
- event-driven: the same network on one recording's event-time grid (1 µs resolution, about 300 events) against
  dense regular grids of 0.1 and 0.05 ms, per sample, with the neuron-state updates of each.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time

import numpy as np
import torch

from adaspike.data import audio_events
from adaspike.data.events import bin_events, bin_events_on_edges, event_grid
from adaspike.models import build_model
from adaspike.retime import run_on_clock


def _network(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("snn", input_shape=[700], classes=20, hidden=[256], neuron="lif", recurrent=True, dt=1e-3)
    with torch.no_grad():
        model.hidden[0].synapse.module.weight.mul_(3)  # a net that fires (about 10-30 % of steps)
    return model


def _timed(calls: dict, rounds: int) -> dict:
    for call in calls.values():
        call()  # warm-up: numba loads its cache or compiles here
    times = {name: [] for name in calls}
    order = list(calls)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            tic = time.perf_counter()
            calls[name]()
            times[name].append(1e3 * (time.perf_counter() - tic))
    return {name: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v)} for name, v in times.items()}


def clock_rows(rounds: int) -> dict:
    model = _network()
    g = torch.Generator().manual_seed(1)
    T, B = 100, 64
    x = (torch.rand(T, B, 700, generator=g) < 0.05).float()
    y = torch.randint(0, 20, (B,), generator=g)
    own = torch.full((T,), 1e-3, dtype=torch.float64)
    jitter = 1e-3 * (1 + 0.3 * (2 * torch.rand(T, generator=g, dtype=torch.float64) - 1))
    per_sample = 1e-3 * (1 + 0.3 * (2 * torch.rand(T, B, generator=g, dtype=torch.float64) - 1))
    runs = {"fixed": lambda: model(x), "own clock": lambda: run_on_clock(model, x, own),
            "irregular [T]": lambda: run_on_clock(model, x, jitter),
            "irregular [T, B]": lambda: run_on_clock(model, x, per_sample)}
    out = {}
    for mode in ("inference", "training step"):
        calls = {}
        for name, forward in runs.items():
            def call(forward=forward):
                if mode == "inference":
                    with torch.no_grad():
                        return forward()
                model.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(forward(), y).backward()
            calls[name] = call
        timed = _timed(calls, rounds)
        base = timed["fixed"]["median_ms"]
        out[mode] = {name: {**row, "ratio_to_fixed": row["median_ms"] / base} for name, row in timed.items()}
    return out


def event_rows(rounds: int) -> dict:
    """One 0.3 s recording of ~300 events on 700 channels: event-driven against dense grids."""
    model = _network().eval()
    rng = np.random.default_rng(0)
    events = audio_events(np.sort(rng.integers(0, 300_000, 300)), rng.integers(0, 700, 300))
    edges = event_grid(events, 300_000, 1)
    counts = torch.as_tensor(bin_events_on_edges(events, edges, sensor_shape=(700,)), dtype=torch.float32)[:, None]
    steps = torch.as_tensor(np.diff(edges) * 1e-6)
    grids = {"event-driven (1 µs events)": (counts, steps)}
    for dt_us in (100, 50):
        dense = torch.as_tensor(bin_events(events, dt_us, t_max_us=300_000, sensor_shape=(700,)),
                                dtype=torch.float32)[:, None]
        grids[f"dense {dt_us / 1000:g} ms"] = (dense, dt_us * 1e-6)
    calls = {}
    for name, (data, step) in grids.items():
        def call(data=data, step=step):
            with torch.no_grad():
                return run_on_clock(model, data, step)
        calls[name] = call
    timed = _timed(calls, rounds)
    neurons = 256 + 20
    for name, (data, _) in grids.items():
        timed[name].update(steps=int(data.shape[0]), state_updates=int(data.shape[0]) * neurons)
    timed["dense 1 µs (not run: counted)"] = {"steps": 300_000, "state_updates": 300_000 * neurons}
    return timed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = 3 if args.quick else 9
    result = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "torch": torch.__version__, "threads": args.threads},
              "clock": clock_rows(rounds), "events": event_rows(rounds)}
    for mode, rows in result["clock"].items():
        print(f"\n{mode} (SHD recurrent LIF, T=100, B=64):")
        for name, row in rows.items():
            print(f"  {name:18s} {row['median_ms']:8.1f} ms  ×{row['ratio_to_fixed']:.2f} of fixed")
    print("\nevent-driven vs dense, one 0.3 s recording:")
    for name, row in result["events"].items():
        ms = f"{row['median_ms']:8.1f} ms" if "median_ms" in row else "        -   "
        print(f"  {name:30s} {ms}  {row['steps']:7d} steps  {row['state_updates']:.3g} state updates")
    if args.out:
        from adaspike.report import write_json
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
