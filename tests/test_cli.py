"""The command line: help, one-line errors for user mistakes, sampling, and a real Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from rnnkit import checkpoint as ckpt
from tests.conftest import cli, one_line_error

TINY = ["--hidden-size", "32", "--num-layers", "1", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16",
        "--precision", "fp32", "--device", "cpu", "--no-progress", "--seed", "5"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize("launcher", [["rnnkit"], [sys.executable, "-m", "rnnkit"]])
def test_help_lists_the_commands(launcher):
    if launcher == ["rnnkit"]:
        launcher = [os.path.join(os.path.dirname(sys.executable), "rnnkit")]
    out = subprocess.run([*launcher, "--help"], capture_output=True, text=True, env=ENV, check=True).stdout
    for command in ("train", "sample", "eval"):
        assert command in out


@pytest.fixture
def trained(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", 15, *TINY, capsys=capsys)
    assert code == 0, err
    assert "best validation" in err
    return out


def test_sample_streams_reproducibly(trained, capsys):
    code, first, _ = cli("sample", trained, "--prime", "ANNA:", "--length", 40, "--seed", 11, capsys=capsys)
    assert code == 0
    assert first.startswith("ANNA:") and len(first.rstrip("\n")) == len("ANNA:") + 40
    _, again, _ = cli("sample", trained, "--prime", "ANNA:", "--length", 40, "--seed", 11, capsys=capsys)
    assert again == first
    _, several, _ = cli("sample", trained, "--num-samples", 3, "--length", 20, "--top-k", 5, capsys=capsys)
    assert several.count("--- sample") == 3
    _, greedy, _ = cli("sample", trained, "--prime", "the", "--length", 20, "--greedy", capsys=capsys)
    _, greedy2, _ = cli("sample", trained, "--prime", "the", "--length", 20, "--greedy", capsys=capsys)
    assert greedy == greedy2


def test_eval_prints_bits_per_char(trained, capsys):
    code, out, _ = cli("eval", trained, "--device", "cpu", capsys=capsys)
    assert code == 0 and "nats/char" in out and "bits/char" in out and "perplexity" in out


def test_unknown_prime_characters_are_listed(trained, capsys):
    code, out, err = cli("sample", trained, "--prime", "ANNA é☃", capsys=capsys)
    line = one_line_error(code, err)
    assert out == ""  # nothing printed before the error
    assert "'é', '☃'" in line and "--skip-unknown" in line
    code, out, _ = cli("sample", trained, "--prime", "ANNA é☃", "--skip-unknown", "--length", 5, capsys=capsys)
    assert code == 0 and out.startswith("ANNA ") and "é" not in out


def test_non_utf8_input_names_the_byte_offset(tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café au lait\n".encode("latin-1") * 50)
    line = one_line_error(*cli("train", "lm", "--data", bad, "--out", tmp_path / "r", *TINY, capsys=capsys)[::2])
    assert "at offset 3" in line and "--encoding" in line
    code, _, err = cli("train", "lm", "--data", bad, "--out", tmp_path / "r", "--encoding", "latin-1",
                       "--max-steps", 2, *TINY, capsys=capsys)
    assert code == 0, err


def test_empty_and_missing_files(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "is empty" in one_line_error(*cli("train", "lm", "--data", empty, "--out", tmp_path / "r", *TINY,
                                             capsys=capsys)[::2])
    missing = tmp_path / "nope.txt"
    line = one_line_error(*cli("train", "lm", "--data", missing, "--out", tmp_path / "r", *TINY, capsys=capsys)[::2])
    assert "nope.txt" in line


def test_corpus_shorter_than_one_window_shrinks_the_batch(tmp_path, capsys):
    short = tmp_path / "short.txt"
    short.write_text("to be or not to be\n")  # 19 chars: less than one 4x16 batch
    code, _, err = cli("train", "lm", "--data", short, "--out", tmp_path / "r", "--max-steps", 3, "--val-fraction", 0,
                       *TINY, capsys=capsys)
    assert code == 0, err
    assert "batch_size" in err or "batch size" in err
    tiny = tmp_path / "one.txt"
    tiny.write_text("a")
    one_line_error(*cli("train", "lm", "--data", tiny, "--out", tmp_path / "r2", *TINY, capsys=capsys)[::2])


@pytest.mark.parametrize("args, expected", [
    (["--cell", "lstn"], "unknown cell 'lstn'"),
    (["--time", "ten minutes"], "--time 'ten minutes' is not a duration"),
    (["--precision", "fp8"], "--precision must be one of"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--set", "train.nonsense=1"], "unknown setting train.nonsense"),
    (["--set", "trian.lr=1"], "unknown config section [trian]; expected [data], [model] or [train]"),
])
def test_bad_settings_are_one_line_errors(corpus, tmp_path, capsys, args, expected):
    line = one_line_error(*cli("train", "lm", "--data", corpus, "--out", tmp_path / "r", *TINY, *args,
                               capsys=capsys)[::2])
    assert expected in line


def test_bad_sampling_flags(trained, capsys):
    assert "--temperature" in one_line_error(*cli("sample", trained, "--temperature", 0, capsys=capsys)[::2])
    assert "--top-p" in one_line_error(*cli("sample", trained, "--top-p", 1.5, capsys=capsys)[::2])
    assert "does not exist" in one_line_error(*cli("sample", trained.parent / "nowhere", capsys=capsys)[::2])


def test_offline_named_dataset_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RNNKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("RNNKIT_DATASET_URL_TINYSHAKESPEARE", "http://127.0.0.1:9/input.txt")  # nothing listens
    code, _, err = cli("train", "lm", "--data", "tinyshakespeare", "--out", tmp_path / "r", *TINY, capsys=capsys)
    notice, line = [line for line in err.splitlines() if line.strip()]  # what it tried, then one error line
    assert code == 2 and notice == "rnnkit: downloading tinyshakespeare from http://127.0.0.1:9/input.txt"
    assert line.startswith("rnnkit: could not download tinyshakespeare") and "--data FILE" in line


def test_config_file_and_flags(corpus, tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text('[model]\ncell = "gru"\nhidden_size = 24\n[train]\nmax_steps = 3\nlr = 0.005\n')
    out = tmp_path / "r"
    code, _, err = cli("train", "lm", "--config", toml, "--data", corpus, "--out", out, "--hidden-size", 16,
                       "--no-progress", "--precision", "fp32", "--batch-size", 4, "--seq-len", 8, capsys=capsys)
    assert code == 0, err
    stored = ckpt.load_json(out / ckpt.CONFIG_FILE)
    assert stored["model"]["cell"] == "gru" and stored["model"]["hidden_size"] == 16  # flag beats file
    assert stored["train"]["lr"] == 0.005 and stored["meta"]["parameters"] > 0


def test_ctrl_c_saves_and_resume_matches_an_uninterrupted_run(corpus, tmp_path):
    common = ["--data", str(corpus), "--max-steps", "300", "--eval-every", "100", *TINY]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    subprocess.run([sys.executable, "-m", "rnnkit", "train", "lm", "--out", str(straight), *common],
                   env=ENV, check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", "train", "lm", "--out", str(interrupted), *common],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = interrupted / ckpt.METRICS_FILE
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before Ctrl-C arrived")  # a very fast machine; nothing to test
    assert proc.returncode == 130, err
    assert "continue with 'rnnkit train --resume" in err and "Traceback" not in err
    step = ckpt.load_tensors(interrupted / ckpt.LAST_FILE)["state"]["step"]
    assert 0 < step < 300
    subprocess.run([sys.executable, "-m", "rnnkit", "train", "--resume", str(interrupted), "--no-progress"],
                   env=ENV, check=True, capture_output=True, timeout=300)
    a = ckpt.load_tensors(straight / ckpt.LAST_FILE)["model"]
    b = ckpt.load_tensors(interrupted / ckpt.LAST_FILE)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
