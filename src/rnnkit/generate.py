"""Sampling text from a recurrent language model: greedy, temperature, top-k, top-p, priming, streaming.

The prime is fed once; after that every new token costs one single-step forward with the carried
recurrent state, so generating N tokens is O(N) work. Re-feeding the whole prefix every step (as
many notebooks do) gives the same numbers at O(N^2) cost; see ``benchmarks/bench_sampling.py``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.config import SAMPLING_PRECISIONS
from rnnkit.data.vocab import MAX_LISTED, Vocabulary
from rnnkit.errors import RnnkitError


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_filters(temperature: float | None, top_k: int | None, top_p: float | None) -> None:
    """Raise a one-line RnnkitError naming the flag if a filter setting is invalid (temperature=None: unchecked)."""
    if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
        raise RnnkitError(f"--temperature must be > 0, got {temperature}; use --greedy for deterministic output")
    if top_k is not None and (not _is_int(top_k) or top_k < 1):
        raise RnnkitError(f"--top-k must be an integer >= 1, got {top_k!r}; omit it to sample from all tokens")
    if top_p is not None and not (0 < top_p <= 1):
        raise RnnkitError(f"--top-p must be in (0, 1], got {top_p!r}; e.g. --top-p 0.9, or omit it")


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample; each field is the CLI flag of the same name (``top_k`` <-> ``--top-k``).

    ``greedy`` takes the most likely token at every step; temperature, top_k, top_p and seed then
    have no effect. A ``top_k`` at least the vocabulary size keeps every token. ``seed=None``
    samples nondeterministically. ``skip_unknown`` drops prime characters the vocabulary lacks.
    ``precision`` picks how an LSTM language model on the CPU steps after the prime: "auto" (the
    one-call kernel of ``rnnkit.models.lm_step``, with bf16 weights where the CPU has bf16 units),
    "bf16" or "fp32" (that kernel with those weights), or "exact" (the model's own forward, one
    PyTorch op at a time; several times slower). Other models always step through their forward.
    """

    length: int = 500
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    num_samples: int = 1
    seed: int | None = None
    skip_unknown: bool = False
    precision: str = "auto"

    def __post_init__(self) -> None:
        if not _is_int(self.length) or self.length < 0:
            raise RnnkitError(f"--length must be an integer >= 0, got {self.length!r}")
        if not _is_int(self.num_samples) or self.num_samples < 1:
            raise RnnkitError(f"--num-samples must be an integer >= 1, got {self.num_samples!r}")
        if self.seed is not None and not _is_int(self.seed):
            raise RnnkitError(f"--seed must be an integer, got {self.seed!r}")
        if self.precision not in SAMPLING_PRECISIONS:
            raise RnnkitError(f"--precision must be one of {', '.join(SAMPLING_PRECISIONS)}, got {self.precision!r}")
        _check_filters(None if self.greedy else self.temperature, self.top_k, self.top_p)


def filter_logits(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> Tensor:
    """Divide (B, V) logits by temperature, then set all but the top-k and all outside the top-p nucleus to -inf.

    The nucleus is the smallest set of most likely tokens whose probability reaches ``top_p``, so
    the most likely token always survives. Returns a new tensor; ``logits`` is not modified.
    """
    _check_filters(temperature, top_k, top_p)
    logits = logits / temperature  # (B, V)
    if top_k is not None and top_k < logits.shape[-1]:
        kept, index = torch.topk(logits, top_k, dim=-1)  # (B, k)
        # Scatter rather than `logits < kth value`, so exactly k survive even when values tie.
        logits = torch.full_like(logits, -math.inf).scatter_(-1, index, kept)
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.float().softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # (B, V) mass of the strictly more likely tokens
        # A token stays while the tokens ahead of it hold less than top_p: the smallest nucleus.
        sorted_logits = sorted_logits.masked_fill(mass_before >= top_p, -math.inf)
        logits = logits.scatter(-1, order, sorted_logits)  # back to vocabulary order
    return logits


def _choose(logits: Tensor, cfg: SamplingConfig, generator: torch.Generator) -> Tensor:
    """Next ids (B,) from last-position logits (B, V)."""
    if cfg.greedy:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits, cfg.temperature, cfg.top_k, cfg.top_p).float().softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


