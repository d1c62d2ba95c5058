"""Recurrent cells written from their equations."""

from rnnkit.cells.modules import CELL_KINDS, GATES, GRUCell, LSTMCell, RNNCell, check_cell_kind, step_function

__all__ = ["CELL_KINDS", "GATES", "GRUCell", "LSTMCell", "RNNCell", "check_cell_kind", "step_function"]
