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

import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rnnkit.config import MAX_PARAMETERS
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
    except UnicodeDecodeError as e:
        raise RnnkitError(f"{path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                          "restore the run's file") from e
    except RecursionError as e:
        raise RnnkitError(f"{path} nests too deeply to be a run's file; restore the run's file") from e
    except IsADirectoryError as e:
        raise RnnkitError(f"{path} is a folder, not a file; restore the run's file") from e


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
    stored = load_json(run_dir / CONFIG_FILE)
    if not isinstance(stored, dict):
        raise RnnkitError(f"{run_dir / CONFIG_FILE} holds a JSON {type(stored).__name__}, not a run's settings; "
                          "restore the run's config.json")
    return str(stored.get("task", "lm"))


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


def _size_fields(model_config: Any) -> dict[str, int]:
    """The integer settings of a model config (e.g. ``hidden_size``), to name the one that does not fit."""
    if not dataclasses.is_dataclass(model_config):
        return {}
    return {f.name: v for f in dataclasses.fields(model_config)
            if isinstance(v := getattr(model_config, f.name), int) and not isinstance(v, bool)}


def check_state_dict(expected: dict[str, torch.Tensor], stored: Any, weights: Path, model_config: Any) -> None:
    """A one-line error unless ``stored`` (a checkpoint's weights) has exactly the tensors of ``expected``.

    ``expected`` comes from a model built on the meta device, so a config.json edited to a huge size is
    caught here, before any memory is allocated. The message names the config field that disagrees when
    one can be told from the shapes.
    """
    config_file = weights.parent / CONFIG_FILE
    if not isinstance(stored, dict) or not all(isinstance(v, torch.Tensor) for v in stored.values()):
        raise RnnkitError(f"{weights} holds no model weights; is it a checkpoint made by 'rnnkit train'?")
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"has an unexpected {extra[0]}"
        raise RnnkitError(f"{weights} {what}: its model does not match {config_file} (edited, or from another "
                          "rnnkit?); retrain or restore the run's config.json")
    for name, tensor in expected.items():
        got, want = tuple(stored[name].shape), tuple(tensor.shape)
        if got == want:
            continue
        sizes = _size_fields(model_config)
        pairs = [(w, g) for w, g in zip(want, got) if w != g] if len(want) == len(got) else []
        # the field behind a wrong dimension divides it, and the checkpoint's dimension is not that multiple of
        # it (say 3*hidden_size for a GRU); among several, vocabulary sizes (already checked against the vocab
        # file) come last, then the field with the smallest multiple
        culprits = sorted((("vocab" in k, w // v), k) for k, v in sizes.items() for w, g in pairs
                          if v > 1 and w % v == 0 and (g % v or (g % (w // v) == 0 and g // (w // v) != v)))
        culprits = [k for _, k in culprits]
        field = f"model.{culprits[0]}={sizes[culprits[0]]}" if culprits else "its [model] section"
        raise RnnkitError(f"{config_file} does not match {weights.name}: {field} makes {name} {list(want)}, "
                          f"the checkpoint has {list(got)}; restore the run's config.json or retrain")


def _check_plausible_sizes(stored: Any, weights: Path, model_config: Any) -> None:
    """Refuse a size setting far beyond every dimension of the checkpoint's tensors (say a hidden_size of 10^9)
    before even a meta-device model is built from it."""
    if not isinstance(stored, dict):
        return
    largest = max((max(t.shape) for t in stored.values() if isinstance(t, torch.Tensor) and t.dim()), default=1)
    for name, value in _size_fields(model_config).items():
        if value > 64 * largest:
            raise RnnkitError(f"{weights.parent / CONFIG_FILE} does not match {weights.name}: model.{name}={value} is "
                              f"far larger than any tensor in it (largest dimension {largest}); restore the run's "
                              "config.json or retrain")


def check_parameter_budget(build: Callable[[], torch.nn.Module], model_config: Any,
                           where: str | Path) -> torch.nn.Module:
    """The model ``build`` makes, on the meta device; a one-line error when it has more than ``MAX_PARAMETERS``.

    The model is built on the meta device (shapes only, no memory), so a size of 10^9 is refused before
    anything is allocated; the message names the largest size setting of ``model_config``.
    """
    try:
        with torch.device("meta"):
            skeleton = build()
    except (RuntimeError, OverflowError, MemoryError) as e:
        raise RnnkitError(f"{where}: its [model] section cannot be built ({str(e).splitlines()[0]}); "
                          "use smaller sizes") from None
    count = sum(p.numel() for p in skeleton.parameters())
    if count > MAX_PARAMETERS:
        sizes = _size_fields(model_config)
        field = max(sizes, key=lambda k: sizes[k]) if sizes else None
        culprit = f"model.{field}={sizes[field]} " if field else ""
        raise RnnkitError(f"{where}: {culprit}makes a model of {count:.3g} parameters, over rnnkit's budget of "
                          f"{MAX_PARAMETERS:.3g} (rnnkit.config.MAX_PARAMETERS); use smaller sizes")
    return skeleton


def load_model(build: Callable[[], torch.nn.Module], weights: Path, model_config: Any,
               device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the model of ``model_config`` and load ``weights`` into it, in eval mode on ``device``.

    The model is first built on the meta device (no memory) and its tensor shapes compared with the
    checkpoint's, so a tampered size fails in one line instead of reaching the allocator.
    """
    weights = Path(weights)
    payload = load_tensors(weights)
    _check_plausible_sizes(payload.get("model"), weights, model_config)
    skeleton = check_parameter_budget(build, model_config, weights.parent / CONFIG_FILE)
    check_state_dict(skeleton.state_dict(), payload.get("model"), weights, model_config)
    model = build()
    model.load_state_dict(payload["model"])
    return model.to(device).eval()
