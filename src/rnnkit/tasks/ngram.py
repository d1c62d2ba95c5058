"""Count-based n-gram language models: train (count), evaluate and sample a Kneser-Ney model over a text corpus."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit import __version__
from rnnkit import checkpoint as ckpt
from rnnkit.config import LEVELS, DataConfig, build_run_config, raise_first
from rnnkit.data import CharVocab, encode_corpus, read_text, resolve_data, split_train_val
from rnnkit.data.words import TokenizerConfig, WordVocab, tokenize
from rnnkit.errors import RnnkitError
from rnnkit.models.ngram import KneserNeyLM

TASK = "ngram"
MODEL_FILE = "model.pt"
Vocab = CharVocab | WordVocab


@dataclass(frozen=True)
class NgramConfig:
    """The n-gram model: its order (tokens of context + 1) and optional fixed discounts (D1, D2, D3+)."""

    order: int = 5
    discounts: tuple[float, float, float] | None = None  # None: estimated per order (Chen & Goodman)


@dataclass(frozen=True)
class NgramRunConfig:
    """An n-gram run: the data section shared with ``rnnkit train lm``, and the model section."""

    data: DataConfig = field(default_factory=DataConfig)
    model: NgramConfig = field(default_factory=NgramConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NgramRunConfig:
        model = dict(d.get("model", {}))
        if model.get("discounts") is not None:
            model["discounts"] = tuple(model["discounts"])
        return build_run_config(cls, d, model=model)

    def validate(self) -> NgramRunConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        d, m = self.data, self.model
        checks = [
            (m.order >= 1, f"--order must be >= 1, got {m.order}"),
            (d.level in LEVELS, f"--level must be char or word, got {d.level!r}"),
            (0 <= d.val_fraction < 1, f"--val-fraction must be in [0, 1), got {d.val_fraction}"),
            (d.min_freq >= 1, f"--min-freq must be >= 1, got {d.min_freq}"),
            (m.discounts is None or len(m.discounts) == 3, "model.discounts must be three numbers [D1, D2, D3]"),
        ]
        raise_first(checks)
        return self


def _tokenizer(data: DataConfig) -> TokenizerConfig:
    return TokenizerConfig(lower=data.lowercase, punctuation=data.punctuation).validate()


def load_corpus(data: DataConfig, vocab: Vocab | None = None) -> tuple[Path, np.ndarray, np.ndarray, Vocab]:
    """(path, train ids, validation ids, vocabulary) of the run's text at its level.

    Characters: the same encoding and split as ``rnnkit train lm`` (vocabulary from the whole file).
    Words: the vocabulary comes from the training split (``min_freq``, ``max_vocab``); rarer words are ``<unk>``.
    """
    path = resolve_data(data.data)
    if data.level == "char":
        ids, vocab = encode_corpus(path, vocab=vocab, encoding=data.encoding)
        train, val = split_train_val(ids, data.val_fraction)
        return path, np.asarray(train, dtype=np.int64), np.asarray(val, dtype=np.int64), vocab
    tokens = tokenize(read_text(path, data.encoding), _tokenizer(data))
    train_tokens, val_tokens = split_train_val(tokens, data.val_fraction)  # type: ignore[arg-type]
    if vocab is None:
        vocab = WordVocab.build([train_tokens], min_freq=data.min_freq, max_vocab=data.max_vocab,
                                tokenizer=_tokenizer(data))
    return path, vocab.encode_tokens(train_tokens), vocab.encode_tokens(val_tokens), vocab


def _load_vocab(data: dict[str, Any]) -> Vocab:
    return WordVocab.from_dict(data) if data.get("kind") == "word" else CharVocab.from_dict(data)


def score(model: KneserNeyLM, ids: np.ndarray) -> dict[str, float]:
    """Nats and bits per token and perplexity of ``model`` predicting ids[1:] (as ``rnnkit eval`` does for an LM)."""
    if len(ids) < 2:
        raise RnnkitError(f"need at least 2 tokens to evaluate, got {len(ids)}; use a longer text")
    total, count = model.nll(ids)
    nats = total / count
    return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
            "tokens": int(count)}


def train_ngram(config: NgramRunConfig, out: str | Path, log=print) -> dict[str, Any]:
    """Count the n-grams of the training split into run directory ``out``; returns a summary with validation scores."""
    out = Path(out)
    config = config.validate()
    if (out / MODEL_FILE).exists():
        raise RnnkitError(f"{out} already holds an n-gram model; choose another --out")
    start = time.perf_counter()
    path, train_ids, val_ids, vocab = load_corpus(config.data)
    if len(train_ids) < config.model.order:
        raise RnnkitError(f"{path} has {len(train_ids)} training tokens, fewer than --order {config.model.order}; "
                          "use a longer text or a lower --order")
    model = KneserNeyLM(config.model.order, len(vocab), config.model.discounts).fit(train_ids)
    elapsed = time.perf_counter() - start
    val = score(model, val_ids) if len(val_ids) >= 2 else None
    out.mkdir(parents=True, exist_ok=True)
    ckpt.save_json(out / ckpt.VOCAB_FILE, vocab.to_dict())
    ckpt.save_tensors(out / MODEL_FILE, {"counts": model.to_tensors()})
    meta = {"rnnkit_version": __version__, "data_path": str(path), "ngrams": model.num_ngrams(),
            "vocab_size": len(vocab), "train_tokens": int(len(train_ids)), "val_tokens": int(len(val_ids)),
            "train_seconds": elapsed, "validation": val}
    ckpt.save_json(out / ckpt.CONFIG_FILE, {"task": TASK, **config.to_dict(), "meta": meta})
    log(f"rnnkit: {config.model.order}-gram {config.data.level} model: {model.num_ngrams():,} distinct n-grams, "
        f"{len(vocab):,} token types, {len(train_ids):,} training tokens from {path} in {elapsed:.1f}s")
    return {"run_dir": str(out), "model": model, "elapsed": elapsed, **meta}


def load_ngram(run_dir: str | Path) -> tuple[KneserNeyLM, Vocab, NgramRunConfig]:
    """The model, vocabulary and config of an n-gram run directory."""
    run_dir = Path(run_dir)
    stored = ckpt.load_json(run_dir / ckpt.CONFIG_FILE)
    stored.pop("meta", None)
    stored.pop("task", None)
    config = NgramRunConfig.from_dict(stored)
    vocab = _load_vocab(ckpt.load_json(run_dir / ckpt.VOCAB_FILE))
    counts = ckpt.load_tensors(run_dir / MODEL_FILE)["counts"]
    return KneserNeyLM.from_tensors(config.model.order, len(vocab), counts, config.model.discounts), vocab, config


def eval_ngram(run_dir: str | Path, data: str | None = None) -> dict[str, float]:
    """Scores of an n-gram run on its validation split, or on the whole of ``data`` when given."""
    model, vocab, config = load_ngram(run_dir)
    if data is None:
        _, _, ids, _ = load_corpus(config.data, vocab)
        if len(ids) < 2:
            raise RnnkitError(f"{run_dir} was trained without a validation split; pass --data FILE to evaluate on")
    else:
        other = dataclasses.replace(config.data, data=data, val_fraction=0.0)
        _, ids, _, _ = load_corpus(other, vocab)
    return score(model, ids)


def sample_ngram(model: KneserNeyLM, vocab: Vocab, prime: str, length: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, seed: int | None = None) -> str:
    """``prime`` followed by ``length`` sampled tokens, as text."""
    prime_ids = vocab.encode(prime)
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    ids = model.sample(prime_ids, length, temperature, top_k, top_p, generator=generator)
    if isinstance(vocab, WordVocab):
        push = vocab.stream_decoder(prime_ids)
        return prime + "".join(push(i) for i in ids)
    return prime + vocab.decode(ids)


__all__ = ["TASK", "NgramConfig", "NgramRunConfig", "eval_ngram", "load_corpus", "load_ngram", "sample_ngram",
           "score", "train_ngram"]
