"""open_run for seq2seq and conditional-LM runs: the Translator and TextGenerator predictors answer."""

from __future__ import annotations

import json
import math

import pytest

from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig
from rnnkit.runs import evaluate, open_run, train
from rnnkit.runs.predictors import TextGenerator, Translator
from tests.tasks.test_conditional_lm import labelled, tiny_config  # noqa: F401 - labelled is a fixture
from tests.tasks.test_seq2seq import tiny_run

quiet = dict(show_progress=False, log=lambda *_: None)


def test_a_seq2seq_run_opens_and_translates(tmp_path):
    train("seq2seq", tiny_run(max_steps=150, eval_every=50), tmp_path / "run", **quiet)
    run = open_run(tmp_path / "run")
    assert run.task == "seq2seq" and run.config.model.source_vocab_size == len(run.vocab.source)
    translator = run.predictor()
    assert isinstance(translator, Translator)
    outputs = translator.translate(["abc", "ba"], beam=3)
    assert len(outputs) == 2 and all(isinstance(t, str) and math.isfinite(s) and s <= 0 for t, s in outputs)
    greedy = translator.translate(["abc", "ba"])
    assert all(b >= g - 1e-9 for (_, b), (_, g) in zip(outputs, greedy))  # a beam includes greedy's hypothesis
    figures = evaluate(tmp_path / "run", device="cpu")
    assert figures["pairs"] == 40 and 0 <= figures["exact_match"] <= 1 and figures["token_accuracy"] > 0.2
    with pytest.raises(RnnkitError, match="not in the vocabulary"):
        translator.translate(["ABC!"])


def test_a_seq2seq_vocabulary_from_another_run_is_refused(tmp_path):
    train("seq2seq", tiny_run(max_steps=2), tmp_path / "run", **quiet)
    path = tmp_path / "run" / "vocab.json"
    vocab = json.loads(path.read_text())
    vocab["target"]["tokens"] = vocab["target"]["tokens"][:-1]
    path.write_text(json.dumps(vocab))
    with pytest.raises(RnnkitError, match=r"vocab.json gives target_vocab_size \d+ but .* has model.target_vocab_size"):
        open_run(tmp_path / "run")


def test_a_conditional_lm_run_opens_generates_and_scores(labelled, tmp_path):  # noqa: F811
    train("conditional-lm", tiny_config(labelled), tmp_path / "run", **quiet)
    run = open_run(tmp_path / "run")
    assert run.task == "conditional-lm" and sorted(run.vocab.labels) == ["Aish", "Iish", "Oish"]
    generator = run.predictor()
    assert isinstance(generator, TextGenerator)
    texts = generator.generate("Ka", SamplingConfig(length=12, num_samples=3, seed=4), condition="Aish")
    assert len(texts) == 3 and all(t.startswith("Ka") and "\n" not in t for t in texts)
    again = generator.generate("Ka", SamplingConfig(length=12, num_samples=3, seed=4), condition="Aish")
    assert again == texts
    own, other = generator.score("Karmoto", condition="Aish"), generator.score("Karmoto", condition="Oish")
    assert own["tokens"] == 8 and math.isfinite(own["bits_per_token"])  # 7 characters and </s>
    assert own["nats_per_token"] != other["nats_per_token"]
    with pytest.raises(RnnkitError, match="pass --condition LABEL, one of: Aish, Iish, Oish"):
        generator.generate("Ka", SamplingConfig(length=3))
    with pytest.raises(RnnkitError, match="unknown --condition 'Klingon'"):
        generator.score("Karmoto", condition="Klingon")
