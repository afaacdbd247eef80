"""What a training run reports per epoch: one log line, ``metrics.csv``, TensorBoard when installed, and a
learning-curve plot at the end. Every file is rewritten atomically, so an interrupted run leaves whole files.
"""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from ..report import save_figure, write_text

__all__ = ["EpochLog", "format_epoch"]

log = logging.getLogger("adaspike")


def format_epoch(record: dict, epochs: int, best: dict | None = None) -> str:
    """``epoch 3/40  train loss 1.435 acc 73.2%  val loss 1.307 acc 85.8% (best 85.8% @3)  lr 4.1e-03  3.0 s``."""
    parts = [f"epoch {record['epoch']}/{epochs}",
             f"train loss {record['train_loss']:.3f} acc {100 * record['train_accuracy']:.1f}%"]
    if "val_loss" in record:
        text = f"val loss {record['val_loss']:.3f} acc {100 * record['val_accuracy']:.1f}%"
        if best is not None:
            text += f" (best {100 * best['val_accuracy']:.1f}% @{best['epoch']})"
        parts.append(text)
    rates = [v for k, v in record.items() if k.startswith("rate.")]
    if rates:
        parts.append("rates " + "/".join(f"{r:.3f}" for r in rates))
    if "lr" in record:
        parts.append(f"lr {record['lr']:.1e}")
    parts.append(f"{record['epoch_time_s']:.1f} s")
    return "  ".join(parts)


class EpochLog:
    """Per-epoch reporting of a Trainer; ``out_dir=None`` only logs."""

    def __init__(self, out_dir: Path | None, epochs: int):
        self.out_dir, self.epochs = out_dir, int(epochs)
        self._tensorboard = None
        self._tensorboard_tried = False

    def epoch(self, record: dict, best: dict | None = None, history: list[dict] | None = None) -> None:
        log.info("%s", format_epoch(record, self.epochs, best))
        if self.out_dir is not None and history:
            write_text(self.out_dir / "metrics.csv", history_csv(history))
        scalars = self._writer()
        if scalars is not None:
            for key, value in record.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    scalars.add_scalar(key.replace(".", "/"), value, record["epoch"])
            scalars.flush()

    def close(self, history: list[dict], selected: dict | None) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self.out_dir is None or not history:
            return
        from ..report.plots import learning_curve

        save_figure(learning_curve(history, selected["epoch"] if selected else None),
                    self.out_dir / "learning_curve.png")

    def _writer(self):
        """A TensorBoard SummaryWriter under OUT/tensorboard when the tensorboard package is installed."""
        if self.out_dir is None or self._tensorboard_tried:
            return self._tensorboard
        self._tensorboard_tried = True
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # optional: tensorboard is not a dependency
            return None
        self._tensorboard = SummaryWriter(str(self.out_dir / "tensorboard"))
        return self._tensorboard


def history_csv(history: list[dict]) -> str:
    columns = list(dict.fromkeys(key for record in history for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()
