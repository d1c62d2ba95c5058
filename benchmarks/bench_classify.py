"""rt-polarity 10-fold cross-validation: rnnkit's default classifier beside TF-IDF + LR and NBSVM-bi baselines.

Both see exactly the same stratified folds (``rnnkit.data.labeled.stratified_folds``). rnnkit trains from
scratch (no pretrained vectors) with its defaults, early-stopping on a validation split carved out of each
training fold; the baseline is scikit-learn's TfidfVectorizer (word uni+bigrams) + LogisticRegression fitted on
the whole training fold (C by 5-fold CV inside it), and NBSVM-bi (Wang & Manning 2012) on word uni+bigrams.
Prints a table per fold (accuracy, wall time) and the mean and spread.

    RNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_classify.py
    RNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_classify.py --folds 2 --set train.epochs=2

With ``--names`` it instead trains ``--level char`` on the names data set (one file per language) and reports
accuracy on a stratified held-out 10%.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit.commands.common import parse_value
from rnnkit.config import merge
from rnnkit.data.labeled import read_labeled
from rnnkit.data.splits import stratified_folds, stratified_split
from rnnkit.runs import train
from rnnkit.tasks.classify import ClassifyConfig, fold_config, fold_row

DATA = Path(os.environ.get("RNNKIT_DATA_DIR", "../shared/data"))
PUBLISHED = [("Kim 2014 CNN-rand", 76.1), ("Wang & Manning 2012 NBSVM-bi", 79.4),
             ("Kim 2014 CNN-non-static (word2vec)", 81.5)]


def spread(a: np.ndarray) -> float:
    """Sample standard deviation (0 for one value)."""
    return float(a.std(ddof=1)) if len(a) > 1 else 0.0


def overrides(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, _, raw = item.partition("=")
        section, _, name = key.partition(".")
        out = merge(out, {section: {name: parse_value(raw)}})
    return out


def tfidf_baseline(texts: list[str], labels: np.ndarray, test_idx: np.ndarray) -> tuple[float, float]:
    """Accuracy and seconds of TF-IDF (word 1-2 grams) + logistic regression trained on all but ``test_idx``,
    C picked from a grid by 5-fold CV inside the training fold."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    start = time.perf_counter()
    train_idx = np.setdiff1d(np.arange(len(texts)), test_idx)
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                         LogisticRegression(max_iter=2000))
    model = GridSearchCV(pipe, {"logisticregression__C": [1.0, 3.0, 10.0, 30.0]}, cv=5)
    model.fit([texts[i] for i in train_idx], labels[train_idx])
    acc = float((model.predict([texts[i] for i in test_idx]) == labels[test_idx]).mean())
    return acc, time.perf_counter() - start


