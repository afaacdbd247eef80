"""The README's command chain runs as printed, with only short-run flags appended (fewer samples and epochs).

Every ``adaspike ...`` line of the README's shell blocks is run in order, in a scratch folder, through the same
entry point as the console script. The flags in SHORT only make a run smaller (argparse: the last value wins);
they never replace a flag the README prints. Commands whose data is not installed (Debian's Fashion-MNIST,
espeak-ng) are skipped together with the commands that read their outputs.
"""
from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from adaspike.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"

# per sub-command: flags appended to make the run short (seconds, not minutes)
SHORT = {
    "train": ["--epochs", "1", "--limit", "60", "--hidden", "16", "--dt", "20ms", "--no-progress"],
    "eval": ["--limit", "60", "--no-progress"],
    "study retime": ["--epochs", "1", "--limit", "60", "--hidden", "16", "--seeds", "0", "--neuron", "lif",
                     "--eval-dt", "8ms", "--direct-dt", "8ms", "--train-dt", "4ms"],
    "train-ann": ["--epochs", "1", "--limit", "128"],
    "convert": ["--limit", "128", "--test-limit", "64", "--time-steps", "1,2", "--calib-size", "64"],
    "study coding": ["--epochs", "1", "--limit", "64", "--val-limit", "32", "--test-limit", "32", "--seeds", "0"],
    "demo": ["--epochs", "1", "--skip", "retime,convert,coding", "--no-progress"],
}


def readme_commands(text: str) -> list[list[str]]:
    """``adaspike`` command lines of the README's shell/plain fenced blocks, comments stripped, split like a shell."""
    commands = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
        if lang not in ("", "bash", "sh", "shell", "console"):
            continue
        for line in body.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("adaspike "):
                commands.append(shlex.split(line, comments=True)[1:])
    return commands


def _name(argv: list[str]) -> str:
    return " ".join(argv[:2]) if argv[0] == "study" else argv[0]


def _needs(argv: list[str]) -> str | None:
    """Why this command cannot run here (missing system data), or None."""
    joined = " ".join(argv)
    if "fashion-mnist" in joined and not Path("/usr/share/datasets/fashion-mnist").is_dir():
        return "Debian's dataset-fashion-mnist is not installed"
    if "spoken-digits" in joined and shutil.which("espeak-ng") is None:
        return "espeak-ng is not installed"
    return None


def test_readme_commands_are_found():
    commands = readme_commands(README.read_text())
    names = [_name(c) for c in commands]
    for expected in ("train", "eval", "retime", "export-nir", "import-nir"):
        assert expected in names
    unknown = set(names) - set(SHORT) - {"info", "retime", "export-nir", "import-nir", "check-nir"}
    assert not unknown, f"README commands without short settings in this test: {unknown}"


@pytest.mark.slow
def test_readme_chain_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))
    skipped: dict[str, str] = {}
    outputs_missing: set[str] = set()
    for argv in readme_commands(README.read_text()):
        name, reason = _name(argv), _needs(argv)
        if reason is None:  # a command reading the output of a skipped one is skipped too
            reason = next((f"reads {a}, which a skipped command writes" for a in argv if a in outputs_missing), None)
        if reason is not None:
            skipped[" ".join(argv)] = reason
            for flag in ("-o", "--out"):
                if flag in argv:
                    out = argv[argv.index(flag) + 1]
                    outputs_missing.update({out, f"{out}/model.safetensors"})
            continue
        try:
            code = main(argv + SHORT.get(name, []))
        except SystemExit as exit_info:  # argparse rejected the command line as printed
            code = exit_info.code
        printed = capsys.readouterr()
        assert code == 0, f"`adaspike {' '.join(argv)}` failed ({code}):\n{printed.out[-2000:]}\n{printed.err[-2000:]}"
    if skipped:
        pytest.skip("ran the rest; skipped: " + "; ".join(f"{c} ({r})" for c, r in skipped.items()))
