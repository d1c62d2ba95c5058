"""One time step of each recurrent cell, written from its equations.

Every function takes the *input projection* ``x_proj = W_ih x_t + b_ih`` already computed,
because that half of the work has no time dependency: a layer computes it for all time steps
in one matrix multiply and only the recurrent half ``W_hh h_{t-1} + b_hh`` stays in the loop.
Gate rows are stacked in PyTorch's order so weights copy to and from ``torch.nn`` unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def rnn_tanh_step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); x_proj (B, H), h (B, H) -> (B, H)."""
    return torch.tanh(x_proj + F.linear(h, weight_hh, bias_hh))


def rnn_relu_step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """h_t = relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); x_proj (B, H), h (B, H) -> (B, H)."""
    return torch.relu(x_proj + F.linear(h, weight_hh, bias_hh))


def lstm_gates(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None
               ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four LSTM gates (i, f, g, o), each (B, H), from x_proj (B, 4H) and h (B, H); see ``lstm_step``."""
    gates = x_proj + F.linear(h, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # each (B, H)
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def lstm_step(
    x_proj: Tensor, state: tuple[Tensor, Tensor], weight_hh: Tensor, bias_hh: Tensor | None
) -> tuple[Tensor, Tensor]:
    """One LSTM step; x_proj (B, 4H), state (h, c) each (B, H) -> new (h, c).

    Gate rows are stacked i, f, g, o as in ``torch.nn.LSTM``:

        i = sigmoid(...)   input gate   ("learn": how much of the new candidate to write)
        f = sigmoid(...)   forget gate  ("forget": how much of the long-term memory to keep)
        g = tanh(...)      candidate    (the new information that could be learned)
        o = sigmoid(...)   output gate  ("use": how much of the memory to expose as h)
        c_t = f * c_{t-1} + i * g       ("remember": the updated long-term memory)
        h_t = o * tanh(c_t)             (the short-term memory / output)
    """
    h, c = state
    i, f, g, o = lstm_gates(x_proj, h, weight_hh, bias_hh)  # each (B, H)
    c_next = f * c + i * g  # (B, H)
    h_next = o * torch.tanh(c_next)  # (B, H)
    return h_next, c_next


def gru_gates(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None
              ) -> tuple[Tensor, Tensor, Tensor]:
    """The GRU's reset gate r, update gate z and candidate n, each (B, H); see ``gru_step``."""
    h_proj = F.linear(h, weight_hh, bias_hh)  # (B, 3H)
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)
    h_r, h_z, h_n = h_proj.chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    return r, z, torch.tanh(x_n + r * h_n)


def gru_step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """One GRU step; x_proj (B, 3H), h (B, H) -> (B, H).

    Gate rows are stacked r, z, n as in ``torch.nn.GRU``. The reset gate multiplies the
    *projected* previous state ``W_hn h + b_hn`` (PyTorch/cuDNN placement), not ``h`` itself:

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      reset gate
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)      update gate
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   candidate
        h_t = (1 - z) * n + z * h_{t-1}
    """
    _, z, n = gru_gates(x_proj, h, weight_hh, bias_hh)
    return (1 - z) * n + z * h
