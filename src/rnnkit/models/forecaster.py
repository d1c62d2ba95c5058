"""Recurrent forecaster: an encoder RNN with a direct multi-horizon head, or an autoregressive one-step model.

Both read windows of a scaled series (targets and known covariates) and return, for every future step,
every target and every quantile asked for, a prediction. With ``residual`` the network predicts the
change over the seasonal-naive forecast taken from its own input (the value one season earlier), so
an untrained network already forecasts like seasonal naive and training learns the correction; on
short, trending, seasonal series this is what lets a small RNN beat the classical baselines.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from rnnkit.errors import RnnkitError, raise_first
from rnnkit.layers import Recurrent, recurrent_checks

MODES = ("direct", "autoregressive")
POINT_LOSSES = ("mse", "mae")


@dataclass(frozen=True)
class ForecasterConfig:
    """Everything needed to rebuild a ``Forecaster`` (stored in config.json beside the weights)."""

    mode: str = "direct"  # "direct": encoder + multi-horizon head; "autoregressive": one step, fed back
    cell: str = "gru"
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.0
    output_len: int = 0  # steps one forward pass of the direct head predicts; 0: the horizon (filled in)
    quantiles: tuple[float, ...] = ()  # empty: point forecasts trained on point_loss; else pinball loss
    residual: bool = True  # predict the change over the seasonal-naive forecast
    point_loss: str = "mse"
    num_targets: int = 1  # filled in from the data
    num_covariates: int = 0  # filled in from the data
    season: int = 1  # filled in from the data: the residual's seasonal period
    backend: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ForecasterConfig:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if isinstance(d.get("quantiles"), str):
            d["quantiles"] = tuple(float(q) for q in d["quantiles"].split(",") if q.strip())
        elif d.get("quantiles") is not None:
            d["quantiles"] = tuple(float(q) for q in d["quantiles"])
        return cls(**d)

    @property
    def num_outputs(self) -> int:
        """Q: predictions per step and target (the quantiles, or one point)."""
        return max(len(self.quantiles), 1)

    @property
    def point_index(self) -> int:
        """Which of the Q outputs is the point forecast: the quantile nearest the median."""
        if not self.quantiles:
            return 0
        return min(range(len(self.quantiles)), key=lambda i: abs(self.quantiles[i] - 0.5))

    def validate(self) -> ForecasterConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        checks = [
            (self.mode in MODES, f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}"),
            *recurrent_checks(self.hidden_size, self.num_layers, self.dropout),
            (self.output_len >= 0, f"--output-len must be >= 1, got {self.output_len}"),
            (all(0 < q < 1 for q in self.quantiles), f"--quantiles must lie strictly between 0 and 1, "
                                                      f"got {','.join(map(str, self.quantiles))}"),
            (list(self.quantiles) == sorted(set(self.quantiles)), "--quantiles must be increasing and distinct, got "
                                                                   f"{','.join(map(str, self.quantiles))}"),
            (self.point_loss in POINT_LOSSES, f"--point-loss must be one of {', '.join(POINT_LOSSES)}, "
                                              f"got {self.point_loss!r}"),
            (self.season >= 1, f"season must be >= 1, got {self.season}"),
        ]
        raise_first(checks)
        return self


def seasonal_baseline(history: Tensor, steps: int, season: int) -> Tensor:
    """Seasonal-naive forecast of ``steps`` points from ``history`` (B, S, T): the last season repeated."""
    last_season = history[:, -season:]  # (B, m, T)
    repeats = math.ceil(steps / season)
    return last_season.repeat(1, repeats, 1)[:, :steps]  # (B, steps, T)


class Forecaster(nn.Module):
    """Encoder RNN with a direct multi-horizon head, or an autoregressive one-step RNN.

    Parameters
    ----------
    config : ForecasterConfig (T = num_targets, C = num_covariates, Q = num_outputs, O = output_len)

    Shapes
    ------
    direct ``forward(past, future_covariates)``:
        past : (B, L, T + C) scaled past targets then covariates
        future_covariates : (B, O, C) known covariates of the predicted steps
        returns : (B, O, T, Q)
    autoregressive ``forward(past, future_covariates)`` (teacher forcing, for training):
        past : (B, S, T + C) a whole window, targets included
        future_covariates : (B, 1, C) the covariates one step after the window (C may be 0)
        returns : (B, S, T, Q), position t predicting the targets at t + 1
    ``forecast(past, future_covariates, horizon)`` (both modes):
        past : (B, L, T + C); future_covariates : (B, horizon, C); returns (B, horizon, T, Q)
    """

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        config.validate()
        if config.output_len < 1:
            raise RnnkitError("ForecasterConfig.output_len must be filled in (>= 1) before building the model")
        self.config = config
        c = config
        input_size = c.num_targets + c.num_covariates
        self.recurrent = Recurrent(c.cell, input_size, c.hidden_size, num_layers=c.num_layers, dropout=c.dropout,
                                   backend=c.backend)
        steps = c.output_len if c.mode == "direct" else 1
        head_in = c.hidden_size + (steps * c.num_covariates if c.mode == "direct" else 0)
        self.head = nn.Linear(head_in, steps * c.num_targets * c.num_outputs)
        # start as the baseline (seasonal naive with residual, zero otherwise): small, centred outputs
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.head.weight, std=0.01)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, past: Tensor, future_covariates: Tensor) -> Tensor:
        if self.config.mode == "direct":
            return self._direct(past, future_covariates)
        return self._teacher_forced(past, future_covariates)

    # -- direct: encoder + head -----------------------------------------------------------------
    def _direct(self, past: Tensor, future_covariates: Tensor) -> Tensor:
        c = self.config
        batch = past.shape[0]
        outputs, _ = self.recurrent(past)  # (B, L, H)
        features = torch.cat([outputs[:, -1], future_covariates.reshape(batch, -1)], dim=-1)  # (B, H + O*C)
        pred = self.head(features).view(batch, c.output_len, c.num_targets, c.num_outputs)  # (B, O, T, Q)
        if c.residual:
            history = past[..., :c.num_targets]  # (B, L, T)
            pred = pred + seasonal_baseline(history, c.output_len, c.season).unsqueeze(-1)
        return pred

    # -- autoregressive: one step at a time ----------------------------------------------------
    def _step_inputs(self, targets: Tensor, covariates_next: Tensor) -> Tensor:
        """Input at t: targets at t and the covariates at t + 1 (known ahead), (B, S, T + C)."""
        return torch.cat([targets, covariates_next], dim=-1)

    def _ar_outputs(self, outputs: Tensor, targets_so_far: Tensor) -> Tensor:
        """Head over RNN outputs (B, S, H) predicting step t+1 for each t; adds the seasonal baseline."""
        c = self.config
        batch, steps = outputs.shape[0], outputs.shape[1]
        pred = self.head(outputs).view(batch, steps, c.num_targets, c.num_outputs)  # (B, S, T, Q)
        if c.residual:
            # baseline for t+1 is the value at t+1-m; positions t < m-1 have none and predict from zero
            m = c.season
            base = torch.zeros_like(targets_so_far[:, -steps:])  # (B, S, T)
            total = targets_so_far.shape[1]
            start = total - steps  # index in targets_so_far of the first position's input
            for_index = torch.arange(start, total, device=outputs.device) + 1 - m  # (S,)
            valid = for_index >= 0
            base[:, valid] = targets_so_far[:, for_index[valid]]
            pred = pred + base.unsqueeze(-1)
        return pred

    def _teacher_forced(self, past: Tensor, next_covariates: Tensor) -> Tensor:
        c = self.config
        targets = past[..., :c.num_targets]  # (B, S, T)
        covariates = torch.cat([past[:, 1:, c.num_targets:], next_covariates], dim=1)  # (B, S, C): at t + 1
        outputs, _ = self.recurrent(self._step_inputs(targets, covariates))  # (B, S, H)
        return self._ar_outputs(outputs, targets)

    # -- multi-step forecasts --------------------------------------------------------------------
    @torch.no_grad()
    def forecast(self, past: Tensor, future_covariates: Tensor, horizon: int) -> Tensor:
        """Forecast ``horizon`` steps; longer than one head's reach, predictions (the median) are fed back."""
        c = self.config
        batch, length = past.shape[0], past.shape[1]
        targets = past[..., :c.num_targets]  # (B, L, T), grows as predictions are appended
        covariates = torch.cat([past[..., c.num_targets:], future_covariates], dim=1)  # (B, L + horizon, C)
        chunks: list[Tensor] = []
        if c.mode == "direct":
            done = 0
            while done < horizon:
                window = torch.cat([targets[:, -length:], covariates[:, done:done + length]], dim=-1)  # (B, L, T+C)
                future = covariates[:, length + done:length + done + c.output_len]  # (B, <=O, C)
                if future.shape[1] < c.output_len:  # the last chunk may reach past the known covariates
                    pad = future.new_zeros(batch, c.output_len - future.shape[1], c.num_covariates)
                    future = torch.cat([future, pad], dim=1)
                pred = self._direct(window, future)  # (B, O, T, Q)
                chunks.append(pred)
                targets = torch.cat([targets, pred[..., c.point_index]], dim=1)
                done += c.output_len
            return torch.cat(chunks, dim=1)[:, :horizon]
        # autoregressive: read the history once, then one step at a time carrying the state
        outputs, state = self.recurrent(self._step_inputs(targets, covariates[:, 1:length + 1]))  # (B, L, H)
        pred = self._ar_outputs(outputs[:, -1:], targets)  # (B, 1, T, Q)
        chunks.append(pred)
        for k in range(1, horizon):
            targets = torch.cat([targets, pred[:, :, :, c.point_index]], dim=1)  # (B, L + k, T)
            step_cov = covariates[:, length + k:length + k + 1]  # (B, 1, C)
            outputs, state = self.recurrent(self._step_inputs(targets[:, -1:], step_cov), state)  # (B, 1, H)
            pred = self._ar_outputs(outputs, targets)
            chunks.append(pred)
        return torch.cat(chunks, dim=1)  # (B, horizon, T, Q)


def forecast_loss(pred: Tensor, target: Tensor, config: ForecasterConfig, mask: Tensor | None = None) -> Tensor:
    """Pinball loss over the quantiles, or the point loss; ``pred`` (..., T, Q), ``target`` (..., T)."""
    error = target.unsqueeze(-1) - pred  # (..., T, Q)
    if config.quantiles:
        q = torch.tensor(config.quantiles, dtype=pred.dtype, device=pred.device)
        per_point = torch.maximum(q * error, (q - 1) * error)
    elif config.point_loss == "mae":
        per_point = error.abs()
    else:
        per_point = error.square()
    if mask is not None:  # (..., ) positions that count
        per_point = per_point * mask[..., None, None]
        return per_point.sum() / (mask.sum() * per_point.shape[-1] * per_point.shape[-2]).clamp_min(1)
    return per_point.mean()


__all__ = ["MODES", "Forecaster", "ForecasterConfig", "forecast_loss", "seasonal_baseline"]
