"""Loss-curve PNG from metrics.jsonl (matplotlib is the optional ``rnnkit[plot]`` extra)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from rnnkit.fileio import atomic_write

logger = logging.getLogger(__name__)


def read_metrics(path: Path) -> list[dict]:
    """The rows of a metrics.jsonl file."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_loss(metrics_path: Path, png_path: Path, unit: str = "char") -> bool:
    """Draw training and validation loss (nats/token) against tokens seen; False if matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib is not installed; skipping %s (pip install 'rnnkit[plot]')", png_path)
        return False
    rows = read_metrics(metrics_path)
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_loss" in r and math.isfinite(r["val_loss"])]
    tokens_at = {r["step"]: r["tokens"] for r in train}
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot([r["tokens"] for r in train], [r["loss"] for r in train], label="train", lw=1, alpha=0.8)
    if val:
        ax.plot([tokens_at.get(r["step"], 0) for r in val], [r["val_loss"] for r in val], "o-", label="validation")
    ax.set_xlabel(f"{unit}s seen")
    ax.set_ylabel(f"loss (nats/{unit})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(png_path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return True
