"""Peak training memory against T: `python -m benchmarks.memory [--device cuda] [--steps 100 200 400]`.

Each (implementation, T) runs in a fresh process: one warm-up call, then the peak of one more call above the
memory held just before it (CPU: Linux VmHWM after resetting it through /proc/self/clear_refs, with malloc
trimmed first; CUDA: torch's peak allocated bytes). Workloads: (1) the LIF layer fwd+bwd as timed (its
harness alone, the "floor" row, holds ~125 MiB at T = 100), the same layer with the input and output gradient
allocated beforehand (``lif_layer_own``: only what the neuron itself needs), and the training steps of the
SHD feed-forward and recurrent nets and the conv net (at its own T when given 8).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys

import torch


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def measure(workload: str, impl: str, T: int, device: str) -> float:
    """Peak extra memory (MiB) of one call of ``impl`` on ``workload`` at T steps."""
    from . import run

    run.DEVICE = torch.device(device)
    builders = {"lif_layer": lambda: run.lif_layer(T=T), "lif_layer_own": lambda: run.lif_layer_own_memory(T=T),
                "shd_ff_train": lambda: run.shd(False, True, T=T), "shd_rec_train": lambda: run.shd(True, True, T=T),
                "conv_train": lambda: run.conv(T=T)}
    call = builders[workload]()[impl]
    call()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        call()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    # adaspike's CPU backend keeps finished output buffers for reuse; count them as part of the call
    from adaspike.core.backends.numba_backend import release_buffers
    release_buffers()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak resident size (VmHWM) to the current one
    before = _status_kb("VmRSS")
    call()
    return (_status_kb("VmHWM") - before) / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, nargs="*", default=[100, 400])
    ap.add_argument("--workloads", nargs="*", default=["lif_layer", "lif_layer_own", "shd_ff_train", "shd_rec_train",
                                                        "conv_train"])
    ap.add_argument("--impls", nargs="*", default=None)
    ap.add_argument("--out", default="benchmarks/results/memory.json")
    ap.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        workload, impl, T, device = args.child
        print(json.dumps(measure(workload, impl, int(T), device)))
        return 0
    from .neurons import available_impls

    impls = args.impls or [*available_impls(), "floor"]
    rows = []
    for workload in args.workloads:
        for T in args.steps:
            for impl in impls:
                proc = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--child", workload, impl, str(T),
                                       args.device], capture_output=True, text=True)
                mib = float(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
                rows.append({"workload": workload, "T": T, "impl": impl, "peak_mib": mib,
                             **({} if mib is not None else {"error": proc.stderr[-300:]})})
                print(rows[-1], flush=True)
    with open(args.out, "w") as fh:
        json.dump({"device": args.device, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
