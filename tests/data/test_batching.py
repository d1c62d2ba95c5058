"""Tests for rnnkit.data.batching: stateful TBPTT streams and random windows."""

import numpy as np
import pytest
import torch

from rnnkit.data.batching import RandomWindowBatcher, StreamBatcher
from rnnkit.errors import RnnkitError


def corpus(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint16)  # token value == position, so coverage is easy to check


def test_stream_shapes_dtype_and_shift():
    batcher = StreamBatcher(corpus(103), batch_size=4, seq_len=5)
    assert batcher.stream_len == 25 and len(batcher) == 5  # ceil(24 / 5)
    batches = list(batcher)
    assert len(batches) == len(batcher)
    for k, (x, y) in enumerate(batches):
        assert x.dtype == torch.int64 and y.dtype == torch.int64
        assert x.shape == y.shape == (4, 5 if k < 4 else 4)  # last window is short
        assert torch.equal(y, x + 1)  # y is x shifted by one along each stream


def test_stream_windows_are_consecutive_per_row():
    batcher = StreamBatcher(corpus(1000), batch_size=7, seq_len=9)
    batches = list(batcher)
    for (x0, y0), (x1, _) in zip(batches, batches[1:], strict=False):
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # row b resumes right where it stopped
        assert torch.equal(x1[:, 0], y0[:, -1])


def test_stream_covers_every_token_once_except_tails():
    n, batch_size = 1000, 7
    batcher = StreamBatcher(corpus(n), batch_size=batch_size, seq_len=9)
    seen = torch.cat([x.reshape(-1) for x, _ in batcher])
    counts = torch.bincount(seen, minlength=n)
    stream_len = n // batch_size
    ends = {b * stream_len + stream_len - 1 for b in range(batch_size)}  # last token of each stream
    expected = torch.tensor([0 if (i in ends or i >= batch_size * stream_len) else 1 for i in range(n)])
    assert torch.equal(counts, expected)
    assert seen.numel() == batcher.tokens_per_epoch


def test_stream_shrinks_batch_on_short_corpus():
    batcher = StreamBatcher(corpus(500), batch_size=64, seq_len=100)
    assert batcher.batch_size == 4 and batcher.seq_len == 100
    assert batcher.warning == (
        "corpus has 500 tokens, too few for batch_size=64 streams of seq_len+1=101 tokens; using batch_size=4"
    )
    assert len(batcher) >= 1
    x, _ = next(iter(batcher))
    assert x.shape == (4, 100)
    assert StreamBatcher(corpus(500), batch_size=4, seq_len=100).warning is None


def test_stream_shrinks_seq_len_when_shorter_than_one_window():
    batcher = StreamBatcher(corpus(12), batch_size=8, seq_len=100)
    assert (batcher.batch_size, batcher.seq_len) == (1, 11)
    assert "using batch_size=1 and seq_len=11" in batcher.warning
    ((x, y),) = list(batcher)
    assert x.tolist() == [list(range(11))] and y.tolist() == [list(range(1, 12))]


def test_stream_two_tokens_is_one_window():
    ((x, y),) = list(StreamBatcher(corpus(2), batch_size=3, seq_len=5))
    assert x.tolist() == [[0]] and y.tolist() == [[1]]


@pytest.mark.parametrize("n", [0, 1])
def test_stream_rejects_tiny_corpus(n):
    with pytest.raises(RnnkitError, match=f"corpus has {n} tokens, fewer than 2 needed for one training window"):
        StreamBatcher(corpus(n), batch_size=4, seq_len=8)


def test_stream_rejects_bad_sizes():
    with pytest.raises(RnnkitError, match="batch_size must be >= 1, got 0"):
        StreamBatcher(corpus(100), batch_size=0, seq_len=8)
    with pytest.raises(RnnkitError, match="seq_len must be >= 1, got -1"):
        StreamBatcher(corpus(100), batch_size=2, seq_len=-1)


def test_stream_start_window_resumes():
    batcher = StreamBatcher(corpus(1000), batch_size=5, seq_len=8)
    full = list(batcher)
    resumed = list(batcher.batches(start_window=3))
    assert len(resumed) == len(full) - 3
    for (xa, ya), (xb, yb) in zip(full[3:], resumed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert list(batcher.batches(start_window=len(batcher))) == []
    with pytest.raises(RnnkitError, match="cannot resume at window"):
        next(batcher.batches(start_window=len(batcher) + 1))


def test_stream_accepts_tensor_and_reports_throughput():
    batcher = StreamBatcher(torch.arange(100), batch_size=2, seq_len=10)
    assert batcher.tokens_per_batch == 20


def test_random_windows_reproducible_and_shifted():
    ids = corpus(5000)
    a = RandomWindowBatcher(ids, batch_size=8, seq_len=16, generator=torch.Generator().manual_seed(7))
    b = RandomWindowBatcher(ids, batch_size=8, seq_len=16, generator=torch.Generator().manual_seed(7))
    c = RandomWindowBatcher(ids, batch_size=8, seq_len=16, generator=torch.Generator().manual_seed(8))
    assert len(a) == a.steps_per_epoch == 5000 // (8 * 16)
    batches_a, batches_b = list(a), list(b)
    assert len(batches_a) == len(a)
    for (xa, ya), (xb, yb) in zip(batches_a, batches_b, strict=True):
        assert xa.shape == ya.shape == (8, 16) and xa.dtype == torch.int64
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(ya, xa + 1)
        assert int(ya.max()) <= 4999 and int(xa.min()) >= 0
    assert not torch.equal(batches_a[0][0], c.sample()[0])
    assert a.tokens_per_batch == 128


def test_random_windows_short_corpus():
    batcher = RandomWindowBatcher(corpus(5), batch_size=4, seq_len=10, generator=torch.Generator().manual_seed(0))
    assert batcher.seq_len == 4 and "using seq_len=4" in batcher.warning
    assert batcher.steps_per_epoch == 1
    x, y = batcher.sample()
    assert x.tolist() == [[0, 1, 2, 3]] * 4 and y.tolist() == [[1, 2, 3, 4]] * 4
    with pytest.raises(RnnkitError, match="fewer than 2 needed"):
        RandomWindowBatcher(corpus(1), batch_size=4, seq_len=10)
