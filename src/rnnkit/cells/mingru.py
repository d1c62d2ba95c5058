"""minGRU (Feng et al. 2024): a GRU whose gates see the input only, so it trains with a parallel scan.

    z_t   = sigmoid(W_z x_t + b_z)                 update gate
    h~_t  = g(W_h x_t + b_h)                       candidate (g > 0, see ``parallel_cell.g``)
    h_t   = (1 - z_t) * h_{t-1} + z_t * h~_t

In log space (``h_t = a_t h_{t-1} + b_t``): ``log a = log(1 - z) = -softplus(k_z)`` and
``log b = log z + log g(k_h) = -softplus(-k_z) + log_g(k_h)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.parallel_cell import ParallelCell, g, log_g


def mingru_log_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
    """``(log a, log b)`` each (..., H) from x_proj (..., 2H) stacked as [k_z, k_h]."""
    k_z, k_h = x_proj.chunk(2, dim=-1)
    return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)


def mingru_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
    """``(a, b) = (1 - z, z * g(k_h))`` each (..., H) from x_proj (..., 2H)."""
    k_z, k_h = x_proj.chunk(2, dim=-1)
    z = torch.sigmoid(k_z)
    return 1 - z, z * g(k_h)


def mingru_step(x_proj: Tensor, h: Tensor) -> Tensor:
    """One minGRU step: x_proj (B, 2H) stacked as [k_z, k_h], h (B, H) -> (B, H)."""
    k_z, k_h = x_proj.chunk(2, dim=-1)
    z = torch.sigmoid(k_z)
    return (1 - z) * h + z * g(k_h)


class MinGRU(ParallelCell):
    """minGRU, one direction of one layer; ``linear`` rows stacked as [z, h~].

    Shapes: ``forward`` x (B, T, I), h0 (B, H) or None -> (B, T, H); ``step`` x (B, I), h (B, H) -> (B, H).
    """

    gates = 2
    log_coefficients = staticmethod(mingru_log_coefficients)
    coefficients = staticmethod(mingru_coefficients)
    update = staticmethod(mingru_step)
