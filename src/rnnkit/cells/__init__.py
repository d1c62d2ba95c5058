"""Recurrent cells written from their equations."""

from rnnkit.cells.mingru import MinGRU
from rnnkit.cells.minlstm import MinLSTM
from rnnkit.cells.modules import (
    CELL_KINDS,
    GATES,
    PARALLEL_CELLS,
    GRUCell,
    LSTMCell,
    RNNCell,
    check_cell_kind,
    step_function,
)

__all__ = ["CELL_KINDS", "GATES", "PARALLEL_CELLS", "GRUCell", "LSTMCell", "MinGRU", "MinLSTM", "RNNCell",
           "check_cell_kind", "step_function"]
