"""``rnnkit train classify``, ``rnnkit predict``, and ``eval``/``train --resume`` for classification runs.

Training goes through ``rnnkit.runs.train`` (``train_handler``); ``predict`` and ``eval`` open the run with
``rnnkit.runs.open_run`` and ask its predictor (``rnnkit.runs.predictors.Classifier``) or the task's evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rnnkit.commands.common import (
    RECURRENT_FLAGS,
    TRAIN_FLAGS,
    add_override_flags,
    add_typed_flags,
    sections,
    train_handler,
)
from rnnkit.errors import RnnkitError

TASK = "classify"
MAX_SHOWN = 5  # classes listed per text in the plain output (--json lists all)

# flag -> (section, field, type); None defaults so only what the user typed overrides --config and the
# dataclass defaults (rnnkit.tasks.classify and rnnkit.models.classifier own every default).
CLASSIFY_FLAGS: dict[str, tuple[str, str, type]] = {
    "--text-column": ("data", "text_column", str),
    "--label-column": ("data", "label_column", str),
    "--encoding": ("data", "encoding", str),
    "--level": ("data", "level", str),
    "--punctuation": ("data", "punctuation", str),
    "--min-freq": ("data", "min_freq", int),
    "--max-vocab": ("data", "max_vocab", int),
    "--max-len": ("data", "max_len", int),
    "--val-fraction": ("data", "val_fraction", float),
    "--embeddings": ("data", "embeddings", str),
    "--cv": ("data", "cv", int),
    "--pooling": ("model", "pooling", str),
    "--embedding-dropout": ("model", "embedding_dropout", float),
    "--word-dropout": ("model", "word_dropout", float),
    "--wide-weight": ("wide", "weight", float),
    **RECURRENT_FLAGS,
    **TRAIN_FLAGS,
}
HELP = {
    "--text-column": "text column of a CSV/TSV/JSONL file",
    "--label-column": "label column of a CSV/TSV/JSONL file",
    "--encoding": "encoding of the data files (falling back to latin-1 with a notice)",
    "--level": "word or char (for short strings: names, codes)",
    "--punctuation": "split (default: punctuation marks are tokens), drop, or keep (split on spaces only)",
    "--min-freq": "keep words seen at least this often in training; others become <unk>",
    "--max-vocab": "keep at most this many tokens",
    "--max-len": "keep this many tokens from the start of each text",
    "--val-fraction": "stratified validation split of the training data when no --val",
    "--embeddings": "initialise word embeddings from this word2vec file (text or binary)",
    "--cv": "K-fold stratified cross-validation: K runs in RUN_DIR/fold-NN and RUN_DIR/cv.json",
    "--pooling": "max, mean, last or attention",
    "--dropout": "dropout before the linear head and between layers",
    "--embedding-dropout": "dropout on the embedded tokens",
    "--word-dropout": "fraction of training tokens replaced by <unk>",
    "--wide-weight": "share of the wide part (NB-weighted n-gram logistic regression, other settings: --set "
                     "wide.KEY=VALUE) in the averaged class probabilities; 0: the recurrent classifier alone",
    "--epochs": "stop after this many passes over the training data",
    "--patience": "stop after this many validations without a better validation accuracy",
    "--eval-every": "validate every N steps (default 0: once per epoch)",
    "--precision": "fp32, bf16, fp16 or auto",
    "--device": "auto, cpu or cuda",
}


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    p = train_tasks.add_parser(
        "classify", help="a sequence classifier (sentiment, topic, language of a name, ...)",
        description="Train a recurrent classifier on labelled text. Data layouts: a CSV/TSV/JSONL file with text "
                    "and label columns (--data reviews.csv); a folder with one subfolder of .txt files per label "
                    "(IMDB), or of LABEL.txt files with one example per line; or one file per label with one "
                    "example per line (--data pos=pos.txt --data neg=neg.txt).")
    p.set_defaults(handler=train)
    p.add_argument("--data", action="append", metavar="SOURCE",
                   help="FILE.csv|.tsv|.jsonl, FOLDER, or LABEL=FILE (repeat once per label)")
    p.add_argument("--val", action="append", metavar="SOURCE", help="validation data in any of the --data layouts")
    p.add_argument("--test", action="append", metavar="SOURCE", help="test data, scored with the best weights")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for checkpoints and reports")
    add_override_flags(p)
    p.add_argument("--case-sensitive", action="store_true", default=None, help="keep upper case (default: lower)")
    p.add_argument("--unidirectional", action="store_true", default=None,
                   help="read left to right only (default: bidirectional)")
    p.add_argument("--class-weights", action="store_true", default=None,
                   help="weight the loss by inverse class frequency (for imbalanced labels)")
    p.add_argument("--freeze-embeddings", action="store_true", default=None,
                   help="keep the --embeddings vectors fixed (default: fine-tune them)")
    add_typed_flags(p, CLASSIFY_FLAGS, HELP, config="rnnkit.tasks.classify:ClassifyConfig")

    pr = commands.add_parser("predict", help="label texts with a trained classifier",
                             description="Label texts with a trained classifier: the label and the probability "
                                         "of every class, one line per text (JSON lines with --json).")
    pr.set_defaults(handler=predict)
    pr.add_argument("run_dir", metavar="RUN_DIR")
    pr.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label")
    pr.add_argument("--input", metavar="FILE", help="label every line of FILE ('-': standard input)")
    pr.add_argument("--json", action="store_true", help="one JSON object per text")
    pr.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config sections the flags give (--config < flags < --set)."""
    extra: dict[str, dict[str, Any]] = {}
    for key in ("data", "val", "test"):
        if getattr(args, key):
            extra.setdefault("data", {})[key] = list(getattr(args, key))
    flags = {"case_sensitive": ("data", "lower", False), "unidirectional": ("model", "bidirectional", False),
             "class_weights": ("data", "class_weights", True),
             "freeze_embeddings": ("model", "freeze_embeddings", True)}
    for name, (section, field, value) in flags.items():
        if getattr(args, name):
            extra.setdefault(section, {})[field] = value
    return sections(args, CLASSIFY_FLAGS, extra)


