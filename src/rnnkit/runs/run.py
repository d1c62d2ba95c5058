"""A trained run as one object: ``open_run(path)`` loads what any command needs, ``.predictor()`` answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnkit import checkpoint as ckpt
from rnnkit.errors import RnnkitError
from rnnkit.runs.lifecycle import load_vocab, stored_config
from rnnkit.tasks.base import Task
from rnnkit.training.precision import resolve_device


@dataclass
class Run:
    """A trained run directory, loaded: its task, config, vocabulary and model on ``device``.

    ``predictor()`` gives the task's predictor (see ``rnnkit.runs.predictors``): a text generator,
    classifier, forecaster, translator or word vectors.
    """

    path: Path
    task: str
    config: Any
    model: Any
    vocab: Any
    device: torch.device
    spec: Task = field(repr=False)

    def predictor(self) -> Any:
        """The task's predictor for this run (made once, then reused)."""
        if not hasattr(self, "_predictor"):
            self._predictor = self.spec.predictor(self)
        return self._predictor


def _check_sizes(task: Task, run_dir: Path, config: Any, vocab: Any) -> None:
    """The vocabulary must fit the model config (e.g. vocab.json's size == config.json's model.vocab_size)."""
    for name, size in task.model_sizes(vocab).items():
        recorded = getattr(config.model, name)
        if recorded != size:
            raise RnnkitError(f"{run_dir / task.vocab_file} gives {name} {size} but {run_dir / ckpt.CONFIG_FILE} "
                              f"has model.{name}={recorded}; the files come from different runs")


def open_run(path: str | Path, device: str | torch.device = "cpu") -> Run:
    """Load the run in ``path``: config.json (task and settings), the vocabulary and the weights (best.pt,
    else last.pt) onto ``device`` (``"auto"`` picks CUDA when there is one).

    A tampered or foreign directory fails with one ``RnnkitError`` line naming the file and the field,
    before any tensor of a size read from it is allocated.
    """
    path = Path(path)
    task, config = stored_config(path)
    vocab = load_vocab(task, path)
    _check_sizes(task, path, config, vocab)
    dev = resolve_device(device) if isinstance(device, str) else device
    model = task.load_model(path, config, vocab, dev)
    return Run(path, task.name, config, model, vocab, dev, task)


def evaluate(path: str | Path, data: Any = None, device: str | torch.device = "auto") -> dict[str, Any]:
    """The figures ``rnnkit eval`` prints for a run: on its validation (or test) split, or on ``data``."""
    run = open_run(path, device)
    return run.spec.evaluate(run, data)


__all__ = ["Run", "evaluate", "open_run"]
