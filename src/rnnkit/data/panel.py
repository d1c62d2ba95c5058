"""Many series in one long CSV: one row per (series id, [time], value), read into one ``Series`` per id.

A long file (the M4 / Monash layout) looks like::

    id,date,value
    a,2000-01-01,112
    a,2000-02-01,118
    ...
    b,2003-07-01,0.91
    ...

Each id's rows become one series (named by its id) in the order the ids first appear; the series may
have different lengths and starts but must share one frequency (a global model reads one kind of time
axis). Without a time column each id's rows are its points in file order. Every problem is a one-line
``RnnkitError`` naming the series and the CSV line.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from rnnkit.data.series import (
    Series,
    SeriesConfig,
    _fill,
    _lines,
    _need_pandas,
    _numeric,
    _parse_times,
    _pick_time_column,
    read_frame,
    season_for,
)
from rnnkit.errors import RnnkitError, shown

MIN_SERIES = 2  # a global model learns across series: one series is a single-series run


@dataclass
class Panel:
    """The series of a long CSV, one per id, sharing a frequency (``freq`` for dated axes, ``step`` otherwise)."""

    series: list[Series]
    freq: str | None
    step: int
    season: int
    target: str

    @property
    def ids(self) -> list[str]:
        return [s.name for s in self.series]

    def __len__(self) -> int:
        return len(self.series)


def _columns(frame) -> str:
    return ", ".join(shown(c, 30) for c in frame.columns)


def _target_column(frame, config: SeriesConfig, skip: tuple[str, ...]) -> str:
    """The one target column: ``--target`` or the only numeric column that is neither id nor time."""
    pd = _need_pandas()
    path = config.data
    if config.covariates:
        raise RnnkitError("--covariates do not work with --id-column yet (a global model reads its target only); "
                          "drop --covariates")
    for column in config.target:
        if column not in frame.columns:
            raise RnnkitError(f"column {column!r} is not in {path}; columns: {_columns(frame)}")
    if len(config.target) > 1:
        raise RnnkitError(f"a global model forecasts one target, got --target {','.join(config.target)}; "
                          "pass one column")
    if config.target:
        return config.target[0]
    candidates = [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]
    if len(candidates) != 1:
        raise RnnkitError(f"{path} has {len(candidates)} numeric columns besides id and time "
                          f"({', '.join(shown(c, 30) for c in candidates) or 'none'}); pass --target COL")
    return candidates[0]


def _infer_freq(times, where: str, rows: np.ndarray) -> str | None:
    pd = _need_pandas()
    if len(times) < 3:
        return None
    with warnings.catch_warnings():  # pandas 3 warns that infer_freq will return an offset; take either
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(times)
    freq = getattr(freq, "freqstr", freq)
    if freq is None:
        raise RnnkitError(f"cannot infer a regular frequency for {where} (gaps or uneven steps, CSV lines "
                          f"{_lines(rows[:3])} ...); pass --freq (e.g. MS, D, h) and --fill to fill the gaps")
    return freq


def _regular(times, values: np.ndarray, freq: str, where: str, rows: np.ndarray):
    """``times``/``values`` on the full ``freq`` grid from first to last time (gaps become NaN)."""
    pd = _need_pandas()
    try:
        full = pd.date_range(times[0], times[-1], freq=freq)
    except ValueError as e:
        raise RnnkitError(f"--freq {freq!r} is not a pandas frequency; use e.g. MS, D, h, W-SUN") from e
    inside = times.isin(full)
    if not inside.all():
        bad = int(np.flatnonzero(~inside)[0])
        raise RnnkitError(f"time {times[bad]} of {where} (CSV line {rows[bad] + 2}) does not fall on the "
                          f"frequency {freq}; a global model needs one frequency for every series (pass --freq)")
    if len(full) == len(times):
        return times, values
    grown = np.full(len(full), np.nan)
    grown[full.get_indexer(times)] = values
    return full, grown


def read_panel(config: SeriesConfig, min_series: int = MIN_SERIES) -> Panel:
    """Read a long CSV of many series (``config.id_column`` names each row's series) into a ``Panel``; a
    one-line error when it holds fewer than ``min_series``."""
    pd = _need_pandas()
    path, id_column = config.data, config.id_column
    frame = read_frame(path)
    if id_column not in frame.columns:
        raise RnnkitError(f"--id-column {id_column!r} is not a column of {path}; columns: {_columns(frame)}")
    time_column = _pick_time_column(frame, config)
    if time_column == id_column:
        raise RnnkitError(f"--id-column and the time column are both {id_column!r}; pass --time-column")
    target = _target_column(frame, config, (id_column, time_column))
    if target == id_column:
        raise RnnkitError(f"--target {target!r} is the id column; pass the value column")
    raw_ids = frame[id_column]
    if raw_ids.isna().any():
        raise RnnkitError(f"id column {id_column!r} of {path} is empty at CSV lines "
                          f"{_lines(np.flatnonzero(raw_ids.isna()))}; give every row an id")
    ids = raw_ids.astype(str).to_numpy()
    values = _numeric(frame, target, path)  # (R,)
    times, integer_times = _parse_times(frame, time_column, path) if time_column is not None else (None, True)
    keys = list(pd.unique(ids))
    if len(keys) < min_series:
        raise RnnkitError(f"{path} holds {len(keys)} series (one id in {id_column!r}); a global model needs "
                          f"{min_series} or more: drop --id-column to train on one series")
    groups = pd.Series(np.arange(len(ids))).groupby(ids, sort=False).indices  # id -> row positions, file order
    parts = []
    for key in keys:
        rows = np.asarray(groups[key])
        where = f"series {shown(key, 30)!r} of {path}"
        part_times = times[rows] if times is not None else pd.Index(np.arange(len(rows), dtype=np.int64))
        part_values = values[rows]
        if times is not None:
            duplicated = np.flatnonzero(part_times.duplicated())
            if len(duplicated):
                raise RnnkitError(f"{where} has duplicate times, e.g. {part_times[duplicated[0]]} at CSV lines "
                                  f"{_lines(rows[duplicated])}; keep one row per id and time")
            order = np.argsort(np.asarray(part_times), kind="stable")
            if not (order == np.arange(len(order))).all():
                if not config.sort:
                    first = int(np.flatnonzero(np.diff(np.asarray(part_times).astype(np.int64)) < 0)[0])
                    raise RnnkitError(f"times of {where} are not sorted: {part_times[first + 1]} (CSV line "
                                      f"{rows[first + 1] + 2}) comes after {part_times[first]}; sort the file by id "
                                      f"and {time_column!r} or pass --sort")
                part_times, part_values, rows = part_times[order], part_values[order], rows[order]
        parts.append((key, where, rows, part_times, part_values))

    freq, step = config.freq, 1
    if times is not None and not integer_times and freq is None:  # one frequency, inferred from every series
        found = {key: f for key, where, rows, t, _ in parts if (f := _infer_freq(t, where, rows)) is not None}
        kinds = sorted(set(found.values()))
        if len(kinds) > 1:
            a = next(k for k, f in found.items() if f == kinds[0])
            b = next(k for k, f in found.items() if f == kinds[1])
            raise RnnkitError(f"series {shown(a, 30)!r} is sampled at {kinds[0]} but {shown(b, 30)!r} at {kinds[1]}; "
                              "a global model needs one frequency: split the file, or pass --freq and --fill")
        if not kinds:
            raise RnnkitError(f"cannot infer a frequency from {path}: every series has fewer than 3 points; "
                              "pass --freq")
        freq = kinds[0]
    if times is not None and integer_times:
        freq = None
        steps = {int(d) for *_, t, _ in parts for d in np.diff(np.asarray(t))}
        if len(steps) > 1:
            raise RnnkitError(f"the integer times of {path} step by {', '.join(map(str, sorted(steps)[:3]))}; "
                              "a global model needs one regular step: add the missing rows")
        step = steps.pop() if steps else 1

    series = []
    for key, where, rows, part_times, part_values in parts:
        if freq is not None:
            part_times, part_values = _regular(part_times, part_values, freq, where, rows)
        missing = np.isnan(part_values)
        if missing.any():
            if config.fill == "none":
                at = np.flatnonzero(missing)
                lines = f"at CSV lines {_lines(rows[at])}" if len(part_values) == len(rows) else "(gaps in its times)"
                raise RnnkitError(f"{where} has missing values {lines}; fill them in the file or pass "
                                  "--fill ffill|bfill|interpolate|zero")
            if missing.all():
                raise RnnkitError(f"{where} has no values (CSV lines {_lines(rows)}); drop its rows")
            part_values = _fill(part_values[:, None], config.fill)[:, 0]
        infinite = np.flatnonzero(np.isinf(part_values))
        if len(infinite):
            at = f"at CSV lines {_lines(rows[infinite])}" if len(part_values) == len(rows) else "(after filling)"
            raise RnnkitError(f"{where} has infinite values {at}; fix those cells")
        series.append(Series(part_times, part_values[:, None], np.zeros((len(part_values), 0)), (str(target),),
                             freq=freq, step=step, season=1, name=str(key)))
    season = config.season or season_for(freq)
    series = [dataclasses.replace(s, season=season) for s in series]
    return Panel(series, freq, step, season, str(target))


__all__ = ["MIN_SERIES", "Panel", "read_panel"]
