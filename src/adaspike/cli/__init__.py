"""The ``adaspike`` command: a thin layer that parses arguments and calls the packages.

Each capability adds a module here with ``register(commands, studies)``.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import sys
from pathlib import Path

from .. import __version__
from .options import HELP_FORMAT

# capability modules, each registering its own sub-commands
COMMAND_MODULES = ("core", "evaluate", "retime", "convert", "coding", "interop", "events")


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
        importlib.import_module(f"adaspike.cli.{name}").register(commands, studies)
    _show_defaults(parser)
    return parser


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every sub-command's help shows its defaults, however its module built it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if sub.formatter_class is argparse.HelpFormatter:
                    sub.formatter_class = HELP_FORMAT
                _show_defaults(sub)


def _missing_study(parser) -> int:
    parser.print_help()
    return 2


# commands whose -o/--out is a folder that a second concurrent run would mix files into
FOLDER_COMMANDS = ("train", "demo", "study")


class OutputLocked(OSError):
    """Another adaspike process holds the output folder."""


@contextlib.contextmanager
def lock_output(folder: Path):
    """Hold an OS lock on ``folder/.lock`` for the whole run; the kernel drops it when the process exits or dies
    (kill -9 included), so a crashed run never blocks the next one."""
    import fcntl

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"output {folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise OutputLocked(errno.EBUSY, f"output folder {folder} is in use by {owner}; wait for it to finish "
                               "or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"adaspike pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def _run(args) -> int:
    out = getattr(args, "out", None)
    if args.command in FOLDER_COMMANDS and out is not None:
        with lock_output(out):
            return int(args.func(args) or 0)
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return _run(args)
    except (ValueError, OSError, NotImplementedError) as err:
        # user errors: one clear line, no traceback (use -v for the traceback)
        if args.verbose:
            raise
        print(f"adaspike: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("adaspike: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the last net: a cause not yet turned into a clear error above
        if args.verbose:
            raise
        print(f"adaspike: error: {type(err).__name__}: {_one_line(err)} (unexpected; rerun with -v for the "
              "traceback and please report it)", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 500 else text[:497] + "..."


__all__ = ["COMMAND_MODULES", "FOLDER_COMMANDS", "OutputLocked", "build_parser", "lock_output", "main"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