def report(summary: dict[str, Any], run_dir: Any) -> int:
    """The reports of a run (or the cross-validation's figures) on stdout, and the closing line."""
    if "folds" in summary:  # cross-validation
        print(f"{summary['k']}-fold cross-validation: accuracy {summary['accuracy_mean']:.4f} "
              f"± {summary['accuracy_std']:.4f}, macro-F1 {summary['macro_f1_mean']:.4f} "
              f"± {summary['macro_f1_std']:.4f} ({summary['wall_s']:.0f}s); saved {run_dir}")
        return 0
    from rnnkit.tasks.classify import format_report

    for name, figures in summary["reports"].items():
        print(format_report(figures, title=f"{name}: "))
    _log(f"rnnkit: trained {summary['step']} steps in {summary['elapsed']:.0f}s; saved {run_dir}")
    return 0


train = train_handler(TASK, _overrides, report)


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.runs import evaluate as evaluate_run
    from rnnkit.tasks.classify import format_report

    result = evaluate_run(args.run_dir, data=args.data, device=args.device)
    for note in result.pop("notes"):
        _log(f"rnnkit: {note}")
    if args.json:
        print(json.dumps(result))
    else:
        print(format_report(result, title=f"{result['split']}: "))
    return 0


def _read_inputs(args: argparse.Namespace) -> tuple[list[str], str]:
    """The texts to label and where they came from ('argument' or the file name)."""
    from rnnkit.data.labeled import decode

    if args.input and args.texts:
        raise RnnkitError("give texts as arguments or --input FILE, not both")
    if args.input:
        if args.input == "-":
            raw = sys.stdin.buffer.read()
        else:
            try:
                with open(args.input, "rb") as f:
                    raw = f.read()
            except OSError as e:
                raise RnnkitError(f"cannot read --input {args.input}: {e.strerror or e}") from e
        notes: list[str] = []
        text = decode(raw, args.input, notes=notes)
        for note in notes:
            _log(f"rnnkit: {note}")
        return text.splitlines(), args.input
    if not args.texts:
        raise RnnkitError("nothing to label; pass texts as arguments or --input FILE")
    return list(args.texts), "argument"


def predict(args: argparse.Namespace) -> int:
    import numpy as np

    from rnnkit.runs import open_run
    from rnnkit.runs.predictors import Classifier

    texts, source = _read_inputs(args)
    run = open_run(args.run_dir, args.device)
    clf = run.predictor() if run.task == TASK else None
    if not isinstance(clf, Classifier):
        raise RnnkitError(f"'rnnkit predict' labels texts with a classifier; {args.run_dir} is a {run.task} run")
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        where = "line" if source != "argument" else "text"
        listed = ", ".join(str(i + 1) for i in empty[:10]) + (", ..." if len(empty) > 10 else "")
        _log(f"rnnkit: skipped {len(empty)} empty {where}{'s' if len(empty) > 1 else ''} ({where} {listed})")
    keep = [i for i, t in enumerate(texts) if t.strip()]
    if not keep:
        raise RnnkitError(f"every {'line of ' + source if source != 'argument' else 'text'} is empty; "
                          "give some text to label")
    probs = clf.predict_proba([texts[i] for i in keep])  # (N, C)
    out = sys.stdout
    for row, i in enumerate(keep):
        label = clf.classes[int(probs[row].argmax())]
        if args.json:
            out.write(json.dumps({"line": i + 1, "text": texts[i], "label": label,
                                  "probabilities": {c: round(float(p), 6) for c, p in zip(clf.classes, probs[row])}})
                      + "\n")
        else:
            top = np.argsort(-probs[row])[:MAX_SHOWN]  # the most likely classes first
            shown = "  ".join(f"{clf.classes[j]}={probs[row, j]:.3f}" for j in top)
            out.write(f"{label}\t{shown}\t{texts[i]}\n")
    out.flush()
    return 0


__all__ = ["CLASSIFY_FLAGS", "TASK", "add_parsers", "evaluate", "predict", "report", "train"]
