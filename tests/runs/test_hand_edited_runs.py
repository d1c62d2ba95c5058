"""Issue 19: run directories edited by hand are refused by open_run in one line naming the file and the field,
before any tensor of a size read from them is built (types, ranges, vocabulary vs weights, a parameter budget)."""

from __future__ import annotations

import json
import time

import pytest

from rnnkit import checkpoint as ckpt
from rnnkit.config import MAX_LAYERS, MAX_PARAMETERS
from rnnkit.errors import RnnkitError
from rnnkit.runs import open_run
from tests.conftest import cli, one_line_error
from tests.runs.edited_runs import copy_run, train_every_task

NEURAL = ("lm", "seq2seq", "conditional-lm", "classify", "forecast")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return train_every_task(tmp_path_factory.mktemp("every_task"))


def edit_config(run, section, key, value):
    path = run / ckpt.CONFIG_FILE
    data = json.loads(path.read_text())
    data[section][key] = value
    path.write_text(json.dumps(data))


def refusal(run) -> str:
    """open_run's one-line refusal of ``run``, which must come quickly."""
    start = time.perf_counter()
    with pytest.raises(RnnkitError) as info:
        open_run(run).predictor()
    assert time.perf_counter() - start < 3.0
    message = str(info.value)
    assert "\n" not in message
    return message


def size_fields(run):
    model = json.loads((run / ckpt.CONFIG_FILE).read_text())["model"]
    return [k for k in ("hidden_size", "embedding_size", "vocab_size", "source_vocab_size", "target_vocab_size",
                        "label_size", "num_layers") if isinstance(model.get(k), int)]


@pytest.mark.parametrize("task", NEURAL)
def test_huge_sizes_are_refused_quickly_naming_the_file_and_field(runs, task, tmp_path):
    for field in size_fields(runs[task]):
        for value in (10**9, 10**6):
            run = copy_run(runs[task], tmp_path / f"{field}{value}")
            edit_config(run, "model", field, value)
            message = refusal(run)
            assert "config.json" in message and field in message and str(value) in message, message


@pytest.mark.parametrize("task", NEURAL)
def test_a_changed_hidden_size_names_the_field(runs, task, tmp_path):
    run = copy_run(runs[task], tmp_path)
    stored = json.loads((run / ckpt.CONFIG_FILE).read_text())["model"]["hidden_size"]
    edit_config(run, "model", "hidden_size", stored + 4)
    message = refusal(run)
    assert "config.json" in message and f"hidden_size={stored + 4}" in message


def test_ngram_order_of_a_billion_is_refused_quickly(runs, tmp_path):
    run = copy_run(runs["ngram"], tmp_path)
    edit_config(run, "model", "order", 10**9)
    message = refusal(run)
    assert "config.json has model.order=1000000000" in message and "order-3" in message


WRONG = [("model", "hidden_size", 1.5, "an integer"), ("model", "hidden_size", "big", "an integer"),
         ("model", "hidden_size", True, "an integer"), ("model", "dropout", "x", "a finite number"),
         ("model", "dropout", None, "a finite number"), ("train", "lr", [1], "a finite number"),
         ("model", "cell", 3, "a string")]


@pytest.mark.parametrize("task", ("lm", "seq2seq", "conditional-lm", "classify", "forecast"))
@pytest.mark.parametrize("section, key, value, expected", WRONG)
def test_settings_of_the_wrong_type_name_the_file_and_field(runs, task, section, key, value, expected, tmp_path):
    run = copy_run(runs[task], tmp_path)
    edit_config(run, section, key, value)
    message = refusal(run)
    assert f"config.json: {section}.{key} must be {expected}" in message, message


@pytest.mark.parametrize("task, section, key, value", [
    ("ngram", "model", "order", 1.5), ("ngram", "model", "discounts", ["a", 1, 2]),
    ("word2vec", "model", "dim", "8"), ("word2vec", "data", "lowercase", "yes"),
    ("classify", "model", "bidirectional", "x"), ("forecast", "model", "residual", "x"),
    ("seq2seq", "model", "embedding_size", 1.5), ("forecast", "model", "output_len", 1.5),
    ("lm", "train", "lr", float("nan")),
])
def test_other_wrong_types(runs, task, section, key, value, tmp_path):
    run = copy_run(runs[task], tmp_path)
    edit_config(run, section, key, value)
    assert f"{section}.{key} must be" in refusal(run)


@pytest.mark.parametrize("task", NEURAL)
def test_out_of_range_values_name_the_file(runs, task, tmp_path):
    run = copy_run(runs[task], tmp_path)
    edit_config(run, "model", "num_layers", MAX_LAYERS + 1)
    message = refusal(run)
    assert "config.json" in message and "num-layers" in message


def vocab_lists(data):
    """Every token list of a vocab.json, wherever it is nested."""
    for key, value in data.items():
        if key in ("chars", "tokens") and isinstance(value, list):
            yield value
        elif isinstance(value, dict):
            yield from vocab_lists(value)


@pytest.mark.parametrize("task", ("lm", "ngram", "seq2seq", "conditional-lm", "classify"))
@pytest.mark.parametrize("change", ("duplicate", "shorter", "longer"))
def test_edited_vocabulary_is_refused(runs, task, change, tmp_path):
    run = copy_run(runs[task], tmp_path)
    path = run / "vocab.json"
    data = json.loads(path.read_text())
    for tokens in vocab_lists(data):
        {"duplicate": lambda t: t.__setitem__(-1, t[-2]), "shorter": lambda t: t.pop(),
         "longer": lambda t: t.append("\u2603")}[change](tokens)
    path.write_text(json.dumps(data))
    message = refusal(run)
    assert "vocab.json" in message
    if change == "duplicate":
        assert "unique" in message


def test_the_parameter_budget_is_one_limit_checked_before_training(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc\n" * 200)
    start = time.perf_counter()
    code, _, err = cli("train", "lm", "--data", corpus, "--out", tmp_path / "r", "--hidden-size", "100000",
                       "--max-steps", "1", "--device", "cpu", "--no-progress", capsys=capsys)
    line = one_line_error(code, err)
    assert time.perf_counter() - start < 5.0
    assert "model.hidden_size=100000" in line and f"{MAX_PARAMETERS:.3g}" in line
    assert not (tmp_path / "r" / "last.pt").exists()


def test_the_budget_applies_to_a_run_whose_weights_also_are_huge(runs, tmp_path, monkeypatch):
    # with the plausibility check passed (weights as large as the config), the budget still refuses
    monkeypatch.setattr("rnnkit.checkpoint.MAX_PARAMETERS", 1000)
    message = refusal(copy_run(runs["lm"], tmp_path))
    assert "over rnnkit's budget of 1e+03" in message and "config.json" in message


def test_sample_of_a_hand_edited_run_is_one_line(runs, tmp_path, capsys):
    run = copy_run(runs["lm"], tmp_path)
    edit_config(run, "model", "num_layers", 10**6)
    code, out, err = cli("sample", run, "--length", "3", capsys=capsys)
    assert "num_layers" in one_line_error(code, err) or "num-layers" in err
    assert out == ""
