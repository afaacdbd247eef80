"""NIR at any step, checked on a trained checkpoint: export -> import at 1 and 8 ms equals retime to the same step.

    python scripts/nir_any_dt.py runs/anyclock/spoken-digits_lif_s0/model.safetensors

Prints, per step, how many test predictions agree, both accuracies and the largest logit difference.
"""
import json
import sys
import tempfile
from pathlib import Path

import torch
from adaspike.interop import export_nir, import_nir, read_nir, write_nir
from adaspike.retime import retime
from adaspike.train import load_model, read_checkpoint
from adaspike.studies.experiment import make_loaders
torch.set_num_threads(1)
path = sys.argv[1]
meta = read_checkpoint(path)[2]; data = meta["data"]
model = load_model(path).eval()
shape = model.config["kwargs"]["input_shape"]
nir_path = write_nir(str(Path(tempfile.mkdtemp()) / "model.nir"), export_nir(model, shape, data={k: data[k] for k in ("dataset", "options", "dt")}))
out = {}
for dt in (1e-3, 8e-3):
    imported = import_nir(read_nir(nir_path), dt=dt).eval()
    reference = retime(model, dt=dt).eval()
    loader = make_loaders(data["dataset"], dt=dt, batch_size=64, val_fraction=None, **data.get("options", {})).test
    same = total = correct_i = correct_r = 0; max_diff = 0.0
    with torch.no_grad():
        for x, y in loader:
            a, b = imported(x), reference(x)
            same += int((a.argmax(-1) == b.argmax(-1)).sum()); total += len(y)
            correct_i += int((a.argmax(-1) == y).sum()); correct_r += int((b.argmax(-1) == y).sum())
            max_diff = max(max_diff, float((a - b).abs().max()))
    out[f"{dt*1e3:g}ms"] = {"same_predictions": same, "samples": total, "imported_acc": correct_i / total,
                            "retime_acc": correct_r / total, "max_logit_diff": max_diff}
print(json.dumps(out, indent=1))
