"""Per-stage progress of ``convert``: one tqdm bar per stage (thresholds, Γ search, SSC, IAT) with a time estimate.

The searches tick once per network run they make (``search.symmetric_kl`` calls ``tick``; each sensitivity-table
entry is one such run), the IAT stage once per calibration batch, so tqdm's rate and remaining-time estimate come
from runs actually timed. A stage's total is its largest possible number of runs (entries copied from the
unmodified run cost nothing and are not ticked), so the estimate is an upper bound and the bar is filled when the
stage ends. Bars go to stderr, only when it is a terminal (``progress=None``) or when asked (``progress=True``).
"""
from __future__ import annotations

import contextlib
import contextvars
import sys
import time

_current = contextvars.ContextVar("adaspike_convert_progress_bar", default=None)


def tick(n: int = 1) -> None:
    """Advance the running stage's bar (no-op outside a stage or with progress off)."""
    bar = _current.get()
    if bar is not None:
        bar.update(n)


class StageProgress:
    """``with progress.stage("Γ search", total=runs): ...`` shows a bar for that stage; ``enabled=None``: on when
    stderr is a terminal. ``log`` keeps (stage, seconds, runs) for every stage, shown or not."""

    def __init__(self, enabled: bool | None = None, file=None):
        self.file = file if file is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.file, "isatty", lambda: False)())
        self.enabled = bool(enabled)
        self.log: list[tuple[str, float, int]] = []
        self._running = None

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None):
        counter = self.begin(name, total)
        try:
            yield counter
        finally:
            self.end()

    def begin(self, name: str, total: int | None = None) -> "_Counter":
        """Start stage ``name`` (ending the one running, if any); ``total``: its largest number of runs."""
        self.end()
        bar = None
        if self.enabled:
            from tqdm.auto import tqdm
            bar = tqdm(total=total, desc=f"convert: {name}", unit="run", file=self.file, leave=True,
                       dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                       "[{elapsed}<{remaining} at most, {rate_fmt}]" if total else "{desc}: {elapsed}")
        counter = _Counter(bar, name, total)
        self._running = (counter, _current.set(counter), time.perf_counter())
        return counter

    def end(self) -> None:
        """End the running stage (no-op when none runs): fill its bar and log its time."""
        running, self._running = getattr(self, "_running", None), None
        if running is None:
            return
        counter, token, start = running
        _current.reset(token)
        self.log.append((counter.name, time.perf_counter() - start, counter.n))
        if counter.bar is not None:
            if counter.total:
                counter.bar.n = max(counter.bar.n, counter.total)
            counter.bar.refresh()
            counter.bar.close()


class _Counter:
    """Counts ticks (so tests and ``log`` see them without a bar) and forwards them to the bar."""

    def __init__(self, bar, name: str = "", total: int | None = None):
        self.bar, self.name, self.total = bar, name, total
        self.n = 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
