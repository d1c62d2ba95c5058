"""minLSTM (Feng et al. 2024): an LSTM with input-only gates, normalised so the state stays in scale.

    f_t   = sigmoid(W_f x_t + b_f)                 forget gate
    i_t   = sigmoid(W_i x_t + b_i)                 input gate
    h~_t  = g(W_h x_t + b_h)                       candidate (g > 0, see ``parallel_cell.g``)
    f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t)
    h_t   = f'_t * h_{t-1} + i'_t * h~_t

No output gate and no separate cell state: ``h`` is the memory. In log space, with
``d = softplus(-k_f) - softplus(-k_i)`` (= log i - log f): ``log f' = -softplus(d)`` and
``log i' = -softplus(-d)``, so ``log a = log f'`` and ``log b = log i' + log_g(k_h)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.parallel_cell import ParallelCell, g, log_g


def minlstm_log_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
    """``(log a, log b)`` each (..., H) from x_proj (..., 3H) stacked as [k_f, k_i, k_h]."""
    k_f, k_i, k_h = x_proj.chunk(3, dim=-1)
    diff = F.softplus(-k_f) - F.softplus(-k_i)  # log i - log f
    return -F.softplus(diff), -F.softplus(-diff) + log_g(k_h)


def minlstm_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
    """``(a, b) = (f', i' * g(k_h))`` each (..., H) from x_proj (..., 3H)."""
    k_f, k_i, k_h = x_proj.chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    total = f + i
    return f / total, (i / total) * g(k_h)


def minlstm_step(x_proj: Tensor, h: Tensor) -> Tensor:
    """One minLSTM step: x_proj (B, 3H) stacked as [k_f, k_i, k_h], h (B, H) -> (B, H)."""
    k_f, k_i, k_h = x_proj.chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    total = f + i
    return (f / total) * h + (i / total) * g(k_h)


class MinLSTM(ParallelCell):
    """minLSTM, one direction of one layer; ``linear`` rows stacked as [f, i, h~].

    Shapes: ``forward`` x (B, T, I), h0 (B, H) or None -> (B, T, H); ``step`` x (B, I), h (B, H) -> (B, H).
    """

    gates = 3
    log_coefficients = staticmethod(minlstm_log_coefficients)
    coefficients = staticmethod(minlstm_coefficients)
    update = staticmethod(minlstm_step)
