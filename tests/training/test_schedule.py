"""lr_at: linear warmup, then a cosine over the budget that ends at min_lr_ratio * lr."""

import math

import pytest

from rnnkit.training.schedule import lr_at


def test_warmup_is_linear_from_one_step():
    assert [lr_at(s, 0.0, 1.0, 4, 0.1) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_cosine_runs_from_the_base_rate_to_the_floor():
    assert lr_at(10, 0.0, 2.0, 4, 0.1) == pytest.approx(2.0)
    assert lr_at(10, 0.5, 2.0, 4, 0.1) == pytest.approx(2.0 * (0.1 + 0.9 * 0.5))
    assert lr_at(10, 1.0, 2.0, 4, 0.1) == pytest.approx(0.2)


def test_progress_is_clamped_and_the_rate_never_rises_after_warmup():
    assert lr_at(10, 1.7, 1.0, 0, 0.05) == pytest.approx(0.05)
    assert lr_at(10, -0.3, 1.0, 0, 0.05) == pytest.approx(1.0)
    rates = [lr_at(100, p / 50, 1.0, 10, 0.05) for p in range(51)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert not any(math.isnan(r) for r in rates)
