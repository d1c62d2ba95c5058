"""``--cell mingru|minlstm`` end to end in every task: train a tiny run, open it, use it from the CLI."""

from __future__ import annotations

import json
import math

import pytest

from rnnkit.runs import open_run
from tests.conftest import cli
from tests.runs.test_open_run_classify_forecast import reviews
from tests.tasks.test_conditional_lm import labelled  # noqa: F401 - a fixture

COMMON = ["--precision", "fp32", "--device", "cpu", "--no-progress", "--seed", "5"]


def stored_cell(run) -> str:
    return json.loads((run / "config.json").read_text())["model"]["cell"]


@pytest.mark.parametrize("cell,level", [("mingru", "char"), ("minlstm", "word")])
def test_lm_trains_samples_and_evaluates(cell, level, corpus, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli("train", "lm", "--data", corpus, "--level", level, "--cell", cell, "--out", run,
                       "--hidden-size", 32, "--num-layers", 2, "--embedding-size", 8, "--batch-size", 4,
                       "--seq-len", 16, "--max-steps", 30, "--lr", 0.01, *COMMON, capsys=capsys)
    assert code == 0, err
    assert stored_cell(run) == cell
    opened = open_run(run)
    assert opened.model.recurrent.cell == cell and not hasattr(opened.model.recurrent, "rnn")
    code, out, err = cli("eval", run, "--json", capsys=capsys)
    scores = json.loads(out)
    # 30 steps already beat the uniform guess over the vocabulary
    assert code == 0 and scores["nats_per_token"] < math.log(opened.config.model.vocab_size) - 0.3, scores
    prime = "ANNA:" if level == "char" else "ANNA"
    code, first, err = cli("sample", run, "--prime", prime, "--length", 20, "--seed", 3, capsys=capsys)
    assert code == 0 and first.startswith(prime), err
    assert cli("sample", run, "--prime", prime, "--length", 20, "--seed", 3, capsys=capsys)[1] == first


def test_classify_with_a_bidirectional_minlstm(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli("train", "classify", *[a for d in reviews(tmp_path) for a in ("--data", d)],
                       "--cell", "minlstm", "--num-layers", 2, "--embedding-size", 16, "--hidden-size", 16,
                       "--word-dropout", 0, "--embedding-dropout", 0.1, "--dropout", 0.2, "--batch-size", 8,
                       "--lr", 0.01, "--max-steps", 150,
                       "--out", run, *COMMON, capsys=capsys)
    assert code == 0, err
    assert stored_cell(run) == "minlstm" and open_run(run).model.recurrent.bidirectional
    code, out, err = cli("predict", run, "a superb film", "the plot was awful", "--json", capsys=capsys)
    assert code == 0, err
    assert [json.loads(line)["label"] for line in out.splitlines()] == ["pos", "neg"]


@pytest.mark.parametrize("cell,mode", [("mingru", "direct"), ("minlstm", "autoregressive")])
def test_forecast(cell, mode, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli("train", "forecast", "--data", "airline", "--cell", cell, "--mode", mode, "--hidden-size", 8,
                       "--model", "rnn", "--batch-size", 16, "--max-steps", 20, "--eval-every", 10, "--out", run,
                       *COMMON, capsys=capsys)
    assert code == 0, err
    assert stored_cell(run) == cell
    code, out, err = cli("forecast", run, "--horizon", 6, capsys=capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.strip()]
    assert len(rows) == 7  # a header and six forecasts


def test_seq2seq_with_mingru_encoder_and_decoder(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli("train", "seq2seq", "--data", "reverse", "--size", 300, "--digits", 2, "--max-len", 12,
                       "--val-size", 40, "--cell", "mingru", "--hidden-size", 16, "--embedding-size", 8,
                       "--batch-size", 16, "--lr", 0.01, "--max-steps", 20, "--out", run, *COMMON, capsys=capsys)
    assert code == 0, err
    assert stored_cell(run) == "mingru"
    code, out, err = cli("translate", run, "abcd", "--beam", 2, "--score", capsys=capsys)
    assert code == 0, err
    text, score = out.strip("\n").split("\t")
    assert float(score) <= 0


def test_conditional_lm_with_minlstm(labelled, tmp_path, capsys):  # noqa: F811
    run = tmp_path / "run"
    code, _, err = cli("train", "conditional-lm", "--data", labelled, "--cell", "minlstm", "--hidden-size", 24,
                       "--num-layers", 2, "--embedding-size", 8, "--label-size", 4, "--batch-size", 16, "--lr", 0.01,
                       "--max-steps", 20, "--out", run, *COMMON, capsys=capsys)
    assert code == 0, err
    assert stored_cell(run) == "minlstm"
    code, out, err = cli("sample", run, "--condition", "Aish", "--prime", "Ka", "--num-samples", 3, "--seed", 2,
                         capsys=capsys)
    assert code == 0, err
    assert len(out.split()) == 3 and all(n.startswith("Ka") for n in out.split())


def test_an_unknown_cell_is_one_line_naming_the_choices(corpus, tmp_path, capsys):
    code, _, err = cli("train", "lm", "--data", corpus, "--cell", "minrnn", "--out", tmp_path / "r", *COMMON,
                       capsys=capsys)
    assert code == 2 and err.strip().startswith("rnnkit: ") and "mingru, minlstm" in err and "Traceback" not in err
