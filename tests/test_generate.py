"""Sampling: carried-state generation equals recomputation from scratch, filters, seeds, priming, errors."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.data.vocab import CharVocab
from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig, filter_logits, generate_tokens, sample_text
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

TEXT = "abcdefghijklmnopqrs\n"  # 20 distinct characters
V = len(TEXT)
CELLS = ["lstm", "gru", "rnn_tanh", "mingru", "minlstm"]


def tiny_model(vocab_size=V, cell="lstm", num_layers=1, seed=0):
    torch.manual_seed(seed)
    # dropout > 0 with 2 layers checks that sampling switches the model to eval mode
    cfg = LanguageModelConfig(vocab_size=vocab_size, cell=cell, hidden_size=16, num_layers=num_layers,
                              embedding_size=8, dropout=0.2 if num_layers > 1 else 0.0)
    return LanguageModel(cfg)


@pytest.fixture(scope="module")
def vocab():
    return CharVocab.from_text(TEXT)


@pytest.fixture
def model():
    return tiny_model()


class Recorder(nn.Module):
    """Wraps a model and records the input shape and last-position logits of every forward."""

    def __init__(self, model):
        super().__init__()
        self.model, self.shapes, self.logits = model, [], []

    def forward(self, ids, state=None):
        logits, state = self.model(ids, state)
        self.shapes.append(tuple(ids.shape))
        self.logits.append(logits[:, -1].clone())
        return logits, state


def refeed_logits(model, ids):
    """Last-position logits (B, V) of a full forward of ids (B, T) from a zero state."""
    model.eval()
    with torch.inference_mode():
        return model(ids)[0][:, -1]


# -- (a) streamed sampling == recomputation ---------------------------------------------------
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_greedy_carried_state_equals_refeeding(cell, num_layers):
    model = tiny_model(cell=cell, num_layers=num_layers)
    prime = torch.tensor([3, 1, 4, 1, 5])
    got = torch.stack(list(generate_tokens(model, prime, SamplingConfig(length=12, greedy=True))), dim=1)  # (1, 12)
    ids = prime[None]
    for _ in range(12):
        ids = torch.cat([ids, refeed_logits(model, ids).argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(got, ids[:, len(prime):])


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_sampled_logits_with_carried_state_equal_full_reforward(cell, num_layers):
    model = Recorder(tiny_model(cell=cell, num_layers=num_layers))
    prime = torch.tensor([[7, 2, 9], [0, 19, 4]])  # two streams
    cfg = SamplingConfig(length=10, temperature=1.3, top_k=15, top_p=0.95, seed=5)
    got = torch.stack(list(generate_tokens(model, prime, cfg)), dim=1)  # (2, 10)
    # one forward over the whole prime, then one token per step, no forward after the last token
    assert model.shapes == [(2, 3)] + [(2, 1)] * 9
    ids = torch.cat([prime, got], dim=1)  # (2, 13)
    for step, carried in enumerate(model.logits):
        full = refeed_logits(model.model, ids[:, : 3 + step])
        torch.testing.assert_close(carried, full, atol=1e-5, rtol=1e-5)


def test_model_mode_is_restored(model):
    model.train()
    list(generate_tokens(model, torch.tensor([1, 2]), SamplingConfig(length=3, seed=0)))
    assert model.training


# -- (b) seeds --------------------------------------------------------------------------------
def test_seeded_sampling_is_reproducible(model, vocab):
    cfg = SamplingConfig(length=40, num_samples=2, seed=123)
    first = sample_text(model, vocab, "abc", cfg)
    assert sample_text(model, vocab, "abc", cfg) == first
    assert sample_text(model, vocab, "abc", SamplingConfig(length=40, num_samples=2, seed=124)) != first


# -- (c) filters ----------------------------------------------------------------------------
def test_top_k_one_and_tiny_top_p_equal_greedy(model, vocab):
    greedy = sample_text(model, vocab, "hello", SamplingConfig(length=30, greedy=True))
    assert sample_text(model, vocab, "hello", SamplingConfig(length=30, top_k=1, seed=1)) == greedy
    assert sample_text(model, vocab, "hello", SamplingConfig(length=30, top_p=1e-6, seed=2)) == greedy


def hand_logits():
    """Probabilities 0.5, 0.3, 0.15, 0.05 in shuffled vocabulary order, as (1, 4) logits."""
    return torch.log(torch.tensor([[0.15, 0.5, 0.05, 0.3]]))


@pytest.mark.parametrize(("k", "kept"), [(1, {1}), (2, {1, 3}), (3, {0, 1, 3}), (4, {0, 1, 2, 3}), (9, {0, 1, 2, 3})])
def test_top_k_keeps_exactly_k(k, kept):
    out = filter_logits(hand_logits(), top_k=k)
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == kept
    finite = torch.isfinite(out)
    torch.testing.assert_close(out[finite], hand_logits()[finite])


def test_top_k_keeps_exactly_k_with_ties():
    assert torch.isfinite(filter_logits(torch.zeros(3, 10), top_k=4)).sum(dim=-1).tolist() == [4, 4, 4]


@pytest.mark.parametrize(("p", "kept"), [(0.4, {1}), (0.75, {1, 3}), (0.85, {0, 1, 3}), (0.99, {0, 1, 2, 3}),
                                         (1.0, {0, 1, 2, 3})])
def test_top_p_keeps_the_smallest_nucleus(p, kept):
    out = filter_logits(hand_logits(), top_p=p)
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == kept


def test_filter_logits_does_not_modify_its_input():
    logits = hand_logits()
    filter_logits(logits, temperature=0.5, top_k=2, top_p=0.5)
    assert torch.equal(logits, hand_logits())


def test_low_temperature_sharpens():
    def top_prob(t):
        return filter_logits(hand_logits(), temperature=t).softmax(-1).max().item()

    assert top_prob(2.0) < top_prob(1.0) < top_prob(0.5) < top_prob(0.1)
    assert top_prob(1e-3) > 1 - 1e-6
    assert math.isclose(top_prob(1.0), 0.5, rel_tol=1e-6)


# -- (d) unknown prime characters -------------------------------------------------------------
def test_unknown_prime_characters_are_listed(model, vocab):
    with pytest.raises(RnnkitError) as err:
        sample_text(model, vocab, "abé😀cé", SamplingConfig(length=5, seed=0))
    assert str(err.value) == (
        "prime contains characters not in the vocabulary: 'é', '😀'; remove them or pass --skip-unknown"
    )


def test_skip_unknown_drops_them(model, vocab):
    cfg = SamplingConfig(length=8, seed=3, skip_unknown=True)
    texts = sample_text(model, vocab, "abé😀cé", cfg)
    assert texts == sample_text(model, vocab, "abc", cfg)
    assert texts[0].startswith("abc") and len(texts[0]) == 3 + 8


# -- empty prime ------------------------------------------------------------------------------
def test_empty_prime_starts_from_newline_and_leaves_it_out(model, vocab):
    cfg = SamplingConfig(length=10, seed=4)
    text = sample_text(model, vocab, "", cfg)[0]
    assert len(text) == 10
    assert "\n" + text == sample_text(model, vocab, "\n", cfg)[0]


def test_empty_prime_without_newline_starts_from_token_zero():
    vocab = CharVocab.from_text("xyz")
    model = tiny_model(vocab_size=3)
    cfg = SamplingConfig(length=6, seed=4)
    text = sample_text(model, vocab, "", cfg)[0]
    assert len(text) == 6
    assert "x" + text == sample_text(model, vocab, "x", cfg)[0]


# -- (e) several samples ----------------------------------------------------------------------
def test_num_samples_returns_that_many_full_texts(model, vocab):
    texts = sample_text(model, vocab, "dog", SamplingConfig(length=15, num_samples=3, seed=0))
    assert len(texts) == 3
    assert all(t.startswith("dog") and len(t) == 3 + 15 and not vocab.unknown(t) for t in texts)
    assert len(set(texts)) > 1


def test_zero_length_returns_the_prime(model, vocab):
    assert sample_text(model, vocab, "abc", SamplingConfig(length=0, num_samples=2)) == ["abc", "abc"]


# -- (f) streaming ----------------------------------------------------------------------------
def test_stream_receives_the_generated_pieces(model, vocab):
    pieces = []
    text = sample_text(model, vocab, "ab", SamplingConfig(length=25, seed=9), stream=pieces.append)[0]
    assert len(pieces) == 25
    assert "".join(pieces) == text[len("ab"):]


def test_stream_is_not_called_for_several_samples(model, vocab):
    pieces = []
    sample_text(model, vocab, "ab", SamplingConfig(length=5, num_samples=2, seed=9), stream=pieces.append)
    assert pieces == []


# -- (g) invalid settings ---------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"temperature": 0}, "--temperature must be > 0, got 0; use --greedy for deterministic output"),
    ({"temperature": -1.5}, "--temperature must be > 0, got -1.5; use --greedy for deterministic output"),
    ({"temperature": float("nan")}, "--temperature must be > 0, got nan; use --greedy for deterministic output"),
    ({"top_k": 0}, "--top-k must be an integer >= 1, got 0; omit it to sample from all tokens"),
    ({"top_p": 0.0}, "--top-p must be in (0, 1], got 0.0; e.g. --top-p 0.9, or omit it"),
    ({"top_p": 1.5}, "--top-p must be in (0, 1], got 1.5; e.g. --top-p 0.9, or omit it"),
    ({"length": -1}, "--length must be an integer >= 0, got -1"),
    ({"num_samples": 0}, "--num-samples must be an integer >= 1, got 0"),
    ({"seed": "x"}, "--seed must be an integer, got 'x'"),
    ({"greedy": True, "top_k": 0}, "--top-k must be an integer >= 1, got 0; omit it to sample from all tokens"),
])
def test_invalid_settings_name_the_flag(kwargs, message):
    with pytest.raises(RnnkitError) as err:
        SamplingConfig(**kwargs)
    assert str(err.value) == message


def test_greedy_allows_zero_temperature():
    assert SamplingConfig(greedy=True, temperature=0).greedy


def test_bad_prime_shapes(model):
    with pytest.raises(RnnkitError, match="at least one token"):
        generate_tokens(model, torch.zeros(0, dtype=torch.long), SamplingConfig())
    with pytest.raises(RnnkitError, match="2 prime rows but --num-samples 3"):
        generate_tokens(model, torch.zeros(2, 4, dtype=torch.long), SamplingConfig(num_samples=3))


def test_wrong_device_is_reported(model, vocab):
    with pytest.raises(RnnkitError, match="model is on cpu but device is meta"):
        sample_text(model, vocab, "ab", SamplingConfig(length=1), device="meta")


def test_outputs_are_valid_token_ids(model):
    ids = np.stack([t.numpy() for t in generate_tokens(model, torch.tensor([1]), SamplingConfig(length=50, seed=0))])
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < V
