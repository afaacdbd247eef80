"""``check_nir`` / ``adaspike check-nir``: the same spikes through adaspike's reading and each peer's own reader,
node by node; the forecast of who reads a file differently; the export that checks itself."""
from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from adaspike.interop import check_nir, export_nir, import_nir, read_nir, reading_forecast, write_nir
from adaspike.interop.check import forecast_line
from adaspike.interop.readers import reader_available

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "nir_agreement.py"
_spec = importlib.util.spec_from_file_location("nir_agreement_check", _SCRIPT)
pairs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pairs)
N_IN = pairs.N_IN


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger().setLevel(logging.ERROR)


def _net(reset: str = "zero", strict: bool = True, readout: bool = True) -> nn.Sequential:
    """LIF → LIF (→ leaky-integrator readout), ZOH at 1 ms, driven to fire (the pairs script's network)."""
    torch.manual_seed(0)
    return pairs.adaspike_net("lif", 1e-3, readout=readout, reset=reset, strict=strict)


def _written(tmp_path, net, profile: str):
    with pytest.warns(UserWarning) if profile != "generic" else _nothing():
        graph = export_nir(net, (N_IN,), profile=profile)
    return write_nir(tmp_path / f"{profile}.nir", graph)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.slow
@pytest.mark.parametrize("peer", ["snntorch", "norse", "spikingjelly"])
def test_a_file_written_for_a_reader_agrees_there_node_by_node(tmp_path, peer):
    """--for PEER: the peer's own reader gives adaspike's spikes on every LIF and its membrane on the readout,
    and adaspike's reading of the file is the model."""
    if not reader_available(peer):
        pytest.skip(f"{peer} is not installed")
    net = _net()
    report = check_nir(_written(tmp_path, net, peer), [peer], model=net, rate=0.3)
    (row,) = report.readers
    assert row.status == "agrees", report.table()
    assert [layer.kind for layer in row.layers] == ["spikes", "spikes", "membrane"]
    assert all(layer.rate > 0 and layer.first_divergence is None for layer in row.layers[:2])
    assert report.model.status == "agrees" and report.model.agreement == 1.0


@pytest.mark.slow
def test_a_generic_file_read_differently_is_reported_with_the_step_it_starts(tmp_path):
    """True τ at 1 ms ZOH, read by Norse's Euler at the same dt: not the model's spikes, and the check says so."""
    if not reader_available("norse"):
        pytest.skip("norse is not installed")
    net = _net(readout=False)
    report = check_nir(_written(tmp_path, net, "generic"), ["norse"], rate=0.3)
    (row,) = report.readers
    assert row.status == "differs" and row.agreement < 0.995
    assert any(layer.first_divergence is not None for layer in row.layers)
    assert report.differing == [row]
    assert "| norse |" in report.table()


def test_forecast_names_the_readers_that_differ_and_the_fix():
    generic = export_nir(_net(), (N_IN,))
    forecast = reading_forecast(generic)
    assert forecast["adaspike"]["reads"] == "alike"
    for reader in ("snntorch", "norse", "spikingjelly"):  # ZOH at 1 ms: nobody's Euler at 0.1 ms or 1 ms
        assert forecast[reader] == {"reads": "differently", "fix": f"--for {reader}", "why": None}
    assert forecast["rockpool"]["reads"] == "cannot" and "--readout sum" in forecast["rockpool"]["why"]
    line = forecast_line(forecast)
    assert "DIFFERENTLY by snntorch (--for snntorch)" in line and "rockpool" in line
    # snnTorch and SpikingJelly read one per-step model: the file for one is read alike by the other
    written = reading_forecast(generic, "snntorch")
    assert written["spikingjelly"]["reads"] == "alike" and written["norse"]["reads"] == "differently"


def test_check_without_peers_and_its_errors(tmp_path):
    """Any file: adaspike's reading alone (no readers asked), input shape from the graph; bad requests are one
    clear error each."""
    path = _written(tmp_path, _net(), "generic")
    report = check_nir(path, [], steps=20, batch=2)
    assert report.readers == [] and report.input_shape == [N_IN] and report.dt == pytest.approx(1e-3)
    assert report.convention == "adaspike"
    with pytest.raises(ValueError, match="unknown NIR reader"):
        check_nir(path, ["brian2"])
    with pytest.raises(ValueError, match="rate"):
        check_nir(path, [], rate=1.5)
    with pytest.raises(FileNotFoundError):
        check_nir(tmp_path / "missing.nir", [])


