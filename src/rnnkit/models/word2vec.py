"""word2vec (Mikolov et al. 2013): skip-gram or CBOW with negative sampling, trained in big batches on the CPU.

The recipe is the original C tool's (and gensim's): words rarer than ``min_count`` are dropped,
frequent words are subsampled (keep probability ``(sqrt(f / t) + 1) * t / f`` with ``f`` the word's
share of the corpus and ``t = subsample``), every centre word draws a window ``b ~ U{1..window}``
and pairs with the words within ``b`` of it in its sentence, each pair is contrasted with
``negative`` noise words drawn from unigram^0.75, and the learning rate decays linearly from
``lr`` to ``min_lr`` over all epochs.

Instead of one SGD step per pair, pairs are shuffled within chunks of the corpus and updated
``batch_size`` at a time with hand-written gradients scattered by ``index_add_`` into the two
embedding tables (no autograd, no dense optimizer state): a (B, K+1, D) gather, a batched dot
product, and two scatters per batch. ``threads`` workers train different chunks at once on the
shared tables (Hogwild), as gensim's worker threads do.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from rnnkit.errors import RnnkitError, finite_positive, raise_first

ARCHITECTURES = ("skipgram", "cbow")
CHUNK_TOKENS = 65_536  # corpus positions whose pairs are generated and shuffled together
NOISE_TABLE_MIN = 1_000_000  # entries of the unigram noise table (at least 100 per word)
# A row hit n > DUPLICATE_CAP times in one batch gets its summed update scaled by DUPLICATE_CAP / n: sequential
# SGD would see each step after the previous one, a batch sums them all at once, which diverges for the most
# frequent words (and for any word in a tiny vocabulary) when n * lr grows large.
DUPLICATE_CAP = 4.0


@dataclass(frozen=True)
class Word2VecConfig:
    """Hyper-parameters of word2vec training (defaults: gensim's, except the batched update)."""

    architecture: str = "skipgram"  # or "cbow" (mean of the context vectors)
    dim: int = 100
    window: int = 5
    negative: int = 5
    min_count: int = 5
    max_vocab: int | None = None
    subsample: float = 1e-3  # 0 disables subsampling of frequent words
    epochs: int = 5
    lr: float = 0.025  # gensim's default for skip-gram; CBOW usually wants 0.05
    min_lr: float = 1e-4
    batch_size: int = 512  # pairs (skip-gram) or windows (CBOW) per update; bigger is faster but staler
    threads: int = 2
    seed: int = 1

    def validate(self) -> Word2VecConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        checks = [
            (self.architecture in ARCHITECTURES,
             f"--architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}"),
            (self.dim >= 1, f"--dim must be >= 1, got {self.dim}"),
            (self.window >= 1, f"--window must be >= 1, got {self.window}"),
            (self.negative >= 1, f"--negative must be >= 1, got {self.negative}"),
            (self.min_count >= 1, f"--min-count must be >= 1, got {self.min_count}"),
            (self.max_vocab is None or self.max_vocab >= 2, f"--max-vocab must be >= 2, got {self.max_vocab}"),
            (self.subsample >= 0, f"--subsample must be >= 0, got {self.subsample}"),
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            finite_positive(self.lr, "--lr"),
            (0 <= self.min_lr <= self.lr, f"--min-lr must be in [0, --lr], got {self.min_lr}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.threads >= 1, f"--threads must be >= 1, got {self.threads}"),
        ]
        raise_first(checks)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Word2VecResult:
    """Trained vectors, most frequent word first, and how the training went."""

    words: list[str]
    counts: np.ndarray  # (V,) corpus frequency of each word
    vectors: np.ndarray  # (V, D) float32 input vectors (the ones word2vec saves)
    seconds: float
    corpus_words: int  # raw words per epoch, out-of-vocabulary ones included
    pairs: int  # training examples (pairs or windows) over all epochs
    epochs: int = 1

    @property
    def words_per_second(self) -> float:
        """Raw corpus words (per epoch times epochs) per second of training, as gensim counts them."""
        return self.corpus_words * self.epochs / self.seconds if self.seconds > 0 else float("inf")


def build_vocab(sentences: Sequence[Sequence[str]], min_count: int, max_vocab: int | None = None
                ) -> tuple[list[str], np.ndarray]:
    """Words seen at least ``min_count`` times (at most ``max_vocab``), most frequent first, with their counts."""
    counts: Counter[str] = Counter()
    for sentence in sentences:
        counts.update(sentence)
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    if max_vocab is not None:
        kept = kept[:max_vocab]
    if len(kept) < 2:
        raise RnnkitError(f"only {len(kept)} words occur at least --min-count {min_count} times; "
                          "lower --min-count or use more text")
    return kept, np.array([counts[w] for w in kept], dtype=np.int64)


def encode_sentences(sentences: Sequence[Sequence[str]], words: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(ids (N,), sentence index (N,), raw word count): the corpus as one stream, unknown words dropped."""
    index = {w: i for i, w in enumerate(words)}
    ids: list[int] = []
    sentence_of: list[int] = []
    raw = 0
    for s, sentence in enumerate(sentences):
        raw += len(sentence)
        known = [index[w] for w in sentence if w in index]
        ids.extend(known)
        sentence_of.extend([s] * len(known))
    return np.asarray(ids, dtype=np.int64), np.asarray(sentence_of, dtype=np.int64), raw


def keep_probabilities(counts: np.ndarray, subsample: float) -> np.ndarray:
    """Per-word probability (V,) of keeping an occurrence: the C tool's ``(sqrt(f/t) + 1) * t/f``, capped at 1."""
    if subsample <= 0:
        return np.ones(len(counts))
    threshold = subsample * counts.sum()
    return np.minimum((np.sqrt(counts / threshold) + 1) * threshold / counts, 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> torch.Tensor:
    """Cumulative unigram^power distribution (V,) float64 for drawing negatives with ``searchsorted``."""
    weights = torch.from_numpy(counts.astype(np.float64)) ** power
    return torch.cumsum(weights / weights.sum(), 0)


def _skipgram_pairs(ids: np.ndarray, sent: np.ndarray, spans: np.ndarray, window: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(centres, contexts): each position i pairs with i +- o for o <= spans[i] inside its sentence."""
    centres, contexts = [], []
    for o in range(1, window + 1):
        if o >= len(ids):
            break
        same = sent[:-o] == sent[o:]
        ahead = same & (spans[:-o] >= o)  # centre i, context i + o
        behind = same & (spans[o:] >= o)  # centre i + o, context i
        centres += [ids[:-o][ahead], ids[o:][behind]]
        contexts += [ids[o:][ahead], ids[:-o][behind]]
    if not centres:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(centres), np.concatenate(contexts)


def _cbow_windows(ids: np.ndarray, sent: np.ndarray, spans: np.ndarray, window: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres (N,), contexts (N, 2*window), mask (N, 2*window)) for windows with at least one context word."""
    n = len(ids)
    contexts = np.zeros((n, 2 * window), dtype=np.int64)
    mask = np.zeros((n, 2 * window), dtype=bool)
    for o in range(1, min(window, n - 1) + 1):
        same = sent[:-o] == sent[o:]
        ahead = same & (spans[:-o] >= o)  # centre i sees i + o
        contexts[:-o, 2 * o - 2][ahead] = ids[o:][ahead]
        mask[:-o, 2 * o - 2] = ahead
        behind = same & (spans[o:] >= o)  # centre i + o sees i
        contexts[o:, 2 * o - 1][behind] = ids[:-o][behind]
        mask[o:, 2 * o - 1] = behind
    keep = mask.any(1)
    return ids[keep], contexts[keep], mask[keep]


class _SGNS:
    """The two embedding tables and the batched negative-sampling updates."""

    def __init__(self, vocab_size: int, config: Word2VecConfig, noise_cdf: torch.Tensor):
        d = config.dim
        generator = torch.Generator().manual_seed(config.seed)
        # gensim's initialisation: input vectors uniform in +-0.5/dim, output vectors zero
        self.w_in = (torch.rand(vocab_size, d, generator=generator) - 0.5) / d  # (V, D)
        self.w_out = torch.zeros(vocab_size, d)  # (V, D)
        self.negative = config.negative
        # the C tool's unigram table: noise words are uniform draws from it (cheaper than a CDF search)
        size = max(NOISE_TABLE_MIN, 100 * vocab_size)
        quantiles = (torch.arange(size, dtype=torch.float64) + 0.5) / size
        self.noise_table = torch.searchsorted(noise_cdf, quantiles).clamp_(max=len(noise_cdf) - 1).to(torch.int32)

    def _targets(self, positives: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Target ids (B, K+1): the positive then K noise words; and g's sign/mask (B, K+1) (noise == positive: 0)."""
        b = len(positives)
        draws = torch.randint(len(self.noise_table), (b, self.negative), generator=generator)
        noise = self.noise_table[draws].long()  # (B, K)
        targets = torch.cat([positives[:, None], noise], 1)  # (B, K+1)
        labels = torch.zeros(b, self.negative + 1)
        labels[:, 0] = 1.0
        valid = torch.ones(b, self.negative + 1)
        valid[:, 1:] = (noise != positives[:, None]).float()  # the C tool skips a noise word equal to the target
        return targets, torch.stack([labels, valid])

    def _output_step(self, hidden: torch.Tensor, positives: torch.Tensor, lr: float,
                     generator: torch.Generator) -> torch.Tensor:
        """Update the output vectors of the targets; return the gradient step (B, D) for ``hidden`` (B, D)."""
        targets, (labels, valid) = self._targets(positives, generator)
        out = self.w_out[targets]  # (B, K+1, D)
        scores = (out * hidden[:, None, :]).sum(-1)  # (B, K+1); faster than a bmm of (B, K+1, D) x (B, D, 1)
        g = (labels - torch.sigmoid(scores)) * valid * lr  # (B, K+1)
        step_hidden = torch.bmm(g[:, None, :], out).squeeze(1)  # (B, D)
        flat = targets.reshape(-1)  # (B*(K+1),)
        g = g.reshape(-1) * _duplicate_scale(flat, len(self.w_out))  # (B*(K+1),)
        self.w_out.index_add_(0, flat, (g.view(-1, self.negative + 1, 1) * hidden[:, None, :]).flatten(0, 1))
        return step_hidden

    def skipgram(self, inputs: torch.Tensor, positives: torch.Tensor, lr: float, generator: torch.Generator) -> None:
        # as gensim: the context word's input vector predicts the centre word
        hidden = self.w_in[inputs]  # (B, D)
        step = self._output_step(hidden, positives, lr, generator)  # (B, D)
        self.w_in.index_add_(0, inputs, step * _duplicate_scale(inputs, len(self.w_in))[:, None])

    def cbow(self, contexts: torch.Tensor, mask: torch.Tensor, centres: torch.Tensor, lr: float,
             generator: torch.Generator) -> None:
        m = mask.float()  # (B, 2W)
        hidden = (self.w_in[contexts] * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)  # (B, D) mean of the window
        step = self._output_step(hidden, centres, lr, generator)  # (B, D)
        # gensim with cbow_mean: every context word receives the full step
        rows = step[:, None, :].expand(-1, contexts.shape[1], -1)[mask]  # (M, D)
        ids = contexts[mask]  # (M,)
        self.w_in.index_add_(0, ids, rows * _duplicate_scale(ids, len(self.w_in))[:, None])


def _duplicate_scale(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Per-occurrence factor (N,): min(1, DUPLICATE_CAP / occurrences of that id in ``ids``)."""
    counts = torch.bincount(ids, minlength=vocab_size).float()  # (V,)
    return (DUPLICATE_CAP / counts.clamp(min=DUPLICATE_CAP))[ids]


def train_word2vec(sentences: Sequence[Sequence[str]], config: Word2VecConfig = Word2VecConfig(),
                   progress: Callable[[float, float], None] | None = None) -> Word2VecResult:
    """Train word vectors on tokenized sentences; ``progress(fraction_done, lr)`` is called after each chunk.

    ``config.threads`` Python threads share the tables lock-free (Hogwild, as gensim's workers do), each
    running single-threaded torch kernels on its own chunks; torch releases the GIL inside every kernel.
    With one thread the result is exactly reproducible for a seed.
    """
    config = config.validate()
    words, counts = build_vocab(sentences, config.min_count, config.max_vocab)
    ids, sent, raw_words = encode_sentences(sentences, words)
    keep = keep_probabilities(counts, config.subsample)
    model = _SGNS(len(words), config, noise_distribution(counts))
    starts = list(range(0, len(ids), CHUNK_TOKENS))
    jobs = [(epoch, i) for epoch in range(config.epochs) for i in range(len(starts))]
    next_job, lock = iter(range(len(jobs))), threading.Lock()
    pairs = [0] * config.threads
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            while True:
                with lock:
                    j = next(next_job, None)
                if j is None or errors:
                    return
                epoch, i = jobs[j]
                rng = np.random.default_rng([config.seed, epoch, i])
                generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
                lo = starts[i]
                chunk_ids, chunk_sent = ids[lo:lo + CHUNK_TOKENS], sent[lo:lo + CHUNK_TOKENS]
                kept = rng.random(len(chunk_ids)) < keep[chunk_ids]
                spans = rng.integers(1, config.window + 1, size=int(kept.sum()))
                pairs[worker] += _train_chunk(model, config, chunk_ids[kept], chunk_sent[kept], spans, rng,
                                              generator, j / len(jobs), (j + 1) / len(jobs))
                if progress is not None and worker == 0:
                    progress((j + 1) / len(jobs), _lr(config, (j + 1) / len(jobs)))
        except BaseException as exc:  # surfaced in the caller's thread
            errors.append(exc)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per worker; OpenMP teams on a shared machine only spin
    start = time.perf_counter()
    try:
        with torch.no_grad():
            workers = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(1, config.threads)]
            for t in workers:
                t.start()
            work(0)
            for t in workers:
                t.join()
    finally:
        torch.set_num_threads(threads)
    if errors:
        raise errors[0]
    seconds = time.perf_counter() - start
    return Word2VecResult(words=words, counts=counts, vectors=model.w_in.numpy().copy(), seconds=seconds,
                          corpus_words=raw_words, pairs=sum(pairs), epochs=config.epochs)


def _lr(config: Word2VecConfig, fraction: float) -> float:
    return max(config.lr - (config.lr - config.min_lr) * fraction, config.min_lr)


def _train_chunk(model: _SGNS, config: Word2VecConfig, ids: np.ndarray, sent: np.ndarray, spans: np.ndarray,
                 rng: np.random.Generator, generator: torch.Generator, begin: float, end: float) -> int:
    """Train on one chunk's pairs (shuffled), the learning rate decaying from ``begin`` to ``end`` progress."""
    if config.architecture == "skipgram":
        centres, contexts = _skipgram_pairs(ids, sent, spans, config.window)
        order = rng.permutation(len(centres))
        centres_t, contexts_t = torch.from_numpy(centres[order]), torch.from_numpy(contexts[order])
    else:
        centres, windows, mask = _cbow_windows(ids, sent, spans, config.window)
        order = rng.permutation(len(centres))
        centres_t = torch.from_numpy(centres[order])
        windows_t, mask_t = torch.from_numpy(windows[order]), torch.from_numpy(mask[order])
    n = len(centres)
    batches = max(1, math.ceil(n / config.batch_size))
    for i, lo in enumerate(range(0, n, config.batch_size)):
        lr = _lr(config, begin + (end - begin) * i / batches)
        hi = lo + config.batch_size
        if config.architecture == "skipgram":
            model.skipgram(contexts_t[lo:hi], centres_t[lo:hi], lr, generator)
        else:
            model.cbow(windows_t[lo:hi], mask_t[lo:hi], centres_t[lo:hi], lr, generator)
    return n


# -- using the vectors -----------------------------------------------------------------------------
def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def most_similar(words: Sequence[str], vectors: np.ndarray, positive: Sequence[str], negative: Sequence[str] = (),
                 topn: int = 10) -> list[tuple[str, float]]:
    """Words nearest (cosine) to mean(unit positive) - mean(unit negative) as gensim's 3CosAdd, query words excluded."""
    index = {w: i for i, w in enumerate(words)}
    missing = [w for w in (*positive, *negative) if w not in index]
    if missing:
        raise RnnkitError(f"{missing[0]!r} is not in the vocabulary ({len(words):,} words); try another word "
                          "or retrain with a lower --min-count")
    unit = unit_rows(vectors)
    query = sum(unit[index[w]] for w in positive) - sum(unit[index[w]] for w in negative)
    query = query / max(np.linalg.norm(query), 1e-12)
    sims = unit @ query  # (V,)
    for w in (*positive, *negative):
        sims[index[w]] = -np.inf
    top = np.argsort(-sims)[:topn]
    return [(words[i], float(sims[i])) for i in top]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (ties get their average rank)."""
    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=r)
        return sums[inverse] / counts[inverse]
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    return float(np.corrcoef(ra, rb)[0, 1])


__all__ = ["ARCHITECTURES", "Word2VecConfig", "Word2VecResult", "build_vocab", "encode_sentences",
           "keep_probabilities", "most_similar", "noise_distribution", "spearman", "train_word2vec", "unit_rows"]
