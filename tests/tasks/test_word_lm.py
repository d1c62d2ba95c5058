"""Word-level language modelling on a slice of the Seinfeld scripts: train, sample, evaluate, resume exactly."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.cli import main
from rnnkit.data.vocab import WordVocab
from rnnkit.generate import SamplingConfig, sample_text
from rnnkit.runs import evaluate, open_run, resume, train
from rnnkit.tasks import lm
from rnnkit.tasks.lm import DataConfig
from rnnkit.training.trainer import TrainingInterrupted
from tests.conftest import SHARED_DATA, tiny_config

SEINFELD = SHARED_DATA / "seinfeld" / "Seinfeld_Scripts.txt"
quiet = dict(show_progress=False, log=lambda *_: None)
pytestmark = pytest.mark.skipif(not SEINFELD.is_file(), reason=f"{SEINFELD} (shared test data) is absent")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """The first ~60 kB of the scripts, cut at a line break."""
    text = SEINFELD.read_text(encoding="utf-8")[:60_000]
    path = tmp_path_factory.mktemp("seinfeld") / "slice.txt"
    path.write_text(text[: text.rindex("\n") + 1], encoding="utf-8")
    return path


def word_config(path, **train):
    config = tiny_config(path, **{"seq_len": 24, "batch_size": 8, "lr": 1e-2, "eval_every": 50, **train})
    return dataclasses.replace(config, data=DataConfig(data=str(path), level="word", val_fraction=0.1, min_freq=2),
                               model=dataclasses.replace(config.model, hidden_size=96, embedding_size=32, dropout=0.1,
                                                         num_layers=1, tie_weights=True))


@pytest.fixture(scope="module")
def trained(scripts, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "words"
    summary = train("lm", word_config(scripts, max_steps=150), out, **quiet)
    return out, summary


def test_vocabulary_comes_from_the_training_split(trained, scripts):
    out, summary = trained
    vocab = open_run(out).vocab
    assert isinstance(vocab, WordVocab) and summary["token"] == "word"
    assert {"jerry", ":", "\n", "?", "george"} <= set(vocab.tokens)
    _, train_ids, val_ids, _ = lm.load_corpus(word_config(scripts).data)
    assert vocab.unk_id in val_ids  # validation words unseen in training (or seen once) are <unk>
    assert abs(len(train_ids) - 9 * len(val_ids)) < 10  # the last 10% of the tokens


def test_it_learns_and_samples_script_like_text(trained):
    out, summary = trained
    ev = evaluate(out, device="cpu")
    assert ev["token"] == "word" and ev["perplexity"] < 250  # uniform over the vocabulary would be ~1,600
    run = open_run(out)
    model, vocab, _ = run.model, run.vocab, run.config
    text = sample_text(model, vocab, "jerry:", SamplingConfig(length=200, top_k=5, seed=3))[0]
    assert text.startswith("jerry:")
    assert not re.search(r" [.,?!:]", text)  # detokenized: no "word ." spacing
    speakers = re.findall(r"^([a-z]+):", text, flags=re.M)
    assert len(speakers) >= 2  # line breaks restored, each turn opening with a speaker


def test_streamed_sample_equals_the_returned_text(trained):
    out, _ = trained
    run = open_run(out)
    model, vocab, _ = run.model, run.vocab, run.config
    pieces: list[str] = []
    cfg = SamplingConfig(length=80, temperature=0.8, seed=5)
    text = sample_text(model, vocab, "elaine: what", cfg, stream=pieces.append)[0]
    assert "elaine: what" + "".join(pieces) == text


def test_cli_samples_and_evaluates_in_words(trained, capsys):
    out, _ = trained
    assert main(["sample", str(out), "--prime", "jerry:", "--length", "30", "--seed", "1", "--top-k", "5"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("jerry:") and " ." not in printed
    assert main(["eval", str(out), "--device", "cpu"]) == 0
    assert "nats/word" in capsys.readouterr().out


def test_word_run_resumes_to_identical_weights(scripts, tmp_path, monkeypatch):
    config = word_config(scripts, max_steps=30, eval_every=10)
    train("lm", config, tmp_path / "straight", **quiet)
    real_loss, calls = lm.lm_loss, {"n": 0}

    def interrupt_at_step_12(*args):
        calls["n"] += args[0].training
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return real_loss(*args)

    monkeypatch.setattr(lm, "lm_loss", interrupt_at_step_12)
    with pytest.raises(TrainingInterrupted):
        train("lm", config, tmp_path / "interrupted", **quiet)
    monkeypatch.setattr(lm, "lm_loss", real_loss)
    resume(tmp_path / "interrupted", **quiet)
    a = ckpt.load_tensors(tmp_path / "straight" / ckpt.LAST_FILE)["model"]
    b = ckpt.load_tensors(tmp_path / "interrupted" / ckpt.LAST_FILE)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_embeddings_initialise_the_word_embedding(scripts, tmp_path):
    from rnnkit.data.vectors import save_word2vec

    words = ["jerry", "george", "notaword"]
    vectors = torch.arange(3 * 32, dtype=torch.float32).reshape(3, 32).numpy() / 100
    path = tmp_path / "vectors.txt"
    save_word2vec(path, words, vectors)
    config = word_config(scripts, max_steps=1, lr=1e-9, warmup_steps=1)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, embeddings=str(path)))
    logged: list[str] = []
    train("lm", config, tmp_path / "run", show_progress=False, log=logged.append)
    assert any("initialised 2 of" in m for m in logged)  # "notaword" is not in the vocabulary
    run = open_run(tmp_path / "run")
    model, vocab, _ = run.model, run.vocab, run.config
    got = model.embedding.weight[vocab.index["george"]].detach()
    assert torch.allclose(got, torch.as_tensor(vectors[1]), atol=1e-6)  # lr 1e-9: one step leaves it in place
    bad = dataclasses.replace(config, model=dataclasses.replace(config.model, embedding_size=16))
    with pytest.raises(Exception, match="--embedding-size 32"):
        train("lm", bad, tmp_path / "run2", **quiet)
