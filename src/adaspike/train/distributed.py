"""Multi-process data-parallel training with ``torch.distributed`` (gloo on CPU, NCCL on GPU).

Launch with ``torchrun --nproc_per_node N script.py`` (the environment then carries RANK, WORLD_SIZE, ...) or
from Python with ``spawn(N, fn, *args)`` (what ``adaspike train --nproc N`` uses). Each process sees a disjoint
shard of every epoch (``distributed_sampler``) with batch size global/N, and ``wrap_model`` averages the gradients,
so N processes take the same optimisation steps as one process on the same global batch. Only rank 0 writes
checkpoints and reports (``is_main_process``).

The helpers are no-ops in a single process, so the Trainer can call them unconditionally.
"""
from __future__ import annotations

import datetime
import os
import socket
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str | None
    device: torch.device


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def default_backend() -> str:
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def init_from_env(backend: str | None = None, timeout_s: float = 300.0) -> DistInfo:
    """Join the process group described by the environment (torchrun or ``spawn``); single process otherwise."""
    world = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", _env_int("RANK", 0))
    if world > 1 and not dist.is_initialized():
        backend = backend or default_backend()
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    backend = dist.get_backend() if dist.is_initialized() else None
    device = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
    return DistInfo(rank, world, local_rank, backend, device)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a single process): the one that writes checkpoints, logs and reports."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` (gradients averaged over processes); unchanged if single.

    Keep a reference to the unwrapped model for checkpoints (its state_dict keys have no ``module.`` prefix).
    """
    if not is_distributed():
        return model
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
        return nn.parallel.DistributedDataParallel(model.to(device), device_ids=[device.index],
                                                   find_unused_parameters=find_unused_parameters)
    return nn.parallel.DistributedDataParallel(model, find_unused_parameters=find_unused_parameters)


def distributed_sampler(dataset, shuffle: bool = True, seed: int = 0, drop_last: bool = False):
    """A ``DistributedSampler`` giving this process its shard (call ``set_epoch`` each epoch); ``None`` if single."""
    if not is_distributed():
        return None
    return DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle, seed=seed,
                              drop_last=drop_last)


def per_process_batch_size(global_batch_size: int) -> int:
    n = world_size()
    if global_batch_size % n:
        raise ValueError(f"global batch size {global_batch_size} is not divisible by {n} processes; the "
                         "processes would not reproduce single-process training")
    return global_batch_size // n


def shard_loader(loader: DataLoader, shuffle: bool = True, seed: int = 0) -> DataLoader:
    """The same loader, but over this process's shard with batch size global/N (identity if single)."""
    if not is_distributed():
        return loader
    if loader.batch_size is None:
        raise ValueError("shard_loader needs a DataLoader with a batch_size (not a batch_sampler)")
    sampler = distributed_sampler(loader.dataset, shuffle=shuffle, seed=seed, drop_last=loader.drop_last)
    return DataLoader(loader.dataset, batch_size=per_process_batch_size(loader.batch_size), sampler=sampler,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn, drop_last=loader.drop_last,
                      pin_memory=loader.pin_memory)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(local_rank: int, nproc: int, port: int, fn: Callable, args: tuple, backend: str | None,
            threads: int | None) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(local_rank),
                      LOCAL_RANK=str(local_rank), WORLD_SIZE=str(nproc))
    if threads:
        torch.set_num_threads(threads)
    init_from_env(backend)
    try:
        fn(*args)
    finally:
        cleanup()


def spawn(nproc: int, fn: Callable, *args: Any, backend: str | None = None, threads: int | None = None,
          start_method: str = "spawn") -> None:
    """Run ``fn(*args)`` in ``nproc`` processes joined in one process group; raises if any process fails.

    ``start_method="spawn"`` (fresh interpreters; ``fn`` must be a module-level function) is the safe default;
    ``"fork"`` starts much faster on Linux CPU runs (tests), but must not be used after CUDA was initialised.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    if nproc > 1 and backend == "nccl" and torch.cuda.device_count() < nproc:
        raise ValueError(f"NCCL with {nproc} processes needs {nproc} GPUs, found {torch.cuda.device_count()}")
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // nproc)
    try:
        torch.multiprocessing.start_processes(_worker, args=(nproc, free_port(), fn, args, backend, threads),
                                              nprocs=nproc, join=True, start_method=start_method)
    except torch.multiprocessing.ProcessExitedException as err:
        # a worker died (killed, out of memory): torch has stopped the others; say so in one line
        how = f"was killed by signal {err.signal_name}" if err.signal_name else f"exited with code {err.exit_code}"
        raise WorkerFailed(f"data-parallel worker {err.error_index} of {nproc} {how}, so the run stopped; every "
                           "finished epoch is in the output folder's last.safetensors: rerun the same command to "
                           "resume") from None
    except torch.multiprocessing.ProcessRaisedException as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise WorkerFailed(f"data-parallel worker {err.error_index} of {nproc} failed: {first}") from None


class WorkerFailed(ChildProcessError):
    """A data-parallel worker process died or raised; the others were stopped (an OSError: a clear CLI error)."""
