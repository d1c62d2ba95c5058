"""Language modelling: a recurrent (or MLP n-gram) language model over a text corpus, at character or word level.

The task (``TASK``) reads the corpus, builds the model and its stateful truncated-BPTT batches and
validation; ``rnnkit.runs`` trains, resumes and opens its runs. ``TextLM`` generates and scores text.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.config import RunSections, TrainConfig, build_run_config, raise_first
from rnnkit.data import CharVocab, RandomWindowBatcher, StreamBatcher, encode_corpus, resolve_data
from rnnkit.data.reader import read_text
from rnnkit.data.splits import split_train_val
from rnnkit.data.vocab import WordVocab
from rnnkit.data.words import TokenizerConfig, tokenize
from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig, sample_text
from rnnkit.layers import State, recurrent_checks
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig, nll
from rnnkit.models.mlp_ngram import MLPNgramLM
from rnnkit.tasks.base import Context, Prepared, Task, Training
from rnnkit.training.precision import autocast

# The language model's own [train] defaults over TrainConfig's: lr 5e-3 beat 3e-3 in 10 CPU-minutes on tiny
# Shakespeare and the Seinfeld scripts (BENCHMARKS.md, "The 10-minute defaults, retuned").
TRAIN_DEFAULTS: dict[str, Any] = dict(lr=5e-3)
MODEL_KINDS = ("rnn", "mlp-ngram")
BATCHING = ("stream", "random")
LEVELS = ("char", "word")
Vocab = CharVocab | WordVocab


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is split and batched."""

    data: str = "tinyshakespeare"
    level: str = "char"
    encoding: str = "utf-8"
    val_fraction: float = 0.1
    batching: str = "stream"
    # word level (--level word): the vocabulary comes from the training split
    min_freq: int = 1  # rarer words become <unk>
    max_vocab: int | None = None
    lowercase: bool = False
    punctuation: str = "split"  # split: punctuation marks are tokens; drop; keep: split on whitespace only
    embeddings: str | None = None  # word2vec file to initialise the embedding from (word level)
    keep_crlf: bool = False  # keep Windows line endings (CRLF) as they are instead of reading them as LF



@dataclass(frozen=True)
class RunConfig(RunSections):
    """A language-model run: data, model and training settings."""

    data: DataConfig = field(default_factory=DataConfig)
    model: LanguageModelConfig = field(default_factory=LanguageModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(**TRAIN_DEFAULTS))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return build_run_config(cls, d, train={**TRAIN_DEFAULTS, **d.get("train", {})})

    def validate(self) -> RunConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        self.train.validate()
        d = self.data
        checks = [
            (d.batching in BATCHING, f"--batching must be one of {', '.join(BATCHING)}, got {d.batching!r}"),
            (d.level in LEVELS, f"--level must be char or word, got {d.level!r}"),
            (d.min_freq >= 1, f"--min-freq must be >= 1, got {d.min_freq}"),
            (d.embeddings is None or d.level == "word", "--embeddings needs --level word (vectors are per word)"),
            (self.model.model in MODEL_KINDS,
             f"unknown --model {self.model.model!r}; choose one of {', '.join(MODEL_KINDS)}"),
            (self.model.context >= 1, f"--context must be >= 1, got {self.model.context}"),
            (0 <= d.val_fraction < 1, f"--val-fraction must be in [0, 1), got {d.val_fraction}"),
            *recurrent_checks(self.model.hidden_size, self.model.num_layers, self.model.dropout,
                              cell=self.model.cell, weight_drop=self.model.weight_drop),
            (0 <= self.model.token_dropout < 1, f"--token-dropout must be in [0, 1), got {self.model.token_dropout}"),
            (self.model.model == "rnn" or not (self.model.weight_drop or self.model.token_dropout
                                               or self.model.locked_dropout),
             "--weight-drop, --locked-dropout and --token-dropout regularise --model rnn; drop them for "
             f"--model {self.model.model}"),
            (self.model.embedding_size >= 1, f"--embedding-size must be >= 1, got {self.model.embedding_size}"),
        ]
        raise_first(checks)
        return self


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
        ids, vocab = encode_corpus(path, vocab=vocab, encoding=data.encoding, keep_crlf=data.keep_crlf)
        return (path, *split_train_val(ids, data.val_fraction), vocab)
    tokens = tokenize(read_text(path, data.encoding, keep_crlf=data.keep_crlf), tokenizer_config(data))
    if not tokens:
        raise RnnkitError(f"{path} holds no words; pass a text file with words in it")
    n_train = int(len(tokens) * (1 - data.val_fraction))
    if vocab is None:
        vocab = WordVocab.build([tokens[:n_train]], data.min_freq, data.max_vocab, tokenizer_config(data))
    ids = vocab.encode_tokens(tokens)  # (N,)
    return path, ids[:n_train], ids[n_train:], vocab


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


def build_language_model(config: LanguageModelConfig) -> torch.nn.Module:
    """The language model ``config.model`` names: ``LanguageModel`` or ``MLPNgramLM`` (same forward signature)."""
    if config.model == "rnn":
        return LanguageModel(config)
    if config.model == "mlp-ngram":
        return MLPNgramLM(config)
    raise RnnkitError(f"unknown --model {config.model!r}; choose one of {', '.join(MODEL_KINDS)}")


