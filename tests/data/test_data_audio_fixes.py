"""Audio front-end fixes: percentile t_max, f_max below the native Nyquist, silence floor, NaN/Inf refused,
class-balanced ``limit`` and per-sample ``groups``."""
import logging

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from adaspike.data import load_dataset
from adaspike.data.audio import (AudioConfig, audio_to_events, firing_rates, read_wav, wav_sample_rate,
                                 wav_to_events)
from adaspike.data.datasets import StaticImageDataset, _first
from adaspike.data.wav_folder import WavFolderDataset

PATTERN = "{label}_{speaker}_{take}.wav"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))


def tone(freq, seconds=0.2, rate=16000, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def write(path, samples, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    if np.asarray(samples).dtype.kind == "f" and np.asarray(samples).dtype != np.float32:
        samples = np.clip(np.asarray(samples) * 32767, -32768, 32767).astype(np.int16)
    wavfile.write(path, rate, samples)
    return path


# 1. t_max: a high percentile of the per-file ends, not the single latest event

def test_default_t_max_is_a_percentile_of_file_ends_not_the_longest_file(tmp_path):
    root = tmp_path / "w"
    for k in range(50):
        write(root / f"{k % 2}_s{k % 5}_{k}.wav", tone(400 + 40 * k, 0.2))
    write(root / "1_s0_long.wav", tone(700, 1.5))  # one outlier file, 1.5 s of sound
    data = WavFolderDataset(root, pattern=PATTERN, channels=16, dt=5e-3)
    assert 0.15 < data.t_max <= 0.22  # the old default (latest event) was ~1.5 s
    assert data.t_max_percentile == 98.0 and data.auto_t_max == data.t_max
    long = data.files.index("1_s0_long.wav")
    x, _ = data[long]
    assert x.shape[0] == data.n_steps and x.sum() < len(data.events(long))  # events after t_max dropped
    kw = dict(pattern=PATTERN, channels=16, test_fraction=0.4)
    train, test = WavFolderDataset(root, split="train", **kw), WavFolderDataset(root, split="test", dt=1e-3, **kw)
    assert train.t_max == test.t_max == data.t_max  # whole-folder window: same for every split and dt
    full = WavFolderDataset(root, pattern=PATTERN, channels=16, t_max_percentile=100)
    assert full.t_max > 1.4  # every event kept, like the old default
    given = WavFolderDataset(root, pattern=PATTERN, channels=16, t_max=0.5)
    assert given.t_max == 0.5 and given.auto_t_max == data.t_max


# 2. f_max above the native Nyquist

def noise(seconds, rate, seed=0):
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * rate))


