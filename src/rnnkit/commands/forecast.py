"""``rnnkit train forecast``, ``rnnkit forecast``, ``rnnkit backtest``, and ``eval``/``train --resume`` for them.

Training goes through ``rnnkit.runs.train`` (``train_handler``); ``forecast``, ``backtest RUN_DIR`` and ``eval``
open the run with ``rnnkit.runs.open_run`` and ask its predictor (``rnnkit.runs.predictors.Forecaster``) or the
task's evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rnnkit.commands.common import (
    TRAIN_FLAGS,
    add_override_flags,
    add_typed_flags,
    report_training,
    sections,
    train_handler,
)
from rnnkit.errors import RnnkitError

TASK = "forecast"

# flag -> (section, field, type); None defaults, so only what the user typed overrides --config and the
# dataclass defaults (SeriesConfig, ForecasterConfig and the task's TrainConfig defaults own them).
FORECAST_FLAGS: dict[str, tuple[str, str, type]] = {
    "--data": ("data", "data", str),
    "--target": ("data", "target", str),
    "--time-column": ("data", "time_column", str),
    "--covariates": ("data", "covariates", str),
    "--freq": ("data", "freq", str),
    "--season": ("data", "season", int),
    "--fill": ("data", "fill", str),
    "--scaler": ("data", "scaler", str),
    "--horizon": ("data", "horizon", int),
    "--input-len": ("data", "input_len", int),
    "--holdout": ("data", "holdout", int),
    "--val-size": ("data", "val_size", int),
    "--calibration-windows": ("data", "calibration_windows", int),
    "--id-column": ("data", "id_column", str),
    "--model": ("select", "model", str),
    "--mode": ("model", "mode", str),
    "--cell": ("model", "cell", str),
    "--hidden-size": ("model", "hidden_size", int),
    "--num-layers": ("model", "num_layers", int),
    "--dropout": ("model", "dropout", float),
    "--output-len": ("model", "output_len", int),
    "--quantiles": ("model", "quantiles", str),
    "--point-loss": ("model", "point_loss", str),
    **TRAIN_FLAGS,
}
HELP = {
    "--data": "CSV file, or a built-in series: sine (generated), airline, sunspots, co2",
    "--target": "target column(s), comma-separated (default: the only numeric column)",
    "--time-column": "time column (default: a column named date, time, month, year, ...)",
    "--covariates": "known-future covariate columns, comma-separated; the CSV may run past the targets with them",
    "--freq": "pandas frequency (MS, D, h, W-SUN, ...); default: inferred. Gaps become missing values",
    "--season": "seasonal period (default: 12 for monthly, 4 quarterly, 7 daily, 24 hourly, else 1)",
    "--fill": "fill missing values: none (default: an error naming the rows), ffill, bfill, interpolate, zero",
    "--scaler": "standard, minmax or none; fitted on the training part only",
    "--horizon": "steps to forecast",
    "--input-len": "past points the model reads (default: 36, shorter where a short series needs it)",
    "--holdout": "last points held out for 'rnnkit eval' (default: the horizon; 0 trains on everything)",
    "--val-size": "points before the holdout used for validation/early stopping (default: one season; 0 on a "
                  "series too short for one)",
    "--calibration-windows": "with --quantiles and --model rnn: validation-sized windows before the holdout, each "
                             "forecast by a model trained before it, that calibrate the intervals (default 3; "
                             "--model auto calibrates on its validation origins)",
    "--id-column": "a long CSV of many series (rows: id, [time], value): train one global RNN across them, each "
                   "series scaled by its own level and seasonal index (the RNN only, whatever the model choice); "
                   "'rnnkit forecast RUN --id X' then forecasts series X",
    "--model": "the forecaster the run serves: auto (the lowest rolling-origin MASE before the held-out tail among "
               "the RNN, ets, arima, theta, comb, seasonal_naive, drift, and the mean/median of the best three: "
               "combo_mean/combo_median), or one of those names",
    "--mode": "direct (default: encoder + multi-horizon head) or autoregressive (one step, fed back)",
    "--cell": "gru, lstm, rnn_tanh, rnn_relu, or the parallel-scan mingru or minlstm",
    "--output-len": "steps one pass of the direct head predicts (default: the horizon); longer horizons roll",
    "--quantiles": "quantile levels for intervals, e.g. 0.1,0.5,0.9 (pinball loss)",
    "--point-loss": "mse or mae, without quantiles",
    "--precision": "fp32 or bf16",
    "--device": "cpu, cuda or auto",
}


def add_parsers(commands: argparse._SubParsersAction, train_tasks: argparse._SubParsersAction) -> None:
    tf = train_tasks.add_parser("forecast", help="an RNN forecaster for a time series (CSV or built-in)",
                                description="Train an RNN forecaster on a time series and choose, by rolling-origin "
                                            "validation (--model auto), between it, classical methods and their "
                                            "combinations; the last --horizon points are held out and scored "
                                            "against naive, seasonal-naive, drift, ETS and ARIMA.")
    tf.set_defaults(handler=train)
    tf.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory for checkpoints and logs")
    add_override_flags(tf)
    add_typed_flags(tf, FORECAST_FLAGS, HELP, config="rnnkit.tasks.forecast:ForecastRunConfig")
    tf.add_argument("--sort", action="store_true", default=None, help="sort rows by time instead of refusing")
    tf.add_argument("--log", action="store_true", default=None, help="log-transform the targets before scaling")
    tf.add_argument("--no-residual", action="store_true", default=None,
                    help="predict values directly, not the change over the seasonal-naive forecast")

    fc = commands.add_parser("forecast", help="forecast the future with a trained forecaster",
                             description="Forecast after the last point of the run's series (or of --data).")
    fc.set_defaults(handler=forecast)
    fc.add_argument("run_dir", metavar="RUN_DIR")
    fc.add_argument("--data", help="forecast after the end of this CSV (same columns) instead of the run's series")
    fc.add_argument("--id", dest="series_id", metavar="ID",
                    help="a global run (--id-column): the series to forecast (with --data: picks it from a long CSV)")
    fc.add_argument("--horizon", type=int, help="steps to forecast (default: the trained horizon)")
    fc.add_argument("--out", metavar="FORECAST.csv", help="write the forecast here (default: print it as CSV)")
    fc.add_argument("--plot", metavar="FORECAST.png", help="draw history, forecast and interval band")
    fc.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")

    bt = commands.add_parser("backtest", help="rolling-origin evaluation of a forecaster against the baselines",
                             description="Retrain the forecaster at each of --folds origins and score its forecasts "
                                         "and the baselines' on the points after each origin.")
    bt.set_defaults(handler=run_backtest)
    bt.add_argument("source", metavar="RUN_DIR_OR_CONFIG", help="a forecast run directory or a TOML config file")
    bt.add_argument("--data", help="the series to backtest on (default: the run's or config's)")
    bt.add_argument("--folds", type=int, default=3, help="forecast origins (default 3)")
    bt.add_argument("--step", type=int, help="points between origins (default: the horizon)")
    bt.add_argument("--out", metavar="DIR", help="keep each fold's run directory under DIR")
    bt.add_argument("--baselines", default="naive,seasonal_naive,drift,ets,arima",
                    help="comma-separated baselines (default: all five)")
    bt.add_argument("--json", action="store_true", help="print the figures as JSON")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, dict[str, Any]] = {}
    if args.sort:
        extra.setdefault("data", {})["sort"] = True
    if args.log:
        extra.setdefault("data", {})["log"] = True
    if args.no_residual:
        extra.setdefault("model", {})["residual"] = False
    return sections(args, FORECAST_FLAGS, extra)


def _print_holdout(summary: dict[str, Any]) -> str | None:
    holdout = summary.get("holdout")
    if not holdout:
        return None
    text = f"held-out MAPE {holdout['MAPE']:.2f}%, MASE {holdout['MASE']:.3f}"
    if "coverage" in holdout:
        text += f", interval coverage {holdout['coverage']:.0f}%"
    if summary.get("model_choice"):
        text += f" ({summary['model_choice']})"
    return text


def report(summary: dict[str, Any], run_dir: Any) -> int:
    """The closing line of a forecasting run: steps, time and the held-out figures."""
    return report_training(summary, run_dir, "window", metric=_print_holdout(summary))


train = train_handler(TASK, _overrides, report)


def _open_forecaster(run_dir: str, device: str):
    """The run in ``run_dir`` (``rnnkit.runs.open_run``), refused unless it is a forecaster."""
    from rnnkit.runs import open_run

    run = open_run(run_dir, device)
    if run.task != TASK:
        raise RnnkitError(f"{run_dir} is a {run.task} run, not a forecasting run")
    return run


def forecast(args: argparse.Namespace) -> int:
    from rnnkit.tasks.forecast import GlobalForecaster, plot_forecast

    fm = _open_forecaster(args.run_dir, args.device).predictor()
    if isinstance(fm, GlobalForecaster):  # a global model: one of its series, or a new one (--data)
        series = fm.series(args.data, args.series_id)
        result = fm.forecast(args.horizon, series if args.data else None, series_id=args.series_id)
    elif args.series_id is not None:
        raise RnnkitError(f"{args.run_dir} was trained on one series; drop --id (it is for --id-column runs)")
    else:
        series = fm.series(args.data)
        result = fm.forecast(args.horizon, series)
    frame = result.to_frame()
    if args.out:
        from rnnkit.fileio import atomic_write_text

        atomic_write_text(args.out, frame.to_csv(index=False))
        print(f"rnnkit: wrote {len(frame)} forecast steps to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(frame.to_csv(index=False))
    if args.plot:
        if not plot_forecast(series, result, args.plot, history_points=max(3 * fm.config.data.input_len, 60)):
            raise RnnkitError("--plot needs matplotlib; pip install 'rnnkit[forecast]'")
        print(f"rnnkit: drew {args.plot}", file=sys.stderr)
    return 0


def _backtest_config(source: str, data: str | None):
    import dataclasses

    from rnnkit.config import load_toml
    from rnnkit.tasks.forecast import ForecastRunConfig

    path = Path(source)
    if path.is_dir():
        config = _open_forecaster(source, "cpu").config
    elif path.suffix == ".toml" or path.is_file():
        config = ForecastRunConfig.from_dict(load_toml(path))
    else:
        raise RnnkitError(f"{source} is neither a run directory nor a TOML config file")
    if data is not None:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, data=data))
    return config


def run_backtest(args: argparse.Namespace) -> int:
    from rnnkit.runs import train as train_run
    from rnnkit.tasks.forecast import BASELINES, backtest, format_table

    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise RnnkitError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    config = _backtest_config(args.source, args.data)
    if config.data.id_column:
        raise RnnkitError("backtest retrains on one series; a global (--id-column) run is scored per series by "
                          "'rnnkit eval RUN_DIR'")
    result = backtest(config, args.folds, args.step, out=args.out, baselines=baselines,
                      log=lambda m: print(m, file=sys.stderr), train=train_run)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"mean over {args.folds} folds, horizon {config.data.horizon}:")
        print(format_table(result["mean"]))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.runs import evaluate as evaluate_run
    from rnnkit.tasks.forecast import format_table

    table = evaluate_run(args.run_dir, data=args.data, device=args.device)
    print(json.dumps(table) if args.json else format_table(table))
    return 0


__all__ = ["FORECAST_FLAGS", "TASK", "add_parsers", "evaluate", "forecast", "report", "run_backtest", "train"]
