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
    has_defaults = any(a.option_strings and a.default not in (None, argparse.SUPPRESS, False)
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
