"""Language modelling: train, resume, evaluate and load a recurrent LM over a text corpus."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit import __version__
from rnnkit import checkpoint as ckpt
from rnnkit.config import RunConfig, TrainConfig
from rnnkit.data import CharVocab, RandomWindowBatcher, StreamBatcher, encode_corpus, resolve_data, split_train_val
from rnnkit.errors import RnnkitError
from rnnkit.layers import State
from rnnkit.models.language_model import LanguageModel, nll
from rnnkit.training.distributed import DistInfo, init_distributed, shutdown_distributed
from rnnkit.training.plot import plot_loss
from rnnkit.training.precision import autocast, resolve_device, resolve_precision
from rnnkit.training.trainer import Trainer

TASK = "lm"
DEFAULT_TIME_S = 600.0


def lm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, state: State | None):
    """Mean next-token cross-entropy (nats) over a (B, T) window, and the carried state."""
    logits, state = model(x, state)  # (B, T, V)
    return nll(logits, y), state


@torch.inference_mode()
def evaluate_lm(model: LanguageModel, ids: np.ndarray, batch_size: int, seq_len: int,
                device: torch.device, precision: str = "fp32") -> float:
    """Mean nats per token of ``model`` on ``ids``, reading it as stateful streams (every target counted once)."""
    was_training = model.training
    model.eval()
    batcher = StreamBatcher(ids, batch_size, seq_len)
    total, count, state = 0.0, 0, None
    for x, y in batcher:
        x, y = x.to(device), y.to(device)
        with autocast(precision, device):
            loss, state = lm_loss(model, x, y, state)
        total += loss.item() * y.numel()
        count += y.numel()
    model.train(was_training)
    return total / count


def with_default_budget(config: RunConfig) -> RunConfig:
    """Ten minutes of training when no --max-steps, --epochs or --time was given."""
    t = config.train
    if t.max_steps is None and t.epochs is None and t.time is None:
        return dataclasses.replace(config, train=dataclasses.replace(t, time=DEFAULT_TIME_S))
    return config


def _load_corpus(config: RunConfig, vocab: CharVocab | None) -> tuple[Path, np.ndarray, CharVocab]:
    path = resolve_data(config.data.data)
    ids, vocab = encode_corpus(path, vocab=vocab, encoding=config.data.encoding)
    return path, ids, vocab


def _build_batcher(config: RunConfig, train_ids: np.ndarray, generator: torch.Generator, log: Callable):
    t = config.train
    if config.data.batching == "random":
        batcher = RandomWindowBatcher(train_ids, t.batch_size, t.seq_len, generator=generator)
    else:
        batcher = StreamBatcher(train_ids, t.batch_size, t.seq_len)
    if batcher.warning:
        log(f"rnnkit: {batcher.warning}")
    return batcher


def train_lm(config: RunConfig, out: str | Path, resume: bool = False, show_progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or with ``resume=True`` continue) a language model into run directory ``out``.

    Returns a summary: steps, tokens, elapsed seconds, best validation nats/token, paths.
    """
    out = Path(out)
    config = with_default_budget(config).validate()
    device = resolve_device(config.train.device)
    dist_info = init_distributed(device.type)
    finished = False
    try:
        summary = _train(config, out, resume, show_progress, log, device, dist_info)
        finished = True
        return summary
    finally:
        shutdown_distributed(dist_info, wait=finished)


