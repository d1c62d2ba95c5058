"""Global training: one RNN forecaster learned across the many series of a long CSV (M4 style).

``rnnkit train forecast --data long.csv --id-column ID`` reads one series per id (``rnnkit.data.panel``) and
cuts each, like a single series, into

    training part  |  validation tail (val_size)  |  held-out tail (holdout)

Each series is normalised on its own (ES-RNN style, Smyl 2020): divided by its level (the mean absolute value
of its training part) and, with a season, by a multiplicative seasonal index (mean ratio of each position to
its cycle's mean over the full cycles of the training part; only for positive series with two or more cycles).
On that common scale one model learns from the windows of every series; the residual forecast then builds on
the naive forecast (the model's season is 1: the seasonal index already carries the season). Validation (early
stopping) forecasts every series' validation tail; ``rnnkit eval`` scores every series' held-out tail.

The run's ``series.json`` (``PanelVocab``) keeps, per series: the id, its level and seasonal index, its
length, its last time and its last ``input_len`` points, so that ``rnnkit forecast RUN --id X`` needs no data
file. A new series (``--data new.csv``, same frequency) is normalised by the level and index of its own history.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.data.panel import Panel, read_panel
from rnnkit.data.series import Series, WindowBatcher, Windows, make_windows, read_csv_series, read_frame
from rnnkit.errors import RnnkitError, raise_first, shown
from rnnkit.generate import check_memory
from rnnkit.models.forecaster import Forecaster, forecast_loss
from rnnkit.tasks.base import Context, Prepared, Training
from rnnkit.tasks.forecast.baselines import baseline_forecast, forecast_metrics
from rnnkit.tasks.forecast.calibrate import band_scores, calibrate_intervals
from rnnkit.tasks.forecast.config import ForecastRunConfig
from rnnkit.tasks.forecast.model import (
    INPUT_LEN_CAP,
    SERIES_FILE,
    Forecast,
    ForecastVocab,
    forecast_of,
    model_forecast,
    to_tensors,
    widen_intervals,
)

MODEL_SEASON = 1  # the seasonal index deseasonalises each series: the residual builds on the naive forecast
SEASONAL_MIN_CYCLES = 2  # full cycles of positive training data a seasonal index is estimated from
SHOWN_IDS = 5  # ids an unknown-id error lists


# -- per-series normalisation ---------------------------------------------------------------------
@dataclass
class SeriesScale:
    """A series' level and multiplicative seasonal index: ``scaled[t] = x[t] / (level * seasonal[t % m])``,
    with ``t`` counted from the series' first point (``seasonal`` empty: no seasonal index)."""

    level: float
    seasonal: list[float]

    @classmethod
    def fit(cls, values: np.ndarray, season: int) -> SeriesScale:
        """Fit on ``values`` (N,), the training part of a series."""
        level = float(np.mean(np.abs(values))) if len(values) else 1.0
        level = level if math.isfinite(level) and level > 1e-12 else 1.0
        cycles = len(values) // season if season > 1 else 0
        if cycles < SEASONAL_MIN_CYCLES or (values[:cycles * season] <= 0).any():
            return cls(level, [])
        full = values[:cycles * season].reshape(cycles, season)  # (cycles, m)
        index = (full / full.mean(axis=1, keepdims=True)).mean(axis=0)  # (m,)
        return cls(level, [float(v) for v in index / index.mean()])

    def factors(self, start: int, n: int) -> np.ndarray:
        """(n,) divisors of the points ``start .. start + n - 1`` of the series."""
        if not self.seasonal:
            return np.full(n, self.level)
        index = np.asarray(self.seasonal)
        return self.level * index[(start + np.arange(n)) % len(index)]


