"""Longer end-to-end runs (marker ``slow``; ``make test-slow``, and CI when time allows)."""

from __future__ import annotations

import dataclasses

import pytest

from rnnkit.generate import SamplingConfig, sample_text
from rnnkit.runs import evaluate, open_run, train
from tests.conftest import SHARED_DATA, tiny_config

pytestmark = pytest.mark.slow
SHAKESPEARE = SHARED_DATA / "tinyshakespeare" / "input.txt"


@pytest.mark.parametrize("cell, precision", [("lstm", "bf16"), ("gru", "fp32")])
def test_a_small_model_learns_shakespeare(tmp_path, cell, precision):
    if not SHAKESPEARE.exists():
        pytest.skip(f"{SHAKESPEARE} not found; set RNNKIT_DATA_DIR to a folder holding tinyshakespeare/input.txt")
    text = SHAKESPEARE.read_text(encoding="utf-8")[:300_000]
    corpus = tmp_path / "shakespeare-300k.txt"
    corpus.write_text(text, encoding="utf-8")
    config = tiny_config(corpus, max_steps=400, batch_size=32, seq_len=64, lr=4e-3, eval_every=200,
                         warmup_steps=20, precision=precision)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, cell=cell, hidden_size=128,
                                                                   embedding_size=32, dropout=0.0))
    summary = train("lm", config, tmp_path / "run", show_progress=False, log=lambda *_: None)
    # a unigram model of this text scores ~3.3 nats/char; 400 steps of a 2x128 RNN get well below 2.2
    assert summary["best_val"] < 2.2, summary
    assert evaluate(tmp_path / "run", device="cpu")["nats_per_token"] < 2.2
    run = open_run(tmp_path / "run")
    model, vocab, _ = run.model, run.vocab, run.config
    sample = sample_text(model, vocab, "KING", SamplingConfig(length=400, temperature=0.5, seed=0))[0]
    words = set(sample.lower().split())
    assert words & {"the", "and", "i", "to", "of", "my", "you", "a"}, sample
