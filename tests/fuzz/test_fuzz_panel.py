"""Issue 15: the long-CSV reader of global forecasting (``rnnkit.data.panel``), fed arbitrary bytes or long
files with wrong cells, returns a panel or raises RnnkitError with a safe one-line message; never anything else."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.data.panel import read_panel
from rnnkit.data.series import SeriesConfig
from tests.fuzz.common import ANY_BYTES, FUZZ, outcome, write

IDS = st.sampled_from(["a", "b", "", "\x1b", "1", "nan", "a b"])
TIMES = st.sampled_from(["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01", "2020-01-08", "", "x", "3",
                         "2020-13-45"])
VALUES = st.sampled_from(["1", "2.5", "nan", "", "x", "1e999", "-inf", "0"])
LONG_ROWS = st.lists(st.tuples(IDS, TIMES, VALUES), max_size=14).map(
    lambda rows: ("id,date,value\n" + "\n".join(",".join(r) for r in rows)).encode())


@st.composite
def near_valid(draw) -> bytes:
    """A long CSV of 1-3 monthly series, with the odd bad cell, gap, duplicate or shuffled row."""
    rows = []
    for key in draw(st.lists(IDS, min_size=1, max_size=3, unique=True)):
        start, n = draw(st.integers(0, 3)), draw(st.integers(1, 6))
        for k in range(start, start + n):
            value = draw(st.one_of(st.floats(-1e6, 1e6).map(repr), VALUES))
            rows.append([key, f"2020-{k % 12 + 1:02d}-01", value])
    if rows and draw(st.booleans()):
        rows.pop(draw(st.integers(0, len(rows) - 1)))  # a gap
    if rows and draw(st.booleans()):
        rows.insert(0, rows[draw(st.integers(0, len(rows) - 1))])  # a duplicate, out of order
    return ("id,date,value\n" + "\n".join(",".join(r) for r in rows)).encode()


@FUZZ
@given(st.one_of(ANY_BYTES, LONG_ROWS, near_valid(), near_valid()), st.sampled_from([None, "MS"]),
       st.sampled_from(["none", "ffill"]), st.booleans())
def test_long_csv(data, freq, fill, sort):
    path = write("long.csv", data)
    panel = outcome(lambda: read_panel(SeriesConfig(data=str(path), id_column="id", freq=freq, fill=fill,
                                                    sort=sort)))
    if panel is not None:
        assert len(panel) >= 2 and len(set(panel.ids)) == len(panel.ids)
        assert all(s.values.shape == (len(s), 1) and len(s.times) == len(s) for s in panel.series)
        assert all(not np.isnan(s.values).any() for s in panel.series)