SAMPLING_MEMORY_LIMIT = 4 * 2**30  # bytes a sampling call may plan to allocate (prime logits, state, tokens)


def check_sampling_memory(model: nn.Module, batch: int, prime_len: int, length: int) -> None:
    """A one-line error before allocating when ``batch`` samples of ``prime_len + length`` tokens would need more
    than ``SAMPLING_MEMORY_LIMIT`` bytes (the prime's logits (B, T0, V) dominate; the state and ids follow)."""
    vocab = max((p.shape[0] for p in model.parameters() if p.dim() == 2), default=1)  # the largest matrix's rows
    width = max((max(p.shape) for p in model.parameters()), default=1)
    need = batch * (prime_len * vocab * 4 + width * 4 * 4 + (prime_len + length) * 8)
    check_memory(need, f"--num-samples {batch} x --length {length} (prime {prime_len} tokens)",
                 "ask for fewer or shorter samples")


def check_memory(need: float, what: str, fix: str) -> None:
    """A one-line error when ``what`` (a request: samples, a beam, a horizon) plans to allocate ``need`` bytes,
    more than ``SAMPLING_MEMORY_LIMIT``; every generating command checks its estimate here before allocating."""
    if need > SAMPLING_MEMORY_LIMIT:
        raise RnnkitError(f"{what} would need about {need / 2**30:.1f} GiB, above the "
                          f"{SAMPLING_MEMORY_LIMIT / 2**30:.0f} GiB limit; {fix}")


def generate_tokens(model: nn.Module, prime_ids: Tensor, cfg: SamplingConfig,
                    generator: torch.Generator | None = None) -> Iterator[Tensor]:
    """Yield ``cfg.length`` steps of next-token ids, each (B,), continuing ``prime_ids`` (T0,) or (B, T0).

    The prime is fed in one forward; every later token is one single-step forward with the carried
    state. A 1-D prime (or a single row) is repeated ``cfg.num_samples`` times into one batch;
    B > 1 rows are B streams. Sampling draws from ``generator``, by default a new one seeded with
    ``cfg.seed`` (nondeterministic when None). The model runs in eval mode under
    ``torch.inference_mode`` and gets its previous train/eval mode back when the iterator finishes.
    """
    prime = torch.as_tensor(prime_ids)
    if prime.dim() == 1:
        prime = prime[None]  # (1, T0)
    if prime.dim() != 2:
        raise RnnkitError(f"prime_ids must have shape (T0,) or (B, T0), got {tuple(prime.shape)}")
    if prime.shape[1] == 0:
        raise RnnkitError("the prime must hold at least one token")
    if prime.shape[0] == 1:
        prime = prime.expand(cfg.num_samples, -1)  # (B, T0)
    elif cfg.num_samples not in (1, prime.shape[0]):
        raise RnnkitError(
            f"got {prime.shape[0]} prime rows but --num-samples {cfg.num_samples}; pass one prime or one row per sample"
        )
    check_sampling_memory(model, prime.shape[0], prime.shape[1], cfg.length)
    device = _model_device(model)
    prime = prime.to(device=device, dtype=torch.long).contiguous()
    if generator is None:
        generator = torch.Generator(device=device)
        if cfg.seed is None:
            generator.seed()
        else:
            generator.manual_seed(cfg.seed)
    return _token_stream(model, prime, cfg, generator)


