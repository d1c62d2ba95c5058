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
from rnnkit.config import DataConfig, RunConfig, TrainConfig, with_default_time
from rnnkit.data import CharVocab, RandomWindowBatcher, StreamBatcher, encode_corpus, resolve_data, split_train_val
from rnnkit.data.text import read_text
from rnnkit.data.words import TokenizerConfig, WordVocab, tokenize
from rnnkit.errors import RnnkitError
from rnnkit.layers import State
from rnnkit.models.language_model import LanguageModel, build_language_model, nll
from rnnkit.training.distributed import DistInfo, init_distributed, shutdown_distributed
from rnnkit.training.plot import plot_loss
from rnnkit.training.precision import autocast, resolve_device, resolve_precision
from rnnkit.training.trainer import Trainer

TASK = "lm"
DEFAULT_TIME_S = 600.0
Vocab = CharVocab | WordVocab


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


def tokenizer_config(data: DataConfig) -> TokenizerConfig:
    """The word tokenizer settings of a run's [data] section."""
    return TokenizerConfig(lower=data.lowercase, punctuation=data.punctuation).validate()


def load_corpus(data: DataConfig, vocab: Vocab | None = None) -> tuple[Path, np.ndarray, np.ndarray, Vocab]:
    """Read ``data.data`` and return (path, train ids, validation ids, vocabulary).

    Characters: the vocabulary is every code point of the file. Words: the file is tokenized,
    the last ``val_fraction`` of the tokens is validation, and the vocabulary is built from the
    training tokens alone (``min_freq``/``max_vocab``; rarer and unseen words become ``<unk>``).
    A given ``vocab`` (resuming, evaluating) is used as it is.
    """
    path = resolve_data(data.data)
    if data.level == "char":
        ids, vocab = encode_corpus(path, vocab=vocab, encoding=data.encoding)
        return (path, *split_train_val(ids, data.val_fraction), vocab)
    tokens = tokenize(read_text(path, data.encoding), tokenizer_config(data))
    if not tokens:
        raise RnnkitError(f"{path} holds no words; pass a text file with words in it")
    n_train = int(len(tokens) * (1 - data.val_fraction))
    if vocab is None:
        vocab = WordVocab.build([tokens[:n_train]], data.min_freq, data.max_vocab, tokenizer_config(data))
    ids = vocab.encode_tokens(tokens)  # (N,)
    return path, ids[:n_train], ids[n_train:], vocab


def load_vocab(run_dir: str | Path) -> Vocab:
    """The vocabulary of a run directory (characters or words)."""
    data = ckpt.load_json(Path(run_dir) / ckpt.VOCAB_FILE)
    return WordVocab.from_dict(data) if data.get("kind") == "word" else CharVocab.from_dict(data)


def token_name(config: RunConfig) -> str:
    """What one token is in messages and the progress bar: "char" or "word"."""
    return config.data.level


def init_embeddings(model: torch.nn.Module, vocab: WordVocab, path: str, log: Callable[[str], None]) -> None:
    """Copy word2vec vectors into ``model.embedding`` for the vocabulary's words found in ``path``."""
    from rnnkit.data.vectors import load_word2vec

    words, vectors = load_word2vec(path)  # vectors (N, D)
    weight = model.embedding.weight  # (V, E)
    if vectors.shape[1] != weight.shape[1]:
        raise RnnkitError(f"{path} holds {vectors.shape[1]}-dimensional vectors but --embedding-size is "
                          f"{weight.shape[1]}; pass --embedding-size {vectors.shape[1]}")
    rows = {w: i for i, w in enumerate(words)}
    found = [(vocab.index[w], rows[w]) for w in vocab.tokens if w in rows]
    if found:
        ids, src = zip(*found)
        with torch.no_grad():
            weight[list(ids)] = torch.as_tensor(vectors[list(src)], dtype=weight.dtype)
    log(f"rnnkit: initialised {len(found):,} of {len(vocab):,} word embeddings from {path}")


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
    config = with_default_time(config, DEFAULT_TIME_S).validate()  # 10 minutes when no budget is given
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
        vocab = load_vocab(out)
    else:
        if (out / ckpt.LAST_FILE).exists():
            raise RnnkitError(f"{out} already holds a run; continue it with 'rnnkit train --resume {out}' "
                              "or choose another --out")
        vocab = None
    path, train_ids, val_ids, vocab = load_corpus(config.data, vocab)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, vocab_size=len(vocab)))
    t, unit = config.train, token_name(config)

    torch.manual_seed(t.seed)  # same initial weights on every rank
    model = build_language_model(config.model)
    if config.data.embeddings and payload is None:
        init_embeddings(model, vocab, config.data.embeddings, log)
    model = model.to(device)
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
                      batch_generator=generator, show_progress=show_progress, token_name=unit)
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
        log(f"rnnkit: {model.num_parameters():,} parameters, {len(vocab):,} symbols, "
            f"{len(train_ids):,} training and {len(val_ids):,} validation {unit}s from {path}; "
            f"{device.type}, {precision}, batch {batcher.batch_size}x{getattr(batcher, 'seq_len', t.seq_len)}")
    summary = trainer.fit()
    if dist_info.is_master:
        plot_loss(out / ckpt.METRICS_FILE, out / ckpt.PLOT_FILE)
    summary.update({"run_dir": str(out), "precision": precision, "device": str(device), "token": unit})
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


def load_lm(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[LanguageModel, Vocab, RunConfig]:
    """Rebuild a trained model (best.pt, else last.pt) on ``device`` with its vocabulary and config."""
    run_dir = Path(run_dir)
    weights = ckpt.find_weights(run_dir)
    config = resume_config(run_dir)
    vocab = load_vocab(run_dir)
    model = build_language_model(config.model)
    model.load_state_dict(ckpt.load_tensors(weights)["model"])
    return model.to(device).eval(), vocab, config


def eval_lm(run_dir: str | Path, data: str | None = None, device: str = "auto",
            batch_size: int | None = None) -> dict[str, float]:
    """Loss of a trained model on its validation split, or on the whole of ``data`` when given."""
    dev = resolve_device(device)
    model, vocab, config = load_lm(run_dir, dev)
    if data is None:
        _, _, ids, _ = load_corpus(config.data, vocab)
        if len(ids) < 2:
            raise RnnkitError(f"{run_dir} was trained without a validation split; pass --data FILE to evaluate on")
    else:
        _, ids, _, _ = load_corpus(dataclasses.replace(config.data, data=data, val_fraction=0.0), vocab)
    nats = evaluate_lm(model, ids, batch_size or config.train.batch_size, config.train.seq_len, dev, "fp32")
    return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
            "tokens": int(len(ids)), "token": token_name(config)}


__all__ = ["TrainConfig", "eval_lm", "evaluate_lm", "load_corpus", "load_lm", "load_vocab", "lm_loss", "resume_config",
           "token_name", "train_lm"]