def test_a_reader_that_refuses_the_file_cannot_read_it(tmp_path, monkeypatch):
    """A reader's own error is 'cannot read' (not a disagreement), with its message."""
    from adaspike.interop import check as check_module
    from adaspike.interop import readers

    def refuse(graph, options):
        raise NotImplementedError("no LIF here")

    fake = readers.PeerReader("fake", "Fake", "json", "pytest", "fake.from_nir(graph)", "step", refuse)
    monkeypatch.setitem(readers.READERS, "fake", fake)
    monkeypatch.setitem(check_module.READERS, "fake", fake)
    report = check_nir(_written(tmp_path, _net(readout=False), "generic"), ["fake"], steps=10, batch=2)
    (row,) = report.readers
    assert row.status == "cannot read" and "no LIF here" in row.error and report.differing == []


def test_a_profiled_file_reads_as_its_reader_and_moves_like_the_model(tmp_path):
    """adaspike reads a --for norse file (reset by subtraction as pass-through CubaLIF, LI readout as a
    never-firing LIF) as Norse reads it: the model's own outputs, without Norse installed."""
    net = _net(reset="subtract")
    graph = read_nir(_written(tmp_path, net, "norse"))
    assert any(isinstance(n, nir.CubaLIF) for n in graph.nodes.values())
    assert float(np.max(graph.nodes["3"].v_threshold)) > 1e29  # the readout never fires
    ours = import_nir(graph)
    assert ours.nir_import["convention"] == "norse"
    x = (torch.rand(60, 4, N_IN, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    with torch.no_grad():
        mine, model = ours(x), net(x)
    assert model.abs().max() > 0
    torch.testing.assert_close(mine, model, rtol=1e-4, atol=1e-4 * float(model.abs().max()))


def test_refusal_names_every_part_and_one_train_command():
    """adaspike train's default LIF model (recurrent, reset by subtraction) for snnTorch: both reasons, one fix."""
    from adaspike.models import build_model
    model = build_model("snn", input_shape=[N_IN], classes=3, hidden=[8], neuron="lif", dt=1e-3)
    with pytest.raises(ValueError) as err:
        export_nir(model, (N_IN,), profile="snntorch")
    text = str(err.value)
    assert "recurrent loop" in text and "resets to zero" in text
    assert ("`adaspike train ... --no-recurrent --model-options '{\"neuron_options\": {\"reset\": \"zero\"}}'`"
            in text)


def test_writer_step_of_norse_1_1_files(tmp_path):
    """Norse 1.1 wrote τ·dt_w: read at the step imported at unless told, and writer_dt only where it applies."""
    zeros = np.zeros(2, np.float32)
    node = nir.LIF(tau=np.full(2, 5e-6, np.float32), r=np.ones(2, np.float32), v_leak=zeros,
                   v_threshold=np.ones(2, np.float32), v_reset=zeros)
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "lif": node, "output": nir.Output(np.array([2]))},
                         edges=[("input", "lif"), ("lif", "output")])
    at_half = import_nir(graph, dt=5e-4, convention="norse-1.1")
    told = import_nir(graph, dt=5e-4, convention="norse-1.1", writer_dt=1e-3)
    assert float(at_half.layers["lif"].tau().max()) == pytest.approx(1e-2, rel=1e-4)  # 5e-6 s² / 0.5 ms
    assert float(told.layers["lif"].tau().max()) == pytest.approx(5e-3, rel=1e-4)
    with pytest.raises(ValueError, match="writer_dt .* does not apply to snntorch"):
        import_nir(graph, dt=1e-3, convention="snntorch", reset="zero", writer_dt=1e-3)


def test_check_nir_from_the_command_line(tmp_path, capsys):
    from adaspike.cli import main
    path = _written(tmp_path, _net(), "generic")
    assert main(["check-nir", str(path), "--readers", "", "--steps", "20", "-o", str(tmp_path / "out")]) == 0
    saved = json.loads((tmp_path / "out" / "check.json").read_text())
    assert saved["convention"] == "adaspike" and saved["steps"] == 20
    assert (tmp_path / "out" / "check.md").read_text().startswith("NIR check of")
    assert main(["check-nir", str(path), "--readers", "", "-o", str(tmp_path / "out")]) == 1  # no --overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["check-nir", str(path), "--readers", "brian2"]) == 1
    assert "unknown NIR reader" in capsys.readouterr().err


