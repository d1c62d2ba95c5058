"""The first-order linear recurrence ``h_t = a_t * h_{t-1} + b_t`` over a whole sequence at once.

minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?") have gates that depend on the
input alone, so their recurrence is linear in ``h`` with coefficients known for every step in
advance. Heinsen (2023, "Efficient parallelization of a ubiquitous sequential computation") computes
it with two cumulative operations in log space, where products become sums and nothing overflows:

    a*_t = sum_{s<=t} log a_s                                   (cumsum)
    h_t  = exp(a*_t) * h_0 + exp(a*_t + logcumsumexp_{s<=t}(log b_s - a*_s))

(``b_t > 0``; ``h_0`` may have any sign, so it enters linearly instead of as the first ``log b``.)

Two methods compute it, with one hand-written backward each (the gradient is the same recurrence run
backwards in time):

``"log"``         the Heinsen scan, chunked: the sequence is cut into chunks of ``chunk_size`` steps,
                  each scanned at once, the state carried across chunks in a short loop. Chunks keep
                  ``a*`` small, so fp32 keeps its precision however long the sequence. The GPU's method.
``"sequential"``  ``linear_scan``: ``a`` and ``b`` in linear space, one fused multiply-add per step in a
                  time loop. On the CPU this is several times faster than the log scan (which spends its
                  time in transcendental passes over (B, T, H): benchmarks/bench_cells.py --scan), and the
                  time loop is cheap beside the LSTM's, which needs a matrix multiply per step. The cells
                  hand it ``a`` and ``b`` computed directly (``ParallelCell.coefficients``), not via logs.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

METHODS = ("log", "sequential")
#: The method ``scan`` uses by device type when none is given (measured: benchmarks/bench_cells.py --scan).
DEFAULT_METHOD = {"cpu": "sequential"}  # every other device: "log"
#: Steps per chunk of the "log" method: few launches on a GPU, and a* stays within fp32's comfort.
CHUNK_SIZE = 512


def default_method(device: torch.device) -> str:
    """The method ``scan`` uses on ``device`` when none is given."""
    return DEFAULT_METHOD.get(device.type, "log")


def scan(log_a: Tensor, log_b: Tensor, h0: Tensor | None = None, chunk_size: int | None = None,
         method: str | None = None) -> Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t``, given ``log a`` and ``log b``.

    Differentiable in ``log_a``, ``log_b`` and ``h0``, with a hand-written backward (``_LogScan``, ``_LinearScan``): the
    gradient is the same recurrence run backwards in time, which costs about a forward pass, where
    autograd through ``logcumsumexp`` costs about ten.

    Parameters
    ----------
    log_a, log_b : (B, T, H) logs of the coefficients (``a_t, b_t > 0``; ``log b`` may be ``-inf``)
    h0 : optional (B, H) initial state, any sign; zeros if omitted
    chunk_size : steps scanned at once by the "log" method; ``CHUNK_SIZE`` if omitted
    method : "log" or "sequential" (see the module's docstring); ``default_method(device)`` if omitted

    Returns
    -------
    (B, T, H) the states h_1 .. h_T
    """
    if log_a.shape != log_b.shape or log_a.dim() != 3:
        raise ValueError(f"scan needs log_a and log_b of one shape (B, T, H), got {tuple(log_a.shape)} "
                         f"and {tuple(log_b.shape)}")
    method = method or default_method(log_a.device)
    if method not in METHODS:
        raise ValueError(f"unknown scan method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "sequential":
        return linear_scan(log_a.exp(), log_b.exp(), h0)
    chunk = chunk_size or CHUNK_SIZE
    if h0 is None:
        return _LogScan.apply(log_a, log_b, chunk)
    return _LogScan.apply(log_a, log_b, chunk, h0)


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t`` by a time loop in linear space (the "sequential" method).

    Parameters
    ----------
    a, b : (B, T, H) coefficients (any values; the cells give ``0 < a < 1``, ``b > 0``)
    h0 : optional (B, H) initial state; zeros if omitted

    Returns
    -------
    (B, T, H) the states h_1 .. h_T, differentiable in a, b and h0 (hand-written backward)
    """
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"linear_scan needs a and b of one shape (B, T, H), got {tuple(a.shape)} and {tuple(b.shape)}")
    if h0 is None:
        return _LinearScan.apply(a, b)
    return _LinearScan.apply(a, b, h0)


def _sequential(a: Tensor, b: Tensor, h0: Tensor | None) -> Tensor:
    """``h_t = a_t h_{t-1} + b_t`` as a time loop, one fused multiply-add per step over (B, H);
    a, b (B, T, H) -> (B, T, H), written in place step by step (no copies of the whole sequence)."""
    states = torch.empty_like(b)  # (B, T, H)
    a_t, b_t, h_t = a.unbind(1), b.unbind(1), states.unbind(1)  # views of each step, made in one call
    if h0 is None:
        h_t[0].copy_(b_t[0])
    else:
        torch.addcmul(b_t[0], a_t[0], h0, out=h_t[0])
    for t in range(1, len(h_t)):
        torch.addcmul(b_t[t], a_t[t], h_t[t - 1], out=h_t[t])
    return states


def _sequential_backward(a: Tensor, grad: Tensor) -> Tensor:
    """``delta_t = grad_t + a_{t+1} delta_{t+1}`` from the last step back; (B, T, H) -> (B, T, H)."""
    delta = torch.empty_like(grad)  # (B, T, H)
    a_t, g_t, d_t = a.unbind(1), grad.unbind(1), delta.unbind(1)
    last = len(d_t) - 1
    d_t[last].copy_(g_t[last])
    for t in range(last - 1, -1, -1):
        torch.addcmul(g_t[t], a_t[t + 1], d_t[t + 1], out=d_t[t])
    return delta


def _scan_forward(log_a: Tensor, log_b: Tensor, h0: Tensor | None, chunk: int) -> Tensor:
    """The chunked Heinsen scan, (B, T, H) each -> (B, T, H); no autograd of its own."""
    h = h0
    chunks = []
    for start in range(0, log_a.shape[1], chunk):
        la, lb = log_a[:, start:start + chunk], log_b[:, start:start + chunk]  # (B, C, H)
        a_star = la.cumsum(dim=1)  # (B, C, H) log of the product of a since the chunk's start
        states = torch.exp(a_star + torch.logcumsumexp(lb - a_star, dim=1))  # (B, C, H) from zero
        if h is not None:
            states = states + torch.exp(a_star) * h.unsqueeze(1)  # what is left of the carried state
        chunks.append(states)
        h = states[:, -1]  # (B, H)
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)  # (B, T, H)


def _scan_signed(log_a: Tensor, values: Tensor, chunk: int) -> Tensor:
    """``h_t = a_t h_{t-1} + v_t`` from zero for ``v`` of any sign: its positive and negative parts
    scanned side by side (stacked on the batch) in log space, then subtracted."""
    batch = values.shape[0]
    parts = torch.cat([values.clamp(min=0), (-values).clamp(min=0)]).log()  # (2B, T, H), -inf at zeros
    states = _scan_forward(log_a.repeat(2, 1, 1), parts, None, chunk)  # (2B, T, H)
    return states[:batch] - states[batch:]


def _previous_states(h: Tensor, h0: Tensor | None) -> Tensor:
    """h_{t-1} for every step: h0 (or zeros), then h_1 .. h_{T-1}; (B, T, H)."""
    first = torch.zeros_like(h[:, :1]) if h0 is None else h0.unsqueeze(1).to(h.dtype)  # (B, 1, H)
    return torch.cat([first, h[:, :-1]], dim=1)


# Both backwards: with ``delta_t = dL/dh_t`` through every later step, ``delta_t = grad_t + a_{t+1} delta_{t+1}``,
# the same linear recurrence run backwards in time. Then ``dL/db_t = delta_t``, ``dL/da_t = delta_t h_{t-1}``
# and ``dL/dh0 = a_1 delta_1`` (times b and a for the logs).

class _LogScan(torch.autograd.Function):
    """The chunked log-space scan with its backward written out (two log scans, no logcumsumexp backward)."""

    @staticmethod
    def forward(ctx, log_a: Tensor, log_b: Tensor, chunk: int, h0: Tensor | None = None) -> Tensor:
        h = _scan_forward(log_a, log_b, h0, chunk)
        ctx.chunk = chunk
        ctx.save_for_backward(log_a, log_b, h, h0)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        log_a, log_b, h, h0 = ctx.saved_tensors
        log_a_next = torch.cat([log_a[:, 1:], torch.zeros_like(log_a[:, :1])], dim=1)  # (B, T, H): a_{t+1} at t
        delta = _scan_signed(log_a_next.flip(1), grad_h.flip(1), ctx.chunk).flip(1)  # (B, T, H)
        grad_log_a = delta * torch.exp(log_a) * _previous_states(h, h0)
        grad_log_b = delta * torch.exp(log_b)
        grad_h0 = None if h0 is None else torch.exp(log_a[:, 0]) * delta[:, 0]
        return grad_log_a, grad_log_b, None, grad_h0


class _LinearScan(torch.autograd.Function):
    """The time loop in linear space with its backward written out (the same loop, backwards)."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
        h = _sequential(a, b, h0)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        a, h, h0 = ctx.saved_tensors
        delta = _sequential_backward(a, grad_h)  # (B, T, H)
        grad_a = torch.empty_like(delta)  # delta_t * h_{t-1}, without concatenating h0 to h
        torch.mul(delta[:, 1:], h[:, :-1], out=grad_a[:, 1:])
        if h0 is None:
            grad_a[:, 0] = 0
            grad_h0 = None
        else:
            torch.mul(delta[:, 0], h0, out=grad_a[:, 0])
            grad_h0 = a[:, 0] * delta[:, 0]
        return grad_a, delta, grad_h0


def scan_reference(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """The same recurrence as a plain time loop over ``a, b`` (B, T, H) (for tests and benchmarks)."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    states = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, H)
