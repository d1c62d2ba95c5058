"""Time series for forecasting: CSV loading, time parsing, frequency, validation, scaling and windows.

A ``Series`` is ``N`` observed points of ``T`` target columns on a regular time axis, plus ``C``
known-future covariate columns that may run ``F`` rows past the last observation (rows at the end of
the CSV whose targets are empty but whose covariates are given). Everything here is NumPy/pandas;
nothing imports a model.

Windows (``make_windows``) cut the scaled series into training examples::

    time  ->  s ............ s+L-1 | s+L ......... s+L+O-1
              past (L, T+C)        | target (O, T), future covariates (O, C)

and a window is used only if its targets lie inside the split being built, so the training
windows never see a validation or held-out target.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.datasets import BuiltinDataset, builtin_names, register_builtin
from rnnkit.data.reader import sniff_delimiter
from rnnkit.errors import RnnkitError, raise_first, shown

for _name, _description in (("sine", "a generated sine wave"),
                             ("airline", "monthly international airline passengers, 1949-1960 (Box & Jenkins)"),
                             ("sunspots", "yearly sunspot activity, 1700-2008 (ships with statsmodels)"),
                             ("co2", "Mauna Loa CO2, monthly means (ships with statsmodels)")):
    register_builtin(BuiltinDataset(_name, "series", _description))
BUILTIN = builtin_names("series")  # the built-in series, by name
SCALERS = ("standard", "minmax", "none")
FILLS = ("none", "ffill", "bfill", "interpolate", "zero")
TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds", "month", "year", "period", "week", "day")
SINE_POINTS, SINE_PERIOD = 1200, 40

# Monthly international airline passengers (thousands), Jan 1949 - Dec 1960: Box & Jenkins (1976),
# series G; public domain. The classic small series on which seasonal naive, ETS and ARIMA are compared.
AIR_PASSENGERS = (
    112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118, 115, 126, 141, 135, 125, 149, 170, 170, 158, 133,
    114, 140, 145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166, 171, 180, 193, 181, 183, 218, 230, 242,
    209, 191, 172, 194, 196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201, 204, 188, 235, 227, 234, 264,
    302, 293, 259, 229, 203, 229, 242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278, 284, 277, 317, 313,
    318, 374, 413, 405, 355, 306, 271, 306, 315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336, 340, 318,
    362, 348, 363, 435, 491, 505, 404, 359, 310, 337, 360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405,
    417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432,
)


@dataclass(frozen=True)
class SeriesConfig:
    """Where the series comes from, how it is cleaned and scaled, and how it is cut into windows.

    ``horizon`` is how far ahead to forecast; the last ``holdout`` points (default: ``horizon``) are
    held out for ``rnnkit eval``; of the rest, the last ``val_size`` points are targets for validation
    and early stopping (default: one season, at most the horizon; the horizon for series without a
    season; on air passengers a 12-month tail leaves 61 training windows where 36 months would leave 13).
    Unset, ``input_len`` and ``val_size`` follow the series' length (``tasks.forecast.model.adaptive_lengths``):
    36 points of input at most, shorter (and no validation tail) where a short series needs it.
    The scaler is fitted on what is left: the training part only. With quantiles, the outer quantiles
    are calibrated on ``calibration_windows`` validation-sized tails ending at the holdout, each
    forecast by a model trained only on what came before it (see ``tasks.forecast.calibrate_intervals``).
    """

    data: str = "airline"
    target: tuple[str, ...] = ()  # empty: the one numeric column that is neither time nor covariate
    time_column: str | None = None  # None: a column named date/time/... if there is one
    covariates: tuple[str, ...] = ()
    freq: str | None = None  # pandas offset alias (MS, D, h, ...); None: inferred
    season: int | None = None  # seasonal period; None: from the frequency (monthly 12, quarterly 4, ...)
    fill: str = "none"
    sort: bool = False
    scaler: str = "standard"
    log: bool = False
    horizon: int = 12
    input_len: int | None = None  # None: adaptive, INPUT_LEN_CAP at most (see tasks.forecast.model.adaptive_lengths)
    holdout: int | None = None
    val_size: int | None = None
    calibration_windows: int = 3  # rolling origins for the conformal interval correction (1: validation tail)
    id_column: str | None = None  # a long CSV of many series, one id per row: one global model (data/panel.py)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesConfig:
        d = dict(d)
        for key in ("target", "covariates"):
            if isinstance(d.get(key), str):
                d[key] = tuple(s.strip() for s in d[key].split(",") if s.strip())
            elif d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    @property
    def holdout_points(self) -> int:
        return self.horizon if self.holdout is None else self.holdout

    def val_points(self, season: int = 1) -> int:
        """Points in the validation tail: ``val_size``, else one season (at most the horizon), else the horizon."""
        if self.val_size is not None:
            return self.val_size
        return min(self.horizon, season) if season > 1 else self.horizon

    def validate(self) -> SeriesConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        checks = [
            (self.horizon >= 1, f"--horizon must be >= 1, got {self.horizon}"),
            (self.input_len is None or self.input_len >= 1, f"--input-len must be >= 1, got {self.input_len}"),
            (self.holdout is None or self.holdout >= 0, f"--holdout must be >= 0, got {self.holdout}"),
            (self.val_size is None or self.val_size >= 0, f"--val-size must be >= 0, got {self.val_size}"),
            (self.season is None or self.season >= 1, f"--season must be >= 1, got {self.season}"),
            (self.calibration_windows >= 1, f"--calibration-windows must be >= 1, got {self.calibration_windows}"),
            (self.scaler in SCALERS, f"--scaler must be one of {', '.join(SCALERS)}, got {self.scaler!r}"),
            (self.fill in FILLS, f"--fill must be one of {', '.join(FILLS)}, got {self.fill!r}"),
        ]
        raise_first(checks)
        return self


@dataclass
class Series:
    """A regular multivariate series: ``values`` (N, T), ``covariates`` (N + F, C) with F known-future rows."""

    times: Any  # pandas DatetimeIndex, or an integer Index for series without dates, (N,)
    values: np.ndarray  # (N, T) float64
    covariates: np.ndarray  # (N + F, C) float64
    target_names: tuple[str, ...]
    covariate_names: tuple[str, ...] = ()
    freq: str | None = None  # pandas offset alias for dated series
    step: int = 1  # spacing of integer time axes
    season: int = 1
    name: str = "series"

    def __len__(self) -> int:
        return len(self.values)

    @property
    def future_covariate_rows(self) -> int:
        return len(self.covariates) - len(self.values)

    def head(self, n: int) -> Series:
        """The first ``n`` observations; covariates stay whole (they are known ahead of time)."""
        return dataclasses.replace(self, times=self.times[:n], values=self.values[:n])

    def future_times(self, horizon: int):
        """The ``horizon`` timestamps after the last observation."""
        import pandas as pd

        if self.freq is not None:
            return pd.date_range(self.times[-1], periods=horizon + 1, freq=self.freq)[1:]
        start = int(self.times[-1])
        return pd.Index(np.arange(start + self.step, start + self.step * (horizon + 1), self.step, dtype=np.int64))

    def describe(self) -> dict[str, Any]:
        """What a run directory stores about its series to rebuild forecasts: names, frequency, season."""
        return {"name": self.name, "target_names": list(self.target_names),
                "covariate_names": list(self.covariate_names), "freq": self.freq, "step": self.step,
                "season": self.season, "points": len(self), "start": str(self.times[0]), "end": str(self.times[-1])}


# -- built-in series -------------------------------------------------------------------------------
def _need_pandas():
    try:
        import pandas as pd
    except ImportError as e:
        raise RnnkitError("forecasting needs pandas and statsmodels; pip install 'rnnkit[forecast]'") from e
    return pd


def builtin_series(name: str) -> Series:
    """``sine`` (generated), ``airline`` (embedded), ``sunspots`` and ``co2`` (from statsmodels, offline)."""
    pd = _need_pandas()
    if name == "sine":
        t = np.arange(SINE_POINTS)
        values = np.sin(2 * math.pi * t / SINE_PERIOD)[:, None]
        return Series(pd.Index(t, dtype=np.int64), values, np.zeros((SINE_POINTS, 0)), ("sine",), season=1,
                      name="sine")
    if name == "airline":
        times = pd.date_range("1949-01-01", periods=len(AIR_PASSENGERS), freq="MS")
        values = np.asarray(AIR_PASSENGERS, dtype=np.float64)[:, None]
        return Series(times, values, np.zeros((len(values), 0)), ("passengers",), freq="MS", season=12,
                      name="airline")
    try:
        import statsmodels.api as sm
    except ImportError as e:
        raise RnnkitError(f"--data {name} comes with statsmodels; pip install 'rnnkit[forecast]'") from e
    if name == "sunspots":
        frame = sm.datasets.sunspots.load_pandas().data
        times = pd.to_datetime(frame["YEAR"].astype(int).astype(str), format="%Y")
        values = frame["SUNACTIVITY"].to_numpy(np.float64)[:, None]
        # yearly data: no calendar season; seasonal naive with m=1 is the naive forecast
        return Series(pd.DatetimeIndex(times, freq="YS-JAN"), values, np.zeros((len(values), 0)), ("sunactivity",),
                      freq="YS-JAN", season=1, name="sunspots")
    if name == "co2":
        frame = sm.datasets.co2.load_pandas().data  # weekly Mauna Loa CO2 with gaps
        monthly = frame["co2"].resample("MS").mean().interpolate()
        return Series(monthly.index, monthly.to_numpy(np.float64)[:, None], np.zeros((len(monthly), 0)), ("co2",),
                      freq="MS", season=12, name="co2")
    raise RnnkitError(f"unknown built-in series {name!r}; use one of {', '.join(BUILTIN)} or a CSV file")


# -- CSV files -------------------------------------------------------------------------------------
def _lines(rows) -> str:
    """CSV line numbers (header is line 1) of data rows, the first few of them."""
    rows = [int(r) + 2 for r in rows]
    listed = ", ".join(str(r) for r in rows[:5])
    return listed + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def season_for(freq: str | None) -> int:
    """The usual seasonal period of a pandas frequency: monthly 12, quarterly 4, weekly 52, daily 7, hourly 24."""
    if not freq:
        return 1
    base = freq.split("-")[0].lstrip("0123456789").upper()
    table = {"MS": 12, "M": 12, "ME": 12, "BMS": 12, "BM": 12, "QS": 4, "Q": 4, "QE": 4, "W": 52, "D": 7, "B": 5,
             "H": 24, "BH": 24}
    return table.get(base, 1)


def _pick_time_column(frame, config: SeriesConfig) -> str | None:
    if config.time_column is not None:
        if config.time_column not in frame.columns:
            raise RnnkitError(f"--time-column {config.time_column!r} is not a column of {config.data}; "
                              f"columns: {', '.join(shown(c, 30) for c in frame.columns)}")
        return config.time_column
    for column in frame.columns:
        if str(column).strip().lower() in TIME_NAMES:
            return column
    return None


def _parse_times(frame, column: str, path: str):
    pd = _need_pandas()
    raw = frame[column]
    if raw.isna().any():
        raise RnnkitError(f"time column {column!r} of {path} is empty at CSV lines {_lines(np.flatnonzero(raw.isna()))}"
                          "; give every row a time")
    if pd.api.types.is_integer_dtype(raw):
        return pd.Index(raw.to_numpy(np.int64)), True
    with warnings.catch_warnings():  # mixed formats fall back to dateutil, and bad values become NaT: both handled here
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        parsed = pd.to_datetime(raw, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise RnnkitError(f"time column {column!r} of {path} has values that are not dates, e.g. {raw.iloc[bad[0]]!r} "
                          f"at CSV lines {_lines(bad)}; fix them or pass the right --time-column")
    return pd.DatetimeIndex(parsed), False


def _numeric(frame, column: str, path: str) -> np.ndarray:
    pd = _need_pandas()
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero((numbers.isna() & raw.notna()).to_numpy())
    if len(bad):
        raise RnnkitError(f"column {column!r} of {path} is not numeric: {raw.iloc[bad[0]]!r} at CSV lines {_lines(bad)}"
                          "; fix those cells or choose another column")
    return numbers.to_numpy(np.float64)


def _fill(values: np.ndarray, how: str) -> np.ndarray:
    pd = _need_pandas()
    frame = pd.DataFrame(values)
    if how == "ffill":
        frame = frame.ffill().bfill()  # a leading gap has nothing before it: take the first value
    elif how == "bfill":
        frame = frame.bfill().ffill()
    elif how == "interpolate":
        frame = frame.interpolate(limit_direction="both")
    elif how == "zero":
        frame = frame.fillna(0.0)
    return frame.to_numpy(np.float64)


def read_frame(path: str):
    """The CSV file ``path`` as a pandas DataFrame (delimiter sniffed); one-line errors when it cannot be read."""
    pd = _need_pandas()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.readline()
        frame = pd.read_csv(path, sep=sniff_delimiter(head, ","))
    except FileNotFoundError as e:
        raise RnnkitError(f"{path} does not exist; give a CSV file or one of {', '.join(BUILTIN)}") from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RnnkitError(f"{path} is not a readable CSV file ({str(e).splitlines()[0]})") from e
    if frame.empty:
        raise RnnkitError(f"{path} has no data rows")
    return frame


def read_csv_series(config: SeriesConfig) -> Series:
    """Read, validate and (optionally) fill a CSV series; every problem is a one-line RnnkitError."""
    pd = _need_pandas()
    path = config.data
    frame = read_frame(path)
    time_column = _pick_time_column(frame, config)
    for column in (*config.target, *config.covariates):
        if column not in frame.columns:
            raise RnnkitError(f"column {column!r} is not in {path}; "
                              f"columns: {', '.join(shown(c, 30) for c in frame.columns)}")
    targets = config.target
    if not targets:
        candidates = [c for c in frame.columns if c != time_column and c not in config.covariates
                      and pd.api.types.is_numeric_dtype(frame[c])]
        if len(candidates) != 1:
            raise RnnkitError(f"{path} has {len(candidates)} numeric columns besides time and covariates "
                              f"({', '.join(shown(c, 30) for c in candidates) or 'none'}); pass --target COL")
        targets = (candidates[0],)
    overlap = set(targets) & set(config.covariates)
    if overlap:
        raise RnnkitError(f"column {sorted(overlap)[0]!r} is both a target and a covariate; list it once")
    values = np.stack([_numeric(frame, c, path) for c in targets], axis=1)  # (R, T)
    covariates = (np.stack([_numeric(frame, c, path) for c in config.covariates], axis=1)
                  if config.covariates else np.zeros((len(frame), 0)))  # (R, C)

    if time_column is not None:
        times, integer_times = _parse_times(frame, time_column, path)
        order = np.argsort(np.asarray(times), kind="stable")
        duplicated = np.flatnonzero(times.duplicated())
        if len(duplicated):
            raise RnnkitError(f"{path} has duplicate times, e.g. {times[duplicated[0]]} at CSV lines "
                              f"{_lines(duplicated)}; keep one row per time")
        if not (order == np.arange(len(order))).all():
            first = int(np.flatnonzero(np.diff(np.asarray(times).astype(np.int64)) < 0)[0])
            if not config.sort:
                raise RnnkitError(f"times in {path} are not sorted: {times[first + 1]} (CSV line {first + 3}) comes "
                                  f"after {times[first]} (line {first + 2}); sort the file by {time_column!r} "
                                  "or pass --sort")
            times, values, covariates = times[order], values[order], covariates[order]
        times, values, covariates, freq, step = _regularise(times, integer_times, values, covariates, config, path)
    else:
        times, freq, step = pd.Index(np.arange(len(frame), dtype=np.int64)), None, 1

    # trailing rows with covariates but no targets are the known future of the covariates
    observed = ~np.isnan(values).all(axis=1)
    last = int(np.flatnonzero(observed)[-1]) + 1 if observed.any() else 0
    if last == 0:
        raise RnnkitError(f"target columns {shown(', '.join(targets))} of {path} are empty")
    if last < len(values) and not config.covariates:
        raise RnnkitError(f"target {targets[0]!r} of {path} is empty at the end (CSV lines "
                          f"{_lines(range(last, len(values)))}); drop those rows or pass --fill")
    times, values = times[:last], values[:last]
    for name, block in (("target", values), ("covariate", covariates)):
        missing = np.isnan(block)
        if missing.any():
            if config.fill == "none":
                rows = np.flatnonzero(missing.any(axis=1))
                column = (targets if name == "target" else config.covariates)[int(np.argmax(missing.any(axis=0)))]
                raise RnnkitError(f"{name} {column!r} of {path} has missing values at CSV lines {_lines(rows)}; "
                                  "fill them in the file or pass --fill ffill|bfill|interpolate|zero")
            block[:] = _fill(block, config.fill)
    season = config.season or season_for(freq)
    return Series(times, values, covariates, tuple(map(str, targets)), tuple(map(str, config.covariates)),
                  freq=freq, step=step, season=season, name=Path(path).stem)


def _regularise(times, integer_times: bool, values, covariates, config: SeriesConfig, path: str):
    """Check the time axis is regular (or make it so with --freq); returns times, values, covariates, freq, step."""
    pd = _need_pandas()
    if integer_times:
        steps = np.diff(np.asarray(times))
        step = int(steps[0]) if len(steps) else 1
        if len(steps) and (steps != step).any():
            bad = int(np.flatnonzero(steps != step)[0])
            raise RnnkitError(f"time steps in {path} are irregular: {times[bad]} -> {times[bad + 1]} (CSV line "
                              f"{bad + 3}) but the first step is {step}; add the missing rows")
        return times, values, covariates, None, step
    freq = config.freq
    if freq is None:
        with warnings.catch_warnings():  # pandas 3 warns that infer_freq will return an offset; take either
            warnings.simplefilter("ignore")
            freq = pd.infer_freq(times) if len(times) >= 3 else None
        freq = getattr(freq, "freqstr", freq)
        if freq is None:
            raise RnnkitError(f"cannot infer a regular frequency from the times in {path} (gaps or uneven steps); "
                              "pass --freq (e.g. MS, D, h) and --fill to fill the gaps")
        return times, values, covariates, freq, 1
    try:
        full = pd.date_range(times[0], times[-1], freq=freq)
    except ValueError as e:
        raise RnnkitError(f"--freq {freq!r} is not a pandas frequency; use e.g. MS, D, h, W-SUN") from e
    if not times.isin(full).all():
        bad = int(np.flatnonzero(~times.isin(full))[0])
        raise RnnkitError(f"time {times[bad]} (CSV line {bad + 2}) does not fall on --freq {freq}; "
                          "choose the frequency the file is sampled at")
    if len(full) != len(times):  # gaps: insert empty rows, then --fill decides (or the missing-value error)
        position = full.get_indexer(times)
        grown_values = np.full((len(full), values.shape[1]), np.nan)
        grown_covs = np.full((len(full), covariates.shape[1]), np.nan)
        grown_values[position], grown_covs[position] = values, covariates
        values, covariates, times = grown_values, grown_covs, full
    return times, values, covariates, freq, 1


def load_series(config: SeriesConfig) -> Series:
    """A built-in series by name, or a CSV file."""
    if config.data in BUILTIN and not Path(config.data).exists():
        series = builtin_series(config.data)
        if config.season is not None:
            series = dataclasses.replace(series, season=config.season)
        return series
    if not Path(config.data).suffix and not Path(config.data).exists():
        raise RnnkitError(f"--data {config.data!r} is neither a CSV file nor a built-in series "
                          f"({', '.join(BUILTIN)})")
    return read_csv_series(config)


# -- scaling ---------------------------------------------------------------------------------------
@dataclass
class Scaler:
    """Per-column affine scaling (after an optional log), fitted on training data only."""

    kind: str = "standard"
    log: bool = False
    shift: list[float] = field(default_factory=list)  # subtracted ...
    scale: list[float] = field(default_factory=list)  # ... then divided by

    @classmethod
    def fit(cls, values: np.ndarray, kind: str = "standard", log: bool = False, names: tuple[str, ...] = ()) -> Scaler:
        """Fit on ``values`` (N, C), the training part of the series."""
        if log and (values <= 0).any():
            column = names[int(np.argmax((values <= 0).any(axis=0)))] if names else "a column"
            raise RnnkitError(f"--log needs positive values, but {shown(column)} has values <= 0; drop --log")
        x = np.log(values) if log else values
        if kind == "standard":
            shift, scale = x.mean(axis=0), x.std(axis=0)
        elif kind == "minmax":
            shift, scale = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
        else:
            shift, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        scale = np.where(scale > 1e-12, scale, 1.0)  # constant columns: shift only
        return cls(kind, log, [float(v) for v in shift], [float(v) for v in scale])

    def transform(self, values: np.ndarray) -> np.ndarray:
        x = np.log(values) if self.log else values
        return (x - np.asarray(self.shift)) / np.asarray(self.scale)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """Undo ``transform``; ``scaled`` is (..., C)."""
        x = scaled * np.asarray(self.scale) + np.asarray(self.shift)
        return np.exp(x) if self.log else x

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], columns: int | None = None) -> Scaler:
        """The scaler stored as ``d`` (checked: finite numbers, non-zero scales, ``columns`` of them if given)."""
        if not isinstance(d, dict) or set(d) - {"kind", "log", "shift", "scale"}:
            raise RnnkitError("its scaler is not one rnnkit wrote")
        scaler = cls(**d)

        def numbers(v: Any) -> bool:
            return isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                               and np.isfinite(x) for x in v)
        raise_first([
            (scaler.kind in SCALERS, f"its scaler kind {shown(scaler.kind)!r} is not one of {', '.join(SCALERS)}"),
            (isinstance(scaler.log, bool), "its scaler's log must be true or false"),
            (numbers(scaler.shift) and numbers(scaler.scale) and len(scaler.shift) == len(scaler.scale)
             and all(x != 0 for x in scaler.scale), "its scaler's shift and scale must be finite numbers, one "
                                                   "per column, scales non-zero"),
            (columns is None or len(scaler.scale) == columns,
             f"its scaler has {len(scaler.scale) if isinstance(scaler.scale, list) else '?'} columns, "
             f"the series {columns}"),
        ])
        return scaler


# -- windows ---------------------------------------------------------------------------------------
@dataclass
class Windows:
    """Training examples cut from a scaled series; W windows."""

    past: np.ndarray  # (W, L, T + C): past targets and covariates
    future_covariates: np.ndarray  # (W, O, C)
    target: np.ndarray  # (W, O, T)

    def __len__(self) -> int:
        return len(self.past)


def make_windows(values: np.ndarray, covariates: np.ndarray, input_len: int, output_len: int,
                 lo: int, hi: int) -> Windows:
    """Every window of ``input_len`` past points whose ``output_len`` targets lie in ``[lo, hi)``."""
    first = max(lo - input_len, 0)  # start s: targets s+L .. s+L+O-1 must be >= lo and < hi
    starts = np.arange(first, hi - input_len - output_len + 1)
    starts = starts[starts + input_len >= lo]
    num_t, num_c = values.shape[1], covariates.shape[1]
    past = np.zeros((len(starts), input_len, num_t + num_c))
    future = np.zeros((len(starts), output_len, num_c))
    target = np.zeros((len(starts), output_len, num_t))
    for i, s in enumerate(starts):
        past[i, :, :num_t] = values[s:s + input_len]
        past[i, :, num_t:] = covariates[s:s + input_len]
        future[i] = covariates[s + input_len:s + input_len + output_len]
        target[i] = values[s + input_len:s + input_len + output_len]
    return Windows(past, future, target)


class WindowBatcher:
    """Random batches of windows for the Trainer: ``sample() -> ((past, future_covariates), target)``."""

    def __init__(self, windows: Windows, batch_size: int, generator):
        import torch

        if len(windows) == 0:
            raise RnnkitError("no training windows; use a shorter --input-len or --horizon, or a longer series")
        self.past = torch.as_tensor(windows.past, dtype=torch.float32)  # (W, L, T+C)
        self.future = torch.as_tensor(windows.future_covariates, dtype=torch.float32)  # (W, O, C)
        self.target = torch.as_tensor(windows.target, dtype=torch.float32)  # (W, O, T)
        self.batch_size = min(batch_size, len(windows))
        self.generator = generator

    def __len__(self) -> int:
        return max(1, len(self.past) // self.batch_size)

    def sample(self):
        import torch

        rows = torch.randint(len(self.past), (self.batch_size,), generator=self.generator)
        return (self.past[rows], self.future[rows]), self.target[rows]


__all__ = ["AIR_PASSENGERS", "BUILTIN", "FILLS", "SCALERS", "Scaler", "Series", "SeriesConfig", "WindowBatcher",
           "Windows", "builtin_series", "load_series", "make_windows", "read_csv_series", "read_frame", "season_for"]
