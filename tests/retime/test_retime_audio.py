"""Audio front end, wav-folder dataset and the espeak-ng spoken digits (skipped without espeak-ng)."""
import numpy as np
import pytest
from scipy.io import wavfile

from adaspike.data.audio import AudioConfig, audio_to_events, filterbank_matrix, rates_to_events
from adaspike.data.spoken_digits import SPOKEN_DIGITS_PATTERN, espeak_available, spoken_digits
from adaspike.data.wav_folder import WavFolderDataset, pattern_regex


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))


def tone(freq, seconds=0.3, rate=16000, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


@pytest.mark.parametrize("kind", ["mel", "gammatone"])
def test_filterbank_rows_are_normalised_and_ordered(kind):
    cfg = AudioConfig(filterbank=kind)
    W = filterbank_matrix(cfg)
    assert W.shape == (700, cfg.n_fft // 2 + 1)
    assert np.allclose(W.sum(1), 1) and (W >= 0).all()
    freqs = np.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate)
    centres = W @ freqs
    assert np.all(np.diff(centres) >= -1e-9) and centres[0] < 200 and centres[-1] > 6000


@pytest.mark.parametrize("kind", ["mel", "gammatone"])
def test_a_tone_excites_channels_at_its_frequency(kind):
    cfg = AudioConfig(channels=64, filterbank=kind)
    low, high = audio_to_events(tone(300), 16000, cfg), audio_to_events(tone(3000), 16000, cfg)
    assert len(low) > 50 and len(high) > 50
    assert np.median(low["unit"]) < np.median(high["unit"])
    assert low["t"].max() < 300_000 and np.all(np.diff(low["t"]) >= 0)


def test_integrate_and_fire_counts_and_continuous_times():
    rates = np.full((1000, 3), [10.0, 55.5, 200.0])  # Hz over 1 s at 1 ms hops
    ev = rates_to_events(rates, 1e-3, np.random.default_rng(0))
    counts = np.bincount(ev["unit"], minlength=3)
    assert np.all(np.abs(counts - [10, 55.5, 200]) <= 1)
    isi = np.diff(ev["t"][ev["unit"] == 2])
    assert np.all(np.abs(isi - 5000) <= 1)  # 200 Hz: 5 ms apart, to the µs (not snapped to the 1 ms hop)


def _write_folder(root, layout):
    rng = np.random.default_rng(0)
    for rel, freq in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        wavfile.write(path, 16000, (tone(freq, 0.2) * 20000 + rng.normal(0, 50, 3200)).astype(np.int16))


def test_wav_folder_by_subfolder(tmp_path):
    _write_folder(tmp_path / "w", {"low/a.wav": 300, "low/b.wav": 320, "high/a.wav": 3000, "high/b.wav": 3100})
    data = WavFolderDataset(tmp_path / "w", dt=2e-3, channels=32)
    assert data.class_names == ["high", "low"] and data.num_classes == 2 and data.is_event_data
    x, y = data[0]
    assert x.shape == (data.n_steps, 32) and x.dtype.is_floating_point and data.input_shape == (32,)
    assert 0.1 < data.t_max <= 0.2 and data.dt == 2e-3  # latest event, rounded up to 10 ms
    assert len(data.events(0)) == int(x.sum())
    again = WavFolderDataset(tmp_path / "w", dt=4e-3, channels=32)  # from the cache, other dt: nested bins
    assert np.array_equal(again.events(1), data.events(1))


def test_wav_folder_by_pattern_and_speaker_split(tmp_path):
    layout = {f"{d}_{spk}_{take}.wav": 300 + 500 * d for d in range(3) for spk in ("ann", "bob", "cyd", "dan", "eve")
              for take in range(2)}
    _write_folder(tmp_path / "p", layout)
    kw = dict(pattern="{label}_{speaker}_{take}.wav", channels=16, test_fraction=0.4)
    train = WavFolderDataset(tmp_path / "p", split="train", **kw)
    test = WavFolderDataset(tmp_path / "p", split="test", **kw)
    speakers = lambda d: {f.split("_")[1] for f in d.files}
    assert speakers(train).isdisjoint(speakers(test)) and len(train) + len(test) == 30
    assert train.t_max == test.t_max and train.class_names == ["0", "1", "2"]


def test_wav_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="label"):
        pattern_regex("{speaker}.wav")
    _write_folder(tmp_path / "flat", {"x.wav": 300})
    with pytest.raises(ValueError, match="sub-folders"):
        WavFolderDataset(tmp_path / "flat")
    with pytest.raises(ValueError, match="does not match"):
        WavFolderDataset(tmp_path / "flat", pattern="{label}_{take}.wav")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .wav"):
        WavFolderDataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="not a folder"):
        WavFolderDataset(tmp_path / "missing")


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_spoken_digits_generate_and_load(tmp_path):
    root = spoken_digits(tmp_path / "sd", speakers=3, takes=1, digits=(1, 7))
    assert len(list(root.glob("*.wav"))) == 6
    data = WavFolderDataset(root, pattern=SPOKEN_DIGITS_PATTERN, channels=40, dt=4e-3)
    assert data.class_names == ["1", "7"] and len(data) == 6
    assert all(len(data.events(i)) > 100 for i in range(len(data)))
    assert spoken_digits(tmp_path / "sd", speakers=3, takes=1, digits=(1, 7)) == root  # reused
