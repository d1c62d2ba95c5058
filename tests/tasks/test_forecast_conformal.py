"""Conformal quantiles around a selected forecast (tasks/forecast/conformal.py)."""

from __future__ import annotations

import numpy as np

from rnnkit.tasks.forecast.conformal import conformal_quantiles, coverage


def test_quantiles_add_the_pooled_error_quantiles_to_the_point_forecast():
    rng = np.random.default_rng(0)
    errors = rng.normal(size=(3, 12, 1))  # (O, H, T)
    forecast = np.arange(12.0)[:, None]
    band = conformal_quantiles(errors, forecast, (0.1, 0.5, 0.9), pool_steps=12)  # one pool for every step
    pooled = errors.reshape(-1)
    np.testing.assert_allclose(band[:, 0, 1], forecast[:, 0])
    np.testing.assert_allclose(band[:, 0, 0] - forecast[:, 0], np.quantile(pooled, 0.1, method="lower"))
    np.testing.assert_allclose(band[:, 0, 2] - forecast[:, 0], np.quantile(pooled, 0.9, method="higher"))


def test_bands_widen_with_errors_that_grow_along_the_horizon_and_cover_fresh_draws():
    rng = np.random.default_rng(1)
    scale = np.linspace(1, 5, 12)[None, :, None]
    band = conformal_quantiles(rng.normal(size=(40, 12, 1)) * scale, np.zeros((12, 1)), (0.1, 0.9))
    width = band[:, 0, 1] - band[:, 0, 0]
    assert width[-1] > 3 * width[0]
    fresh = rng.normal(size=(200, 12, 1)) * scale
    assert 0.75 <= coverage(band[None, :, :, 0], band[None, :, :, 1], fresh) <= 0.85


def test_no_errors_give_the_point_forecast():
    band = conformal_quantiles(np.zeros((0, 4, 1)), np.ones((4, 1)), (0.1, 0.9))
    np.testing.assert_allclose(band, 1.0)
