"""Files: atomic writes leave no temp files behind (even after kill -9), follow the umask, name the file in
every error; the output folder is locked so two concurrent runs cannot mix their files."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adaspike.report.io import atomic_write, atomic_write_bytes, write_json

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def test_kill_9_orphans_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "metrics.json"
    script = ("import sys, time; from adaspike.report.io import atomic_write\n"
              "def slow(handle):\n    handle.write(b'half'); handle.flush(); print('writing', flush=True); "
              "time.sleep(60)\n"
              f"atomic_write({str(target)!r}, slow)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=ENV)
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    orphans = list(tmp_path.glob(".metrics.json.*.tmp"))
    assert len(orphans) == 1 and not target.exists()  # killed mid-write: no half file under the real name
    write_json(target, {"ok": 1})
    assert list(tmp_path.glob(".metrics.json.*")) == [] and target.read_text().strip().startswith("{")


def test_live_writers_temp_files_are_kept(tmp_path):
    """Only temp files of dead processes are removed: a concurrent live writer's file is left alone."""
    live = tmp_path / f".x.bin.{os.getpid()}.abcd1234.tmp"
    live.write_bytes(b"in progress")
    atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert live.exists()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_mode_follows_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write_bytes(tmp_path / f"f{umask:o}", b"x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_write_names_the_file_and_leaves_nothing(tmp_path):
    def full_disk(handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"cannot write .*out\.json: No space left on device") as info:
        atomic_write(tmp_path / "out.json", full_disk)
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_directory_target_and_file_parent_are_named(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="it is a folder, not a file"):
        atomic_write_bytes(tmp_path / "folder", b"x")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="afile is a file, not a folder"):
        atomic_write_bytes(tmp_path / "afile" / "sub" / "out.json", b"x")


def test_no_other_atomic_writer_in_the_package():
    """report/io.py is the one place that creates temp files and renames them into place."""
    src = Path(__file__).resolve().parents[2] / "src" / "adaspike"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.name != "io.py" and any(word in p.read_text() for word in ("mkstemp", "os.replace("))]
    assert offenders == []


# ---- output folder lock -----------------------------------------------------------------------------------------
TRAIN = [sys.executable, "-m", "adaspike.cli", "train", "--no-progress", "--limit", "40", "--epochs", "1",
         "--hidden", "8"]


