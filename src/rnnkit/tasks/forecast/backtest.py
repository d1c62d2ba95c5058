"""Rolling-origin evaluation: a fresh forecaster per origin, scored beside the baselines on what follows it."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.series import Series, load_series
from rnnkit.errors import RnnkitError
from rnnkit.tasks.forecast.baselines import BASELINES
from rnnkit.tasks.forecast.config import ForecastRunConfig
from rnnkit.tasks.forecast.report import baseline_table


def backtest(config: ForecastRunConfig, folds: int, step: int | None = None, out: str | Path | None = None,
             baselines: tuple[str, ...] = BASELINES, log: Callable[[str], None] = print,
             series: Series | None = None, *, train: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Rolling-origin evaluation: for each of ``folds`` origins (``step`` apart, the last one leaving ``horizon``
    points), train a fresh model on the history before it and score its forecast and the baselines'.

    ``train`` is ``rnnkit.runs.train`` (tasks do not import the lifecycle; the caller hands it in). Each
    fold's run goes to ``out/foldK`` when ``out`` is given, else to a temporary directory.
    """
    if folds < 1:
        raise RnnkitError(f"--folds must be >= 1, got {folds}")
    config = config.validate()
    series = series if series is not None else load_series(config.data)
    horizon = config.data.horizon
    step = step or horizon
    # every fold's training uses the run's own splits (validation tail) but nothing after its origin
    fold_config = dataclasses.replace(config, data=dataclasses.replace(config.data, holdout=horizon))
    rows: dict[str, list[dict[str, float]]] = {"rnnkit": [], **{b: [] for b in baselines}}
    for k in range(folds):
        end = len(series) - (folds - 1 - k) * step  # the fold sees series[:end], holds out its last horizon points
        cutoff = end - horizon
        fold = series.head(end)  # covariates stay whole: they are known ahead
        with contextlib.ExitStack() as stack:
            run_dir = (Path(out) / f"fold{k + 1}" if out is not None
                       else Path(stack.enter_context(tempfile.TemporaryDirectory())))
            summary = train("forecast", fold_config, run_dir, show_progress=False, log=lambda *_: None, series=fold)
        rows["rnnkit"].append(summary["holdout"])
        for name, metrics in baseline_table(fold, cutoff, baselines).items():
            rows[name].append(metrics)
        log(f"rnnkit: fold {k + 1}/{folds}: origin {series.times[cutoff - 1]}, "
            f"rnnkit MAPE {rows['rnnkit'][-1]['MAPE']:.2f}%")
    mean = {name: {key: float(np.mean([r[key] for r in folds_rows])) for key in folds_rows[0]}
            for name, folds_rows in rows.items()}
    return {"mean": mean, "folds": rows}


__all__ = ["backtest"]
