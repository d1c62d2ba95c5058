"""How well a classifier does: the report (accuracy, macro-F1, per class, confusion), as a table and a picture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.fileio import atomic_write


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: true)."""
    n = len(classes)
    confusion = np.bincount(np.asarray(y_true) * n + np.asarray(y_pred), minlength=n * n).reshape(n, n)
    tp = np.diag(confusion).astype(np.float64)
    predicted, support = confusion.sum(0), confusion.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=precision + recall > 0)
    return {
        "examples": int(len(y_true)),
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "macro_f1": float(f1.mean()),
        "classes": list(classes),
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(support[i])} for i, c in enumerate(classes)},
        "confusion": confusion.tolist(),
    }


def format_report(report: dict[str, Any], title: str = "") -> str:
    """The report as a printable table: figures, per-class precision/recall/F1 and the confusion matrix."""
    classes = report["classes"]
    width = max(8, *(len(c) for c in classes))
    lines = [f"{title}accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}  "
             f"({report['examples']:,} examples" + (f", loss {report['loss']:.4f}" if "loss" in report else "") + ")",
             f"{'class':<{width}}  precision  recall     f1  support"]
    for c in classes:
        r = report["per_class"][c]
        lines.append(f"{c:<{width}}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:.4f}  {r['support']:7d}")
    cell = max(5, len(str(max(max(row) for row in report["confusion"]))) + 1)
    short = [c[:cell - 1] for c in classes]
    lines.append(f"confusion (rows: true, columns: predicted)\n{'':<{width}}" + "".join(f"{s:>{cell}}" for s in short))
    for c, row in zip(classes, report["confusion"]):
        lines.append(f"{c:<{width}}" + "".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines)


def plot_confusion(report: dict[str, Any], path: Path, title: str = "") -> bool:
    """Confusion matrix PNG (row-normalised colours, counts written in); False if matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    matrix = np.array(report["confusion"])
    classes = report["classes"]
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = 2.5 + 0.45 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=110)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_title(f"{title}accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return True


__all__ = ["classification_report", "format_report", "plot_confusion"]
