"""rnnkit's default forecaster against naive, seasonal-naive, drift, ETS and ARIMA, in one script.

1. Air passengers (monthly 1949-1960): train before 1958-01, the last 36 months held out (the darts
   quickstart protocol); rnnkit's defaults, mean and spread over --seeds seeds.
2. Yearly sunspots (statsmodels): the last 30 years held out, same table.
3. 80% intervals (--quantiles 0.1,0.5,0.9) on a rolling-origin backtest of air passengers:
   3 folds of 12 months (1958, 1959, 1960), a fresh model per fold and seed; coverage of the 36 points.
   Each fold's outer quantiles are conformally widened on 3 rolling origins before its validation end
   (the default --calibration-windows 3: its own validation tail plus two refits), so each fold trains 3 models.
4. ``--panel``: 15 public and generated series (monthly, quarterly, annual; ``panel_series``), the last
   horizon held out (18 months, 8 quarters, 6 years, as in M4); MASE and sMAPE per series of rnnkit's default
   (``select_forecast`` on the training part), seasonal naive, drift, ETS, ARIMA, Theta and M4's Comb; the
   geometric mean of each method's MASE against the default's, the default / best-of(ETS, ARIMA, Theta, Comb)
   ratio per series and the coverage of the default's 80% conformal interval on the held-out tail.
   ``--extra module:factory`` adds forecasters (the RNN): ``factory(season)`` returns {name: (history (N, T),
   horizon) -> (H, T)}, scored by the selection beside the classical ones.
5. ``--parts global``: one global RNN (``--id-column``) over statsmodels macrodata's 10 positive quarterly
   series (the last 8 quarters held out) and over 20 generated monthly series (the last 12); the held-out
   tails' coverage by the 80% band, split-conformally calibrated on every series' validation tail, beside
   the raw pinball band of the same network.

    .venv/bin/python benchmarks/bench_forecast.py --seeds 5
    .venv/bin/python benchmarks/bench_forecast.py --seeds 3 --parts global
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_forecast.py --panel --json panel.json
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_forecast.py --panel --runs   # the trained default runs
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from machine import cpu_line  # noqa: E402  (a sibling script: benchmarks/ is on sys.path)
from rnnkit.data.series import AIR_PASSENGERS, Series, builtin_series
from rnnkit.runs import open_run, train
from rnnkit.tasks.forecast import CHOICE_FILE, ForecastRunConfig, backtest, baseline_table
from rnnkit.tasks.forecast.baselines import baseline_forecast, forecast_metrics
from rnnkit.tasks.forecast.conformal import conformal_quantiles
from rnnkit.tasks.forecast.conformal import coverage as band_coverage
from rnnkit.tasks.forecast.select import ExtraForecaster, select_forecast

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


# -- the panel (issue 15) ---------------------------------------------------------------------------
HORIZONS = {12: 18, 4: 8, 1: 6}  # season -> held-out horizon: M4's 18 months, 8 quarters, 6 years
CLASSICAL = ("seasonal_naive", "drift", "ets", "arima", "theta", "comb")
STRONG = ("ets", "arima", "theta", "comb")  # the default must beat each across the panel, and their best per series
MONTHLY_POINTS = 240  # long monthly series keep their last 20 years (as M4's monthly series), for speed
PANEL_SEED = 15


@dataclass(frozen=True)
class PanelSeries:
    name: str
    season: int
    values: np.ndarray  # (N,)
    source: str

    @property
    def horizon(self) -> int:
        return HORIZONS[self.season]


def _generated(rng: np.random.Generator) -> list[PanelSeries]:
    """Series of known structure, drawn with a fixed seed."""
    t = np.arange(144)
    season = 10 * np.sin(2 * np.pi * t / 12) + 5 * np.cos(4 * np.pi * t / 12)
    additive = 100 + 0.5 * t + season + rng.normal(0, 4, 144)
    multiplicative = (50 + 0.8 * t) * (1 + 0.25 * np.sin(2 * np.pi * t / 12)) * np.exp(rng.normal(0, 0.03, 144))
    q = np.arange(100)
    quarterly = 200 + 2 * q + np.tile([8.0, -3.0, -10.0, 5.0], 25) + np.cumsum(rng.normal(0, 2, 100))
    level, slope, damped = 100.0, 6.0, []
    for _ in range(60):  # a trend that dies out: slope shrinks by 0.9 a year
        slope *= 0.9
        level += slope + rng.normal(0, 2)
        damped.append(level)
    walk = 50 + np.cumsum(1.5 + rng.normal(0, 4, 50))
    return [PanelSeries("gen trend+season", 12, additive, "generated: linear trend + additive season + noise"),
            PanelSeries("gen mult season", 12, multiplicative, "generated: trend x multiplicative season"),
            PanelSeries("gen quarterly", 4, quarterly, "generated: trend + season + random walk"),
            PanelSeries("gen damped trend", 1, np.asarray(damped), "generated: damped trend (phi 0.9)"),
            PanelSeries("gen drift walk", 1, walk, "generated: random walk with drift")]


def panel_series() -> list[PanelSeries]:
    """The panel: air passengers, statsmodels' datasets and generated series; all offline and fixed."""
    import statsmodels.api as sm

    sets = sm.datasets
    co2 = builtin_series("co2").values[-MONTHLY_POINTS:, 0]
    elnino = sets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy(np.float64).reshape(-1)
    macro = sets.macrodata.load_pandas().data
    out = [PanelSeries("air passengers", 12, np.asarray(AIR_PASSENGERS, np.float64), "rnnkit builtin (Box & Jenkins)"),
           PanelSeries("co2", 12, co2, "statsmodels co2, monthly means, last 20 years"),
           PanelSeries("elnino", 12, elnino[-MONTHLY_POINTS:], "statsmodels elnino, sea temperature, last 20 years")]
    out += [PanelSeries(f"{column}", 4, macro[column].to_numpy(np.float64), f"statsmodels macrodata {column}")
            for column in ("realgdp", "realcons", "realinv", "cpi", "m1", "unemp")]
    out += [PanelSeries("sunspots", 1, sets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64),
                        "statsmodels sunspots, yearly"),
            PanelSeries("nile", 1, sets.nile.load_pandas().data["volume"].to_numpy(np.float64),
                        "statsmodels nile, yearly flow")]
    return out + _generated(np.random.default_rng(PANEL_SEED))


