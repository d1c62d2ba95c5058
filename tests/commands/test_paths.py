"""Issue 19: every path a user names that cannot be written is one 'rnnkit:' line naming that path (exit 2)."""

from __future__ import annotations

import pytest

from tests.conftest import cli, one_line_error
from tests.runs.edited_runs import train_every_task

TINY = ("--hidden-size", "32", "--num-layers", "1", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16",
        "--max-steps", "2", "--precision", "fp32", "--device", "cpu", "--no-progress")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return train_every_task(tmp_path_factory.mktemp("paths"))


def unwritable(kind: str, tmp_path, name: str) -> str:
    """/proc/NAME, /sys/NAME, or NAME under a regular file."""
    if kind == "file":
        (tmp_path / "regular").write_text("x")
        return str(tmp_path / "regular" / name)
    return f"/{kind}/{name}"


@pytest.mark.parametrize("kind", ["proc", "sys", "file"])
def test_train_out(corpus, tmp_path, kind, capsys):
    out = unwritable(kind, tmp_path, "x")
    line = one_line_error(*cli("train", "lm", "--data", corpus, "--out", out, *TINY, capsys=capsys)[::2])
    assert (out if kind != "file" else str(tmp_path / "regular")) in line and ".part" not in line


@pytest.mark.parametrize("kind", ["proc", "sys", "file"])
def test_forecast_out(runs, tmp_path, kind, capsys):
    out = unwritable(kind, tmp_path, "x.csv")
    code, stdout, err = cli("forecast", runs["forecast"], "--out", out, capsys=capsys)
    line = one_line_error(code, err)
    assert (out if kind != "file" else str(tmp_path / "regular")) in line and ".part" not in line


@pytest.mark.parametrize("kind", ["proc", "sys", "file"])
def test_translate_attention_png(runs, tmp_path, kind, capsys):
    out = unwritable(kind, tmp_path, "x.png")
    code, _, err = cli("translate", runs["seq2seq"], "--attention-png", out, "abc", capsys=capsys)
    line = one_line_error(code, err)
    assert (out if kind != "file" else str(tmp_path / "regular")) in line and ".part" not in line
