"""The audio datasets are reachable through load_dataset like every other dataset."""
import wave

import numpy as np
import pytest

from adaspike.data import DATASETS, load_dataset


def _write_tone(path, freq, rate=16000, seconds=0.3):
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())


def test_wav_folder_through_load_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))
    for label, freq in (("low", 300.0), ("high", 3000.0)):
        for take in range(3):
            _write_tone(tmp_path / f"{label}_spk{take}_0.wav", freq * (1 + 0.05 * take))
    assert "wav-folder" in DATASETS and "spoken-digits" in DATASETS
    data = load_dataset("wav-folder", "train", dt="5ms", root=str(tmp_path), pattern="{label}_{speaker}_{take}.wav",
                        channels=32)
    x, y = data[0]
    assert x.shape[1:] == (32,) and x.sum() > 0 and data.num_classes == 2
    with pytest.raises(ValueError, match="root"):
        load_dataset("wav-folder", "train")


def test_unknown_and_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown option"):
        load_dataset("digits", "train", foo=1)
    with pytest.raises(ValueError, match="pool"):
        load_dataset("event-digits", "train", pool=2.5)
    with pytest.raises(ValueError, match="t_max"):
        load_dataset("event-digits", "train", t_max=0)


def test_wav_folder_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))
    for label, freq in (("low", 300.0), ("high", 3000.0)):
        for take in range(3):
            _write_tone(tmp_path / f"{label}_spk{take}_0.wav", freq)
    data = load_dataset("wav-folder", "train", dt="5ms", root=str(tmp_path), channels=16, limit=2,
                        pattern="{label}_{speaker}_{take}.wav")
    assert len(data) == 2 and data.num_classes == 2 and data.input_shape == (16,)
