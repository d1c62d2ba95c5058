"""The training loop: truncated BPTT, clipping, mixed precision, budgets, checkpoints, DDP.

The trainer knows nothing of the task beyond ``loss, state = loss_fn(model, x, y, state)``:
the task decides what a batch is and how the loss is computed; the trainer carries (and
detaches) the recurrent state between windows, and owns the run directory's ``last.pt``,
``best.pt``, ``metrics.jsonl`` and ``loss.png``.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.layers import State, detach_state
from rnnkit.training.distributed import DistInfo, gather_rows
from rnnkit.training.precision import autocast
from rnnkit.training.progress import Progress
from rnnkit.training.schedule import lr_at

LossFn = Callable[[nn.Module, Tensor, Tensor, State | None], tuple[Tensor, State | None]]
LN2 = math.log(2.0)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors in a tuple/list/dict, to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def count_elements(y: Any) -> int:
    """Elements of a target batch (its first tensor when it is a tuple/list/dict), for throughput."""
    while not isinstance(y, Tensor):
        y = next(iter(y.values())) if isinstance(y, dict) else y[0]
    return y.numel()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what `docker stop` and batch schedulers send


class TrainingInterrupted(Exception):
    """Ctrl-C (or SIGTERM) during training; last.pt was saved at ``step``."""

    def __init__(self, step: int, path: Path, signal_name: str = "SIGINT"):
        what = "interrupted" if signal_name == "SIGINT" else f"stopped by {signal_name}"
        super().__init__(f"{what} at step {step}; saved {path}")
        self.step, self.path, self.signal_name = step, path, signal_name


@dataclass
class TrainState:
    """Where the run is; saved in last.pt so that a resumed run continues exactly."""

    step: int = 0
    epoch: int = 0
    window: int = 0  # index of the next window within the epoch
    tokens: int = 0
    elapsed: float = 0.0  # seconds of training, summed across resumes
    best_val: float = math.inf
    evals_since_best: int = 0  # validations without improvement, for early stopping (config.patience)
    history: list[dict[str, Any]] = field(default_factory=list)  # the last few logged rows


class Trainer:
    """Fit ``model`` on ``batcher`` under ``config``, writing into ``run_dir``.

    ``batcher`` is a ``StreamBatcher`` (state carried across windows, reset each epoch: it has
    ``batches(start_window)``), or anything with ``sample() -> (x, y)`` and ``len()`` (batches per
    epoch) whose batches are independent (fresh state each batch). ``x`` and ``y`` are tensors or
    tuples/dicts of tensors; throughput counts the elements of ``y`` (its first tensor).
    ``evaluate(model)`` returns the validation loss (lower is better), or a dict with that loss under
    ``"val_loss"`` and further figures to log, among them optionally ``"select"``: the figure (lower is
    better, e.g. an error rate) that picks best.pt instead of the loss. It is called every
    ``config.eval_every`` steps and at the end. With ``config.patience`` set, training stops after that
    many validations without a new best.
    """

    def __init__(self, model: nn.Module, batcher, loss_fn: LossFn, config: TrainConfig, run_dir: Path,
                 device: torch.device, precision: str, evaluate: Callable[[nn.Module], float] | None = None,
                 dist_info: DistInfo | None = None, batch_generator: torch.Generator | None = None,
                 show_progress: bool = True, token_name: str = "char"):
        self.model, self.batcher, self.loss_fn, self.cfg = model, batcher, loss_fn, config
        self.run_dir, self.device, self.precision, self.evaluate = Path(run_dir), device, precision, evaluate
        self.dist = dist_info or DistInfo()
        self.batch_generator = batch_generator
        self.carry = hasattr(batcher, "batches")  # stateful streams carry hidden state
        self.show_progress = show_progress and self.dist.is_master
        self.token_name = token_name
        self.state = TrainState()
        self.carried: State | None = None
        # RNG states as they were when the step in progress began: a step cut short by an
        # exception is redone on resume, so it must draw the same batch and dropout masks again
        self._rng_at_step_start: tuple | None = None
        self._stop_requested: str | None = None  # the name of the signal that asked to stop
        self.saved_step: int | None = None  # the step last.pt holds (None: none written or loaded yet)
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.dim() < 2 or "embedding" in name else decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.lr, betas=(0.9, 0.99), fused=device.type in ("cuda", "cpu"),  # one kernel per step
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        # --ema: validation and best.pt use an exponential moving average of the weights (Polyak averaging)
        self.averaged = AveragedModel(model, multi_avg_fn=ema_update(config.ema)) if config.ema else None
        self.ddp = DistributedDataParallel(model) if self.dist.enabled else None
        if self.dist.enabled and config.batch_size % self.dist.world_size:
            raise RnnkitError(f"--batch-size {config.batch_size} must be divisible by the number of processes "
                              f"({self.dist.world_size}) so each gets an equal share")

    # -- budget ----------------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return len(self.batcher)

    def progress(self) -> float:
        """Fraction of the budget used: the largest of steps, epochs and time fractions."""
        c, s = self.cfg, self.state
        fractions = []
        if c.max_steps:
            fractions.append(s.step / c.max_steps)
        if c.epochs:
            fractions.append(s.step / (c.epochs * self.steps_per_epoch))
        if c.time:
            fractions.append(s.elapsed / c.time)
        return max(fractions) if fractions else 1.0

    # -- checkpoints -----------------------------------------------------------------------------
    def _gathered_carry(self) -> State | None:
        if self.carried is None or not self.carry:
            return None
        parts = self.carried if isinstance(self.carried, tuple) else (self.carried,)
        parts = tuple(gather_rows(p, self.dist, dim=1).cpu() for p in parts)  # (L, B, H) each
        return parts if isinstance(self.carried, tuple) else parts[0]

    def save_last(self) -> Path:
        """Write last.pt atomically (master only)."""
        carry = self._gathered_carry()  # a collective: every rank must call it
        path = self.run_dir / ckpt.LAST_FILE
        if not self.dist.is_master:
            return path
        s = self.state
        rng = self._rng_at_step_start or self._rng_now()
        payload = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": {"step": s.step, "epoch": s.epoch, "window": s.window, "tokens": s.tokens,
                      "elapsed": s.elapsed, "best_val": s.best_val, "evals_since_best": s.evals_since_best},
            "rng_cpu": rng[0],
            "rng_cuda": rng[1],
            "rng_batches": rng[2],
            "carry": carry,
        }
        if self.averaged is not None:
            payload["ema"] = self.averaged.state_dict()
        ckpt.save_tensors(path, payload)
        self.saved_step = s.step
        return path

    def _rng_now(self) -> tuple:
        return (torch.get_rng_state(),
                torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                self.batch_generator.get_state() if self.batch_generator is not None else None)

    def _request_stop(self, signum, frame) -> None:
        """First Ctrl-C or SIGTERM: finish the current step, save, stop. A second one aborts at once."""
        if self._stop_requested:
            raise KeyboardInterrupt
        self._stop_requested = signal.Signals(signum).name

    def load_last(self, payload: dict[str, Any]) -> None:
        """Restore everything ``save_last`` wrote (payload from ``checkpoint.load_tensors``)."""
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scaler.load_state_dict(payload["scaler"])
        if self.averaged is not None:
            if "ema" not in payload:
                raise RnnkitError("this run was saved without --ema, so it cannot resume with it; resume without "
                                  "--ema or start a new run")
            self.averaged.load_state_dict(payload["ema"])
        st = payload["state"]
        self.state = TrainState(step=st["step"], epoch=st["epoch"], window=st["window"], tokens=st["tokens"],
                                elapsed=st["elapsed"], best_val=st["best_val"],
                                evals_since_best=st.get("evals_since_best", 0))
        self.saved_step = self.state.step
        torch.set_rng_state(payload["rng_cpu"])
        if payload["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(payload["rng_cuda"])
        if payload["rng_batches"] is not None and self.batch_generator is not None:
            self.batch_generator.set_state(payload["rng_batches"])
        carry = payload["carry"]
        if carry is not None:
            parts = carry if isinstance(carry, tuple) else (carry,)
            share = parts[0].shape[1] // self.dist.world_size
            rows = slice(self.dist.rank * share, (self.dist.rank + 1) * share)
            parts = tuple(p[:, rows].to(self.device) for p in parts)
            self.carried = parts if isinstance(carry, tuple) else parts[0]
        self.truncate_metrics()

    def truncate_metrics(self) -> None:
        """Drop metric rows logged after the checkpoint we resume from (they will be redone), and a row torn
        by a kill mid-write; the file is rewritten only when a row goes."""
        path = self.run_dir / ckpt.METRICS_FILE
        if not self.dist.is_master or not path.exists():
            return
        lines = path.read_text(encoding="utf-8").splitlines()
        steps = [_row_step(line) for line in lines]
        rows = [line for line, step in zip(lines, steps) if step is not None and step <= self.state.step]
        if len(rows) != len(lines):
            ckpt.atomic_write_text(path, "".join(r + "\n" for r in rows))

    def finished(self) -> bool:
        """Whether the budget (or patience) is already spent: a resume has nothing left to do."""
        return self._done()

    @property
    def kept_model(self) -> nn.Module:
        """The weights validated and saved as best.pt: the moving average with --ema, else the trained ones."""
        return self.averaged.module if self.averaged is not None else self.model

    def _save_best(self, val_loss: float) -> None:
        if self.dist.is_master:
            ckpt.save_tensors(self.run_dir / ckpt.BEST_FILE,
                              {"model": self.kept_model.state_dict(), "step": self.state.step, "val_loss": val_loss})

    def _log(self, row: dict[str, Any]) -> None:
        if not self.dist.is_master:
            return
        with open(self.run_dir / ckpt.METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    # -- the loop --------------------------------------------------------------------------------
    def _epoch_batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        if self.carry:
            return self.batcher.batches(start_window=self.state.window)
        return (self.batcher.sample() for _ in range(self.state.window, len(self.batcher)))

    def _done(self) -> bool:
        c, s = self.cfg, self.state
        return ((c.max_steps is not None and s.step >= c.max_steps)
                or (c.epochs is not None and s.step >= c.epochs * self.steps_per_epoch)
                or (c.time is not None and s.elapsed >= c.time)
                or (c.patience is not None and s.evals_since_best >= c.patience))

    def _validate(self) -> float | None:
        if self.evaluate is None:
            return None
        result = self.evaluate(self.kept_model)
        self.model.train()
        figures = dict(result) if isinstance(result, dict) else {"val_loss": result}
        val = float(figures.pop("val_loss"))
        selected = float(figures.get("select", val))  # what best.pt and early stopping go by
        row = {"step": self.state.step, "val_loss": val, "val_bpt": val / LN2, **figures,
               "elapsed": self.state.elapsed}
        self._log(row)
        self.state.history.append(row)
        if selected < self.state.best_val:
            self.state.best_val, self.state.evals_since_best = selected, 0
            self._save_best(selected)
        else:
            self.state.evals_since_best += 1
        return val

    def _non_finite(self, value: float, lr: float) -> RnnkitError:
        """The one line for a loss that became inf/nan, saying truly what last.pt holds."""
        last = self.run_dir / ckpt.LAST_FILE
        if self.saved_step is None:
            kept = "no checkpoint was written"
        elif self.saved_step == 0:
            kept = f"{last} holds only the untrained weights (step 0)"
        else:
            kept = f"{last} keeps step {self.saved_step}"
        return RnnkitError(f"loss became {value} at step {self.state.step + 1} (learning rate {lr:.3g}); stopped, "
                           f"{kept}; train again with a lower --lr or --grad-clip (--force replaces this run)")

    def fit(self) -> dict[str, Any]:
        """Train until the budget is spent; returns a summary. Ctrl-C or SIGTERM saves and raises
        TrainingInterrupted."""
        cfg, s = self.cfg, self.state
        model = self.ddp or self.model
        model.train()
        share = cfg.batch_size // self.dist.world_size
        rows = slice(self.dist.rank * share, (self.dist.rank + 1) * share)
        progress = Progress(self.show_progress, self.token_name, start=self.progress())
        batches = self._epoch_batches()
        last_save = clock = time.monotonic()
        # the logging window: a resumed run's first row averages only the steps summed since the resume
        window_steps, window_tokens, window_loss, window_start = 0, 0, 0.0, clock
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self._request_stop) for sig in STOP_SIGNALS} if in_main_thread else {}
        try:
            if s.step == 0:  # so that a run stopped before its first periodic save still resumes
                self.save_last()
            while not self._done():
                if self._stop_requested:
                    raise KeyboardInterrupt
                self._rng_at_step_start = self._rng_now()
                try:
                    x, y = next(batches)
                except StopIteration:  # epoch boundary: reset the carried state
                    s.epoch, s.window, self.carried = s.epoch + 1, 0, None
                    batches = self._epoch_batches()
                    continue
                if self.dist.enabled and isinstance(x, Tensor) and x.shape[0] == cfg.batch_size:
                    x, y = x[rows], y[rows]
                x, y = to_device(x, self.device), to_device(y, self.device)
                lr = lr_at(s.step, self.progress(), cfg.lr, cfg.warmup_steps, cfg.min_lr_ratio)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                with autocast(self.precision, self.device):
                    loss, carried = self.loss_fn(model, x, y, self.carried if self.carry else None)
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    raise self._non_finite(loss_value, lr)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                if self.averaged is not None:
                    self.averaged.update_parameters(self.model)
                self.carried = detach_state(carried) if self.carry else None
                self._rng_at_step_start = None  # the step is complete

                tokens = count_elements(y) * self.dist.world_size
                s.step, s.window, s.tokens = s.step + 1, s.window + 1, s.tokens + tokens
                now = time.monotonic()  # wall time, validation included: --time 10m means 10 minutes
                s.elapsed, clock = s.elapsed + now - clock, now
                window_steps, window_tokens = window_steps + 1, window_tokens + tokens
                window_loss += loss_value
                if s.step % cfg.log_every == 0 or self._done():
                    rate = window_tokens / max(now - window_start, 1e-9)
                    row = {"step": s.step, "epoch": s.epoch, "lr": lr, "loss": window_loss / window_steps,
                           "tokens": s.tokens, "tokens_per_s": rate, "elapsed": s.elapsed}
                    row["bpt"] = row["loss"] / LN2
                    self._log(row)
                    s.history = (s.history + [row])[-50:]
                    progress.update(self.progress(), row, s.best_val)
                    window_steps, window_tokens, window_loss, window_start = 0, 0, 0.0, now
                if s.step % cfg.eval_every == 0:
                    self._validate()
                    progress.update(self.progress(), None, s.best_val)
                if time.monotonic() - last_save >= cfg.save_every:
                    self.save_last()
                    last_save = time.monotonic()
        except KeyboardInterrupt:
            progress.close()
            raise TrainingInterrupted(s.step, self.save_last(), self._stop_requested or "SIGINT") from None
        finally:
            progress.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.evaluate is not None and (s.step % cfg.eval_every or s.best_val == math.inf):
            self._validate()
        self.save_last()
        if self.evaluate is None:
            self._save_best(math.nan)  # nothing to select on: the final weights are the best we have
        final_loss = next((r["loss"] for r in reversed(s.history) if "loss" in r), None)
        last_validation = next((r for r in reversed(s.history) if "val_loss" in r), {})
        return {"step": s.step, "epoch": s.epoch, "tokens": s.tokens, "elapsed": s.elapsed,
                "best_val": s.best_val, "final_loss": final_loss, "last_validation": last_validation}


def ema_update(decay: float):
    """``AveragedModel``'s multi_avg_fn for an exponential moving average with ``decay`` per step, warmed up
    as TensorFlow's ExponentialMovingAverage is (decay min(decay, (1 + n) / (10 + n)) after n updates), so the
    average forgets the random initial weights within the first few hundred steps."""
    def update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        n = int(num_averaged)
        weight = 1.0 - min(decay, (1 + n) / (10 + n))
        torch._foreach_lerp_(averaged, current, weight)

    return update


def _row_step(line: str) -> int | None:
    """The step of a metrics.jsonl row; None for a blank or torn line (a kill mid-write)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    return row.get("step", 0) if isinstance(row, dict) else None
