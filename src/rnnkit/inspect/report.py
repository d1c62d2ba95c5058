"""``rnnkit inspect``'s report: read a text with a trained run, fold the recording into figures, and write one
self-contained HTML page (no network: data, script and styles are inline).

``analyse(run, text)`` streams the recording window by window (``rnnkit.inspect.recording.stream``) and keeps
only what the page needs: each unit's value per step (for ``find_cells``), the gate-saturation counts and the
predictions. ``summary(analysis)`` is its JSON-able digest (for a server); ``write_report`` writes the page.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write_text
from rnnkit.inspect import saturation as sat
from rnnkit.inspect.defaults import MAX_CHARS
from rnnkit.inspect.find import CellTable, match_cells
from rnnkit.inspect.hypotheses import hypotheses
from rnnkit.inspect.recording import WINDOW, stream
from rnnkit.inspect.surprise import biggest_differences, ngram_losses

CELL_BYTES = 6_000_000  # budget for the cell values in the page, one byte per token per cell
MIN_CELLS = 16  # cells shown in the picker however long the text
TEMPLATE = "static/report.html"


@dataclass
class Analysis:
    """A whole text read by a run, folded into what the report shows. T steps, N = L*D*H units."""

    run_path: str
    task: str
    cell: str
    level: str
    layers: int
    directions: int
    hidden_size: int
    tokens: list[str]
    vocab: list[str]
    values: np.ndarray  # (T, N) float32: tanh(c) for LSTMs, h otherwise
    saturation: sat.Saturation
    table: CellTable
    unit_names: list[str]
    deviation: float
    top_ids: np.ndarray | None = None  # (T, K)
    top_probs: np.ndarray | None = None  # (T, K)
    target_prob: np.ndarray | None = None  # (T,)
    loss: np.ndarray | None = None  # (T,) nats, NaN where there is no next token
    ngram_loss: np.ndarray | None = None  # (T,) the --compare n-gram's nats
    ngram_run: str | None = None
    class_probs: dict[str, float] | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def analyse(run, text: str, condition: str | None = None, compare=None, window: int = WINDOW) -> Analysis:
    """Read ``text`` with ``run`` (``open_run``) and fold the recording into an ``Analysis``; ``compare`` is an
    opened n-gram run whose per-token loss goes beside the network's."""
    started = time.perf_counter()
    values, preds, tokens, first, last = [], [], [], None, None
    saturation = None
    deviation = 0.0
    for rec in stream(run, text, condition, window):
        first = first or rec
        last = rec
        saturation = saturation or sat.Saturation(rec.cell)
        saturation.add(rec)
        values.append(rec.values().astype(np.float32, copy=False))  # (W, N)
        tokens.extend(rec.tokens)
        deviation = max(deviation, rec.deviation)
        if rec.loss is not None:
            preds.append((rec.top_ids, rec.top_probs, rec.target_prob, rec.loss))
    assert first is not None and last is not None  # stream refuses an empty text
    recorded = time.perf_counter()
    all_values = np.concatenate(values) if len(values) > 1 else values[0]  # (T, N)
    table = match_cells(all_values, hypotheses(tokens, first.level), first.unit_name, first.unit)
    found = time.perf_counter()
    analysis = Analysis(str(run.path), run.task, first.cell, first.level, first.num_layers, first.num_directions,
                        first.hidden_size, tokens, first.vocab, all_values, saturation, table,
                        [first.unit_name(i) for i in range(all_values.shape[1])], deviation)
    if preds:
        analysis.top_ids, analysis.top_probs, analysis.target_prob, analysis.loss = (
            np.concatenate(parts) for parts in zip(*preds))
    if last.class_probs is not None:
        analysis.class_probs = {c: float(p) for c, p in zip(last.classes or [], last.class_probs)}
    if compare is not None:
        if analysis.loss is None:
            raise RnnkitError("--compare needs a language model to inspect; a classifier predicts no next token")
        if run.task != "lm":
            raise RnnkitError(f"--compare works with 'lm' runs; {run.path} is a {run.task} run")
        analysis.ngram_loss = ngram_losses(compare, tokens, first.level, text)
        analysis.ngram_run = str(compare.path)
    analysis.seconds = {"record": recorded - started, "find_cells": found - recorded,
                        "ngram": time.perf_counter() - found}
    return analysis


def summary(analysis: Analysis, top: int = 10) -> dict[str, Any]:
    """A JSON-able digest: the model, the text's length and mean loss, the cells found, gate saturation and
    (with an n-gram) the steps where the two models differ most."""
    a = analysis
    out: dict[str, Any] = {"run": a.run_path, "task": a.task, "cell": a.cell, "level": a.level, "layers": a.layers,
                           "directions": a.directions, "hidden_size": a.hidden_size, "steps": len(a.tokens),
                           "deviation": a.deviation, "cells": a.table.to_dicts(),
                           "saturation": a.saturation.to_dict()}
    if a.loss is not None and np.isfinite(a.loss).any():
        out["mean_loss"] = float(np.nanmean(a.loss))
        out["bits_per_token"] = out["mean_loss"] / math.log(2)
    if a.ngram_loss is not None:
        out["ngram_mean_loss"] = float(np.nanmean(a.ngram_loss))
        out["differences"] = biggest_differences(a.tokens, a.loss, a.ngram_loss, count=top)
    if a.class_probs is not None:
        out["class_probs"] = a.class_probs
    return out


