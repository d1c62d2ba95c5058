"""Shared fixtures: a tiny, quiet, CPU-only language-model configuration and a small corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.models import LanguageModelConfig
from rnnkit.tasks.lm import DataConfig, RunConfig

# Tests use tiny tensors: one thread each is fastest, and immune to OpenMP spin-waiting when the
# machine is busy (pytest -n 2 puts both cores to work instead).
torch.set_num_threads(1)

SHARED_DATA = Path(os.environ.get("RNNKIT_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never read or write the user's ~/.cache/rnnkit from a test."""
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A 6,000-character text with structure a tiny model can start to learn."""
    lines = [f"{name}: the {thing} is {colour}, said {name.lower()}.\n"
             for name in ("ANNA", "BORIS", "CLEO", "DMITRI")
             for thing in ("sky", "sea", "wine", "rose", "door")
             for colour in ("red", "blue", "green")]
    path = tmp_path / "corpus.txt"
    path.write_text("".join(lines) * 3, encoding="utf-8")
    return path


def tiny_config(data: Path | str, **train) -> RunConfig:
    """A seconds-long run: 1x32 LSTM, batch 4x16, fp32, quiet."""
    defaults = dict(batch_size=4, seq_len=16, lr=1e-2, warmup_steps=2, max_steps=12, eval_every=5, log_every=2,
                    precision="fp32", device="cpu", seed=7, save_every=1e9)
    defaults.update(train)
    return RunConfig(
        data=DataConfig(data=str(data), val_fraction=0.1),
        model=LanguageModelConfig(vocab_size=0, hidden_size=32, num_layers=2, embedding_size=8, dropout=0.2),
        train=TrainConfig(**defaults),
    )


def cli(*args, capsys) -> tuple[int, str, str]:
    """Run ``rnnkit ARGS...`` in-process: (exit code, stdout, stderr)."""
    from rnnkit.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str) -> str:
    """The one ``rnnkit:`` line of a user mistake (exit code 2, no traceback)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("rnnkit: "), err
    assert "Traceback" not in err
    return lines[0]


def fail_lm_loss_at(step: int, monkeypatch, error: BaseException):
    """Make the lm task's loss raise ``error`` at training step ``step`` (validation windows are not counted):
    ``KeyboardInterrupt()`` is Ctrl-C, ``SystemExit(137)`` a killed process (no handler runs). Returns a function
    that puts the real loss back."""
    from rnnkit.tasks import lm

    real_loss, calls = lm.lm_loss, {"n": 0}

    def loss(*args):
        calls["n"] += args[0].training
        if calls["n"] == step:
            raise error
        return real_loss(*args)

    monkeypatch.setattr(lm, "lm_loss", loss)
    return lambda: monkeypatch.setattr(lm, "lm_loss", real_loss)
