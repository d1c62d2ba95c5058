"""Calibrated forecast intervals: conformal widening of the outer quantiles from rolling-origin refits.

The refits are ordinary forecasting runs in temporary directories, trained through the lifecycle's own
``train`` (``ctx.train_run``) that the task hands in: tasks never import ``rnnkit.runs``.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rnnkit.errors import RnnkitError
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks.forecast.model import PreparedSeries, load_forecaster, split_points, validation_inputs


def interval_scores(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """CQR conformity scores (V, T): how far each actual lies outside [lower, upper] (negative inside)."""
    return np.maximum(lower - actual, actual - upper)


def band_scores(pred: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Conformity scores (..., T) of a forecast's outermost quantiles ``pred`` (..., T, Q), in any order."""
    pred = np.sort(pred, axis=-1)
    return interval_scores(pred[..., 0], pred[..., -1], actual)


def validation_scores(model: Forecaster, prepared: PreparedSeries, device: torch.device) -> np.ndarray | None:
    """Conformity scores (V, T), scaled units, of ``model``'s outer quantiles forecasting the validation tail."""
    inputs = validation_inputs(prepared, device)
    if len(prepared.config.model.quantiles) < 2 or inputs is None:
        return None
    past_t, future_t, _ = inputs
    with torch.inference_mode():
        pred = model.eval().forecast(past_t, future_t, future_t.shape[1])[0].double().cpu().numpy()  # (V, T, Q)
    return band_scores(pred, prepared.scaled[prepared.train_end:prepared.fit_end])


def refit_scores(prepared: PreparedSeries, windows: int, device: torch.device, train: Callable[..., dict[str, Any]],
                 log: Callable[[str], None] = print) -> list[np.ndarray]:
    """Conformity scores (V, T) on up to ``windows`` validation-sized windows ending at the holdout, each
    forecast by a fresh model trained by the same recipe on the series before it (rolling origins).

    ``train(config, out, **options)`` trains one forecasting run (the lifecycle's ``train`` with the task
    bound). Window 1 is the main model's validation tail, window j ends where window j-1 starts. Each refit,
    like the main model, trains on targets ending one validation tail before its window and early-stops on
    that tail, so its forecast is made exactly as the held-out forecast is. (The main model's own scores on
    its validation tail are not used: best.pt was selected on them, and it forecasts them with no gap.) A
    window is dropped, with the ones before it, once the history before it is too short for the recipe (one
    training window plus a validation tail). Scores are in ``prepared``'s scaled units.
    """
    config, series = prepared.config, prepared.series
    val = prepared.fit_end - prepared.train_end
    scores: list[np.ndarray] = []
    for j in range(1, windows + 1):
        end = prepared.fit_end - (j - 1) * val  # this window is series[end - val:end]
        refit_config = dataclasses.replace(config, data=dataclasses.replace(config.data, holdout=val))
        try:
            split_points(end, refit_config.data, config.model.output_len, series.season, series.name)
        except RnnkitError:
            log(f"rnnkit: interval calibration uses {j - 1} of {windows} windows: too little history for more")
            break
        with tempfile.TemporaryDirectory() as tmp:
            train(refit_config, tmp, show_progress=False, log=lambda *_: None, series=series.head(end),
                  calibrate=False)
            fm = load_forecaster(tmp, refit_config, device)
            lower, upper = fm.predict(series.head(end - val), val).outer_interval()  # (V, T) each, series units
        actual = series.values[end - val:end]
        scale = prepared.scaler.transform
        scores.append(interval_scores(scale(lower), scale(upper), scale(actual)))
    return scores


def calibrate_intervals(scores: list[np.ndarray], quantiles: tuple[float, ...]) -> list[float]:
    """Per-target widening (scaled units) of the outer quantiles: split-conformal quantile regression over the
    pooled scores of all calibration windows.

    Conformalized quantile regression (Romano, Patterson & Candes 2019): with conformity scores
    ``E = max(lo - y, y - hi)`` over n calibration points, ``[lo - e, hi + e]`` with ``e`` the
    ceil((n + 1)(1 - alpha))-th smallest score covers ``1 - alpha`` of exchangeable new points.
    Quantiles fitted by pinball loss on a few hundred training windows are too narrow out of sample, and one
    season of scores (the validation tail alone) is too few to estimate the correction: on air passengers it
    gave 36-67% coverage of the 80% band. Pooling several rolling origins, each scored by a model that never
    saw it (the cross-validation form of conformal prediction that neuralforecast's ``PredictionIntervals``
    and darts' conformal models use), makes the correction both larger-sampled and honest.
    """
    pooled = np.concatenate(scores, axis=0)  # (n, T)
    alpha = 1.0 - (quantiles[-1] - quantiles[0])
    n = len(pooled)
    k = min(math.ceil((n + 1) * (1 - alpha)), n)  # the k-th smallest score
    return [float(v) for v in np.sort(pooled, axis=0)[k - 1]]


__all__ = ["band_scores", "calibrate_intervals", "interval_scores", "refit_scores", "validation_scores"]
