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

# every command: (the module that registers its arguments, one line of help). Only the module of the command
# being run is imported, so `adaspike --help` answers without loading torch and a command loads what it needs.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("core", "train an SNN on a dataset"),
    "eval": ("evaluate", "evaluate a checkpoint on its dataset's test split, on any clock"),
    "info": ("info", "show a checkpoint's metadata, or what this install provides"),
    "demo": ("core", "the main job: short studies on the embedded data, results under runs/demo"),
    "retime": ("retime", "re-discretise a trained checkpoint for another time step (zero-shot)"),
    "train-ann": ("convert", "train a ReLU + BatchNorm source CNN for conversion"),
    "convert": ("convert", "convert a trained ANN to an SNN; tables (JSON + Markdown) and plots"),
    "export-nir": ("interop", "write a checkpoint as a NIR graph (τ in seconds)"),
    "import-nir": ("interop", "turn a NIR graph into an adaspike checkpoint"),
    "check-nir": ("interop", "run a NIR file through adaspike and every installed peer reader; compare spikes"),
}
STUDIES: dict[str, tuple[str, str]] = {
    "retime": ("retime", "train once, evaluate every (method, target dt) zero-shot, and on any clock"),
    "convert": ("convert", "train-ann then convert, in one run"),
    "convert-events": ("convert", "train a CNN on mean event frames, convert it, feed it the frames"),
    "coding": ("coding", "encoding × time-step-adaptive neurons × T ablation (accuracy, energy, time, memory)"),
    "events": ("events", "conv SNN vs MLP, logistic regression and conv ANN on event-camera data"),
}
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in (*COMMANDS.values(), *STUDIES.values())))


def command_parser(commands, name: str, *, study: bool = False, **kwargs) -> argparse.ArgumentParser:
    """The sub-parser of command (or study) ``name``, with its help line from the table above, the shared help
    format and the options every command takes (``--no-progress``; ``-v`` is global)."""
    table = STUDIES if study else COMMANDS
    kwargs.setdefault("formatter_class", HELP_FORMAT)
    kwargs.setdefault("description", table[name][1][:1].upper() + table[name][1][1:] + ".")
    parser = commands.add_parser(name, help=table[name][1], **kwargs)
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return parser


def _requested(argv: list[str]) -> tuple[str | None, str | None]:
    """The command (and study) named on the command line, without parsing it."""
    words = [a for a in argv if not a.startswith("-")]
    command = words[0] if words else None
    return command, (words[1] if command == "study" and len(words) > 1 else None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser: with ``argv``, only the named command's module registers its arguments (the others are listed
    by name and help); without, every module does."""
    parser = argparse.ArgumentParser(prog="adaspike", description="Adaptive spiking neural networks: train, "
                                     "retime, convert and study SNNs built on continuous-time neuron models.")
    parser.add_argument("--version", action="version", version=f"adaspike {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    study = commands.add_parser("study", help="run a whole experiment (tables + plots)", formatter_class=HELP_FORMAT)
    studies = study.add_subparsers(dest="study", metavar="STUDY")
    study.set_defaults(func=lambda args: _missing_study(study))
    if argv is None:
        modules = COMMAND_MODULES
    else:
        command, study_name = _requested(argv)
        modules = [COMMANDS[command][0]] if command in COMMANDS else []
        if command == "study" and study_name in STUDIES:
            modules.append(STUDIES[study_name][0])
    for name in dict.fromkeys(modules):
        importlib.import_module(f"adaspike.cli.{name}").register(commands, studies)
    for name, (_, text) in COMMANDS.items():  # listed by name for help and for argparse's choice errors
        if name not in commands.choices:
            commands.add_parser(name, help=text)
    for name, (_, text) in STUDIES.items():
        if name not in studies.choices:
            studies.add_parser(name, help=text)
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
FOLDER_COMMANDS = ("train", "demo", "study", "convert")
# the file a single-file command writes inside its output folder (-o)
FILE_COMMANDS = {"retime": "model.safetensors", "export-nir": "model.nir", "import-nir": "model.safetensors",
                 "train-ann": "model.safetensors"}
COMPLETE = ".complete"  # written into an output folder when its command finished; its absence means interrupted


class OutputLocked(OSError):
    """Another adaspike process holds the output folder."""


class OutputExists(FileExistsError):
    """The output holds a finished run that this command would overwrite."""


@contextlib.contextmanager
def lock_output(folder: Path):
    """Hold an OS lock on ``folder/.lock`` for the whole run; the kernel drops it when the process exits or dies
    (kill -9 included), so a crashed run never blocks the next one. The lock file is removed on every exit
    path this process controls (normal end, errors, Ctrl-C); a process that finds its lock file replaced under
    it (removed by the previous holder) retries on the new one."""
    import fcntl

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"output {folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise OutputLocked(errno.EBUSY, f"output folder {folder} is in use by {owner}; wait for it to finish "
                               "or choose another --out") from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()  # locked a file its previous holder had just removed: take the current one
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"adaspike pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # still holding the lock, so nobody else is using this file
        handle.close()  # releases the lock


def _finished(args) -> Path | None:
    """The finished output this command would overwrite (a folder with its completion mark, a finished train
    run of an earlier version, or a single-file command's file), else None."""
    out = getattr(args, "out", None)
    if out is None or args.command in ("demo", "eval", "info"):
        return None
    out = Path(out)
    if args.command in FILE_COMMANDS:
        from .options import output_file
        target = output_file(out, FILE_COMMANDS[args.command]) if not out.suffix else out
        return target if target.is_file() else None
    if (out / COMPLETE).is_file():
        return out
    if args.command == "train" and (out / "model.safetensors").is_file() and (out / "metrics.json").is_file() \
            and not (out / "last.safetensors").exists():
        return out
    return None


def _run(args) -> int:
    out = getattr(args, "out", None)
    done = _finished(args)
    if done is not None and not getattr(args, "overwrite", False):
        what = "holds a finished run" if done.is_dir() else "exists"
        raise OutputExists(errno.EEXIST, f"{done} {what}; pass --overwrite to replace it, or choose another -o "
                           "folder (an interrupted run, one without its completion mark, resumes by itself)")
    if args.command in FOLDER_COMMANDS and out is not None:
        with lock_output(out):
            (Path(out) / COMPLETE).unlink(missing_ok=True)
            code = int(args.func(args) or 0)
            if code == 0:
                from ..report import write_json
                write_json(Path(out) / COMPLETE, {"command": sys.argv[1:] if sys.argv else [], "pid": os.getpid()})
            return code
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return _run(args)
    except BrokenPipeError:  # `adaspike eval ... | head`: the reader left; nothing to report
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
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


__all__ = ["COMMANDS", "COMMAND_MODULES", "COMPLETE", "FILE_COMMANDS", "FOLDER_COMMANDS", "OutputExists",
           "OutputLocked", "STUDIES", "build_parser",
           "command_parser", "lock_output", "main"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
