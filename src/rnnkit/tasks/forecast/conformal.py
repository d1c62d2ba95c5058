"""Forecast quantiles around a selected point forecast, from its rolling-origin errors (split conformal).

Model selection picks the candidate with the lowest rolling-origin error; ``Selection.errors`` keeps every
candidate's errors on those origins (actual - forecast, (O, H, T)). The quantiles of the winner's errors,
added to its point forecast, give intervals whose coverage is measured on points the model never saw. With
few origins (3 by default) each horizon step alone has too few errors, so step h pools the errors of the
steps within ``POOL_STEPS`` of it, across all origins: the band still widens with the horizon.
"""

from __future__ import annotations

import numpy as np

POOL_STEPS = 2  # step h pools the errors of steps h - 2 .. h + 2 (clipped to the horizon) over every origin


def conformal_quantiles(errors: np.ndarray, forecast: np.ndarray, quantiles: tuple[float, ...],
                        pool_steps: int = POOL_STEPS) -> np.ndarray:
    """Quantile forecasts (H, T, Q): ``forecast`` (H, T) plus the empirical ``quantiles`` of ``errors``
    (O, H', T) pooled over origins and neighbouring steps; steps beyond H' reuse the last step's pool.
    A median of 0.5 returns the point forecast itself. Empty ``errors`` give the point forecast for every q."""
    forecast = np.asarray(forecast, np.float64)
    horizon, targets = forecast.shape
    out = np.repeat(forecast[:, :, None], len(quantiles), axis=2)  # (H, T, Q)
    errors = np.asarray(errors, np.float64)
    if errors.size == 0:
        return out
    last = errors.shape[1] - 1
    for h in range(horizon):
        c = min(h, last)
        pool = errors[:, max(0, c - pool_steps):c + pool_steps + 1].reshape(-1, targets)  # (n, T)
        for i, q in enumerate(quantiles):
            if q != 0.5:
                out[h, :, i] += np.quantile(pool, q, axis=0, method="higher" if q > 0.5 else "lower")
    return np.sort(out, axis=2)


def coverage(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> float:
    """The share of ``actual`` points inside [lower, upper] (same shapes)."""
    actual = np.asarray(actual, np.float64)
    return float(np.mean((actual >= lower) & (actual <= upper)))


__all__ = ["POOL_STEPS", "conformal_quantiles", "coverage"]
