"""What a task is: the few functions that differ between tasks, behind one run lifecycle (``rnnkit.runs``).

A task (``lm``, ``classify``, ``forecast``, ...) is a ``Task`` subclass registered by name. The lifecycle
in ``rnnkit.runs`` owns everything tasks share: creating or refusing a run directory, writing config.json
(with its ``meta``) and the vocabulary once, resuming from last.pt, handing data, model, loss and
evaluation to the Trainer, plotting the loss, and opening a trained run (``open_run``). A task supplies
only what differs:

    prepare(config, vocab, ctx)    read the data; return the config with its data-dependent model fields
                                   filled in, the vocabulary (new, or the stored one when resuming) and facts
    build_model(config)            the model of a config (also on the meta device, to check sizes)
    training(prepared, ctx)        batches, loss, validation and the progress line's description
    finish(prepared, summary, ctx) figures made after training (reports, calibration); optional
    predictor(run)                 the object that answers for a trained run (see ``rnnkit.runs.predictors``)

Tasks that do not train with the Trainer (counted n-grams, word2vec) set ``trains = False`` and supply
``fit(config, ctx)`` instead of ``prepare``/``training``; they cannot be resumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.training.distributed import DistInfo

DEFAULT_TIME_S = 600.0  # the budget of a run given none (ten minutes)


@dataclass
class Context:
    """Where and how a run trains; handed to every task hook."""

    out: Path
    device: torch.device
    precision: str
    log: Callable[[str], None]
    resume: bool = False
    show_progress: bool = True
    dist: DistInfo = field(default_factory=DistInfo)
    # the lifecycle's own ``train(task, config, out, **options)``, for tasks that train helper runs
    # (a forecaster's calibration refits, cross-validation folds)
    train_run: Callable[..., dict[str, Any]] | None = None


@dataclass
class Prepared:
    """A task's data, ready to train on: what ``Task.prepare`` returns."""

    config: Any  # the run config with its data-dependent model fields (vocabulary size, ...) filled in
    vocab: Any  # saved to ``Task.vocab_file`` with ``to_dict()``; None for tasks without one
    meta: dict[str, Any] = field(default_factory=dict)  # data facts for config.json's "meta"
    data: Any = None  # the task's own prepared data (splits, tensors), read back by its other hooks


@dataclass
class Training:
    """What the Trainer needs from a task: batches, loss, validation, and how to describe them."""

    batcher: Any
    loss_fn: Callable
    evaluate: Callable[[nn.Module], Any] | None
    describe: str  # the start line's text after "N parameters" (data, device, batch)
    batch_generator: torch.Generator | None = None
    train_config: TrainConfig | None = None  # a task's adjusted schedule (e.g. "once per epoch"), else config.train


@dataclass
class Fitted:
    """What a task that does not use the Trainer returns from ``fit``."""

    vocab: Any
    meta: dict[str, Any]
    summary: dict[str, Any]


class Task:
    """The base of every task; subclasses set the class attributes and override the hooks they use."""

    name: str = ""
    config_class: type = type(None)  # frozen dataclass with from_dict/to_dict/validate
    vocab_class: type | None = None  # from_dict/to_dict; None: no vocabulary file
    vocab_file: str = ckpt.VOCAB_FILE
    token: str = "token"  # what one counted target is, in the progress bar and messages
    default_time: float | None = DEFAULT_TIME_S  # budget when none is given (None: the config's own defaults)
    trains: bool = True  # False: ``fit`` instead of the Trainer, and no resume

    # -- training ----------------------------------------------------------------------------------
    def token_name(self, config: Any) -> str:
        """What one counted target of a run of ``config`` is ("char", "word", "example", ...)."""
        return self.token

    def prepare(self, config: Any, vocab: Any, ctx: Context, **options: Any) -> Prepared:
        raise NotImplementedError(f"task {self.name!r} does not train with the Trainer")

    def build_model(self, config: Any) -> nn.Module:
        raise NotImplementedError(f"task {self.name!r} has no model to build")

    def init_model(self, model: nn.Module, prepared: Prepared, ctx: Context) -> None:
        """Initialise a new (not resumed) model from outside data, e.g. pretrained embeddings."""

    def training(self, prepared: Prepared, ctx: Context) -> Training:
        raise NotImplementedError(f"task {self.name!r} does not train with the Trainer")

    def finish(self, prepared: Prepared, summary: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
        """Work after training (reports, calibration) that adds to ``summary``; returns meta to add, if any."""
        return None

    def fit(self, config: Any, ctx: Context) -> Fitted:
        raise NotImplementedError(f"task {self.name!r} trains with the Trainer")

    def subruns(self, config: Any) -> list[tuple[str, Any]] | None:
        """Runs that together make this one (cross-validation folds): [(subfolder, config)], or None."""
        return None

    def combine(self, config: Any, out: Path, summaries: list[dict[str, Any]], ctx: Context) -> dict[str, Any]:
        """The summary of a run made of ``subruns``."""
        raise NotImplementedError

    # -- a trained run -----------------------------------------------------------------------------
    def model_sizes(self, vocab: Any) -> dict[str, int]:
        """The model config fields that come from the vocabulary (checked against config.json on opening)."""
        return {}

    def load_model(self, run_dir: Path, config: Any, vocab: Any, device: torch.device) -> Any:
        """The trained model of ``run_dir`` (best.pt, else last.pt) on ``device``, sizes checked before building."""
        return ckpt.load_model(lambda: self.build_model(config), ckpt.find_weights(run_dir), config.model,
                               device)

    def predictor(self, run: Any) -> Any:
        raise RnnkitError(f"a {self.name} run has no predictor")

    def evaluate(self, run: Any, data: Any = None) -> dict[str, Any]:
        """The figures of ``rnnkit eval``: on the run's held-out split, or on ``data`` when given."""
        raise RnnkitError(f"'rnnkit eval' does not apply to {run.path}, a {self.name} run")


__all__ = ["DEFAULT_TIME_S", "Context", "Fitted", "Prepared", "Task", "Training"]
