"""Data-parallel equivalence: 2 CPU processes (gloo) on shards of the global batch take the same steps as one
process on the whole batch; only rank 0 writes the checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from adaspike.layers import LIF, LeakyIntegrator, SpikingLayer, TimeFolded, TimeReduce
from adaspike.train import distributed as ddp

T, N, F_IN, CLASSES, GLOBAL_BATCH, STEPS = 12, 32, 10, 3, 8, 3


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(SpikingLayer(nn.Linear(F_IN, 16), LIF(16, tau=10e-3)),
                          TimeFolded(nn.Linear(16, CLASSES)), LeakyIntegrator(CLASSES), TimeReduce("mean"))
    with torch.no_grad():
        model[0].synapse.module.weight.mul_(8.0)  # so the hidden layer fires and every weight gets a gradient
    return model


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(N, T, F_IN, generator=g) < 0.3).float()
    return TensorDataset(x, torch.randint(0, CLASSES, (N,), generator=g))


def _train(out_dir: str) -> None:
    """Runs in every process: identical init, sharded loader, DDP gradients, rank-0 checkpoint."""
    model = _model()
    wrapped = ddp.wrap_model(model)
    loader = ddp.shard_loader(DataLoader(_data(), batch_size=GLOBAL_BATCH, shuffle=True,
                                         generator=torch.Generator().manual_seed(2)), seed=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps = 0
    for x, y in loader:
        loss = nn.functional.cross_entropy(wrapped(x.transpose(0, 1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        if steps == STEPS:
            break
    out = Path(out_dir)
    if ddp.is_main_process():
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out / "model.pt")
    (out / f"rank{ddp.rank()}.json").write_text(json.dumps({"world": ddp.world_size(), "steps": steps}))
    ddp.barrier()


def _single_reference() -> dict:
    """One process, same global batches in the same order (the sampler's permutation for seed 2, epoch 0)."""
    model, data = _model(), _data()
    order = torch.randperm(N, generator=torch.Generator().manual_seed(2)).tolist()  # DistributedSampler's order
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    world = 2
    for step in range(STEPS):
        # rank r takes order[r::world]; its b-th batch is order[r::world][b*4:(b+1)*4]
        idx = [i for r in range(world) for i in order[r::world][step * 4:(step + 1) * 4]]
        x, y = data[idx]
        loss = nn.functional.cross_entropy(model(x.transpose(0, 1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.state_dict()


@pytest.mark.slow
def test_two_processes_match_one_on_the_same_global_batch(tmp_path):
    ddp.spawn(2, _train, str(tmp_path), backend="gloo", threads=1)  # fresh interpreters: fork after torch ran can hang
    ranks = sorted(p.name for p in tmp_path.glob("rank*.json"))
    assert ranks == ["rank0.json", "rank1.json"]
    assert all(json.loads((tmp_path / r).read_text()) == {"world": 2, "steps": STEPS} for r in ranks)
    assert [p.name for p in tmp_path.glob("*.pt")] == ["model.pt"]  # rank 0 only
    parallel = torch.load(tmp_path / "model.pt")
    single = _single_reference()
    initial = dict(_model().named_parameters())
    assert all(not torch.equal(single[k], v) for k, v in initial.items() if v.requires_grad), "nothing trained"
    for key, value in single.items():
        torch.testing.assert_close(parallel[key], value, rtol=1e-5, atol=1e-6, msg=f"parameter {key}")


def test_helpers_are_noops_in_one_process():
    model = _model()
    assert ddp.wrap_model(model) is model
    assert ddp.is_main_process() and ddp.world_size() == 1 and ddp.rank() == 0
    loader = DataLoader(_data(), batch_size=GLOBAL_BATCH)
    assert ddp.shard_loader(loader) is loader
    assert ddp.distributed_sampler(_data()) is None
