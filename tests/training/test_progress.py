"""Issue 19, progress that logs well: a live bar on a terminal, plain lines every 10% or 30 s elsewhere."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from rnnkit.training import progress as progress_module
from rnnkit.training.progress import PLAIN_EVERY_FRACTION, PLAIN_EVERY_S, Progress, live_bar
from tests.conftest import cli

ROW = {"step": 1, "loss": 2.5, "bpt": 3.6, "tokens_per_s": 1000.0}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_every_tenth_of_the_budget(monkeypatch):
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(True, stream=stream, clock=clock)
    assert not progress.live
    for k in range(1, 1001):  # 1000 fast updates: the time rule never fires
        clock.now += 0.001
        progress.update(k / 1000, {**ROW, "step": k}, 1.9)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == round(1 / PLAIN_EVERY_FRACTION) and "\r" not in stream.getvalue()
    assert [line.split()[1] for line in lines] == [f"{p}%" for p in range(10, 101, 10)]
    assert "step 1000 loss 2.500 bpc 3.600 chars/s 1,000 val 1.900" in lines[-1]


def test_plain_lines_every_30_seconds_when_the_budget_moves_slowly():
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(True, stream=stream, clock=clock)
    for k in range(1, 61):  # ten minutes in 10-second updates, 5% of the budget in all
        clock.now += 10.0
        progress.update(k * 0.05 / 60, ROW, float("inf"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 600 / PLAIN_EVERY_S
    assert "elapsed 0:30" in lines[0] and "elapsed 10:00" in lines[-1]


def test_a_resumed_run_starts_counting_from_where_it_was():
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(True, stream=stream, clock=clock, start=0.55)
    progress.update(0.58, ROW, 1.0)
    assert stream.getvalue() == ""  # the next mark is 60%, not 10%
    clock.now = 5.0
    progress.update(0.6, ROW, 1.0)
    assert " 60%" in stream.getvalue() and "left 0:40" in stream.getvalue()  # 5 s for 5% -> 40% in 40 s


def test_live_bar_only_on_a_terminal_and_not_with_tqdm_disable(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert live_bar(Terminal()) and not live_bar(io.StringIO())
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert not live_bar(Terminal())
    stream = Terminal()
    progress = Progress(True, stream=stream)
    progress.update(0.5, ROW, 1.0)
    assert not progress.live and "\r" not in stream.getvalue() and " 50%" in stream.getvalue()
    monkeypatch.setenv("TQDM_DISABLE", "0")
    bar = Progress(True, stream=Terminal())
    assert bar.live
    bar.close()


def test_disabled_progress_writes_nothing():
    stream = io.StringIO()
    progress = Progress(False, stream=stream)
    progress.update(1.0, ROW, 1.0)
    assert stream.getvalue() == ""


TINY = ("--hidden-size", "32", "--num-layers", "1", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16",
        "--eval-every", "50", "--precision", "fp32", "--device", "cpu", "--dropout", "0")


def test_quiet_prints_only_the_summary(corpus, tmp_path, capsys):
    code, out, err = cli("train", "lm", "--data", corpus, "--out", tmp_path / "r", "--max-steps", "30", "--quiet",
                         *TINY, capsys=capsys)
    assert code == 0 and out == ""
    [line] = err.splitlines()
    assert line.startswith("rnnkit: trained 30 steps"), err


def test_a_short_timed_run_logged_to_a_file_stays_small(corpus, tmp_path, monkeypatch, capsys):
    """The in-process, 3-second version of the 30-second run below (stderr is not a TTY under capsys); the
    30 s interval shrunk with the budget, so both rules fire."""
    monkeypatch.setattr(progress_module, "PLAIN_EVERY_S", 0.3)
    code, _, err = cli("train", "lm", "--data", corpus, "--out", tmp_path / "r", "--time", "3s", *TINY,
                       capsys=capsys)
    assert code == 0, err
    progress_lines = [line for line in err.splitlines() if "% " in line]
    assert 5 <= len(progress_lines) <= 2 * 10 + 2, err
    assert "\r" not in err and len(err.encode()) < 4096, err


@pytest.mark.slow
def test_a_30_second_run_redirected_to_a_file_writes_under_4_kb(corpus, tmp_path):
    log = tmp_path / "train.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("TQDM_DISABLE", None)
    with open(log, "wb") as f:
        done = subprocess.run([sys.executable, "-m", "rnnkit", "train", "lm", "--data", str(corpus), "--out",
                               str(tmp_path / "r"), "--time", "30s", *TINY], stdout=f, stderr=subprocess.STDOUT,
                              env=env, timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text
    assert len(text.encode()) < 4096 and "\r" not in text, text
    assert sum("% " in line for line in text.splitlines()) >= 9, text