def nbsvm_baseline(texts: list[str], labels: np.ndarray, test_idx: np.ndarray, alpha: float = 1.0,
                   c: float = 1.0, beta: float = 0.25) -> tuple[float, float]:
    """Accuracy and seconds of NBSVM-bi (Wang & Manning 2012) trained on all but ``test_idx`` (two classes).

    Binarized word uni+bigram counts x, log-count ratio r = log((p / |p|_1) / (q / |q|_1)) with
    p = alpha + sum of x over positive examples, q likewise over negative ones; a linear SVM (C = ``c``) on
    x * r, its weights interpolated w' = (1 - beta) * mean|w| + beta * w (the paper's settings).
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.svm import LinearSVC

    start = time.perf_counter()
    train_idx = np.setdiff1d(np.arange(len(texts)), test_idx)
    vec = CountVectorizer(ngram_range=(1, 2), binary=True, token_pattern=r"[^\s]+")
    x = vec.fit_transform([texts[i] for i in train_idx]).astype(np.float64)  # (N, F)
    y = labels[train_idx]
    p = alpha + np.asarray(x[y == 1].sum(0)).ravel()
    q = alpha + np.asarray(x[y == 0].sum(0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum()))  # (F,)
    svm = LinearSVC(C=c).fit(x.multiply(r).tocsr(), y)
    w = svm.coef_.ravel()
    w = (1 - beta) * np.abs(w).mean() + beta * w
    xt = vec.transform([texts[i] for i in test_idx]).astype(np.float64)
    pred = (np.asarray(xt.multiply(r) @ w).ravel() + svm.intercept_[0] > 0).astype(int)
    return float((pred == labels[test_idx]).mean()), time.perf_counter() - start


def rt_polarity(args: argparse.Namespace) -> None:
    d = DATA / "rt-polarity"
    sources = [f"pos={d / 'rt-polarity.pos'}", f"neg={d / 'rt-polarity.neg'}"]
    values = merge({"data": {"data": sources, "cv": 10}, "train": {"device": "cpu"}}, overrides(args.set))
    config = ClassifyConfig.from_dict(values)
    data = read_labeled(sources)
    folds = stratified_folds(data.labels, 10, config.train.seed)
    baseline = [tfidf_baseline(data.texts, data.labels, folds[i]) for i in range(args.folds)]
    nbsvm = [nbsvm_baseline(data.texts, data.labels, folds[i]) for i in range(args.folds)]
    out = Path(tempfile.mkdtemp(prefix="bench_classify_"))
    print(f"rt-polarity: {len(data):,} sentences, 10 stratified folds (running {args.folds}); "
          f"torch threads {torch.get_num_threads()}; runs in {out}")
    print(f"{'fold':>4}  {'rnnkit acc':>10}  {'steps':>5}  {'rnnkit s':>8}  {'tfidf+LR acc':>12}  {'tfidf s':>7}",
          flush=True)
    rows = []
    for fold in range(args.folds):  # the first folds of the 10-fold cross-validation, one run each
        summary = train("classify", fold_config(config, fold), out / "cv" / f"fold-{fold + 1:02d}",
                        show_progress=False, log=lambda m: None)
        row = fold_row(fold, summary)
        acc, secs = baseline[fold]
        rows.append((row, acc, secs))
        print(f"{fold + 1:>4}  {row['accuracy'] * 100:>10.2f}  {row['steps']:>5}  {row['wall_s']:>8.1f}  "
              f"{acc * 100:>12.2f}  {secs:>7.2f}  {nbsvm[fold][0] * 100:>12.2f}", flush=True)
    ours = np.array([r[0]["accuracy"] for r in rows]) * 100
    base = np.array([r[1] for r in rows]) * 100
    nb = np.array([a for a, _ in nbsvm]) * 100
    print(f"\n| model | {len(rows)}-fold CV accuracy (%) | spread (sd) | min | max | wall time per fold |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| **rnnkit default classifier, from scratch** | **{ours.mean():.2f}** | {spread(ours):.2f} | "
          f"{ours.min():.2f} | {ours.max():.2f} | {np.mean([r[0]['wall_s'] for r in rows]):.0f} s |")
    print(f"| TF-IDF word 1-2 grams + logistic regression (same folds) | {base.mean():.2f} | {spread(base):.2f} | "
          f"{base.min():.2f} | {base.max():.2f} | {np.mean([r[2] for r in rows]):.1f} s |")
    print(f"| NBSVM-bi (Wang & Manning 2012, written here; same folds) | {nb.mean():.2f} | {spread(nb):.2f} | "
          f"{nb.min():.2f} | {nb.max():.2f} | {np.mean([s for _, s in nbsvm]):.1f} s |")
    for name, figure in PUBLISHED:
        print(f"| {name} (published, 10-fold CV) | {figure:.1f} | | | | |")
    print(f"\nrnnkit - baseline: {ours.mean() - base.mean():+.2f} points; per fold: "
          + ", ".join(f"{a - b:+.1f}" for a, b in zip(ours, base)))
    print(json.dumps({"rnnkit": ours.round(2).tolist(), "tfidf": base.round(2).tolist(),
                      "nbsvm_bi": nb.round(2).tolist()}))
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


def names(args: argparse.Namespace) -> None:
    folder = DATA / "names"
    data = read_labeled([str(folder)])
    # a stratified 10% held out as a test set that neither training nor checkpoint selection sees;
    # the run carves its own validation split (10%) out of the remaining 90%
    rest, held = stratified_split(data.labels, 0.1, 1337)
    work = Path(tempfile.mkdtemp(prefix="bench_names_"))
    for name, index in (("train.csv", rest), ("test.csv", held)):
        with open(work / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows((data.texts[i], data.classes[data.labels[i]]) for i in index)
    values = merge({"data": {"data": [str(work / "train.csv")], "test": [str(work / "test.csv")], "level": "char",
                             "val_fraction": 0.1},
                    "train": {"device": "cpu"}}, overrides(args.set))
    config = ClassifyConfig.from_dict(values)
    out = work / "run"
    start = time.perf_counter()
    summary = train("classify", config, out, show_progress=False, log=lambda m: None)
    wall = time.perf_counter() - start
    report = summary["reports"]["test"]
    counts = np.bincount(data.labels[held])
    print(f"names: {len(data):,} surnames, {len(data.classes)} languages; held-out test {len(held):,} "
          f"(stratified 10%, unseen in training and selection); torch threads {torch.get_num_threads()}")
    print(f"rnnkit --level char: test accuracy {report['accuracy'] * 100:.2f}%, macro-F1 "
          f"{report['macro_f1'] * 100:.2f}%, {summary['step']} steps, {wall:.0f} s; "
          f"majority class {counts.max() / counts.sum() * 100:.2f}%")
    for c in report["classes"]:
        r = report["per_class"][c]
        print(f"  {c:<12} precision {r['precision']:.3f}  recall {r['recall']:.3f}  support {r['support']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds", type=int, default=10, help="run only the first N of the 10 folds")
    p.add_argument("--names", action="store_true", help="the names (char-level) benchmark instead")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--keep", action="store_true", help="keep the run directories")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    (names if args.names else rt_polarity)(args)


if __name__ == "__main__":
    main()
