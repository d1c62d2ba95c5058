"""Sequence classification: train, resume, cross-validate, evaluate and predict with a recurrent classifier.

A run directory is the Trainer's (config.json, last.pt, best.pt, metrics.jsonl, loss.png) plus
``vocab.json`` (the word or character vocabulary and the class names), ``report.json`` (validation and
test figures of the best weights) and ``confusion.png``. ``--cv K`` trains K runs in ``OUT/fold-01`` ...
(each an ordinary run whose test split is its fold) and writes ``OUT/cv.json``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit import __version__
from rnnkit import checkpoint as ckpt
from rnnkit.config import PRECISIONS, TrainConfig, build_run_config, raise_first
from rnnkit.data.labeled import LabeledData, class_weights, read_labeled, stratified_folds, stratified_split
from rnnkit.data.padded import BucketBatcher, sorted_batches
from rnnkit.data.words import TokenizerConfig, WordVocab, tokenize
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.training.plot import plot_loss
from rnnkit.training.precision import autocast, resolve_device, resolve_precision
from rnnkit.training.trainer import Trainer

TASK = "classify"
LEVELS = ("word", "char")
REPORT_FILE, CONFUSION_FILE, CV_FILE = "report.json", "confusion.png", "cv.json"

#: the classify task's training defaults (they differ from the language model's in TrainConfig)
TRAIN_DEFAULTS: dict[str, Any] = dict(batch_size=50, lr=2e-3, weight_decay=0.01, warmup_steps=50, epochs=6,
                                      patience=3, eval_every=0, precision="fp32", log_every=20)


@dataclass(frozen=True)
class ClassifyDataConfig:
    """Where the labelled text comes from, how it becomes tokens, and how it is split."""

    data: tuple[str, ...] = ()  # one table or folder, or LABEL=FILE pairs
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"
    level: str = "word"  # word tokens, or characters (for short strings: names, codes)
    lower: bool = True
    punctuation: str = "split"  # split: punctuation marks are tokens; drop: removed; keep: split on spaces only
    min_freq: int = 1
    max_vocab: int | None = None
    max_len: int | None = 400  # tokens kept from the start of each text
    val_fraction: float = 0.1  # stratified validation split of the training data (when no val files)
    val: tuple[str, ...] = ()  # a validation set in any of the data layouts
    test: tuple[str, ...] = ()  # a test set, evaluated with the best weights at the end
    class_weights: bool = False  # weight the loss by n / (C * count) for imbalanced classes
    embeddings: str | None = None  # word2vec file to initialise the word embeddings from
    cv: int = 0  # K of K-fold cross-validation this run belongs to (0: none)
    fold: int | None = None  # which fold (0-based) is this run's test split

    @property
    def tokenizer(self) -> TokenizerConfig:
        return TokenizerConfig(lower=self.lower, punctuation=self.punctuation, newlines=False)


@dataclass(frozen=True)
class ClassifyConfig:
    """A classification run: data, model and training settings."""

    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(**TRAIN_DEFAULTS))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifyConfig:
        data = dict(d.get("data", {}))
        for key in ("data", "val", "test"):
            if isinstance(data.get(key), str):
                data[key] = (data[key],)
            if key in data:
                data[key] = tuple(str(v) for v in data[key])
        return build_run_config(cls, d, data=data, train={**TRAIN_DEFAULTS, **d.get("train", {})})

    def validate(self) -> ClassifyConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        d, t = self.data, self.train
        checks = [
            (bool(d.data), "no data given; pass --data FILE.csv, --data FOLDER or --data LABEL=FILE (repeated)"),
            (d.level in LEVELS, f"--level must be word or char, got {d.level!r}"),
            (d.min_freq >= 1, f"--min-freq must be >= 1, got {d.min_freq}"),
            (d.max_len is None or d.max_len >= 1, f"--max-len must be >= 1, got {d.max_len}"),
            (0 <= d.val_fraction < 1, f"--val-fraction must be in [0, 1), got {d.val_fraction}"),
            (d.embeddings is None or d.level == "word", "--embeddings needs --level word (they are word vectors)"),
            (d.cv == 0 or d.cv >= 2, f"--cv must be >= 2 folds, got {d.cv}"),
            (t.batch_size >= 1, f"--batch-size must be >= 1, got {t.batch_size}"),
            (t.lr > 0, f"--lr must be > 0, got {t.lr}"),
            (t.eval_every >= 0, f"--eval-every must be >= 0 (0: once per epoch), got {t.eval_every}"),
            (t.patience is None or t.patience >= 1, f"--patience must be >= 1, got {t.patience}"),
            (t.max_steps or t.epochs or t.time, "give one of --max-steps, --epochs or --time"),
            (t.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, got {t.precision!r}"),
        ]
        raise_first(checks)
        TokenizerConfig(punctuation=d.punctuation).validate()
        self.model.validate()
        return self


# -- text -> ids ----------------------------------------------------------------------------------
def text_tokens(text: str, data: ClassifyDataConfig) -> list[str]:
    """The tokens of ``text``: words (with the run's tokenizer settings) or characters."""
    if data.level == "char":
        return list((text.lower() if data.lower else text).strip())
    return tokenize(text, data.tokenizer)


def encode_texts(texts: Sequence[str], vocab: WordVocab, data: ClassifyDataConfig) -> list[np.ndarray]:
    """Id arrays, truncated to ``max_len``; a text with no tokens becomes a single ``<unk>``."""
    unk = np.array([vocab.unk_id], dtype=np.int64)
    out = []
    for text in texts:
        ids = vocab.encode_tokens(text_tokens(text, data)[: data.max_len])
        out.append(ids if len(ids) else unk)
    return out


def build_vocab(texts: Sequence[str], data: ClassifyDataConfig) -> WordVocab:
    """The vocabulary of the training texts (``<pad>`` = 0, ``<unk>`` = 1)."""
    return WordVocab.build((text_tokens(t, data) for t in texts), data.min_freq, data.max_vocab,
                           data.tokenizer)


# -- metrics --------------------------------------------------------------------------------------
def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: true)."""
    n = len(classes)
    confusion = np.bincount(np.asarray(y_true) * n + np.asarray(y_pred), minlength=n * n).reshape(n, n)
    tp = np.diag(confusion).astype(np.float64)
    predicted, support = confusion.sum(0), confusion.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=precision + recall > 0)
    return {
        "examples": int(len(y_true)),
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "macro_f1": float(f1.mean()),
        "classes": list(classes),
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(support[i])} for i, c in enumerate(classes)},
        "confusion": confusion.tolist(),
    }


def format_report(report: dict[str, Any], title: str = "") -> str:
    """The report as a printable table: figures, per-class precision/recall/F1 and the confusion matrix."""
    classes = report["classes"]
    width = max(8, *(len(c) for c in classes))
    lines = [f"{title}accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}  "
             f"({report['examples']:,} examples" + (f", loss {report['loss']:.4f}" if "loss" in report else "") + ")",
             f"{'class':<{width}}  precision  recall     f1  support"]
    for c in classes:
        r = report["per_class"][c]
        lines.append(f"{c:<{width}}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:.4f}  {r['support']:7d}")
    cell = max(5, len(str(max(max(row) for row in report["confusion"]))) + 1)
    short = [c[:cell - 1] for c in classes]
    lines.append(f"confusion (rows: true, columns: predicted)\n{'':<{width}}" + "".join(f"{s:>{cell}}" for s in short))
    for c, row in zip(classes, report["confusion"]):
        lines.append(f"{c:<{width}}" + "".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines)


def plot_confusion(report: dict[str, Any], path: Path, title: str = "") -> bool:
    """Confusion matrix PNG (row-normalised colours, counts written in); False if matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    matrix = np.array(report["confusion"])
    classes = report["classes"]
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = 2.5 + 0.45 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=110)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_title(f"{title}accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return True


# -- the model at work ----------------------------------------------------------------------------
def classify_loss(model: torch.nn.Module, x: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor, state: Any,
                  weights: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
    """Cross-entropy of the logits of a padded batch ``x = (ids (B, T), lengths (B,))`` against ``y`` (B,)."""
    ids, lengths = x
    logits = model(ids, lengths)  # (B, C)
    return F.cross_entropy(logits.float(), y, weight=weights), None


@torch.inference_mode()
def predict_proba(model: SequenceClassifier, seqs: Sequence[np.ndarray], device: torch.device,
                  precision: str = "fp32", max_tokens: int = 16384) -> np.ndarray:
    """(N, C) class probabilities of the encoded sequences, computed in length-sorted batches."""
    was_training = model.training
    model.eval()
    probs = np.zeros((len(seqs), model.config.num_classes), dtype=np.float32)
    for index, ids, lengths in sorted_batches(seqs, max_tokens=max_tokens):
        with autocast(precision, device):
            logits = model(ids.to(device), lengths.to(device))  # (B, C)
        probs[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    model.train(was_training)
    return probs


def score(model: SequenceClassifier, seqs: Sequence[np.ndarray], labels: np.ndarray, classes: Sequence[str],
          device: torch.device, precision: str = "fp32") -> dict[str, Any]:
    """The classification report of ``model`` on encoded sequences, with the mean cross-entropy as ``loss``."""
    probs = predict_proba(model, seqs, device, precision)
    loss = float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12)).mean())
    return {**classification_report(labels, probs.argmax(1), classes), "loss": loss}


