"""``rnnkit train forecast`` as a task: windows, loss and validation for the one run lifecycle, then the
interval calibration and the held-out forecast.

A run directory is the Trainer's (config.json, last.pt, best.pt, metrics.jsonl, loss.png) plus
``series.json`` (the scalers and the series' facts, ``ForecastVocab``), ``selection.json`` (the forecaster
``--model`` chose, ``ModelChoice``) and ``holdout.png``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from rnnkit import checkpoint as ckpt
from rnnkit.data.series import Series, WindowBatcher, Windows, make_windows
from rnnkit.models.forecaster import Forecaster, ForecasterConfig, forecast_loss
from rnnkit.tasks.base import Context, Prepared, Task, Training
from rnnkit.tasks.forecast.auto import RnnOrigins, choose
from rnnkit.tasks.forecast.calibrate import calibrate_intervals, interval_scores, refit_scores, validation_scores
from rnnkit.tasks.forecast.choice import ModelChoice
from rnnkit.tasks.forecast.config import ForecastRunConfig
from rnnkit.tasks.forecast.global_model import (
    GlobalForecaster,
    PanelData,
    PanelVocab,
    SeriesFile,
    panel_eval_table,
    panel_finish,
    panel_training,
    prepare_panel,
)
from rnnkit.tasks.forecast.model import (
    SERIES_FILE,
    ForecastModel,
    ForecastVocab,
    PreparedSeries,
    prepare,
    validation_inputs,
)
from rnnkit.tasks.forecast.report import HOLDOUT_PLOT, eval_table, holdout_forecast, plot_forecast


def make_loss_fn(model_config: ForecasterConfig) -> Callable:
    """The Trainer's loss_fn: direct windows, or teacher-forced next-step predictions over the whole window."""
    if model_config.mode == "direct":
        def direct_loss(model, x, y, state):
            past, future = x  # (B, L, T+C), (B, O, C)
            return forecast_loss(model(past, future), y, model_config), None
        return direct_loss

    def autoregressive_loss(model, x, y, state):
        past, future = x  # (B, L, T+C), (B, O, C); y (B, O, T)
        whole = torch.cat([past, torch.cat([y, future], dim=-1)], dim=1)  # (B, L+O, T+C)
        inputs, after = whole[:, :-1], whole[:, -1:, model_config.num_targets:]  # (B, S, T+C), (B, 1, C)
        pred = model(inputs, after)  # (B, S, T, Q): position t predicts t + 1
        target = whole[:, 1:, :model_config.num_targets]  # (B, S, T)
        steps = torch.arange(inputs.shape[1], device=pred.device)
        # with the seasonal residual, the first m-1 positions have no baseline yet: leave them out
        mask = (steps + 1 >= model_config.season).float() if model_config.residual else torch.ones_like(steps).float()
        return forecast_loss(pred, target, model_config, mask.expand(pred.shape[0], -1)), None
    return autoregressive_loss


def validation_loss(prepared: PreparedSeries, device: torch.device) -> Callable | None:
    """Loss of forecasting the validation tail from its start (scaled units), for early stopping."""
    inputs = validation_inputs(prepared, device)
    if inputs is None:
        return None
    past_t, future_t, target_t = inputs
    m = prepared.config.model

    def evaluate(model):
        model.eval()
        with torch.inference_mode():
            pred = model.forecast(past_t, future_t, target_t.shape[1])  # (1, V, T, Q)
            return float(forecast_loss(pred, target_t, m))
    return evaluate


@dataclass
class ForecastData:
    """A run's prepared data: the cut series, its training windows, whether to calibrate the intervals, and
    the recipe as given (adaptive lengths unfilled: each validation origin's RNN run fills its own)."""

    series: PreparedSeries
    windows: Windows
    calibrate: bool = True
    recipe: ForecastRunConfig | None = None


