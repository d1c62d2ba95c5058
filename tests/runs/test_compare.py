"""``rnnkit compare``: every model trained on the same split, one table, a chart, one-line errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rnnkit.cli import main
from rnnkit.config import TrainConfig
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.runs import evaluate
from rnnkit.runs.compare import CompareConfig, compare, parse_models

TINY_TRAIN = TrainConfig(batch_size=4, seq_len=16, lr=1e-2, warmup_steps=2, max_steps=25, eval_every=25,
                         precision="fp32", device="cpu", seed=3, save_every=1e9)
TINY_RNN = LanguageModelConfig(vocab_size=0, hidden_size=32, num_layers=1, embedding_size=8, dropout=0.0)
TINY_MLP = LanguageModelConfig(vocab_size=0, model="mlp-ngram", context=4, embedding_size=8, hidden_size=32,
                               dropout=0.0)


def test_compare_trains_every_model_on_the_same_split(corpus, tmp_path):
    config = CompareConfig(data=str(corpus), models=("kn2", "kn4", "mlp-ngram", "lstm"), train=TINY_TRAIN,
                           rnn=TINY_RNN, mlp=TINY_MLP, prime="ANNA", sample_length=30)
    rows = compare(config, tmp_path / "cmp", log=lambda m: None)
    assert [r["model"] for r in rows] == ["kn2", "kn4", "mlp-ngram", "lstm"]
    by_name = {r["model"]: r for r in rows}
    # the table's n-gram figure is exactly what 'rnnkit eval' reports for that run
    assert by_name["kn4"]["bits_per_char"] == pytest.approx(evaluate(tmp_path / "cmp" / "kn4")["bits_per_token"])
    assert by_name["kn4"]["bits_per_char"] < by_name["kn2"]["bits_per_char"]  # this corpus repeats itself
    assert by_name["lstm"]["size_unit"] == "parameters" and by_name["kn2"]["size_unit"] == "n-grams"
    for r in rows:
        assert r["sample"].startswith("ANNA") and len(r["sample"]) == len("ANNA") + 30
        assert 0 < r["bits_per_char"] < 8
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert table.count("\n| ") == 4 and "**" in table
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert [r["model"] for r in saved["results"]] == ["kn2", "kn4", "mlp-ngram", "lstm"]
    pytest.importorskip("matplotlib")
    assert (tmp_path / "cmp" / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_compare_n_grams_and_one_line_errors(corpus, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--data", str(corpus), "--models", "kn1,kn3", "--out", str(out), "--prime", "BORIS",
                 "--length", "10", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "| kn3 |" in captured.out and "BORIS" in captured.out
    for args, message in [
        (["--models", "kn5,transformer"], "unknown model 'transformer' in --models; use knN (e.g. kn5), "
                                          "mlp-ngram, lstm, gru, mingru, minlstm"),
        (["--models", "kn3", "--time", "soon"], "--time 'soon' is not a duration; use e.g. 90s, 10m or 1.5h"),
        (["--models", "kn3"], f"{out} already holds a comparison; choose another --out"),
    ]:
        code = main(["compare", "--data", str(corpus), "--out", str(out), *args])
        err = capsys.readouterr().err
        assert code == 2 and err.strip() == f"rnnkit: {message}", err


def test_parse_models_and_default_config():
    assert parse_models(" KN5, mlp-ngram ,lstm,") == ("kn5", "mlp-ngram", "lstm")
    config = CompareConfig()
    assert config.models == ("kn5", "mlp-ngram", "lstm") and config.train.time == 300.0
    assert dataclasses.replace(config, models=("kn0",)) is not None