def test_export_prints_the_forecast_and_records_the_check(tmp_path, capsys):
    """Every export prints who reads the file differently; --for checks the file against the model (and the
    reader, where installed) and records what was checked in the file."""
    from adaspike.cli import main
    from adaspike.models import build_model
    from adaspike.train import save_checkpoint
    torch.manual_seed(0)
    model = build_model("snn", input_shape=[N_IN], classes=3, hidden=[8], neuron="lif", dt=1e-3, recurrent=False,
                        neuron_options={"reset": "zero", "strict": True})
    ckpt = save_checkpoint(tmp_path / "m.safetensors", model)
    assert main(["export-nir", str(ckpt), "-o", str(tmp_path / "generic")]) == 0
    err = capsys.readouterr().err
    assert "NIR readers: read as the model by adaspike" in err and "--for snntorch" in err
    assert main(["export-nir", str(ckpt), "--for", "norse", "-o", str(tmp_path / "norse")]) == 0
    err = capsys.readouterr().err
    assert "| model |" in err and "agrees" in err
    recorded = json.loads(read_nir(tmp_path / "norse" / "model.nir").metadata["nir_check"])
    assert recorded["checked"]["model"]["status"] == "agrees"
    if reader_available("norse"):
        assert recorded["checked"]["norse"]["status"] == "agrees"


def test_the_check_recording_states_dt_in_nir_data_and_import_reads_it(tmp_path):
    """check-nir -o writes the input and adaspike's spikes as NIR data (TimeGriddedData with dt); a file without a
    step of its own is then imported at that dt without --dt."""
    from adaspike.cli import main
    from adaspike.interop.recording import recorded_dt
    path = _written(tmp_path, _net(readout=False), "generic")
    assert main(["check-nir", str(path), "--readers", "", "--steps", "15", "--batch", "3", "-o", str(tmp_path)]) == 0
    data = nir.read_data(str(tmp_path / "activity.nir"))
    assert set(data.nodes) == {"input", "0_neuron", "1_neuron"}
    spikes = data.nodes["1_neuron"].observables["output"]
    assert spikes.dt == pytest.approx(1e-3) and spikes.data.shape == (3, 15, 6) and spikes.data.dtype == bool
    assert spikes.data.any()
    bare = read_nir(path)
    bare.metadata.clear()  # no recorded step: only the NIR data beside it states one
    for node in bare.nodes.values():
        node.metadata = {}
    write_nir(tmp_path / "bare.nir", bare)
    assert recorded_dt(tmp_path / "activity.nir") == pytest.approx(1e-3)
    model = import_nir(tmp_path / "bare.nir", convention="adaspike")
    assert model.nir_import["dt"] == pytest.approx(1e-3)
    (tmp_path / "activity.nir").unlink()
    with pytest.raises(ValueError, match="needs dt"):
        import_nir(tmp_path / "bare.nir", convention="adaspike")


def test_a_norse_1_1_import_with_its_writer_step_round_trips_through_a_checkpoint(tmp_path):
    """import-nir --writer-dt: the checkpoint rebuilds the same model (the option is part of its config)."""
    from adaspike.cli import main
    from adaspike.train import load_model
    zeros = np.zeros(3, np.float32)
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])),
                                "fc": nir.Affine(weight=np.eye(3, dtype=np.float32) * 30, bias=zeros + 0.5),
                                "lif": nir.LIF(tau=np.full(3, 5e-6, np.float32), r=np.ones(3, np.float32),
                                               v_leak=zeros, v_threshold=zeros + 1, v_reset=zeros),
                                "output": nir.Output(np.array([3]))},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    path = write_nir(tmp_path / "norse11.nir", graph)
    assert main(["import-nir", str(path), "--dt", "0.5ms", "--convention", "norse-1.1", "--writer-dt", "1ms",
                 "-o", str(tmp_path / "imported")]) == 0
    model = load_model(tmp_path / "imported" / "model.safetensors")
    assert float(model.layers["lif"].tau().max()) == pytest.approx(5e-3, rel=1e-4)  # 5e-6 s² / 1 ms
