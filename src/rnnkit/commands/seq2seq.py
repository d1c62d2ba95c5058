"""``rnnkit train seq2seq``, ``rnnkit translate``, and ``eval``/``train --resume`` for seq2seq runs."""

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

TASK = "seq2seq"

# flag -> (section, field, type); None defaults so that only typed flags override --config and the dataclasses
SEQ2SEQ_FLAGS: dict[str, tuple[str, str, type]] = {
    "--data": ("data", "data", str),
    "--source-level": ("data", "source_level", str),
    "--target-level": ("data", "target_level", str),
    "--size": ("data", "size", int),
    "--digits": ("data", "digits", int),
    "--data-seed": ("data", "data_seed", int),
    "--max-len": ("data", "max_len", int),
    "--val-fraction": ("data", "val_fraction", float),
    "--val-size": ("data", "val_size", int),
    "--encoding": ("data", "encoding", str),
    "--attention": ("model", "attention", str),
    "--teacher-forcing": ("model", "teacher_forcing", float),
    **RECURRENT_FLAGS,
    **TRAIN_FLAGS,
}
HELP = {
    "--data": "a source<TAB>target TSV file, or a generated task: addition, reverse, dates",
    "--source-level": "char or word", "--target-level": "char or word",
    "--size": "generated tasks: number of distinct pairs",
    "--digits": "generated tasks: longest addition operand",
    "--data-seed": "seed of the generated pairs and of the train/validation split",
    "--max-len": "longest source/target in tokens; longer pairs are an error",
    "--val-size": "exact number of validation pairs (instead of --val-fraction)",
    "--cell": "gru, lstm, rnn_tanh, rnn_relu, or the parallel-scan mingru or minlstm",
    "--attention": "bahdanau, luong or none",
    "--teacher-forcing": "probability of feeding the true previous token while training",
}


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    p = train_tasks.add_parser("seq2seq", help="an encoder-decoder over source/target pairs (translation, addition)",
                               description="Train an RNN encoder-decoder with attention on TSV pairs or a "
                                           "generated task (addition, reverse, dates).")
    p.set_defaults(handler=train)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for checkpoints and logs")
    add_override_flags(p)
    p.add_argument("--unidirectional", action="store_const", const=False, dest="bidirectional",
                   help="a left-to-right encoder only (default: bidirectional)")
    add_typed_flags(p, SEQ2SEQ_FLAGS, HELP, config="rnnkit.tasks.seq2seq:Seq2SeqRunConfig")

    t = commands.add_parser("translate", help="translate a text with a trained seq2seq model",
                            description="Decode one input with a trained seq2seq run (greedy, or beam search).")
    t.set_defaults(handler=translate)
    t.add_argument("run_dir", metavar="RUN_DIR")
    t.add_argument("input", help="the source text")
    t.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy decoding)")
    t.add_argument("--length-penalty", type=float, default=1.0,
                   help="score = log-probability / length**this (default 1; 0: raw log-probability)")
    t.add_argument("--max-len", type=int, help="longest output in tokens (default: the run's --max-len)")
    t.add_argument("--attention-png", metavar="FILE.png", help="also draw the attention heat map to this file")
    t.add_argument("--score", action="store_true", help="print the normalised log-probability after a tab")
    t.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    extra = {"model": {"bidirectional": False}} if args.bidirectional is False else {}
    return sections(args, SEQ2SEQ_FLAGS, extra)


def _metric(summary: dict[str, Any]) -> str | None:
    if "exact_match" not in summary:
        return None
    text = f"validation exact match {summary['exact_match']:.2%}, token accuracy {summary['token_accuracy']:.2%}"
    return text + (f", BLEU {summary['bleu']:.2f}" if "bleu" in summary else "")


def report(summary: dict[str, Any], run_dir: Any) -> int:
    """The closing line of a seq2seq training run, with the last validation figures."""
    return report_training(summary, run_dir, "token", _metric(summary))


train = train_handler(TASK, _overrides, report)


def translate(args: argparse.Namespace) -> int:
    from rnnkit.runs import open_run

    if args.beam < 1:
        raise RnnkitError(f"--beam must be >= 1, got {args.beam}")
    if args.max_len is not None and args.max_len < 1:
        raise RnnkitError(f"--max-len must be >= 1, got {args.max_len}")
    run = open_run(args.run_dir, args.device)
    if run.task != TASK:
        raise RnnkitError(f"{args.run_dir} is a {run.task} run; 'rnnkit translate' needs a seq2seq run")
    translator = run.predictor()
    [(text, score)] = translator.translate([args.input], beam=args.beam, length_penalty=args.length_penalty,
                                           max_len=args.max_len)
    print(f"{text}\t{score:.4f}" if args.score else text)
    if args.attention_png:
        if translator.config.model.attention == "none":
            raise RnnkitError(f"{args.run_dir} was trained with --attention none; it has no attention to draw")
        if not translator.save_attention_png(args.input, text, args.attention_png):
            raise RnnkitError("drawing the heat map needs matplotlib; pip install 'rnnkit[plot]'")
        print(f"rnnkit: attention heat map saved to {args.attention_png}", file=sys.stderr)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.runs import evaluate as evaluate_run

    result = evaluate_run(args.run_dir, data=args.data, device=args.device)
    if args.json:
        print(json.dumps(result))
    else:
        line = (f"exact match {result['exact_match']:.2%}  token accuracy {result['token_accuracy']:.2%}  "
                f"loss {result['nats_per_token']:.4f} nats/token")
        if "bleu" in result:
            line += f"  BLEU {result['bleu']:.2f}"
        print(f"{line}  ({result['pairs']:,} pairs)")
    return 0


__all__ = ["SEQ2SEQ_FLAGS", "TASK", "add_parsers", "evaluate", "report", "translate", "train"]
