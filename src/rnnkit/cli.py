"""The ``rnnkit`` command: parses arguments, then calls the tasks. No training logic lives here.

Each task's flags and handlers live in ``rnnkit.commands.<task>``; this module builds the shared
``train``/``sample``/``eval`` commands, asks every task module to add its own, and dispatches
``train --resume``, ``sample`` and ``eval`` on the task recorded in the run directory.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence

from rnnkit import __version__
from rnnkit.commands import load_all
from rnnkit.commands.common import add_budget_flags, add_output_flags
from rnnkit.config import SAMPLING_PRECISIONS
from rnnkit.errors import RnnkitError, shown

EXIT_USER_ERROR, EXIT_INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    """Argument mistakes are one ``rnnkit:`` line plus where to look, not a usage block (exit 2)."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"rnnkit: {message}; see '{self.prog} --help'\n")


def _os_error_line(e: OSError) -> str:
    """One line for an OSError on a path the user named (``--out /proc/x``, a file where a folder should be)."""
    where = e.filename if e.filename is not None else "a path you gave"
    where = re.sub(r"\.[^./]+\.part$", "", str(where))  # the path asked for, not atomic_write's temp file beside it
    if isinstance(e, (FileExistsError, NotADirectoryError)):  # a folder wanted where a regular file is
        return f"cannot write {where}: it or a folder above it is a file; choose a path in a folder you can write to"
    reason = e.strerror or type(e).__name__
    return f"cannot write or read {where}: {reason}; choose a path in a folder you can write to"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rnnkit", description="Recurrent neural networks that work: train, sample, evaluate.",
        epilog="Run 'rnnkit COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a model (train lm ...), or continue one (train --resume RUN_DIR)",
                                description="Train a model, or continue an interrupted run with --resume RUN_DIR.")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR exactly where it stopped")
    train.add_argument("--allow-data-change", action="store_true",
                       help="with --resume: continue even though the data file changed since the run started")
    add_output_flags(train)
    add_budget_flags(train)
    train_tasks = train.add_subparsers(dest="task", metavar="TASK")

    sample = commands.add_parser("sample", help="generate text from a trained model",
                                 description="Generate text from a trained model, streamed to stdout.")
    sample.add_argument("run_dir", metavar="RUN_DIR")
    sample.add_argument("--prime", default="", help="text to start from (fed once, then continued)")
    sample.add_argument("--length", type=int, default=500, help="tokens to generate (default 500)")
    sample.add_argument("--temperature", type=float, default=1.0, help="below 1: safer, above 1: wilder")
    sample.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    sample.add_argument("--top-p", type=float, help="sample among the smallest set with this total probability")
    sample.add_argument("--greedy", action="store_true", help="always take the most likely token")
    sample.add_argument("--num-samples", type=int, default=1, help="samples to draw (as one batch)")
    sample.add_argument("--seed", type=int, help="seed for reproducible samples")
    sample.add_argument("--skip-unknown", action="store_true", help="drop prime symbols not in the vocabulary")
    sample.add_argument("--condition", metavar="LABEL", help="the label to condition on (conditional models)")
    sample.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    sample.add_argument("--precision", default="auto", choices=SAMPLING_PRECISIONS,
                        help="how an LSTM steps on the CPU: auto (one-call kernel, bf16 weights where the CPU has "
                             "bf16 units), bf16, fp32, or exact (the model's own forward, slower)")

    ev = commands.add_parser("eval", help="evaluate a trained model (loss, bits per char, accuracy, ...)",
                             description="Evaluate a trained model on its validation split or on --data.")
    ev.add_argument("run_dir", metavar="RUN_DIR")
    ev.add_argument("--data", help="evaluate on this data instead of the run's validation split")
    ev.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")

    for module in load_all():
        module.add_parsers(commands, train_tasks)
    return parser


def _task_module(run_dir: str):
    """(task name, command module) of the run in ``run_dir``; the module is None for a task registered in Python."""
    from rnnkit.checkpoint import run_task
    from rnnkit.runs import get_task

    task = get_task(run_task(run_dir), where=f"{run_dir}/config.json").name
    return task, next((m for m in load_all() if m.TASK == task), None)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "train" and args.resume:
        if args.task is not None:
            raise RnnkitError(f"'train --resume' continues a run with its own settings; drop '{args.task}'")
        from rnnkit.commands.common import resume_run

        _, module = _task_module(args.resume)
        return resume_run(args, getattr(module, "report", None))
    if args.command == "train" and args.task is None:
        raise RnnkitError("say what to train: 'rnnkit train lm --out RUN_DIR ...' or 'rnnkit train --resume RUN_DIR'")
    if args.command in ("sample", "eval"):
        task, module = _task_module(args.run_dir)
        handler = getattr(module, {"sample": "sample", "eval": "evaluate"}[args.command], None)
        if handler is None:
            raise RnnkitError(f"'rnnkit {args.command}' does not apply to {args.run_dir}, a {task} run")
        return handler(args)
    return args.handler(args)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a StreamHandler would keep the first one)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise
            self.handleError(record)


def _show_library_messages() -> None:
    """rnnkit's own log records at INFO and above (a download, a one-time kernel build, a skipped plot)
    go to stderr as 'rnnkit: ...' lines; without this Python shows only warnings."""
    logger = logging.getLogger("rnnkit")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("rnnkit: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` command; returns the process exit code."""
    _show_library_messages()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from rnnkit.runs.lifecycle import RunFinished
    from rnnkit.training.trainer import TrainingInterrupted

    try:
        return _dispatch(args)
    except RnnkitError as e:
        print(f"rnnkit: {shown(e, limit=None)}", file=sys.stderr)  # whatever a message quotes, never raw bytes
        return EXIT_USER_ERROR
    except RunFinished as e:  # resuming a finished run: nothing to do is not a mistake
        print(f"rnnkit: {e}", file=sys.stderr)
        return 0
    except TrainingInterrupted as e:
        print(f"\nrnnkit: {e}; continue with 'rnnkit train --resume {e.path.parent}'", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nrnnkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. 'rnnkit sample RUN | head'
        return 0
    except OSError as e:  # the one boundary for paths a user named: /proc/x, a folder under a regular file, ...
        print(f"rnnkit: {_os_error_line(e)}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
