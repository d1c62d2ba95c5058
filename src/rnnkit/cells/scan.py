"""The first-order linear recurrence ``h_t = a_t * h_{t-1} + b_t`` over a whole sequence at once.

minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?") have gates that depend on the
input alone, so their recurrence is linear in ``h`` with coefficients known for every step in
advance. Heinsen (2023, "Efficient parallelization of a ubiquitous sequential computation") computes
it with two cumulative operations in log space, where products become sums and nothing overflows:

    a*_t = sum_{s<=t} log a_s                                   (cumsum)
    h_t  = exp(a*_t) * h_0 + exp(a*_t + logcumsumexp_{s<=t}(log b_s - a*_s))

(``b_t > 0``; ``h_0`` may have any sign, so it enters linearly instead of as the first ``log b``.)

Chunked: the sequence is cut into chunks of ``chunk_size`` steps; within a chunk the formula above runs
for all steps at once (vectorised over batch and features), across chunks the state is carried in a
short Python loop. Chunks keep ``a*`` small, so fp32 keeps its precision on long sequences (``a*``
grows like ``-T``), and on the CPU they are faster than one scan over thousands of steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Steps per chunk by device type (benchmarks/bench_cells.py --chunk measures the choice): on the CPU
#: cumulative ops are sequential anyway and a chunk that fits the cache wins; a GPU wants few launches.
CHUNK_SIZE = {"cpu": 64, "cuda": 512}
DEFAULT_CHUNK_SIZE = 256  # any other device


def default_chunk_size(device: torch.device) -> int:
    """The chunk length ``scan`` uses on ``device`` when none is given."""
    return CHUNK_SIZE.get(device.type, DEFAULT_CHUNK_SIZE)


def scan(log_a: Tensor, log_b: Tensor, h0: Tensor | None = None, chunk_size: int | None = None) -> Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t``, given ``log a`` and ``log b``.

    Parameters
    ----------
    log_a, log_b : (B, T, H) logs of the coefficients (``a_t, b_t > 0``; ``log b`` may be ``-inf``)
    h0 : optional (B, H) initial state, any sign; zeros if omitted
    chunk_size : steps scanned at once; ``default_chunk_size(device)`` if omitted

    Returns
    -------
    (B, T, H) the states h_1 .. h_T
    """
    if log_a.shape != log_b.shape or log_a.dim() != 3:
        raise ValueError(f"scan needs log_a and log_b of one shape (B, T, H), got {tuple(log_a.shape)} "
                         f"and {tuple(log_b.shape)}")
    steps = log_a.shape[1]
    chunk = chunk_size or default_chunk_size(log_a.device)
    h = h0
    chunks = []
    for start in range(0, steps, chunk):
        la, lb = log_a[:, start:start + chunk], log_b[:, start:start + chunk]  # (B, C, H)
        a_star = la.cumsum(dim=1)  # (B, C, H) log of the product of a since the chunk's start
        states = torch.exp(a_star + torch.logcumsumexp(lb - a_star, dim=1))  # (B, C, H) from zero
        if h is not None:
            states = states + torch.exp(a_star) * h.unsqueeze(1)  # what is left of the carried state
        chunks.append(states)
        h = states[:, -1]  # (B, H)
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)  # (B, T, H)


def scan_reference(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """The same recurrence as a plain time loop over ``a, b`` (B, T, H) (for tests and benchmarks)."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    states = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, H)
