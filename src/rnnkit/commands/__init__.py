"""The command line's task modules: one per task, each turning flags into calls of its ``rnnkit.tasks`` module.

Every module here exposes

    TASK                      the task name stored as ``"task"`` in a run's config.json
    add_parsers(commands, train_tasks)
                              adds ``rnnkit train TASK`` to ``train_tasks`` and any commands of its own
                              (``predict``, ``forecast``, ...) to ``commands``; each parser sets
                              ``handler=`` with ``set_defaults`` (a function ``Namespace -> exit code``)
    resume(args)              ``rnnkit train --resume RUN_DIR`` for runs of this task (optional)
    evaluate(args)            ``rnnkit eval RUN_DIR`` for runs of this task (optional)
    sample(args)              ``rnnkit sample RUN_DIR`` for runs of this task (optional)

``rnnkit.cli`` reads the run's task from config.json and calls the matching module, so a new task
never edits another task's code.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = ("lm", "seq2seq", "conditional_lm", "ngram", "classify", "forecast", "word2vec", "compare", "inspect",
           "serve")


def load_all() -> list[ModuleType]:
    """The task command modules, in the order their commands are listed in --help."""
    return [importlib.import_module(f"rnnkit.commands.{name}") for name in MODULES]
