"""10-fold cross-validation of rnnkit's default classifier beside linear baselines, on two public labelled sets.

rt-polarity (sentence sentiment, 2 classes): rnnkit's default vs TF-IDF word 1-2 grams + logistic regression
(C by 5-fold CV inside the training fold) and NBSVM-bi (Wang & Manning 2012, written here). names (the PyTorch
tutorial's surnames, 18 languages, ``--level char``): rnnkit vs TF-IDF char_wb 1-5 grams + logistic regression
(C by inner 3-fold CV: 18-class fits are slow). Everything sees exactly the same stratified folds
(``rnnkit.data.splits.stratified_folds``, seed ``train.seed``). rnnkit trains from scratch (no pretrained
vectors) with its defaults: the recurrent classifier early-stops on a validation split carved out of each
training fold and the wide part (NB-weighted n-gram logistic regression) is fitted on the training and
validation splits (never the test fold); the table also shows each part alone.
Its time per fold is the whole run (wide fit, recurrent training, reports); the baselines' include their C search.

    RNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_classify.py
    RNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_classify.py --only names --folds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from machine import cpu_line  # noqa: E402  (a sibling script: benchmarks/ is on sys.path)
from rnnkit.commands.common import parse_value
from rnnkit.config import merge
from rnnkit.data.labeled import read_labeled
from rnnkit.data.splits import stratified_folds
from rnnkit.runs import train
from rnnkit.tasks.classify import ClassifyConfig, fold_config

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


def tfidf_baseline(texts: list[str], labels: np.ndarray, test_idx: np.ndarray, analyzer: str = "word",
                   ngrams: tuple[int, int] = (1, 2), inner: int = 5) -> tuple[float, float]:
    """Accuracy and seconds of TF-IDF (word 1-2 grams, or ``analyzer="char_wb"`` character n-grams) + logistic
    regression trained on all but ``test_idx``, C picked from a grid by ``inner``-fold CV inside the training
    fold."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    start = time.perf_counter()
    train_idx = np.setdiff1d(np.arange(len(texts)), test_idx)
    pipe = make_pipeline(TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True, min_df=1),
                         LogisticRegression(max_iter=2000))
    model = GridSearchCV(pipe, {"logisticregression__C": [1.0, 3.0, 10.0, 30.0]}, cv=inner)
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


def row(name: str, acc: np.ndarray, secs: float | None, bold: bool = False) -> str:
    """A table row; ``secs`` None for a part timed only within the whole."""
    b = "**" if bold else ""
    when = "(in the above)" if secs is None else f"{secs:.1f} s"
    return f"| {b}{name}{b} | {b}{acc.mean():.2f}{b} | {spread(acc):.2f} | {acc.min():.2f} | {acc.max():.2f} | {when} |"


