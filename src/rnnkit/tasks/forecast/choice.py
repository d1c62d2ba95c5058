"""selection.json: which forecaster a run serves (``--model``), every candidate's validation score, and the
winner's rolling-origin errors for its intervals; and the classical/combined forecast made from that record.

A run's main model is always the RNN; when the choice is a classical method or a combination, the run's
predictor (``ForecastModel``) refits that method on whatever history it is given, so ``rnnkit forecast``,
``rnnkit eval`` and ``rnnkit serve`` forecast with the choice. Quantiles around a classical choice come from
its errors on the validation origins (``conformal.conformal_quantiles``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit import checkpoint as ckpt
from rnnkit.errors import RnnkitError
from rnnkit.tasks.forecast.baselines import baseline_forecast
from rnnkit.tasks.forecast.config import MODELS
from rnnkit.tasks.forecast.conformal import conformal_quantiles
from rnnkit.tasks.forecast.select import combine

CHOICE_FILE = "selection.json"
MAX_ERRORS = 1_000_000  # stored error values (O * H * T) a selection.json may hold
MIN_HISTORY = 8  # points a classical choice refits on (ETS's AICc is undefined on 5)


@dataclass
class ModelChoice:
    """``model``: the --model setting (auto or a forced name); ``choice``: the forecaster the run serves;
    ``members``: the combinations' members (the best ``COMBINE_K`` candidates), best first; ``scores``: mean
    rolling-origin MASE per candidate; ``cuts``: the origins (ends of their histories); ``errors``: the
    choice's errors there, actual - forecast, (O, H, T) in series units."""

    model: str
    choice: str
    members: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    cuts: list[int] = field(default_factory=list)
    errors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    # not saved: forecasts (H, T) the selection already made, by ``history_key`` (the held-out forecast that
    # ends a run refits nothing: statsmodels' ARIMA grid takes seconds a fit)
    fitted: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_rnn(self) -> bool:
        return self.choice == "rnn"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "choice": self.choice, "members": list(self.members),
                "scores": {k: (float(v) if math.isfinite(v) else None) for k, v in self.scores.items()},
                "cuts": [int(c) for c in self.cuts], "errors": np.asarray(self.errors, np.float64).tolist()}

    @classmethod
    def from_dict(cls, d: Any, targets: int, where: str = CHOICE_FILE) -> ModelChoice:
        """Validated: one-line errors naming the field; ``targets`` is T of the run's series."""
        def bad(what: str) -> RnnkitError:
            return RnnkitError(f"{where}: {what}; restore the run's file or retrain")
        if not isinstance(d, dict):
            raise bad("is not a JSON object")
        for key in ("model", "choice"):
            if d.get(key) not in MODELS or (key == "choice" and d[key] == "auto"):
                raise bad(f"{key} must be one of {', '.join(MODELS[key == 'choice':])}, got {d.get(key)!r}")
        members, scores, cuts = d.get("members", []), d.get("scores", {}), d.get("cuts", [])
        if not isinstance(members, list) or any(m not in MODELS[1:] or m.startswith("combo_") for m in members):
            raise bad("members must list forecasters (rnn or classical)")
        if d["choice"].startswith("combo_") and not members:
            raise bad(f"choice {d['choice']} needs its members")
        if not isinstance(scores, dict) or any(k not in MODELS or not (v is None or isinstance(v, (int, float)))
                                               for k, v in scores.items()):
            raise bad("scores must map forecaster names to numbers")
        if not isinstance(cuts, list) or any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in cuts):
            raise bad("cuts must be a list of positive integers")
        raw = d.get("errors", [])
        if not isinstance(raw, list) or len(str(raw)) > 40 * MAX_ERRORS:
            raise bad("errors must be a list of (origin, step, target) errors")
        try:
            errors = np.asarray(raw, np.float64)
        except (TypeError, ValueError):
            raise bad("errors must be a rectangular (origins, steps, targets) array of numbers") from None
        if errors.size == 0:
            errors = np.zeros((0, 0, targets))
        if errors.ndim != 3 or errors.shape[2] != targets or len(errors) != len(cuts) or not np.isfinite(errors).all():
            raise bad(f"errors must be finite, shaped (origins={len(cuts)}, steps, targets={targets})")
        return cls(d["model"], d["choice"], list(members),
                   {k: (math.nan if v is None else float(v)) for k, v in scores.items()}, list(cuts), errors)

    def save(self, run_dir: str | Path) -> None:
        ckpt.save_json(Path(run_dir) / CHOICE_FILE, self.to_dict())

    @classmethod
    def load(cls, run_dir: str | Path, targets: int) -> ModelChoice | None:
        """The run's selection.json, or None for a run made before ``--model`` (it serves its RNN)."""
        path = Path(run_dir) / CHOICE_FILE
        if not path.exists():
            return None
        return cls.from_dict(ckpt.load_json(path), targets, str(path))


def history_key(history: np.ndarray, horizon: int) -> tuple[str, int]:
    """(sha256 of ``history`` (N, T) as float64, horizon): what a remembered forecast was made from."""
    return hashlib.sha256(np.ascontiguousarray(history, np.float64).tobytes()).hexdigest(), int(horizon)


def member_forecast(name: str, history: np.ndarray, horizon: int, season: int,
                    rnn: Callable[[], np.ndarray]) -> np.ndarray:
    """One forecaster's forecast (H, T) after ``history`` (N, T); ``rnn()`` gives the RNN's."""
    return np.asarray(rnn(), np.float64) if name == "rnn" else baseline_forecast(name, history, horizon, season)


def choice_forecast(choice: ModelChoice, history: np.ndarray, horizon: int, season: int,
                    rnn: Callable[[], np.ndarray],
                    levels: tuple[float, ...] = ()) -> tuple[np.ndarray, np.ndarray | None]:
    """The chosen forecaster refitted on ``history`` (N, T): point forecast (H, T) and, with quantile
    ``levels``, conformal quantiles (H, T, Q) from the choice's validation errors (else None)."""
    if len(history) < MIN_HISTORY:
        raise RnnkitError(f"the run forecasts with {choice.choice}, which needs at least {MIN_HISTORY} points of "
                          f"history; the series has {len(history)}: give a longer history")
    point = choice.fitted.get(history_key(history, horizon))
    if point is None and choice.choice.startswith("combo_"):
        point = combine([member_forecast(m, history, horizon, season, rnn) for m in choice.members],
                        choice.choice.removeprefix("combo_"))
    elif point is None:
        point = member_forecast(choice.choice, history, horizon, season, rnn)
    quantiles = conformal_quantiles(choice.errors, point, tuple(levels)) if levels else None
    return point, quantiles


__all__ = ["CHOICE_FILE", "MIN_HISTORY", "ModelChoice", "choice_forecast", "history_key", "member_forecast"]
