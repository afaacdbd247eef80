"""Every option of every sub-command has help text, shows its default, and the flags mean one thing each."""
from __future__ import annotations

import argparse

import pytest

from adaspike.cli import build_parser

# option string -> the one destination it may have in any command (one idea, one flag)
CANONICAL = {"-o": "out", "--out": "out", "--limit": "limit", "--test-limit": "test_limit"}
RETIRED = ("--output", "--limit-train", "--train-limit")


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "adaspike"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subparsers(sub, f"{prefix} {name}")


COMMANDS = dict(_subparsers(build_parser()))


def _options(parser):
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
            and a.help != argparse.SUPPRESS]


def test_the_tree_is_walked():
    assert {"adaspike train", "adaspike retime", "adaspike study retime"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_help(command):
    missing = [a.option_strings[0] if a.option_strings else a.dest for a in _options(COMMANDS[command])
               if not (a.help or "").strip()]
    assert not missing, f"{command}: options without help text: {missing}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_defaults_are_shown(command):
    parser = COMMANDS[command]
    # a flag's default (store_true/false) only restates the flag: not shown
    has_defaults = any(a.option_strings and a.default not in (None, argparse.SUPPRESS, False)
                       and not isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction))
                       for a in _options(parser))
    if has_defaults:
        assert issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter), \
            f"{command} does not show its defaults (formatter_class=HELP_FORMAT)"
        assert "(default:" in parser.format_help()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_flags_mean_one_thing(command):
    for action in _options(COMMANDS[command]):
        for flag in action.option_strings:
            assert flag not in RETIRED, f"{command}: {flag} is retired (use -o/--out, --limit, --test-limit)"
            if flag in CANONICAL:
                assert action.dest == CANONICAL[flag], f"{command}: {flag} sets {action.dest!r}"
            if flag == "-o":
                assert "--out" in action.option_strings, f"{command}: -o must be short for --out"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_states_each_default_once_and_no_flag_default(command):
    text = " ".join(COMMANDS[command].format_help().split())
    assert "(default: True)" not in text and "(default: False)" not in text
    assert "(default: None)" not in text
    for line in COMMANDS[command].format_help().split("\n  -"):
        assert " ".join(line.split()).count("(default") <= 1, f"{command}: {line!r}"


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if c not in ("adaspike study",)))
def test_every_command_takes_no_progress_and_has_a_description(command):
    parser = COMMANDS[command]
    flags = {f for a in parser._actions for f in a.option_strings}
    assert "--no-progress" in flags, f"{command} refuses --no-progress"
    assert (parser.description or "").strip(), f"{command} has no description"


WRITERS = ("train", "eval", "retime", "train-ann", "convert", "export-nir", "import-nir", "demo", "study retime",
           "study convert", "study convert-events", "study coding", "study events")


@pytest.mark.parametrize("command", WRITERS)
def test_o_names_an_output_folder_in_every_command_that_writes(command):
    action = next(a for a in COMMANDS[f"adaspike {command}"]._actions if "-o" in a.option_strings)
    assert action.help.startswith("output folder"), f"{command}: -o is {action.help!r}"


def test_old_spellings_still_work_with_a_warning(capsys):
    parser = build_parser(["convert"])
    args = parser.parse_args(["convert", "--data", "digits", "--T", "2,4"])
    assert (args.dataset, args.T) == ("digits", [2, 4])
    err = capsys.readouterr().err
    assert "--data is deprecated" in err and "use --time-steps" in err


def test_help_does_not_load_torch():
    import subprocess
    import sys
    code = "import sys; from adaspike.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n" \
           "print('torch' in sys.modules, file=sys.stderr)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stderr.strip().endswith("False"), run.stderr


@pytest.mark.parametrize("argv", [["train", "--dataset", "event-digits"], ["convert"], ["study", "coding"]])
def test_device_is_checked_before_any_data_loads(argv, capsys):
    """--device cuda on a CPU build (or a device that does not exist) is a usage error naming the fix."""
    import torch

    from adaspike.cli import main

    with pytest.raises(SystemExit) as stop:
        main([*argv, "--device", "not-a-device"])
    assert stop.value.code == 2 and "is not a torch device" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--device", "cuda"])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "--device cuda" in err and ("CUDA build" in err or "no CUDA device" in err)