# -- series.json of a global run -------------------------------------------------------------------
@dataclass
class PanelVocab:
    """series.json of a global run: the shared facts and, per series, its scale, length, end and last points."""

    series_info: dict[str, Any]  # target_names, covariate_names ([]), freq, step, season, "series": count
    ids: list[str]
    scales: list[SeriesScale]
    points: list[int]  # length of each series
    ends: list[str]  # last time of each series
    last: list[list[float]]  # (S, L) the last input_len points of each series, in its own units

    def model_sizes(self) -> dict[str, int]:
        """The model config fields this file fixes (checked against config.json when the run is opened)."""
        return {"num_targets": 1, "num_covariates": 0, "season": MODEL_SEASON}

    def index(self, series_id: str) -> int:
        """Position of ``series_id``; a one-line error listing a few valid ids when it is unknown."""
        try:
            return self._positions[series_id]
        except AttributeError:
            self._positions = {key: i for i, key in enumerate(self.ids)}
            return self.index(series_id)
        except KeyError:
            listed = ", ".join(shown(k, 30) for k in self.ids[:SHOWN_IDS])
            more = f" and {len(self.ids) - SHOWN_IDS} more" if len(self.ids) > SHOWN_IDS else ""
            raise RnnkitError(f"--id {shown(series_id, 30)!r} is not one of the model's {len(self.ids)} series; "
                              f"use one of {listed}{more}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"series": self.series_info,
                "panel": {"ids": self.ids, "level": [s.level for s in self.scales],
                          "seasonal": [s.seasonal for s in self.scales], "points": self.points, "end": self.ends,
                          "last": self.last}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PanelVocab:
        """The stored vocabulary, checked (types, lengths, finite positive scales) before anything is built."""
        info, panel = d.get("series"), d.get("panel")
        raise_first([
            (isinstance(info, dict), "has no 'series' table"),
            (isinstance(panel, dict), "has no 'panel' table"),
        ])
        season = info.get("season")
        raise_first([
            (info.get("covariate_names") == [] and isinstance(info.get("target_names"), list)
             and len(info["target_names"]) == 1 and isinstance(info["target_names"][0], str),
             "series.target_names must name one column and covariate_names be empty"),
            (isinstance(season, int) and not isinstance(season, bool) and season >= 1,
             "series.season must be an integer >= 1"),
        ])
        ids = panel.get("ids")
        raise_first([(isinstance(ids, list) and len(ids) >= 1 and all(isinstance(k, str) for k in ids)
                      and len(set(ids)) == len(ids), "panel.ids must be a list of distinct strings")])
        columns = {key: panel.get(key) for key in ("level", "seasonal", "points", "end", "last")}
        raise_first([(isinstance(v, list) and len(v) == len(ids), f"panel.{key} must hold one entry per id")
                      for key, v in columns.items()])

        def number(x: Any) -> bool:
            return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
        last = columns["last"]
        raise_first([
            (all(number(v) and v > 0 for v in columns["level"]), "panel.level must hold finite numbers > 0"),
            (all(isinstance(s, list) and len(s) in (0, season) and all(number(v) and v > 0 for v in s)
                 for s in columns["seasonal"]), f"panel.seasonal must hold lists of {season} numbers > 0 (or none)"),
            (all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in columns["points"]),
             "panel.points must hold integers >= 1"),
            (all(isinstance(e, str) for e in columns["end"]), "panel.end must hold times as strings"),
            (all(isinstance(x, list) and len(x) == len(last[0]) >= 1 and all(number(v) for v in x) for x in last),
             "panel.last must hold lists of finite numbers, all of one length"),
            (all(len(x) <= n for x, n in zip(last, columns["points"])), "panel.last is longer than its series"),
            ("interval_adjust" not in info or (isinstance(info["interval_adjust"], list)
                                               and len(info["interval_adjust"]) == 1
                                               and number(info["interval_adjust"][0])),
             "series.interval_adjust must be a list of one finite number"),
        ])
        scales = [SeriesScale(float(v), [float(x) for x in s]) for v, s in zip(columns["level"], columns["seasonal"])]
        return cls(dict(info), list(ids), scales, list(columns["points"]), list(columns["end"]),
                   [[float(v) for v in x] for x in last])


class SeriesFile:
    """How a forecasting run's series.json is read: one series' scalers (``ForecastVocab``), or a global
    model's per-series scales (``PanelVocab``, recognised by its ``panel`` table)."""

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ForecastVocab | PanelVocab:
        return PanelVocab.from_dict(d) if "panel" in d else ForecastVocab.from_dict(d)


# -- the panel cut for training --------------------------------------------------------------------
@dataclass
class PanelData:
    """A global run's prepared data: the kept series with their scales and splits, windows and validation."""

    series: list[Series]
    scales: list[SeriesScale]
    train_end: list[int]
    fit_end: list[int]
    windows: Windows
    validation: tuple[np.ndarray, np.ndarray] | None  # past (S, L, 1), targets (S, V, 1), scaled; None: no tail


def default_input_len(train_ends: list[int], season: int, horizon: int, output_len: int) -> int:
    """One season or one horizon of input, whichever is longer (ES-RNN's choice: the seasonal index already
    carries the season), ``INPUT_LEN_CAP`` at most, and short enough that the median series keeps a window."""
    want = min(INPUT_LEN_CAP, max(season, horizon))
    return max(1, min(want, int(np.median(train_ends)) - output_len))


