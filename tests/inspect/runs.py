"""Tiny trained runs of every kind ``rnnkit inspect`` reads, made in seconds (shared by the inspect tests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rnnkit.runs import open_run, train
from rnnkit.tasks.classify import ClassifyConfig
from tests.conftest import tiny_config
from tests.runs.test_open_run_classify_forecast import reviews
from tests.tasks.test_conditional_lm import tiny_config as conditional_config

QUIET = dict(show_progress=False, log=lambda *_: None)


def lm_run(corpus: Path, out: Path, cell: str = "lstm", max_steps: int = 2, level: str = "char", **model):
    """A 2-layer LM of ``cell`` (characters or words) trained for ``max_steps`` steps, opened."""
    config = tiny_config(corpus, max_steps=max_steps, eval_every=max_steps)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, level=level),
                                 model=dataclasses.replace(config.model, cell=cell, **model))
    train("lm", config, out, **QUIET)
    return open_run(out)


def conditional_run(folder: Path, out: Path, cell: str = "gru"):
    """A 2-layer conditional LM (label sets the initial state and joins every input), opened."""
    config = conditional_config(folder, max_steps=2, eval_every=2)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, cell=cell, num_layers=2))
    train("conditional-lm", config, out, **QUIET)
    return open_run(out)


def classifier_run(tmp_path: Path, out: Path, cell: str = "lstm", level: str = "word"):
    """A 2-layer bidirectional classifier, opened."""
    config = ClassifyConfig.from_dict({
        "data": {"data": reviews(tmp_path, n=20), "val_fraction": 0.2, "level": level},
        "model": {"cell": cell, "embedding_size": 8, "hidden_size": 8, "num_layers": 2, "bidirectional": True},
        "train": {"batch_size": 8, "max_steps": 2, "epochs": None, "device": "cpu", "seed": 3, "save_every": 1e9}})
    train("classify", config, out, **QUIET)
    return open_run(out)
