"""Sequence classification end to end: packing, metrics, training, resume, CV, embeddings, predict and eval CLIs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.data.labeled import read_labeled
from rnnkit.data.splits import stratified_folds
from rnnkit.data.vectors import save_word2vec
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.runs import evaluate, open_run, resume, stored_config, train
from rnnkit.tasks.classify import ClassifyConfig, classification_report, load_splits
from rnnkit.tasks.classify import task as classify_task
from rnnkit.training.trainer import TrainingInterrupted
from tests.conftest import SHARED_DATA, cli, one_line_error

POSITIVE = ["good", "great", "fine", "lovely", "superb"]
NEGATIVE = ["bad", "awful", "poor", "dull", "boring"]
FILLER = ["the", "film", "was", "a", "plot", "and", "really", "quite", "story", "acting"]
TINY_MODEL = dict(embedding_size=16, hidden_size=16, word_dropout=0.0, embedding_dropout=0.1, dropout=0.2)
TINY_TRAIN = dict(batch_size=8, lr=1e-2, warmup_steps=2, max_steps=40, epochs=None, log_every=5,
                  precision="fp32", device="cpu", seed=3, save_every=1e9)
TINY_FLAGS = ["--embedding-size", "16", "--hidden-size", "16", "--word-dropout", "0", "--embedding-dropout", "0.1",
              "--dropout", "0.2", "--batch-size", "8", "--lr", "0.01",
              "--max-steps", "60", "--warmup-steps", "2", "--device", "cpu", "--no-progress", "--seed", "3"]


def sentences(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Short reviews whose label is given by one sentiment word among filler, varying in length."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = list(rng.choice(FILLER, size=int(rng.integers(2, 12))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(POSITIVE if label == "pos" else NEGATIVE)))
        texts.append(" ".join(words) + rng.choice([" .", " !", ""]))
        labels.append(label)
    return texts, labels


@pytest.fixture
def layouts(tmp_path):
    """The same 120 examples as a CSV table, an IMDB-style folder, and one file per label."""
    texts, labels = sentences(120)
    csv = tmp_path / "reviews.csv"
    csv.write_text("review,sentiment\n" + "".join(f'"{t}",{y}\n' for t, y in zip(texts, labels)), encoding="utf-8")
    folder = tmp_path / "imdb"
    for i, (t, y) in enumerate(zip(texts, labels)):
        (folder / y).mkdir(parents=True, exist_ok=True)
        (folder / y / f"{i}.txt").write_text(t, encoding="utf-8")
    for y in ("pos", "neg"):
        (tmp_path / f"{y}.txt").write_text("".join(t + "\n" for t, z in zip(texts, labels) if z == y),
                                           encoding="utf-8")
    return {"csv": ["--data", csv, "--text-column", "review", "--label-column", "sentiment"],
            "folder": ["--data", folder],
            "files": ["--data", f"pos={tmp_path / 'pos.txt'}", "--data", f"neg={tmp_path / 'neg.txt'}"]}


def tiny_config(sources, **train) -> ClassifyConfig:
    return ClassifyConfig.from_dict({"data": {"data": [str(s) for s in sources], "val_fraction": 0.2},
                                     "model": TINY_MODEL, "train": {**TINY_TRAIN, **train}})


def label_files(tmp_path, n=120):
    texts, labels = sentences(n)
    for y in ("pos", "neg"):
        (tmp_path / f"{y}.txt").write_text("".join(t + "\n" for t, z in zip(texts, labels) if z == y),
                                           encoding="utf-8")
    return [f"pos={tmp_path / 'pos.txt'}", f"neg={tmp_path / 'neg.txt'}"]


# -- the model -----------------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell, bidirectional", [("lstm", True), ("gru", True), ("rnn_tanh", False)])
@pytest.mark.parametrize("backend", ["fused", "explicit"])
def test_packed_batch_equals_each_sequence_alone(pooling, cell, bidirectional, backend):
    torch.manual_seed(0)
    config = ClassifierConfig(vocab_size=30, num_classes=3, cell=cell, embedding_size=8, hidden_size=6,
                              num_layers=2, bidirectional=bidirectional, pooling=pooling, backend=backend)
    model = SequenceClassifier(config).eval()
    seqs = [torch.randint(2, 30, (n,)) for n in (7, 1, 4, 7, 2)]
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.zeros(len(seqs), 7, dtype=torch.long)  # (B, T), padded with 0
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = s
    with torch.no_grad():
        batched = model(ids, lengths)  # (B, C)
        alone = torch.cat([model(s[None], torch.tensor([len(s)])) for s in seqs])
        garbage = model(ids.masked_fill(ids == 0, 5), lengths)  # what sits in the padding does not matter
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched, garbage, atol=1e-5, rtol=1e-5)


def test_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    y_pred[:5] = 3
    y_true[y_true == 2] = 1  # class 2 never true: its recall is undefined (0 as in scikit-learn)
    report = classification_report(y_true, y_pred, ["a", "b", "c", "d"])
    assert report["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert report["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    p, r, _, s = precision_recall_fscore_support(y_true, y_pred, labels=range(4), zero_division=0)
    assert [report["per_class"][c]["precision"] for c in "abcd"] == pytest.approx(p)
    assert [report["per_class"][c]["recall"] for c in "abcd"] == pytest.approx(r)
    assert [report["per_class"][c]["support"] for c in "abcd"] == s.tolist()
    assert report["confusion"] == confusion_matrix(y_true, y_pred, labels=range(4)).tolist()


# -- training ------------------------------------------------------------------------------------
def test_train_learns_and_writes_a_complete_run(tmp_path):
    out = tmp_path / "run"
    summary = train("classify", tiny_config(label_files(tmp_path), max_steps=60), out, show_progress=False,
                    log=lambda m: None)
    for name in ("config.json", "vocab.json", "last.pt", "best.pt", "metrics.jsonl", "report.json", "confusion.png"):
        assert (out / name).is_file(), name
    stored = json.loads((out / "config.json").read_text())
    assert stored["task"] == "classify" and stored["model"]["num_classes"] == 2
    val = summary["reports"]["validation"]
    assert val["examples"] == 24 and val["accuracy"] >= 0.9  # one sentiment word decides the label
    clf = open_run(out).predictor()
    assert clf.predict(["a really superb film", "the plot was dull and boring"]) == ["pos", "neg"]
    assert evaluate(out, device="cpu")["accuracy"] == pytest.approx(val["accuracy"])


def test_interrupted_run_resumes_to_identical_weights(tmp_path, monkeypatch):
    sources = label_files(tmp_path)
    config = tiny_config(sources, max_steps=30)  # 12 batches per epoch: crosses two epoch boundaries
    train("classify", config, tmp_path / "straight", show_progress=False, log=lambda m: None)
    calls = {"n": 0}
    real_loss = classify_task.classify_loss

    def interrupt_at_step_17(model, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 17:
            raise KeyboardInterrupt
        return real_loss(model, *args, **kwargs)

    monkeypatch.setattr(classify_task, "classify_loss", interrupt_at_step_17)
    with pytest.raises(TrainingInterrupted) as info:
        train("classify", config, tmp_path / "cut", show_progress=False, log=lambda m: None)
    assert info.value.step == 16
    monkeypatch.setattr(classify_task, "classify_loss", real_loss)
    summary = resume(tmp_path / "cut", show_progress=False, log=lambda m: None)
    assert summary["step"] == 30
    a = ckpt.load_tensors(tmp_path / "straight" / "last.pt")["model"]
    b = ckpt.load_tensors(tmp_path / "cut" / "last.pt")["model"]
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_cross_validation_runs_every_fold_on_disjoint_test_sets(tmp_path):
    config = tiny_config(label_files(tmp_path, n=60), max_steps=6)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, cv=3))
    logs = []
    result = train("classify", config, tmp_path / "cv", show_progress=False, log=logs.append)
    seen = [row["test_examples"] for row in result["folds"]]
    assert result["k"] == 3 and len(result["folds"]) == 3 and seen == [20, 20, 20]
    assert [m.split(":")[1] for m in logs if m.startswith("rnnkit: fold ")] == [" fold 1/3", " fold 1/3",
                                                                                 " fold 2/3", " fold 2/3",
                                                                                 " fold 3/3", " fold 3/3"]
    assert json.loads((tmp_path / "cv" / "cv.json").read_text())["accuracy_mean"] == pytest.approx(
        result["accuracy_mean"])
    everything = read_labeled(config.data.data)
    folds = stratified_folds(everything.labels, 3, config.train.seed)
    for fold in range(3):  # each fold's run reads back its own test split, and trains on the rest
        splits = load_splits(stored_config(tmp_path / "cv" / f"fold-{fold + 1:02d}")[1])
        assert splits.test.texts == [everything.texts[i] for i in folds[fold]]
        assert len(splits.train) + len(splits.val) == 40
    with pytest.raises(RnnkitError, match="fold-01 already holds a run"):  # a cross-validation is never overwritten
        train("classify", config, tmp_path / "cv", show_progress=False, log=lambda m: None)


@pytest.mark.parametrize("freeze", [True, False])
def test_embeddings_initialise_from_a_word2vec_file(tmp_path, freeze):
    rng = np.random.default_rng(0)
    words = POSITIVE + NEGATIVE + ["unrelated"]
    vectors = rng.normal(size=(len(words), 12)).astype(np.float32)
    path = save_word2vec(tmp_path / "vectors.txt", words, vectors)
    config = ClassifyConfig.from_dict({
        "data": {"data": label_files(tmp_path), "embeddings": str(path)},
        "model": {"hidden_size": 8, "freeze_embeddings": freeze},
        "train": {**TINY_TRAIN, "max_steps": 5}})
    logs = []
    train("classify", config, tmp_path / "run", show_progress=False, log=logs.append)
    assert any("initialised 10 of" in m for m in logs)
    clf = open_run(tmp_path / "run").predictor()
    assert clf.model.config.embedding_size == 12  # taken from the file
    row = clf.vocab.index["superb"]
    learned = clf.model.embedding.weight[row].detach().numpy()
    if freeze:
        assert np.array_equal(learned, vectors[words.index("superb")])
    else:
        assert not np.array_equal(learned, vectors[words.index("superb")])
        assert np.abs(learned - vectors[words.index("superb")]).max() < 0.2  # fine-tuned from the vectors
    bad = dataclasses.replace(config, model=dataclasses.replace(config.model, embedding_size=50))
    with pytest.raises(RnnkitError, match="has 12-dimensional vectors but --embedding-size is 50"):
        train("classify", bad, tmp_path / "bad", show_progress=False, log=lambda m: None)


# -- the command line ----------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["csv", "folder", "files"])
def test_predict_works_for_runs_from_each_layout(layouts, layout, tmp_path, capsys):
    out = tmp_path / f"run-{layout}"
    code, _, err = cli("train", "classify", *layouts[layout], "--out", out, *TINY_FLAGS, capsys=capsys)
    assert code == 0, err
    code, text, _ = cli("predict", out, "a superb story", "the acting was awful", capsys=capsys)
    assert code == 0
    lines = text.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["pos", "neg"]
    assert lines[0].endswith("a superb story") and "pos=" in lines[0] and "neg=" in lines[0]

    inputs = tmp_path / "inputs.txt"
    inputs.write_text("lovely film\n\nzzz unknownword qqq\npoor plot\n", encoding="utf-8")
    code, text, err = cli("predict", out, "--input", inputs, "--json", capsys=capsys)
    assert code == 0
    assert "skipped 1 empty line (line 2)" in err
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["line"] for r in rows] == [1, 3, 4]
    assert rows[0]["label"] == "pos" and rows[2]["label"] == "neg"
    assert all(sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-4) for r in rows)


def test_eval_prints_the_report_and_writes_the_confusion_png(layouts, tmp_path, capsys):
    out = tmp_path / "run"
    code, text, err = cli("train", "classify", *layouts["files"], "--out", out, *TINY_FLAGS, capsys=capsys)
    assert code == 0 and "validation: accuracy" in text and "confusion" in text, err
    code, text, _ = cli("eval", out, "--device", "cpu", capsys=capsys)
    assert code == 0 and "accuracy" in text and "macro-F1" in text and "precision" in text
    assert (out / "confusion-validation.png").is_file()
    code, text, _ = cli("eval", out, "--device", "cpu", "--json", "--data", layouts["csv"][1], capsys=capsys)
    # a CSV needs its column names: the default 'text' column is missing there
    assert code == 2
    code, text, _ = cli("eval", out, "--device", "cpu", "--json", "--data", layouts["folder"][1], capsys=capsys)
    report = json.loads(text)
    assert code == 0 and report["examples"] == 120 and report["split"] == "data" and report["accuracy"] > 0.8


def test_resume_from_the_cli_continues_the_run(layouts, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli("train", "classify", *layouts["files"], "--out", out, *TINY_FLAGS, capsys=capsys)
    assert code == 0, err
    code, _, err = cli("train", "--resume", out, "--max-steps", 70, "--no-progress", capsys=capsys)
    assert code == 0, err
    assert "resuming" in err and "trained 70 steps" in err


def test_char_level_learns_name_endings(tmp_path, capsys):
    irish = ["Murphy", "Kelly", "Byrne", "Ryan", "Walsh", "Doyle", "Brennan", "Lynch", "Quinn", "Kennedy"]
    greek = ["Pappas", "Nikolaidis", "Georgiou", "Dimitriou", "Karras", "Samaras", "Petrakis", "Antonopoulos",
             "Vlachos", "Christodoulou"]
    names = tmp_path / "names"
    names.mkdir()
    (names / "Irish.txt").write_text("\n".join(irish * 3), encoding="utf-8")
    (names / "Greek.txt").write_text("\n".join(greek * 3), encoding="utf-8")
    out = tmp_path / "run"
    flags = [f for f in TINY_FLAGS if f not in ("--max-steps", "60")] + ["--max-steps", "100"]
    code, _, err = cli("train", "classify", "--data", names, "--level", "char", "--out", out, *flags, capsys=capsys)
    assert code == 0, err
    assert "char tokens" in err
    vocab = json.loads((out / "vocab.json").read_text())
    assert vocab["level"] == "char" and "y" in vocab["vocab"]["tokens"]
    code, text, _ = cli("predict", out, "Nikolaidis", "Quinn", "--json", capsys=capsys)
    assert [json.loads(line)["label"] for line in text.splitlines()] == ["Greek", "Irish"]


@pytest.mark.parametrize("args, expected", [
    (["--data", "{tmp}/r.csv", "--text-column", "reviw"], "no text column 'reviw'; its columns are: review, label"),
    (["--data", "{tmp}/empty.csv"], "empty.csv is empty"),
    (["--data", "{tmp}/one.csv", "--text-column", "review"], "only one class ('pos')"),
    (["--data", "a={tmp}/mixed.txt", "--data", "b={tmp}/ok.txt"], "mixed.txt mixes encodings"),
    (["--data", "{tmp}/nowhere.csv"], "nowhere.csv does not exist"),
    (["--data", "{tmp}/r.csv", "--text-column", "review", "--pooling", "sum"], "--pooling must be one of"),
    (["--data", "{tmp}/r.csv", "--text-column", "review", "--level", "char", "--embeddings", "v.txt"],
     "--embeddings needs --level word"),
])
def test_bad_training_input_is_a_one_line_error(tmp_path, capsys, args, expected):
    (tmp_path / "r.csv").write_text("review,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    (tmp_path / "one.csv").write_text("review,label\ngood,pos\nfine,pos\n", encoding="utf-8")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    (tmp_path / "mixed.txt").write_bytes("crème\n".encode() + "café\n".encode("latin-1"))
    (tmp_path / "ok.txt").write_text("fine\n", encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, _, err = cli("train", "classify", *args, "--out", tmp_path / "run", *TINY_FLAGS, capsys=capsys)
    assert expected in one_line_error(code, err)


def test_latin1_fallback_is_reported_on_the_command_line(tmp_path, capsys):
    texts, labels = sentences(60)
    for y in ("pos", "neg"):
        body = "".join(t + (" café" if y == "neg" else "") + "\n" for t, z in zip(texts, labels) if z == y)
        (tmp_path / f"{y}.txt").write_bytes(body.encode("latin-1"))
    code, _, err = cli("train", "classify", "--data", f"pos={tmp_path / 'pos.txt'}", "--data",
                       f"neg={tmp_path / 'neg.txt'}", "--out", tmp_path / "run", *TINY_FLAGS, capsys=capsys)
    assert code == 0, err
    assert "neg.txt is not valid UTF-8" in err and "read it as Latin-1" in err
    assert "pos.txt" not in err.split("not valid UTF-8")[0].splitlines()[-1]  # pure ASCII needs no fallback


def test_predict_errors_are_one_line(layouts, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, _ = cli("train", "classify", *layouts["files"], "--out", out, *TINY_FLAGS, capsys=capsys)
    assert code == 0
    code, _, err = cli("predict", out, capsys=capsys)
    assert "nothing to label" in one_line_error(code, err)
    code, _, err = cli("predict", out, "  ", capsys=capsys)
    assert "is empty" in one_line_error(code, err.split("\n", 1)[1])
    code, _, err = cli("predict", tmp_path / "missing", "hello", capsys=capsys)
    assert "does not exist" in one_line_error(code, err)


@pytest.mark.skipif(not (SHARED_DATA / "rt-polarity").is_dir(), reason="shared data folder ../shared/data is absent")
def test_rt_polarity_reads_as_two_balanced_classes():
    from rnnkit.data.labeled import read_labeled

    d = SHARED_DATA / "rt-polarity"
    data = read_labeled([f"pos={d / 'rt-polarity.pos'}", f"neg={d / 'rt-polarity.neg'}"])
    assert data.classes == ("neg", "pos") and data.counts().tolist() == [5331, 5331]
