"""CLI smoke tests: every command answers --help; train/eval/info run end to end on a tiny event set."""
import json
import subprocess
import sys

import pytest

from adaspike.cli import build_parser, main


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "adaspike.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "adaspike" in out.stdout


@pytest.mark.slow
def test_train_eval_info_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    code = main(["train", "--dataset", "event-digits", "--dt", "20ms", "--pool", "4", "--limit", "60",
                 "--hidden", "16", "--epochs", "1", "--no-progress", "-o", str(out)])
    assert code == 0
    assert (out / "model.safetensors").is_file() and (out / "metrics.json").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    capsys.readouterr()
    assert main(["eval", str(out / "model.safetensors"), "--no-progress", "-o", str(tmp_path / "e.json")]) == 0
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert evaluated["accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert main(["info", str(out / "model.safetensors")]) == 0
    assert '"conv-snn"' in capsys.readouterr().out  # camera events train the conv SNN by default


def test_config_file_sets_options_and_flags_win(tmp_path, monkeypatch):
    config = tmp_path / "run.toml"
    config.write_text('epochs = 7\nhidden = [32, 16]\ndt = "8ms"\nlr = 0.5\n')
    parser = build_parser()
    from adaspike.cli.options import apply_config
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    args = apply_config(sub, parser.parse_args(["train", "--config", str(config), "--lr", "0.1"]))
    assert args.epochs == 7 and args.hidden == [32, 16] and args.dt == pytest.approx(8e-3) and args.lr == 0.1
    config.write_text("bogus = 1\n")
    assert main(["train", "--config", str(config)]) == 1


def test_user_errors_are_one_line(capsys):
    assert main(["train", "--dataset", "nope", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "unknown dataset" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["train", "--dt", "-3ms"])
