"""What minGRU and minLSTM share: gates from the input alone, a parallel mode and a step mode.

A cell maps the input projection ``x_proj = W x_t + b`` (one matrix multiply for all steps) to the
coefficients of ``h_t = a_t * h_{t-1} + b_t``. The parallel mode hands them to ``rnnkit.cells.scan``:
their logs to the log-space scan (GPU), or ``a`` and ``b`` themselves to the time loop (CPU); the step
mode applies one step of the recurrence directly (sampling). All compute the same function;
tests/cells/test_min_cells.py holds them equal to 1e-10 in fp64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.scan import default_method, linear_scan, scan
from rnnkit.errors import RnnkitError


def g(x: Tensor) -> Tensor:
    """The paper's positive activation for the candidate state: ``x + 0.5`` for x >= 0, ``sigmoid(x)`` below.

    Written as ``relu(x) + sigmoid(min(x, 0))`` (the same values): twice as fast as ``torch.where`` with
    its backward on the CPU.
    """
    return F.relu(x) + torch.sigmoid(x.clamp(max=0))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)`` computed without forming ``g``: ``log(relu(x) + 0.5)`` for x >= 0, ``-softplus(-x)`` below."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def scan_dtype(dtype: torch.dtype) -> torch.dtype:
    """Coefficients and states are computed in at least fp32 (a bf16 log-space scan loses the state)."""
    return torch.promote_types(dtype, torch.float32)


class ParallelCell(nn.Module):
    """One direction of one layer: ``Linear(I, G*H)`` and a cell rule (``coefficients``, their logs, ``update``).

    Shapes: ``forward`` x (B, T, I), h0 (B, H) or None -> (B, T, H); ``step`` x (B, I), h (B, H) -> (B, H).
    """

    gates: int  # blocks of H in the projection

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise RnnkitError(f"{type(self).__name__} needs input_size >= 1 and hidden_size >= 1, "
                              f"got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.linear = nn.Linear(input_size, self.gates * hidden_size, bias=bias)

    @staticmethod
    def log_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)`` each (..., H) from ``x_proj`` (..., G*H)."""
        raise NotImplementedError

    @staticmethod
    def coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)`` each (..., H) from ``x_proj`` (..., G*H), computed directly (the logs' exponentials)."""
        raise NotImplementedError

    @staticmethod
    def update(x_proj: Tensor, h: Tensor) -> Tensor:
        """One step of the recurrence, ``a * h + b``, from ``x_proj`` (B, G*H) and h (B, H)."""
        raise NotImplementedError

    def scan_projected(self, x_proj: Tensor, h0: Tensor | None = None, chunk_size: int | None = None) -> Tensor:
        """Parallel mode over precomputed projections x_proj (B, T, G*H) -> states (B, T, H)."""
        x_proj = x_proj.to(scan_dtype(x_proj.dtype))
        h0 = None if h0 is None else h0.to(x_proj.dtype)
        if default_method(x_proj.device) == "sequential":
            return linear_scan(*self.coefficients(x_proj), h0)  # (B, T, H)
        log_a, log_b = self.log_coefficients(x_proj)  # (B, T, H) each
        return scan(log_a, log_b, h0, chunk_size, method="log")

    def forward(self, x: Tensor, h0: Tensor | None = None) -> Tensor:
        """Parallel mode: all states (B, T, H) of a sequence x (B, T, I)."""
        return self.scan_projected(self.linear(x), h0)

    def step(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """Step mode: the next state (B, H) from one input x (B, I) and the previous state."""
        x_proj = self.linear(x)  # (B, G*H)
        x_proj = x_proj.to(scan_dtype(x_proj.dtype))
        if h is None:
            h = x_proj.new_zeros(x.shape[0], self.hidden_size)
        return self.update(x_proj, h.to(x_proj.dtype))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.linear.bias is not None}"
