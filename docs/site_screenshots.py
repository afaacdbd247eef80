"""Screenshots of the built site in headless Chromium, with no network: ``python docs/site_screenshots.py SITE``.

Writes docs/screenshots/{landing,concepts,api_layers,tutorial_first_snn}.png (``make screenshots`` builds the
site first). Chromium is Debian's ``chromium`` (scripts/system-packages.sh installs it), run headless from
``file://`` URLs with every background service off, so a page that still needed the network (a CDN script, a web
font) would show it: raw TeX instead of typeset math. ``rendered_dom`` gives a page's DOM after its scripts ran,
for tests/docs/test_docs_site.py.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["PAGES", "browser", "rendered_dom", "screenshot"]

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# name -> (page of the site, window height in px): each from its top (headless Chromium's --screenshot does not
# scroll to a #fragment), tall enough to show what the page is for
PAGES = {
    "landing": ("index.html", 2300),
    "concepts": ("concepts/index.html", 1500),
    "api_layers": ("api/layers/index.html", 2700),
    "tutorial_first_snn": ("tutorials/first_snn/index.html", 4300),
}
WIDTH = 1440
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--disable-features=Translate,MediaRouter", "--virtual-time-budget=15000")


def browser() -> str | None:
    """Path of a headless-capable Chromium, or None."""
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    exe = browser()
    if exe is None:
        raise RuntimeError("chromium is not installed: scripts/system-packages.sh installs Debian's chromium")
    with tempfile.TemporaryDirectory(prefix="adaspike-chromium-") as profile:  # no state shared between runs
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=timeout, check=True)


def rendered_dom(page: Path) -> str:
    """The page's DOM after its scripts ran (MathJax typesetting included)."""
    return _run(["--dump-dom", page.resolve().as_uri()]).stdout


def screenshot(page: Path, out: Path, width: int = WIDTH, height: int = 1500) -> Path:
    if not page.is_file():
        raise FileNotFoundError(f"{page} is not a page of a built site (python docs/build.py --site SITE)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    _run([f"--window-size={width},{height}", f"--screenshot={out.resolve()}", page.resolve().as_uri()])
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {page}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("site", type=Path, help="a site built by docs/build.py")
    parser.add_argument("-o", "--out", type=Path, default=SCREENSHOTS, help="folder for the PNG files")
    args = parser.parse_args(argv)
    for name, (page, height) in PAGES.items():
        print(f"{screenshot(args.site / page, args.out / f'{name}.png', height=height)}: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
