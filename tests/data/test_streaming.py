"""Tests for rnnkit.data.streaming and encode_corpus's streamed, memory-mapped path (chunks made tiny)."""

import codecs

import numpy as np
import pytest

from rnnkit.data import RandomWindowBatcher, StreamBatcher
from rnnkit.data import streaming as streaming_mod
from rnnkit.data import text as text_mod
from rnnkit.data.reader import read_text
from rnnkit.data.splits import split_train_val
from rnnkit.data.text import encode_corpus
from rnnkit.data.vocab import CharVocab
from rnnkit.errors import RnnkitError

# multi-byte UTF-8 (2, 3 and 4 bytes), CRLF, a lone CR and a CR at the very end
MIXED = "Héllo, wörld!\r\nça va? 日本語のテキスト 😀🚀\r\nnaïve\rcafé\r\n\ttabs\r\n\r\nend\r"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never touch the user's real cache."""
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path / "cache"))


def _in_memory(path, keep_crlf=False, encoding="utf-8"):
    """The whole-file encoding: ids and vocabulary from read_text."""
    text = read_text(path, encoding, keep_crlf=keep_crlf)
    vocab = CharVocab.from_text(text)
    return vocab.encode(text), vocab


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("keep_crlf", [False, True])
def test_text_chunks_equal_read_text_at_every_chunk_size(tmp_path, bom, keep_crlf):
    path = tmp_path / "c.txt"
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + MIXED.encode("utf-8"))
    whole = read_text(path, keep_crlf=keep_crlf)
    for chunk in range(1, 12):  # every split of a 2-4 byte character and of "\r\n" occurs
        pieces = list(streaming_mod.text_chunks(path, "utf-8", keep_crlf, chunk))
        assert "".join(pieces) == whole, chunk
        assert len(pieces) > 1


@pytest.mark.parametrize("keep_crlf", [False, True])
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7])
def test_streamed_ids_equal_in_memory_encoding(tmp_path, chunk, keep_crlf):
    path = tmp_path / "c.txt"
    path.write_bytes(codecs.BOM_UTF8 + (MIXED * 3).encode("utf-8"))
    expected_ids, expected_vocab = _in_memory(path, keep_crlf)
    ids, vocab = encode_corpus(path, keep_crlf=keep_crlf, chunk_bytes=chunk, stream_above=0,
                               cache_dir=tmp_path / "enc")
    assert isinstance(ids, np.memmap) and not ids.flags.writeable
    assert vocab == expected_vocab
    assert ids.dtype == np.uint8 and ids.tolist() == expected_ids.tolist()
    assert ("\r" in vocab.chars) is True  # the lone CR is kept either way
    assert vocab.decode(ids) == read_text(path, keep_crlf=keep_crlf)


def test_streamed_other_encoding(tmp_path):
    path = tmp_path / "c.txt"
    text = "ab\r\ncdé\r\n" * 5
    path.write_bytes(text.encode("utf-16"))  # 2-byte units split across odd chunks, and its own BOM
    expected_ids, expected_vocab = _in_memory(path, encoding="utf-16")
    ids, vocab = encode_corpus(path, encoding="utf-16", chunk_bytes=3, stream_above=0, cache_dir=tmp_path / "enc")
    assert vocab == expected_vocab and ids.tolist() == expected_ids.tolist()


def test_streamed_cache_reused_then_invalidated(tmp_path, monkeypatch):
    path = tmp_path / "c.txt"
    path.write_text("hello wörld\n" * 10, encoding="utf-8")
    cache = tmp_path / "enc"
    passes = []
    real = streaming_mod.text_chunks
    monkeypatch.setattr(streaming_mod, "text_chunks", lambda *a, **k: passes.append(a) or real(*a, **k))

    ids1, vocab1 = encode_corpus(path, cache_dir=cache, chunk_bytes=8, stream_above=0)
    assert len(passes) == 2  # the vocabulary pass and the encoding pass
    assert len(list(cache.glob("*.npy"))) == 1 and len(list(cache.glob("*.json"))) == 1
    assert not list(cache.glob("*part*"))

    ids2, vocab2 = encode_corpus(path, cache_dir=cache, chunk_bytes=8, stream_above=0)  # hit: not decoded again
    assert len(passes) == 2
    assert vocab2 == vocab1 and ids2.tolist() == ids1.tolist() and isinstance(ids2, np.memmap)

    path.write_text("hello there, wörld\n" * 10, encoding="utf-8")  # changed content: encoded again
    ids3, vocab3 = encode_corpus(path, cache_dir=cache, chunk_bytes=8, stream_above=0)
    assert len(passes) == 4
    assert vocab3.decode(ids3) == "hello there, wörld\n" * 10
    assert len(list(cache.glob("*.npy"))) == 2


