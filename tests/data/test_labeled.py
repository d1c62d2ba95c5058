"""Labelled data for classification: the three layouts, encodings, bad input, splits, folds, weights, batching."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.data.labeled import class_weights, read_labeled
from rnnkit.data.padded import BucketBatcher, pad_batch, sorted_batches
from rnnkit.data.splits import stratified_folds, stratified_split
from rnnkit.errors import RnnkitError


def test_table_layouts_csv_tsv_jsonl(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"great, really",pos\nawful,neg\n"multi\nline",pos\n',
                                    encoding="utf-8")
    (tmp_path / "a.tsv").write_text("review\tstars\ngreat\t5\nawful\t1\n", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "great", "label": "pos"}) + "\n\n"
                                      + json.dumps({"text": "awful", "label": "neg"}) + "\n", encoding="utf-8")
    csv = read_labeled([tmp_path / "a.csv"])
    assert csv.texts == ["great, really", "awful", "multi\nline"]
    assert csv.classes == ("neg", "pos") and csv.labels.tolist() == [1, 0, 1]
    tsv = read_labeled([tmp_path / "a.tsv"], text_column="review", label_column="stars")
    assert tsv.texts == ["great", "awful"] and tsv.classes == ("1", "5") and tsv.labels.tolist() == [1, 0]
    jsonl = read_labeled([tmp_path / "a.jsonl"])
    assert jsonl.texts == ["great", "awful"] and jsonl.labels.tolist() == [1, 0]


def test_folder_layouts_and_label_files(tmp_path):
    imdb = tmp_path / "imdb"
    for label, texts in {"pos": ["loved it", "superb"], "neg": ["hated it"]}.items():
        (imdb / label).mkdir(parents=True)
        for i, t in enumerate(texts):
            (imdb / label / f"{i}.txt").write_text(t + "\n", encoding="utf-8")
    data = read_labeled([imdb])
    assert sorted(zip(data.texts, data.labels.tolist())) == [("hated it", 0), ("loved it", 1), ("superb", 1)]

    names = tmp_path / "names"
    names.mkdir()
    (names / "Irish.txt").write_text("Murphy\nKelly\n\n", encoding="utf-8")
    (names / "Greek.txt").write_text("Pappas\n", encoding="utf-8")
    data = read_labeled([names])
    assert data.classes == ("Greek", "Irish") and data.texts == ["Pappas", "Murphy", "Kelly"]

    (tmp_path / "p.txt").write_text("good one\n\nnice\n", encoding="utf-8")
    (tmp_path / "n.txt").write_text("bad one\n", encoding="utf-8")
    data = read_labeled([f"pos={tmp_path / 'p.txt'}", f"neg={tmp_path / 'n.txt'}"])
    assert data.texts == ["good one", "nice", "bad one"]  # blank lines are not examples
    assert [data.classes[i] for i in data.labels] == ["pos", "pos", "neg"]


def test_typo_in_column_name_lists_the_columns(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("review,sentiment\nok,pos\nbad,neg\n", encoding="utf-8")
    with pytest.raises(RnnkitError) as info:
        read_labeled([path], text_column="reviw", label_column="sentiment")
    message = str(info.value)
    assert "\n" not in message
    assert "no text column 'reviw'" in message and "review, sentiment" in message
    assert "did you mean --text-column review" in message
    with pytest.raises(RnnkitError, match="no label column 'label'; its columns are: review, sentiment"):
        read_labeled([path], text_column="review")


@pytest.mark.parametrize("content, match", [
    ("", "is empty"),
    ("  \n\n", "is empty"),
    ("text,label\n", "has a header but no rows"),
])
def test_empty_files_are_one_line_errors(tmp_path, content, match):
    path = tmp_path / "e.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RnnkitError, match=match):
        read_labeled([path])


def test_an_empty_label_file_is_a_one_line_error(tmp_path):
    pos, neg = tmp_path / "pos.txt", tmp_path / "neg.txt"
    pos.write_text("fine\n", encoding="utf-8")
    neg.write_text("\n", encoding="utf-8")
    with pytest.raises(RnnkitError, match=r"neg.txt is empty; give it at least one example"):
        read_labeled([f"pos={pos}", f"neg={neg}"])


def test_single_class_is_an_error(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\na,pos\nb,pos\n", encoding="utf-8")
    with pytest.raises(RnnkitError, match=r"only one class \('pos'\).*at least 2 labels"):
        read_labeled([path])


def test_latin1_fallback_is_reported_and_mixed_encodings_refused(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café au lait\nnaïve\n".encode("latin-1"))
    utf = tmp_path / "utf.txt"
    utf.write_text("crème brûlée\n", encoding="utf-8")
    data = read_labeled([f"a={latin}", f"b={utf}"])
    assert data.texts == ["café au lait", "naïve", "crème brûlée"]
    assert len(data.notes) == 1 and "latin.txt is not valid UTF-8" in data.notes[0] and "Latin-1" in data.notes[0]

    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes("crème brûlée\n".encode() + "café\n".encode("latin-1"))
    with pytest.raises(RnnkitError) as info:
        read_labeled([f"a={mixed}", f"b={utf}"])
    assert "mixes encodings: line 1 is UTF-8 but line 2 is not (byte 0xe9)" in str(info.value)
    assert "\n" not in str(info.value)
    # an explicit encoding is used as given
    data = read_labeled([f"a={mixed}", f"b={utf}"], encoding="latin-1")
    assert data.texts[1] == "café"


def test_stratified_split_keeps_class_proportions():
    labels = np.array([0] * 80 + [1] * 20)
    train, val = stratified_split(labels, 0.1, seed=3)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100
    assert np.bincount(labels[val]).tolist() == [8, 2]
    again, _ = stratified_split(labels, 0.1, seed=3)
    assert np.array_equal(train, again)


def test_cv_folds_are_disjoint_stratified_and_cover_everything():
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.array([0] * 53 + [1] * 31 + [2] * 16))
    folds = stratified_folds(labels, 10, seed=1)
    together = np.concatenate(folds)
    assert len(together) == len(labels) and len(np.unique(together)) == len(labels)  # disjoint and complete
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    per_class = np.array([np.bincount(labels[f], minlength=3) for f in folds])  # (k, C)
    assert (per_class.max(0) - per_class.min(0) <= 1).all()  # every class spread evenly
    assert not np.array_equal(folds[0], stratified_folds(labels, 10, seed=2)[0])
    with pytest.raises(RnnkitError, match="needs at least 10 examples of every class"):
        stratified_folds(np.array([0] * 20 + [1] * 5), 10, seed=0)


def test_class_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([0] * 70 + [1] * 25 + [2] * 5)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert np.allclose(class_weights(labels, 3), expected)


def test_pad_batch_pads_with_zero():
    ids, lengths = pad_batch([np.array([5, 6, 7]), np.array([8])])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]


def test_bucket_batcher_covers_each_example_once_per_epoch_and_seeks_exactly():
    rng = np.random.default_rng(0)
    seqs = [np.arange(2, 2 + n) for n in rng.integers(1, 60, size=237)]
    labels = rng.integers(0, 3, size=237)
    batcher = BucketBatcher(seqs, labels, batch_size=10, seed=4)
    assert len(batcher) == 24
    seen, padding = [], 0
    for _ in range(len(batcher)):
        (ids, lengths), y = batcher.sample()
        assert ids.shape[1] == int(lengths.max())
        padding += int(ids.shape[0] * ids.shape[1] - lengths.sum())
        seen += [int(n) for n in lengths]
        for row in range(len(y)):  # padding is zeros after each sequence
            assert (ids[row, int(lengths[row]):] == 0).all()
    assert sorted(seen) == sorted(len(s) for s in seqs)
    total = sum(len(s) for s in seqs)
    assert padding < 0.1 * total  # bucketing by length keeps padding small
    later = [batcher.sample() for _ in range(5)]  # epoch 1
    fresh = BucketBatcher(seqs, labels, batch_size=10, seed=4)
    fresh.seek(1, 0)
    for (x1, y1), (x2, y2) in zip(later, [fresh.sample() for _ in range(5)]):
        assert torch.equal(x1[0], x2[0]) and torch.equal(y1, y2)
    first = BucketBatcher(seqs, labels, batch_size=10, seed=4).plan(0)
    assert not all(np.array_equal(a, b) for a, b in zip(first, fresh.plan(1)))  # epochs differ


def test_sorted_batches_cover_all_inputs_within_the_token_budget():
    seqs = [np.ones(n, dtype=np.int64) for n in [5, 1, 300, 7, 7, 2, 40] * 20]
    seen = []
    for index, ids, lengths in sorted_batches(seqs, max_tokens=256, max_batch=16):
        assert ids.shape[0] <= 16 and (ids.numel() <= 256 or ids.shape[0] == 1)
        assert lengths.tolist() == [len(seqs[i]) for i in index]
        seen += index.tolist()
    assert sorted(seen) == list(range(len(seqs)))
