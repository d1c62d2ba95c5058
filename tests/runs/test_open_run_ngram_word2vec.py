"""n-gram and word2vec runs through the one lifecycle: train, open_run, and their predictors answering."""

from __future__ import annotations

import json

import pytest

from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig
from rnnkit.models.ngram import KneserNeyLM
from rnnkit.models.word2vec import Word2VecConfig
from rnnkit.runs import evaluate, open_run, resume, train
from rnnkit.runs.predictors import TextGenerator, WordVectors
from rnnkit.tasks.lm import DataConfig
from rnnkit.tasks.ngram import NgramConfig, NgramRunConfig
from rnnkit.tasks.word2vec import Word2VecDataConfig, Word2VecRunConfig
from tests.tasks.test_word2vec import ANIMALS, TOOLS, topic_sentences

quiet = dict(show_progress=False, log=lambda *_: None)


def ngram_config(corpus, level="char", order=3) -> NgramRunConfig:
    return NgramRunConfig(data=DataConfig(data=str(corpus), level=level), model=NgramConfig(order=order))


def test_ngram_run_opens_and_generates_and_scores(corpus, tmp_path):
    out = tmp_path / "kn"
    summary = train("ngram", ngram_config(corpus), out, **quiet)
    for name in ("config.json", "vocab.json", "model.pt"):
        assert (out / name).is_file(), name
    stored = json.loads((out / "config.json").read_text())
    assert stored["task"] == "ngram" and stored["meta"]["ngrams"] == summary["ngrams"] > 0
    assert summary["elapsed"] >= 0 and summary["validation"]["tokens"] == summary["val_tokens"] - 1

    run = open_run(out)
    assert run.task == "ngram" and run.config.model.order == 3 and run.vocab is not None
    assert isinstance(run.model, KneserNeyLM) and run.model.vocab_size == len(run.vocab)
    assert run.model.distribution(run.vocab.encode("ANN")).sum() == pytest.approx(1.0, abs=1e-9)
    generator = run.predictor()
    assert isinstance(generator, TextGenerator) and run.predictor() is generator

    cfg = SamplingConfig(length=20, seed=4, num_samples=3)
    texts = generator.generate("ANNA", cfg)
    assert len(texts) == 3 and all(t.startswith("ANNA") and len(t) == len("ANNA") + 20 for t in texts)
    assert generator.generate("ANNA", cfg) == texts  # seeded: reproducible
    # sample i draws with seed + i: the second sample is the first of seed 5
    assert generator.generate("ANNA", SamplingConfig(length=20, seed=5)) == [texts[1]]
    pieces: list[str] = []
    one = generator.generate("ANNA", SamplingConfig(length=20, seed=4), stream=pieces.append)
    assert one == texts[:1] and len(pieces) == 20 and "ANNA" + "".join(pieces) == one[0]
    greedy = generator.generate("BORIS: the sea", SamplingConfig(length=15, greedy=True, num_samples=2))
    assert greedy[0] == greedy[1] and greedy[0].startswith("BORIS: the sea is ")
    assert generator.generate("AN§", SamplingConfig(length=3, seed=0, skip_unknown=True))[0].startswith("AN")
    with pytest.raises(RnnkitError):
        generator.generate("AN§", SamplingConfig(length=3, seed=0))
    with pytest.raises(RnnkitError, match="drop --condition"):
        generator.generate("AN", SamplingConfig(length=3), condition="red")

    seen, noise = generator.score("CLEO: the rose is red, said anna.\n"), generator.score("ewr. ,sgred AC:\n")
    assert set(seen) == {"nats_per_token", "bits_per_token", "perplexity", "tokens"} and seen["tokens"] == 33
    assert 1 < seen["perplexity"] < noise["perplexity"]
    assert evaluate(out) == pytest.approx(summary["validation"])  # 'rnnkit eval' is the training-time score


def test_ngram_word_run(corpus, tmp_path):
    out = tmp_path / "words"
    train("ngram", ngram_config(corpus, level="word", order=2), out, **quiet)
    run = open_run(out)
    generator = run.predictor()
    assert isinstance(generator, TextGenerator)
    texts = generator.generate("ANNA: the", SamplingConfig(length=6, seed=1, num_samples=2))
    assert len(texts) == 2 and all(t.startswith("ANNA: the ") for t in texts)
    pieces: list[str] = []
    assert generator.generate("ANNA: the", SamplingConfig(length=6, seed=1), stream=pieces.append) == texts[:1]
    assert "ANNA: the" + "".join(pieces) == texts[0]
    score = generator.score("BORIS: the sky is red, said boris.\n")
    assert score["tokens"] == len(run.vocab.encode("BORIS: the sky is red, said boris.\n")) - 1
    assert score["perplexity"] < len(run.vocab)


def test_ngram_run_is_claimed_once_and_checked_on_opening(corpus, tmp_path):
    out = tmp_path / "kn"
    train("ngram", ngram_config(corpus), out, **quiet)
    with pytest.raises(RnnkitError, match="already holds a run; choose another --out"):
        train("ngram", ngram_config(corpus, order=2), out, **quiet)
    with pytest.raises(RnnkitError, match="was made by .rnnkit train ngram. in one go; there is nothing to resume"):
        resume(out, **quiet)
    vocab = json.loads((out / "vocab.json").read_text())
    vocab["chars"] = vocab["chars"][:5]  # a vocabulary too small for the counted ids
    (out / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(RnnkitError, match="the files come from different runs"):
        open_run(out)


def test_word2vec_run_opens_and_answers(tmp_path):
    corpus = tmp_path / "topics.txt"
    corpus.write_text("\n".join(" ".join(s) for s in topic_sentences(1500)) + "\n")
    config = Word2VecRunConfig(data=Word2VecDataConfig(data=(str(corpus),)),
                               model=Word2VecConfig(dim=16, window=3, min_count=1, subsample=0.0, epochs=3,
                                                    batch_size=256, threads=1, seed=4))
    out = tmp_path / "w2v"
    summary = train("word2vec", config, out, **quiet)
    assert summary["vocab_size"] == 16 and summary["corpus_words"] == 1500 * 8
    assert json.loads((out / "config.json").read_text())["task"] == "word2vec"
    assert not (out / "vocab.json").exists()

    run = open_run(out)
    words, vectors = run.model
    assert run.vocab is None and sorted(words) == sorted(ANIMALS + TOOLS) and vectors.shape == (16, 16)
    wv = run.predictor()
    assert isinstance(wv, WordVectors) and not isinstance(wv, TextGenerator)
    neighbours = wv.similar("CAT", topn=3)  # looked up lowercased
    sims = [s for _, s in neighbours]
    assert len(neighbours) == 3 and {w for w, _ in neighbours} <= set(ANIMALS) - {"cat"}
    assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1 for s in sims)
    answers = wv.analogy("cat", "dog", "saw", topn=2)
    assert len(answers) == 2 and not {"cat", "dog", "saw"} & {w for w, _ in answers}
    with pytest.raises(RnnkitError, match="'unicorn' is not in the vocabulary"):
        wv.similar("unicorn")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("cat\tdog\t9\ncat\tsaw\t1\ndrill\tsaw\t8\nfox\tfile\t2\nmoon\tsun\t5\n")
    scores = evaluate(out, data=str(pairs), device="cpu")["word_pairs"]
    assert scores["covered"] == 4 and scores["spearman"] > 0.5
    with pytest.raises(RnnkitError, match="already holds a run"):
        train("word2vec", config, out, **quiet)
