"""Trainer hooks other tasks rely on: tuple batches, dict validation results, early stopping."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig
from rnnkit.training.trainer import Trainer, count_elements, to_device


class PairBatcher:
    """Independent batches whose x is a (values, mask) tuple: the shape classification batches take."""

    def __init__(self, n_batches: int = 5):
        g = torch.Generator().manual_seed(0)
        self.data = [((torch.randn(8, 3, generator=g), torch.ones(8)), torch.randint(0, 2, (8,), generator=g))
                     for _ in range(n_batches)]
        self.i = 0

    def __len__(self):
        return len(self.data)

    def sample(self):
        self.i = (self.i + 1) % len(self.data)
        return self.data[self.i]


def pair_loss(model, x, y, state):
    values, mask = x
    logits = model(values * mask[:, None])
    return nn.functional.cross_entropy(logits, y), None


def make_trainer(tmp_path, evaluate, **cfg):
    torch.manual_seed(0)
    config = TrainConfig(**{"max_steps": 50, "eval_every": 2, "log_every": 1, "lr": 1e-2, "warmup_steps": 1,
                            "save_every": 1e9, "precision": "fp32", "device": "cpu", **cfg})
    tmp_path.mkdir(exist_ok=True)
    return Trainer(nn.Linear(3, 2), PairBatcher(), pair_loss, config, tmp_path, torch.device("cpu"), "fp32",
                   evaluate=evaluate, show_progress=False, token_name="example")


def test_tuple_batches_dict_results_and_early_stopping(tmp_path):
    losses = iter([1.0, 0.9, 0.95, 0.93, 0.91, 0.99] + [2.0] * 100)  # best at the 2nd validation
    summary = make_trainer(tmp_path, lambda m: {"val_loss": next(losses), "accuracy": 0.5}, patience=3).fit()
    assert summary["step"] == 10  # 5 validations: best at step 4, then 3 without improvement -> stop at step 10
    assert summary["best_val"] == 0.9
    rows = [json.loads(line) for line in (tmp_path / ckpt.METRICS_FILE).read_text().splitlines()]
    val_rows = [r for r in rows if "val_loss" in r]
    assert [r["accuracy"] for r in val_rows] == [0.5] * 5
    assert all(r["tokens"] == 8 * r["step"] for r in rows if "tokens" in r)  # throughput counts the targets


def test_without_patience_the_budget_decides(tmp_path):
    summary = make_trainer(tmp_path, lambda m: 1.0, max_steps=12).fit()
    assert summary["step"] == 12


def test_to_device_and_count_elements_walk_containers():
    batch = {"a": (torch.zeros(2, 3), [torch.ones(4)]), "b": 7}
    moved = to_device(batch, torch.device("cpu"))
    assert moved["b"] == 7 and torch.equal(moved["a"][1][0], torch.ones(4))
    assert count_elements((torch.zeros(5, 2), torch.zeros(1))) == 10
    assert count_elements({"y": torch.zeros(3)}) == 3


def test_select_figure_picks_best_checkpoint_instead_of_the_loss(tmp_path):
    # the loss rises while the error rate ("select") still falls: best.pt follows the error rate
    results = iter([{"val_loss": 0.5 + 0.1 * i, "select": 0.4 - 0.05 * i} for i in range(3)] + [
        {"val_loss": 2.0, "select": 0.9}] * 100)
    summary = make_trainer(tmp_path, lambda m: next(results), max_steps=8).fit()
    assert summary["best_val"] == pytest.approx(0.3)
    assert ckpt.load_tensors(tmp_path / ckpt.BEST_FILE)["step"] == 6
