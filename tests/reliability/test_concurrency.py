"""Concurrency with real processes: two builders of one cache, a data-parallel run that loses a rank, and studies
that share a source run. What happens is measured, not assumed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
BUILD = ("import sys, numpy as np\n"
         "from adaspike.data.event_sets import event_digits\n"
         "data = event_digits('train', 120, 0, None)\n"
         "np.savez(sys.argv[1], events=data.events, offsets=data.offsets, labels=data.labels)\n")


@pytest.mark.slow
def test_two_cache_builders_on_an_empty_cache_agree_with_one(tmp_path):
    """Both processes build event-digits into one empty cache at once: both get the complete set, equal to a
    lone builder's, and the cache holds one complete readable file (never a partial one)."""
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(tmp_path / f"out{i}.npz")],
                              env={**ENV, "ADASPIKE_CACHE": str(shared)}, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()
    lone = subprocess.run([sys.executable, "-c", BUILD, str(tmp_path / "lone.npz")],
                          env={**ENV, "ADASPIKE_CACHE": str(alone)}, capture_output=True, text=True, timeout=600)
    assert lone.returncode == 0, lone.stderr
    reference = np.load(tmp_path / "lone.npz")
    for i in range(2):
        got = np.load(tmp_path / f"out{i}.npz")
        for key in ("events", "offsets", "labels"):
            assert np.array_equal(got[key], reference[key]), key
    files = sorted(p.name for p in shared.iterdir())
    assert len([f for f in files if f.endswith(".npz")]) == 1 and not [f for f in files if ".tmp" in f], files
    from adaspike.data.cache import load_event_set
    data, _ = load_event_set(next(shared.glob("*.npz")))
    assert np.array_equal(data.labels, reference["labels"])


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.slow
def test_a_killed_data_parallel_rank_stops_the_run_clearly_and_it_resumes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "adaspike.cli", "train", "--dataset", "event-digits", "--model", "snn",
           "--limit", "64", "--hidden", "8", "--epochs", "6", "--dt", "20ms", "--pool", "4", "--nproc", "2",
           "--no-progress", "-o", str(out)]
    run = subprocess.Popen(cmd, env={**ENV, "ADASPIKE_CACHE": str(tmp_path / "cache")}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out / "last.safetensors").exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)  # let one epoch finish: its checkpoint must survive the crash
    workers = [p for c in _children(run.pid) for p in [c, *_children(c)]]
    assert run.poll() is None and (out / "last.safetensors").exists(), "the run ended before a rank could be killed"
    victim = max(workers)  # a worker process (the newest)
    os.kill(victim, signal.SIGKILL)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, err
    assert "worker" in err and "killed" in err and "resume" in err and "Traceback" not in err, err
    from adaspike.train import read_checkpoint
    state, _, meta = read_checkpoint(out / "last.safetensors")  # loadable
    assert state and meta["epochs_done"] >= 1
    again = subprocess.run(cmd, env={**ENV, "ADASPIKE_CACHE": str(tmp_path / "cache")}, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 6


@pytest.mark.slow
def test_studies_sharing_a_source_run(tmp_path):
    """Two retime studies read one trained checkpoint at once (different folders): both finish with the same
    table; a second study into a folder in use is refused, and one into a finished study's folder too."""
    from adaspike.models import build_model
    from adaspike.train import save_checkpoint
    import torch
    torch.manual_seed(0)
    model = build_model("snn", input_shape=[2, 9, 9], classes=10, hidden=[8], neuron="lif", dt=20e-3)
    ckpt = save_checkpoint(tmp_path / "src" / "model.safetensors", model,
                           {"data": {"dataset": "event-digits", "dt": 20e-3, "options": {"pool": 4, "limit": 30}}})
    env = {**ENV, "ADASPIKE_CACHE": str(tmp_path / "cache")}
    study = [sys.executable, "-m", "adaspike.cli", "study", "retime", "--checkpoint", str(ckpt), "--dataset",
             "event-digits", "--eval-dt", "20ms,40ms", "--methods", "zoh", "--spike-rules", "seconds"]
    procs = [subprocess.Popen([*study, "-o", str(tmp_path / f"s{i}")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    tables = [json.loads((tmp_path / f"s{i}" / "retime_study.json").read_text())["rows"] for i in range(2)]
    assert [r["accuracy"] for r in tables[0]] == [r["accuracy"] for r in tables[1]]
    again = subprocess.run([*study, "-o", str(tmp_path / "s0")], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1 and "finished run" in again.stderr and "--overwrite" in again.stderr
