"""TOML configs and out-of-range options: one clear line from the CLI (exit 1 or argparse's exit 2), never a
traceback; plus the last net, which turns any unexpected exception into one line unless -v is given."""
from __future__ import annotations

import pytest

from adaspike.cli import main


def _run(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as exit_:
        rc = exit_.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


CONFIG_CASES = [
    ("dt-parsecs", 'dt = "4 parsecs"', "4 parsecs"),
    ("dt-bare-seconds", "dt = 4", "without a unit"),
    ("dt-negative", 'dt = "-4ms"', "dt"),
    ("dt-bool", "dt = true", "dt"),
    ("hidden-zero", "hidden = 0", "positive integers"),
    ("hidden-strings", 'hidden = ["a", "b"]', "integers"),
    ("hidden-nested", "hidden = [[1, 2]]", "invalid value"),
    ("hidden-table", "[hidden]\nx = 1", "invalid value"),
    ("neuron-choice", 'neuron = "hodgkin"', "not one of"),
    ("recurrent-string", 'recurrent = "yes"', "true or false"),
    ("epochs-zero", "epochs = 0", "positive integer"),
    ("nproc-zero", "nproc = 0", "positive integer"),
    ("pool-negative", "pool = -2", "positive integer"),
    ("lr-text", 'lr = "fast"', "lr"),
    ("unknown-key", "flux = 1", "unknown option 'flux'"),
    ("not-toml", "dt = = 4", "invalid TOML"),
]


@pytest.mark.parametrize("case,text,fragment", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_toml_config(tmp_path, capsys, case, text, fragment):
    config = tmp_path / "run.toml"
    config.write_text(text + "\n")
    rc, err = _run(["train", "--config", str(config), "-o", str(tmp_path / "out")], capsys)
    assert rc == 1 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert str(config) in err


def test_config_folder_is_named_a_folder(tmp_path, capsys):
    rc, err = _run(["train", "--config", str(tmp_path), "-o", str(tmp_path / "out")], capsys)
    assert rc == 1 and "is a folder" in err


def test_config_values_are_parsed_like_flags(tmp_path):
    """A correct config gives the same namespace as the flags (hidden = 8 is a one-layer list, dt has units)."""
    from adaspike.cli import build_parser
    from adaspike.cli.options import apply_config

    config = tmp_path / "run.toml"
    config.write_text('hidden = 8\ndt = "2ms"\nrecurrent = false\nepochs = 3\n')
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    args = apply_config(train, train.parse_args(["--config", str(config)]))
    flags = train.parse_args(["--hidden", "8", "--dt", "2ms", "--no-recurrent", "--epochs", "3"])
    for key in ("hidden", "dt", "recurrent", "epochs"):
        assert getattr(args, key) == getattr(flags, key), key


OPTION_CASES = [
    ("nproc-zero", ["--nproc", "0"], "positive integer"),
    ("pool-zero", ["--pool", "0"], "positive integer"),
    ("pool-huge", ["--pool", "1000", "--limit", "4"], "pool 1000 is larger than the sensor"),
    ("dt-1000s", ["--dt", "1000s", "--limit", "4"], "not shorter than the recording window"),
    ("dt-bare", ["--dt", "4"], "without a unit"),
    ("dt-nan", ["--dt", "nan"], "dt"),
    ("dt-zero", ["--dt", "0ms"], "dt"),
    ("epochs-zero", ["--epochs", "0"], "positive integer"),
    ("batch-zero", ["--batch-size", "0"], "positive integer"),
    ("hidden-zero", ["--hidden", "0"], "positive integers"),
]


@pytest.mark.parametrize("case,flags,fragment", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_out_of_range_options(tmp_path, capsys, case, flags, fragment):
    rc, err = _run(["train", "--no-progress", "--epochs", "1", *flags, "-o", str(tmp_path / "out")]
                   if "--epochs" not in flags else ["train", *flags, "-o", str(tmp_path / "out")], capsys)
    assert rc in (1, 2) and fragment in err, err


def test_retime_bare_dt_refused(tmp_path, capsys, good_checkpoint):
    rc, err = _run(["retime", str(good_checkpoint), "--dt", "4", "-o", str(tmp_path / "r.safetensors")], capsys)
    assert rc == 2 and "without a unit" in err


# ---- the last net ---------------------------------------------------------------------------------------------
def test_last_net_one_line_and_traceback_only_with_verbose(tmp_path, capsys, monkeypatch, good_checkpoint):
    import adaspike.train as train

    def boom(path):
        raise KeyError("some internal key")

    monkeypatch.setattr(train, "read_metadata", boom)  # stands for any cause not yet turned into a clear error
    rc, err = _run(["info", str(good_checkpoint)], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "KeyError" in err and "rerun with -v" in err
    with pytest.raises(KeyError):
        main(["-v", "info", str(good_checkpoint)])


def test_clear_errors_keep_their_message(tmp_path, capsys):
    rc, err = _run(["info", str(tmp_path / "missing.safetensors")], capsys)
    assert rc == 1 and err.startswith("adaspike: error: checkpoint") and "-v" not in err


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "0", "x"])
def test_positive_float_refuses_nan_inf_and_non_positive(text):
    import argparse

    from adaspike.cli.options import positive_float

    with pytest.raises(argparse.ArgumentTypeError, match=repr(text).strip("'")):
        positive_float(text)
    assert positive_float("0.5") == 0.5


@pytest.mark.parametrize("flag,value", [("--calib-size", "0"), ("--spike-budget", "nan"), ("--kl-budget", "inf"),
                                        ("--T", "0"), ("--batch-size", "-1"), ("--iat-tolerance", "nan")])
def test_convert_refuses_out_of_range_options(flag, value, capsys):
    from adaspike.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--ann", "missing.safetensors", flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err
