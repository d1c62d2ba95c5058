"""The settings of a forecasting run: ``[data]`` (SeriesConfig), ``[model]`` (ForecasterConfig), ``[train]``,
``[select]`` (SelectConfig: which forecaster the run serves)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rnnkit.config import RunSections, TrainConfig, build_section, check_sections, raise_first
from rnnkit.data.series import SeriesConfig
from rnnkit.errors import RnnkitError, finite_positive
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.tasks.forecast.select import CANDIDATES, ORIGINS

# Small series, small models: fp32 on the CPU, many short steps, validation often.
TRAIN_DEFAULTS: dict[str, Any] = dict(batch_size=32, lr=3e-3, weight_decay=0.0, warmup_steps=20, max_steps=600,
                                      eval_every=20, log_every=20, precision="fp32", device="cpu", seed=1337)
SINE_DEFAULTS = dict(horizon=40, input_len=40)
# What ``--model`` may name: auto (rolling-origin selection), the RNN, a classical candidate or a combination.
MODELS = ("auto", "rnn", *CANDIDATES, "combo_mean", "combo_median")


@dataclass(frozen=True)
class SelectConfig:
    """Which forecaster the run serves: ``auto`` scores the RNN and the classical ``candidates`` on ``origins``
    rolling origins inside the training part (``tasks.forecast.auto``); any other name forces that one."""

    model: str = "auto"
    origins: int = ORIGINS
    candidates: tuple[str, ...] = CANDIDATES  # the classical methods scored beside the RNN

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SelectConfig:
        d = dict(d) if isinstance(d, dict) else d  # build_section names anything else
        if isinstance(d, dict) and isinstance(d.get("candidates"), str):  # --set select.candidates=ets,theta
            d["candidates"] = [c.strip() for c in d["candidates"].split(",") if c.strip()]
        section = build_section(cls, d, "select")
        return dataclasses.replace(section, candidates=tuple(section.candidates))

    def validate(self) -> SelectConfig:
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        raise_first([
            (self.model in MODELS, f"--model must be one of {', '.join(MODELS)}, got {self.model!r}"),
            (self.origins >= 1, f"select.origins must be >= 1, got {self.origins}"),
            (not unknown and self.candidates, f"select.candidates must name some of {', '.join(CANDIDATES)}, got "
                                              f"{', '.join(self.candidates) or 'none'}"),
        ])
        return self


@dataclass(frozen=True)
class ForecastRunConfig(RunSections):
    """A forecasting run: ``[data]`` (SeriesConfig), ``[model]`` (ForecasterConfig), ``[train]`` (TrainConfig)."""

    data: SeriesConfig = field(default_factory=SeriesConfig)
    model: ForecasterConfig = field(default_factory=ForecasterConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(**TRAIN_DEFAULTS))
    select: SelectConfig = field(default_factory=SelectConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForecastRunConfig:
        """Build from nested dicts; unknown keys are one-line errors, missing ones take the task's defaults."""
        check_sections(d, ("data", "model", "train", "select"))
        for name, table in d.items():  # a hand-edited config.json may hold anything
            if not isinstance(table, dict):
                raise RnnkitError(f"[{name}] must be a table of settings, got {type(table).__name__}")
        data = dict(d.get("data", {}))
        if data.get("data") == "sine":  # the demo: one period in, one period out
            data = {**SINE_DEFAULTS, **data}
        build_section(SeriesConfig, {k: v for k, v in data.items() if k not in ("target", "covariates")}, "data")
        build_section(ForecasterConfig, {k: v for k, v in d.get("model", {}).items() if k != "quantiles"}, "model")
        return cls(data=SeriesConfig.from_dict(data), model=ForecasterConfig.from_dict(d.get("model", {})),
                   train=build_section(TrainConfig, {**TRAIN_DEFAULTS, **d.get("train", {})}, "train"),
                   select=SelectConfig.from_dict(d.get("select", {})))

    def validate(self) -> ForecastRunConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return the config, with precision
        ``auto`` read as fp32 (small series, small models: bf16 would only lose digits)."""
        self.data.validate()
        self.model.validate()
        self.select.validate()
        t = self.train
        checks = [
            (t.batch_size >= 1, f"--batch-size must be >= 1, got {t.batch_size}"),
            finite_positive(t.lr, "--lr"),
            (t.max_steps or t.epochs or t.time, "give one of --max-steps, --epochs or --time"),
            (t.patience is None or t.patience >= 1, f"--patience must be >= 1, got {t.patience}"),
            (t.precision in ("fp32", "bf16", "auto"), f"--precision must be fp32, bf16 or auto, got {t.precision!r}"),
        ]
        raise_first(checks)
        if t.precision == "auto":
            return dataclasses.replace(self, train=dataclasses.replace(t, precision="fp32"))
        return self


__all__ = ["MODELS", "SINE_DEFAULTS", "TRAIN_DEFAULTS", "ForecastRunConfig", "SelectConfig"]
