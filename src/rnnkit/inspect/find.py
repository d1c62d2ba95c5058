"""Find interpretable cells: match each hypothesis about the text to the unit that follows it best.

For every hypothesis (``rnnkit.inspect.hypotheses``) the Pearson correlation with every unit's value
(``Recording.values()``: tanh(c) for LSTMs, h otherwise) is one matrix product. For yes-or-no hypotheses
the units with the largest |r| are then ranked by AUC, the chance that the unit is higher (or, for a
negative r, lower) on a random step where the hypothesis holds than on one where it does not: 1.0 tells
the two apart perfectly, 0.5 not at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.inspect.hypotheses import Hypothesis, hypotheses
from rnnkit.inspect.recording import Recording

CANDIDATES = 16  # units (by |r|) whose AUC is computed for each yes-or-no hypothesis
CHUNK = 8192  # steps summed at a time for the units' means and spreads


@dataclass(frozen=True)
class CellMatch:
    """The best unit for one hypothesis. ``unit_index`` is the column of ``Recording.values()``."""

    hypothesis: str
    description: str
    binary: bool
    unit_index: int
    layer: int
    direction: int
    unit: int
    name: str  # 'layer 1 cell 17'
    r: float  # Pearson correlation (its sign says whether the cell goes up or down)
    auc: float | None  # yes-or-no hypotheses: AUC of the unit (negated when r < 0) separating the two
    positives: int  # steps where a yes-or-no hypothesis holds

    @property
    def score(self) -> float:
        """|r|: how closely the unit follows the hypothesis (the table's order)."""
        return abs(self.r)


class CellTable(list):
    """``CellMatch`` rows, best first; ``to_dicts()`` for JSON, ``str()`` for a terminal."""

    def to_dicts(self) -> list[dict]:
        return [asdict(m) for m in self]

    def __str__(self) -> str:
        lines = [f"{'hypothesis':<20} {'best cell':<28} {'r':>6} {'AUC':>6}"]
        for m in self:
            auc = f"{m.auc:.3f}" if m.auc is not None else "-"
            lines.append(f"{m.hypothesis:<20} {m.name:<28} {m.r:>+6.3f} {auc:>6}")
        return "\n".join(lines)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (N,) for boolean ``labels`` (N,): Mann-Whitney U with tied
    scores given their average rank."""
    labels = labels.astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise RnnkitError("AUC needs steps where the hypothesis holds and steps where it does not")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]  # 1-based average ranks
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def correlations(values: np.ndarray, hyps: np.ndarray) -> np.ndarray:
    """Pearson r (K, N) of hypotheses (K, T) with units ``values`` (T, N); 0 for a constant unit."""
    values = np.asarray(values, dtype=np.float32)
    steps = values.shape[0]
    h = hyps - hyps.mean(1, keepdims=True)  # (K, T)
    h /= np.maximum(h.std(1, keepdims=True), 1e-12)
    total, squares = np.zeros(values.shape[1]), np.zeros(values.shape[1])
    for start in range(0, steps, CHUNK):  # float64 sums without a float64 copy of the whole (T, N)
        block = values[start:start + CHUNK].astype(np.float64)
        total += block.sum(0)
        squares += (block * block).sum(0)
    mean = total / steps  # (N,)
    std = np.sqrt(np.maximum(squares / steps - mean ** 2, 0.0))  # (N,)
    cov = (h.astype(np.float32) @ values).astype(np.float64) / steps  # (K, N); h sums to 0, so no centring
    return np.where(std > 1e-8, cov / np.maximum(std, 1e-12), 0.0)


def match_cells(values: np.ndarray, hyps: list[Hypothesis], name_of, unit_of) -> CellTable:
    """The best unit of ``values`` (T, N) for each hypothesis; ``name_of(i)``/``unit_of(i)`` name column i."""
    if not hyps:
        return CellTable()
    r = correlations(values, np.stack([h.values for h in hyps]))  # (K, N)
    rows = []
    for k, hyp in enumerate(hyps):
        best, best_auc = int(np.abs(r[k]).argmax()), None
        if hyp.binary:
            labels = hyp.values > 0.5
            scored = []
            for i in np.argsort(-np.abs(r[k]))[:CANDIDATES]:
                sign = 1.0 if r[k, i] >= 0 else -1.0
                scored.append((auc(sign * np.asarray(values[:, i], dtype=np.float64), labels), int(i)))
            best_auc, best = max(scored)
        layer, direction, unit = unit_of(best)
        rows.append(CellMatch(hyp.name, hyp.description, hyp.binary, best, layer, direction, unit, name_of(best),
                              float(r[k, best]), best_auc, int((hyp.values > 0.5).sum()) if hyp.binary else 0))
    return CellTable(sorted(rows, key=lambda m: -m.score))


def find_cells(recording: Recording, text: str | None = None,
               extra: dict[str, np.ndarray] | None = None) -> CellTable:
    """The best cell for each hypothesis about the text ``recording`` read, best first.

    Parameters
    ----------
    recording : a ``Recording`` of T steps
    text : the text it read; by default its tokens joined (the hypotheses come from ``recording.tokens``,
        which a character model's text equals)
    extra : your own hypotheses, name -> (T,) array (0/1 for yes-or-no ones)

    Returns
    -------
    CellTable : one ``CellMatch`` per hypothesis that varies over the text, sorted by |r|
    """
    if text is not None and recording.level == "char" and text != "".join(recording.tokens)[-len(text):]:
        raise RnnkitError("find_cells was given a different text from the one the recording read")
    hyps = hypotheses(recording.tokens, recording.level)
    for name, values in (extra or {}).items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (recording.steps,):
            raise RnnkitError(f"hypothesis {name!r} has shape {values.shape}; it needs one value per step "
                              f"({recording.steps},)")
        hyps.append(Hypothesis(name, values, bool(np.isin(values, (0.0, 1.0)).all()), "your hypothesis"))
    return match_cells(recording.values(), hyps, recording.unit_name, recording.unit)


__all__ = ["CellMatch", "CellTable", "auc", "correlations", "find_cells", "match_cells"]