def _token_stream(model: nn.Module, prime: Tensor, cfg: SamplingConfig,
                  generator: torch.Generator) -> Iterator[Tensor]:
    if cfg.length == 0:
        return
    was_training = model.training
    model.eval()
    try:
        # inference_mode is entered per step, never held across a yield, so the caller's code
        # between tokens runs in its own autograd mode.
        with torch.inference_mode():
            logits, state = model(prime)  # (B, T0, V): the whole prime in one forward
            last = logits[:, -1]  # (B, V)
            stepper = _stepper(model, prime.shape[0], cfg.precision)
            if stepper is not None:
                stepper.start(state)
        next_ids = None
        for i in range(cfg.length):
            with torch.inference_mode():
                if i and stepper is not None:
                    last = stepper.step(next_ids)  # (B, V): the whole stack in one call
                elif i:
                    logits, state = model(next_ids[:, None], state)  # (B, 1, V): one step, O(1)
                    last = logits[:, -1]
                next_ids = _choose(last, cfg, generator)  # (B,)
            yield next_ids
    finally:
        model.train(was_training)


def _stepper(model: nn.Module, batch_size: int, precision: str):
    """The one-call LSTM stepper for ``model`` (None: step through the model's forward)."""
    if precision == "exact":
        return None
    from rnnkit.models.lm_step import LSTMStepper

    return LSTMStepper.for_model(model, batch_size, None if precision == "auto" else precision)


def _unknown_message(unknown: list[str]) -> str:
    listed = ", ".join(repr(c) for c in unknown[:MAX_LISTED])
    more = f", ... {len(unknown) - MAX_LISTED} more" if len(unknown) > MAX_LISTED else ""
    return f"prime contains characters not in the vocabulary: {listed}{more}; remove them or pass --skip-unknown"


def sample_text(model: nn.Module, vocab: Vocabulary, prime: str, cfg: SamplingConfig,
                device: str | torch.device = "cpu", stream: Callable[[str], object] | None = None) -> list[str]:
    """Generate ``cfg.num_samples`` texts of ``cfg.length`` new tokens after ``prime``; each text starts with the prime.

    Prime characters missing from the vocabulary raise RnnkitError listing them, or are dropped
    with ``cfg.skip_unknown``. An empty prime starts from "\\n" when the vocabulary has it (text
    usually begins after a line break), otherwise from token 0; that seed token is not part of the
    returned texts. The model must already be on ``device``. With one sample, a callable
    ``stream`` receives each new token's text as soon as it is chosen (ignored for several samples).
    """
    unknown = vocab.unknown(prime)
    if unknown:
        if not cfg.skip_unknown:
            raise RnnkitError(_unknown_message(unknown))
        dropped = set(unknown)
        prime = "".join(c for c in prime if c not in dropped)
    want, have = torch.device(device), _model_device(model)
    if want.type != have.type or (want.index is not None and have.index is not None and want.index != have.index):
        raise RnnkitError(f"the model is on {have} but device is {want}; move it first with model.to({str(want)!r})")

    if prime:
        prime_ids = vocab.encode(prime)  # (T0,)
    elif not vocab.unknown("\n"):
        prime_ids = vocab.encode("\n")  # seed token, left out of the texts
    else:
        prime_ids = np.zeros(1, dtype=np.int64)  # seed token 0, left out of the texts
    streaming = callable(stream) and cfg.num_samples == 1
    if streaming:  # a word vocabulary spaces each token by the ones before it; characters stand alone
        make_decoder = getattr(vocab, "stream_decoder", None)
        piece_of = (make_decoder(prime_ids if prime else prime_ids[:0]) if make_decoder
                    else lambda i: vocab.decode([i]))

    steps: list[Tensor] = []
    for next_ids in generate_tokens(model, torch.from_numpy(prime_ids).to(want), cfg):
        steps.append(next_ids)
        if streaming:
            stream(piece_of(int(next_ids[0])))

    if steps:
        generated = torch.stack(steps, dim=1).cpu().numpy()  # (B, length)
    else:
        generated = np.zeros((cfg.num_samples, 0), dtype=np.int64)
    kept_prime = prime_ids if prime else prime_ids[:0]
    # Decode prime + continuation together: the vocabulary alone knows how tokens join.
    return [vocab.decode(np.concatenate([kept_prime, row])) for row in generated]


__all__ = ["SAMPLING_PRECISIONS", "SamplingConfig", "Vocabulary", "filter_logits", "generate_tokens", "sample_text"]
