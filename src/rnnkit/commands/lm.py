"""``rnnkit train lm``, and ``sample``/``eval``/``train --resume`` for language-model runs."""

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
    report_training,
    sections,
    train_handler,
)
from rnnkit.errors import RnnkitError

TASK = "lm"

# flag -> (section, field, type); flags default to None so that only what the user typed overrides
# the --config file and the dataclass defaults (rnnkit.tasks.lm owns every default).
LM_FLAGS: dict[str, tuple[str, str, type]] = {
    "--data": ("data", "data", str),
    "--level": ("data", "level", str),
    "--encoding": ("data", "encoding", str),
    "--val-fraction": ("data", "val_fraction", float),
    "--batching": ("data", "batching", str),
    "--min-freq": ("data", "min_freq", int),
    "--max-vocab": ("data", "max_vocab", int),
    "--punctuation": ("data", "punctuation", str),
    "--embeddings": ("data", "embeddings", str),
    "--model": ("model", "model", str),
    "--context": ("model", "context", int),
    "--weight-drop": ("model", "weight_drop", float),
    "--token-dropout": ("model", "token_dropout", float),
    "--seq-len": ("train", "seq_len", int),
    "--eval-tokens": ("train", "eval_tokens", int),
    **RECURRENT_FLAGS,
    **TRAIN_FLAGS,
}
HELP = {"--data": "text file, or a named dataset",
        "--level": "char or word (words, punctuation marks and line breaks are tokens)",
        "--min-freq": "word level: words seen fewer times in training become <unk>",
        "--max-vocab": "word level: keep at most this many words",
        "--punctuation": "word level: split (marks are tokens), drop, or keep (split on spaces only)",
        "--embeddings": "word level: initialise the embedding from a word2vec file (text or binary)",
        "--model": "rnn or mlp-ngram (a feed-forward net over the last --context tokens)",
        "--context": "tokens of context of --model mlp-ngram",
        "--weight-drop": "DropConnect on the hidden-to-hidden weights, one mask per batch (AWD-LSTM)",
        "--token-dropout": "per batch, zero the embeddings of this fraction of the vocabulary (AWD-LSTM)",
}


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    lm = train_tasks.add_parser("lm", help="a character- or word-level language model over a text file",
                                description="Train a recurrent language model on a text file or a named dataset.")
    lm.set_defaults(handler=train)
    lm.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for checkpoints and logs")
    add_override_flags(lm)
    lm.add_argument("--tie-weights", action="store_true", default=None, help="share embedding and output weights")
    lm.add_argument("--locked-dropout", action="store_true", default=None,
                    help="draw --dropout's masks once per sequence, the same at every step (variational)")
    lm.add_argument("--lowercase", action="store_true", default=None, help="word level: lower-case the text")
    lm.add_argument("--keep-crlf", action="store_true", default=None,
                    help="keep Windows line endings (CRLF) as they are (default: read them as LF, saying so)")
    lm.add_argument("--random-windows", action="store_const", const="random", dest="batching",
                    help="sample random windows instead of stateful streams")
    lm.add_argument("--batching", dest="batching", choices=["stream", "random"], help="stream (default) or random")
    add_typed_flags(lm, LM_FLAGS, HELP, skip=("--batching",), config="rnnkit.tasks.lm:RunConfig")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, dict[str, Any]] = {}
    if args.tie_weights:
        extra["model"] = {"tie_weights": True}
    if args.locked_dropout:
        extra.setdefault("model", {})["locked_dropout"] = True
    if args.lowercase:
        extra["data"] = {"lowercase": True}
    if args.keep_crlf:
        extra.setdefault("data", {})["keep_crlf"] = True
    return sections(args, LM_FLAGS, extra)


def report(summary: dict[str, Any], run_dir: Any) -> int:
    """The closing line of a language-model training run."""
    return report_training(summary, run_dir, summary["token"])


train = train_handler(TASK, _overrides, report)


def sample(args: argparse.Namespace) -> int:
    from rnnkit.generate import SamplingConfig
    from rnnkit.runs import open_run

    cfg = SamplingConfig(length=args.length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                         greedy=args.greedy, num_samples=args.num_samples, seed=args.seed,
                         skip_unknown=args.skip_unknown, precision=args.precision)
    if args.condition is not None:
        raise RnnkitError(f"{args.run_dir} is an unconditioned language model; drop --condition")
    run = open_run(args.run_dir, args.device)
    generator = run.predictor()
    out = sys.stdout
    dropped = set(run.vocab.unknown(args.prime)) if args.skip_unknown else set()
    pending_prime = ["".join(c for c in args.prime if c not in dropped)]  # printed once the prime is accepted

    def stream(piece: str) -> None:
        out.write(pending_prime.pop() + piece if pending_prime else piece)
        out.flush()

    if cfg.num_samples == 1:
        generator.generate(args.prime, cfg, stream=stream)
        out.write((pending_prime.pop() if pending_prime else "") + "\n")
    else:
        for i, text in enumerate(generator.generate(args.prime, cfg)):
            out.write(f"--- sample {i + 1} ---\n{text}\n")
    out.flush()
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.runs import evaluate as evaluate_run

    result = evaluate_run(args.run_dir, data=args.data, device=args.device)
    if args.json:
        print(json.dumps(result))
    else:
        unit = result["token"]
        print(f"loss {result['nats_per_token']:.4f} nats/{unit}  {result['bits_per_token']:.4f} bits/{unit}  "
              f"perplexity {result['perplexity']:.3f}  ({result['tokens']:,} {unit}s)")
    return 0


__all__ = ["LM_FLAGS", "TASK", "add_parsers", "evaluate", "report", "sample", "train"]