class ForecastTask(Task):
    """``rnnkit train forecast``: an RNN forecaster of a time series, scored against classical baselines."""

    name = "forecast"
    config_class = ForecastRunConfig
    vocab_class = SeriesFile  # ForecastVocab, or PanelVocab for a global model (--id-column)
    vocab_file = SERIES_FILE
    token = "window"
    default_time = None  # the config carries its own budget (TRAIN_DEFAULTS: 600 steps)

    def prepare(self, config: ForecastRunConfig, vocab: ForecastVocab | None, ctx: Context,
                series: Series | None = None, calibrate: bool = True, **options: Any) -> Prepared:
        """Options: ``series`` (a ``Series`` to train on instead of the config's data) and ``calibrate``
        (False: no conformal interval calibration, as for the calibration's own refits)."""
        if options:
            raise TypeError(f"unknown option {next(iter(options))!r} for a forecast run; "
                            "it takes series= and calibrate=")
        if config.data.id_column:  # a long CSV of many series: one global model (global_model.py)
            config, vocab, meta, data = prepare_panel(config, vocab, ctx.log)
            return Prepared(config, vocab, meta, data=data)
        recipe = config
        p = prepare(config, series, *((vocab.scaler, vocab.covariate_scaler) if vocab is not None else ()))
        config, series = p.config, p.series
        windows = make_windows(p.scaled, p.scaled_covariates, config.data.input_len, config.model.output_len,
                               0, p.train_end)
        meta = {"train_points": p.train_end, "val_points": p.fit_end - p.train_end,
                "holdout_points": len(series) - p.fit_end, "train_windows": len(windows)}
        return Prepared(config, ForecastVocab(p.scaler, p.covariate_scaler, series.describe()), meta,
                        data=ForecastData(p, windows, calibrate, recipe))

    def build_model(self, config: ForecastRunConfig) -> Forecaster:
        return Forecaster(config.model)

    def training(self, prepared: Prepared, ctx: Context) -> Training:
        config, data = prepared.config, prepared.data
        if isinstance(data, PanelData):
            return panel_training(prepared, ctx, make_loss_fn(config.model))
        p, t, m = data.series, config.train, config.model
        generator = torch.Generator().manual_seed(t.seed)
        batcher = WindowBatcher(data.windows, t.batch_size, generator)
        series = p.series
        describe = (f"; {series.name}: {len(series)} points ({p.train_end} train, {p.fit_end - p.train_end} "
                    f"validation, {len(series) - p.fit_end} held out), {len(data.windows)} training windows; "
                    f"{m.mode} {m.cell}, horizon {config.data.horizon}")
        return Training(batcher, make_loss_fn(m), validation_loss(p, ctx.device), describe,
                        batch_generator=generator)

    def finish(self, prepared: Prepared, summary: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
        """Choose the forecaster the run serves (``auto.choose``: under ``--model auto`` one more RNN run per
        validation origin); with quantiles and the RNN chosen, widen its outer quantiles by conformal
        calibration (``calibrate.py``: from the origins' runs, or one more run per calibration window under
        ``--model rnn``); then forecast the held-out tail with the choice ("holdout" in the summary,
        holdout.png)."""
        config, data, vocab = prepared.config, prepared.data, prepared.vocab
        if isinstance(data, PanelData):
            return panel_finish(prepared, summary, ctx, self.load_model)
        p, m = data.series, config.model
        model = self.load_model(ctx.out, config, vocab, ctx.device)
        train = functools.partial(ctx.train_run, self)
        rnn = RnnOrigins(p, data.recipe or config, ForecastModel(model, config, vocab), train, ctx.device, ctx.log)
        choice = choose(p, rnn, ctx.log)
        quantiles = data.calibrate and len(m.quantiles) >= 2 and choice.is_rnn
        scores = []
        if quantiles and config.select.model == "auto":  # the origins' own RNN forecasts, when selection ran
            scale = p.scaler.transform
            for cut in choice.cuts:
                lower, upper = rnn.forecasts[cut].outer_interval()  # (H, T) each
                actual = p.series.values[cut:cut + len(lower)]
                scores.append(interval_scores(scale(lower), scale(upper), scale(actual)))
        elif quantiles and p.fit_end > p.train_end:
            scores = refit_scores(p, config.data.calibration_windows, ctx.device, train, ctx.log)
        if not scores and quantiles:  # too short for refits: the validation tail alone
            tail = validation_scores(model, p, ctx.device)
            scores = [tail] if tail is not None else []
        meta: dict[str, Any] = {"model_choice": choice.choice}
        info = {k: v for k, v in vocab.series_info.items() if k != "interval_adjust"}
        if scores:
            adjust = calibrate_intervals(scores, m.quantiles)
            meta.update(interval_calibration_points=sum(len(w) for w in scores), interval_adjust=adjust)
            info["interval_adjust"] = adjust
        vocab = ForecastVocab(vocab.scaler, vocab.covariate_scaler, info)
        ckpt.save_json(ctx.out / self.vocab_file, vocab.to_dict())  # the calibration is part of the predictor
        choice.save(ctx.out)
        if choice.scores:
            ctx.log("rnnkit: model selection (mean validation MASE): " + ", ".join(
                f"{name} {score:.3f}" + (" *" if name == choice.choice else "")
                for name, score in sorted(choice.scores.items(), key=lambda kv: kv[1])))
        series = p.series
        summary["model_choice"] = choice.choice
        if len(series) > p.fit_end:
            result = holdout_forecast(ForecastModel(model, config, vocab, choice), series, p.fit_end)
            summary["holdout"] = result["metrics"]
            plot_forecast(series.head(p.fit_end), result["forecast"], ctx.out / HOLDOUT_PLOT,
                          actual=series.values[p.fit_end:], history_points=max(3 * config.data.input_len, 60))
        return meta

    # -- a trained run -------------------------------------------------------------------------------
    def model_sizes(self, vocab: ForecastVocab | PanelVocab) -> dict[str, int]:
        if isinstance(vocab, PanelVocab):
            return vocab.model_sizes()
        info = vocab.series_info
        return {"num_targets": len(info["target_names"]), "num_covariates": len(info["covariate_names"]),
                "season": int(info["season"])}

    def predictor(self, run: Any) -> ForecastModel | GlobalForecaster:
        if isinstance(run.vocab, PanelVocab):  # a global model: forecast(horizon, history, series_id=...)
            return GlobalForecaster(run.model, run.config, run.vocab)
        choice = ModelChoice.load(run.path, len(run.vocab.series_info["target_names"]))
        return ForecastModel(run.model, run.config, run.vocab, choice)

    def evaluate(self, run: Any, data: str | None = None) -> dict[str, dict[str, float]]:
        """Held-out metrics of the run's model and the baselines on the last ``holdout`` points of its series
        (or of ``data``); rows: models."""
        fm = run.predictor()
        if isinstance(fm, GlobalForecaster):  # per series of the long CSV, and their mean
            return panel_eval_table(fm, data)
        return eval_table(fm, fm.series(data))


TASK = ForecastTask()

__all__ = ["TASK", "ForecastData", "ForecastTask", "make_loss_fn", "validation_loss"]
