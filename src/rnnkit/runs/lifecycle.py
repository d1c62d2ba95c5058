"""The one run lifecycle: create (or refuse) a run directory, write its config and vocabulary, train, resume.

Every task goes through ``train(task, config, out)`` and ``resume(run_dir)``; a task supplies only its
data, model, loss and evaluation (``rnnkit.tasks.base.Task``). A run directory is never overwritten by
another run, and ``resume`` continues exactly where last.pt stopped.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rnnkit import __version__
from rnnkit import checkpoint as ckpt
from rnnkit.config import with_default_time
from rnnkit.errors import RnnkitError
from rnnkit.runs.registry import get_task
from rnnkit.tasks.base import Context, Task
from rnnkit.training.distributed import init_distributed, shutdown_distributed
from rnnkit.training.plot import plot_loss
from rnnkit.training.precision import resolve_device, resolve_precision
from rnnkit.training.trainer import Trainer

RUN_FILES = (ckpt.CONFIG_FILE, ckpt.LAST_FILE)  # either one means a directory already holds a run


def claim_run_dir(out: Path, task: Task) -> None:
    """A one-line error when ``out`` already holds a run: a run directory is never overwritten."""
    if out.exists() and not out.is_dir():
        raise RnnkitError(f"--out {out} is a file, not a folder; choose another --out")
    if any((out / name).exists() for name in RUN_FILES):
        how = f"continue it with 'rnnkit train --resume {out}' or choose" if task.trains else "choose"
        raise RnnkitError(f"{out} already holds a run; {how} another --out")
    holds_subruns = out.is_dir() and any((child / ckpt.CONFIG_FILE).exists() for child in out.iterdir())
    if out.is_dir() and any(out.iterdir()) and not holds_subruns:  # sub-runs (folds) are claimed one by one
        raise RnnkitError(f"--out {out} is a folder that is not empty and holds no run; choose an empty or new --out")


def stored_config(run_dir: str | Path, task: Task | None = None) -> tuple[Task, Any]:
    """The task and validated config recorded in a run directory's config.json (one-line errors if foreign)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RnnkitError(f"run directory {run_dir} does not exist; train one with 'rnnkit train TASK --out {run_dir}'")
    path = run_dir / ckpt.CONFIG_FILE
    stored = ckpt.load_json(path)
    if not isinstance(stored, dict):
        raise RnnkitError(f"{path} holds a JSON {type(stored).__name__}, not a run's settings; "
                          f"is {run_dir} a run directory made by 'rnnkit train'?")
    name = stored.get("task", "lm")  # runs from before tasks were recorded are language models
    found = get_task(name if isinstance(name, str) else repr(name), where=str(path))
    if task is not None and found.name != task.name:
        raise RnnkitError(f"{run_dir} is a {found.name} run, not a {task.name} run")
    sections = {f.name for f in dataclasses.fields(found.config_class)}
    try:
        config = found.config_class.from_dict({k: v for k, v in stored.items() if k in sections})
        if hasattr(config, "validate"):
            config = config.validate()
    except RnnkitError as e:
        raise RnnkitError(f"{path}: {e}") from None
    except (TypeError, ValueError) as e:  # a value of the wrong type in an edited file
        raise RnnkitError(f"{path} has a setting of the wrong type ({e}); restore the run's config.json") from None
    return found, config


def resume_config(run_dir: str | Path, train_overrides: dict[str, Any] | None = None) -> Any:
    """The stored config of a run, with new budget or bookkeeping settings (``[train]`` fields) applied."""
    _, config = stored_config(run_dir)
    if train_overrides:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_overrides))
    return config


def write_config(out: Path, task: Task, config: Any, meta: dict[str, Any]) -> None:
    """config.json: the task, every section of the config, and ``meta`` (version, device, data facts)."""
    ckpt.save_json(out / ckpt.CONFIG_FILE, {"task": task.name, **config.to_dict(),
                                            "meta": {"rnnkit_version": __version__, **meta}})


def load_vocab(task: Task, run_dir: Path) -> Any:
    """The vocabulary a run of ``task`` stored (None for tasks without one), with one-line errors."""
    if task.vocab_class is None:
        return None
    path = run_dir / task.vocab_file
    stored = ckpt.load_json(path)
    if not isinstance(stored, dict):
        raise RnnkitError(f"{path} holds a JSON {type(stored).__name__}, not a vocabulary; restore the run's file")
    try:
        return task.vocab_class.from_dict(stored)
    except RnnkitError as e:
        raise RnnkitError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:  # a hand-edited file's wrong shape
        raise RnnkitError(f"{path} is not a {task.name} vocabulary ({type(e).__name__}: {e}); "
                          "restore the run's file") from None


