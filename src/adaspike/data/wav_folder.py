"""``wav-folder``: a folder of labelled WAV files served as spike events through the audio front end.

Labels come from the sub-folder name (``root/<label>/*.wav``) or from a file-name ``pattern`` such as
``"{label}_{speaker}_{take}.wav"`` (fields in braces match any text without '/'; the pattern is matched against
the path relative to ``root`` when it contains '/', else against the file name). Encoded events are cached
(keyed by the files' names and bytes and the front-end settings).

``split="train"|"test"`` keeps a deterministic part of the files: whole speakers when the pattern has a
``{speaker}`` field (so test voices are unseen), else whole files; ``test_fraction`` of them go to test.
The same grouping is exposed per sample as ``groups`` (for a by-speaker validation split).
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.units import DEFAULT_BIN_DT

from .audio import AudioConfig, wav_sample_rate, wav_to_events
from .cache import EventSet, cached_event_set
from .samples import EventDataset
from .events import AUDIO_DTYPE

SPLITS = (None, "all", "train", "test")
BAND_MARGIN = 0.95  # the usable band ends at 0.95 x the lowest native Nyquist (the default 7600 Hz of 8000)
log = logging.getLogger("adaspike")


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

    ``t_max`` (seconds) defaults to the ``t_max_percentile``-th percentile (98 by default) of the per-file
    last-event times over the whole folder (files without events left out), rounded up to 10 ms: every split
    and every ``dt`` sees the same window, and a few long files (trailing noise) no longer make the others
    mostly padding. Events at ``t >= t_max`` are dropped, so the longest ~2 % of files lose their tail. That
    folder default is kept as ``auto_t_max`` even when ``t_max`` is given.

    Band: when the lowest native sample rate of the folder is below ``sample_rate``, channels above its
    Nyquist would never fire (the audio is resampled up). With the default front end (``audio=None``) ``f_max``
    is then lowered to ``0.95 ×`` the lowest native Nyquist (floored to 1 Hz) and a warning is logged on the
    ``"adaspike"`` logger; an explicit ``audio`` config is kept as given but gets the same warning.

    Attributes besides :class:`EventDataset`'s: ``files`` (relative paths), ``groups`` (numpy str array: the
    speaker of each file when the pattern has ``{speaker}``, else the file itself), ``sample_rates`` (native
    rates, Hz), ``audio_config`` (the front end actually used), ``auto_t_max`` and ``t_max_percentile``.
    """

    def __init__(self, root: str | Path, *, pattern: str | None = None, dt: float = DEFAULT_BIN_DT, channels: int = 700,
                 filterbank: str = "mel", t_max: float | None = None, split: str | None = None,
                 test_fraction: float = 0.2, split_seed: int = 0, pool: int = 1,
                 audio: AudioConfig | None = None, class_names: Sequence[str] | None = None,
                 t_max_percentile: float = 98.0):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"wav-folder root {self.root} is not a folder of WAV files")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        if not 0.0 < t_max_percentile <= 100.0:
            raise ValueError(f"t_max_percentile must lie in (0, 100], got {t_max_percentile}")
        files = label_files(self.root, pattern)
        rates = np.array([wav_sample_rate(self.root / rel) for rel, _, _ in files], dtype=np.int64)
        config = _fit_band(audio or AudioConfig(channels=channels, filterbank=filterbank), int(rates.min()),
                           self.root, explicit=audio is not None)
        names = list(class_names) if class_names else sorted({lab for _, lab, _ in files}, key=_natural)
        unknown = sorted({lab for _, lab, _ in files} - set(names))
        if unknown:
            raise ValueError(f"labels {unknown} are not in class_names {names}")
        self.files = [rel for rel, _, _ in files]
        everything = self._encode(files, names, config)
        self.t_max_percentile = float(t_max_percentile)
        self.auto_t_max = _percentile_window(everything, t_max_percentile)
        if t_max is None:
            t_max = self.auto_t_max
        keep = np.arange(len(files))
        if split in ("train", "test"):
            test_groups = _test_groups([group for _, _, group in files], test_fraction, split_seed)
            test = np.array([group in test_groups for _, _, group in files])
            keep = np.flatnonzero(test if split == "test" else ~test)
            if keep.size == 0:
                raise ValueError(f"split {split!r} of {self.root} is empty; change test_fraction or split_seed")
        self.files = [self.files[i] for i in keep]
        self.groups = np.array([files[i][2] for i in keep], dtype=str)
        self.sample_rates = rates[keep]
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


def _percentile_window(data: EventSet, percentile: float) -> float:
    """The percentile of the per-file last-event times (µs, files with events), rounded up to 10 ms (s)."""
    last = [int(data[i]["t"].max()) for i in range(len(data)) if len(data[i])]
    if not last:
        return 0.01
    # "higher": an actual file's end, so at the 100th percentile the window holds every event
    latest = int(np.percentile(last, percentile, method="higher")) + 1
    return -(-latest // 10_000) * 10_000 / 1e6


def _fit_band(config: AudioConfig, lowest_rate: int, root: Path, explicit: bool) -> AudioConfig:
    """Keep ``f_max`` below the lowest native Nyquist of the folder (lowered if default, warned if explicit)."""
    if lowest_rate >= config.sample_rate:
        return config  # AudioConfig already keeps f_max <= sample_rate / 2
    limit = BAND_MARGIN * lowest_rate / 2.0
    if config.f_max <= limit:
        return config
    problem = (f"{root}: the lowest native sample rate is {lowest_rate} Hz (Nyquist {lowest_rate / 2:g} Hz), below "
               f"the front end's {config.sample_rate} Hz, so channels near and above f_max={config.f_max:g} Hz "
               "would carry (almost) nothing")
    if explicit:
        log.warning("%s; the given AudioConfig is kept: pass f_max <= %g Hz to use every channel",
                    problem, math.floor(limit))
        return config
    f_max = float(math.floor(limit))
    if f_max <= config.f_min:
        raise ValueError(f"{problem}, and f_min={config.f_min:g} Hz leaves no band below {f_max:g} Hz")
    log.warning("%s; f_max lowered to %g Hz (%g x Nyquist)", problem, f_max, BAND_MARGIN)
    return replace(config, f_max=f_max)


def _file_seed(rel: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{rel}".encode()).digest()[:4], "big")
