"""Issue 19 from the CLI: unwritable paths, requests too large for memory and file bytes in messages are each one
'rnnkit:' line (exit 2)."""

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


@pytest.mark.parametrize("command, flag", [
    (["sample", "lm", "--length", "1000000000000"], "--length"),
    (["sample", "lm", "--length", "100000000", "--num-samples", "100"], "--num-samples 100"),
    (["sample", "ngram", "--length", "1000000000000"], "--length"),
    (["sample", "ngram", "--num-samples", "1000000000", "--length", "3"], "--num-samples"),
    (["sample", "conditional-lm", "--length", "1000000000000", "--condition", "A"], "--length"),
    (["translate", "seq2seq", "--beam", "1000000000", "abc"], "--beam"),
    (["translate", "seq2seq", "--max-len", "1000000000000", "abc"], "--max-len"),
    (["forecast", "forecast", "--horizon", "1000000000000"], "--horizon"),
])
def test_requests_too_large_for_memory_are_refused_by_an_estimate(runs, command, flag, capsys):
    import time

    from rnnkit.generate import SAMPLING_MEMORY_LIMIT

    name, task, *rest = command
    start = time.perf_counter()
    code, out, err = cli(name, runs[task], *rest, capsys=capsys)
    line = one_line_error(code, err)
    assert flag in line and "GiB" in line and f"{SAMPLING_MEMORY_LIMIT / 2**30:.0f} GiB limit" in line
    assert time.perf_counter() - start < 5.0 and out == ""


def test_file_bytes_never_reach_the_terminal_raw(tmp_path, capsys):
    data = tmp_path / "bad.csv"
    data.write_bytes(b"\x1b[31mred\x1b[0m,\x07lab\x9bel\n\x1b]0;x\x07,1\n")
    code, _, err = cli("train", "classify", "--data", data, "--out", tmp_path / "r", "--max-steps", "1",
                       capsys=capsys)
    line = one_line_error(code, err)
    assert "\x1b" not in err and "\x07" not in err and "\\x1b[31mred" in line


def test_shown_escapes_control_and_invisible_characters():
    from rnnkit.errors import shown

    assert shown("a\x1b[31mb\n\t\x00\u200b\u2028é") == "a\\x1b[31mb\\n\\t\\x00\\u200b\\u2028é"
    assert shown(b"\xff\x1b") == "ÿ\\x1b"
    assert shown("x" * 100, limit=10) == "x" * 10 + "..."


def test_label_case_collision_is_reported_by_train(tmp_path, capsys):
    data = tmp_path / "l.csv"
    data.write_text("text,label\n" + "".join(f"good film {i},POS\nbad film {i},neg\nnice {i},pos \n"
                                             for i in range(20)))
    code, _, err = cli("train", "classify", "--data", data, "--out", tmp_path / "r", "--max-steps", "1",
                       "--hidden-size", "8", "--embedding-size", "8", "--device", "cpu", "--no-progress",
                       capsys=capsys)
    assert code == 0, err
    assert any("differ only in case" in line and "POS" in line for line in err.splitlines()), err