def train(task: str | Task, config: Any, out: str | Path, *, resume: bool = False, show_progress: bool = True,
          log: Callable[[str], None] = print, **options: Any) -> dict[str, Any]:
    """Train a run of ``task`` with ``config`` into ``out`` (or with ``resume=True`` continue it there).

    ``options`` go to the task's ``prepare`` (e.g. ``series=`` for a forecaster). Returns a summary:
    steps, tokens, elapsed seconds, best validation loss, paths, and the task's own figures.
    """
    task, out = get_task(task), Path(out)
    if task.default_time is not None:
        config = with_default_time(config, task.default_time)  # ten minutes when no budget is given
    config = config.validate()
    if resume and not task.trains:
        raise RnnkitError(f"{out} was made by 'rnnkit train {task.name}' in one go; there is nothing to resume")
    if not resume and os.environ.get("RANK", "0") == "0":  # rank 0 claims; other ranks see its files appear
        claim_run_dir(out, task)
    parts = task.subruns(config)
    if parts is not None:
        if resume:
            raise RnnkitError(f"{out} is made of runs in {', '.join(p for p, _ in parts[:2])}, ...; "
                              f"resume one of them: 'rnnkit train --resume {out / parts[0][0]}'")
        for sub, _ in parts:  # refuse before training any of them
            claim_run_dir(out / sub, task)
        summaries = [train(task, sub_config, out / sub, show_progress=show_progress, log=log)
                     for sub, sub_config in parts]
        ctx = Context(out, torch.device("cpu"), "fp32", log, False, show_progress, train_run=train)
        return task.combine(config, out, summaries, ctx)
    if not task.trains:
        return _fit(task, config, out, log, show_progress)
    device = resolve_device(config.train.device)
    dist = init_distributed(device.type)
    finished = False
    try:
        summary = _train(task, config, out, resume, show_progress, log, device, dist, options)
        finished = True
        return summary
    finally:
        shutdown_distributed(dist, wait=finished)


def _fit(task: Task, config: Any, out: Path, log: Callable, show_progress: bool) -> dict[str, Any]:
    ctx = Context(out, torch.device("cpu"), "fp32", log, False, show_progress, train_run=train)
    fitted = task.fit(config, ctx)
    out.mkdir(parents=True, exist_ok=True)
    if fitted.vocab is not None:
        ckpt.save_json(out / task.vocab_file, fitted.vocab.to_dict())
    write_config(out, task, config, fitted.meta)
    return {"run_dir": str(out), **fitted.meta, **fitted.summary}


def _train(task: Task, config: Any, out: Path, resume: bool, show_progress: bool, log: Callable,
           device: torch.device, dist, options: dict[str, Any]) -> dict[str, Any]:
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if not dist.is_master:
        log = lambda *_: None  # noqa: E731 - only rank 0 speaks
    precision = resolve_precision(config.train.precision, device)
    ctx = Context(out, device, precision, log, resume, show_progress, dist, train_run=train)
    payload = ckpt.load_tensors(out / ckpt.LAST_FILE) if resume else None
    prepared = task.prepare(config, load_vocab(task, out) if resume else None, ctx, **options)
    config, t = prepared.config, prepared.config.train

    ckpt.check_parameter_budget(lambda: task.build_model(config), config.model, "the [model] settings")
    torch.manual_seed(t.seed)  # same initial weights on every rank
    model = task.build_model(config)
    if payload is None:
        task.init_model(model, prepared, ctx)
    model = model.to(device)
    torch.manual_seed(t.seed + dist.rank)  # different dropout masks per rank
    training = task.training(prepared, ctx)
    trainer = Trainer(model, training.batcher, training.loss_fn, training.train_config or t, out, device, precision,
                      evaluate=training.evaluate, dist_info=dist, batch_generator=training.batch_generator,
                      show_progress=show_progress, token_name=task.token_name(config))
    if payload is not None:
        trainer.load_last(payload)
        log(f"rnnkit: resuming {out} at step {trainer.state.step} (epoch {trainer.state.epoch})")
    elif dist.is_master:
        out.mkdir(parents=True, exist_ok=True)
        if prepared.vocab is not None:
            ckpt.save_json(out / task.vocab_file, prepared.vocab.to_dict())
    if hasattr(training.batcher, "seek"):  # batchers that reshuffle per epoch pick up where the run stopped
        training.batcher.seek(trainer.state.epoch, trainer.state.window)
    meta = {"device": str(device), "precision": precision, "world_size": dist.world_size,
            "parameters": num_parameters(model), **prepared.meta}
    if dist.is_master:
        write_config(out, task, config, meta)
        log(f"rnnkit: {num_parameters(model):,} parameters{training.describe}")
    summary = trainer.fit()
    if dist.is_master:
        plot_loss(out / ckpt.METRICS_FILE, out / ckpt.PLOT_FILE, unit=task.token_name(config))
    summary.update({"run_dir": str(out), "precision": precision, "device": str(device),
                    "token": task.token_name(config)})
    if dist.is_master:
        extra_meta = task.finish(prepared, summary, ctx)
        if extra_meta:
            write_config(out, task, config, {**meta, **extra_meta})
    return summary


def resume(run_dir: str | Path, budget: dict[str, Any] | None = None, *, show_progress: bool = True,
           log: Callable[[str], None] = print) -> dict[str, Any]:
    """Continue the run in ``run_dir`` exactly where last.pt stopped, with an optional new budget."""
    task, _ = stored_config(run_dir)
    config = resume_config(run_dir, budget)
    return train(task, config, run_dir, resume=True, show_progress=show_progress, log=log)




def num_parameters(model: torch.nn.Module) -> int:
    """Parameters of ``model`` (counted once when shared)."""
    return sum(p.numel() for p in model.parameters())


__all__ = ["claim_run_dir", "load_vocab", "num_parameters", "resume", "resume_config", "stored_config", "train",
           "write_config"]
