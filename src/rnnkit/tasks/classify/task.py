"""``rnnkit train classify`` as a task: data, model, loss and validation for the one run lifecycle.

The classifier is two parts whose class probabilities are averaged (the wide part's share: ``wide.weight``): the
recurrent classifier the Trainer trains, and a wide part (``rnnkit.models.wide``: NB-weighted logistic regression
on binary word and character n-grams) fitted on the same training split before it. A run directory is the
Trainer's (config.json, last.pt, best.pt, metrics.jsonl, loss.png) plus ``vocab.json`` (the word or character
vocabulary, the class names and the wide part's n-grams), ``wide.pt``, ``report.json`` (validation and test
figures of the best weights, each part's accuracy under ``"parts"``) and ``confusion.png``. ``--cv K`` is made
of K runs in ``OUT/fold-01`` ... (each an ordinary run whose test split is its fold) and ``OUT/cv.json``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit import checkpoint as ckpt
from rnnkit.data.labeled import class_weights, read_labeled
from rnnkit.data.padded import BucketBatcher
from rnnkit.data.vocab import WordVocab
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.wide import NBLinear
from rnnkit.tasks.base import Context, Prepared, Task, Training
from rnnkit.tasks.classify.config import ClassifyConfig, fold_config
from rnnkit.tasks.classify.data import ClassifyVocab, Splits, build_vocab, encode_texts, load_splits
from rnnkit.tasks.classify.metrics import plot_confusion
from rnnkit.tasks.classify.predict import Classifier, mix_proba, score, score_proba
from rnnkit.tasks.classify.wide import fit_wide, load_wide, save_wide

REPORT_FILE, CONFUSION_FILE, CV_FILE = "report.json", "confusion.png", "cv.json"


def classify_loss(model: torch.nn.Module, x: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor, state: Any,
                  weights: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
    """Cross-entropy of the logits of a padded batch ``x = (ids (B, T), lengths (B,))`` against ``y`` (B,)."""
    ids, lengths = x
    logits = model(ids, lengths)  # (B, C)
    return F.cross_entropy(logits.float(), y, weight=weights), None


def init_embeddings(model: SequenceClassifier, vocab: WordVocab, path: str, log: Callable[[str], None]) -> None:
    """Copy word2vec vectors into the embedding rows of the vocabulary's words found in ``path``."""
    from rnnkit.data.vectors import load_word2vec

    words, vectors = load_word2vec(path)
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
    for i, w in enumerate(words):  # a lower-cased vocabulary still finds "Paris"
        index.setdefault(w.lower(), i)
    rows, picks = [], []
    for row, token in enumerate(vocab.tokens[2:], start=2):
        if token in index:
            rows.append(row)
            picks.append(index[token])
    if not rows:
        raise RnnkitError(f"none of the {len(vocab) - 2:,} words of the data is in {path}; "
                          "check the file or train without --embeddings")
    model.load_embeddings(vectors[picks], np.array(rows))
    log(f"rnnkit: initialised {len(rows):,} of {len(vocab) - 2:,} word embeddings from {path}")


def embedding_size(config: ClassifyConfig) -> ClassifyConfig:
    """With --embeddings, the embedding size is the vectors' (a different explicit size is an error)."""
    from rnnkit.data.vectors import load_word2vec

    _, vectors = load_word2vec(config.data.embeddings)
    dim = vectors.shape[1]
    if config.model.embedding_size not in (dim, ClassifierConfig.embedding_size):
        raise RnnkitError(f"{config.data.embeddings} has {dim}-dimensional vectors but --embedding-size is "
                          f"{config.model.embedding_size}; drop --embedding-size or pass {dim}")
    return dataclasses.replace(config, model=dataclasses.replace(config.model, embedding_size=dim))


def fold_row(fold: int, summary: dict[str, Any]) -> dict[str, Any]:
    """One fold's line of cv.json, from its run's summary."""
    test = summary["reports"]["test"]
    return {"fold": fold + 1, "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
            "test_examples": test["examples"], "steps": summary["step"], "wall_s": summary["wall_s"]}


def split_report(clf: Classifier, texts: Sequence[str], labels: np.ndarray, wide_saw: bool = False) -> dict[str, Any]:
    """The report of ``clf``'s averaged probabilities on ``texts``; with a wide part, ``"parts"`` adds the
    accuracy of each part alone. ``wide_saw``: the wide part was fitted on ``texts`` (the validation split), so
    the report is the recurrent part's alone, with a ``"note"`` saying so."""
    deep, wide = clf.deep_proba(texts), clf.wide_proba(texts)
    if wide is not None and wide_saw:
        report = score_proba(deep, labels, clf.classes)
        report["note"] = "the recurrent part alone: the wide part was fitted on these texts too"
        return report
    report = score_proba(mix_proba(deep, wide, clf.config.wide.weight), labels, clf.classes)
    if wide is not None:
        report["parts"] = {"recurrent": float((deep.argmax(1) == labels).mean()),
                           "wide": float((wide.argmax(1) == labels).mean())}
    return report