@pytest.mark.parametrize(("n_chars", "dtype"), [(200, np.uint8), (256, np.uint8), (257, np.uint16),
                                                 (70_000, np.int32)])
def test_streamed_dtype_follows_vocabulary_size(tmp_path, n_chars, dtype):
    codes = [c for c in range(0x100, 0x100 + n_chars + 0x800) if not 0xD800 <= c < 0xE000][:n_chars]
    chars = [chr(c) for c in codes]  # all multi-byte in UTF-8, no surrogates
    text = "".join(chars) + "".join(reversed(chars))
    path = tmp_path / "c.txt"
    path.write_text(text, encoding="utf-8")
    ids, vocab = encode_corpus(path, chunk_bytes=4096, stream_above=0, cache_dir=tmp_path / "enc")
    assert len(vocab) == n_chars and ids.dtype == dtype
    assert np.array_equal(ids, CharVocab.from_text(text).encode(text))


def test_streamed_with_given_vocab(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("abcq" * 4, encoding="utf-8")
    with pytest.raises(RnnkitError, match=r"c\.txt: text has 1 character not in the vocabulary \('q'\)"):
        encode_corpus(path, vocab=CharVocab.from_text("abc"), chunk_bytes=3, stream_above=0)
    ids, vocab = encode_corpus(path, vocab=CharVocab("qcba"), chunk_bytes=3, stream_above=0)
    assert ids.tolist() == [3, 2, 1, 0] * 4 and vocab == CharVocab("qcba")


@pytest.mark.parametrize("bom", [False, True])
def test_streamed_invalid_bytes_same_error_as_read_text(tmp_path, bom):
    path = tmp_path / "c.txt"
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + "ab\nçd\nef".encode() + b"\xff" + b"gh\n" * 40)
    with pytest.raises(RnnkitError) as whole:
        read_text(path)
    for chunk in (1, 2, 5, 64):  # (64: the BOM and the bad byte in the first chunk)
        with pytest.raises(RnnkitError) as streamed:
            encode_corpus(path, chunk_bytes=chunk, stream_above=0, cache_dir=tmp_path / "enc")
        assert str(streamed.value) == str(whole.value)
        assert "byte 0xff" in str(streamed.value) and "(line 3)" in str(streamed.value)
    assert not list((tmp_path / "enc").glob("*part*"))


def test_batchers_and_split_read_the_map_without_copying_it(tmp_path):
    path = tmp_path / "c.txt"
    rng = np.random.default_rng(0)
    path.write_text("".join(rng.choice(list("abcdefgh\n"), size=5000)), encoding="utf-8")
    ids, _ = encode_corpus(path, chunk_bytes=512, stream_above=0, cache_dir=tmp_path / "enc")
    small, _ = encode_corpus(path, use_cache=False)
    train, val = split_train_val(ids, 0.1)
    assert np.shares_memory(train, ids) and np.shares_memory(val, ids)
    stream = StreamBatcher(train, 4, 16)
    assert np.shares_memory(stream._streams, ids)
    reference = StreamBatcher(split_train_val(small, 0.1)[0], 4, 16)
    for (x, y), (rx, ry) in zip(stream, reference, strict=True):
        assert x.dtype == np.int64 or str(x.dtype) == "torch.int64"
        assert x.tolist() == rx.tolist() and y.tolist() == ry.tolist()
    import torch

    random_batcher = RandomWindowBatcher(train, 4, 16, generator=torch.Generator().manual_seed(3))
    assert np.shares_memory(random_batcher._ids, ids)
    ref_random = RandomWindowBatcher(split_train_val(small, 0.1)[0], 4, 16, generator=torch.Generator().manual_seed(3))
    for (x, y), (rx, ry) in zip(random_batcher, ref_random, strict=True):
        assert torch.equal(x, rx) and torch.equal(y, ry)


def test_only_files_above_the_threshold_are_streamed(tmp_path, monkeypatch):
    """A file up to stream_above bytes takes the in-memory path as before; a larger one is streamed."""
    path = tmp_path / "c.txt"
    path.write_bytes(b"abc\r\nabc")  # 8 bytes
    calls = []
    real = text_mod.read_text
    monkeypatch.setattr(text_mod, "read_text", lambda *a, **k: calls.append(a) or real(*a, **k))
    ids, vocab = encode_corpus(path, cache_dir=tmp_path / "enc", chunk_bytes=2, stream_above=8)
    assert len(calls) == 1 and vocab.decode(ids) == "abc\nabc" and not isinstance(ids, np.memmap)
    ids, vocab = encode_corpus(path, cache_dir=tmp_path / "enc2", chunk_bytes=2, stream_above=7)
    assert len(calls) == 1 and vocab.decode(ids) == "abc\nabc" and isinstance(ids, np.memmap)
    assert streaming_mod.CHUNK_BYTES < streaming_mod.STREAM_ABOVE_BYTES
