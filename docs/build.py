"""Run every tutorial, then build the site: ``python docs/build.py --site site``.

The docs are copied to a scratch folder first, so the figures the tutorials write never land in the repository.
Into that copy go the Results and Benchmarks pages (docs/results.md and docs/benchmarks.md, their generated
tables made again from benchmarks/results/*.json by docs/site_tables.py) and MathJax's files (from the
django-static-mathjax wheel of the docs extra), so the site renders math with no network.
Exit status is non-zero if a tutorial fails or mkdocs reports a warning (``--strict``).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import site_tables  # docs/site_tables.py: this folder is on sys.path (the script's own, or the test's)

DOCS = Path(__file__).resolve().parent
# site pages kept beside the docs folder (the README links them as repository files); the build renders them
SITE_PAGES = ("results.md", "benchmarks.md")
# what the site needs of MathJax's es5 build: the TeX -> CommonHTML bundle, the components it loads on demand
# (TeX extensions, the menu, accessibility) and the fonts; not the other bundles
MATHJAX_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "ui", "a11y", "sre", "adaptors")


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


def add_site_pages(docs: Path) -> None:
    """docs/results.md and docs/benchmarks.md as site pages, their generated tables made from the JSON."""
    for name in SITE_PAGES:
        text = site_tables.render((docs / name).read_text(), site_tables.ROOT)
        # links written from docs/ (pages/concepts.md) point from inside docs_dir on the site
        (docs / "pages" / name).write_text(text.replace("](pages/", "]("))


def mathjax_files() -> Path:
    """MathJax 3's es5 folder, shipped as plain files by the django-static-mathjax wheel (the docs extra)."""
    try:
        dist = importlib.metadata.distribution("django-static-mathjax")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("MathJax is missing: pip install -e '.[docs]' (django-static-mathjax ships it), "
                           "so the site renders math with no network") from None
    return Path(dist.locate_file("mathjax/static/mathjax/es5"))


def add_mathjax(docs: Path) -> None:
    source, target = mathjax_files(), docs / "pages" / "javascripts" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


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
        shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("__pycache__", "figures", "outputs", "screenshots"))
        for name, seconds in run_tutorials(docs).items():
            print(f"{name}: ok in {seconds:.1f}s")
        if not args.tutorials_only:
            add_site_pages(docs)
            add_mathjax(docs)
            build_site(docs, args.site)
            print(f"site written to {args.site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
