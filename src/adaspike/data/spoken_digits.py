"""Spoken digits synthesised by espeak-ng: many voices, speeds and pitches, written as a WAV folder.

Files are ``<root>/<digit>_<speaker>_<take>.wav`` (read them with
``WavFolderDataset(root, pattern=SPOKEN_DIGITS_PATTERN)``); a speaker is an espeak-ng language voice combined
with a voice variant (e.g. ``en-us+f2``), and each take draws its own speed (words per minute) and pitch
(0–99) from a generator seeded by (seed, speaker, digit, take). The folder lives in the adaspike cache and is
reused while its ``manifest.json`` matches the request. Needs the ``espeak-ng`` program (Debian package
``espeak-ng``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

from ..report.io import atomic_path
from .cache import cache_dir

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
LANGUAGES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3",
            "croak", "Andy", "Annie", "john", "linda", "steph")
SPOKEN_DIGITS_PATTERN = "{label}_{speaker}_{take}.wav"


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def default_speakers(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct language+variant voices, drawn reproducibly from the pairs above."""
    pairs = [f"{lang}+{var}" for lang in LANGUAGES for var in VARIANTS]
    if count > len(pairs):
        raise ValueError(f"at most {len(pairs)} speakers are available, asked for {count}")
    order = np.random.default_rng(seed).permutation(len(pairs))[:count]
    return [pairs[i] for i in sorted(order)]


def synthesise(path: Path, word: str, voice: str, speed: int, pitch: int) -> None:
    """One espeak-ng utterance written to ``path`` (atomically)."""
    with atomic_path(path) as tmp:
        cmd = ["espeak-ng", "-w", str(tmp), "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), word]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if result.returncode != 0 or not tmp.is_file():
            raise RuntimeError(f"espeak-ng failed for voice {voice!r}, word {word!r}: {result.stderr.strip()}")


def spoken_digits(root: str | Path | None = None, *, speakers: int | Sequence[str] = 40, takes: int = 3,
                  speed_range: tuple[int, int] = (110, 230), pitch_range: tuple[int, int] = (15, 85),
                  digits: Sequence[int] = tuple(range(10)), seed: int = 0) -> Path:
    """Generate (or reuse) the spoken-digit folder and return its path."""
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng); it synthesises the digits")
    voices = default_speakers(speakers, seed) if isinstance(speakers, int) else list(speakers)
    request = {"voices": voices, "takes": int(takes), "speed": list(speed_range), "pitch": list(pitch_range),
               "digits": [int(d) for d in digits], "seed": int(seed), "version": 1}
    if root is None:
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]
        root = cache_dir() / f"spoken-digits-{digest}"
    root = Path(root)
    manifest = root / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()) == request:
        return root
    root.mkdir(parents=True, exist_ok=True)
    for v, voice in enumerate(voices):
        for d in digits:
            for take in range(takes):
                rng = np.random.default_rng([seed, v, int(d), take])
                speed = int(rng.integers(speed_range[0], speed_range[1] + 1))
                pitch = int(rng.integers(pitch_range[0], pitch_range[1] + 1))
                path = root / f"{d}_{voice}_{take}.wav"
                if not path.is_file():
                    synthesise(path, DIGIT_WORDS[int(d)], voice, speed, pitch)
    manifest.write_text(json.dumps(request, sort_keys=True))
    return root
