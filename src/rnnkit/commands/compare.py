"""``rnnkit compare``: n-gram vs neural language models on the same split and budget, as one table."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from rnnkit.commands.common import add_budget_flags

TASK = "compare"


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    p = commands.add_parser("compare", help="compare Kneser-Ney n-grams, the MLP n-gram and an LSTM on one text",
                            description="Train each model on the same split with the same budget and print "
                                        "validation bits/char, size, training time and a sample; writes "
                                        "comparison.md, comparison.png and comparison.json.")
    p.add_argument("--data", help="text file or named dataset (default: tinyshakespeare)")
    p.add_argument("--models", default="kn5,mlp-ngram,lstm", help="comma-separated: knN, mlp-ngram, lstm, gru, "
                   "mingru, minlstm (default kn5,mlp-ngram,lstm)")
    p.add_argument("--out", metavar="DIR", help="directory for the runs and the table (default runs/compare-TIME)")
    p.add_argument("--prime", help="text the samples start from (default 'ROMEO:')")
    p.add_argument("--length", type=int, help="characters to sample per model (default 200)")
    p.add_argument("--val-fraction", type=float, help="validation share at the end of the text (default 0.1)")
    p.add_argument("--device", help="auto, cpu or cuda (neural models)")
    p.add_argument("--precision", help="auto, fp32, bf16 or fp16 (neural models)")
    p.add_argument("--seed", type=int, help="seed for training and samples")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_budget_flags(p)  # --time is per neural model (default 5m)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.config import parse_duration
    from rnnkit.runs.compare import CompareConfig, compare, format_table, parse_models

    config = CompareConfig(models=parse_models(args.models))
    train = {k: getattr(args, k) for k in ("device", "precision", "seed") if getattr(args, k) is not None}
    if args.time is not None or args.max_steps is not None or args.epochs is not None:
        train.update(time=parse_duration(args.time) if args.time is not None else None,
                     max_steps=args.max_steps, epochs=args.epochs)
    top = {k: v for k, v in (("data", args.data), ("prime", args.prime), ("sample_length", args.length),
                             ("val_fraction", args.val_fraction)) if v is not None}
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train), **top)

    config.train.validate()  # one-line errors for bad budgets, devices, precisions
    out = args.out or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}"
    rows = compare(config, out, show_progress=not args.no_progress, log=lambda m: print(m, file=sys.stderr))
    print(format_table(rows), end="")
    print(f"rnnkit: wrote {out}/comparison.md, comparison.png and comparison.json", file=sys.stderr)
    return 0


__all__ = ["TASK", "add_parsers", "run"]
