"""See inside a trained recurrent network: record its states and gates over a text, find interpretable cells,
and write a self-contained HTML report (``rnnkit inspect``).

    from rnnkit.runs import open_run
    from rnnkit.inspect import record, find_cells
    rec = record(open_run("runs/shakespeare"), text)    # h, c, gates (L, D, T, H), next-token predictions
    table = find_cells(rec, text)                        # hypotheses of the text matched to their best cells

Names load on first use, so ``rnnkit.inspect.defaults`` can be read without importing torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"GATE_NAMES": "recording", "Recording": "recording", "record": "recording", "stream": "recording",
            "CellMatch": "find", "CellTable": "find", "find_cells": "find",
            "Analysis": "report", "analyse": "report", "summary": "report", "write_report": "report"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"rnnkit.inspect.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'rnnkit.inspect' has no attribute {name!r}")