# -- the page -----------------------------------------------------------------------------------------------
def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _quantise(values: np.ndarray) -> tuple[np.ndarray, float]:
    """int8 codes of values (T,) and the scale they multiply: tanh-bounded values keep their own scale."""
    scale = max(1.0, float(np.abs(values).max(initial=0.0)))
    return np.round(values / scale * 127).astype(np.int8), scale


def _picked_cells(analysis: Analysis, shown: int) -> list[int]:
    """The units the page embeds: every found cell first, then the most active (largest spread)."""
    n = analysis.values.shape[1]
    budget = min(n, max(MIN_CELLS, CELL_BYTES // max(shown, 1)))
    picked = list(dict.fromkeys(m.unit_index for m in analysis.table))
    spread = analysis.values[:shown].std(0)  # (N,)
    for i in np.argsort(-spread):
        if len(picked) >= budget:
            break
        if int(i) not in picked:
            picked.append(int(i))
    return picked[:max(budget, len(dict.fromkeys(m.unit_index for m in analysis.table)))]


def _rounded(values: np.ndarray | None, places: int = 2) -> list | None:
    if values is None:
        return None
    return [None if not math.isfinite(v) else round(float(v), places) for v in values]


def page_data(analysis: Analysis, max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """What the page embeds: the first ``max_chars`` tokens, the picked cells (int8), hypotheses, predictions."""
    if max_chars < 1:
        raise RnnkitError(f"--max-chars must be >= 1, got {max_chars}")
    a = analysis
    shown = min(len(a.tokens), max_chars)
    cells = []
    for i in _picked_cells(a, shown):
        codes, scale = _quantise(a.values[:shown, i])
        cells.append({"index": i, "name": a.unit_names[i], "scale": scale, "data": _b64(codes)})
    hyps = {h.name: h for h in hypotheses(a.tokens[:shown], a.level)}
    shown_hyps = []
    for m in a.table:
        h = hyps.get(m.hypothesis)
        if h is not None:
            top = max(float(np.abs(h.values).max()), 1e-12)
            shown_hyps.append({"name": h.name, "data": _b64(np.round(h.values / top * 127).astype(np.int8))})
    data: dict[str, Any] = {
        "summary": summary(a), "tokens": a.tokens[:shown], "total": len(a.tokens), "shown": shown,
        "cells": cells, "hypotheses": shown_hyps, "vocab": None, "top_ids": None, "top_probs": None,
        "target_prob": None, "loss": None, "ngram_loss": None,
        "value_name": "tanh(c)" if a.cell == "lstm" else "h"}
    if a.top_ids is not None:
        used = np.unique(a.top_ids[:shown])
        data["vocab"] = {int(i): a.vocab[int(i)] for i in used}
        data["top_ids"] = a.top_ids[:shown].reshape(-1).tolist()
        data["top_probs"] = np.round(a.top_probs[:shown].reshape(-1) * 1000).astype(int).tolist()  # per mille
        data["target_prob"] = _rounded(a.target_prob[:shown], 4)
        data["loss"] = _rounded(a.loss[:shown])
    if a.ngram_loss is not None:
        data["ngram_loss"] = _rounded(a.ngram_loss[:shown])
    return data


def render(data: dict[str, Any], saturation_svg: str) -> str:
    """The HTML page of ``page_data`` with the saturation figure inline."""
    template = resources.files("rnnkit.inspect").joinpath(TEMPLATE).read_text(encoding="utf-8")
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    s = data["summary"]
    title = f"rnnkit inspect: {Path(s['run']).name}"
    return (template.replace("__TITLE__", html.escape(title))
            .replace("__SATURATION__", saturation_svg)
            .replace("__DATA__", payload))


def write_report(analysis: Analysis, out: str | Path, max_chars: int = MAX_CHARS,
                 png_dir: str | Path | None = None) -> dict[str, Any]:
    """Write the page to ``out`` (and the saturation PNGs to ``png_dir``); returns facts for the command's
    closing line: the path, its size in bytes and the PNGs written."""
    page = render(page_data(analysis, max_chars), sat.svg(analysis.saturation))
    out = Path(out)
    if out.parent != Path("."):
        out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    pngs = sat.save_png(analysis.saturation, png_dir) if png_dir is not None else []
    return {"path": str(out), "bytes": len(page.encode("utf-8")), "pngs": [str(p) for p in pngs]}


__all__ = ["MAX_CHARS", "Analysis", "analyse", "page_data", "render", "summary", "write_report"]
