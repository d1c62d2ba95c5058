"""Train / validation / test splits, each a pure function of its inputs and a seed.

    split_train_val      the last fraction of a token stream (language models: no shuffling, as nanoGPT)
    split_indices        a seeded random split of N examples, optionally stratified by group
    stratified_split     a seeded per-class split that keeps every class in training (classifiers)
    stratified_folds     K disjoint, class-balanced test folds (cross-validation)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError


def split_train_val(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Split ids into (train, val) views: the last `val_fraction` is validation, as in nanoGPT."""
    if not 0 <= val_fraction < 1:
        raise RnnkitError(f"val_fraction must be in [0, 1), got {val_fraction}; use e.g. --val-fraction 0.1")
    n_train = int(len(ids) * (1 - val_fraction))
    return ids[:n_train], ids[n_train:]


def split_indices(n: int, val_fraction: float, seed: int, val_size: int | None = None,
                  groups: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into (train, val) indices; stratified by ``groups`` when given."""
    if not 0 <= val_fraction < 1:
        raise RnnkitError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(n)
        n_val = min(val_size, n - 1) if val_size is not None else int(round(n * val_fraction))
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    groups = np.asarray(groups)
    train, val = [], []
    for g in sorted(set(groups.tolist())):
        members = rng.permutation(np.flatnonzero(groups == g))
        n_val = int(round(len(members) * val_fraction)) if len(members) > 1 else 0
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) index arrays; each class contributes round(fraction * its count) held-out examples."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        take = int(round(fraction * len(members)))
        take = min(take, len(members) - 1)  # keep every class in training
        held.append(members[:take])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), held_out)
    return train, held_out


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint test-index arrays covering every example once; each class spread evenly over the folds."""
    labels = np.asarray(labels)
    if k < 2:
        raise RnnkitError(f"--cv must be >= 2 folds, got {k}")
    counts = np.bincount(labels)
    if counts[counts > 0].min() < k:
        raise RnnkitError(f"--cv {k} needs at least {k} examples of every class, the rarest has "
                          f"{counts[counts > 0].min()}; use fewer folds")
    rng = np.random.default_rng(seed)
    folds: list[list[np.ndarray]] = [[] for _ in range(k)]
    offset = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        # deal the class round-robin, starting where the previous class stopped, so fold sizes stay even
        for j in range(k):
            folds[(j + offset) % k].append(members[j::k])
        offset += len(members) % k
    return [np.sort(np.concatenate(f)) for f in folds]


__all__ = ["split_indices", "split_train_val", "stratified_folds", "stratified_split"]
