"""Conformal quantiles around a selected forecast (tasks/forecast/conformal.py)."""

from __future__ import annotations

import numpy as np

from rnnkit.tasks.forecast.conformal import conformal_quantiles, corrected_level, coverage


def test_levels_get_split_conformals_finite_sample_correction_for_the_number_of_origins():
    assert corrected_level(0.9, 6) == 1.0 and corrected_level(0.1, 6) == 0.0  # ceil(7 * 0.9) / 6 > 1
    assert corrected_level(0.9, 40) == 37 / 40 and corrected_level(0.1, 40) == 1 - 37 / 40
    assert corrected_level(0.8, 9) == 8 / 9  # (9 + 1) * 0.8 is 8, not 9, despite rounding
    assert corrected_level(0.5, 3) == 0.5


def test_quantiles_add_the_pooled_error_quantiles_at_corrected_levels_to_the_point_forecast():
    rng = np.random.default_rng(0)
    errors = rng.normal(size=(19, 12, 1))  # (O, H, T)
    forecast = np.arange(12.0)[:, None]
    band = conformal_quantiles(errors, forecast, (0.1, 0.5, 0.9), pool_steps=12)  # one pool for every step
    pooled = errors.reshape(-1)
    np.testing.assert_allclose(band[:, 0, 1], forecast[:, 0])
    level = 18 / 19  # ceil(20 * 0.9) / 19
    np.testing.assert_allclose(band[:, 0, 0] - forecast[:, 0], np.quantile(pooled, 1 - level, method="lower"))
    np.testing.assert_allclose(band[:, 0, 2] - forecast[:, 0], np.quantile(pooled, level, method="higher"))
    few = conformal_quantiles(errors[:3], forecast, (0.1, 0.9), pool_steps=12)  # 3 origins: the pooled range
    np.testing.assert_allclose(few[:, 0, 0] - forecast[:, 0], errors[:3].min())
    np.testing.assert_allclose(few[:, 0, 1] - forecast[:, 0], errors[:3].max())


def test_bands_widen_with_errors_that_grow_along_the_horizon_and_cover_fresh_draws():
    rng = np.random.default_rng(1)
    scale = np.linspace(1, 5, 12)[None, :, None]
    band = conformal_quantiles(rng.normal(size=(40, 12, 1)) * scale, np.zeros((12, 1)), (0.1, 0.9))
    width = band[:, 0, 1] - band[:, 0, 0]
    assert width[-1] > 3 * width[0]
    fresh = rng.normal(size=(200, 12, 1)) * scale
    assert 0.8 <= coverage(band[None, :, :, 0], band[None, :, :, 1], fresh) <= 0.9  # 85% nominal for 40 origins


def test_no_errors_give_the_point_forecast():
    band = conformal_quantiles(np.zeros((0, 4, 1)), np.ones((4, 1)), (0.1, 0.9))
    np.testing.assert_allclose(band, 1.0)
