"""Config machinery: the shared ``[train]`` section, TOML files, overrides, and building run configs.

A run's configuration is a frozen dataclass of sections (``[data]``, ``[model]``, ``[train]``), each a
frozen dataclass that owns its defaults; each task defines its own (``rnnkit.tasks.lm.RunConfig``, ...)
and every task shares ``TrainConfig``. Precedence, lowest first: dataclass defaults <
``--config FILE.toml`` < command-line flags and ``--set``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from rnnkit.errors import RnnkitError, finite_positive, raise_first

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


#: The size budget of a model, checked from its config before any tensor is allocated (a hand-edited
#: config.json or a typo'd --hidden-size fails in one line instead of reaching the allocator):
MAX_PARAMETERS = 4 * 10**9  # 16 GB of fp32 weights (64 GB with Adam's state): beyond any one machine rnnkit targets
MAX_LAYERS = 256  # recurrent stacks this deep are never trained; 10^6 layers would take minutes just to build


#: How ``sample`` steps an LSTM on the CPU (``rnnkit.generate.SamplingConfig.precision``).
SAMPLING_PRECISIONS = ("auto", "bf16", "fp32", "exact")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping; one of max_steps, epochs or time bounds the run."""

    batch_size: int = 64
    seq_len: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    max_steps: int | None = None
    epochs: float | None = None
    time: float | None = None  # seconds; the CLI defaults to 10 minutes when no budget is given
    eval_every: int = 200
    eval_tokens: int | None = None  # None: the whole validation split
    patience: int | None = None  # stop after this many validations without a new best (None: never)
    ema: float = 0.0  # decay of an exponential moving average of the weights, validated and saved as best (0: off)
    save_every: float = 60.0  # seconds between checkpoints of last.pt
    device: str = "auto"
    precision: str = "auto"
    seed: int = 1337
    log_every: int = 10

    def validate(self) -> TrainConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        t = self
        raise_first([
            (t.batch_size >= 1, f"--batch-size must be >= 1, got {t.batch_size}"),
            (t.seq_len >= 1, f"--seq-len must be >= 1, got {t.seq_len}"),
            finite_positive(t.lr, "--lr"),
            (t.grad_clip > 0, f"--grad-clip must be > 0, got {t.grad_clip}"),
            (t.max_steps is None or t.max_steps >= 1, f"--max-steps must be >= 1, got {t.max_steps}"),
            (t.epochs is None or t.epochs > 0, f"--epochs must be > 0, got {t.epochs}"),
            (t.time is None or t.time > 0, f"--time must be > 0, got {t.time}"),
            (t.patience is None or t.patience >= 1, f"--patience must be >= 1, got {t.patience}"),
            (0 <= t.ema < 1, f"--ema must be a decay in [0, 1) (e.g. 0.999; 0 turns it off), got {t.ema}"),
            (t.warmup_steps >= 0, f"--warmup-steps must be >= 0, got {t.warmup_steps}"),
            (t.eval_every >= 1, f"--eval-every must be >= 1, got {t.eval_every}"),
            (t.eval_tokens is None or t.eval_tokens >= 1, f"--eval-tokens must be >= 1, got {t.eval_tokens}"),
            (t.save_every >= 0, f"--save-every must be >= 0 seconds, got {t.save_every}"),
            (t.log_every >= 1, f"--log-every must be >= 1, got {t.log_every}"),
            (t.max_steps or t.epochs or t.time, "give one of --max-steps, --epochs or --time"),
            (t.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, got {t.precision!r}"),
            (t.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}, got {t.device!r}"),
        ])
        return self


class RunSections:
    """The base of every task's run config (a frozen dataclass whose fields are its sections).

    ``to_dict`` is what config.json stores; ``from_dict`` builds the config back with one-line errors for an
    unknown section or setting (tasks that convert values first override it and call ``build_run_config``).
    """

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        return build_run_config(cls, d)


def check_sections(values: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """One-line error for a config table other than ``allowed`` (e.g. a typo'd [trian])."""
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        names = [f"[{a}]" for a in allowed]
        expected = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"
        raise RnnkitError(f"unknown config section [{unknown[0]}]; expected {expected}")


def with_default_time(config, seconds: float):
    """``config`` (any run config with a ``train`` TrainConfig) with ``time=seconds`` when it has no budget."""
    t = config.train
    if t.max_steps is None and t.epochs is None and t.time is None:
        return dataclasses.replace(config, train=dataclasses.replace(t, time=seconds))
    return config


def build_run_config(cls, values: dict[str, Any], **prepared: dict[str, Any]):
    """Run config ``cls`` (a dataclass whose fields are its sections) from TOML-shaped ``values``.

    One-line errors for an unknown section (e.g. a typo'd [trian]) or setting; ``prepared`` gives a
    section's table after task-specific conversion (lists to tuples, task defaults) in place of the raw one.
    """
    names = tuple(f.name for f in fields(cls))
    check_sections(values, names)
    types = get_type_hints(cls)
    return cls(**{name: build_section(types[name], prepared.get(name, values.get(name, {})), name) for name in names})


def build_section(cls, values: dict[str, Any], section: str):
    """Build config dataclass ``cls`` from a TOML table, with a one-line error for an unknown key."""
    if not isinstance(values, dict):
        raise RnnkitError(f"[{section}] must be a table of settings, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RnnkitError(f"unknown setting {section}.{unknown[0]}; "
                          f"known [{section}] settings: {', '.join(sorted(known))}")
    hints = get_type_hints(cls)
    for name, value in values.items():
        expected = _type_problem(value, hints[name])
        if expected:
            raise RnnkitError(f"{section}.{name} must be {expected}, got {_short_repr(value)}")
    return cls(**values)


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _type_problem(value: Any, hint: Any) -> str | None:
    """None when ``value`` (from TOML, JSON or --set) fits the type ``hint`` of a config field, else what it must be.

    Numbers must be finite; an integer field takes no float or bool; a float field takes an integer;
    a tuple field takes a list or tuple of fitting items.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [_type_problem(value, a) for a in args if a is not type(None)]
        if any(p is None for p in problems):
            return None
        return " or ".join(p for p in problems if p) + (" (or null)" if type(None) in args else "")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return "a list"
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        if items and args[-1] is not Ellipsis and len(value) != len(items):
            return f"a list of {len(items)} items"
        for i, item in enumerate(value):
            problem = _type_problem(item, items[0] if len(items) == 1 else items[i])
            if problem:
                return f"a list of items each {problem}"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else _TYPE_WORDS[bool]
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else _TYPE_WORDS[int]
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "a finite number"
    if hint is str:
        return None if isinstance(value, str) else _TYPE_WORDS[str]
    return None  # a type config fields do not use: left to the section's own checks


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into nested dicts, with one-line errors."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as e:
        raise RnnkitError(f"config file {path} does not exist") from e
    except tomllib.TOMLDecodeError as e:
        raise RnnkitError(f"config file {path} is not valid TOML: {e}") from e


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Nested dict merge: values in ``overrides`` win."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in overrides.items():
        if isinstance(value, dict):
            out[key] = merge(out.get(key, {}), value)
        else:
            out[key] = value
    return out


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """'90' or '90s' -> 90.0, '10m' -> 600.0, '1.5h' -> 5400.0 (seconds)."""
    m = _DURATION.match(str(text))
    if not m:
        raise RnnkitError(f"--time {text!r} is not a duration; use e.g. 90s, 10m or 1.5h")
    return float(m.group(1)) * {"s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]
