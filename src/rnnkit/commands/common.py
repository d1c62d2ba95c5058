"""Flag helpers shared by the task command modules: budgets, --config/--set overrides, the closing line."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

from rnnkit.errors import RnnkitError

BUDGET_FLAGS = ("max_steps", "epochs", "time")

# The [train] options every trained task takes (rnnkit.config.TrainConfig): flag -> (section, field, type).
# Task flag tables end with ``**TRAIN_FLAGS``; --max-steps and --epochs come from add_budget_flags.
TRAIN_FLAGS: dict[str, tuple[str, str, type]] = {
    "--batch-size": ("train", "batch_size", int),
    "--lr": ("train", "lr", float),
    "--weight-decay": ("train", "weight_decay", float),
    "--warmup-steps": ("train", "warmup_steps", int),
    "--grad-clip": ("train", "grad_clip", float),
    "--max-steps": ("train", "max_steps", int),
    "--epochs": ("train", "epochs", float),
    "--eval-every": ("train", "eval_every", int),
    "--patience": ("train", "patience", int),
    "--ema": ("train", "ema", float),
    "--save-every": ("train", "save_every", float),
    "--device": ("train", "device", str),
    "--precision": ("train", "precision", str),
    "--seed": ("train", "seed", int),
}
# The recurrent backbone's options that every neural task's [model] section has.
RECURRENT_FLAGS: dict[str, tuple[str, str, type]] = {
    "--cell": ("model", "cell", str),
    "--hidden-size": ("model", "hidden_size", int),
    "--num-layers": ("model", "num_layers", int),
    "--embedding-size": ("model", "embedding_size", int),
    "--dropout": ("model", "dropout", float),
    "--backend": ("model", "backend", str),
}
TRAIN_HELP = {
    "--precision": "auto (bf16 where the CPU/GPU has it), fp32, bf16 or fp16",
    "--device": "auto, cpu or cuda",
    "--patience": "stop after this many validations without a new best",
    "--ema": "validate and keep as best.pt an exponential moving average of the weights with this decay per "
             "step (e.g. 0.999; 0 = off)",
    "--cell": "lstm, gru, rnn_tanh, rnn_relu, or the parallel-scan mingru or minlstm",
    "--backend": "auto (fused, or rnnkit's bf16 CPU path when training under bf16), fused or explicit",
}


def add_budget_flags(p: argparse.ArgumentParser) -> list[argparse.Action]:
    """--max-steps, --epochs and --time (the CLI's default budget is the task's)."""
    return [p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps"),
            p.add_argument("--epochs", type=float, help="stop after this many passes over the training data"),
            p.add_argument("--time", help="stop after this much wall time, e.g. 90s, 10m, 1.5h")]


class ConfigDefaultsHelp(argparse.HelpFormatter):
    """Help that shows each option's default as the task's config dataclass has it (one source of truth).

    The config class is imported only when help is printed, so building the parser stays torch-free.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        source = getattr(action, "config_default", None)
        if source is None or "default" in text:
            return text
        value = config_default(*source)
        return text if value is None else f"{text} (default: {value})".lstrip()


def config_default(config_class: str, section: str, name: str) -> Any:
    """The default of ``section.name`` in the run config ``"module:Class"`` (None when it has none)."""
    import importlib

    module, _, cls = config_class.partition(":")
    config = getattr(importlib.import_module(module), cls)()
    value = getattr(getattr(config, section), name)
    if isinstance(value, tuple):
        value = ",".join(map(str, value)) or None
    return value


def add_typed_flags(p: argparse.ArgumentParser, flags: dict[str, tuple[str, str, type]], help_text: dict[str, str],
                    skip: tuple[str, ...] = (), config: str | None = None, budget: bool = True) -> None:
    """One option per entry of a task's ``flags`` table (flag -> (section, field, type)), then the budget flags
    (for tasks that train with a budget).

    ``config`` ("module:RunConfigClass") makes --help show each default from that dataclass.
    """
    for flag, (section, name, kind) in flags.items():
        if (budget and flag in ("--max-steps", "--epochs", "--time")) or flag in skip:
            continue
        text = help_text.get(flag, TRAIN_HELP.get(flag)) or (name.replace("_", " ") if config else None)
        action = p.add_argument(flag, type=kind, dest=name, help=text)
        if config is not None:
            action.config_default = (config, section, name)
    if config is not None:
        p.formatter_class = ConfigDefaultsHelp
    if budget:
        for action in add_budget_flags(p):
            if config is not None and action.dest != "time":  # --time takes a duration, stored as seconds
                action.config_default = (config, "train", action.dest)


