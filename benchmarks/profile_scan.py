"""Where does the time of workload (1) go? `python -m benchmarks.profile_scan [--device cuda]` (torch profiler)."""
from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from .neurons import AdaspikeLIF


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rows", type=int, default=18)
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    layer = AdaspikeLIF(2048).to(dev)
    current = (0.12 + 0.1 * torch.randn(100, 32, 2048)).to(dev)

    def step():
        x = current.clone().requires_grad_(True)
        (layer(x) * 1.0).sum().backward()

    for _ in range(3):
        step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(5):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
    key = "cuda_time_total" if dev.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=args.rows))
    if dev.type == "cuda":
        print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
