"""The one run lifecycle and the trained-run object every command, server and inspector goes through.

    from rnnkit.runs import train, resume, open_run
    summary = train("lm", config, "runs/mine")      # create (never overwrite) a run directory and train
    resume("runs/mine", {"max_steps": 4000})         # continue exactly where last.pt stopped
    run = open_run("runs/mine")                      # config, vocabulary, model; run.predictor() answers
"""

from rnnkit.runs.lifecycle import claim_run_dir, resume, resume_config, stored_config, train
from rnnkit.runs.registry import get_task, known_tasks, register, unregister
from rnnkit.runs.run import Run, evaluate, open_run

__all__ = ["Run", "claim_run_dir", "evaluate", "get_task", "known_tasks", "open_run", "register", "resume",
           "resume_config", "stored_config", "train", "unregister"]
