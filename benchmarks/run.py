"""Side-by-side timings of adaspike and every installed peer: `python -m benchmarks.run [--quick] [--out FILE]`.

Workloads (from the speed issue): (1) one LIF layer, T=100, B=32, N=2048, forward + backward; (2) the SHD-shaped
700-256-256-20 net, feed-forward and recurrent, T=100, B=64, inference and a training step; (3) the same inference
at T=1000; (4) a small conv SNN, T=8, B=32, 3×32×32, training step and inference. Each has a floor: the same
matrix products with no neuron dynamics (recurrent: batched over time too; ``floor-step`` keeps them step by step).
Besides the peer libraries, two plain-PyTorch loops run the same network: ``plain-layer`` (each Linear/Conv over
all T·B rows, then a Python LIF loop) and ``plain-step`` (the whole network one step at a time). Every round runs
each implementation once, in a freshly shuffled order (seeded); we report medians and ratios, all from one run,
and write everything to JSON (plus a Markdown table).
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .networks import conv_networks, shd_networks
from .neurons import NOTES, available_impls


DEVICE = torch.device("cpu")


def _sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


@dataclass
class Workload:
    name: str
    description: str
    build: Callable[[], dict[str, Callable[[], float]]]  # impl -> one timed call returning a firing proxy


def _train_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], float]:
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def call():
        opt.zero_grad(set_to_none=True)
        logits = net(x)
        nn.functional.cross_entropy(logits, y).backward()
        opt.step()
        return float(logits.detach().abs().mean())
    return call


def _inference(net: nn.Module, x: torch.Tensor) -> Callable[[], float]:
    def call():
        with torch.no_grad():
            return float(net(x).abs().mean())
    return call


def lif_layer(T=100, B=32, N=2048) -> dict[str, Callable[[], float]]:
    g = torch.Generator().manual_seed(0)
    current = (0.12 + 0.1 * torch.randn(T, B, N, generator=g)).to(DEVICE)
    calls = {}
    for name, make in {**available_impls(), "floor": None}.items():
        module = make(N).to(DEVICE) if make else None

        def call(module=module):
            x = current.clone().requires_grad_(True)
            s = module(x) if module is not None else x * 1.0  # floor: no dynamics, nothing to multiply
            (s * 1.0).sum().backward()
            return float(s.detach().mean())
        calls[name] = call
    return calls


def lif_layer_own_memory(T=100, B=32, N=2048) -> dict[str, Callable[[], float]]:
    """Workload (1) for memory only: input and output gradient exist before the call, so what a call adds is
    what the neuron needs (its output, saved state, input gradient), not the timing harness's copies."""
    g = torch.Generator().manual_seed(0)
    x = (0.12 + 0.1 * torch.randn(T, B, N, generator=g)).to(DEVICE).requires_grad_(True)
    grad_out = torch.ones(T, B, N, device=DEVICE)
    calls = {}
    for name, make in {**available_impls(), "floor": None}.items():
        module = make(N).to(DEVICE) if make else None

        def call(module=module):
            s = module(x) if module is not None else x * 1.0
            s.backward(grad_out)
            x.grad = None  # freed inside the call, so every call starts from the same memory
            return float(s.detach().mean())
        calls[name] = call
    return calls


def shd(recurrent: bool, train: bool, T=100, B=64):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(T, B, 700, generator=g) < 0.05).float().to(DEVICE)
    y = torch.randint(0, 20, (B,), generator=g).to(DEVICE)
    nets = {name: net.to(DEVICE) for name, net in shd_networks(recurrent).items()}
    return {name: (_train_step(net, x, y) if train else _inference(net, x)) for name, net in nets.items()}


def conv(train: bool = True, T=8, B=32):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(T, B, 3, 32, 32, generator=g).to(DEVICE)
    y = torch.randint(0, 10, (B,), generator=g).to(DEVICE)
    nets = {name: net.to(DEVICE) for name, net in conv_networks().items()}
    return {name: (_train_step(net, x, y) if train else _inference(net, x)) for name, net in nets.items()}


def workloads(quick: bool) -> list[Workload]:
    t_long = 300 if quick else 1000
    return [
        Workload("lif_layer", "(1) LIF layer T=100 B=32 N=2048, fwd+bwd", lif_layer),
        Workload("shd_ff_infer", "(2) SHD 700-256-256-20 feed-forward T=100 B=64, inference", lambda: shd(False, False)),
        Workload("shd_ff_train", "(2) SHD feed-forward T=100 B=64, training step", lambda: shd(False, True)),
        Workload("shd_rec_infer", "(2) SHD recurrent T=100 B=64, inference", lambda: shd(True, False)),
        Workload("shd_rec_train", "(2) SHD recurrent T=100 B=64, training step", lambda: shd(True, True)),
        Workload(f"shd_ff_infer_T{t_long}", f"(3) SHD feed-forward inference T={t_long}",
                 lambda: shd(False, False, T=t_long)),
        Workload(f"shd_rec_infer_T{t_long}", f"(3) SHD recurrent inference T={t_long}",
                 lambda: shd(True, False, T=t_long)),
        Workload("conv_train", "(4) conv SNN T=8 B=32 3x32x32, training step", conv),
        Workload("conv_infer", "(4) conv SNN T=8 B=32 3x32x32, inference", lambda: conv(False)),
    ]


