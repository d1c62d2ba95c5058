"""Count-based n-gram language models: a Kneser-Ney model counted over a text corpus, scored and sampled.

The task (``TASK``) counts the n-grams of the training split in one go (``fit``; there is nothing to
resume) and writes them to ``model.pt``; ``rnnkit.runs`` claims the run directory, writes vocab.json
and config.json, and opens the run. The text, its split and its vocabulary are exactly a language
model's (``rnnkit.tasks.lm.load_corpus``). ``NgramGenerator`` samples and scores text (``TextGenerator``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.config import RunSections, build_run_config, raise_first
from rnnkit.data.vocab import WordVocab
from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig, check_memory, filter_logits
from rnnkit.models.ngram import KneserNeyLM
from rnnkit.tasks.base import Context, Fitted, Task
from rnnkit.tasks.lm import LEVELS, DataConfig, LanguageModelTask, Vocab, encode_text, load_corpus

MODEL_FILE = "model.pt"


@dataclass(frozen=True)
class NgramConfig:
    """The n-gram model: its order (tokens of context + 1) and optional fixed discounts (D1, D2, D3+)."""

    order: int = 5
    discounts: tuple[float, float, float] | None = None  # None: estimated per order (Chen & Goodman)


@dataclass(frozen=True)
class NgramRunConfig(RunSections):
    """An n-gram run: the data section shared with ``rnnkit train lm``, and the model section."""

    data: DataConfig = field(default_factory=DataConfig)
    model: NgramConfig = field(default_factory=NgramConfig)

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


def score(model: KneserNeyLM, ids: np.ndarray) -> dict[str, float]:
    """Nats and bits per token and perplexity of ``model`` predicting ids[1:] (as ``rnnkit eval`` does for an LM)."""
    if len(ids) < 2:
        raise RnnkitError(f"need at least 2 tokens to evaluate, got {len(ids)}; use a longer text")
    total, count = model.nll(ids)
    nats = total / count
    return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
            "tokens": int(count)}


def sample_ids(model: KneserNeyLM, context: np.ndarray, length: int, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None,
               generator: torch.Generator | None = None) -> Iterator[int]:
    """``length`` ids drawn one at a time after ``context`` from the model's next-token distributions
    (temperature / top-k / top-p as in ``rnnkit.generate``)."""
    history = [int(t) for t in context]
    for _ in range(length):
        logp = torch.from_numpy(np.log(model.distribution(history)))[None]  # (1, V)
        probs = filter_logits(logp, temperature, top_k, top_p).softmax(-1)  # (1, V)
        token = int(torch.multinomial(probs, 1, generator=generator))
        yield token
        history = history[-(model.order - 1):] + [token] if model.order > 1 else []


@dataclass
class NgramGenerator:
    """A counted n-gram model with its vocabulary: samples and scores text (``TextGenerator``)."""

    model: KneserNeyLM
    vocab: Vocab
    config: NgramRunConfig

    def generate(self, prime: str = "", config: SamplingConfig | None = None,
                 stream: Callable[[str], None] | None = None, condition: str | None = None) -> list[str]:
        """``config.num_samples`` texts, each ``prime`` followed by ``config.length`` sampled tokens; sample i
        draws with seed ``config.seed + i``. Greedy takes the most likely token (top-k 1 at temperature 1).
        With one sample, each new token's text goes to ``stream`` as soon as it is drawn."""
        cfg = config or SamplingConfig()
        if condition is not None:
            raise RnnkitError("this is an unconditioned n-gram model; drop --condition")
        if cfg.skip_unknown:
            dropped = set(self.vocab.unknown(prime))
            prime = "".join(c for c in prime if c not in dropped)
        temperature, top_k = (1.0, 1) if cfg.greedy else (cfg.temperature, cfg.top_k)
        prime_ids = self.vocab.encode(prime)
        # each sample keeps its pieces (a small str object per token) and a (V,) distribution per step
        check_memory(cfg.num_samples * ((len(prime_ids) + cfg.length) * 64 + len(self.vocab) * 8),
                     f"--num-samples {cfg.num_samples} x --length {cfg.length}", "ask for fewer or shorter samples")
        streaming = stream is not None and cfg.num_samples == 1
        texts = []
        for i in range(cfg.num_samples):
            generator = torch.Generator()
            if cfg.seed is None:
                generator.seed()
            else:
                generator.manual_seed(cfg.seed + i)
            # a word's spacing depends on the words before it; a character stands alone
            text_of = (self.vocab.stream_decoder(prime_ids) if isinstance(self.vocab, WordVocab)
                       else lambda t: self.vocab.decode([t]))
            pieces = []
            for token in sample_ids(self.model, prime_ids, cfg.length, temperature, top_k, cfg.top_p, generator):
                pieces.append(text_of(token))
                if streaming:
                    stream(pieces[-1])
            texts.append(prime + "".join(pieces))
        return texts

    def score(self, text: str) -> dict[str, float]:
        """Nats/bits per token and perplexity of the model reading ``text`` (tokenized as in training)."""
        return score(self.model, encode_text(self.vocab, text, self.config.data))