def fill_panel_config(config: ForecastRunConfig, panel: Panel) -> ForecastRunConfig:
    """The config with the model's data-dependent fields and the input length / validation size set."""
    data, m = config.data, config.model
    output_len = m.output_len or data.horizon
    val = data.val_points(panel.season)
    train_ends = [len(s) - data.holdout_points - val for s in panel.series]
    length = data.input_len or default_input_len(train_ends, panel.season, data.horizon, output_len)
    model = dataclasses.replace(m, num_targets=1, num_covariates=0, season=MODEL_SEASON, output_len=output_len)
    return dataclasses.replace(config, data=dataclasses.replace(data, input_len=length, val_size=val), model=model)


def keep_long_enough(panel: Panel, config: ForecastRunConfig, log: Callable[[str], None]) -> list[Series]:
    """The series long enough for one training window plus the validation and held-out tails; a one-line notice
    for those skipped, a one-line error naming the flags when none is left."""
    data, output_len = config.data, config.model.output_len
    need = data.input_len + output_len + data.val_size + data.holdout_points
    kept = [s for s in panel.series if len(s) >= need]
    why = (f"input {data.input_len} + output {output_len} + validation {data.val_size} + "
           f"held out {data.holdout_points}")
    if not kept:
        longest = max(len(s) for s in panel.series)
        raise RnnkitError(f"none of the {len(panel)} series of {data.data} is long enough (the longest has {longest} "
                          f"points; one training window needs {need}: {why}); use a shorter --input-len or "
                          f"--horizon, or --val-size 0 / --holdout 0")
    if len(kept) < len(panel):
        log(f"rnnkit: skipped {len(panel) - len(kept)} of {len(panel)} series with fewer than {need} points ({why})")
    return kept


def prepare_panel(config: ForecastRunConfig, vocab: PanelVocab | None,
                  log: Callable[[str], None]) -> tuple[ForecastRunConfig, PanelVocab, dict[str, Any], PanelData]:
    """Read the long CSV, keep the series long enough, fit each one's scale on its training part (or take the
    stored ones when resuming), and cut every series into training windows and a validation tail."""
    panel = read_panel(config.data)
    config = fill_panel_config(config, panel)
    kept = keep_long_enough(panel, config, log)
    data, output_len, length = config.data, config.model.output_len, config.data.input_len
    val, holdout = data.val_size, data.holdout_points
    fit_end = [len(s) - holdout for s in kept]
    train_end = [f - val for f in fit_end]
    num_windows = sum(t - length - output_len + 1 for t in train_end)
    check_memory(num_windows * (length + output_len) * 8 * 3, f"{num_windows:,} training windows of {data.data}",
                 "use a shorter --input-len or fewer series")
    if vocab is not None:  # resuming: the stored scales, so that the model keeps seeing the same inputs
        scales = [vocab.scales[vocab.index(s.name)] for s in kept]
    else:
        scales = [SeriesScale.fit(s.values[:t, 0], panel.season) for s, t in zip(kept, train_end)]
    scaled = [s.values[:, 0] / scale.factors(0, len(s)) for s, scale in zip(kept, scales)]  # each (N_i,)
    parts = [make_windows(x[:, None], np.zeros((len(x), 0)), length, output_len, 0, t)
             for x, t in zip(scaled, train_end)]
    windows = Windows(*(np.concatenate([getattr(w, f) for w in parts]) for f in ("past", "future_covariates",
                                                                                 "target")))
    validation = None
    if val > 0:
        past = np.stack([x[t - length:t] for x, t in zip(scaled, train_end)])[..., None]  # (S, L, 1)
        target = np.stack([x[t:t + val] for x, t in zip(scaled, train_end)])[..., None]  # (S, V, 1)
        validation = (past, target)
    info = {"target_names": [panel.target], "covariate_names": [], "freq": panel.freq, "step": panel.step,
            "season": panel.season, "series": len(kept)}
    vocab = PanelVocab(info, [s.name for s in kept], scales, [len(s) for s in kept],
                       [str(s.times[-1]) for s in kept], [s.values[-length:, 0].tolist() for s in kept])
    meta = {"series": len(kept), "skipped_series": len(panel) - len(kept), "train_windows": len(windows),
            "val_points": val, "holdout_points": holdout}
    return config, vocab, meta, PanelData(kept, scales, train_end, fit_end, windows, validation)


