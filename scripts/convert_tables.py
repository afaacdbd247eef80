"""The Convert tables of docs/results.md from the convert study's JSON: `python scripts/convert_tables.py FILE.json ...`.

FILE is what `adaspike convert ... -o DIR` writes (DIR/convert_*.json): one accuracy/energy table per file, the
NeuroBench columns of ``adaspike.metrics`` when the rows carry them, and the IAT selection's held-back counts.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def tables(path: Path) -> str:
    d = json.loads(path.read_text())
    ann = d["ann"]
    out = [f"{path}", "", f"ANN {100 * ann['accuracy']:.2f} %, {ann['energy_pj'] / 1e6:.1f} µJ per sample, "
           f"{ann['samples']} test samples", "",
           "| T | method | accuracy % (Δ vs ANN) | mean steps | energy µJ | saving vs ANN | SOPs M | Γ per layer "
           "| SSC ratios | IAT α/β |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        gammas = ",".join(map(str, r["gammas"] or []))
        ratios = ",".join(f"{v:g}" for v in r["ssc_ratios"]) if r["ssc_ratios"] else ""
        out.append(f"| {r['T']} | {r['method']} | {r['accuracy']:.2f} ({r['delta_pp']:+.2f}) | {r['mean_steps']:.2f} "
                   f"| {r['energy_uJ']:.2f} | {r['saving_vs_ann_%']:.1f} % | {r['sops_M']:.2f} | {gammas} | {ratios} "
                   f"| {r['iat_alpha_beta'] or ''} |")
    if all(r.get("metrics") for r in d["rows"]):
        out += ["", "| T | method | activation sparsity | NeuroBench effective MACs M | effective ACs M | dense M |",
                "|---|---|---|---|---|---|"]
        for r in d["rows"]:
            m = r["metrics"]
            out.append(f"| {r['T']} | {r['method']} | {m['act_sparsity']:.3f} | {m['nb_MACs_M']:.2f} "
                       f"| {m['nb_ACs_M']:.2f} | {m['dense_M']:.2f} |")
    for r in d["rows"]:
        selection = r.get("iat_selection")
        if selection and selection.get("candidates"):
            out += ["", "IAT selection (held-back calibration images): "
                    + json.dumps({k: v for k, v in selection.items() if k != "candidates"})]
            out += [f"  {json.dumps(c)}" for c in selection["candidates"]]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="convert study JSON files")
    for path in parser.parse_args(argv).files:
        print(tables(path), end="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