class NgramTask(Task):
    """``rnnkit train ngram``: an interpolated modified Kneser-Ney model counted over a text file."""

    name = "ngram"
    config_class = NgramRunConfig
    vocab_class = LanguageModelTask.vocab_class  # the same vocab.json as a language model's
    default_time = None  # counted in one pass: no budget
    trains = False

    def fit(self, config: NgramRunConfig, ctx: Context) -> Fitted:
        """Count the n-grams of the training split into ``ctx.out``/model.pt and score the validation split."""
        start = time.perf_counter()
        path, train_ids, val_ids, vocab = load_corpus(config.data)
        if len(train_ids) < config.model.order:
            raise RnnkitError(f"{path} has {len(train_ids)} training tokens, fewer than --order "
                              f"{config.model.order}; use a longer text or a lower --order")
        model = KneserNeyLM(config.model.order, len(vocab), config.model.discounts).fit(train_ids)
        elapsed = time.perf_counter() - start
        val = score(model, val_ids) if len(val_ids) >= 2 else None
        ctx.out.mkdir(parents=True, exist_ok=True)
        ckpt.save_tensors(ctx.out / MODEL_FILE, {"counts": model.to_tensors()})
        meta = {"data_path": str(path), "ngrams": model.num_ngrams(), "vocab_size": len(vocab),
                "train_tokens": int(len(train_ids)), "val_tokens": int(len(val_ids)), "train_seconds": elapsed,
                "validation": val}
        ctx.log(f"rnnkit: {config.model.order}-gram {config.data.level} model: {model.num_ngrams():,} distinct "
                f"n-grams, {len(vocab):,} token types, {len(train_ids):,} training tokens from {path} "
                f"in {elapsed:.1f}s")
        return Fitted(vocab, meta, {"elapsed": elapsed})

    def load_model(self, run_dir: Path, config: NgramRunConfig, vocab: Vocab, device: torch.device) -> KneserNeyLM:
        """The counts of model.pt (on the CPU: an n-gram model is dicts, not tensors), checked against vocab.json."""
        path = run_dir / MODEL_FILE
        counts = ckpt.load_tensors(path).get("counts")
        order = config.model.order
        stored = sum(1 for name in counts if str(name).startswith("grams_")) if isinstance(counts, dict) else 0
        if isinstance(counts, dict) and stored != order:  # before listing ``order`` names: it may be 10^9
            raise RnnkitError(f"{run_dir / ckpt.CONFIG_FILE} has model.order={order} but {path} holds the counts "
                              f"of an order-{stored} model; restore the run's config.json")
        names = [f"{kind}_{k}" for k in range(1, order + 1) for kind in ("grams", "counts")]
        if not isinstance(counts, dict) or any(not isinstance(counts.get(n), torch.Tensor) for n in names):
            raise RnnkitError(f"{path} does not hold the counts of an order-{order} n-gram model; "
                              "the files come from different runs")
        meta = ckpt.load_json(run_dir / ckpt.CONFIG_FILE).get("meta")
        counted = meta.get("vocab_size") if isinstance(meta, dict) else None
        if isinstance(counted, int) and counted != len(vocab):
            raise RnnkitError(f"{run_dir / self.vocab_file} has {len(vocab)} tokens but {run_dir / ckpt.CONFIG_FILE} "
                              f"has meta.vocab_size={counted}; the files come from different runs")
        top = max((int(counts[f"grams_{k}"].max()) for k in range(1, order + 1) if counts[f"grams_{k}"].numel()),
                  default=-1)
        if top >= len(vocab):
            raise RnnkitError(f"{path} counts token id {top} but {run_dir / self.vocab_file} has {len(vocab)} "
                              "tokens; the files come from different runs")
        return KneserNeyLM.from_tensors(order, len(vocab), counts, config.model.discounts)

    def predictor(self, run: Any) -> NgramGenerator:
        return NgramGenerator(run.model, run.vocab, run.config)

    def evaluate(self, run: Any, data: str | None = None) -> dict[str, float]:
        """Scores on the run's validation split, or on the whole of ``data`` when given."""
        if data is None:
            _, _, ids, _ = load_corpus(run.config.data, run.vocab)
            if len(ids) < 2:
                raise RnnkitError(f"{run.path} was trained without a validation split; pass --data FILE to "
                                  "evaluate on")
        else:
            _, ids, _, _ = load_corpus(dataclasses.replace(run.config.data, data=data, val_fraction=0.0), run.vocab)
        return score(run.model, ids)


TASK = NgramTask()

__all__ = ["MODEL_FILE", "TASK", "NgramConfig", "NgramGenerator", "NgramRunConfig", "NgramTask", "sample_ids",
           "score"]
