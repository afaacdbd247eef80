"""Audio front end: WAV → filter bank envelopes → spike events with continuous times (SHD-like, 700 channels).

Pipeline, per recording:
1. read the WAV, mix to mono, resample to ``sample_rate`` (polyphase); NaN or Inf samples are an error;
2. a short-time power spectrum (each frame minus its own mean, as Kaldi's ``remove_dc_offset``, so a DC
   offset is not sound; Hann window ``win_s``, hop ``hop_s``) weighted by a filter bank: ``mel``
   (triangles equally spaced on the mel scale) or ``gammatone`` (4th-order gammatone power responses
   |1 + ((f − f_c)/b)²|⁻⁴ with b = 1.019·ERB(f_c), centres equally spaced on the ERB-rate scale);
3. per channel, a firing rate from the log energy over a ``dynamic_range_db`` window below the recording's
   peak, r_c(t) = max_rate · clip((L_c(t) − L_peak + D)/D, 0, 1), and r_c(t) = 0 wherever L_c(t) is below the
   absolute floor ``silence_db``; levels are in dB relative to full scale (0 dB: the peak FFT bin of a
   full-scale sine), so a silent recording (zeros, a constant, or sub-LSB noise) gives no spikes at all;
4. an integrate-and-fire encoder per channel: a spike whenever ∫ r_c dt (plus a random initial phase) crosses
   an integer; crossing times are interpolated inside the hop, so event times are continuous (stored in µs).

The events can then be binned at any ``dt`` with exactly nesting bins, like SHD.
"""
from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from math import gcd
from pathlib import Path

import numpy as np

from .events import audio_events

FRONT_END_VERSION = 2  # 2: DC removal, absolute silence floor, NaN/Inf refused
FILTERBANKS = ("mel", "gammatone")


@dataclass(frozen=True)
class AudioConfig:
    """Front-end parameters (frequencies in Hz, times in seconds, levels in dB re full scale).

    ``silence_db``: channel energies below this absolute level (dB relative to the peak FFT bin of a full-scale
    sine; 16-bit quantisation noise sits near −120 dB) fire at rate 0, whatever the recording's own peak.
    """

    channels: int = 700
    filterbank: str = "mel"
    sample_rate: int = 16000
    f_min: float = 50.0
    f_max: float = 7600.0
    n_fft: int = 1024
    win_s: float = 0.025
    hop_s: float = 0.001
    max_rate: float = 150.0
    dynamic_range_db: float = 45.0
    silence_db: float = -80.0
    seed: int = 0

    def __post_init__(self):
        if self.filterbank not in FILTERBANKS:
            raise ValueError(f"filterbank must be one of {FILTERBANKS}, got {self.filterbank!r}")
        if self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={self.f_min}, "
                             f"f_max={self.f_max}, sample_rate={self.sample_rate}")
        if self.win_s * self.sample_rate > self.n_fft:
            raise ValueError(f"window of {self.win_s}s is longer than n_fft={self.n_fft} samples")
        if self.max_rate <= 0 or self.dynamic_range_db <= 0 or self.hop_s <= 0:
            raise ValueError("max_rate, dynamic_range_db and hop_s must be > 0")
        if not np.isfinite(self.silence_db):
            raise ValueError(f"silence_db must be a finite level in dB, got {self.silence_db}")

    def as_dict(self) -> dict:
        return {**asdict(self), "version": FRONT_END_VERSION}