def evaluate_ids(run: Any, ids: np.ndarray, batch_size: int | None = None) -> dict[str, Any]:
    """Nats and bits per token and perplexity of a trained run's model on token ``ids``."""
    config = run.config
    nats = evaluate_lm(run.model, ids, batch_size or config.train.batch_size, config.train.seq_len, run.device, "fp32")
    return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
            "tokens": int(len(ids)), "token": token_name(config)}


def encode_text(vocab: Vocab, text: str, data: DataConfig) -> np.ndarray:
    """Ids of ``text`` read as a run's training text was: words through its tokenizer (rare ones ``<unk>``),
    or characters, each of which must be in the vocabulary."""
    if isinstance(vocab, WordVocab):
        return vocab.encode_tokens(tokenize(text, tokenizer_config(data)))
    unknown = vocab.unknown(text)
    if unknown:
        raise RnnkitError(f"the text has characters the model never saw: {unknown[:5]}; remove them")
    return vocab.encode(text)


@dataclass
class TextLM:
    """A trained language model with its vocabulary: generates and scores text (``TextGenerator``)."""

    model: torch.nn.Module
    vocab: Vocab
    config: RunConfig
    device: torch.device

    def generate(self, prime: str = "", config: SamplingConfig | None = None,
                 stream: Callable[[str], None] | None = None, condition: str | None = None) -> list[str]:
        """``config.num_samples`` texts continuing ``prime``; with one sample, pieces go to ``stream`` as made."""
        if condition is not None:
            raise RnnkitError("this is an unconditioned language model; drop --condition")
        return sample_text(self.model, self.vocab, prime, config or SamplingConfig(), device=self.device,
                           stream=stream)

    def score(self, text: str) -> dict[str, Any]:
        """Nats/bits per token and perplexity of the model reading ``text`` (tokenized as in training)."""
        ids = encode_text(self.vocab, text, self.config.data)
        if len(ids) < 2:
            raise RnnkitError("need at least 2 tokens to score; give a longer text")
        return evaluate_ids(self, ids, batch_size=1)


class _TextVocab:
    """Reads a language model's vocab.json: characters or words."""

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Vocab:
        return WordVocab.from_dict(data) if data.get("kind") == "word" else CharVocab.from_dict(data)


class LanguageModelTask(Task):
    """``rnnkit train lm``: a character- or word-level language model over a text file."""

    name = "lm"
    config_class = RunConfig
    vocab_class = _TextVocab

    def token_name(self, config: RunConfig) -> str:
        return token_name(config)

    def prepare(self, config: RunConfig, vocab: Vocab | None, ctx: Context, **options: Any) -> Prepared:
        path, train_ids, val_ids, vocab = load_corpus(config.data, vocab)
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, vocab_size=len(vocab)))
        meta = {"data_path": str(path), "train_tokens": int(len(train_ids)), "val_tokens": int(len(val_ids))}
        return Prepared(config, vocab, meta, data=(path, train_ids, val_ids))

    def build_model(self, config: RunConfig) -> torch.nn.Module:
        return build_language_model(config.model)

    def init_model(self, model: torch.nn.Module, prepared: Prepared, ctx: Context) -> None:
        if prepared.config.data.embeddings:
            init_embeddings(model, prepared.vocab, prepared.config.data.embeddings, ctx.log)

    def training(self, prepared: Prepared, ctx: Context) -> Training:
        config, vocab = prepared.config, prepared.vocab
        path, train_ids, val_ids = prepared.data
        t, unit = config.train, token_name(config)
        generator = torch.Generator().manual_seed(t.seed + ctx.dist.rank)
        batcher = _build_batcher(config, train_ids, generator, ctx.log)
        evaluate = None
        if len(val_ids) >= 2:
            def evaluate(m):
                return evaluate_lm(m, val_ids[: t.eval_tokens], t.batch_size, t.seq_len, ctx.device, ctx.precision)
        else:
            ctx.log("rnnkit: no validation split (--val-fraction 0 or a tiny corpus); "
                    "best.pt will be the final weights")
        describe = (f", {len(vocab):,} symbols, {len(train_ids):,} training and {len(val_ids):,} validation "
                    f"{unit}s from {path}; {ctx.device.type}, {ctx.precision}, "
                    f"batch {batcher.batch_size}x{getattr(batcher, 'seq_len', t.seq_len)}")
        return Training(batcher, lm_loss, evaluate, describe, batch_generator=generator)

    def model_sizes(self, vocab: Vocab) -> dict[str, int]:
        return {"vocab_size": len(vocab)}

    def predictor(self, run: Any) -> TextLM:
        return TextLM(run.model, run.vocab, run.config, run.device)

    def evaluate(self, run: Any, data: str | None = None) -> dict[str, Any]:
        """Loss on the run's validation split, or on the whole of ``data`` when given."""
        config = run.config
        if data is None:
            _, _, ids, _ = load_corpus(config.data, run.vocab)
            if len(ids) < 2:
                raise RnnkitError(f"{run.path} was trained without a validation split; pass --data FILE to "
                                  "evaluate on")
        else:
            _, ids, _, _ = load_corpus(dataclasses.replace(config.data, data=data, val_fraction=0.0), run.vocab)
        return evaluate_ids(run, ids)


TASK = LanguageModelTask()

__all__ = ["MODEL_KINDS", "TASK", "TRAIN_DEFAULTS", "DataConfig", "LanguageModelTask", "RunConfig", "TextLM",
           "build_language_model", "encode_text", "evaluate_ids", "evaluate_lm", "init_embeddings", "lm_loss",
           "load_corpus", "token_name", "tokenizer_config"]