def add_override_flags(p: argparse.ArgumentParser) -> None:
    """--config FILE.toml, --set SECTION.KEY=VALUE, --force and the output flags (--no-progress, --quiet)."""
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with one table per config section")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any setting, e.g. --set train.min_lr_ratio=0.1")
    p.add_argument("--force", action="store_true",
                   help="if --out holds a run or other files, move it aside to OUT.old-DATE-TIME and start afresh")
    add_output_flags(p)


def add_output_flags(p: argparse.ArgumentParser) -> None:
    """--no-progress and --quiet, for every command that trains."""
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    p.add_argument("--quiet", action="store_true", help="print only the closing summary (and errors)")


def parse_value(text: str) -> Any:
    """A --set value read as TOML (numbers, booleans, lists), else kept as a bare string."""
    from rnnkit.config import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string such as a path


def sections(args: argparse.Namespace, flags: dict[str, tuple[str, str, type]],
             extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Config sections from --config < typed flags (those not None) and ``extra`` < --set."""
    from rnnkit.config import load_toml, merge, parse_duration

    values: dict[str, Any] = load_toml(args.config) if args.config else {}
    typed: dict[str, dict[str, Any]] = {}
    for section, name, _ in flags.values():
        value = getattr(args, name, None)
        if value is not None:
            typed.setdefault(section, {})[name] = value
    typed = merge(typed, extra or {})
    if getattr(args, "time", None) is not None:
        typed.setdefault("train", {})["time"] = parse_duration(args.time)
    train = typed.get("train", {})
    if any(name in train for name in BUDGET_FLAGS):  # a budget on the command line replaces the file's
        for name in BUDGET_FLAGS:
            train.setdefault(name, None)
    for item in args.set:
        key, sep, raw = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise RnnkitError(f"--set {item!r} must look like SECTION.KEY=VALUE, e.g. train.lr=0.002")
        typed.setdefault(section, {})[name] = parse_value(raw)
    return merge(values, typed)


def budget_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The new budget given to ``train --resume``, as TrainConfig fields."""
    from rnnkit.config import parse_duration

    overrides = {name: getattr(args, name) for name in ("max_steps", "epochs") if getattr(args, name) is not None}
    if args.time is not None:
        overrides["time"] = parse_duration(args.time)
    return overrides


def log_line(message: str) -> None:
    """rnnkit's progress and notes go to stderr, keeping stdout for results."""
    print(message, file=sys.stderr)


def output_options(args: argparse.Namespace) -> dict[str, Any]:
    """``show_progress`` and ``log`` for ``rnnkit.runs.train``/``resume`` from --no-progress and --quiet
    (quiet: no progress and no notes; the closing summary and errors still print)."""
    if getattr(args, "quiet", False):
        import logging

        logging.getLogger("rnnkit").setLevel(logging.WARNING)  # library notes (a kernel build) too
        return {"show_progress": False, "log": lambda message: None}
    return {"show_progress": not args.no_progress, "log": log_line}


def train_handler(task: str, values: Callable[[argparse.Namespace], dict[str, Any]],
                  report: Callable[[dict[str, Any], Any], int]) -> Callable[[argparse.Namespace], int]:
    """The ``rnnkit train TASK`` handler: flags -> ``values`` -> the task's config -> ``rnnkit.runs.train``."""
    def handler(args: argparse.Namespace) -> int:
        from rnnkit.runs import get_task, train

        spec = get_task(task)
        summary = train(spec, spec.config_class.from_dict(values(args)), args.out,
                        force=getattr(args, "force", False), **output_options(args))
        return report(summary, args.out)
    return handler


def resume_run(args: argparse.Namespace, report: Callable[[dict[str, Any], Any], int] | None) -> int:
    """``rnnkit train --resume RUN_DIR [budget]`` for a run of any task, closed by the task's ``report``."""
    from rnnkit.runs import resume

    summary = resume(args.resume, budget_overrides(args), allow_data_change=args.allow_data_change,
                     **output_options(args))
    return (report or (lambda s, run_dir: report_training(s, run_dir, s.get("token", "token"))))(summary, args.resume)


def report_training(summary: dict[str, Any], run_dir: Any, token_name: str, metric: str | None = None) -> int:
    """Print the closing line of a training run to stderr; returns exit code 0."""
    best = summary["best_val"]
    line = f"rnnkit: trained {summary['step']} steps in {summary['elapsed']:.0f}s"
    if metric is not None:
        line += f"; {metric}"
    elif math.isfinite(best):
        line += f"; best validation {best:.4f} nats/{token_name} ({best / math.log(2):.4f} bits/{token_name})"
    print(f"{line}; saved {run_dir}", file=sys.stderr)
    return 0
