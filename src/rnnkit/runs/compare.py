"""Compare n-gram and neural language models on next-character prediction: same split, same budget, one table.

Models are named ``knN`` (count-based Kneser-Ney of order N), ``mlp-ngram`` (the feed-forward
neural n-gram) and ``lstm`` / ``gru`` / ``mingru`` / ``minlstm`` (rnnkit's recurrent LM with its
defaults). Every model is scored on the same validation split (the last ``val_fraction`` of the text)
predicting the same targets, in bits per character; the neural models each get the same training budget.

Each model is an ordinary run in ``out/<model>`` (``rnnkit sample``/``eval`` work on it), trained with
``rnnkit.runs.train`` and read back with ``open_run`` and its predictor, so the table's figures are
exactly what ``rnnkit eval`` reports. It lives in ``runs`` because it is a client of the run lifecycle
over several tasks, not a task itself.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.runs.lifecycle import train
from rnnkit.runs.run import Run, evaluate, open_run
from rnnkit.tasks.lm import TRAIN_DEFAULTS, DataConfig, RunConfig
from rnnkit.tasks.ngram import NgramConfig, NgramRunConfig

DEFAULT_MODELS = ("kn5", "mlp-ngram", "lstm")
RECURRENT = ("lstm", "gru", "mingru", "minlstm")
_KN = re.compile(r"^kn(\d+)$")
TABLE_FILE, PLOT_FILE, RESULTS_FILE = "comparison.md", "comparison.png", "comparison.json"


@dataclass(frozen=True)
class CompareConfig:
    """What to compare, on which text, with which per-model budget, and the sample to show."""

    data: str = "tinyshakespeare"
    models: tuple[str, ...] = DEFAULT_MODELS
    val_fraction: float = 0.1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(**TRAIN_DEFAULTS, time=300.0))  # per neural model
    mlp: LanguageModelConfig = field(default_factory=lambda: LanguageModelConfig(
        vocab_size=0, model="mlp-ngram", context=8, embedding_size=32, hidden_size=512, dropout=0.1))
    rnn: LanguageModelConfig = field(default_factory=lambda: LanguageModelConfig(vocab_size=0))  # cell from name
    prime: str = "ROMEO:"
    sample_length: int = 200
    temperature: float = 0.8

    def validate(self) -> CompareConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        if not self.models:
            raise RnnkitError(f"--models is empty; name at least one of knN, mlp-ngram, {', '.join(RECURRENT)}")
        for name in self.models:
            if not (_KN.match(name) or name == "mlp-ngram" or name in RECURRENT):
                raise RnnkitError(f"unknown model {name!r} in --models; use knN (e.g. kn5), mlp-ngram, "
                                  f"{', '.join(RECURRENT)}")
            if (m := _KN.match(name)) and int(m.group(1)) < 1:
                raise RnnkitError(f"{name}: the n-gram order must be >= 1, e.g. kn5")
        if len(set(self.models)) != len(self.models):
            raise RnnkitError(f"--models names a model twice: {','.join(self.models)}")
        if not 0 < self.val_fraction < 1:
            raise RnnkitError(f"--val-fraction must be in (0, 1) to compare on a validation split, "
                              f"got {self.val_fraction}")
        if self.sample_length < 0:
            raise RnnkitError(f"--length must be >= 0, got {self.sample_length}")
        return self


def _sample(run: Run, config: CompareConfig) -> str:
    """The run's sample after ``config.prime`` (symbols the run never saw dropped from the prime)."""
    cfg = SamplingConfig(length=config.sample_length, temperature=config.temperature, seed=config.train.seed,
                         skip_unknown=True)
    return run.predictor().generate(config.prime, cfg)[0]


def _run_ngram(name: str, order: int, config: CompareConfig, out: Path) -> dict[str, Any]:
    run = NgramRunConfig(data=DataConfig(data=config.data, val_fraction=config.val_fraction),
                         model=NgramConfig(order=order))
    summary = train("ngram", run, out / name, show_progress=False, log=lambda m: None)
    return {"model": name, "bits_per_char": summary["validation"]["bits_per_token"],
            "size": summary["ngrams"], "size_unit": "n-grams", "seconds": summary["train_seconds"],
            "sample": _sample(open_run(out / name), config)}


