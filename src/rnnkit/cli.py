"""The ``rnnkit`` command: parses arguments, then calls the tasks. No training logic lives here."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from rnnkit import __version__
from rnnkit.errors import RnnkitError

EXIT_USER_ERROR, EXIT_INTERRUPTED = 2, 130

# flag -> (section, field); flags default to None so that only what the user typed overrides
# the --config file and the dataclass defaults (rnnkit.config owns every default).
LM_FLAGS: dict[str, tuple[str, str, type]] = {
    "--data": ("data", "data", str),
    "--level": ("data", "level", str),
    "--encoding": ("data", "encoding", str),
    "--val-fraction": ("data", "val_fraction", float),
    "--batching": ("data", "batching", str),
    "--cell": ("model", "cell", str),
    "--hidden-size": ("model", "hidden_size", int),
    "--num-layers": ("model", "num_layers", int),
    "--embedding-size": ("model", "embedding_size", int),
    "--dropout": ("model", "dropout", float),
    "--backend": ("model", "backend", str),
    "--seq-len": ("train", "seq_len", int),
    "--batch-size": ("train", "batch_size", int),
    "--lr": ("train", "lr", float),
    "--weight-decay": ("train", "weight_decay", float),
    "--warmup-steps": ("train", "warmup_steps", int),
    "--grad-clip": ("train", "grad_clip", float),
    "--max-steps": ("train", "max_steps", int),
    "--epochs": ("train", "epochs", float),
    "--eval-every": ("train", "eval_every", int),
    "--eval-tokens": ("train", "eval_tokens", int),
    "--save-every": ("train", "save_every", float),
    "--device": ("train", "device", str),
    "--precision": ("train", "precision", str),
    "--seed": ("train", "seed", int),
}
BUDGET_FLAGS = ("max_steps", "epochs", "time")


def _add_budget_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--epochs", type=float, help="stop after this many passes over the training text")
    p.add_argument("--time", help="stop after this much wall time, e.g. 90s, 10m, 1.5h (default 10m)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit", description="Recurrent neural networks that work: train, sample, evaluate.",
        epilog="Run 'rnnkit COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a model (train lm ...), or continue one (train --resume RUN_DIR)",
                                description="Train a model, or continue an interrupted run with --resume RUN_DIR.")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR exactly where it stopped")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_budget_flags(train)
    tasks = train.add_subparsers(dest="task", metavar="TASK")
    lm = tasks.add_parser("lm", help="a character-level language model over a text file",
                          description="Train a recurrent language model on a text file or a named dataset.")
    lm.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for checkpoints and logs")
    lm.add_argument("--config", metavar="FILE.toml", help="TOML file with [data], [model], [train] tables")
    lm.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override any setting, e.g. --set train.min_lr_ratio=0.1")
    lm.add_argument("--no-progress", action="store_true", help="no progress bar")
    lm.add_argument("--tie-weights", action="store_true", default=None, help="share embedding and output weights")
    lm.add_argument("--random-windows", action="store_const", const="random", dest="batching",
                    help="sample random windows instead of stateful streams")
    help_text = {"--data": "text file, or a named dataset (default: tinyshakespeare)",
                 "--cell": "lstm (default), gru, rnn_tanh or rnn_relu",
                 "--precision": "auto (bf16 where the CPU/GPU has it), fp32, bf16 or fp16",
                 "--device": "auto, cpu or cuda", "--backend": "fused (default) or explicit"}
    for flag, (_, name, kind) in LM_FLAGS.items():
        if flag in ("--max-steps", "--epochs"):
            continue
        if flag == "--batching":
            lm.add_argument(flag, dest="batching", choices=["stream", "random"], help="stream (default) or random")
            continue
        lm.add_argument(flag, type=kind, dest=name, help=help_text.get(flag))
    _add_budget_flags(lm)

    sample = commands.add_parser("sample", help="generate text from a trained model",
                                 description="Generate text from a trained model, streamed to stdout.")
    sample.add_argument("run_dir", metavar="RUN_DIR")
    sample.add_argument("--prime", default="", help="text to start from (fed once, then continued)")
    sample.add_argument("--length", type=int, default=500, help="characters to generate (default 500)")
    sample.add_argument("--temperature", type=float, default=1.0, help="below 1: safer, above 1: wilder")
    sample.add_argument("--top-k", type=int, help="sample among the k most likely characters")
    sample.add_argument("--top-p", type=float, help="sample among the smallest set with this total probability")
    sample.add_argument("--greedy", action="store_true", help="always take the most likely character")
    sample.add_argument("--num-samples", type=int, default=1, help="samples to draw (as one batch)")
    sample.add_argument("--seed", type=int, help="seed for reproducible samples")
    sample.add_argument("--skip-unknown", action="store_true", help="drop prime characters not in the vocabulary")
    sample.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")

    ev = commands.add_parser("eval", help="loss, bits per char and perplexity of a trained model",
                             description="Evaluate a trained model on its validation split or on --data.")
    ev.add_argument("run_dir", metavar="RUN_DIR")
    ev.add_argument("--data", help="evaluate on this whole file instead of the run's validation split")
    ev.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser


def _parse_value(text: str) -> Any:
    from rnnkit.config import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string such as a path


def _lm_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from rnnkit.config import load_toml, merge, parse_duration

    values: dict[str, Any] = load_toml(args.config) if args.config else {}
    flags: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
    for section, name, _ in LM_FLAGS.values():
        value = getattr(args, name, None)
        if value is not None:
            flags[section][name] = value
    if args.tie_weights:
        flags["model"]["tie_weights"] = True
    if args.time is not None:
        flags["train"]["time"] = parse_duration(args.time)
    if any(name in flags["train"] for name in BUDGET_FLAGS):  # a budget on the command line replaces the file's
        for name in BUDGET_FLAGS:
            flags["train"].setdefault(name, None)
    for item in args.set:
        key, sep, raw = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise RnnkitError(f"--set {item!r} must look like SECTION.KEY=VALUE, e.g. train.lr=0.002")
        flags.setdefault(section, {})[name] = _parse_value(raw)
    return merge(values, flags)


def _train(args: argparse.Namespace) -> int:
    from rnnkit.config import RunConfig, parse_duration
    from rnnkit.tasks.lm import resume_config, train_lm

    if args.resume:
        overrides = {name: getattr(args, name) for name in ("max_steps", "epochs") if getattr(args, name) is not None}
        if args.time is not None:
            overrides["time"] = parse_duration(args.time)
        config = resume_config(args.resume, overrides)
        run_dir = args.resume
    elif args.task == "lm":
        sections = _lm_overrides(args)
        unknown = sorted(set(sections) - {"data", "model", "train"})
        if unknown:
            raise RnnkitError(f"unknown config section [{unknown[0]}]; expected [data], [model] or [train]")
        config = RunConfig.from_dict(sections)
        run_dir = args.out
    else:
        raise RnnkitError("say what to train: 'rnnkit train lm --out RUN_DIR ...' or 'rnnkit train --resume RUN_DIR'")
    summary = train_lm(config, run_dir, resume=bool(args.resume), show_progress=not args.no_progress,
                       log=lambda m: print(m, file=sys.stderr))
    best = summary["best_val"]
    line = f"rnnkit: trained {summary['step']} steps in {summary['elapsed']:.0f}s"
    if math.isfinite(best):
        line += f"; best validation {best:.4f} nats/char ({best / math.log(2):.4f} bits/char)"
    print(f"{line}; saved {run_dir}", file=sys.stderr)
    return 0


def _sample(args: argparse.Namespace) -> int:
    from rnnkit.generate import SamplingConfig, sample_text
    from rnnkit.tasks.lm import load_lm
    from rnnkit.training.precision import resolve_device

    cfg = SamplingConfig(length=args.length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                         greedy=args.greedy, num_samples=args.num_samples, seed=args.seed,
                         skip_unknown=args.skip_unknown)
    device = resolve_device(args.device)
    model, vocab, _ = load_lm(args.run_dir, device)
    out = sys.stdout
    dropped = set(vocab.unknown(args.prime)) if args.skip_unknown else set()
    pending_prime = ["".join(c for c in args.prime if c not in dropped)]  # printed once the prime is accepted

    def stream(piece: str) -> None:
        out.write(pending_prime.pop() + piece if pending_prime else piece)
        out.flush()

    if cfg.num_samples == 1:
        sample_text(model, vocab, args.prime, cfg, device=device, stream=stream)
        out.write((pending_prime.pop() if pending_prime else "") + "\n")
    else:
        for i, text in enumerate(sample_text(model, vocab, args.prime, cfg, device=device)):
            out.write(f"--- sample {i + 1} ---\n{text}\n")
    out.flush()
    return 0


def _eval(args: argparse.Namespace) -> int:
    from rnnkit.tasks.lm import eval_lm

    result = eval_lm(args.run_dir, data=args.data, device=args.device)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"loss {result['nats_per_token']:.4f} nats/char  {result['bits_per_token']:.4f} bits/char  "
              f"perplexity {result['perplexity']:.3f}  ({result['tokens']:,} chars)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from rnnkit.training.trainer import TrainingInterrupted

    handlers = {"train": _train, "sample": _sample, "eval": _eval}
    try:
        return handlers[args.command](args)
    except RnnkitError as e:
        print(f"rnnkit: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except TrainingInterrupted as e:
        print(f"\nrnnkit: {e}; continue with 'rnnkit train --resume {e.path.parent}'", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nrnnkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. 'rnnkit sample RUN | head'
        return 0


if __name__ == "__main__":
    sys.exit(main())