def _train(config: RunConfig, out: Path, resume: bool, show_progress: bool, log: Callable,
           device: torch.device, dist_info: DistInfo) -> dict[str, Any]:
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    if not dist_info.is_master:
        log = lambda *_: None  # noqa: E731 - only rank 0 speaks
    precision = resolve_precision(config.train.precision, device)
    payload = None
    if resume:
        payload = ckpt.load_tensors(out / ckpt.LAST_FILE)
        vocab = CharVocab.from_dict(ckpt.load_json(out / ckpt.VOCAB_FILE))
    else:
        if (out / ckpt.LAST_FILE).exists():
            raise RnnkitError(f"{out} already holds a run; continue it with 'rnnkit train --resume {out}' "
                              "or choose another --out")
        vocab = None
    path, ids, vocab = _load_corpus(config, vocab)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, vocab_size=len(vocab)))
    train_ids, val_ids = split_train_val(ids, config.data.val_fraction)
    t = config.train

    torch.manual_seed(t.seed)  # same initial weights on every rank
    model = LanguageModel(config.model).to(device)
    torch.manual_seed(t.seed + dist_info.rank)  # different dropout masks per rank
    generator = torch.Generator().manual_seed(t.seed + dist_info.rank)
    batcher = _build_batcher(config, train_ids, generator, log)

    evaluate = None
    if len(val_ids) >= 2:
        def evaluate(m):
            return evaluate_lm(m, val_ids[: t.eval_tokens], t.batch_size, t.seq_len, device, precision)
    else:
        log("rnnkit: no validation split (--val-fraction 0 or a tiny corpus); best.pt will be the final weights")

    trainer = Trainer(model, batcher, lm_loss, t, out, device, precision, evaluate=evaluate, dist_info=dist_info,
                      batch_generator=generator, show_progress=show_progress, token_name="char")
    if payload is not None:
        trainer.load_last(payload)
        log(f"rnnkit: resuming {out} at step {trainer.state.step} (epoch {trainer.state.epoch})")
    elif dist_info.is_master:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.save_json(out / ckpt.VOCAB_FILE, vocab.to_dict())
    if dist_info.is_master:
        meta = {"rnnkit_version": __version__, "data_path": str(path), "device": str(device),
                "precision": precision, "world_size": dist_info.world_size,
                "parameters": model.num_parameters(), "train_tokens": int(len(train_ids)),
                "val_tokens": int(len(val_ids))}
        ckpt.save_json(out / ckpt.CONFIG_FILE, {"task": TASK, **config.to_dict(), "meta": meta})
        log(f"rnnkit: {model.num_parameters():,} parameters, {len(vocab)} symbols, "
            f"{len(train_ids):,} training and {len(val_ids):,} validation chars from {path}; "
            f"{device.type}, {precision}, batch {batcher.batch_size}x{getattr(batcher, 'seq_len', t.seq_len)}")
    summary = trainer.fit()
    if dist_info.is_master:
        plot_loss(out / ckpt.METRICS_FILE, out / ckpt.PLOT_FILE)
    summary.update({"run_dir": str(out), "precision": precision, "device": str(device)})
    return summary


def resume_config(run_dir: str | Path, train_overrides: dict[str, Any] | None = None) -> RunConfig:
    """The stored RunConfig of a run, with optional new budget/bookkeeping settings applied."""
    stored = ckpt.load_json(Path(run_dir) / ckpt.CONFIG_FILE)
    stored.pop("meta", None)
    stored.pop("task", None)
    config = RunConfig.from_dict(stored)
    if train_overrides:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_overrides))
    return config


def load_lm(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[LanguageModel, CharVocab, RunConfig]:
    """Rebuild a trained model (best.pt, else last.pt) on ``device`` with its vocabulary and config."""
    run_dir = Path(run_dir)
    weights = ckpt.find_weights(run_dir)
    config = resume_config(run_dir)
    vocab = CharVocab.from_dict(ckpt.load_json(run_dir / ckpt.VOCAB_FILE))
    model = LanguageModel(config.model)
    model.load_state_dict(ckpt.load_tensors(weights)["model"])
    return model.to(device).eval(), vocab, config


def eval_lm(run_dir: str | Path, data: str | None = None, device: str = "auto",
            batch_size: int | None = None) -> dict[str, float]:
    """Loss of a trained model on its validation split, or on the whole of ``data`` when given."""
    dev = resolve_device(device)
    model, vocab, config = load_lm(run_dir, dev)
    if data is None:
        _, ids, _ = _load_corpus(config, vocab)
        _, ids = split_train_val(ids, config.data.val_fraction)
        if len(ids) < 2:
            raise RnnkitError(f"{run_dir} was trained without a validation split; pass --data FILE to evaluate on")
    else:
        ids, _ = encode_corpus(resolve_data(data), vocab=vocab, encoding=config.data.encoding)
    nats = evaluate_lm(model, ids, batch_size or config.train.batch_size, config.train.seq_len, dev, "fp32")
    return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
            "tokens": int(len(ids))}


__all__ = ["TrainConfig", "eval_lm", "evaluate_lm", "load_lm", "lm_loss", "resume_config", "train_lm"]