def validation_tensors(data: PanelData, device: torch.device) -> tuple[torch.Tensor, ...] | None:
    """Every series' validation window as tensors: past (S, L, 1), future covariates (S, V, 0), targets (S, V, 1),
    scaled; None without a validation tail."""
    if data.validation is None:
        return None
    past, target = to_tensors(*data.validation, device=device)
    return past, past.new_zeros(past.shape[0], target.shape[1], 0), target


def panel_validation_loss(data: PanelData, config: ForecastRunConfig, device: torch.device) -> Callable | None:
    """Mean loss (scaled units) of forecasting every series' validation tail from its start, for early stopping."""
    tensors = validation_tensors(data, device)
    if tensors is None:
        return None
    past, future, target = tensors
    m = config.model

    def evaluate(model):
        model.eval()
        with torch.inference_mode():
            return float(forecast_loss(model.forecast(past, future, target.shape[1]), target, m))  # (S, V, 1, Q)
    return evaluate


def panel_training(prepared: Prepared, ctx: Context, loss_fn: Callable) -> Training:
    """Random batches of every series' windows, the task's loss, and the mean validation loss over series."""
    config, data = prepared.config, prepared.data
    t, m = config.train, config.model
    generator = torch.Generator().manual_seed(t.seed)
    lengths = [len(s) for s in data.series]
    describe = (f"; {len(data.series)} series of {config.data.data} ({min(lengths)}-{max(lengths)} points, "
                f"{config.data.val_size} validation and {config.data.holdout_points} held out each), "
                f"{len(data.windows)} training windows; global {m.mode} {m.cell}, horizon {config.data.horizon}")
    return Training(WindowBatcher(data.windows, t.batch_size, generator), loss_fn,
                    panel_validation_loss(data, config, ctx.device), describe, batch_generator=generator)


def panel_finish(prepared: Prepared, summary: dict[str, Any], ctx: Context,
                 load_model: Callable[..., Forecaster]) -> dict[str, Any] | None:
    """With quantiles, calibrate the outer ones on every series' validation tail (``panel_interval_scores``; the
    widening goes to series.json); then score every kept series' held-out tail with the best weights: the mean
    goes to the summary ("holdout")."""
    config, data, vocab = prepared.config, prepared.data, prepared.vocab
    model = load_model(ctx.out, config, vocab, ctx.device)
    meta: dict[str, Any] = {}
    vocab.series_info.pop("interval_adjust", None)
    if len(config.model.quantiles) >= 2:
        scores = panel_interval_scores(model, data, ctx.device)
        if scores is None:
            ctx.log("rnnkit: the quantiles are not conformally calibrated: no validation tail (--val-size 0)")
        else:
            adjust = calibrate_intervals([scores], config.model.quantiles)
            vocab.series_info["interval_adjust"] = adjust
            meta.update(interval_calibration_points=len(scores), interval_adjust=adjust)
        ckpt.save_json(ctx.out / SERIES_FILE, vocab.to_dict())  # the calibration is part of the predictor
    if not config.data.holdout_points:
        return meta or None
    fm = GlobalForecaster(model, config, vocab)
    rows = [fm.holdout(s, scale) for s, scale in zip(data.series, data.scales)]
    summary["holdout"] = mean_metrics(rows)
    summary["holdout_series"] = len(rows)
    return {**meta, "holdout_mean": summary["holdout"]}


def panel_interval_scores(model: Forecaster, data: PanelData, device: torch.device) -> np.ndarray | None:
    """Conformity scores (S * V, 1), scaled units, of the model's outer quantiles forecasting every series'
    validation tail from its start; None without a tail.

    Every series is one more draw, so a panel gives the split-conformal step many points at no extra training
    (a single series refits instead: its one tail is too few). The tails also picked best.pt among the
    validations, which makes these scores slightly optimistic (``bench_forecast.py --parts global`` measures
    the held-out coverage that results).
    """
    tensors = validation_tensors(data, device)
    if tensors is None:
        return None
    past, future, target = tensors
    with torch.inference_mode():
        pred = model.eval().forecast(past, future, target.shape[1]).double().cpu().numpy()  # (S, V, 1, Q)
    return band_scores(pred, data.validation[1]).reshape(-1, 1)


