"""Run every tutorial, then build the site: ``python docs/build.py --site site``.

The docs are copied to a scratch folder first, so the figures the tutorials write never land in the repository.
Exit status is non-zero if a tutorial fails or mkdocs reports a warning (``--strict``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def run_tutorials(docs: Path, timeout: float = 600) -> dict[str, float]:
    """Execute docs/tutorials/tutorial_*.py in ``docs``. Returns seconds each.

    Figures go to docs/pages/figures; printed outputs to docs/outputs: the named blocks a tutorial writes with
    ``_common.show``/``_common.output`` (outputs/<tutorial>/<block>.txt) and its whole stdout
    (outputs/<tutorial>.txt). Pages include them with pymdownx.snippets (see docs/tutorials/_common.py).
    """
    outputs = docs / "outputs"
    env = dict(os.environ, ADASPIKE_DOCS_FIGURES=str(docs / "pages" / "figures"), ADASPIKE_DOCS_OUTPUTS=str(outputs),
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               NUMBA_NUM_THREADS=os.environ.get("NUMBA_NUM_THREADS", "1"))
    outputs.mkdir(parents=True, exist_ok=True)
    timings = {}
    for script in sorted((docs / "tutorials").glob("tutorial_*.py")):
        tic = time.perf_counter()
        proc = subprocess.run([sys.executable, script.name], cwd=script.parent, env=env, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"tutorial {script.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        (outputs / f"{tutorial_name(script)}.txt").write_text(proc.stdout)
        timings[script.name] = time.perf_counter() - tic
    return timings


def tutorial_name(script: Path) -> str:
    """``tutorial_retime.py`` -> ``retime``: the folder of its output blocks under docs/outputs."""
    return script.stem.removeprefix("tutorial_")


def build_site(docs: Path, site: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(docs / "mkdocs.yml"),
                           "-d", str(site.resolve())], cwd=docs, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"mkdocs build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site", type=Path, default=Path("site"), help="output folder for the HTML site")
    parser.add_argument("--tutorials-only", action="store_true", help="run the tutorials, skip mkdocs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="adaspike-docs-") as tmp:
        docs = Path(tmp) / "docs"
        shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("__pycache__", "figures", "outputs"))
        for name, seconds in run_tutorials(docs).items():
            print(f"{name}: ok in {seconds:.1f}s")
        if not args.tutorials_only:
            build_site(docs, args.site)
            print(f"site written to {args.site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
