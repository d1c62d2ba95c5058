"""``rnnkit train ngram``, and ``sample``/``eval`` for Kneser-Ney n-gram runs (through ``rnnkit.runs``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rnnkit.commands.common import add_override_flags, add_typed_flags, sections, train_handler
from rnnkit.errors import RnnkitError

TASK = "ngram"

NGRAM_FLAGS: dict[str, tuple[str, str, type]] = {
    "--data": ("data", "data", str),
    "--level": ("data", "level", str),
    "--encoding": ("data", "encoding", str),
    "--val-fraction": ("data", "val_fraction", float),
    "--min-freq": ("data", "min_freq", int),
    "--max-vocab": ("data", "max_vocab", int),
    "--punctuation": ("data", "punctuation", str),
    "--order": ("model", "order", int),
}
HELP = {"--data": "text file, or a named dataset",
        "--level": "char or word", "--order": "n of the n-gram: tokens of context + 1",
        "--min-freq": "word level: rarer words become <unk>", "--max-vocab": "word level: keep this many words",
        "--punctuation": "word level: split, drop or keep"}


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    p = train_tasks.add_parser("ngram", help="a count-based Kneser-Ney n-gram language model",
                               description="Count an interpolated modified Kneser-Ney n-gram model of a text.")
    p.set_defaults(handler=train)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for the model")
    add_override_flags(p)
    p.add_argument("--lowercase", action="store_true", default=None, help="word level: lowercase the text")
    p.add_argument("--keep-crlf", action="store_true", default=None,
                    help="keep Windows line endings (CRLF) as they are (default: read them as LF, saying so)")
    add_typed_flags(p, NGRAM_FLAGS, HELP, config="rnnkit.tasks.ngram:NgramRunConfig", budget=False)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    data = {**({"lowercase": True} if args.lowercase else {}), **({"keep_crlf": True} if args.keep_crlf else {})}
    return sections(args, NGRAM_FLAGS, {"data": data} if data else None)


def report(summary: dict[str, Any], run_dir: Any) -> int:
    """The closing line of counting an n-gram model: its time and validation scores."""
    val = summary["validation"]
    tail = (f"; validation {val['nats_per_token']:.4f} nats/token ({val['bits_per_token']:.4f} bits/token, "
            f"perplexity {val['perplexity']:.2f})" if val else "")
    print(f"rnnkit: counted in {summary['elapsed']:.1f}s{tail}; saved {run_dir}", file=sys.stderr)
    return 0


train = train_handler(TASK, _overrides, report)


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.runs import evaluate as evaluate_run

    result = evaluate_run(args.run_dir, data=args.data, device="cpu")  # counts live on the CPU; --device is moot
    if args.json:
        print(json.dumps(result))
    else:
        print(f"loss {result['nats_per_token']:.4f} nats/token  {result['bits_per_token']:.4f} bits/token  "
              f"perplexity {result['perplexity']:.3f}  ({result['tokens']:,} tokens)")
    return 0


def sample(args: argparse.Namespace) -> int:
    from rnnkit.generate import SamplingConfig
    from rnnkit.runs import open_run

    if args.condition is not None:
        raise RnnkitError(f"{args.run_dir} is an unconditioned n-gram model; drop --condition")
    cfg = SamplingConfig(length=args.length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                         greedy=args.greedy, num_samples=args.num_samples, seed=args.seed,
                         skip_unknown=args.skip_unknown)
    texts = open_run(args.run_dir).predictor().generate(args.prime, cfg)  # on the CPU, whatever --device
    for i, text in enumerate(texts):
        print(text if len(texts) == 1 else f"--- sample {i + 1} ---\n{text}")
    return 0


__all__ = ["NGRAM_FLAGS", "TASK", "add_parsers", "evaluate", "report", "sample", "train"]
