"""Kneser-Ney n-gram model (exact normalisation, a hand-computed perplexity, storage) and the MLP n-gram LM."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch

from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.models.mlp_ngram import MLPNgramLM
from rnnkit.models.ngram import KneserNeyLM, estimate_discounts
from rnnkit.runs import evaluate, open_run, train
from rnnkit.tasks.lm import build_language_model, load_corpus  # n-gram runs read their text as an LM does
from tests.conftest import cli


def test_hand_computed_perplexity_on_a_tiny_corpus():
    # train "a b a b a a" (a=0, b=1, c=2 never seen), bigram model, discounts D1=.5, D2=1, D3+=1.5
    # unigram continuation counts: a 2 (after b, a), b 1 (after a); gamma() = (.5*1 + 1*1)/3 = .5
    #   P1(a) = (2-1)/3 + .5/3 = 1/2, P1(b) = (1-.5)/3 + .5/3 = 1/3, P1(c) = .5/3 = 1/6
    # context a: {b: 2, a: 1}, gamma = 1.5/3 = .5: P(b|a) = (2-1)/3 + .5*1/3 = 1/2
    # context b: {a: 2}, gamma = 1/2: P(c|b) = .5 * 1/6 = 1/12; context c unseen: P(a|c) = P1(a) = 1/2
    model = KneserNeyLM(2, 3, discounts=(0.5, 1.0, 1.5)).fit([0, 1, 0, 1, 0, 0])
    assert model.distribution([]) == pytest.approx([1 / 2, 1 / 3, 1 / 6], abs=1e-12)
    assert model.distribution([0]) == pytest.approx([5 / 12, 1 / 2, 1 / 12], abs=1e-12)
    assert model.distribution([1]) == pytest.approx([3 / 4, 1 / 6, 1 / 12], abs=1e-12)
    total, count = model.nll([0, 1, 2, 0])  # "a b c a": predicts b|a, c|b, a|c
    assert count == 3
    assert math.exp(total / count) == pytest.approx(48 ** (1 / 3), rel=1e-12)


def test_discounts_follow_chen_and_goodman():
    # Y = 10 / (10 + 2*5) = .5; D1 = 1 - 2Y*5/10, D2 = 2 - 3Y*3/5, D3+ = 3 - 4Y*2/3
    assert estimate_discounts(Counter({1: 10, 2: 5, 3: 3, 4: 2})) == pytest.approx((0.5, 1.1, 3 - 4 / 3))


@pytest.mark.parametrize("order", [1, 2, 3, 4, 6])
def test_distributions_sum_to_one_for_seen_and_unseen_contexts(corpus, order):
    text = corpus.read_text()
    chars = sorted(set(text))
    rng = np.random.default_rng(order)
    ids = [chars.index(c) for c in text] + rng.integers(0, len(chars), 300).tolist()  # noise: rare n-grams too
    vocab_size = len(chars) + 5  # five token types never seen in training
    model = KneserNeyLM(order, vocab_size).fit(ids)
    contexts = [[], ids[100:100 + order - 1], ids[5:5 + order + 3]]  # empty, seen, longer than needed
    contexts += [rng.integers(0, vocab_size, size=rng.integers(1, order + 2)).tolist() for _ in range(30)]
    contexts += [[vocab_size - 1] * order, [vocab_size - 2, *ids[:order]]]  # never-seen tokens in the context
    for context in contexts:
        p = model.distribution(context)
        assert abs(p.sum() - 1.0) < 1e-9
        assert (p > 0).all()
        token = int(rng.integers(0, vocab_size))
        assert model.prob(context, token) == pytest.approx(p[token], abs=1e-15)


def test_higher_order_fits_real_text_better_and_storage_is_sparse(corpus):
    text = corpus.read_text()
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    train, val = ids[:5000], ids[5000:]
    scores = []
    for order in (1, 3, 5):
        model = KneserNeyLM(order, len(chars)).fit(train)
        distinct = sum(len(set(zip(*(train[i:].tolist() for i in range(k))))) for k in range(1, order + 1))
        assert model.num_ngrams() <= distinct
        total, count = model.nll(val)
        scores.append(total / count)
    assert scores[0] > scores[1] > scores[2]


def test_save_and_load_give_identical_distributions(corpus, tmp_path, capsys):
    out = tmp_path / "kn"
    code, _, err = cli("train", "ngram", "--data", corpus, "--order", 4, "--out", out, capsys=capsys)
    assert code == 0, err
    assert "validation" in err
    run = open_run(out)
    model, vocab, config = run.model, run.vocab, run.config
    assert config.model.order == 4
    stored = json.loads((out / "config.json").read_text())
    assert stored["task"] == "ngram"
    code, result, _ = cli("eval", out, "--json", capsys=capsys)
    assert code == 0
    assert json.loads(result)["nats_per_token"] == pytest.approx(stored["meta"]["validation"]["nats_per_token"])
    _, train, _, _ = load_corpus(config.data, vocab)
    refit = KneserNeyLM(4, len(vocab)).fit(train)
    for context in (train[:3], train[7:10], vocab.encode("dog"), train[-2:]):
        assert np.array_equal(model.distribution(context), refit.distribution(context))


def test_cli_sampling_is_reproducible_and_errors_are_one_line(corpus, tmp_path, capsys):
    out = tmp_path / "kn"
    assert cli("train", "ngram", "--data", corpus, "--out", out, capsys=capsys)[0] == 0
    code, first, _ = cli("sample", out, "--prime", "ANNA:", "--length", 40, "--seed", 3, capsys=capsys)
    assert code == 0 and first.startswith("ANNA:") and len(first.rstrip("\n")) == 45
    assert cli("sample", out, "--prime", "ANNA:", "--length", 40, "--seed", 3, capsys=capsys)[1] == first
    code, _, err = cli("train", "ngram", "--data", corpus, "--out", tmp_path / "x", "--order", 0, capsys=capsys)
    assert code == 2 and err.strip() == "rnnkit: --order must be >= 1, got 0"
    code, _, err = cli("sample", out, "--prime", "ANNA§", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_word_level(corpus, tmp_path, capsys):
    out = tmp_path / "words"
    code, _, err = cli("train", "ngram", "--data", corpus, "--level", "word", "--order", 3, "--out", out,
                       capsys=capsys)
    assert code == 0, err
    code, text, _ = cli("sample", out, "--prime", "ANNA: the", "--length", 12, "--seed", 1, capsys=capsys)
    assert code == 0 and text.startswith("ANNA: the")
    run = open_run(out)
    model, vocab = run.model, run.vocab
    assert abs(model.distribution(vocab.encode("never seen words")).sum() - 1) < 1e-9


def test_mlp_ngram_streams_exactly_like_one_window():
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=11, model="mlp-ngram", context=3, embedding_size=4, hidden_size=16,
                                 dropout=0.0)
    model = build_language_model(config)
    assert isinstance(model, MLPNgramLM)
    ids = torch.randint(0, 11, (2, 12))
    full, state = model(ids)  # (2, 12, 11)
    assert full.shape == (2, 12, 11) and state.tolist() == ids[:, -3:].tolist()
    first, s = model(ids[:, :5])
    second, _ = model(ids[:, 5:], s)
    assert torch.allclose(torch.cat([first, second], 1), full, atol=1e-6)
    # position t depends only on ids[t-2..t]: changing ids[0] leaves positions 3.. untouched
    changed = ids.clone()
    changed[:, 0] = (changed[:, 0] + 1) % 11
    other, _ = model(changed)
    assert torch.allclose(other[:, 3:], full[:, 3:]) and not torch.allclose(other[:, :3], full[:, :3])
    expected = 11 * 4 + (3 * 4 + 1) * 16 + (16 + 1) * 11
    assert model.num_parameters() == expected


def test_mlp_ngram_trains_as_a_language_model(corpus, tmp_path):
    import dataclasses

    from tests.conftest import tiny_config

    config = tiny_config(corpus, max_steps=30, eval_every=15)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, model="mlp-ngram", context=4,
                                                                    hidden_size=32, dropout=0.0))
    summary = train("lm", config, tmp_path / "mlp", show_progress=False, log=lambda m: None)
    assert summary["step"] == 30
    result = evaluate(tmp_path / "mlp", device="cpu")
    vocab_size = json.loads((tmp_path / "mlp" / "config.json").read_text())["model"]["vocab_size"]
    assert result["nats_per_token"] < math.log(vocab_size) - 0.5  # clearly better than uniform
