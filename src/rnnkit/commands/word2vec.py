"""``rnnkit train word2vec``, ``similar``, ``analogy`` and ``eval`` for word2vec runs (via ``rnnkit.runs``)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from rnnkit.commands.common import add_override_flags, add_typed_flags, sections, train_handler
from rnnkit.errors import RnnkitError

TASK = "word2vec"

W2V_FLAGS: dict[str, tuple[str, str, type]] = {
    "--encoding": ("data", "encoding", str),
    "--punctuation": ("data", "punctuation", str),
    "--architecture": ("model", "architecture", str),
    "--dim": ("model", "dim", int),
    "--window": ("model", "window", int),
    "--negative": ("model", "negative", int),
    "--min-count": ("model", "min_count", int),
    "--max-vocab": ("model", "max_vocab", int),
    "--subsample": ("model", "subsample", float),
    "--epochs": ("model", "epochs", int),
    "--lr": ("model", "lr", float),
    "--min-lr": ("model", "min_lr", float),
    "--batch-size": ("model", "batch_size", int),
    "--threads": ("model", "threads", int),
    "--seed": ("model", "seed", int),
}
HELP = {"--architecture": "skipgram or cbow", "--dim": "vector size",
        "--window": "largest distance to a context word (default 5; each centre draws 1..window)",
        "--negative": "noise words per pair", "--min-count": "drop rarer words",
        "--subsample": "frequent-word subsampling threshold (default 1e-3; 0: off)",
        "--lr": "initial learning rate, decayed linearly to --min-lr", "--batch-size": "pairs per update",
        "--threads": "worker threads", "--punctuation": "drop, split or keep"}


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    p = train_tasks.add_parser("word2vec", help="word vectors: skip-gram or CBOW with negative sampling",
                               description="Train word2vec vectors; saves vectors.txt and vectors.bin "
                                           "(word2vec formats, readable by gensim).")
    p.set_defaults(handler=train)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for the vectors")
    p.add_argument("--data", action="append", metavar="PATH_OR_NAME",
                   help="text file or named dataset, one sentence a line (repeat for several; default tinyshakespeare)")
    p.add_argument("--keep-case", action="store_true", help="do not lowercase the text")
    add_override_flags(p)
    add_typed_flags(p, W2V_FLAGS, HELP, config="rnnkit.tasks.word2vec:Word2VecRunConfig", budget=False)

    s = commands.add_parser("similar", help="nearest neighbours of a word in a word2vec run",
                            description="The words whose vectors are closest (cosine) to WORD's.")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("word", metavar="WORD")
    s.add_argument("--topn", type=int, default=10, help="how many neighbours (default 10)")
    s.set_defaults(handler=similar)

    a = commands.add_parser("analogy", help="A is to B as C is to ? with a word2vec run",
                            description="Answer 'A is to B as C is to ?' by B - A + C, nearest by cosine.")
    a.add_argument("run_dir", metavar="RUN_DIR")
    for name in ("a", "b", "c"):
        a.add_argument(name, metavar=name.upper())
    a.add_argument("--topn", type=int, default=5, help="how many answers (default 5)")
    a.set_defaults(handler=analogy)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, dict[str, Any]] = {"data": {}}
    if args.data:
        extra["data"]["data"] = list(args.data)
    if args.keep_case:
        extra["data"]["lowercase"] = False
    return sections(args, W2V_FLAGS, extra)


def report(summary: dict[str, Any], run_dir: Any) -> int:
    """The closing line of a word2vec run: vocabulary, corpus and speed."""
    print(f"rnnkit: {summary['vocab_size']:,} words, {summary['corpus_words']:,} corpus words in "
          f"{summary['train_seconds']:.1f}s ({summary['words_per_second']:,.0f} words/s); saved {run_dir}",
          file=sys.stderr)
    return 0


train = train_handler(TASK, _overrides, report)


def _word_vectors(args: argparse.Namespace, command: str):
    """The ``WordVectors`` predictor of the run in ``args.run_dir`` (a one-line error for another kind of run)."""
    from rnnkit.runs import open_run
    from rnnkit.runs.predictors import WordVectors

    if args.topn < 1:
        raise RnnkitError(f"--topn must be >= 1, got {args.topn}")
    run = open_run(args.run_dir)
    vectors = run.predictor()
    if not isinstance(vectors, WordVectors):
        raise RnnkitError(f"{args.run_dir} is a {run.task} run; 'rnnkit {command}' needs word vectors "
                          "(a word2vec run)")
    return vectors


def _print_neighbours(pairs: list[tuple[str, float]]) -> None:
    for word, sim in pairs:
        print(f"{word}\t{sim:.4f}")


def similar(args: argparse.Namespace) -> int:
    _print_neighbours(_word_vectors(args, "similar").similar(args.word, args.topn))
    return 0


def analogy(args: argparse.Namespace) -> int:
    _print_neighbours(_word_vectors(args, "analogy").analogy(args.a, args.b, args.c, args.topn))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.runs import evaluate as evaluate_run

    result = evaluate_run(args.run_dir, data=args.data, device="cpu")  # vectors are NumPy arrays; --device is moot
    if args.json:
        print(json.dumps(result))
        return 0
    for name, r in result.items():
        if "spearman" in r:
            rho = "n/a (fewer than 2 pairs covered)" if math.isnan(r["spearman"]) else f"{r['spearman']:.4f}"
            print(f"{name}: Spearman {rho}  coverage {r['covered']}/{r['pairs']} ({r['coverage']:.1%})")
        else:
            acc = "n/a (no question covered)" if math.isnan(r["accuracy"]) else f"{r['accuracy']:.4f}"
            print(f"{name}: accuracy {acc}  coverage {r['covered']}/{r['questions']} ({r['coverage']:.1%})")
    return 0


__all__ = ["TASK", "W2V_FLAGS", "add_parsers", "analogy", "evaluate", "report", "similar", "train"]