# -- the trained global model ----------------------------------------------------------------------
class GlobalForecaster:
    """A global run's predictor (``rnnkit.runs.predictors.Forecaster``): forecasts any of its series by id,
    or a new series of the same frequency.

    ``forecast(horizon, history=None, series_id=None)``: with ``series_id``, after the end of that training
    series (from the points series.json keeps); with ``history`` (a ``Series``), after it, normalised by its
    own level and seasonal index.
    """

    def __init__(self, model: Forecaster, config: ForecastRunConfig, vocab: PanelVocab):
        kept = len(vocab.last[0])
        if kept < config.data.input_len:
            raise RnnkitError(f"series.json keeps {kept} points of each series but the model reads "
                              f"{config.data.input_len} (config.json); the files come from different runs")
        self.model, self.config, self.vocab = model.eval(), config, vocab

    @property
    def series_info(self) -> dict[str, Any]:
        return self.vocab.series_info

    @property
    def ids(self) -> list[str]:
        return self.vocab.ids

    @property
    def horizon(self) -> int:
        return self.config.data.horizon

    def _no_id(self) -> RnnkitError:
        listed = ", ".join(shown(k, 30) for k in self.ids[:SHOWN_IDS])
        return RnnkitError(f"this global model forecasts {len(self.ids)} series: pass --id (one of {listed}"
                           f"{', ...' if len(self.ids) > SHOWN_IDS else ''}) or --data NEW.csv")

    def stored_series(self, series_id: str) -> Series:
        """The last ``input_len`` points of training series ``series_id``, on its own time axis."""
        import pandas as pd

        i, info = self.vocab.index(series_id), self.series_info
        values = np.asarray(self.vocab.last[i], dtype=np.float64)[:, None]  # (L, 1)
        n, end = len(values), self.vocab.ends[i]
        if info["freq"] is not None:
            times = pd.date_range(end=pd.Timestamp(end), periods=n, freq=info["freq"])
        else:
            step = int(info["step"])
            times = pd.Index(int(end) - step * np.arange(n - 1, -1, -1), dtype=np.int64)
        return Series(times, values, np.zeros((n, 0)), tuple(info["target_names"]), freq=info["freq"],
                      step=int(info["step"]), season=int(info["season"]), name=series_id)

    def series(self, data: str | None = None, series_id: str | None = None) -> Series:
        """Training series ``series_id`` (its last points), or the series of CSV ``data``: a one-series CSV, or
        a long one with the run's id column (then ``series_id`` picks one, unless it holds only one)."""
        if data is None:
            if series_id is None:
                raise self._no_id()
            return self.stored_series(series_id)
        config = dataclasses.replace(self.config.data, data=data)
        if config.id_column in read_frame(data).columns:
            found = {s.name: s for s in read_panel(config, min_series=1).series}
            if series_id is None and len(found) > 1:
                raise RnnkitError(f"{data} holds {len(found)} series; pass --id to pick one "
                                  f"(e.g. {', '.join(shown(k, 30) for k in list(found)[:3])})")
            if series_id is not None and series_id not in found:
                raise RnnkitError(f"--id {shown(series_id, 30)!r} is not a series of {data}; use one of "
                                  f"{', '.join(shown(k, 30) for k in list(found)[:SHOWN_IDS])}")
            series = found[series_id] if series_id is not None else next(iter(found.values()))
        else:
            series = read_csv_series(dataclasses.replace(config, id_column=None))
        return self.check_series(series)

    def check_series(self, series: Series) -> Series:
        """``series`` with the run's season, after one-line errors unless it is one target of the run's frequency."""
        info = self.series_info
        if series.values.shape[1] != 1 or series.covariates.shape[1]:
            raise RnnkitError(f"a global model forecasts one column ({info['target_names'][0]}); the data has "
                              f"{', '.join(series.target_names)}; pass --target with one column")
        if series.freq is not None and info["freq"] is not None and series.freq != info["freq"]:
            raise RnnkitError(f"{series.name} is sampled at {series.freq}, the model's series at {info['freq']}; "
                              "give a series of the same frequency")
        return dataclasses.replace(series, season=int(info["season"]))

    def forecast(self, horizon: int | None = None, history: Series | None = None,
                 series_id: str | None = None) -> Forecast:
        """Forecast ``horizon`` steps (default: the trained horizon) after training series ``series_id`` or after
        ``history`` (a new series, normalised by its own history)."""
        if history is not None:
            return self.predict(history, horizon)
        if series_id is None:
            raise self._no_id()
        i = self.vocab.index(series_id)
        stored = self.stored_series(series_id)
        return self._predict(stored, horizon, self.vocab.scales[i], self.vocab.points[i] - len(stored))

    def predict(self, series: Series, horizon: int | None = None) -> Forecast:
        """Forecast ``horizon`` steps after ``series``, a new series normalised by its own level and index."""
        series = self.check_series(series)
        return self._predict(series, horizon, SeriesScale.fit(series.values[:, 0], series.season), 0)

    def _predict(self, series: Series, horizon: int | None, scale: SeriesScale, start: int) -> Forecast:
        """Forecast after ``series`` whose first point is point ``start`` of the series ``scale`` was fitted on."""
        horizon = horizon or self.horizon
        length, n = self.config.data.input_len, len(series)
        if horizon < 1:
            raise RnnkitError(f"--horizon must be >= 1, got {horizon}")
        quantiles = len(self.config.model.quantiles)
        check_memory(horizon * (64 + 32 * (2 + quantiles)), f"--horizon {horizon}", "forecast fewer steps")
        if n < length:
            raise RnnkitError(f"the model reads {length} past points but {series.name} has {n}; give a longer series")
        factors = scale.factors(start, n + horizon)  # (N + H,)
        past = (series.values[n - length:, 0] / factors[n - length:n])[None, :, None]  # (1, L, 1)
        pred = model_forecast(self.model, past, np.zeros((1, horizon, 0)), horizon)  # (H, 1, Q) scaled
        pred = widen_intervals(pred, self.series_info.get("interval_adjust"))
        return forecast_of(self.model.config, series, pred * factors[n:, None, None])

    def holdout(self, series: Series, scale: SeriesScale | None = None) -> dict[str, float]:
        """MASE, sMAPE and MAPE of forecasting the last ``holdout`` points of ``series`` from the points before
        them, normalised by ``scale`` (the stored one of a training series) or by that history's own."""
        holdout = self.config.data.holdout_points or self.horizon
        cutoff = len(series) - holdout
        history = series.head(cutoff)
        scale = scale or SeriesScale.fit(history.values[:, 0], series.season)
        forecast = self._predict(history, holdout, scale, 0)
        metrics = forecast_metrics(series.values[cutoff:], forecast.point, history.values, series.season)
        return {k: metrics[k] for k in ("MASE", "sMAPE", "MAPE")}


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the series where it is defined (MASE is not on a constant history; NaN if none)."""
    means = {}
    for key in rows[0]:
        values = np.asarray([r[key] for r in rows], dtype=np.float64)
        finite = values[np.isfinite(values)]
        means[key] = float(finite.mean()) if len(finite) else math.nan
    return means


def panel_eval_table(fm: GlobalForecaster, data: str | None = None) -> dict[str, dict[str, float]]:
    """Held-out MASE / sMAPE / MAPE of each series the run trained on (or of each series of ``data``, normalised
    by its own history), their means (``mean_metrics``), and seasonal naive's on the same tails; rows: ids, means."""
    config = fm.config.data if data is None else dataclasses.replace(fm.config.data, data=data)
    holdout = config.holdout_points or fm.horizon
    rows: dict[str, dict[str, float]] = {}
    naive: list[dict[str, float]] = []
    known = set(fm.ids)
    for s in read_panel(config, min_series=1).series:
        if len(s) - holdout < config.input_len or (data is None and s.name not in known):
            continue  # too short, or skipped in training
        s = fm.check_series(s)
        scale = fm.vocab.scales[fm.vocab.index(s.name)] if data is None else None
        rows[s.name] = fm.holdout(s, scale)
        history = s.values[:-holdout]
        metrics = forecast_metrics(s.values[-holdout:], baseline_forecast("seasonal_naive", history, holdout,
                                                                          s.season), history, s.season)
        naive.append({k: metrics[k] for k in ("MASE", "sMAPE", "MAPE")})
    if not rows:
        raise RnnkitError(f"no series of {config.data} has more than {config.input_len} points before its last "
                          f"{holdout}; give longer series")
    per_series = list(rows.values())
    rows[f"mean ({len(per_series)} series)"] = mean_metrics(per_series)
    rows["seasonal_naive (mean)"] = mean_metrics(naive)
    return rows


__all__ = ["MODEL_SEASON", "GlobalForecaster", "PanelData", "PanelVocab", "SeriesFile", "SeriesScale",
           "default_input_len", "fill_panel_config", "keep_long_enough", "mean_metrics", "panel_eval_table",
           "panel_finish", "panel_interval_scores", "panel_training", "panel_validation_loss", "prepare_panel",
           "validation_tensors"]