def _run_neural(name: str, config: CompareConfig, out: Path, show_progress: bool) -> dict[str, Any]:
    model = config.mlp if name == "mlp-ngram" else dataclasses.replace(config.rnn, cell=name)
    run = RunConfig(data=DataConfig(data=config.data, val_fraction=config.val_fraction), model=model,
                    train=config.train)
    start = time.perf_counter()
    summary = train("lm", run, out / name, show_progress=show_progress, log=lambda m: None)
    seconds = time.perf_counter() - start
    scores = evaluate(out / name, device="cpu" if config.train.device == "cpu" else "auto")
    trained = open_run(out / name, "cpu")
    return {"model": name, "bits_per_char": scores["bits_per_token"], "size": trained.model.num_parameters(),
            "size_unit": "parameters", "seconds": seconds, "steps": summary["step"],
            "sample": _sample(trained, config)}


def format_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table (best bits/char in bold) followed by each model's sample."""
    best = min(r["bits_per_char"] for r in rows)
    lines = ["| model | validation bits/char | parameters or n-grams | training time |", "|---|---:|---:|---:|"]
    for r in rows:
        bpc = f"{r['bits_per_char']:.4f}"
        lines.append(f"| {r['model']} | {f'**{bpc}**' if r['bits_per_char'] == best else bpc} | "
                     f"{r['size']:,} {r['size_unit']} | {r['seconds']:.0f}s |")
    for r in rows:
        lines += ["", f"**{r['model']}** sample:", "", "```", r["sample"].rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def plot_bars(rows: list[dict[str, Any]], dest: Path) -> Path | None:
    """A bar chart of validation bits/char (None when matplotlib is not installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(rows), 3.2))
    names, values = [r["model"] for r in rows], [r["bits_per_char"] for r in rows]
    bars = ax.bar(names, values, color=["#888888" if _KN.match(n) else "#3b75af" for n in names])
    ax.bar_label(bars, fmt="%.3f")
    ax.set_ylabel("validation bits/char")
    ax.set_ylim(0, max(values) * 1.15)
    fig.tight_layout()
    from rnnkit.fileio import atomic_write

    atomic_write(dest, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
    return dest


def compare(config: CompareConfig, out: str | Path, show_progress: bool = False, log=print) -> list[dict[str, Any]]:
    """Train every model of ``config.models`` into ``out/<model>``; write the table, chart and JSON; return the rows."""
    config = config.validate()
    out = Path(out)
    if (out / RESULTS_FILE).exists() or any((out / m).exists() for m in config.models):
        raise RnnkitError(f"{out} already holds a comparison; choose another --out")
    rows = []
    for name in config.models:
        m = _KN.match(name)
        log(f"rnnkit: compare: training {name}" + ("" if m else f" for {_budget(config.train)}"))
        row = _run_ngram(name, int(m.group(1)), config, out) if m else _run_neural(name, config, out, show_progress)
        log(f"rnnkit: compare: {name}: {row['bits_per_char']:.4f} bits/char")
        rows.append(row)
    table = format_table(rows)
    out.mkdir(parents=True, exist_ok=True)
    from rnnkit.fileio import atomic_write_text

    atomic_write_text(out / TABLE_FILE, table)
    ckpt.save_json(out / RESULTS_FILE, {"config": _jsonable(config), "results": rows})
    plot_bars(rows, out / PLOT_FILE)
    return rows


def _budget(train: TrainConfig) -> str:
    if train.time is not None:
        return f"{train.time:.0f}s"
    return f"{train.max_steps} steps" if train.max_steps is not None else f"{train.epochs} epochs"


def _jsonable(config: CompareConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def parse_models(text: str) -> tuple[str, ...]:
    """'kn5,mlp-ngram,lstm' -> ('kn5', 'mlp-ngram', 'lstm')."""
    return tuple(m.strip().lower() for m in text.split(",") if m.strip())


__all__ = ["DEFAULT_MODELS", "CompareConfig", "compare", "format_table", "parse_models", "plot_bars"]
