"""``rnnkit train ngram``, and ``sample``/``eval`` for Kneser-Ney n-gram runs."""

from __future__ import annotations

import argparse
import json
import sys

from rnnkit.commands.common import add_override_flags, sections
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
HELP = {"--data": "text file, or a named dataset (default: tinyshakespeare)",
        "--level": "char (default) or word", "--order": "n of the n-gram: tokens of context + 1 (default 5)",
        "--min-freq": "word level: rarer words become <unk>", "--max-vocab": "word level: keep this many words",
        "--punctuation": "word level: split (default), drop or keep"}


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    p = train_tasks.add_parser("ngram", help="a count-based Kneser-Ney n-gram language model",
                               description="Count an interpolated modified Kneser-Ney n-gram model of a text.")
    p.set_defaults(handler=train)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for the model")
    add_override_flags(p)
    p.add_argument("--lowercase", action="store_true", default=None, help="word level: lowercase the text")
    for flag, (_, name, kind) in NGRAM_FLAGS.items():
        p.add_argument(flag, type=kind, dest=name, help=HELP.get(flag))


def train(args: argparse.Namespace) -> int:
    from rnnkit.tasks.ngram import NgramRunConfig, train_ngram

    values = sections(args, NGRAM_FLAGS, {"data": {"lowercase": True}} if args.lowercase else None)
    summary = train_ngram(NgramRunConfig.from_dict(values), args.out, log=lambda m: print(m, file=sys.stderr))
    val = summary["validation"]
    tail = (f"; validation {val['nats_per_token']:.4f} nats/token ({val['bits_per_token']:.4f} bits/token, "
            f"perplexity {val['perplexity']:.2f})" if val else "")
    print(f"rnnkit: counted in {summary['elapsed']:.1f}s{tail}; saved {args.out}", file=sys.stderr)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.tasks.ngram import eval_ngram

    result = eval_ngram(args.run_dir, data=args.data)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"loss {result['nats_per_token']:.4f} nats/token  {result['bits_per_token']:.4f} bits/token  "
              f"perplexity {result['perplexity']:.3f}  ({result['tokens']:,} tokens)")
    return 0


def sample(args: argparse.Namespace) -> int:
    from rnnkit.tasks.ngram import load_ngram, sample_ngram

    if args.condition is not None:
        raise RnnkitError(f"{args.run_dir} is an unconditioned n-gram model; drop --condition")
    if args.length < 0:
        raise RnnkitError(f"--length must be >= 0, got {args.length}")
    model, vocab, _ = load_ngram(args.run_dir)
    prime = args.prime
    if args.skip_unknown:
        dropped = set(vocab.unknown(prime))
        prime = "".join(c for c in prime if c not in dropped)
    temperature = 1.0 if args.greedy else args.temperature
    top_k = 1 if args.greedy else args.top_k
    for i in range(args.num_samples):
        seed = None if args.seed is None else args.seed + i
        text = sample_ngram(model, vocab, prime, args.length, temperature, top_k, args.top_p, seed)
        print(text if args.num_samples == 1 else f"--- sample {i + 1} ---\n{text}")
    return 0


__all__ = ["NGRAM_FLAGS", "TASK", "add_parsers", "evaluate", "sample", "train"]
