"""Cell modules: one time step, batch-first, parameters named as in ``torch.nn.*Cell``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells import functional as CF
from rnnkit.cells.mingru import MinGRU
from rnnkit.cells.minlstm import MinLSTM
from rnnkit.cells.parallel_cell import ParallelCell
from rnnkit.errors import RnnkitError

#: Number of stacked gate blocks in ``weight_ih`` / ``weight_hh`` for each cell kind with torch twins.
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
#: Cells whose gates see the input only: trained with a parallel scan, sampled step by step.
PARALLEL_CELLS: dict[str, type[ParallelCell]] = {"mingru": MinGRU, "minlstm": MinLSTM}
#: Every cell a ``--cell`` option or ``Recurrent`` accepts: the one list of valid names.
CELL_KINDS = tuple(GATES) + tuple(PARALLEL_CELLS)

_STEPS = {
    "rnn_tanh": CF.rnn_tanh_step,
    "rnn_relu": CF.rnn_relu_step,
    "lstm": CF.lstm_step,
    "gru": CF.gru_step,
}


def check_cell_kind(kind: str) -> str:
    """Return ``kind`` if it names a cell, else raise a one-line error listing the choices."""
    if kind not in CELL_KINDS:
        raise RnnkitError(f"unknown cell {kind!r}; expected one of {', '.join(CELL_KINDS)}")
    return kind


def step_function(kind: str):
    """The functional one-step update for a cell kind with torch twins (see ``rnnkit.cells.functional``)."""
    if check_cell_kind(kind) in PARALLEL_CELLS:
        raise RnnkitError(f"{kind} steps through {PARALLEL_CELLS[kind].__name__}.update, not a weight_hh step")
    return _STEPS[kind]


class _Cell(nn.Module):
    kind: str

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise RnnkitError(
                f"{type(self).__name__} needs input_size >= 1 and hidden_size >= 1, "
                f"got {input_size} and {hidden_size}"
            )
        gates = GATES[self.kind]
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates * hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates * hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(gates * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)), PyTorch's initialisation."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _check(self, x: Tensor, h: Tensor | None) -> None:
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise RnnkitError(
                f"{type(self).__name__} expected input of shape (batch, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        if h is not None and tuple(h.shape) != (x.shape[0], self.hidden_size):
            raise RnnkitError(
                f"{type(self).__name__} expected state of shape ({x.shape[0]}, {self.hidden_size}), "
                f"got {tuple(h.shape)}"
            )

    def _zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """Elman RNN cell: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Shapes: input (B, I), state h (B, H) -> h (B, H). ``nonlinearity`` is "tanh" or "relu".
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise RnnkitError(f"unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")
        self.kind = f"rnn_{nonlinearity}"
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        self._check(x, h)
        h = self._zeros(x) if h is None else h
        return _STEPS[self.kind](F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)


class LSTMCell(_Cell):
    """Long short-term memory cell (Hochreiter & Schmidhuber, with a forget gate).

    Shapes: input (B, I), state (h, c) each (B, H) -> (h, c) each (B, H).
    Gates, in the vocabulary of the Udacity lessons (rows of ``weight_ih`` in this order):

    - ``i`` input gate, the **learn** gate: how much of the candidate ``g`` to write;
    - ``f`` forget gate, the **forget** gate: how much of the long-term memory ``c`` to keep;
    - ``g`` cell candidate: the new information; ``c_t = f*c + i*g`` is the **remember** gate's output;
    - ``o`` output gate, the **use** gate: ``h_t = o * tanh(c_t)`` is what the cell exposes.
    """

    kind = "lstm"

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        self._check(x, None if state is None else state[0])
        if state is None:
            state = (self._zeros(x), self._zeros(x))
        elif tuple(state[1].shape) != tuple(state[0].shape):
            raise RnnkitError(f"LSTMCell expected c of shape {tuple(state[0].shape)}, got {tuple(state[1].shape)}")
        return CF.lstm_step(F.linear(x, self.weight_ih, self.bias_ih), state, self.weight_hh, self.bias_hh)


class GRUCell(_Cell):
    """Gated recurrent unit (Cho et al. 2014) with PyTorch's reset-gate placement.

    Shapes: input (B, I), state h (B, H) -> h (B, H). Rows of ``weight_ih`` are r, z, n.
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``; ``h_t = (1 - z) * n + z * h_{t-1}``.
    """

    kind = "gru"

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        self._check(x, h)
        h = self._zeros(x) if h is None else h
        return CF.gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
