"""rnnkit's default forecaster against naive, seasonal-naive, drift, ETS and ARIMA, in one script.

1. Air passengers (monthly 1949-1960): train before 1958-01, the last 36 months held out (the darts
   quickstart protocol); rnnkit's defaults, mean and spread over --seeds seeds.
2. Yearly sunspots (statsmodels): the last 30 years held out, same table.
3. 80% intervals (--quantiles 0.1,0.5,0.9) on a rolling-origin backtest of air passengers:
   3 folds of 12 months (1958, 1959, 1960), a fresh model per fold and seed; coverage of the 36 points.
   Each fold's outer quantiles are conformally widened on 3 rolling origins before its validation end
   (the default --calibration-windows 3: its own validation tail plus two refits), so each fold trains 3 models.

    .venv/bin/python benchmarks/bench_forecast.py --seeds 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.series import builtin_series
from rnnkit.runs import train
from rnnkit.tasks.forecast import ForecastRunConfig, backtest, baseline_table
from rnnkit.tasks.forecast.baselines import baseline_forecast, forecast_metrics

PUBLISHED_AIRLINE = {"seasonal naive (darts)": 13.19, "AutoARIMA (darts)": 12.70, "Theta (darts)": 8.15,
                     "exponential smoothing (darts)": 5.11}


def rnnkit_holdout(name: str, horizon: int, seeds: list[int], extra_model: dict | None = None) -> dict:
    """Train the default forecaster once per seed; held-out metrics per seed."""
    rows = []
    for seed in seeds:
        config = ForecastRunConfig.from_dict({"data": {"data": name, "horizon": horizon},
                                              "model": extra_model or {}, "train": {"seed": seed}})
        with tempfile.TemporaryDirectory() as run:
            start = time.perf_counter()
            summary = train("forecast", config, Path(run), show_progress=False, log=lambda *_: None)
            rows.append({**summary["holdout"], "seconds": time.perf_counter() - start})
        print(f"  {name} seed {seed}: MAPE {rows[-1]['MAPE']:.2f}%  RMSE {rows[-1]['RMSE']:.2f}  "
              f"({rows[-1]['seconds']:.1f}s)", flush=True)
    return {key: (float(np.mean([r[key] for r in rows])), float(np.std([r[key] for r in rows]))) for key in rows[0]}


def table(name: str, horizon: int, seeds: list[int]) -> None:
    series = builtin_series(name)
    cutoff = len(series) - horizon
    print(f"\n## {name}: {len(series)} points, last {horizon} held out, season {series.season}")
    ours = rnnkit_holdout(name, horizon, seeds)
    start = time.perf_counter()
    baselines = baseline_table(series, cutoff)
    history, actual = series.values[:cutoff], series.values[cutoff:]
    baselines["arima (m=1, non-seasonal)"] = forecast_metrics(
        actual, baseline_forecast("arima", history, horizon, 1), history, series.season)
    baseline_s = time.perf_counter() - start
    print("\n| model | MAPE % | RMSE | sMAPE % | MASE |\n|---|---:|---:|---:|---:|")
    print(f"| **rnnkit defaults, mean ± sd over {len(seeds)} seeds** | "
          f"**{ours['MAPE'][0]:.2f} ± {ours['MAPE'][1]:.2f}** | **{ours['RMSE'][0]:.2f} ± {ours['RMSE'][1]:.2f}** | "
          f"{ours['sMAPE'][0]:.2f} | {ours['MASE'][0]:.3f} |")
    for model, m in baselines.items():
        print(f"| {model} | {m['MAPE']:.2f} | {m['RMSE']:.2f} | {m['sMAPE']:.2f} | {m['MASE']:.3f} |")
    if name == "airline":
        for model, mape in PUBLISHED_AIRLINE.items():
            print(f"| {model}, published | {mape:.2f} | | | |")
    ratios = {b: ours["MAPE"][0] / baselines[b]["MAPE"] for b in ("seasonal_naive", "ets", "arima")}
    print("\nMAPE ratio rnnkit / baseline: " + ", ".join(f"{b} {r:.3f}" for b, r in ratios.items()))
    print(f"rnnkit training: {ours['seconds'][0]:.1f}s per seed; all baselines: {baseline_s:.1f}s")


def coverage(seeds: list[int], folds: int = 3) -> None:
    print(f"\n## air passengers backtest: {folds} folds x 12 months, quantiles 0.1,0.5,0.9")
    rows = []
    for seed in seeds:
        config = ForecastRunConfig.from_dict({"data": {"data": "airline", "horizon": 12},
                                              "model": {"quantiles": [0.1, 0.5, 0.9]}, "train": {"seed": seed}})
        result = backtest(config, folds, baselines=("seasonal_naive",), log=lambda *_: None, train=train)
        fold_cov = [r["coverage"] for r in result["folds"]["rnnkit"]]
        rows.append(result["mean"]["rnnkit"])
        print(f"  seed {seed}: coverage {rows[-1]['coverage']:.1f}% (folds {', '.join(f'{c:.0f}' for c in fold_cov)}), "
              f"MAPE {rows[-1]['MAPE']:.2f}% (seasonal naive {result['mean']['seasonal_naive']['MAPE']:.2f}%)",
              flush=True)
    cov = [r["coverage"] for r in rows]
    mape = [r["MAPE"] for r in rows]
    print(f"\n80% interval coverage over {folds * 12} backtest points: mean {np.mean(cov):.1f}%, sd {np.std(cov):.1f}, "
          f"range {min(cov):.1f}-{max(cov):.1f}%; median forecast MAPE {np.mean(mape):.2f}% ± {np.std(mape):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--parts", default="airline,sunspots,coverage")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(1, args.seeds + 1))
    parts = args.parts.split(",")
    if "airline" in parts:
        table("airline", 36, seeds)
    if "sunspots" in parts:
        table("sunspots", 30, seeds)
    if "coverage" in parts:
        coverage(seeds)


if __name__ == "__main__":
    main()