def _wav_header(path: str | Path) -> dict:
    """The RIFF chunk table of a WAV file: ``{"order", "fmt": bytes | None, "data": (offset, declared size)}``.

    Refuses a file whose declared sizes do not match its length: a RIFF size past the end, or a ``data`` chunk
    that declares more bytes than the file holds (truncated) or a size that is not a whole number of frames."""
    path = Path(path)
    size_on_disk = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a WAV file (no RIFF/WAVE header)")
        order = ">" if head[:4] == b"RIFX" else "<"
        riff_size = struct.unpack(order + "I", head[4:8])[0]
        if riff_size + 8 > size_on_disk:
            raise ValueError(f"{path}: truncated WAV file: its header declares {riff_size + 8} bytes, the file "
                             f"holds {size_on_disk}")
        header = {"order": order, "fmt": None, "data": None}
        while len(chunk := fh.read(8)) == 8:
            kind, size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
            offset = fh.tell()
            if kind == b"fmt ":
                header["fmt"] = fh.read(size)
            elif kind == b"data":
                header["data"] = (offset, size)
                if offset + size > size_on_disk:
                    raise ValueError(f"{path}: truncated WAV file: its data chunk declares {size} bytes of "
                                     f"samples, the file holds {size_on_disk - offset}")
            fh.seek(offset + size + (size & 1))
    if header["fmt"] is None or len(header["fmt"]) < 16 or header["data"] is None:
        raise ValueError(f"{path}: WAV file without a complete fmt chunk and a data chunk")
    block_align = struct.unpack(order + "H", header["fmt"][12:14])[0]
    if block_align and header["data"][1] % block_align:
        raise ValueError(f"{path}: inconsistent WAV file: {header['data'][1]} bytes of samples are not a whole "
                         f"number of {block_align}-byte frames")
    return header


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float64 samples in [-1, 1] and the sample rate of a PCM or float WAV file.

    Truncated or inconsistent files (a header that declares more samples than the file holds), NaN and Inf are
    refused, naming the file."""
    import warnings

    from scipy.io import wavfile

    try:
        _wav_header(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error", wavfile.WavFileWarning)  # "reached EOF prematurely" is an error here
            rate, data = wavfile.read(str(path))
    except (ValueError, OSError, wavfile.WavFileWarning) as exc:
        raise ValueError(f"{path}: not a readable WAV file ({exc})") from exc
    data = np.asarray(data)
    if data.dtype.kind == "u":
        samples = (data.astype(np.float64) - 2 ** (8 * data.itemsize - 1)) / 2 ** (8 * data.itemsize - 1)
    elif data.dtype.kind == "i":
        samples = data.astype(np.float64) / 2 ** (8 * data.itemsize - 1)
    else:
        samples = data.astype(np.float64)
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"{path}: the WAV file holds NaN or Inf samples")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples, int(rate)


def wav_sample_rate(path: str | Path) -> int:
    """The native sample rate of a WAV file, from its ``fmt `` chunk (reads the header only; a truncated or
    inconsistent file is refused)."""
    try:
        header = _wav_header(path)
    except OSError as exc:
        raise ValueError(f"{path}: not a readable WAV file ({exc})") from exc
    return int(struct.unpack(header["order"] + "I", header["fmt"][4:8])[0])


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling from ``rate`` to ``target`` Hz."""
    if rate == target:
        return samples
    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(samples, target // g, rate // g)


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def _erb_rate(f):
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(f))


def _erb_rate_to_hz(e):
    return (10.0 ** (np.asarray(e) / 21.4) - 1.0) / 0.00437


def filterbank_matrix(config: AudioConfig) -> np.ndarray:
    """Weights [channels, n_fft/2 + 1] on the power spectrum, each row summing to 1."""
    freqs = np.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate)
    bin_width = freqs[1]
    if config.filterbank == "mel":
        edges = _mel_to_hz(np.linspace(_hz_to_mel(config.f_min), _hz_to_mel(config.f_max), config.channels + 2))
        lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        # channels narrower than an FFT bin would be empty: give every triangle at least one bin per side
        left = np.maximum(centre - lower, bin_width)
        right = np.maximum(upper - centre, bin_width)
        f = freqs[None, :]
        weights = np.clip(np.minimum((f - (centre - left)) / left, ((centre + right) - f) / right), 0.0, None)
    else:
        centre = _erb_rate_to_hz(np.linspace(_erb_rate(config.f_min), _erb_rate(config.f_max), config.channels))
        bandwidth = 1.019 * 24.7 * (4.37 * centre / 1000.0 + 1.0)
        weights = (1.0 + ((freqs[None, :] - centre[:, None]) / bandwidth[:, None]) ** 2) ** -4
    return weights / weights.sum(axis=1, keepdims=True)


def power_spectrogram(samples: np.ndarray, config: AudioConfig) -> np.ndarray:
    """Short-time power spectrum [frames, n_fft/2 + 1]; frame k starts at k·hop, its mean removed."""
    win = int(round(config.win_s * config.sample_rate))
    hop = int(round(config.hop_s * config.sample_rate))
    if len(samples) < win:
        samples = np.pad(samples, (0, win - len(samples)))
    frames = 1 + (len(samples) - win) // hop
    index = np.arange(win)[None, :] + hop * np.arange(frames)[:, None]
    framed = samples[index]
    windowed = (framed - framed.mean(axis=1, keepdims=True)) * np.hanning(win)[None, :]
    return np.abs(np.fft.rfft(windowed, n=config.n_fft, axis=1)) ** 2