# -- data splits ----------------------------------------------------------------------------------
@dataclass
class Splits:
    train: LabeledData
    val: LabeledData | None
    test: LabeledData | None
    notes: list[str]


def load_splits(config: ClassifyConfig, classes: Sequence[str] | None = None) -> Splits:
    """Read the data and cut it into training, validation and test sets as the config says (deterministic)."""
    d, seed = config.data, config.train.seed
    read = dict(text_column=d.text_column, label_column=d.label_column, encoding=d.encoding)
    everything = read_labeled(d.data, classes=classes, **read)
    classes = everything.classes
    notes = list(everything.notes)
    test = None
    pool = everything
    if d.fold is not None:
        folds = stratified_folds(everything.labels, d.cv, seed)
        test = everything.subset(folds[d.fold])
        pool = everything.subset(np.setdiff1d(np.arange(len(everything)), folds[d.fold]))
    elif d.test:
        test = read_labeled(d.test, classes=classes, **read)
        notes += test.notes
    if d.val:
        val = read_labeled(d.val, classes=classes, **read)
        notes += val.notes
        train = pool
    elif d.val_fraction > 0:
        train_idx, val_idx = stratified_split(pool.labels, d.val_fraction, seed)
        train, val = pool.subset(train_idx), (pool.subset(val_idx) if len(val_idx) else None)
    else:
        train, val = pool, None
    return Splits(train, val, test, notes)