def _holder(out: Path):
    script = ("import time; from adaspike.cli import lock_output\n"
              f"with lock_output({str(out)!r}):\n    print('held', flush=True); time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=ENV)
    assert child.stdout.readline().strip() == "held"
    return child


@pytest.mark.slow
def test_concurrent_train_into_one_folder_is_refused_and_crash_releases(tmp_path):
    out = tmp_path / "run"
    holder = _holder(out)  # a real second process holding the folder, as a running `adaspike train` does
    try:
        second = subprocess.run([*TRAIN, "-o", str(out)], capture_output=True, text=True, env=ENV, timeout=300)
        assert second.returncode == 1, second.stderr
        assert "is in use by adaspike pid" in second.stderr and str(holder.pid) in second.stderr
        assert "Traceback" not in second.stderr
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # it wrote nothing into the folder (the lock
        # file is the holder's)
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a crash (kill -9) must release the lock
        holder.wait()
    third = subprocess.run([*TRAIN, "-o", str(out)], capture_output=True, text=True, env=ENV, timeout=300)
    assert third.returncode == 0, third.stderr
    assert (out / "model.safetensors").is_file() and (out / "metrics.json").is_file()


@pytest.mark.slow
def test_two_real_train_runs_started_together(tmp_path):
    """Two `adaspike train` processes into one folder at once: never both succeed while overlapping."""
    out = tmp_path / "run"
    procs = [subprocess.Popen([*TRAIN, "--seed", str(seed), "-o", str(out)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV) for seed in (0, 1)]
    results = []
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        results.append((proc.returncode, err, time.monotonic()))
    codes = sorted(rc for rc, _, _ in results)
    refused = [err for rc, err, _ in results if rc == 1]
    assert codes in ([0, 1], [0, 0]), results
    if codes == [0, 1]:  # refused while the other ran, or after it finished (nothing is overwritten)
        assert ("is in use" in refused[0] or "holds a finished run" in refused[0]) and "Traceback" not in refused[0]
    import json
    # whichever ran, the folder holds one consistent run: its metrics name the seed of its own model
    meta = json.loads((out / "metrics.json").read_text())
    assert (out / "model.safetensors").is_file() and meta


# ---- finished runs are never overwritten silently; the lock file goes with its run -----------------------------
def test_lock_file_is_removed_on_every_exit_path(tmp_path):
    from adaspike.cli import lock_output
    with lock_output(tmp_path / "a"):
        assert (tmp_path / "a" / ".lock").is_file()
    assert not (tmp_path / "a" / ".lock").exists()
    with pytest.raises(RuntimeError):
        with lock_output(tmp_path / "b"):
            raise RuntimeError("a failing run")
    assert not (tmp_path / "b" / ".lock").exists()
    with pytest.raises(KeyboardInterrupt):
        with lock_output(tmp_path / "c"):
            raise KeyboardInterrupt
    assert not (tmp_path / "c" / ".lock").exists()


@pytest.mark.slow
def test_train_into_a_finished_run_refuses_and_overwrite_replaces(tmp_path):
    out = tmp_path / "run"
    first = subprocess.run([*TRAIN, "--model", "snn", "-o", str(out)], capture_output=True, text=True, env=ENV,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    assert not (out / ".lock").exists() and (out / ".complete").is_file()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    again = subprocess.run([*TRAIN, "--model", "snn", "--seed", "3", "-o", str(out)], capture_output=True, text=True,
                           env=ENV, timeout=300)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert str(out) in again.stderr and "--overwrite" in again.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # nothing touched
    replaced = subprocess.run([*TRAIN, "--model", "snn", "--seed", "3", "--overwrite", "-o", str(out)],
                              capture_output=True, text=True, env=ENV, timeout=300)
    assert replaced.returncode == 0, replaced.stderr
    assert (out / "metrics.json").read_bytes() != before["metrics.json"]


def test_single_file_commands_refuse_an_existing_output(tmp_path, capsys):
    import torch
    from adaspike.cli import main
    from adaspike.models import build_model
    from adaspike.train import save_checkpoint
    ckpt = save_checkpoint(tmp_path / "src" / "model.safetensors",
                           build_model("snn", input_shape=[4], classes=2, hidden=[4], neuron="lif", dt=4e-3))
    assert main(["retime", str(ckpt.parent), "--dt", "2ms", "-o", str(tmp_path / "rt")]) == 0
    first = (tmp_path / "rt" / "model.safetensors").read_bytes()
    assert main(["retime", str(ckpt.parent), "--dt", "1ms", "-o", str(tmp_path / "rt")]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "rt" / "model.safetensors").read_bytes() == first
    assert main(["retime", str(ckpt.parent), "--dt", "1ms", "--overwrite", "-o", str(tmp_path / "rt")]) == 0
    assert (tmp_path / "rt" / "model.safetensors").read_bytes() != first
    del torch


def test_a_closed_pipe_ends_quietly(tmp_path):
    from adaspike.models import build_model
    from adaspike.train import save_checkpoint
    ckpt = save_checkpoint(tmp_path / "model.safetensors",
                           build_model("snn", input_shape=[4], classes=2, hidden=[4], neuron="lif", dt=4e-3))
    run = subprocess.run(f"{sys.executable} -m adaspike.cli info {ckpt} | head -c 1", shell=True,
                         capture_output=True, text=True, env=ENV, timeout=120)
    assert "Broken pipe" not in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_broken_pipe_is_not_reported_as_an_error(monkeypatch, capsys):
    import adaspike.cli as cli

    def reader_left(args):
        raise BrokenPipeError(32, "Broken pipe")

    parser = cli.build_parser(["info"])
    monkeypatch.setattr(cli, "build_parser", lambda argv=None: parser)
    parser._subparsers._group_actions[0].choices["info"].set_defaults(func=reader_left)
    fd = os.dup(1)
    try:
        assert cli.main(["info"]) == 141
    finally:
        os.dup2(fd, 1)
        os.close(fd)
    assert "error" not in capsys.readouterr().err
