"""`adaspike export-nir` / `import-nir` from the command line, through checkpoints."""
from __future__ import annotations

import pytest
import torch

from adaspike.cli import main


@pytest.fixture()
def snn_checkpoint(tmp_path):
    from adaspike.models import build_model
    from adaspike.train import save_checkpoint
    torch.manual_seed(0)
    model = build_model("snn", input_shape=[2, 3], classes=3, hidden=[8], neuron="lif", recurrent=True,
                        readout="li-mean", dt=1e-3, input_gain=4.0)
    return model, save_checkpoint(tmp_path / "snn.safetensors", model)


def test_export_then_import_from_cli(tmp_path, snn_checkpoint, capsys):
    import adaspike.interop.rebuild  # noqa: F401  registers the "nir_graph" builder
    from adaspike.train import load_model
    model, ckpt = snn_checkpoint
    assert main(["export-nir", str(ckpt), "-o", str(tmp_path / "m.nir")]) == 0
    assert (tmp_path / "m.nir").is_file()
    assert main(["import-nir", str(tmp_path / "m.nir"), "--dt", "1ms", "--convention", "adaspike",
                 "--dataset", "event-digits", "-o", str(tmp_path / "imported.safetensors")]) == 0
    imported = load_model(tmp_path / "imported.safetensors")
    from adaspike.train import read_checkpoint
    assert read_checkpoint(tmp_path / "imported.safetensors")[2]["data"] == {"dt": 1e-3, "dataset": "event-digits"}
    x = (torch.rand(25, 4, 2, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    with torch.no_grad():
        torch.testing.assert_close(imported(x), model(x), rtol=1e-4, atol=1e-5)


def test_import_needs_dt_unless_the_file_records_it(tmp_path, snn_checkpoint, capsys):
    _, ckpt = snn_checkpoint
    main(["export-nir", str(ckpt), "-o", str(tmp_path / "m.nir")])
    # an adaspike file records its model's step: imported there without --dt
    assert main(["import-nir", str(tmp_path / "m.nir"), "-o", str(tmp_path / "x.safetensors")]) == 0
    import nir
    graph = nir.read(tmp_path / "m.nir", type_check=False)
    graph.metadata.clear()  # a file that does not say who wrote it, nor at which step
    for node in graph.nodes.values():
        node.metadata = {}
    nir.write(tmp_path / "bare.nir", graph)
    assert main(["import-nir", str(tmp_path / "bare.nir"), "--convention", "adaspike", "-o",
                 str(tmp_path / "y.safetensors")]) == 1
    assert "needs dt" in capsys.readouterr().err


def test_export_of_adaptive_neurons_fails_clearly(tmp_path, capsys):
    from adaspike.models import build_model
    from adaspike.train import save_checkpoint
    model = build_model("snn", input_shape=[4], classes=2, hidden=[4], neuron="adlif", dt=1e-3)
    ckpt = save_checkpoint(tmp_path / "a.safetensors", model)
    assert main(["export-nir", str(ckpt), "-o", str(tmp_path / "a.nir")]) == 1
    assert "no NIR primitive" in capsys.readouterr().err


def test_export_for_a_reader_and_missing_file(tmp_path, capsys):
    from adaspike.models import build_model
    from adaspike.train import save_checkpoint
    model = build_model("snn", input_shape=[4], classes=2, hidden=[4], neuron="lif", dt=1e-3)
    ckpt = save_checkpoint(tmp_path / "m.safetensors", model)
    assert main(["export-nir", str(ckpt), "--for", "snntorch", "-o", str(tmp_path / "m.nir")]) == 1
    assert "RLeaky" in capsys.readouterr().err  # the default model is recurrent
    ok = build_model("snn", input_shape=[4], classes=2, hidden=[4], neuron="lif", dt=1e-3, recurrent=False,
                     readout="sum", neuron_options={"reset": "zero", "strict": True})
    ckpt = save_checkpoint(tmp_path / "ok.safetensors", ok)
    assert main(["export-nir", str(ckpt), "--for", "norse", "-o", str(tmp_path / "ok.nir")]) == 0
    assert '"for": "norse"' in capsys.readouterr().out
    assert main(["import-nir", str(tmp_path / "missing.nir"), "--dt", "1ms", "-o", str(tmp_path / "x.safetensors")]) == 1
    assert "NIR file not found" in capsys.readouterr().err