def selected(s: PanelSeries, extra: Callable[[int], Mapping[str, ExtraForecaster]] | None
             ) -> tuple[str, np.ndarray, np.ndarray]:
    """The library's selection among the classical candidates (and ``extra``) on the training part: its
    choice, forecast (H, 1) and conformal 80% band (H, 1, 2)."""
    h = s.horizon
    sel = select_forecast(s.values[:-h, None], h, s.season, extra=extra(s.season) if extra else None)
    band = conformal_quantiles(sel.errors.get(sel.choice, np.zeros((0, h, 1))), sel.forecast, (0.1, 0.9))
    return sel.choice, sel.forecast, band


def trained(s: PanelSeries) -> tuple[str, np.ndarray, np.ndarray]:
    """``rnnkit train forecast``'s default run (``--model auto``: the RNN scored beside the classical
    candidates on the rolling origins) with 80% quantiles, the last horizon held out: its choice, held-out
    forecast (H, 1) and band (H, 1, 2)."""
    h = s.horizon
    full = Series(pd.Index(np.arange(len(s.values)), dtype=np.int64), s.values[:, None], np.zeros((len(s.values), 0)),
                  ("y",), season=s.season, name=s.name)
    config = ForecastRunConfig.from_dict({"data": {"horizon": h, "holdout": h, "season": s.season},
                                          "model": {"quantiles": "0.1,0.5,0.9"}})
    with tempfile.TemporaryDirectory() as run:
        train("forecast", config, Path(run), show_progress=False, log=lambda *_: None, series=full)
        result = open_run(run).predictor()
        forecast = result.predict(full.head(len(full) - h), h)
        choice = json.loads((Path(run) / CHOICE_FILE).read_text())["choice"]
    lower, upper = forecast.outer_interval()
    return choice, forecast.point, np.stack([lower, upper], axis=-1)