def _init_embeddings(model: SequenceClassifier, vocab: WordVocab, path: str, log: Callable) -> None:
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


def _embedding_size(config: ClassifyConfig) -> ClassifyConfig:
    """With --embeddings, the embedding size is the vectors' (a different explicit size is an error)."""
    from rnnkit.data.vectors import load_word2vec

    _, vectors = load_word2vec(config.data.embeddings)
    dim = vectors.shape[1]
    if config.model.embedding_size not in (dim, ClassifierConfig.embedding_size):
        raise RnnkitError(f"{config.data.embeddings} has {dim}-dimensional vectors but --embedding-size is "
                          f"{config.model.embedding_size}; drop --embedding-size or pass {dim}")
    return dataclasses.replace(config, model=dataclasses.replace(config.model, embedding_size=dim))


# -- training -------------------------------------------------------------------------------------
def train_classifier(config: ClassifyConfig, out: str | Path, resume: bool = False, show_progress: bool = True,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or with ``resume=True`` continue) a classifier into ``out``; returns a summary with the reports.

    With ``config.data.cv`` set and no fold chosen, runs the whole cross-validation (``cross_validate``).
    """
    out = Path(out)
    config = config.validate()
    if config.data.cv and config.data.fold is None:
        if resume:
            raise RnnkitError(f"{out} is a cross-validation folder; resume one fold: 'rnnkit train --resume "
                              f"{out / 'fold-01'}'")
        return cross_validate(config, out, show_progress=show_progress, log=log)
    device = resolve_device(config.train.device)
    precision = resolve_precision(config.train.precision, device)
    payload = None
    if resume:
        payload = ckpt.load_tensors(out / ckpt.LAST_FILE)
        stored = ckpt.load_json(out / ckpt.VOCAB_FILE)
        vocab, classes = WordVocab.from_dict(stored["vocab"]), stored["classes"]
    elif (out / ckpt.LAST_FILE).exists():
        raise RnnkitError(f"{out} already holds a run; continue it with 'rnnkit train --resume {out}' "
                          "or choose another --out")
    else:
        vocab, classes = None, None
    splits = load_splits(config, classes)
    for note in splits.notes:
        log(f"rnnkit: {note}")
    train, val, test = splits.train, splits.val, splits.test
    classes = train.classes
    if vocab is None:
        vocab = build_vocab(train.texts, config.data)
        if config.data.embeddings and not resume:
            config = _embedding_size(config)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, vocab_size=len(vocab),
                                                                   num_classes=len(classes)))
    t = config.train
    train_seqs = encode_texts(train.texts, vocab, config.data)
    val_seqs = encode_texts(val.texts, vocab, config.data) if val is not None else None

    torch.manual_seed(t.seed)
    model = SequenceClassifier(config.model).to(device)
    if config.data.embeddings and payload is None:
        _init_embeddings(model, vocab, config.data.embeddings, log)
    batcher = BucketBatcher(train_seqs, train.labels, t.batch_size, seed=t.seed)
    weights = None
    if config.data.class_weights:
        weights = torch.as_tensor(class_weights(train.labels, len(classes)), device=device)

    def loss_fn(m, x, y, state):
        return classify_loss(m, x, y, state, weights)

    evaluate = None
    if val_seqs is not None:
        def evaluate(m):
            # best.pt and early stopping go by the validation error rate ("select"): cross-entropy starts
            # rising (overconfidence) while accuracy still improves
            r = score(m, val_seqs, val.labels, classes, device, precision)
            return {"val_loss": r["loss"], "select": 1.0 - r["accuracy"], "val_accuracy": r["accuracy"],
                    "val_macro_f1": r["macro_f1"]}
    else:
        log("rnnkit: no validation split (--val-fraction 0 and no --val); best.pt will be the final weights")
    # eval_every 0 means once per epoch
    train_cfg = dataclasses.replace(t, eval_every=t.eval_every or len(batcher))
    trainer = Trainer(model, batcher, loss_fn, train_cfg, out, device, precision, evaluate=evaluate,
                      show_progress=show_progress, token_name="example")
    if payload is not None:
        trainer.load_last(payload)
        log(f"rnnkit: resuming {out} at step {trainer.state.step} (epoch {trainer.state.epoch})")
    else:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.save_json(out / ckpt.VOCAB_FILE, {"kind": "classify", "level": config.data.level,
                                               "vocab": vocab.to_dict(), "classes": list(classes)})
    batcher.seek(trainer.state.epoch, trainer.state.window)
    lengths = batcher.lengths
    meta = {"rnnkit_version": __version__, "device": str(device), "precision": precision,
            "parameters": model.num_parameters(), "train_examples": len(train),
            "val_examples": len(val) if val is not None else 0, "test_examples": len(test) if test else 0,
            "class_counts": dict(zip(classes, train.counts().tolist()))}
    ckpt.save_json(out / ckpt.CONFIG_FILE, {"task": TASK, **config.to_dict(), "meta": meta})
    log(f"rnnkit: {model.num_parameters():,} parameters, {len(vocab):,} {config.data.level} tokens, "
        f"{len(classes)} classes; {len(train):,} training, {len(val) if val else 0:,} validation"
        + (f", {len(test):,} test" if test else "") + f" examples (mean length {lengths.mean():.1f}, "
        f"max {lengths.max()}); {device.type}, {precision}, batch {batcher.batch_size}")
    started = time.monotonic()
    summary = trainer.fit()
    plot_loss(out / ckpt.METRICS_FILE, out / ckpt.PLOT_FILE, unit="example")

    model.load_state_dict(ckpt.load_tensors(ckpt.find_weights(out))["model"])
    reports: dict[str, Any] = {}
    if val_seqs is not None:
        reports["validation"] = score(model, val_seqs, val.labels, classes, device)
    if test is not None:
        reports["test"] = score(model, encode_texts(test.texts, vocab, config.data), test.labels, classes, device)
    if reports:
        ckpt.save_json(out / REPORT_FILE, reports)
        name = "test" if "test" in reports else "validation"
        plot_confusion(reports[name], out / CONFUSION_FILE, title=f"{name}: ")
    summary.update({"run_dir": str(out), "device": str(device), "precision": precision, "reports": reports,
                    "wall_s": time.monotonic() - started})
    return summary


def cross_validate(config: ClassifyConfig, out: str | Path, show_progress: bool = True,
                   log: Callable[[str], None] = print,
                   on_fold: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Stratified K-fold cross-validation: a run per fold in ``out/fold-NN``; mean and spread in ``out/cv.json``."""
    out = Path(out)
    k = config.data.cv
    if (out / CV_FILE).exists() or (out / "fold-01" / ckpt.LAST_FILE).exists():
        raise RnnkitError(f"{out} already holds a cross-validation; choose another --out")
    folds = []
    for fold in range(k):
        fold_config = dataclasses.replace(config, data=dataclasses.replace(config.data, fold=fold, test=()))
        log(f"rnnkit: fold {fold + 1}/{k}")
        summary = train_classifier(fold_config, out / f"fold-{fold + 1:02d}", show_progress=show_progress, log=log)
        test = summary["reports"]["test"]
        row = {"fold": fold + 1, "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
               "test_examples": test["examples"], "steps": summary["step"], "wall_s": summary["wall_s"]}
        folds.append(row)
        log(f"rnnkit: fold {fold + 1}/{k}: accuracy {row['accuracy']:.4f}, macro-F1 {row['macro_f1']:.4f}, "
            f"{row['steps']} steps in {row['wall_s']:.0f}s")
        if on_fold is not None:
            on_fold(fold, row)
    acc = np.array([f["accuracy"] for f in folds])
    f1 = np.array([f["macro_f1"] for f in folds])
    result = {"task": TASK, "k": k, "folds": folds, "accuracy_mean": float(acc.mean()),
              "accuracy_std": float(acc.std(ddof=1)), "macro_f1_mean": float(f1.mean()),
              "macro_f1_std": float(f1.std(ddof=1)), "wall_s": float(sum(f["wall_s"] for f in folds))}
    ckpt.save_json(out / CV_FILE, result)
    return result


