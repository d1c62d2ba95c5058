"""Rolling-origin model selection over the classical forecasters and their combinations (issue 15, step 1).

``select_forecast`` scores every candidate by its mean MASE when forecasting ``horizon`` steps from several
origins (half a horizon apart) inside the history it is given, ranks them, adds the mean and median of the
best ``k`` as two more candidates (scored on the same origins), and forecasts with the winner refitted on the
whole history. It only ever reads the history it is handed, so a held-out tail the caller cuts off cannot
steer the choice.
Other forecasters (the RNN) join as ``extra`` callables scored on the same origins. Every candidate's
per-origin errors are kept, for conformal intervals around whichever one wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.tasks.forecast.baselines import baseline_forecast, forecast_metrics

CANDIDATES = ("seasonal_naive", "drift", "ets", "arima", "theta", "comb")
COMBINE_K = 3  # combinations average the best k candidates by validation MASE
ORIGINS = 6  # rolling origins, ending at the end of the history, each ``origin_step(horizon)`` apart

# A forecaster beyond the classical ones: (history (N, T), horizon H) -> forecast (H, T).
ExtraForecaster = Callable[[np.ndarray, int], np.ndarray]


def combine(forecasts: list[np.ndarray], how: str) -> np.ndarray:
    """The mean or median of member forecasts, each (H, T); returns (H, T)."""
    stack = np.stack([np.asarray(f, np.float64) for f in forecasts])  # (K, H, T)
    if how == "mean":
        return stack.mean(axis=0)
    if how == "median":
        return np.median(stack, axis=0)
    raise RnnkitError(f"unknown combination {how!r}; use mean or median")


def origin_step(horizon: int) -> int:
    """Origins lie half a horizon apart: twice as many as non-overlapping ones for the same stretch of history,
    so the choice rests on more forecasts (on the panel, 6 half-horizon origins beat 3 whole-horizon ones)."""
    return max(1, math.ceil(horizon / 2))


def origins_for(n: int, horizon: int, season: int = 1, origins: int = ORIGINS) -> list[int]:
    """Cut points (ends of the fitting history) of up to ``origins`` rolling origins, ``origin_step(horizon)``
    apart, whose ``horizon``-step forecasts lie inside ``n`` points, each leaving at least two seasons (or 8
    points) to fit on."""
    least = max(2 * season, 8)
    cuts = [n - horizon - origin_step(horizon) * j for j in range(origins)]
    return sorted(c for c in cuts if c >= least)


@dataclass
class Selection:
    """The chosen candidate, every candidate's mean validation MASE, the winner's forecast (H, T), the
    origins' cut points, every candidate's errors there, actual - forecast, each (O, H, T), and the members
    the combinations average (the best ``COMBINE_K``; unscored candidates rank last, ties by name)."""

    choice: str
    scores: dict[str, float]
    forecast: np.ndarray
    cuts: list[int] = field(default_factory=list)
    errors: dict[str, np.ndarray] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)


def rank(scores: Mapping[str, float], names: Iterable[str]) -> list[str]:
    """``names`` best first by score; a missing or non-finite score (MASE on a constant history) ranks last."""
    def key(name: str) -> tuple[float, str]:
        score = scores.get(name, math.inf)
        return (score if math.isfinite(score) else math.inf, name)
    return sorted(names, key=key)


def _member(name: str, history: np.ndarray, horizon: int, season: int,
            extra: Mapping[str, ExtraForecaster]) -> np.ndarray:
    if name in extra:
        return np.asarray(extra[name](history, horizon), np.float64).reshape(horizon, -1)  # (H, T)
    return baseline_forecast(name, history, horizon, season)


def _forecast(name: str, history: np.ndarray, horizon: int, season: int, ranked: list[str],
              extra: Mapping[str, ExtraForecaster]) -> np.ndarray:
    if name.startswith("combo_"):
        return combine([_member(m, history, horizon, season, extra) for m in ranked[:COMBINE_K]],
                       name.removeprefix("combo_"))
    return _member(name, history, horizon, season, extra)


def select_forecast(history: np.ndarray, horizon: int, season: int = 1, candidates: tuple[str, ...] = CANDIDATES,
                    origins: int = ORIGINS, extra: Mapping[str, ExtraForecaster] | None = None) -> Selection:
    """Choose among ``candidates``, the ``extra`` forecasters and the mean/median of the best ``COMBINE_K`` by
    rolling-origin MASE on ``history`` (N,) or (N, T), then forecast ``horizon`` steps from its end with the
    winner."""
    extra = dict(extra or {})
    history = np.asarray(history, np.float64)
    history = history[:, None] if history.ndim == 1 else history  # (N, T)
    cuts = origins_for(len(history), horizon, season, origins)
    if not cuts:
        return Selection("seasonal_naive", {}, baseline_forecast("seasonal_naive", history, horizon, season),
                         members=rank({}, (*candidates, *extra))[:COMBINE_K])
    per_origin = {name: [_member(name, history[:c], horizon, season, extra) for c in cuts]
                  for name in (*candidates, *extra)}

    def score(forecasts: list[np.ndarray]) -> float:
        return float(np.mean([forecast_metrics(history[c:c + horizon], f, history[:c], season)["MASE"]
                              for c, f in zip(cuts, forecasts)]))

    scores = {name: score(f) for name, f in per_origin.items()}
    ranked = rank(scores, scores)
    best = ranked[:COMBINE_K]
    for how in ("mean", "median"):  # the combination of the best k, ranked once on the same origins
        per_origin[f"combo_{how}"] = [combine([per_origin[m][i] for m in best], how) for i in range(len(cuts))]
        scores[f"combo_{how}"] = score(per_origin[f"combo_{how}"])
    choice = rank(scores, scores)[0]
    errors = {name: np.stack([history[c:c + horizon] - f for c, f in zip(cuts, fs)])  # (O, H, T)
              for name, fs in per_origin.items()}
    return Selection(choice, scores, _forecast(choice, history, horizon, season, ranked, extra), cuts, errors, best)


__all__ = ["CANDIDATES", "COMBINE_K", "ORIGINS", "ExtraForecaster", "Selection", "combine", "rank", "origin_step",
           "origins_for", "select_forecast"]
