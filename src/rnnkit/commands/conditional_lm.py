"""``rnnkit train conditional-lm``, and ``sample --condition``/``eval``/``train --resume`` for its runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rnnkit.commands.common import (
    TRAIN_FLAGS,
    add_override_flags,
    add_typed_flags,
    budget_overrides,
    report_training,
    sections,
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
    "--cell": ("model", "cell", str),
    "--hidden-size": ("model", "hidden_size", int),
    "--num-layers": ("model", "num_layers", int),
    "--embedding-size": ("model", "embedding_size", int),
    "--label-size": ("model", "label_size", int),
    "--conditioning": ("model", "conditioning", str),
    "--dropout": ("model", "dropout", float),
    "--backend": ("model", "backend", str),
    **TRAIN_FLAGS,
}
HELP = {
    "--data": "a folder with one LABEL.txt file per label (one text a line), or a CSV with label,text columns; "
              "a bare name is looked up in $RNNKIT_DATA_DIR (default: names)",
    "--level": "char (default) or word",
    "--max-len": "longest text in tokens (default 200); a longer one is an error",
    "--cell": "gru (default), lstm, rnn_tanh or rnn_relu",
    "--conditioning": "how the label enters: init (initial state), input (every step) or both (default)",
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
    add_typed_flags(p, CONDITIONAL_FLAGS, HELP)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    extra = {"data": {"balance": False}} if args.balance is False else {}
    return sections(args, CONDITIONAL_FLAGS, extra)


def train(args: argparse.Namespace) -> int:
    from rnnkit.tasks.conditional_lm import ConditionalRunConfig, train_conditional_lm

    summary = train_conditional_lm(ConditionalRunConfig.from_dict(_overrides(args)), args.out,
                                   show_progress=not args.no_progress, log=lambda m: print(m, file=sys.stderr))
    return report_training(summary, args.out, "token")


def resume(args: argparse.Namespace) -> int:
    from rnnkit.tasks.conditional_lm import resume_config, train_conditional_lm

    config = resume_config(args.resume, budget_overrides(args))
    summary = train_conditional_lm(config, args.resume, resume=True, show_progress=not args.no_progress,
                                   log=lambda m: print(m, file=sys.stderr))
    return report_training(summary, args.resume, "token")


def sample(args: argparse.Namespace) -> int:
    from rnnkit.generate import SamplingConfig
    from rnnkit.tasks.conditional_lm import load_conditional_lm
    from rnnkit.training.precision import resolve_device

    cfg = SamplingConfig(length=args.length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                         greedy=args.greedy, num_samples=args.num_samples, seed=args.seed,
                         skip_unknown=args.skip_unknown)
    sampler = load_conditional_lm(args.run_dir, resolve_device(args.device))
    sampler.label_id(args.condition)  # an unknown label fails before any work
    for text in sampler.sample(args.condition, cfg, prime=args.prime):
        print(text)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.tasks.conditional_lm import eval_conditional_lm

    result = eval_conditional_lm(args.run_dir, data=args.data, device=args.device)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"loss {result['nats_per_token']:.4f} nats/token  {result['bits_per_token']:.4f} bits/token  "
              f"perplexity {result['perplexity']:.3f}  ({result['texts']:,} texts)")
    return 0


__all__ = ["CONDITIONAL_FLAGS", "TASK", "add_parsers", "evaluate", "resume", "sample", "train"]