def resume_config(run_dir: str | Path, train_overrides: dict[str, Any] | None = None) -> ClassifyConfig:
    """The stored config of a run, with optional new budget settings applied."""
    stored = ckpt.load_json(Path(run_dir) / ckpt.CONFIG_FILE)
    stored.pop("meta", None)
    stored.pop("task", None)
    config = ClassifyConfig.from_dict(stored)
    if train_overrides:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_overrides))
    return config


# -- using a trained run --------------------------------------------------------------------------
@dataclass
class Classifier:
    """A trained classifier with its vocabulary: ``predict(texts)`` gives class probabilities."""

    model: SequenceClassifier
    vocab: WordVocab
    classes: tuple[str, ...]
    config: ClassifyConfig
    device: torch.device

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Id arrays of ``texts`` as in training."""
        return encode_texts(texts, self.vocab, self.config.data)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) class probabilities, computed in length-sorted batches."""
        return predict_proba(self.model, self.encode(texts), self.device)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely label of each text."""
        return [self.classes[i] for i in self.predict_proba(texts).argmax(1)]

    def unknown_fraction(self, texts: Sequence[str]) -> float:
        """Fraction of the tokens of ``texts`` that are not in the vocabulary."""
        seqs = self.encode(texts)
        total = sum(len(s) for s in seqs)
        return sum(int((s == self.vocab.unk_id).sum()) for s in seqs) / max(total, 1)


def load_classifier(run_dir: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """Rebuild a trained classifier (best.pt, else last.pt) on ``device``."""
    run_dir = Path(run_dir)
    weights = ckpt.find_weights(run_dir)
    config = resume_config(run_dir)
    stored = ckpt.load_json(run_dir / ckpt.VOCAB_FILE)
    model = SequenceClassifier(config.model)
    model.load_state_dict(ckpt.load_tensors(weights)["model"])
    device = torch.device(device) if isinstance(device, str) else device
    return Classifier(model.to(device).eval(), WordVocab.from_dict(stored["vocab"]), tuple(stored["classes"]),
                      config, device)


def evaluate_run(run_dir: str | Path, data: Sequence[str] | None = None, device: str = "auto",
                 plot: bool = True) -> dict[str, Any]:
    """The report of a trained run on its test split (else validation split), or on ``data`` when given."""
    run_dir = Path(run_dir)
    clf = load_classifier(run_dir, resolve_device(device))
    d = clf.config.data
    if data:
        labeled = read_labeled(data, d.text_column, d.label_column, d.encoding, classes=clf.classes)
        name = "data"
    else:
        splits = load_splits(clf.config, clf.classes)
        labeled, name = (splits.test, "test") if splits.test is not None else (splits.val, "validation")
        if labeled is None:
            raise RnnkitError(f"{run_dir} was trained without a validation or test split; pass --data FILE")
    report = score(clf.model, clf.encode(labeled.texts), labeled.labels, clf.classes, clf.device)
    report["split"] = name
    report["notes"] = labeled.notes
    if plot:
        plot_confusion(report, run_dir / f"confusion-{name}.png", title=f"{name}: ")
    return report


__all__ = ["TASK", "TRAIN_DEFAULTS", "Classifier", "ClassifyConfig", "ClassifyDataConfig", "build_vocab",
           "classification_report", "classify_loss", "cross_validate", "encode_texts", "evaluate_run",
           "format_report", "load_classifier", "load_splits", "plot_confusion", "predict_proba", "resume_config",
           "score", "text_tokens", "train_classifier"]
