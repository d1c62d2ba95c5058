"""The one run lifecycle: create (or refuse) a run directory, write its config and vocabulary, train, resume.

Every task goes through ``train(task, config, out)`` and ``resume(run_dir)``; a task supplies only its
data, model, loss and evaluation (``rnnkit.tasks.base.Task``). A run directory is never overwritten by
another run, and ``resume`` continues exactly where last.pt stopped.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from rnnkit import __version__
from rnnkit import checkpoint as ckpt
from rnnkit.config import with_default_time
from rnnkit.errors import RnnkitError
from rnnkit.runs import datahash
from rnnkit.runs.registry import get_task
from rnnkit.tasks.base import Context, Task
from rnnkit.training.distributed import init_distributed, shutdown_distributed
from rnnkit.training.plot import plot_loss
from rnnkit.training.precision import resolve_device, resolve_precision
from rnnkit.training.trainer import Trainer

RUN_FILES = (ckpt.CONFIG_FILE, ckpt.LAST_FILE)  # either one means a directory already holds a run
FORCE_HINT = "or add --force to move it aside"


def claim_run_dir(out: Path, task: Task) -> None:
    """A one-line error when ``out`` already holds a run: a run directory is never overwritten."""
    if out.exists() and not out.is_dir():
        raise RnnkitError(f"--out {out} is a file, not a folder; choose another --out")
    if any((out / name).exists() for name in RUN_FILES):
        how = f"continue it with 'rnnkit train --resume {out}', choose" if task.trains else "choose"
        raise RnnkitError(f"{out} already holds a run; {how} another --out {FORCE_HINT}")
    holds_subruns = out.is_dir() and any((child / ckpt.CONFIG_FILE).exists() for child in out.iterdir())
    # a '.part' file alone is a write cut short (a run killed before its config.json landed): nothing to keep
    holds_files = out.is_dir() and any(not child.name.endswith(".part") for child in out.iterdir())
    if holds_files and not holds_subruns:  # sub-runs (folds) are claimed one by one
        raise RnnkitError(f"--out {out} is a folder that is not empty and holds no run; choose an empty or new --out "
                          f"{FORCE_HINT}")


def set_aside(out: Path, keep: Iterable[Path] = ()) -> Path | None:
    """``--force``: rename a non-empty folder ``out`` to ``OUT.old-YYYYMMDD-HHMMSS`` (never deleting anything);
    returns the new name, or None when there was nothing to move. Refuses the current folder (or one above it)
    and a folder holding one of ``keep`` (the run's data files)."""
    if not out.is_dir() or not any(out.iterdir()):
        return None
    here, where = Path.cwd().resolve(), out.resolve()
    if where == here or where in here.parents:
        raise RnnkitError(f"--force will not move {out}, the current folder or one above it, aside; "
                          "choose another --out")
    inside = next((p for p in keep if where in Path(p).resolve().parents), None)
    if inside is not None:
        raise RnnkitError(f"--out {out} holds the data file {inside}; --force will not move it aside; "
                          "choose another --out")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = out.with_name(f"{out.name}.old-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = out.with_name(f"{out.name}.old-{stamp}-{n}")
    out.rename(aside)
    return aside


def remove_partial_writes(run_dir: Path) -> list[Path]:
    """Delete ``*.part`` files a kill during an atomic write left behind (``fileio.atomic_write``); only the
    process that owns the run (a resume) may do this: a live writer's temp file must not vanish."""
    removed = []
    for part in run_dir.glob("*.part"):
        if part.is_file():
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


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
          log: Callable[[str], None] = print, force: bool = False, allow_data_change: bool = False,
          **options: Any) -> dict[str, Any]:
    """Train a run of ``task`` with ``config`` into ``out`` (or with ``resume=True`` continue it there).

    ``force`` moves a run or non-empty folder already in ``out`` aside (``set_aside``) instead of refusing.
    ``allow_data_change`` lets a resume continue on data whose content hash changed. ``options`` go to the
    task's ``prepare`` (e.g. ``series=`` for a forecaster). Returns a summary: steps, tokens, elapsed seconds,
    best validation loss, paths, and the task's own figures. Resuming a run whose budget is spent raises
    ``RunFinished`` and writes nothing.
    """
    task, out = get_task(task), Path(out)
    if task.default_time is not None:
        config = with_default_time(config, task.default_time)  # ten minutes when no budget is given
    config = config.validate()
    if resume and not task.trains:
        raise RnnkitError(f"{out} was made by 'rnnkit train {task.name}' in one go; there is nothing to resume")
    if not resume and os.environ.get("RANK", "0") == "0":  # rank 0 claims; other ranks see its files appear
        if force and (aside := set_aside(out, datahash.data_files(config, {}))) is not None:
            log(f"rnnkit: moved the old {out} aside to {aside} (--force)")
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
        summary = _train(task, config, out, resume, show_progress, log, device, dist, options, allow_data_change)
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


class RunFinished(Exception):
    """``resume`` of a run whose budget is already spent; nothing was trained or written."""


def _finished_line(out: Path, trainer: Trainer, t: Any) -> str:
    """What to say when a resumed run has nothing left to do, and how to give it more."""
    s = trainer.state
    if t.patience is not None and s.evals_since_best >= t.patience:
        return (f"{out} is finished: it stopped early at step {s.step} after {s.evals_since_best} validations "
                "without a new best (patience); nothing to resume")
    # "more" doubles what the run has done (a budget given at the resume may be below it)
    if t.max_steps is not None and s.step >= t.max_steps:
        budget, more = f"--max-steps {t.max_steps}", f"--max-steps {2 * max(t.max_steps, s.step)}"
    elif t.epochs is not None and s.step >= t.epochs * trainer.steps_per_epoch:
        done = max(t.epochs, s.step / trainer.steps_per_epoch)
        budget, more = f"--epochs {t.epochs:g}", f"--epochs {math.ceil(2 * done):d}"
    else:
        budget, more = f"--time {t.time:g}s", f"--time {math.ceil(2 * max(t.time, s.elapsed)):d}s"
    return (f"{out} is finished: it trained its whole budget ({budget}, {s.step} steps); nothing was written. "
            f"To train longer, give a larger budget: 'rnnkit train --resume {out} {more}'")


def _train(task: Task, config: Any, out: Path, resume: bool, show_progress: bool, log: Callable,
           device: torch.device, dist, options: dict[str, Any], allow_data_change: bool = False) -> dict[str, Any]:
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if not dist.is_master:
        log = lambda *_: None  # noqa: E731 - only rank 0 speaks
    precision = resolve_precision(config.train.precision, device)
    payload, stored_hashes = None, None
    if resume:
        if dist.is_master:
            for part in remove_partial_writes(out):
                log(f"rnnkit: removed {part.name}, left by a checkpoint write that was cut short")
        if (out / ckpt.LAST_FILE).exists():
            payload = ckpt.load_tensors(out / ckpt.LAST_FILE)
        else:  # stopped before its first checkpoint: start it again, with its stored settings
            log(f"rnnkit: {out} has no {ckpt.LAST_FILE} (it stopped before its first checkpoint); "
                "starting it again from step 0 with its stored settings")
        stored = ckpt.load_json(out / ckpt.CONFIG_FILE)
        stored_meta = stored.get("meta") if isinstance(stored, dict) else None
        if isinstance(stored_meta, dict) and isinstance(stored_meta.get(datahash.META_KEY), dict):
            stored_hashes = datahash.check_unchanged(stored_meta[datahash.META_KEY], out, allow_data_change, log)
    ctx = Context(out, device, precision, log, resume, show_progress, dist, train_run=train)
    prepared = task.prepare(config, load_vocab(task, out) if payload is not None else None, ctx, **options)
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
        if trainer.finished():
            raise RunFinished(_finished_line(out, trainer, t))
        log(f"rnnkit: resuming {out} at step {trainer.state.step} (epoch {trainer.state.epoch})")
    elif resume:
        trainer.truncate_metrics()  # starting again from step 0: rows of the lost attempt go
    if hasattr(training.batcher, "seek"):  # batchers that reshuffle per epoch pick up where the run stopped
        training.batcher.seek(trainer.state.epoch, trainer.state.window)
    hashes = stored_hashes if stored_hashes is not None else datahash.fingerprint(
        datahash.data_files(config, prepared.meta))
    meta = {"device": str(device), "precision": precision, "world_size": dist.world_size,
            "parameters": num_parameters(model), **prepared.meta, datahash.META_KEY: hashes}
    if dist.is_master:
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, task, config, meta)  # config.json first: from here on the run resumes
        if payload is None and prepared.vocab is not None:
            ckpt.save_json(out / task.vocab_file, prepared.vocab.to_dict())
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
           log: Callable[[str], None] = print, allow_data_change: bool = False) -> dict[str, Any]:
    """Continue the run in ``run_dir`` exactly where last.pt stopped, with an optional new budget.

    Refuses (one line) when a data file's content changed since the run started, unless ``allow_data_change``;
    raises ``RunFinished`` when the budget is already spent.
    """
    task, _ = stored_config(run_dir)
    config = resume_config(run_dir, budget)
    return train(task, config, run_dir, resume=True, show_progress=show_progress, log=log,
                 allow_data_change=allow_data_change)




def num_parameters(model: torch.nn.Module) -> int:
    """Parameters of ``model`` (counted once when shared)."""
    return sum(p.numel() for p in model.parameters())


__all__ = ["RunFinished", "claim_run_dir", "load_vocab", "num_parameters", "remove_partial_writes", "resume",
           "resume_config", "set_aside", "stored_config", "train", "write_config"]
