"""``rnnkit train conditional-lm``, and ``sample --condition``/``eval``/``train --resume`` for its runs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rnnkit.commands.common import (
    RECURRENT_FLAGS,
    TRAIN_FLAGS,
    add_override_flags,
    add_typed_flags,
    report_training,
    sections,
    train_handler,
)

TASK = "conditional-lm"

# flag -> (section, field, type); None defaults so that only typed flags override --config and the dataclasses
CONDITIONAL_FLAGS: dict[str, tuple[str, str, type]] = {
    "--data": ("data", "data", str),
    "--level": ("data", "level", str),
    "--encoding": ("data", "encoding", str),
    "--val-fraction": ("data", "val_fraction", float),
    "--data-seed": ("data", "data_seed", int),
    "--max-len": ("data", "max_len", int),
    "--label-size": ("model", "label_size", int),
    "--conditioning": ("model", "conditioning", str),
    **RECURRENT_FLAGS,
    **TRAIN_FLAGS,
}
HELP = {
    "--data": "a folder with one LABEL.txt file per label (one text a line), or a CSV with label,text columns; "
              "a bare name is looked up in $RNNKIT_DATA_DIR",
    "--level": "char or word",
    "--max-len": "longest text in tokens; a longer one is an error",
    "--cell": "gru, lstm, rnn_tanh, rnn_relu, or the parallel-scan mingru or minlstm",
    "--conditioning": "how the label enters: init (initial state), input (every step) or both",
}


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    p = train_tasks.add_parser("conditional-lm", help="a language model conditioned on a label (names by language)",
                               description="Train a recurrent language model conditioned on a label, from one "
                                           "file per label or a label,text CSV; sample with --condition LABEL.")
    p.set_defaults(handler=train)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for checkpoints and logs")
    add_override_flags(p)
    p.add_argument("--no-balance", action="store_const", const=False, dest="balance",
                   help="draw texts as often as they occur (default: every label equally often)")
    add_typed_flags(p, CONDITIONAL_FLAGS, HELP, config="rnnkit.tasks.conditional_lm:ConditionalRunConfig")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    extra = {"data": {"balance": False}} if args.balance is False else {}
    return sections(args, CONDITIONAL_FLAGS, extra)


def report(summary: dict[str, Any], run_dir: Any) -> int:
    """The closing line of a conditional-LM training run."""
    return report_training(summary, run_dir, "token")


train = train_handler(TASK, _overrides, report)


def sample(args: argparse.Namespace) -> int:
    from rnnkit.generate import SamplingConfig
    from rnnkit.runs import open_run

    cfg = SamplingConfig(length=args.length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                         greedy=args.greedy, num_samples=args.num_samples, seed=args.seed,
                         skip_unknown=args.skip_unknown)
    for text in open_run(args.run_dir, args.device).predictor().generate(args.prime, cfg, condition=args.condition):
        print(text)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.runs import evaluate as evaluate_run

    result = evaluate_run(args.run_dir, data=args.data, device=args.device)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"loss {result['nats_per_token']:.4f} nats/token  {result['bits_per_token']:.4f} bits/token  "
              f"perplexity {result['perplexity']:.3f}  ({result['texts']:,} texts)")
    return 0


__all__ = ["CONDITIONAL_FLAGS", "TASK", "add_parsers", "evaluate", "report", "sample", "train"]
