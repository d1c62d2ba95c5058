"""Issue 19, silent wrong results in the readers: CRLF/BOM, label spelling, table separators."""

from __future__ import annotations

from rnnkit.data.labeled import read_labeled
from rnnkit.data.reader import read_text


def test_crlf_and_bom_do_not_enter_the_text(tmp_path):
    path = tmp_path / "w.txt"
    path.write_bytes(b"\xef\xbb\xbfab\r\ncd\r\n")
    assert read_text(path) == "ab\ncd\n"
    assert read_text(path, keep_crlf=True) == "ab\r\ncd\r\n"


def test_labels_stripped_and_numbers_compared_as_numbers(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text('{"text": "a", "label": 0}\n{"text": "b", "label": 1.0}\n{"text": "c", "label": "1 "}\n'
                    '{"text": "d", "label": 0.0}\n')
    data = read_labeled([str(path)])
    assert data.classes == ("0", "1")
    assert data.labels.tolist() == [0, 1, 1, 0]


def test_label_whitespace_and_case_collision_reported(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("text,label\na,POS\nb,pos \nc,neg\n")
    data = read_labeled([str(path)])
    assert data.classes == ("POS", "neg", "pos")
    assert any("differ only in case" in n for n in data.notes)


def test_tsv_saved_as_csv_and_semicolon_csv_are_read(tmp_path):
    for sep, name in (("\t", "t.csv"), (";", "s.csv")):
        path = tmp_path / name
        path.write_text(f"text{sep}label\nhello, world{sep}a\nbye{sep}b\n")
        data = read_labeled([str(path)])
        assert data.texts == ["hello, world", "bye"] and data.classes == ("a", "b")


def test_crlf_and_bom_are_said_once_and_kept_with_keep_crlf(tmp_path, capsys):
    import json

    from tests.conftest import cli

    corpus = tmp_path / "win.txt"
    corpus.write_bytes(b"\xef\xbb\xbf" + b"the sea is blue, said anna.\r\n" * 150)
    tiny = ("--hidden-size", "32", "--num-layers", "1", "--batch-size", "4", "--seq-len", "16", "--max-steps", "2",
            "--precision", "fp32", "--device", "cpu", "--no-progress")
    code, _, err = cli("train", "lm", "--data", corpus, "--out", tmp_path / "lf", *tiny, capsys=capsys)
    assert code == 0, err
    said = [line for line in err.splitlines() if "CRLF" in line]
    assert len(said) == 1 and "byte-order mark" in said[0] and "--keep-crlf" in said[0], err
    chars = json.loads((tmp_path / "lf" / "vocab.json").read_text())["chars"]
    assert "\r" not in chars and "\ufeff" not in chars
    code, _, err = cli("train", "lm", "--data", corpus, "--out", tmp_path / "crlf", "--keep-crlf", *tiny,
                       capsys=capsys)
    assert code == 0 and "CRLF" not in err, err
    assert "\r" in json.loads((tmp_path / "crlf" / "vocab.json").read_text())["chars"]
    assert json.loads((tmp_path / "crlf" / "config.json").read_text())["data"]["keep_crlf"] is True
    code, _, err = cli("train", "ngram", "--data", corpus, "--out", tmp_path / "ng", "--keep-crlf", capsys=capsys)
    assert code == 0 and "\r" in json.loads((tmp_path / "ng" / "vocab.json").read_text())["chars"]


def test_a_plain_file_says_nothing(tmp_path, caplog):
    import logging

    path = tmp_path / "plain.txt"
    path.write_text("ab\ncd\n")
    with caplog.at_level(logging.INFO, logger="rnnkit"):
        assert read_text(path) == "ab\ncd\n"
    assert not caplog.records
