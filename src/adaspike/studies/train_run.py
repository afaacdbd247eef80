"""One training run from named parts (used by ``adaspike train`` and the demo)."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..report import write_json
from ..train import Trainer, distributed, save_checkpoint
from .experiment import event_model, make_loaders


def train_run(*, dataset: str = "event-digits", root: str | None = None, dt: float | None = None,
              neuron: str = "adlif", hidden=(128,), recurrent: bool = True, readout: str = "li-mean",
              epochs: int = 10, lr: float = 2e-3, batch_size: int = 32, seed: int = 0, out: Path | str = "runs/train",
              progress: bool = True, nproc: int = 1, **options) -> dict:
    """Train the standard event model; writes OUT/model.safetensors and OUT/metrics.json; resumes if interrupted."""
    if nproc > 1:
        from ..train.distributed import launch_train_run
        return launch_train_run(nproc, dict(dataset=dataset, root=root, dt=dt, neuron=neuron, hidden=list(hidden),
                                            recurrent=recurrent, readout=readout, epochs=epochs, lr=lr,
                                            batch_size=batch_size, seed=seed, out=str(out), progress=progress,
                                            **options))
    out = Path(out)
    loaders = make_loaders(dataset, dt=dt, batch_size=batch_size, seed=seed, root=root, **options)
    if not getattr(loaders.train_set, "is_event_data", False):
        raise ValueError(f"{dataset} is static image data: use `adaspike study coding` (encoders) or "
                         "`adaspike train-ann` for it")
    dt = float(loaders.train_set.dt)
    torch.manual_seed(seed)  # the initial weights are part of the run: same seed, same model
    model = event_model(loaders.train_set, neuron=neuron, hidden=hidden, recurrent=recurrent, readout=readout, dt=dt)
    data_meta = {"dataset": dataset, "dt": dt, "root": root, "options": options}
    trainer = Trainer(model, lr=lr, epochs=epochs, seed=seed, out_dir=out, progress=progress,
                      scheduler="cosine", metadata={"data": data_meta})
    tic = time.perf_counter()
    history = trainer.fit(loaders.train, loaders.test)
    final = trainer.evaluate(loaders.test)
    result = {"dataset": dataset, "dt": dt, "neuron": neuron, "hidden": list(hidden), "recurrent": recurrent,
              "epochs": epochs, "test_accuracy": final["accuracy"], "test_loss": final["loss"],
              "spike_rates": final["spike_rates"], "train_time_s": time.perf_counter() - tic,
              "history": history}
    if distributed.is_main_process():  # one writer in multi-process runs
        save_checkpoint(out / "model.safetensors", model, {"data": data_meta, "result": {
            k: v for k, v in result.items() if k != "history"}})
        write_json(out / "metrics.json", result)
    return result
