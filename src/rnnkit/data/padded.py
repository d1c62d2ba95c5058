"""Variable-length sequences in padded batches: padding (id 0), length buckets, random batches, lengths for packing.

Sorting examples of similar length into the same batch keeps padding small; the recurrent layer is
then given ``lengths`` and packs the batch, so padded steps cost no compute at all. Batches are
``((ids, lengths), labels)`` with ``ids`` (B, T) int64 padded with 0, ``lengths`` (B,) int64 and
``labels`` (B,) int64.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from rnnkit.errors import RnnkitError

PAD_ID = 0
POOL_BATCHES = 50  # examples are sorted by length within pools of this many batches


def pad_batch(seqs: Sequence[np.ndarray], pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (B, T), lengths (B,))`` for 1-D id arrays; T is the longest length, the rest padded."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    ids = np.full((len(seqs), int(lengths.max(initial=1))), pad_id, dtype=np.int64)  # (B, T)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = s
    return torch.from_numpy(ids), torch.from_numpy(lengths)


def pad_sequences(seqs: Sequence[Sequence[int]], prefix: Sequence[int] = (), suffix: Sequence[int] = ()
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists (each wrapped in ``prefix``/``suffix``) with ``<pad>`` into (N, T) int64 and their lengths (N,)."""
    return pad_batch([[*prefix, *s, *suffix] for s in seqs])


def trim(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Drop the all-padding columns of (B, T) ``ids`` beyond the longest of ``lengths``."""
    return ids[:, : max(1, int(lengths.max()))]


class BucketBatcher:
    """Shuffled, length-bucketed batches of ``((ids, lengths), labels)`` for the Trainer.

    Each epoch the examples are shuffled, cut into pools of ``POOL_BATCHES`` batches, sorted by length
    within each pool and cut into batches whose order is shuffled again. The plan of epoch ``e`` depends
    only on ``(seed, e)``, so ``seek(epoch, batch)`` puts a resumed run exactly where it stopped.
    """

    def __init__(self, seqs: Sequence[np.ndarray], labels: np.ndarray, batch_size: int, seed: int = 0) -> None:
        if batch_size < 1:
            raise RnnkitError(f"--batch-size must be >= 1, got {batch_size}")
        if len(seqs) == 0:
            raise RnnkitError("no training examples; give more data or a smaller --val-fraction")
        if len(seqs) != len(labels):
            raise ValueError(f"{len(seqs)} sequences but {len(labels)} labels")
        self.seqs, self.labels = list(seqs), np.asarray(labels, dtype=np.int64)
        self.batch_size = min(batch_size, len(self.seqs))
        self.lengths = np.fromiter((len(s) for s in self.seqs), dtype=np.int64, count=len(self.seqs))
        self.seed = seed
        self.epoch, self.position = 0, 0
        self._plan: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return math.ceil(len(self.seqs) / self.batch_size)

    def plan(self, epoch: int) -> list[np.ndarray]:
        """The batches (index arrays) of ``epoch``, in order."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.seqs))
        pool = self.batch_size * POOL_BATCHES
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def seek(self, epoch: int, batch: int) -> None:
        """Continue from batch ``batch`` of ``epoch`` (what a resumed run's TrainState says)."""
        self.epoch, self.position, self._plan = epoch, batch, None

    def batch(self, index: np.ndarray) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The padded batch of the examples at ``index``."""
        ids, lengths = pad_batch([self.seqs[i] for i in index])
        return (ids, lengths), torch.from_numpy(self.labels[index])

    def sample(self) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The next batch; after the last batch of an epoch, the first of the next."""
        if self.position >= len(self):
            self.epoch, self.position, self._plan = self.epoch + 1, 0, None
        if self._plan is None:
            self._plan = self.plan(self.epoch)
        index = self._plan[self.position]
        self.position += 1
        return self.batch(index)


def sorted_batches(seqs: Sequence[np.ndarray], max_tokens: int = 8192,
                   max_batch: int = 512) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """Inference batches in order of length: ``(index (B,), ids (B, T), lengths (B,))``.

    Each batch holds at most ``max_batch`` sequences and about ``max_tokens`` padded positions, so a few
    very long inputs do not blow up memory; ``index`` says which inputs the rows are.
    """
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        stop = start + 1
        while stop < len(order) and stop - start < max_batch and (stop - start + 1) * max(
                int(lengths[order[stop]]), longest) <= max_tokens:
            stop += 1
        index = order[start:stop]
        ids, lens = pad_batch([seqs[i] for i in index])
        yield index, ids, lens
        start = stop


class PairBatcher:
    """Independent random batches of padded tensors for the Trainer: ``sample() -> (x, y)``, ``len()``.

    ``tensors`` are row-aligned tensors (N, ...) with their lengths; ``make_batch(rows)`` turns a
    (B,) index tensor into ``(x, y)``. Rows are drawn with replacement from ``generator`` (its state
    is checkpointed by the Trainer, so a resumed run draws the same batches), optionally with
    per-row ``weights`` (e.g. to balance labels). An epoch is ``ceil(N / batch_size)`` batches.
    """

    def __init__(self, num_rows: int, batch_size: int, make_batch, generator: torch.Generator,
                 weights: torch.Tensor | None = None) -> None:
        if num_rows < 1:
            raise RnnkitError("no training examples; give more data or lower --val-fraction")
        if batch_size < 1:
            raise RnnkitError(f"--batch-size must be >= 1, got {batch_size}")
        self.num_rows, self.batch_size, self.make_batch = num_rows, batch_size, make_batch
        self.generator, self.weights = generator, weights

    def __len__(self) -> int:
        return -(-self.num_rows // self.batch_size)

    def sample(self):
        if self.weights is None:
            rows = torch.randint(self.num_rows, (self.batch_size,), generator=self.generator)  # (B,)
        else:
            rows = torch.multinomial(self.weights, self.batch_size, replacement=True, generator=self.generator)
        return self.make_batch(rows)


__all__ = ["PAD_ID", "BucketBatcher", "PairBatcher", "pad_batch", "pad_sequences", "sorted_batches", "trim"]
