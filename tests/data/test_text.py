"""Tests for rnnkit.data.text: reading, CharVocab, the encoded-corpus cache and the train/val split."""

import json

import numpy as np
import pytest

from rnnkit.data import text as text_mod
from rnnkit.data import vocab as vocab_mod
from rnnkit.data.reader import read_text
from rnnkit.data.splits import split_train_val
from rnnkit.data.text import encode_corpus, smallest_dtype
from rnnkit.data.vocab import CharVocab
from rnnkit.errors import RnnkitError

MIXED = "Héllo, wörld! ça va? 日本語のテキスト 😀🚀 naïve café\n\ttabs\r\nend"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never touch the user's real cache."""
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path / "cache"))


def naive_encode(text: str) -> list[int]:
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}
    return [stoi[c] for c in text]


def test_vocab_round_trip_non_ascii():
    vocab = CharVocab.from_text(MIXED)
    assert vocab.chars == tuple(sorted(set(MIXED)))
    ids = vocab.encode(MIXED)
    assert ids.dtype == np.int64 and ids.shape == (len(MIXED),)
    assert vocab.decode(ids) == MIXED
    assert vocab.decode(ids.tolist()) == MIXED


def test_encode_equals_naive_python_encoding():
    rng = np.random.default_rng(0)
    alphabet = list("abcxyz \n") + ["é", "ß", "日", "本", "😀", "🚀"]
    text = "".join(rng.choice(alphabet, size=5000))
    vocab = CharVocab.from_text(text)
    assert vocab.encode(text).tolist() == naive_encode(text)


def test_encode_across_chunks_matches_naive(monkeypatch):
    monkeypatch.setattr(vocab_mod, "_CHUNK_CHARS", 7)
    vocab = CharVocab.from_text(MIXED)
    assert vocab.encode(MIXED).tolist() == naive_encode(MIXED)
    assert vocab.unknown(MIXED + "Ω") == ["Ω"]


def test_lone_surrogate_round_trips():
    text = "a\udcffb"  # what surrogateescape produces for an undecodable byte
    vocab = CharVocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text


def test_vocab_dict_round_trip_is_json_able():
    vocab = CharVocab.from_text(MIXED)
    restored = CharVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab
    assert restored.encode(MIXED).tolist() == vocab.encode(MIXED).tolist()


def test_unknown_and_encode_error():
    vocab = CharVocab.from_text("abc")
    assert vocab.unknown("abzxz😀a") == ["x", "z", "😀"]
    assert vocab.unknown("cab") == []
    with pytest.raises(RnnkitError, match=r"3 characters not in the vocabulary \('x', 'z', '😀'\)"):
        vocab.encode("abzxz😀a")


def test_decode_rejects_out_of_range_ids():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match="in \\[0, 3\\)"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError):
        vocab.decode([-1])
    assert vocab.decode([]) == ""


def test_smallest_dtype():
    assert smallest_dtype(65) == np.uint8
    assert smallest_dtype(256) == np.uint8
    assert smallest_dtype(257) == np.uint16
    assert smallest_dtype(70_000) == np.int32


def test_read_text_exact(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(MIXED.encode("utf-8"))
    assert read_text(path, keep_crlf=True) == MIXED  # no newline translation when asked
    assert read_text(path) == MIXED.replace("\r\n", "\n")  # by default CRLF is read as LF (issue 19)


def test_read_text_non_utf8_names_offset_and_byte(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"abc\nd" + "é".encode("latin-1") + b"f")
    with pytest.raises(RnnkitError) as info:
        read_text(path)
    msg = str(info.value)
    assert "latin.txt" in msg and "offset 5" in msg and "0xe9" in msg and "line 2" in msg
    assert "--encoding latin-1" in msg and "\n" not in msg
    assert read_text(path, encoding="latin-1") == "abc\ndéf"


def test_read_text_empty_missing_and_bad_encoding(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(RnnkitError, match=r"empty\.txt is empty$"):
        read_text(empty)
    with pytest.raises(RnnkitError, match=r"nope\.txt does not exist"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(RnnkitError, match="unknown encoding 'klingon'"):
        read_text(empty, encoding="klingon")


def test_encode_corpus_compact_dtype_and_values(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(MIXED, encoding="utf-8")
    ids, vocab = encode_corpus(path)
    text = MIXED.replace("\r\n", "\n")  # CRLF never enters the vocabulary
    assert ids.dtype == np.uint8
    assert ids.tolist() == naive_encode(text)
    assert vocab == CharVocab.from_text(text)


def test_encode_corpus_with_given_vocab_reports_unknown_chars(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("abcq", encoding="utf-8")
    with pytest.raises(RnnkitError, match=r"c\.txt: text has 1 character not in the vocabulary \('q'\)"):
        encode_corpus(path, vocab=CharVocab.from_text("abc"))
    ids, vocab = encode_corpus(path, vocab=CharVocab("qcba"))
    assert ids.tolist() == [3, 2, 1, 0] and vocab == CharVocab("qcba")


def test_encode_corpus_cache_reused_then_invalidated(tmp_path, monkeypatch):
    path = tmp_path / "c.txt"
    path.write_text("hello world\n", encoding="utf-8")
    cache = tmp_path / "enc"
    calls = []
    real_read_text = text_mod.read_text
    monkeypatch.setattr(text_mod, "read_text", lambda *a, **k: calls.append(a) or real_read_text(*a, **k))

    ids1, vocab1 = encode_corpus(path, cache_dir=cache)
    assert len(calls) == 1
    assert len(list(cache.glob("*.npy"))) == 1 and len(list(cache.glob("*.json"))) == 1
    assert not list(cache.glob("*.part"))

    ids2, vocab2 = encode_corpus(path, cache_dir=cache)  # cache hit: the text is not read again
    assert len(calls) == 1
    assert np.array_equal(ids1, ids2) and ids2.dtype == ids1.dtype and vocab2 == vocab1

    path.write_text("hello there, world\n", encoding="utf-8")  # changed file: re-read and re-encoded
    ids3, vocab3 = encode_corpus(path, cache_dir=cache)
    assert len(calls) == 2
    assert vocab3.decode(ids3) == "hello there, world\n"
    assert len(list(cache.glob("*.npy"))) == 2

    encode_corpus(path, cache_dir=cache, use_cache=False)
    assert len(calls) == 3


def test_encode_corpus_default_cache_dir_from_env(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("abcabc", encoding="utf-8")
    encode_corpus(path)
    assert len(list((tmp_path / "cache" / "encoded").glob("*.npy"))) == 1


def test_encode_corpus_damaged_cache_is_rebuilt(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("abcabc", encoding="utf-8")
    cache = tmp_path / "enc"
    encode_corpus(path, cache_dir=cache)
    (npy,) = cache.glob("*.npy")
    npy.write_bytes(b"garbage")
    ids, vocab = encode_corpus(path, cache_dir=cache)
    assert vocab.decode(ids) == "abcabc"


def test_encode_corpus_missing_file(tmp_path):
    with pytest.raises(RnnkitError, match="does not exist"):
        encode_corpus(tmp_path / "missing.txt")


def test_split_train_val():
    ids = np.arange(100)
    train, val = split_train_val(ids, 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    train, val = split_train_val(ids, 0.0)
    assert len(train) == 100 and len(val) == 0
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(RnnkitError, match=r"val_fraction must be in \[0, 1\)"):
            split_train_val(ids, bad)
