"""Rolling-origin model selection over the classical forecasters and their combinations (issue 15, step 1).

``select_forecast`` scores every candidate by its mean MASE when forecasting ``horizon`` steps from several
origins inside the history it is given, ranks them, adds the mean and median of the best ``k`` as two more
candidates (scored on the same origins), and forecasts with the winner refitted on the whole history. It only
ever reads the history it is handed, so a held-out tail the caller cuts off cannot steer the choice.
The RNN is not a candidate yet; ``rnnkit eval`` does not show these scores yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.tasks.forecast.baselines import baseline_forecast, forecast_metrics

CANDIDATES = ("seasonal_naive", "drift", "ets", "arima", "theta", "comb")
COMBINE_K = 3  # combinations average the best k candidates by validation MASE
ORIGINS = 3  # rolling origins, each ``horizon`` apart, ending at the end of the history


def combine(forecasts: list[np.ndarray], how: str) -> np.ndarray:
    """The mean or median of member forecasts, each (H, T); returns (H, T)."""
    stack = np.stack([np.asarray(f, np.float64) for f in forecasts])  # (K, H, T)
    if how == "mean":
        return stack.mean(axis=0)
    if how == "median":
        return np.median(stack, axis=0)
    raise RnnkitError(f"unknown combination {how!r}; use mean or median")


def origins_for(n: int, horizon: int, season: int = 1, origins: int = ORIGINS) -> list[int]:
    """Cut points (ends of the fitting history) of up to ``origins`` rolling origins whose ``horizon``-step
    forecasts lie inside ``n`` points, each leaving at least two seasons (or 8 points) to fit on."""
    least = max(2 * season, 8)
    cuts = [n - horizon * j for j in range(1, origins + 1)]
    return sorted(c for c in cuts if c >= least)


@dataclass
class Selection:
    """The chosen candidate, every candidate's mean validation MASE, and the winner's forecast (H, T)."""

    choice: str
    scores: dict[str, float]
    forecast: np.ndarray


def _forecast(name: str, history: np.ndarray, horizon: int, season: int, ranked: list[str]) -> np.ndarray:
    if name.startswith("combo_"):
        return combine([baseline_forecast(m, history, horizon, season) for m in ranked[:COMBINE_K]],
                       name.removeprefix("combo_"))
    return baseline_forecast(name, history, horizon, season)


def select_forecast(history: np.ndarray, horizon: int, season: int = 1, candidates: tuple[str, ...] = CANDIDATES,
                    origins: int = ORIGINS) -> Selection:
    """Choose among ``candidates`` and the mean/median of the best ``COMBINE_K`` by rolling-origin MASE on
    ``history`` (N,) or (N, T), then forecast ``horizon`` steps from its end with the winner."""
    history = np.asarray(history, np.float64)
    history = history[:, None] if history.ndim == 1 else history  # (N, T)
    cuts = origins_for(len(history), horizon, season, origins)
    if not cuts:
        return Selection("seasonal_naive", {}, baseline_forecast("seasonal_naive", history, horizon, season))
    per_origin = {name: [baseline_forecast(name, history[:c], horizon, season) for c in cuts] for name in candidates}

    def score(forecasts: list[np.ndarray]) -> float:
        return float(np.mean([forecast_metrics(history[c:c + horizon], f, history[:c], season)["MASE"]
                              for c, f in zip(cuts, forecasts)]))

    scores = {name: score(f) for name, f in per_origin.items()}
    ranked = sorted(scores, key=lambda name: (scores[name], name))
    best = ranked[:COMBINE_K]
    for how in ("mean", "median"):  # the combination of the best k, ranked once on the same origins
        scores[f"combo_{how}"] = score([combine([per_origin[m][i] for m in best], how) for i in range(len(cuts))])
    choice = min(scores, key=lambda name: (scores[name], name))
    return Selection(choice, scores, _forecast(choice, history, horizon, season, ranked))


__all__ = ["CANDIDATES", "COMBINE_K", "ORIGINS", "Selection", "combine", "origins_for", "select_forecast"]
