"""``--model``: choose the forecaster a run serves by rolling-origin validation inside its training part.

``choose`` hands ``select.select_forecast`` the series before the held-out tail (training part plus
validation tail: the held-out tail never reaches it) and, under ``auto``, the RNN as one more candidate
(``RnnOrigins``): at each origin a fresh run trained by the run's own recipe (config, steps, best.pt chosen on
its own validation tail, plus ``ORIGIN_PATIENCE``) on the history before the origin, through the lifecycle's
``train`` that the task hands in. At the last "origin", the whole training part, the RNN is the run's main
model (the refit on all training data). A forced classical method or combination is scored on the same
origins (without RNN refits), so the run still records its errors for conformal intervals.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from rnnkit.tasks.forecast.choice import ModelChoice, history_key
from rnnkit.tasks.forecast.config import ForecastRunConfig
from rnnkit.tasks.forecast.model import (
    Forecast,
    ForecastModel,
    PreparedSeries,
    config_problem,
    fill_model_config,
    load_forecaster,
)
from rnnkit.tasks.forecast.select import CANDIDATES, origins_for, select_forecast

# An origin's run stops after this many validations without a new best (where the recipe sets no patience):
# its best.pt is the same unless a better one would come that late, and on air passengers (best at step 80 of
# 600) it roughly halves the cost of scoring the RNN.
ORIGIN_PATIENCE = 10
# Where the RNN's recipe does not fit the history before the earliest origins, every candidate is scored on the
# latest origins it fits (one set of origins for all, so the scores compare), as long as there are this many
# (or it fits them all: a run may ask for one origin).
MIN_RNN_ORIGINS = 2


def origin_config(config: ForecastRunConfig) -> ForecastRunConfig:
    """The recipe of one origin's RNN run: the run's own settings, everything before the origin trained on
    (no held-out tail of its own), no selection of its own, and early stopping (``ORIGIN_PATIENCE``)."""
    train = config.train
    if train.patience is None:
        train = dataclasses.replace(train, patience=ORIGIN_PATIENCE)
    return dataclasses.replace(config, data=dataclasses.replace(config.data, holdout=0), train=train,
                               select=dataclasses.replace(config.select, model="rnn"))


class RnnOrigins:
    """The RNN as a selection candidate (``select.ExtraForecaster``): ``(history (N, T), horizon) -> (H, T)``.

    ``history`` is always the first N points of the prepared series. N = fit_end (the whole training part) is
    the main model's forecast; a shorter history trains a fresh run on it with ``recipe`` (the run's config as
    given: unset input length and validation tail adapt to the shorter history as they did to the whole).
    Every ``Forecast`` is kept by N (``forecasts``) for the interval calibration.
    """

    def __init__(self, prepared: PreparedSeries, recipe: ForecastRunConfig, main: ForecastModel,
                 train: Callable[..., dict[str, Any]], device: Any, log: Callable[[str], None] = print):
        self.prepared, self.main, self.train, self.device, self.log = prepared, main, train, device, log
        self.config = origin_config(recipe)
        self.forecasts: dict[int, Forecast] = {}

    def fits(self, cuts: list[int]) -> bool:
        """Whether the run's recipe can train on the history before every origin."""
        return all(config_problem(self.config, self.prepared.series.head(cut)) is None for cut in cuts)

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        p, n = self.prepared, len(history)
        series = p.series.head(n)
        if n == p.fit_end:
            forecast = self.main.predict_rnn(series, horizon)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                self.train(self.config, tmp, show_progress=False, log=lambda *_: None, series=series, calibrate=False)
                filled = fill_model_config(self.config, series)  # as that run's prepare filled it in
                forecast = load_forecaster(tmp, filled, self.device).predict_rnn(series, horizon)
            self.log(f"rnnkit: model selection: an RNN trained on the {n} points up to {series.times[-1]}")
        self.forecasts[n] = forecast
        return forecast.point  # (H, T)


def choose(prepared: PreparedSeries, rnn: RnnOrigins | None, log: Callable[[str], None] = print) -> ModelChoice:
    """The run's ``ModelChoice`` per ``[select] model``: ``auto`` picks the lowest mean rolling-origin MASE
    among the RNN (``rnn``; left out where the history before an origin is too short for its recipe), the
    classical candidates and their combinations; a forced name is scored beside the classical candidates.
    Reads only ``series[:fit_end]``."""
    config, series = prepared.config, prepared.series
    model, horizon, season = config.select.model, config.data.horizon, series.season
    if model == "rnn":
        return ModelChoice("rnn", "rnn")
    history = series.values[:prepared.fit_end]  # (N, T): the held-out tail is cut off here
    origins = config.select.origins
    cuts = origins_for(len(history), horizon, season, origins)
    extra = {}
    if model == "auto" and rnn is not None:
        fitting = 0  # how many of the latest origins (cuts ascend) the RNN's recipe fits
        while fitting < len(cuts) and rnn.fits([cuts[-1 - fitting]]):
            fitting += 1
        if fitting and (fitting == len(cuts) or fitting >= MIN_RNN_ORIGINS):
            extra["rnn"] = rnn
            if fitting < len(cuts):
                log(f"rnnkit: model selection scores every candidate on the {fitting} latest of {len(cuts)} "
                    "validation origins: the history before the earlier ones is too short for the RNN's recipe")
                origins = fitting
        else:
            log(f"rnnkit: model selection leaves the RNN out: the history before all but {fitting} of the "
                f"{len(cuts)} validation origins is too short for its recipe")
    candidates = tuple(dict.fromkeys((*config.select.candidates, *([model] if model in CANDIDATES else []))))
    selection = select_forecast(history, horizon, season, candidates, origins, extra)
    choice = selection.choice if model == "auto" else model
    if not selection.cuts:
        log(f"rnnkit: {len(history)} points before the held-out tail leave no validation origin for horizon "
            f"{horizon}; the run serves {choice}")
    members = list(selection.members)  # what a combination averages: the best COMBINE_K candidates
    errors = selection.errors.get(choice, np.zeros((0, horizon, history.shape[1])))
    made = ModelChoice(model, choice, members, dict(selection.scores), list(selection.cuts), errors)
    if choice == selection.choice:  # its forecast from the whole training part is made already
        made.fitted[history_key(history, horizon)] = selection.forecast
    return made


__all__ = ["MIN_RNN_ORIGINS", "ORIGIN_PATIENCE", "RnnOrigins", "choose", "origin_config"]