def run_panel(series: list[PanelSeries], extra: Callable[[int], Mapping[str, ExtraForecaster]] | None = None,
              log: Callable[[str], None] = print, runs: bool = False) -> list[dict]:
    """One row per series: each method's MASE and sMAPE on the held-out tail, the default's choice and its
    80% interval coverage. Selection sees only the training part. ``runs``: the default is a trained
    ``train forecast`` run (``trained``), else the library's selection (``selected``)."""
    rows = []
    for s in series:
        start = time.perf_counter()
        h = s.horizon
        history, actual = s.values[:-h, None], s.values[-h:, None]  # (N, 1), (H, 1)
        choice, default, band = trained(s) if runs else selected(s, extra)
        forecasts = {"rnnkit": default, **{m: baseline_forecast(m, history, h, s.season) for m in CLASSICAL}}
        metrics = {m: forecast_metrics(actual, f, history, s.season) for m, f in forecasts.items()}
        best = min(metrics[m]["MASE"] for m in STRONG)
        rows.append({"series": s.name, "season": s.season, "points": len(s.values), "horizon": h, "source": s.source,
                     "choice": choice, "MASE": {m: v["MASE"] for m, v in metrics.items()},
                     "sMAPE": {m: v["sMAPE"] for m, v in metrics.items()},
                     "ratio_to_best": metrics["rnnkit"]["MASE"] / best,
                     "coverage80": band_coverage(band[:, :, 0], band[:, :, 1], actual),
                     "seconds": time.perf_counter() - start})
        log(f"  {s.name}: {choice}, MASE {metrics['rnnkit']['MASE']:.3f}, ratio to best "
            f"{rows[-1]['ratio_to_best']:.3f} ({rows[-1]['seconds']:.1f}s)")
    return rows


def geo_mean(values) -> float:
    return float(math.exp(np.mean(np.log(values))))


def panel_summary(rows: list[dict]) -> dict:
    methods = list(rows[0]["MASE"])
    gm = {m: geo_mean([r["MASE"][m] for r in rows]) for m in methods}
    best = [min(r["MASE"][m] for m in STRONG) for r in rows]  # the best strong method, known only afterwards
    return {"geo_mean_MASE": gm, "default_over_method": {m: gm["rnnkit"] / gm[m] for m in methods},
            "max_ratio_to_best": max(r["ratio_to_best"] for r in rows),
            # the same worst-series ratio for every method: how far any one method stays from that oracle
            "worst_ratio_to_best": {m: max(r["MASE"][m] / b for r, b in zip(rows, best)) for m in methods},
            "mean_coverage80": float(np.mean([r["coverage80"] for r in rows]))}


def print_panel(rows: list[dict], summary: dict) -> None:
    methods = list(rows[0]["MASE"])
    print("\n| series | m | N | H | choice | " + " | ".join(f"MASE {m}" for m in methods)
          + " | default / best strong | 80% cov |")
    print("|---|---:|---:|---:|---|" + "---:|" * (len(methods) + 2))
    for r in rows:
        print(f"| {r['series']} | {r['season']} | {r['points']} | {r['horizon']} | {r['choice']} | "
              + " | ".join(f"{r['MASE'][m]:.3f}" for m in methods)
              + f" | {r['ratio_to_best']:.3f} | {100 * r['coverage80']:.0f}% |")
    print("\n| series | " + " | ".join(f"sMAPE {m}" for m in methods) + " |")
    print("|---|" + "---:|" * len(methods))
    for r in rows:
        print(f"| {r['series']} | " + " | ".join(f"{r['sMAPE'][m]:.2f}" for m in methods) + " |")
    print("\n| method | geo-mean MASE | default / method (target <= 0.95 for " + ", ".join(STRONG) + ") |")
    print("|---|---:|---:|")
    for m in methods:
        print(f"| {m} | {summary['geo_mean_MASE'][m]:.3f} | {summary['default_over_method'][m]:.3f} |")
    print(f"\nmax default / best-of({', '.join(STRONG)}) over series: {summary['max_ratio_to_best']:.3f} "
          f"(target <= 1.25)")
    print("the same worst-series ratio for each method: " + ", ".join(
        f"{m} {v:.3f}" for m, v in summary["worst_ratio_to_best"].items()))
    print(f"mean 80% interval coverage of the default on the held-out tails: "
          f"{100 * summary['mean_coverage80']:.1f}% (target 70-90%)")


GLOBAL_COLUMNS = ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop")


def global_panels() -> dict[str, tuple[pd.DataFrame, int]]:
    """Long frames (id, date, value) for the global runs, with their horizons: macrodata's positive quarterly
    series (held-out tail: the 2008 recession), and 20 generated monthly series (level, trend, season and 5%
    noise drawn per series, seed 15) whose tails are exchangeable with their pasts."""
    import statsmodels.api as sm

    macro = sm.datasets.macrodata.load_pandas().data
    dates = pd.date_range("1959-01-01", periods=len(macro), freq="QS").strftime("%Y-%m-%d")
    quarterly = pd.concat([pd.DataFrame({"id": c, "date": dates, "value": macro[c]}) for c in GLOBAL_COLUMNS])
    rng, n = np.random.default_rng(PANEL_SEED), 120
    t, months = np.arange(n), pd.date_range("2010-01-01", periods=n, freq="MS").strftime("%Y-%m-%d")
    monthly = []
    for i in range(20):
        level, trend, amplitude = rng.uniform(10, 1000), rng.uniform(-0.002, 0.006), rng.uniform(0.05, 0.3)
        shape = (1 + trend * t) * (1 + amplitude * np.sin(2 * np.pi * (t + rng.integers(12)) / 12))
        monthly.append(pd.DataFrame({"id": f"g{i}", "date": months,
                                     "value": level * shape * (1 + 0.05 * rng.standard_normal(n))}))
    return {"macrodata quarterly": (quarterly, 8), "generated monthly": (pd.concat(monthly), 12)}