@dataclass
class ClassifyData:
    """A run's prepared data: the splits, the encoded training and validation texts, and when training began."""

    splits: Splits
    train_seqs: list[np.ndarray]
    val_seqs: list[np.ndarray] | None
    started: float = 0.0
    wide: NBLinear | None = None  # the wide part fitted by this run (None: none, or resumed from wide.pt)


class ClassifyTask(Task):
    """``rnnkit train classify``: a recurrent classifier of labelled text, at word or character level."""

    name = "classify"
    config_class = ClassifyConfig
    vocab_class = ClassifyVocab
    token = "example"
    default_time = None  # the config carries its own budget (TRAIN_DEFAULTS: 6 epochs)

    def prepare(self, config: ClassifyConfig, vocab: ClassifyVocab | None, ctx: Context, **options: Any) -> Prepared:
        started = time.monotonic()
        d = config.data
        if d.fold is not None and not ctx.resume:
            ctx.log(f"rnnkit: fold {d.fold + 1}/{d.cv}")
        splits = load_splits(config, vocab.classes if vocab is not None else None)
        for note in splits.notes:
            ctx.log(f"rnnkit: {note}")
        train, val, test = splits.train, splits.val, splits.test
        classes = tuple(train.classes)
        wide = None
        if vocab is None:
            vocab = ClassifyVocab(build_vocab(train.texts, d), classes, d.level)
            if d.embeddings:
                config = embedding_size(config)
            if config.wide.enabled:  # from the training (and validation) split only: test texts stay unseen
                texts, labels = train.texts, train.labels
                if config.wide.with_validation and val is not None:
                    texts, labels = list(texts) + list(val.texts), np.concatenate([labels, val.labels])
                vocab.ngrams, wide = fit_wide(texts, labels, len(classes), config)
                ctx.log(f"rnnkit: wide part: NB-weighted logistic regression on {len(vocab.ngrams):,} n-grams, "
                        f"{config.wide.weight:g} of the averaged probabilities")
                if ctx.dist.is_master:
                    ctx.out.mkdir(parents=True, exist_ok=True)
                    save_wide(ctx.out, wide)
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, vocab_size=len(vocab.vocab),
                                                                       num_classes=len(classes)))
        train_seqs = encode_texts(train.texts, vocab.vocab, d)
        val_seqs = encode_texts(val.texts, vocab.vocab, d) if val is not None else None
        meta = {"train_examples": len(train), "val_examples": len(val) if val is not None else 0,
                "test_examples": len(test) if test else 0,
                "class_counts": dict(zip(classes, train.counts().tolist()))}
        return Prepared(config, vocab, meta, data=ClassifyData(splits, train_seqs, val_seqs, started, wide))

    def build_model(self, config: ClassifyConfig) -> SequenceClassifier:
        return SequenceClassifier(config.model)

    def init_model(self, model: SequenceClassifier, prepared: Prepared, ctx: Context) -> None:
        if prepared.config.data.embeddings:
            init_embeddings(model, prepared.vocab.vocab, prepared.config.data.embeddings, ctx.log)

    def training(self, prepared: Prepared, ctx: Context) -> Training:
        config, vocab, data = prepared.config, prepared.vocab, prepared.data
        t, train, val, test = config.train, data.splits.train, data.splits.val, data.splits.test
        classes = vocab.classes
        batcher = BucketBatcher(data.train_seqs, train.labels, t.batch_size, seed=t.seed)
        weights = None
        if config.data.class_weights:
            weights = torch.as_tensor(class_weights(train.labels, len(classes)), device=ctx.device)

        def loss_fn(m, x, y, state):
            return classify_loss(m, x, y, state, weights)

        evaluate = None
        if data.val_seqs is not None:
            def evaluate(m):
                # best.pt and early stopping go by the validation error rate ("select"): cross-entropy starts
                # rising (overconfidence) while accuracy still improves
                r = score(m, data.val_seqs, val.labels, classes, ctx.device, ctx.precision)
                return {"val_loss": r["loss"], "select": 1.0 - r["accuracy"], "val_accuracy": r["accuracy"],
                        "val_macro_f1": r["macro_f1"]}
        else:
            ctx.log("rnnkit: no validation split (--val-fraction 0 and no --val); best.pt will be the final weights")
        lengths = batcher.lengths
        describe = (f", {len(vocab.vocab):,} {config.data.level} tokens, {len(classes)} classes; {len(train):,} "
                    f"training, {len(val) if val else 0:,} validation" + (f", {len(test):,} test" if test else "")
                    + f" examples (mean length {lengths.mean():.1f}, max {lengths.max()}); {ctx.device.type}, "
                    f"{ctx.precision}, batch {batcher.batch_size}")
        # eval_every 0 means once per epoch
        return Training(batcher, loss_fn, evaluate, describe,
                        train_config=dataclasses.replace(t, eval_every=t.eval_every or len(batcher)))

    def finish(self, prepared: Prepared, summary: dict[str, Any], ctx: Context) -> None:
        """Score the best weights on the validation and test splits: report.json, confusion.png, "reports"."""
        config, vocab, data = prepared.config, prepared.vocab, prepared.data
        model = self.load_model(ctx.out, config, vocab, ctx.device)
        wide = data.wide
        if wide is None and config.wide.enabled:
            wide = load_wide(ctx.out, vocab.ngrams, len(vocab.classes), ctx.device)
        clf = Classifier(model, vocab.vocab, vocab.classes, config, ctx.device, wide, vocab.ngrams)
        reports: dict[str, Any] = {}
        for name, split in (("validation", data.splits.val), ("test", data.splits.test)):
            if split is not None:
                reports[name] = split_report(clf, split.texts, split.labels,
                                             wide_saw=name == "validation" and config.wide.with_validation)
        if reports:
            ckpt.save_json(ctx.out / REPORT_FILE, reports)
            name = "test" if "test" in reports else "validation"
            plot_confusion(reports[name], ctx.out / CONFUSION_FILE, title=f"{name}: ")
        summary.update({"reports": reports, "wall_s": time.monotonic() - data.started})
        d = config.data
        if d.fold is not None and "test" in reports:
            row = fold_row(d.fold, summary)
            ctx.log(f"rnnkit: fold {d.fold + 1}/{d.cv}: accuracy {row['accuracy']:.4f}, macro-F1 "
                    f"{row['macro_f1']:.4f}, {row['steps']} steps in {row['wall_s']:.0f}s")
        return None

    # -- cross-validation: K runs in OUT/fold-NN, then OUT/cv.json -----------------------------------
    def subruns(self, config: ClassifyConfig) -> list[tuple[str, ClassifyConfig]] | None:
        if not config.data.cv or config.data.fold is not None:
            return None
        return [(f"fold-{k + 1:02d}", fold_config(config, k)) for k in range(config.data.cv)]

    def combine(self, config: ClassifyConfig, out: Path, summaries: list[dict[str, Any]],
                ctx: Context) -> dict[str, Any]:
        """Stratified K-fold cross-validation's mean and spread, saved as ``out/cv.json``."""
        folds = [fold_row(k, s) for k, s in enumerate(summaries)]
        acc = np.array([f["accuracy"] for f in folds])
        f1 = np.array([f["macro_f1"] for f in folds])
        result = {"task": self.name, "k": config.data.cv, "folds": folds, "accuracy_mean": float(acc.mean()),
                  "accuracy_std": float(acc.std(ddof=1)), "macro_f1_mean": float(f1.mean()),
                  "macro_f1_std": float(f1.std(ddof=1)), "wall_s": float(sum(f["wall_s"] for f in folds))}
        ckpt.save_json(out / CV_FILE, result)
        return result

    # -- a trained run -------------------------------------------------------------------------------
    def model_sizes(self, vocab: ClassifyVocab) -> dict[str, int]:
        return {"vocab_size": len(vocab.vocab), "num_classes": len(vocab.classes)}

    def predictor(self, run: Any) -> Classifier:
        vocab, config = run.vocab, run.config
        wide = load_wide(run.path, vocab.ngrams, len(vocab.classes), run.device) if config.wide.enabled else None
        return Classifier(run.model, vocab.vocab, vocab.classes, config, run.device, wide, vocab.ngrams)

    def evaluate(self, run: Any, data: str | Sequence[str] | None = None, plot: bool = True) -> dict[str, Any]:
        """The report of a trained run on its test split (else validation split), or on ``data`` when given;
        draws ``confusion-SPLIT.png`` into the run directory."""
        clf = run.predictor()
        d = run.config.data
        if data:
            sources = [data] if isinstance(data, str) else list(data)
            labeled = read_labeled(sources, d.text_column, d.label_column, d.encoding, classes=clf.classes)
            name = "data"
        else:
            splits = load_splits(run.config, clf.classes)
            labeled, name = (splits.test, "test") if splits.test is not None else (splits.val, "validation")
            if labeled is None:
                raise RnnkitError(f"{run.path} was trained without a validation or test split; pass --data FILE")
        report = split_report(clf, labeled.texts, labeled.labels,
                              wide_saw=name == "validation" and run.config.wide.with_validation)
        report["split"] = name
        report["notes"] = labeled.notes
        if plot:
            plot_confusion(report, Path(run.path) / f"confusion-{name}.png", title=f"{name}: ")
        return report


TASK = ClassifyTask()

__all__ = ["CONFUSION_FILE", "CV_FILE", "REPORT_FILE", "TASK", "ClassifyTask", "classify_loss", "embedding_size",
           "fold_row", "init_embeddings", "split_report"]
