"""Learning-rate schedule: linear warmup, then cosine decay over the run's progress."""

from __future__ import annotations

import math


def lr_at(step: int, progress: float, base_lr: float, warmup_steps: int, min_lr_ratio: float) -> float:
    """Learning rate at optimizer step ``step`` (0-based) with ``progress`` in [0, 1] of the budget.

    Progress, not the step count, drives the cosine so that a ``--time`` budget, whose number
    of steps is unknown in advance, decays to ``min_lr_ratio * base_lr`` exactly when time runs out.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(max(progress, 0.0), 1.0)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return base_lr * (min_lr_ratio + (1.0 - min_lr_ratio) * cosine)
