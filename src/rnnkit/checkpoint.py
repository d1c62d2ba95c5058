"""Run directories: what is saved, how, and how it loads back on any device.

A run directory holds

    config.json      the run's task and full configuration (model, data, training), human-readable
    vocab.json       the vocabulary
    last.pt          everything needed to resume exactly: weights, optimizer, step, RNG states,
                     the position in the data and the carried recurrent state
    best.pt          weights at the best validation loss so far (what ``sample`` and ``eval`` use)
    metrics.jsonl    one JSON object per logged training or validation step
    loss.png         the loss curve (needs matplotlib: ``pip install rnnkit[plot]``)

``.pt`` files hold only tensors and plain Python values and are read with
``torch.load(weights_only=True)``: loading a checkpoint never runs code from the file.
Every file is written atomically (temp file + rename), so a crash mid-save keeps the last good one.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write, atomic_write_text

FORMAT_VERSION = 1
CONFIG_FILE, VOCAB_FILE, LAST_FILE, BEST_FILE = "config.json", "vocab.json", "last.pt", "best.pt"
METRICS_FILE, PLOT_FILE = "metrics.jsonl", "loss.png"


def save_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def load_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise RnnkitError(f"{path} not found; is {Path(path).parent} a run directory made by 'rnnkit train'?") from e
    except json.JSONDecodeError as e:
        raise RnnkitError(f"{path} is not valid JSON ({e.msg} at line {e.lineno})") from e


def save_tensors(path: Path, payload: dict[str, Any]) -> None:
    """Atomically ``torch.save`` a dict of tensors and plain values."""
    payload = {"format_version": FORMAT_VERSION, **payload}

    def write(f):
        buffer = io.BytesIO()  # serialise fully before touching the disk
        torch.save(payload, buffer)
        f.write(buffer.getbuffer())

    atomic_write(path, write)


def load_tensors(path: Path) -> dict[str, Any]:
    """Load a ``.pt`` payload onto the CPU, whatever device saved it, without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise RnnkitError(f"{path} not found; is {path.parent} a run directory made by 'rnnkit train'?")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn, foreign or malicious file: refuse it in one line
        raise RnnkitError(f"{path} is not a readable rnnkit checkpoint ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from e
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        version = payload.get("format_version") if isinstance(payload, dict) else None
        raise RnnkitError(f"{path} has checkpoint format {version}, this rnnkit reads format {FORMAT_VERSION}")
    return payload


def run_task(run_dir: str | Path) -> str:
    """The task that made a run directory (``"task"`` in its config.json; runs from before tasks: ``"lm"``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RnnkitError(f"run directory {run_dir} does not exist; train one with 'rnnkit train TASK --out {run_dir}'")
    return str(load_json(run_dir / CONFIG_FILE).get("task", "lm"))


def find_weights(run_dir: Path) -> Path:
    """The checkpoint to sample or evaluate from: best.pt if present, else last.pt."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RnnkitError(f"run directory {run_dir} does not exist; train one with 'rnnkit train TASK --out {run_dir}'")
    for name in (BEST_FILE, LAST_FILE):
        if (run_dir / name).is_file():
            return run_dir / name
    raise RnnkitError(f"{run_dir} has no checkpoint (best.pt or last.pt); "
                      f"train with 'rnnkit train TASK --out {run_dir}'")
