"""Word tokenization: round trips, streaming-safe spacing, and the word vocabulary."""

from __future__ import annotations

import pytest

from rnnkit.data.vocab import PAD, UNK, WordVocab
from rnnkit.data.words import Detokenizer, TokenizerConfig, detokenize, tokenize
from rnnkit.errors import RnnkitError

ROUND_TRIPS = [
    "jerry: what's the deal with airline food?",
    "george: (laughs) i said \"hello\" -- and left... it's 3.5 miles, $20!",
    "elaine: oh, well-known [pause] 1,000 people; 50% of them!\nkramer: hey!",
    "she said 'no way' and left.",
    "JERRY: Yes! No? Maybe...\n\nNEWMAN: Hello, Jerry.\n",
    "a: b, c; d! e? (f) [g] {h} \"i\" 'j' k...",
    "snake_case stays one word, e-mail too",
]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_tokenize_detokenize_round_trips(text):
    assert detokenize(tokenize(text)) == text


def test_punctuation_and_newlines_are_tokens():
    assert tokenize("jerry: what's that?\n") == ["jerry", ":", "what's", "that", "?", "\n"]
    assert tokenize("wait... -- no!!") == ["wait", "...", "--", "no", "!!"]
    assert tokenize("It's 3.5, or 1,000.") == ["It's", "3.5", ",", "or", "1,000", "."]


def test_tokenizer_options():
    text = "Jerry: Hi, Elaine!\nElaine: Hi."
    assert tokenize(text, TokenizerConfig(lower=True))[:3] == ["jerry", ":", "hi"]
    assert tokenize(text, TokenizerConfig(punctuation="drop")) == ["Jerry", "Hi", "Elaine", "\n", "Elaine", "Hi"]
    assert tokenize(text, TokenizerConfig(punctuation="keep")) == ["Jerry:", "Hi,", "Elaine!", "\n", "Elaine:", "Hi."]
    assert "\n" not in tokenize(text, TokenizerConfig(newlines=False))
    with pytest.raises(RnnkitError, match="--punctuation must be one of"):
        TokenizerConfig(punctuation="strip").validate()


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_spacing_depends_only_on_earlier_tokens(text):
    """Streaming: the text of a growing token list only ever grows at the end."""
    tokens, joiner, streamed = tokenize(text), Detokenizer(), ""
    for i, token in enumerate(tokens):
        streamed += joiner.push(token)
        assert streamed == detokenize(tokens[: i + 1])


def test_vocab_frequency_order_min_freq_and_unknowns():
    tokens = "the cat saw the dog . the dog ran .".split()
    vocab = WordVocab.build([tokens], min_freq=2)
    assert vocab.tokens == (PAD, UNK, "the", ".", "dog")  # by count, then alphabetically
    assert vocab.encode_tokens(["the", "cat", "zebra"]).tolist() == [2, 1, 1]
    assert vocab.unknown_words(["the", "cat", "zebra"]) == ["cat", "zebra"]
    assert WordVocab.build([tokens], max_vocab=4).tokens == (PAD, UNK, "the", ".")
    assert WordVocab.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(RnnkitError, match="--min-freq 9"):
        WordVocab.build([tokens], min_freq=9)


def test_vocab_as_a_sampling_vocabulary():
    vocab = WordVocab.build([tokenize("jerry: hi.\ngeorge: hi, jerry.\n")])
    ids = vocab.encode("george: hi, elaine.")
    assert vocab.decode(ids) == "george: hi, <unk>."
    assert vocab.unknown("anything at all") == []  # unknown words are encodable as <unk>
    piece = vocab.stream_decoder(vocab.encode("jerry:"))
    assert "".join(piece(i) for i in vocab.encode("hi, george.")) == " hi, george."
