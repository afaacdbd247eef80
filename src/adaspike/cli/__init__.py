"""The ``adaspike`` command: a thin layer that parses arguments and calls the packages.

Each capability adds a module here with ``register(commands, studies)``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__

# capability modules, each registering its own sub-commands
COMMAND_MODULES = ("core", "retime", "convert", "coding", "interop")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adaspike", description="Adaptive spiking neural networks: train, "
                                     "retime, convert and study SNNs built on continuous-time neuron models.")
    parser.add_argument("--version", action="version", version=f"adaspike {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    study = commands.add_parser("study", help="run a whole experiment (tables + plots)")
    studies = study.add_subparsers(dest="study", metavar="STUDY")
    study.set_defaults(func=lambda args: _missing_study(study))
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"adaspike.cli.{name}")
        except ModuleNotFoundError as err:  # a capability still in development
            if err.name != f"adaspike.cli.{name}":
                raise
            continue
        module.register(commands, studies)
    return parser


def _missing_study(parser) -> int:
    parser.print_help()
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, NotImplementedError) as err:
        # user errors: one clear line, no traceback (use -v for the traceback)
        if args.verbose:
            raise
        print(f"adaspike: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
