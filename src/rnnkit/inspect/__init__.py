"""See inside a trained recurrent network: record its states and gates over a text, find interpretable cells,
and write a self-contained HTML report (``rnnkit inspect``).

    from rnnkit.runs import open_run
    from rnnkit.inspect import record, find_cells
    rec = record(open_run("runs/shakespeare"), text)    # h, c, gates (L, D, T, H), next-token predictions
    table = find_cells(rec, text)                        # hypotheses of the text matched to their best cells
"""

from rnnkit.inspect.find import CellMatch, CellTable, find_cells
from rnnkit.inspect.record import GATE_NAMES, Recording, record, stream

__all__ = ["GATE_NAMES", "CellMatch", "CellTable", "Recording", "find_cells", "record", "stream"]
