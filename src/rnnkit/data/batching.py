"""Language-model batching: stateful truncated-BPTT streams and random windows, batch-first.

Both batchers keep the corpus in its compact storage dtype and build int64 (B, T) tensors per batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from rnnkit.errors import RnnkitError


def _as_ids(ids: np.ndarray | torch.Tensor) -> np.ndarray:
    """A 1-D integer NumPy array (a view where possible)."""
    arr = ids.cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"ids must be a 1-D integer array, got shape {arr.shape} and dtype {arr.dtype}")
    return arr


def _check_positive(name: str, value: int, flag: str) -> None:
    if value < 1:
        raise RnnkitError(f"{name} must be >= 1, got {value}; use e.g. {flag} 32")


def _too_short(n: int) -> RnnkitError:
    return RnnkitError(f"corpus has {n} tokens, fewer than 2 needed for one training window; use a longer text")


def _to_tensor(block: np.ndarray) -> torch.Tensor:
    """int64 tensor copy of a NumPy block."""
    return torch.from_numpy(np.ascontiguousarray(block, dtype=np.int64))


class StreamBatcher:
    """Stateful truncated-BPTT batches: `batch_size` contiguous streams read left to right in windows.

    The corpus is cut into `batch_size` equal streams, one per row (the remainder is dropped), as in
    pytorch/examples word_language_model's ``batchify``/``get_batch`` but batch-first. Window k of an
    epoch holds columns ``[k*T, k*T + T)`` of every row as x and the same columns shifted by one as y,
    so row b of window k+1 continues row b of window k and a model may carry (detached) hidden state
    across windows. Example with 26 tokens a..z, batch_size=4, seq_len=3 (stream_len=6, y and z dropped)::

                    window 0        window 1 (short: T=2)
                  x       y        x     y
        row 0:  a b c  -> b c d    d e -> e f
        row 1:  g h i  -> h i j    j k -> k l
        row 2:  m n o  -> n o p    p q -> q r
        row 3:  s t u  -> t u v    v w -> w x

    The last window of an epoch is kept with a shorter T (>= 1) so no data is lost; every token is an
    input exactly once per epoch except the last token of each stream (a target only) and the dropped
    remainder. If the corpus is too short for `batch_size` streams of seq_len+1 tokens, batch_size (and,
    if needed, seq_len) is shrunk and `.warning` says so; fewer than 2 tokens raises RnnkitError.
    """

    def __init__(self, ids: np.ndarray | torch.Tensor, batch_size: int, seq_len: int) -> None:
        _check_positive("batch_size", batch_size, "--batch-size")
        _check_positive("seq_len", seq_len, "--seq-len")
        arr = _as_ids(ids)
        n = arr.size
        if n < 2:
            raise _too_short(n)
        self.requested_batch_size = batch_size
        self.requested_seq_len = seq_len
        self.warning: str | None = None
        if n // batch_size < seq_len + 1:
            new_batch = max(1, n // (seq_len + 1))
            new_seq = min(seq_len, n // new_batch - 1)
            changes = f"batch_size={new_batch}" + (f" and seq_len={new_seq}" if new_seq != seq_len else "")
            self.warning = (
                f"corpus has {n} tokens, too few for batch_size={batch_size} streams of "
                f"seq_len+1={seq_len + 1} tokens; using {changes}"
            )
            batch_size, seq_len = new_batch, new_seq
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.stream_len = n // batch_size
        self._streams = arr[: batch_size * self.stream_len].reshape(batch_size, self.stream_len)  # (B, L)

    def __len__(self) -> int:
        """Windows per epoch."""
        return -(-(self.stream_len - 1) // self.seq_len)

    @property
    def tokens_per_batch(self) -> int:
        """Input tokens in a full window (B * T), for throughput."""
        return self.batch_size * self.seq_len

    @property
    def tokens_per_epoch(self) -> int:
        """Input tokens in one epoch, short last window included."""
        return self.batch_size * (self.stream_len - 1)

    def window(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Window k as (x, y), int64 tensors of shape (B, T) with y[:, t] = x[:, t+1] along the stream."""
        if not 0 <= k < len(self):
            raise IndexError(f"window {k} out of range for {len(self)} windows")
        start = k * self.seq_len
        t = min(self.seq_len, self.stream_len - 1 - start)  # >= 1
        x = _to_tensor(self._streams[:, start : start + t])  # (B, T)
        y = _to_tensor(self._streams[:, start + 1 : start + 1 + t])  # (B, T)
        return x, y

    def batches(self, start_window: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the epoch's windows in order, from `start_window` (to resume mid-epoch)."""
        if not 0 <= start_window <= len(self):
            raise RnnkitError(
                f"cannot resume at window {start_window}: an epoch has {len(self)} windows; "
                "did the corpus, --batch-size or --seq-len change since the checkpoint?"
            )
        for k in range(start_window, len(self)):
            yield self.window(k)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches()


class RandomWindowBatcher:
    """Batches of `batch_size` windows at random offsets (drawn with `generator`), no state across batches.

    `len()` and iteration give `steps_per_epoch = max(1, len(ids) // (B * T))` batches, about one pass
    over the corpus. If the corpus is shorter than seq_len+1 tokens, seq_len is shrunk and `.warning`
    says so; fewer than 2 tokens raises RnnkitError.
    """

    def __init__(
        self,
        ids: np.ndarray | torch.Tensor,
        batch_size: int,
        seq_len: int,
        generator: torch.Generator | None = None,
    ) -> None:
        _check_positive("batch_size", batch_size, "--batch-size")
        _check_positive("seq_len", seq_len, "--seq-len")
        self._ids = _as_ids(ids)
        n = self._ids.size
        if n < 2:
            raise _too_short(n)
        self.warning: str | None = None
        if n < seq_len + 1:
            self.warning = f"corpus has {n} tokens, fewer than seq_len+1={seq_len + 1}; using seq_len={n - 1}"
            seq_len = n - 1
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.generator = generator  # None: torch's global RNG
        self.steps_per_epoch = max(1, n // (batch_size * seq_len))

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.steps_per_epoch

    @property
    def tokens_per_batch(self) -> int:
        """Input tokens per batch (B * T), for throughput."""
        return self.batch_size * self.seq_len

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch (x, y) of int64 tensors of shape (B, T), y shifted by one."""
        high = self._ids.size - self.seq_len  # start offsets in [0, high)
        starts = torch.randint(0, high, (self.batch_size,), generator=self.generator).numpy()  # (B,)
        index = starts[:, None] + np.arange(self.seq_len + 1)  # (B, T+1)
        block = _to_tensor(self._ids[index])  # (B, T+1)
        return block[:, :-1].contiguous(), block[:, 1:].contiguous()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.steps_per_epoch):
            yield self.sample()