def full_scale_power(config: AudioConfig) -> float:
    """Power of the peak FFT bin of a full-scale sine under the analysis window: the 0 dB reference."""
    win = int(round(config.win_s * config.sample_rate))
    return float(np.hanning(win).sum() / 2.0) ** 2


def energy_db(energy: np.ndarray, config: AudioConfig) -> np.ndarray:
    """Filter-bank energies in dB relative to full scale (see :func:`full_scale_power`); 0 gives −300 dB."""
    return 10.0 * np.log10(np.maximum(np.asarray(energy, dtype=np.float64) / full_scale_power(config), 1e-30))


def firing_rates(energy: np.ndarray, config: AudioConfig) -> np.ndarray:
    """Rates [frames, channels] in Hz from filter-bank energies, over a dynamic range below the peak.

    Energies below the absolute floor ``config.silence_db`` give rate 0, so silence never fires.
    """
    level = energy_db(energy, config)
    if level.size == 0:
        return np.zeros(level.shape)
    floor = level.max() - config.dynamic_range_db
    rates = config.max_rate * np.clip((level - floor) / config.dynamic_range_db, 0.0, 1.0)
    return np.where(level >= config.silence_db, rates, 0.0)


def rates_to_events(rates: np.ndarray, hop_s: float, rng: np.random.Generator) -> np.ndarray:
    """Integrate-and-fire per channel with a random initial phase; crossing times interpolated (µs).

    All channels are searched at once: channel c's running integral is offset by c·span, which stacks the
    per-channel non-decreasing curves into one non-decreasing array.
    """
    frames, channels = rates.shape
    phase = rng.random(channels)
    integral = np.vstack([np.zeros((1, channels)), np.cumsum(rates * hop_s, axis=0)]) + phase[None, :]
    first = np.floor(integral[0]).astype(np.int64) + 1  # crossings strictly after the initial phase
    last = np.floor(integral[-1]).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    if counts.sum() == 0:
        return audio_events(np.zeros(0, np.int64), np.zeros(0, np.int64))
    span = float(np.ceil(integral[-1].max()) + 2)
    offsets = span * np.arange(channels)
    stacked = (integral + offsets[None, :]).T.ravel()  # channel-major
    units = np.repeat(np.arange(channels), counts)
    rank = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    levels = (first[units] + rank).astype(np.float64)
    pos = np.searchsorted(stacked, levels + offsets[units], side="left")
    k = np.clip(pos - units * (frames + 1), 1, frames)
    lo, hi = integral[k - 1, units], integral[k, units]
    frac = np.where(hi > lo, (levels - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0)
    t = (k - 1 + np.clip(frac, 0.0, 1.0)) * hop_s
    order = np.lexsort((units, t))
    return audio_events(np.rint(t[order] * 1e6).astype(np.int64), units[order])


def audio_to_events(samples: np.ndarray, rate: int, config: AudioConfig | None = None,
                    seed: int | None = None, source: str | Path | None = None) -> np.ndarray:
    """Spike events (AUDIO_DTYPE, t in µs) of a mono recording (``source`` names it in error messages).

    NaN or Inf samples raise ``ValueError``.
    """
    config = config or AudioConfig()
    samples = np.asarray(samples, dtype=np.float64)
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise ValueError(f"{source or 'audio_to_events'}: {bad} of {samples.size} samples are NaN or Inf")
    samples = resample(samples, rate, config.sample_rate)
    energy = power_spectrogram(samples, config) @ filterbank_matrix(config).T
    rng = np.random.default_rng(config.seed if seed is None else seed)
    return rates_to_events(firing_rates(energy, config), config.hop_s, rng)


def wav_to_events(path: str | Path, config: AudioConfig | None = None, seed: int | None = None) -> np.ndarray:
    """Read a WAV file and encode it as spike events."""
    samples, rate = read_wav(path)
    if samples.size == 0:
        raise ValueError(f"{path}: the WAV file holds no samples")
    return audio_to_events(samples, rate, config, seed, source=path)