def test_header_sample_rate(tmp_path):
    assert wav_sample_rate(write(tmp_path / "a.wav", noise(0.05, 8000), 8000)) == 8000
    assert wav_sample_rate(write(tmp_path / "b.wav", noise(0.05, 22050).astype(np.float32), 22050)) == 22050
    (tmp_path / "c.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="c.wav"):
        wav_sample_rate(tmp_path / "c.wav")


def test_default_f_max_is_lowered_below_the_native_nyquist(tmp_path, caplog):
    root = tmp_path / "n8k"
    for k in range(4):
        write(root / f"{k % 2}_s{k}_0.wav", noise(0.2, 8000, seed=k), 8000)
    with caplog.at_level(logging.WARNING, logger="adaspike"):
        data = WavFolderDataset(root, pattern=PATTERN, channels=64)
    assert data.audio_config.f_max == 3800.0 and data.sample_rates.tolist() == [8000] * 4
    assert any("8000 Hz" in r.getMessage() and "3800" in r.getMessage() for r in caplog.records)
    counts = sum(np.bincount(data.events(i)["unit"], minlength=64) for i in range(len(data)))
    assert (counts > 0).all()  # broadband noise: every channel fires (with f_max 7600 the top ~16 were dead)


def test_explicit_config_above_nyquist_is_kept_but_warned(tmp_path, caplog):
    root = tmp_path / "mixed"
    write(root / "0_a_0.wav", noise(0.1, 8000), 8000)
    write(root / "1_b_0.wav", noise(0.1, 16000), 16000)
    with caplog.at_level(logging.WARNING, logger="adaspike"):
        data = WavFolderDataset(root, pattern=PATTERN, audio=AudioConfig(channels=32))
    assert data.audio_config.f_max == 7600.0 and "kept" in caplog.text
    caplog.clear()
    mixed = WavFolderDataset(root, pattern=PATTERN, channels=32)  # default: the lowest rate decides
    assert mixed.audio_config.f_max == 3800.0 and mixed.sample_rates.tolist() == [8000, 16000]
    caplog.clear()
    write(tmp_path / "hi" / "0_a_0.wav", noise(0.1, 22050), 22050)
    with caplog.at_level(logging.WARNING, logger="adaspike"):
        fine = WavFolderDataset(tmp_path / "hi", pattern=PATTERN, channels=32)
    assert fine.audio_config.f_max == 7600.0 and not caplog.records


# 3. silence gives no spikes

def test_silent_and_constant_recordings_give_no_events(tmp_path):
    zeros = write(tmp_path / "zeros.wav", np.zeros(16000, np.int16))
    const = write(tmp_path / "const.wav", np.full(16000, 1000, np.int16))
    dither = write(tmp_path / "dither.wav", np.random.default_rng(0).integers(-1, 2, 16000).astype(np.int16))
    for path in (zeros, const, dither):
        assert len(wav_to_events(path, AudioConfig(channels=64))) == 0, path.name
    assert not firing_rates(np.zeros((10, 4)), AudioConfig()).any()


def test_quiet_recordings_still_encode():
    cfg = AudioConfig(channels=64)
    loud = audio_to_events(tone(1000, 0.3, amp=0.5), 16000, cfg)
    quiet = audio_to_events(tone(1000, 0.3, amp=1e-3), 16000, cfg)  # -60 dBFS
    assert len(quiet) > 50 and abs(np.median(quiet["unit"]) - np.median(loud["unit"])) <= 1
    assert len(audio_to_events(tone(1000, 0.3, amp=0.2) + 0.3, 16000, cfg)) == len(
        audio_to_events(tone(1000, 0.3, amp=0.2), 16000, cfg))  # a DC offset is not sound


def test_silent_file_in_a_folder_is_an_empty_sample(tmp_path):
    write(tmp_path / "w" / "a" / "tone.wav", tone(500))
    write(tmp_path / "w" / "b" / "silent.wav", np.zeros(3200, np.int16))
    data = WavFolderDataset(tmp_path / "w", channels=16)
    x, y = data[data.files.index("b/silent.wav")]
    assert x.sum() == 0 and y == 1 and data.t_max > 0


# 4. NaN / Inf are errors naming the file

def test_nan_and_inf_samples_are_errors(tmp_path):
    bad = tone(500).astype(np.float32)
    bad[100] = np.nan
    path = write(tmp_path / "w" / "a" / "broken.wav", bad)
    with pytest.raises(ValueError, match="broken.wav.*NaN or Inf"):
        read_wav(path)
    with pytest.raises(ValueError, match="broken.wav"):
        wav_to_events(path)
    with pytest.raises(ValueError, match="broken.wav"):
        WavFolderDataset(tmp_path / "w", channels=8)
    with pytest.raises(ValueError, match="NaN or Inf"):
        audio_to_events(np.array([0.0, np.inf, 0.0] * 1000), 16000)
    with pytest.raises(ValueError, match="clip.wav"):
        audio_to_events(np.array([0.0, -np.inf] * 1000), 16000, source="clip.wav")


# 5. limit: class-balanced, labels and groups follow the subset

def test_first_is_class_balanced_round_robin():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])
    data = StaticImageDataset(np.arange(9, dtype=np.uint8).reshape(9, 1, 1, 1), labels)
    data.groups = np.array([f"g{i}" for i in range(9)])
    sub = _first(data, 5)
    assert np.bincount(sub.labels).tolist() == [2, 2, 1]
    assert list(sub.indices) == [0, 1, 4, 5, 7]  # each class in its own order, dataset order kept
    assert sub.labels.tolist() == [sub[i][1] for i in range(len(sub))]
    assert sub.groups.tolist() == ["g0", "g1", "g4", "g5", "g7"]
    assert sub.num_classes == 3 and sub.input_shape == (1, 1, 1) and sub.is_event_data is False
    assert _first(data, 9) is data and _first(data, None) is data


def test_first_without_labels_is_a_prefix():
    data = torch.utils.data.TensorDataset(torch.arange(6))
    assert list(_first(data, 4).indices) == [0, 1, 2, 3]


def test_wav_folder_limit_covers_every_class(tmp_path):
    for label, freq in (("a", 300.0), ("b", 1500.0), ("c", 3000.0)):
        for take in range(3):
            write(tmp_path / "w" / f"{label}_spk{take}_0.wav", tone(freq * (1 + 0.05 * take)))
    data = load_dataset("wav-folder", "all", dt="5ms", root=str(tmp_path / "w"), pattern=PATTERN, channels=16,
                        limit=3)
    assert sorted(data.labels.tolist()) == [0, 1, 2]  # the sorted prefix would be a, a, a
    assert [data[i][1] for i in range(3)] == data.labels.tolist()
    assert data.groups.tolist() == [f.split("_")[1] for f in data.files]


# 6. groups: the speaker (or the file)

def test_groups_are_speakers_or_files(tmp_path):
    for d in range(2):
        for spk in ("ann", "bob", "cyd", "dan", "eve"):
            write(tmp_path / "p" / f"{d}_{spk}_0.wav", tone(400 + 600 * d))
    kw = dict(pattern=PATTERN, channels=8, test_fraction=0.4)
    train, test = WavFolderDataset(tmp_path / "p", split="train", **kw), WavFolderDataset(tmp_path / "p", split="test", **kw)
    assert train.groups.tolist() == [f.split("_")[1] for f in train.files] and len(train.groups) == len(train)
    assert set(train.groups).isdisjoint(test.groups) and set(train.groups) | set(test.groups) == {
        "ann", "bob", "cyd", "dan", "eve"}
    write(tmp_path / "s" / "x" / "one.wav", tone(500))
    write(tmp_path / "s" / "y" / "two.wav", tone(900))
    assert WavFolderDataset(tmp_path / "s", channels=8).groups.tolist() == ["x/one.wav", "y/two.wav"]