def time_alternating(calls: dict[str, Callable[[], float]], repeats: int, skip: set[str]) -> dict:
    """Warm each implementation up once, then run rounds in shuffled order; per-implementation medians (ms)."""
    names, proxy, failed = [], {}, {}
    for n in calls:
        if n in skip:
            continue
        try:  # warm-up (numba loads its cache or compiles here); a peer that breaks is reported, not fatal
            proxy[n] = calls[n]()
            names.append(n)
        except Exception as err:  # noqa: BLE001
            failed[n] = f"{type(err).__name__}: {err}"[:300]
            print(f"   {n}: failed ({failed[n]})", flush=True)
    times = {n: [] for n in names}
    rng = random.Random(0)  # a shuffled order per round: no implementation always follows the same one
    for _ in range(repeats):
        order = rng.sample(names, len(names))
        for n in order:
            _sync()
            t0 = time.perf_counter()
            calls[n]()
            _sync()
            times[n].append((time.perf_counter() - t0) * 1e3)
    out = {n: {"median_ms": statistics.median(ts), "min_ms": min(ts), "runs_ms": [round(t, 2) for t in ts],
               "output_proxy": proxy[n]} for n, ts in times.items()}
    out.update({n: {"error": e} for n, e in failed.items()})
    return out


PLAIN = ("plain-step", "plain-layer")  # the plain-PyTorch loops: baselines like the peers, not libraries
NOT_BASELINES = ("adaspike", "adaspike-ref", "floor", "floor-step")


def summarise(results: dict) -> dict:
    """Ratios: each baseline's (peer's or plain loop's) median over adaspike's, adaspike over the floor."""
    ok = {n: r for n, r in results.items() if "median_ms" in r}
    ada = ok.get("adaspike", {}).get("median_ms")
    baselines = {n: r["median_ms"] for n, r in ok.items() if n not in NOT_BASELINES}
    peers = {n: t for n, t in baselines.items() if n not in PLAIN}
    plain = {n: t for n, t in baselines.items() if n in PLAIN}
    out = {}
    if ada:
        out["speedup_vs_peer"] = {n: round(t / ada, 2) for n, t in baselines.items()}
        for key, group in (("peer", peers), ("plain", plain), ("baseline", baselines)):
            if group:
                fastest = min(group, key=group.get)
                out[f"fastest_{key}"], out[f"speedup_vs_fastest_{key}"] = fastest, round(group[fastest] / ada, 2)
        if "floor-step" in ok:
            out["x_floor_step"] = round(ada / ok["floor-step"]["median_ms"], 2)
        if "floor" in ok:
            out["x_floor"] = round(ada / ok["floor"]["median_ms"], 2)
        if "adaspike-ref" in ok:
            out["speedup_vs_reference"] = round(ok["adaspike-ref"]["median_ms"] / ada, 2)
    return out


def markdown(report: dict) -> str:
    names = ["adaspike", "adaspike-ref", "snntorch", "norse", "spikingjelly", *PLAIN, "floor", "floor-step"]
    head = ("| workload | " + " | ".join(f"{n} (ms)" for n in names)
            + " | fastest peer ÷ adaspike | fastest plain loop ÷ adaspike | adaspike ÷ floor |")
    lines = [head, "|" + "---|" * (len(names) + 4)]
    for w in report["workloads"]:
        res, summ = w["results"], w["summary"]
        cells = [f"{res[n]['median_ms']:.1f}" if "median_ms" in res.get(n, {}) else "–" for n in names]
        lines.append(f"| {w['description']} | " + " | ".join(cells)
                     + f" | {summ.get('speedup_vs_fastest_peer', '–')} ({summ.get('fastest_peer', '–')}) "
                     + f"| {summ.get('speedup_vs_fastest_plain', '–')} ({summ.get('fastest_plain', '–')}) "
                     + f"| {summ.get('x_floor', '–')} |")
    return "\n".join(lines)


def environment() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("torch", "numba", "snntorch", "norse", "spikingjelly", "adaspike"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {"platform": platform.platform(), "processor": platform.processor(), "torch_threads": torch.get_num_threads(),
            "versions": versions, "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds and T=300 for the long workload")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds per workload (default 7, quick 3)")
    ap.add_argument("--only", nargs="*", default=None, help="workload names to run")
    ap.add_argument("--skip-impl", nargs="*", default=[], help="implementations to leave out")
    ap.add_argument("--threads", type=int, default=None, help="torch/numba threads (default: torch's)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--out", default="benchmarks/results.json")
    args = ap.parse_args(argv)
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 7)
    report = {"environment": environment(), "device": str(DEVICE), "repeats": repeats, "notes": NOTES, "workloads": []}
    for w in workloads(args.quick):
        if args.only and w.name not in args.only:
            continue
        print(f"== {w.description}", flush=True)
        results = time_alternating(w.build(), repeats, set(args.skip_impl))
        summary = summarise(results)
        for n, r in results.items():
            if "median_ms" in r:
                print(f"   {n:13s} {r['median_ms']:9.1f} ms  (min {r['min_ms']:.1f})", flush=True)
        print(f"   {summary}", flush=True)
        report["workloads"].append({"name": w.name, "description": w.description, "results": results,
                                    "summary": summary})
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    table = markdown(report)
    print(table)
    with open(args.out.rsplit(".", 1)[0] + ".md", "w") as fh:
        fh.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
