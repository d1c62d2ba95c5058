"""A count-based n-gram language model with interpolated modified Kneser-Ney smoothing (Chen & Goodman 1998).

Tokens are integer ids in ``[0, vocab_size)`` (characters or words; the task owns the vocabulary).
For every order ``n`` (1..N) the model keeps, per context ``h`` (the ``n-1`` previous tokens), a dict
of the tokens seen after it with their counts: raw counts at the highest order, continuation counts
``N1+(. h w)`` (the number of distinct tokens seen before ``h w``) below it. Memory is therefore
proportional to the number of distinct n-grams; nothing is dense. The probability is

    P_n(w | h) = max(c(h w) - D_n(c(h w)), 0) / c(h .) + gamma(h) * P_{n-1}(w | h[1:])
    gamma(h)   = (D_n1 N1(h .) + D_n2 N2(h .) + D_n3+ N3+(h .)) / c(h .)

with ``P_0(w) = 1 / vocab_size``; a context never seen at order n passes ``P_{n-1}`` through
unchanged. Each order is a proper distribution as long as ``0 <= D_k <= k``, so every
``distribution(context)`` sums to 1, including for contexts (and tokens) never seen. Sampling from
those distributions (temperature, top-k, top-p) is the n-gram task's (``rnnkit.tasks.ngram.sample_ids``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

from rnnkit.errors import RnnkitError

Discounts = tuple[float, float, float]
FALLBACK_DISCOUNTS: Discounts = (0.5, 1.0, 1.5)  # when a tiny corpus has no n-grams seen once, twice, ...


def estimate_discounts(count_of_counts: Counter[int]) -> Discounts:
    """Chen & Goodman's modified-KN discounts D1, D2, D3+ from the numbers of n-grams seen 1..4 times."""
    n1, n2, n3, n4 = (count_of_counts.get(k, 0) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    raw = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    # keep each D_k in (0, k]: positive so unseen tokens keep some mass, at most k so no count goes negative
    return tuple(min(max(d, 0.05 * k), float(k)) for k, d in zip((1, 2, 3), raw))  # type: ignore[return-value]


class KneserNeyLM:
    """Interpolated modified Kneser-Ney n-gram model over token ids.

    Shapes
    ------
    fit(ids) : ids (N,) int token ids of the training stream
    distribution(context) : context (any length; the last ``order - 1`` ids are used) -> probs (V,) float64
    nll(ids) : ids (N,) -> total negative log-likelihood in nats of ids[1:] (or all ids, given a history)

    ``discounts`` fixes (D1, D2, D3+) for every order; by default they are estimated per order from
    the count-of-counts.
    """

    def __init__(self, order: int, vocab_size: int, discounts: Discounts | None = None) -> None:
        if order < 1:
            raise RnnkitError(f"--order must be >= 1, got {order}")
        if vocab_size < 1:
            raise RnnkitError(f"an n-gram model needs at least one token type, got vocab_size={vocab_size}")
        if discounts is not None and not all(0 <= d <= k for k, d in zip((1, 2, 3), discounts)):
            raise RnnkitError(f"discounts must satisfy 0 <= D_k <= k, got {discounts}")
        self.order, self.vocab_size, self.fixed_discounts = order, vocab_size, discounts
        # followers[n][context] = {token: count}, n = 1..order (index 0 unused)
        self.followers: list[dict[tuple[int, ...], dict[int, int]]] = [{} for _ in range(order + 1)]
        self.stats: list[dict[tuple[int, ...], tuple[int, float]]] = [{} for _ in range(order + 1)]
        self.discounts: list[Discounts] = [FALLBACK_DISCOUNTS] * (order + 1)

    # -- building ---------------------------------------------------------------------------------
    def fit(self, ids: Sequence[int] | np.ndarray) -> KneserNeyLM:
        """Count the n-grams of one token stream and derive the smoothed model."""
        tokens = [int(t) for t in np.asarray(ids).reshape(-1)]
        if tokens and not 0 <= min(tokens) <= max(tokens) < self.vocab_size:
            raise RnnkitError(f"token ids must lie in [0, {self.vocab_size}); got {min(tokens)}..{max(tokens)}")
        n = self.order
        level: Counter[tuple[int, ...]] = Counter(zip(*(tokens[i:] for i in range(n))))
        levels: list[Counter[tuple[int, ...]]] = [Counter()] * (n + 1)
        levels[n] = level
        for k in range(n - 1, 0, -1):  # continuation counts: distinct left extensions of each k-gram
            higher = levels[k + 1]
            cont: Counter[tuple[int, ...]] = Counter(gram[1:] for gram in higher)
            # k-grams at the very start of the stream have no left extension; count them once so they exist
            for gram in zip(*(tokens[i:k] for i in range(k))):
                cont.setdefault(gram, 1)
            levels[k] = cont
        return self._set_counts(levels)

    def _set_counts(self, levels: Sequence[Counter[tuple[int, ...]] | dict]) -> KneserNeyLM:
        for k in range(1, self.order + 1):
            followers: dict[tuple[int, ...], dict[int, int]] = {}
            for gram, count in levels[k].items():
                followers.setdefault(gram[:-1], {})[gram[-1]] = count
            self.followers[k] = followers
            self.discounts[k] = self.fixed_discounts or estimate_discounts(Counter(levels[k].values()))
            d1, d2, d3 = self.discounts[k]
            stats = {}
            for ctx, seen in followers.items():
                total = n1 = n2 = 0
                for c in seen.values():
                    total += c
                    n1 += c == 1
                    n2 += c == 2
                stats[ctx] = (total, (d1 * n1 + d2 * n2 + d3 * (len(seen) - n1 - n2)) / total)
            self.stats[k] = stats
        return self

    # -- probabilities ----------------------------------------------------------------------------
    def _discount(self, k: int, count: int) -> float:
        d1, d2, d3 = self.discounts[k]
        return 0.0 if count == 0 else d1 if count == 1 else d2 if count == 2 else d3

    def prob(self, context: Sequence[int], token: int) -> float:
        """P(token | the last order-1 ids of context)."""
        context = tuple(int(t) for t in context)[max(0, len(context) - self.order + 1):]
        p = 1.0 / self.vocab_size
        for k in range(1, len(context) + 2):
            ctx = context[len(context) - k + 1:]
            stat = self.stats[k].get(ctx)
            if stat is None:  # unseen here means unseen at every longer order too
                break
            total, gamma = stat
            c = self.followers[k][ctx].get(token, 0)
            p = max(c - self._discount(k, c), 0.0) / total + gamma * p
        return p

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """The next-token distribution (V,) float64 after ``context``; sums to 1."""
        context = tuple(int(t) for t in context)[max(0, len(context) - self.order + 1):]
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(1, len(context) + 2):
            ctx = context[len(context) - k + 1:]
            stat = self.stats[k].get(ctx)
            if stat is None:
                break
            total, gamma = stat
            seen = self.followers[k][ctx]
            ids = np.fromiter(seen.keys(), dtype=np.int64, count=len(seen))
            counts = np.fromiter(seen.values(), dtype=np.float64, count=len(seen))
            d = np.where(counts == 1, self.discounts[k][0],
                         np.where(counts == 2, self.discounts[k][1], self.discounts[k][2]))
            p *= gamma
            p[ids] += np.maximum(counts - d, 0.0) / total
        return p

    def nll(self, ids: Sequence[int] | np.ndarray, history: Sequence[int] = ()) -> tuple[float, int]:
        """(total nats, number of predicted tokens) of ``ids``; every id is predicted if a history is given."""
        tokens = [int(t) for t in history] + [int(t) for t in np.asarray(ids).reshape(-1)]
        start = max(len(history), 1)
        total = 0.0
        for i in range(start, len(tokens)):
            total -= math.log(self.prob(tokens[max(0, i - self.order + 1):i], tokens[i]))
        return total, len(tokens) - start

    # -- size and storage -------------------------------------------------------------------------
    def num_ngrams(self) -> int:
        """Distinct n-grams stored over all orders."""
        return sum(len(seen) for level in self.followers[1:] for seen in level.values())

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The counts as tensors (``grams_k`` (M, k) and ``counts_k`` (M,) per order k), for save_tensors."""
        out = {}
        for k in range(1, self.order + 1):
            grams = [(*ctx, w) for ctx, seen in self.followers[k].items() for w in seen]
            counts = [c for seen in self.followers[k].values() for c in seen.values()]
            out[f"grams_{k}"] = torch.tensor(grams, dtype=torch.long).reshape(-1, k)
            out[f"counts_{k}"] = torch.tensor(counts, dtype=torch.long)
        return out

    @classmethod
    def from_tensors(cls, order: int, vocab_size: int, tensors: dict[str, torch.Tensor],
                     discounts: Discounts | None = None) -> KneserNeyLM:
        """Rebuild a model saved with ``to_tensors``."""
        model = cls(order, vocab_size, discounts)
        levels: list[dict] = [{}]
        for k in range(1, order + 1):
            grams = tensors[f"grams_{k}"].tolist()
            levels.append(dict(zip(map(tuple, grams), tensors[f"counts_{k}"].tolist())))
        return model._set_counts(levels)


__all__ = ["FALLBACK_DISCOUNTS", "KneserNeyLM", "estimate_discounts"]