def global_coverage(seeds: list[int]) -> None:
    """A global run per panel and seed: held-out MASE and the 80% coverage of the calibrated band beside the
    raw one (the same network with the widening left out)."""
    import dataclasses

    from rnnkit.data.panel import read_panel
    from rnnkit.data.series import SeriesConfig

    print(f"\n## global models, quantiles 0.1/0.5/0.9, last horizon held out; cpu: {cpu_line()}")
    print("| panel | seed | widening (scaled) | held-out MASE (mean) | raw 80% coverage | calibrated 80% coverage |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (frame, horizon) in global_panels().items():
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "long.csv"
            frame.to_csv(data, index=False)
            series = read_panel(SeriesConfig(data=str(data), id_column="id")).series
            for seed in seeds:
                config = ForecastRunConfig.from_dict({
                    "data": {"data": str(data), "id_column": "id", "horizon": horizon, "holdout": horizon},
                    "model": {"quantiles": "0.1,0.5,0.9"}, "train": {"seed": seed}})
                run = Path(folder) / f"run{seed}"
                summary = train("forecast", config, run, show_progress=False, log=lambda *_: None)
                fm = open_run(run).predictor()
                info = {k: v for k, v in fm.series_info.items() if k != "interval_adjust"}
                raw = type(fm)(fm.model, fm.config, dataclasses.replace(fm.vocab, series_info=info))
                inside: dict[str, list[float]] = {"raw": [], "calibrated": []}
                for s in series:
                    history, actual = s.head(len(s) - horizon), s.values[-horizon:]
                    for kind, model in (("raw", raw), ("calibrated", fm)):
                        lower, upper = model.predict(history, horizon).outer_interval()
                        inside[kind].append(band_coverage(lower, upper, actual))
                print(f"| {name} | {seed} | {fm.series_info['interval_adjust'][0]:.4f} | "
                      f"{summary['holdout']['MASE']:.3f} | {100 * np.mean(inside['raw']):.1f}% | "
                      f"{100 * np.mean(inside['calibrated']):.1f}% |")


def load_extra(spec: str) -> Callable[[int], Mapping[str, ExtraForecaster]]:
    """``module:factory`` -> the factory; ``factory(season)`` returns {name: forecaster}."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr or "extra_forecasters")


def panel(json_path: str | None, extra_spec: str | None, runs: bool = False) -> None:
    series = panel_series()
    what = "trained default runs (--model auto, RNN included)" if runs else "the library's selection"
    print(f"\n## panel: {len(series)} series, last horizon held out, rnnkit = {what}; cpu: {cpu_line()}")
    start = time.perf_counter()
    rows = run_panel(series, load_extra(extra_spec) if extra_spec else None, runs=runs)
    summary = panel_summary(rows)
    print_panel(rows, summary)
    print(f"panel time: {time.perf_counter() - start:.0f}s")
    if json_path:
        Path(json_path).write_text(json.dumps({"rows": rows, "summary": summary, "cpu": cpu_line()}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--parts", default="airline,sunspots,coverage")
    parser.add_argument("--panel", action="store_true", help="only the classical panel (see 4. above)")
    parser.add_argument("--json", help="with --panel: write the per-series table here")
    parser.add_argument("--extra", help="with --panel: module:factory of extra forecasters (the RNN)")
    parser.add_argument("--runs", action="store_true",
                        help="with --panel: rnnkit = a default `train forecast` run per series (RNN included; slow)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.panel:
        panel(args.json, args.extra, args.runs)
        return
    seeds = list(range(1, args.seeds + 1))
    parts = args.parts.split(",")
    if "airline" in parts:
        table("airline", 36, seeds)
    if "sunspots" in parts:
        table("sunspots", 30, seeds)
    if "coverage" in parts:
        coverage(seeds)
    if "global" in parts:
        global_coverage(seeds)


if __name__ == "__main__":
    main()
