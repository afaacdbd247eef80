"""Input scaling of retimed count inputs: all count inputs x 1/rho (auto) vs leaving recurrent or feed-forward
weights unscaled; zoh with the spike rule in seconds, on the validation split (never the test split).

    python scripts/retime_input_scaling.py runs/retime-sd/lif_4ms_seed0/model.safetensors spoken-digits
"""
import sys, torch
from adaspike.train import load_model, evaluate
from adaspike.retime import retime
from adaspike.studies.experiment import make_loaders, with_dataset_defaults
ck, ds = sys.argv[1], sys.argv[2]
model = load_model(ck)
for dt in [2e-3, 8e-3]:
    L = make_loaders(ds, dt=dt, batch_size=64, **with_dataset_defaults(ds, {}))
    rho = dt / 4e-3
    for label in ["auto (all 1/rho)", "recurrent unscaled", "feed-forward unscaled", "none scaled"]:
        m = retime(model, dt=dt, method="zoh", input_scale="auto" if label != "none scaled" else 1.0)
        with torch.no_grad():
            for layer in m.hidden:
                if label == "recurrent unscaled" and hasattr(layer, "recurrent"):
                    layer.recurrent.mul_(rho)
                if label == "feed-forward unscaled":
                    layer.synapse.module.weight.mul_(rho)
        r = evaluate(m, L.val)
        src = evaluate(model, make_loaders(ds, dt=4e-3, batch_size=64, **with_dataset_defaults(ds, {})).val) if label.startswith("auto") else None
        print(f"{ds} {ck.split('/')[-2]} dt={dt*1e3:g}ms {label:22s} val {100*r['accuracy']:.1f} rate {r['spike_rates']['hidden.0.neuron']/dt:.1f} Hz" + (f"  (source val {100*src['accuracy']:.1f}, {src['spike_rates']['hidden.0.neuron']/4e-3:.1f} Hz)" if src else ""), flush=True)
