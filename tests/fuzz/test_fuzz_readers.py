"""Issue 19: every data reader, fed arbitrary bytes or structured-but-wrong files, returns a result or raises
RnnkitError with a safe one-line message; never anything else."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.data.labeled import read_labeled
from rnnkit.data.pairs import read_labelled_texts, read_pairs
from rnnkit.data.reader import read_text
from rnnkit.data.series import SeriesConfig, load_series
from rnnkit.data.vectors import load_word2vec
from tests.fuzz.common import ANY_BYTES, FUZZ, outcome, write

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                         st.text(max_size=8), st.sampled_from(["\x1b[31m", "pos", "POS", " pos"]))


@FUZZ
@given(ANY_BYTES)
def test_plain_text(data):
    text = outcome(lambda: read_text(write("t.txt", data)))
    assert text is None or ("\r\n" not in text and not text.startswith("\ufeff"))


@FUZZ
@given(ANY_BYTES, st.sampled_from(["t.csv", "t.tsv", "t.jsonl", "t.txt"]))
def test_labelled_tables(data, name):
    path = write(name, b"text,label\n" + data if name == "t.csv" and data[:1] == b"!" else data)
    source = f"pos={path}" if name == "t.txt" else str(path)
    result = outcome(lambda: read_labeled([source], min_classes=1))
    if result is not None:
        assert len(result.texts) == len(result.labels)


ROWS = st.lists(st.fixed_dictionaries({}, optional={"text": JSON_SCALARS, "label": JSON_SCALARS,
                                                    "other": JSON_SCALARS}), max_size=6)


@FUZZ
@given(ROWS, st.sampled_from(["jsonl", "csv", "tsv"]))
def test_labelled_rows_of_wrong_types(rows, kind):
    if kind == "jsonl":
        data = "\n".join(json.dumps(r) for r in rows).encode()
    else:
        sep = "," if kind == "csv" else "\t"
        data = ("text" + sep + "label\n" + "\n".join(sep.join(str(r.get(k, "")) for k in ("text", "label"))
                                                   for r in rows)).encode("utf-8", "surrogatepass")
    outcome(lambda: read_labeled([str(write(f"t.{kind}", data))]))


@FUZZ
@given(st.dictionaries(st.sampled_from(["pos", "neg", "POS", "x y", ".hidden"]), ANY_BYTES, max_size=3),
       st.booleans())
def test_folder_layouts(files, subfolders):
    folder = write("unused", b"").parent / "data"
    folder.mkdir()
    for label, data in files.items():
        if subfolders:
            (folder / label).mkdir(exist_ok=True)
            (folder / label / "1.txt").write_bytes(data)
        else:
            (folder / f"{label}.txt").write_bytes(data)
    outcome(lambda: read_labeled([str(folder)], min_classes=1))
    outcome(lambda: read_labelled_texts(folder))


@FUZZ
@given(ANY_BYTES)
def test_conditional_lm_csv(data):
    outcome(lambda: read_labelled_texts(write("t.csv", data)))


SERIES_CELLS = st.sampled_from(["1", "2.5", "nan", "", "x", "1e999", "-inf", "2020-01-01", "2020-13-45", "\x1b",
                                "0", "10000000000000000000000"])


@FUZZ
@given(st.one_of(ANY_BYTES, st.lists(st.lists(SERIES_CELLS, min_size=1, max_size=3), max_size=12).map(
    lambda rows: ("date,value,extra\n" + "\n".join(",".join(r) for r in rows)).encode())))
def test_series_csv(data):
    path = write("s.csv", data)
    series = outcome(lambda: load_series(SeriesConfig(data=str(path), horizon=2, input_len=2)))
    if series is not None:
        assert len(series.values) >= 1


PAIR_LINES = st.lists(st.sampled_from(["a\tb", "1+1\t2", "\t", "a\t", "\tb", "a b", "a\tb\tc", "", "\x1b\tx",
                                       "\ufeffa\tb", "a\tb\r"]), max_size=8)


@FUZZ
@given(st.one_of(ANY_BYTES, PAIR_LINES.map(lambda lines: "\n".join(lines).encode())))
def test_seq2seq_tsv(data):
    pairs = outcome(lambda: read_pairs(write("p.tsv", data)))
    if pairs is not None:
        assert all(s and t for s, t in pairs)


def vectors_file(count, dim, words, binary, values):
    head = f"{count} {dim}\n".encode()
    if binary:
        return head + b"".join(w.encode() + b" " + struct.pack(f"<{len(values)}f", *values) + b"\n" for w in words)
    return head + b"".join((w + " " + " ".join(map(str, values)) + "\n").encode() for w in words)


@FUZZ
@given(st.one_of(ANY_BYTES.map(lambda b: b"2 3\n" + b if b[:1] == b"!" else b),
                 st.builds(vectors_file, st.sampled_from([10**12, 10**9]), st.sampled_from([3, 10**9]),
                           st.lists(st.sampled_from(["cat", "dog"]), max_size=2), st.booleans(),
                           st.lists(st.floats(width=32), max_size=3)),
                 st.builds(vectors_file, st.sampled_from([0, 1, 2, 3, 10**12, -1]), st.sampled_from([0, 1, 3, 10**9]),
                           st.lists(st.sampled_from(["cat", "dog", "", "\x1b", "a b"]), max_size=3), st.booleans(),
                           st.lists(st.floats(width=32), max_size=4))))
def test_word2vec_vectors(data):
    result = outcome(lambda: load_word2vec(write("v.bin", data)))
    if result is not None:
        words, vectors = result
        assert vectors.shape[0] == len(words)


@pytest.mark.parametrize("reader", [
    lambda p: read_text(p), lambda p: read_labeled([str(p)]), lambda p: read_pairs(p),
    lambda p: load_word2vec(p), lambda p: read_labelled_texts(p),
    lambda p: load_series(SeriesConfig(data=str(p), horizon=2, input_len=2)),
])
@pytest.mark.parametrize("data", [b"\x1b[31mred\x1b[0m,\x07\x00\xff\n\x9b2J\x1b]0;title\x07\t\n",
                                  b"text,label\n\x1b[31m,\x1b[2J\n", b"1 2\n\x1b[31m 1 2\n"])
def test_binary_bytes_are_escaped_in_messages(reader, data, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    outcome(lambda: reader(path))