def cross_validate(title: str, sources: list[str], values: dict, args: argparse.Namespace,
                   baselines: dict[str, Callable[[list[str], np.ndarray, np.ndarray], tuple[float, float]]],
                   published: list[tuple[str, float]]) -> None:
    """The first ``args.folds`` of 10 stratified folds (seed ``train.seed``): rnnkit's default (and each of its
    parts alone) beside ``baselines``, all on the same folds; a markdown table of mean, sd and time per fold."""
    config = ClassifyConfig.from_dict(merge({"data": {"data": sources, "cv": 10}, "train": {"device": "cpu"}},
                                            merge(values, overrides(args.set))))
    data = read_labeled(sources)
    folds = stratified_folds(data.labels, 10, config.train.seed)
    out = Path(tempfile.mkdtemp(prefix="bench_classify_"))
    counts = np.bincount(data.labels)
    print(f"\n## {title}: {len(data):,} texts, {len(data.classes)} classes "
          f"(majority {counts.max() / counts.sum():.1%}), 10 stratified folds (seed {config.train.seed}; "
          f"running {args.folds}); level {config.data.level}; "
          f"torch threads {torch.get_num_threads()}; runs in {out}")
    base = {name: [fn(data.texts, data.labels, folds[i]) for i in range(args.folds)] for name, fn in baselines.items()}
    print(f"{'fold':>4}  {'rnnkit':>7}  {'recurrent':>9}  {'wide':>6}  {'rnnkit s':>8}  "
          + "  ".join(f"{name[:12]:>12}" for name in baselines), flush=True)
    ours, deep, wide, secs = [], [], [], []
    for fold in range(args.folds):  # the first folds of the 10-fold cross-validation, one run each
        summary = train("classify", fold_config(config, fold), out / "cv" / f"fold-{fold + 1:02d}",
                        show_progress=False, log=lambda m: None)
        test = summary["reports"]["test"]
        parts = test.get("parts", {"recurrent": test["accuracy"], "wide": float("nan")})
        ours.append(test["accuracy"] * 100)
        deep.append(parts["recurrent"] * 100)
        wide.append(parts["wide"] * 100)
        secs.append(summary["wall_s"])
        print(f"{fold + 1:>4}  {ours[-1]:>7.2f}  {deep[-1]:>9.2f}  {wide[-1]:>6.2f}  {secs[-1]:>8.1f}  "
              + "  ".join(f"{b[fold][0] * 100:>12.2f}" for b in base.values()), flush=True)
    ours_a = np.array(ours)
    print(f"\n| model | {args.folds}-fold CV accuracy (%) | spread (sd) | min | max | wall time per fold |")
    print("|---|---:|---:|---:|---:|---:|")
    print(row(f"rnnkit default classifier ({config.wide.weight:g} wide + {1 - config.wide.weight:g} recurrent), "
              "from scratch", ours_a, float(np.mean(secs)), bold=True))
    print(row("  its recurrent part alone", np.array(deep), None))
    print(row("  its wide part alone", np.array(wide), None))
    figures = {}
    for name, results in base.items():
        figures[name] = np.array([a for a, _ in results]) * 100
        print(row(f"{name} (same folds)", figures[name], float(np.mean([s for _, s in results]))))
    for name, figure in published:
        print(f"| {name} (published, 10-fold CV) | {figure:.1f} | | | | |")
    for name, figure in figures.items():
        print(f"rnnkit - {name}: {ours_a.mean() - figure.mean():+.2f} points; per fold: "
              + ", ".join(f"{a - b:+.1f}" for a, b in zip(ours_a, figure)))
    print(json.dumps({"rnnkit": ours_a.round(2).tolist(), "recurrent": np.round(deep, 2).tolist(),
                      "wide": np.round(wide, 2).tolist(), **{k: v.round(2).tolist() for k, v in figures.items()}}))
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


def rt_polarity(args: argparse.Namespace) -> None:
    d = DATA / "rt-polarity"
    sources = [f"pos={d / 'rt-polarity.pos'}", f"neg={d / 'rt-polarity.neg'}"]
    cross_validate("rt-polarity (sentence sentiment, 2 classes)", sources, {}, args,
                   {"TF-IDF word 1-2 grams + LR (C by inner 5-fold CV)": tfidf_baseline,
                    "NBSVM-bi (Wang & Manning 2012, written here)": nbsvm_baseline}, PUBLISHED)


def names(args: argparse.Namespace) -> None:
    """The PyTorch tutorial's surnames (one file per language, 18 classes), character level."""
    def tfidf_chars(texts: list[str], labels: np.ndarray, test_idx: np.ndarray) -> tuple[float, float]:
        return tfidf_baseline(texts, labels, test_idx, analyzer="char_wb", ngrams=(1, 5), inner=3)

    cross_validate("names (surname -> language, 18 classes)", [str(DATA / "names")], {"data": {"level": "char"}},
                   args, {"TF-IDF char_wb 1-5 grams + LR (C by inner 3-fold CV)": tfidf_chars}, [])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds", type=int, default=10, help="run only the first N of the 10 folds")
    p.add_argument("--only", choices=("rt-polarity", "names"), help="run one of the two data sets (default: both)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--keep", action="store_true", help="keep the run directories")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(cpu_line())
    if args.only in (None, "rt-polarity"):
        rt_polarity(args)
    if args.only in (None, "names"):
        names(args)


if __name__ == "__main__":
    main()
