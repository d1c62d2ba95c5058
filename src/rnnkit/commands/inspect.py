"""``rnnkit inspect RUN_DIR``: read a text with a trained run and write a self-contained HTML report of its
cells, gates and surprise (``rnnkit.inspect``)."""

from __future__ import annotations

import argparse
import sys
import time

from rnnkit.errors import RnnkitError
from rnnkit.inspect.defaults import MAX_CHARS, SAMPLE_LENGTH

TASK = "inspect"  # not a task: no run directory is ever of this kind
TOP_ROWS = 12  # found cells printed to the terminal


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "inspect", help="see inside a trained model: cells, gates and surprise, as one HTML page",
        description="Read a text with a trained language model, conditional LM or classifier, record every "
                    "layer's states and gates, find cells that track facts of the text (quotes, brackets, line "
                    "position, ...), and write one self-contained HTML page (opens offline).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", metavar="FILE", help="the text to read")
    source.add_argument("--prime", metavar="TEXT", help="start from TEXT and read what the model writes after it "
                        "(a classifier reads TEXT itself)")
    p.add_argument("--length", type=int, default=SAMPLE_LENGTH, help="tokens to generate after --prime")
    p.add_argument("--seed", type=int, default=0, help="seed for the text generated after --prime")
    p.add_argument("--out", default="report.html", metavar="FILE", help="the HTML page to write")
    p.add_argument("--max-chars", type=int, default=MAX_CHARS,
                   help="characters (tokens) shown in the page; the tables and figures read the whole text")
    p.add_argument("--png", metavar="DIR", help="also save the gate-saturation figures as PNG files in DIR")
    p.add_argument("--compare", metavar="NGRAM_RUN", help="an n-gram run whose loss goes beside the model's")
    p.add_argument("--condition", metavar="LABEL", help="the label to condition on (conditional models)")
    p.add_argument("--encoding", default="utf-8", help="encoding of --text")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.set_defaults(handler=run)


def _text(args: argparse.Namespace, opened) -> str:
    if args.text is not None:
        from rnnkit.data.reader import read_text

        return read_text(args.text, args.encoding, missing_hint="pass --text with the path of a text file")
    if not args.prime:
        raise RnnkitError("--prime is empty; give the text to start from")
    predictor = opened.predictor()
    if not hasattr(predictor, "generate"):
        return args.prime  # a classifier reads the prime itself
    if args.length < 1:
        raise RnnkitError(f"--length must be >= 1, got {args.length}")
    from rnnkit.generate import SamplingConfig

    return predictor.generate(args.prime, SamplingConfig(length=args.length, seed=args.seed),
                              condition=args.condition)[0]


def run(args: argparse.Namespace) -> int:
    from rnnkit.inspect.report import analyse, write_report
    from rnnkit.runs import open_run

    if args.max_chars < 1:
        raise RnnkitError(f"--max-chars must be >= 1, got {args.max_chars}")
    started = time.perf_counter()
    opened = open_run(args.run_dir, args.device)
    compare = open_run(args.compare, "cpu") if args.compare else None
    text = _text(args, opened)
    analysis = analyse(opened, text, condition=args.condition, compare=compare)
    written = write_report(analysis, args.out, args.max_chars, args.png)
    print(f"cells found in {args.run_dir} (best first):")
    print(str(type(analysis.table)(analysis.table[:TOP_ROWS])))
    unit = "characters" if analysis.level == "char" else "tokens"
    pngs = f" and {len(written['pngs'])} PNG files in {args.png}" if args.png else ""
    print(f"rnnkit: read {len(analysis.tokens):,} {unit} in {time.perf_counter() - started:.1f}s; wrote "
          f"{written['path']} ({written['bytes'] / 1e6:.1f} MB){pngs}", file=sys.stderr)
    return 0


__all__ = ["TASK", "add_parsers", "run"]
