"""``wav-folder``: a folder of labelled WAV files served as spike events through the audio front end.

Labels come from the sub-folder name (``root/<label>/*.wav``) or from a file-name ``pattern`` such as
``"{label}_{speaker}_{take}.wav"`` (fields in braces match any text without '/'; the pattern is matched against
the path relative to ``root`` when it contains '/', else against the file name). Encoded events are cached
(keyed by the files' names and bytes and the front-end settings).

``split="train"|"test"`` keeps a deterministic part of the files: whole speakers when the pattern has a
``{speaker}`` field (so test voices are unseen), else whole files; ``test_fraction`` of them go to test.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .audio import AudioConfig, wav_to_events
from .cache import EventSet, cached_event_set
from .datasets import EventDataset
from .events import AUDIO_DTYPE

SPLITS = (None, "all", "train", "test")


def pattern_regex(pattern: str) -> re.Pattern:
    """Compile ``"{label}_{speaker}.wav"`` into a regex with one named group per field (``label`` required)."""
    fields = re.findall(r"{(\w+)}", pattern)
    if "label" not in fields:
        raise ValueError(f"file-name pattern {pattern!r} must contain a {{label}} field")
    if len(set(fields)) != len(fields):
        raise ValueError(f"file-name pattern {pattern!r} repeats a field")
    parts = re.split(r"({\w+})", pattern)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+?)" if re.fullmatch(r"{\w+}", p) else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


def label_files(root: Path, pattern: str | None) -> list[tuple[str, str, str]]:
    """(relative path, label, group) for every ``*.wav`` under ``root``; group is the speaker or the file."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() == ".wav")
    if not files:
        raise ValueError(f"no .wav files found under {root}")
    regex = pattern_regex(pattern) if pattern else None
    out = []
    for rel in files:
        if regex is None:
            if "/" not in rel:
                raise ValueError(f"{rel} sits directly in {root}: put files in <label>/ sub-folders or give "
                                 "pattern= such as '{label}_{speaker}_{take}.wav'")
            out.append((rel, rel.split("/")[-2], rel))
            continue
        match = regex.match(rel if "/" in pattern else rel.rsplit("/", 1)[-1])
        if match is None:
            raise ValueError(f"{rel} does not match the file-name pattern {pattern!r}")
        out.append((rel, match.group("label"), match.groupdict().get("speaker") or rel))
    return out


def _natural(name: str):
    return (0, int(name), name) if name.isdigit() else (1, 0, name)


def _test_groups(groups: list[str], fraction: float, seed: int) -> set[str]:
    """round(fraction · #groups) groups (at least one), ranked by a seeded hash: stable as files are added."""
    unique = sorted(set(groups), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    count = min(len(unique) - 1, max(1, round(fraction * len(unique)))) if len(unique) > 1 else 0
    return set(unique[:count])


class WavFolderDataset(EventDataset):
    """Items ``(float32 counts [T, channels], label)``; ``.events(i)`` gives the raw events (t in µs).

    ``t_max`` (seconds) defaults to the latest event over the whole folder, rounded up to 10 ms, so every split
    and every ``dt`` sees the same window.
    """

    def __init__(self, root: str | Path, *, pattern: str | None = None, dt: float = 4e-3, channels: int = 700,
                 filterbank: str = "mel", t_max: float | None = None, split: str | None = None,
                 test_fraction: float = 0.2, split_seed: int = 0, pool: int = 1,
                 audio: AudioConfig | None = None, class_names: Sequence[str] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"wav-folder root {self.root} is not a folder of WAV files")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        config = audio or AudioConfig(channels=channels, filterbank=filterbank)
        files = label_files(self.root, pattern)
        names = list(class_names) if class_names else sorted({lab for _, lab, _ in files}, key=_natural)
        unknown = sorted({lab for _, lab, _ in files} - set(names))
        if unknown:
            raise ValueError(f"labels {unknown} are not in class_names {names}")
        self.files = [rel for rel, _, _ in files]
        everything = self._encode(files, names, config)
        if t_max is None:
            latest = int(everything.events["t"].max()) + 1 if len(everything.events) else 10_000
            t_max = -(-latest // 10_000) * 10_000 / 1e6
        keep = np.arange(len(files))
        if split in ("train", "test"):
            test_groups = _test_groups([group for _, _, group in files], test_fraction, split_seed)
            test = np.array([group in test_groups for _, _, group in files])
            keep = np.flatnonzero(test if split == "test" else ~test)
            if keep.size == 0:
                raise ValueError(f"split {split!r} of {self.root} is empty; change test_fraction or split_seed")
        self.files = [self.files[i] for i in keep]
        self.audio_config = config
        super().__init__(everything.subset(keep), dt, t_max, (config.channels,), pool, names)

    def _encode(self, files, names: list[str], config: AudioConfig) -> EventSet:
        # keyed by content (names and bytes), so a copied or moved folder reuses its cache
        digest = hashlib.sha256()
        for rel, _, _ in files:
            digest.update(rel.encode() + b"\0" + hashlib.sha256((self.root / rel).read_bytes()).digest())
        params = {"files": digest.hexdigest(), "labels": [lab for _, lab, _ in files],
                  "classes": names, "audio": config.as_dict()}
        labels = np.array([names.index(lab) for _, lab, _ in files], dtype=np.int64)

        def build() -> EventSet:
            # one seed per file (from its name) so a file's events do not depend on the rest of the folder
            events = [wav_to_events(self.root / rel, config, seed=_file_seed(rel, config.seed))
                      for rel, _, _ in files]
            return EventSet.from_list(events, labels, AUDIO_DTYPE)

        return cached_event_set("wav-folder", params, build)


def _file_seed(rel: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{rel}".encode()).digest()[:4], "big")
