"""Markdown table of ``benchmarks/convert_pretrained.py`` results (one or more JSON files).

    python scripts/convert_pretrained_table.py benchmarks/results/convert_pretrained_*.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> int:
    print("| model (test images) | ANN % | budget | AdaFire T = 1 / 2 / 4 / 8: Δ vs ANN (pp) | Γ per layer at T = 8 "
          "| full pipeline T = 8: % (Δ) | mean steps | IAT α |")
    print("|---|---|---|---|---|---|---|---|")
    for path in paths:
        for model in json.loads(Path(path).read_text())["models"]:
            for budget in dict.fromkeys(r["budget"] for r in model["rows"]):
                rows = {r["T"]: r for r in model["rows"] if r["budget"] == budget}
                deltas = " / ".join(f"{rows[T]['adafire_delta_pp']:+.2f}" if T in rows else "–" for T in (1, 2, 4, 8))
                full = rows.get(8, {})
                print(f"| {model['model']} ({model['test']}) | {model['ann_test_accuracy']:.2f} | {budget} | {deltas} "
                      f"| {','.join(map(str, full.get('gammas', [])))} "
                      f"| {full.get('full_accuracy', float('nan')):.2f} ({full.get('full_delta_pp', float('nan')):+.2f}) "
                      f"| {full.get('full_mean_steps', float('nan')):.2f} | {(full.get('iat') or {}).get('alpha')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
