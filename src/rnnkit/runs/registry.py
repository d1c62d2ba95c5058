"""The registry of tasks: built-in ones by name (imported on first use), and any a user registers."""

from __future__ import annotations

import importlib

from rnnkit import __version__
from rnnkit.errors import RnnkitError
from rnnkit.tasks.base import Task

# task name -> module defining ``TASK``, a ``rnnkit.tasks.base.Task`` (imported only when asked for,
# so that 'rnnkit --help' and a classifier run never import the forecasting stack)
BUILTIN: dict[str, str] = {
    "lm": "rnnkit.tasks.lm",
    "classify": "rnnkit.tasks.classify",
    "forecast": "rnnkit.tasks.forecast",
    "seq2seq": "rnnkit.tasks.seq2seq",
    "conditional-lm": "rnnkit.tasks.conditional_lm",
    "word2vec": "rnnkit.tasks.word2vec",
    "ngram": "rnnkit.tasks.ngram",
}
_registered: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Make ``task`` (a ``Task`` instance with a unique ``name``) known to ``train``, ``resume`` and ``open_run``."""
    if not isinstance(task, Task) or not task.name:
        raise TypeError("register() takes a rnnkit.tasks.base.Task instance with a name")
    _registered[task.name] = task
    return task


def unregister(name: str) -> None:
    """Forget a registered task (built-in tasks stay)."""
    _registered.pop(name, None)


def known_tasks() -> list[str]:
    """Names of every task: built-in, then registered."""
    return [*BUILTIN, *(n for n in _registered if n not in BUILTIN)]


def get_task(name: str | Task, where: str | None = None) -> Task:
    """The task called ``name`` (a Task passes through); a one-line error for an unknown one."""
    if isinstance(name, Task):
        return name
    if name in _registered:
        return _registered[name]
    if isinstance(name, str) and name in BUILTIN:
        return importlib.import_module(BUILTIN[name]).TASK
    prefix = f"{where}: " if where else ""
    raise RnnkitError(f"{prefix}unknown task {name!r}; this rnnkit {__version__} knows {', '.join(known_tasks())}")


__all__ = ["BUILTIN", "get_task", "known_tasks", "register", "unregister"]
