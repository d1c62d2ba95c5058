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
``"sequential"``  ``a`` and ``b`` exponentiated once for all steps, then one fused multiply-add per step
                  in a time loop. On the CPU this is ~10x faster than the log scan (which spends its time
                  in five transcendental passes over (B, T, H): benchmarks/bench_cells.py --scan), and the
                  time loop is cheap beside the LSTM's, which needs a matrix multiply per step.
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

    Differentiable in ``log_a``, ``log_b`` and ``h0``, with a hand-written backward (``_Scan``): the
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
    chunk = chunk_size or CHUNK_SIZE
    if h0 is None:
        return _Scan.apply(log_a, log_b, chunk, method)
    return _Scan.apply(log_a, log_b, chunk, method, h0)


def _forward(method: str, log_a: Tensor, log_b: Tensor, h0: Tensor | None, chunk: int) -> Tensor:
    """h_t = a_t h_{t-1} + b_t by ``method``, from log a and log b (B, T, H) and h0 (B, H) or None."""
    if method == "sequential":
        return _sequential(log_a.exp(), log_b.exp(), h0)
    return _scan_forward(log_a, log_b, h0, chunk)


def _backward_signed(method: str, log_a: Tensor, values: Tensor, chunk: int) -> Tensor:
    """h_t = a_{t+1} h_{t+1} + v_t from the end (h after the last step is zero), for v (B, T, H) of any sign."""
    a_next = torch.cat([log_a[:, 1:].exp(), torch.ones_like(log_a[:, :1])], dim=1)  # (B, T, H): a_{t+1} at t
    if method == "sequential":
        return _sequential(a_next, values, None, reverse=True)
    return _scan_signed(a_next.log().flip(1), values.flip(1), chunk).flip(1)


def _sequential(a: Tensor, b: Tensor, h0: Tensor | None, reverse: bool = False) -> Tensor:
    """``h_t = a_t h_{t-1} + b_t`` (or with ``reverse`` from the end, ``h_t = a_t h_{t+1} + b_t``) as a time loop,
    one fused multiply-add per step over (B, H); a, b (B, T, H) -> (B, T, H)."""
    a_t, b_t = a.transpose(0, 1).contiguous(), b.transpose(0, 1).contiguous()  # (T, B, H): each step contiguous
    states = torch.empty_like(b_t)  # (T, B, H)
    order = list(range(states.shape[0]))
    if reverse:
        order.reverse()
    first = order[0]
    if h0 is None:
        states[first] = b_t[first]
    else:
        torch.addcmul(b_t[first], a_t[first], h0, out=states[first])
    for previous, t in zip(order, order[1:]):
        torch.addcmul(b_t[t], a_t[t], states[previous], out=states[t])
    return states.transpose(0, 1)  # (B, T, H)


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


class _Scan(torch.autograd.Function):
    """The scan by either method, with the backward written out.

    With ``delta_t = dL/dh_t`` through every later step, ``delta_t = grad_t + a_{t+1} delta_{t+1}``: the
    same linear recurrence, backwards in time. Then ``dL/dlog b_t = delta_t b_t``,
    ``dL/dlog a_t = delta_t a_t h_{t-1}`` and ``dL/dh0 = a_1 delta_1``.
    """

    @staticmethod
    def forward(ctx, log_a: Tensor, log_b: Tensor, chunk: int, method: str, h0: Tensor | None = None) -> Tensor:
        h = _forward(method, log_a, log_b, h0, chunk)
        ctx.chunk, ctx.method = chunk, method
        ctx.save_for_backward(log_a, log_b, h, h0)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        log_a, log_b, h, h0 = ctx.saved_tensors
        delta = _backward_signed(ctx.method, log_a, grad_h, ctx.chunk)  # (B, T, H) dL/dh_t through all later steps
        first = torch.zeros_like(h[:, :1]) if h0 is None else h0.unsqueeze(1)  # (B, 1, H)
        h_prev = torch.cat([first, h[:, :-1]], dim=1)  # (B, T, H)
        grad_log_a = delta * torch.exp(log_a) * h_prev
        grad_log_b = delta * torch.exp(log_b)
        grad_h0 = None if h0 is None else torch.exp(log_a[:, 0]) * delta[:, 0]
        return grad_log_a, grad_log_b, None, None, grad_h0


def scan_reference(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """The same recurrence as a plain time loop over ``a, b`` (B, T, H) (for tests and benchmarks)."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    states = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, H)
