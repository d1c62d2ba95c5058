"""Decoding an encoder-decoder: greedy search and beam search with length normalisation.

Beside ``generate`` (sampling from a language model), these pick the most likely output of a model that
has ``encode(source, lengths) -> (memory, state)`` and ``step(tokens, state, memory) -> (logits, state,
weights)``, where ``memory.select(rows)`` reorders the encoded sources (``rnnkit.models.seq2seq.Seq2Seq``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.data.vocab import BOS_ID as BOS
from rnnkit.data.vocab import EOS_ID as EOS
from rnnkit.data.vocab import PAD_ID as PAD
from rnnkit.errors import RnnkitError
from rnnkit.layers import map_state


@dataclass
class Decoded:
    """Decoded sequences: token ids without ``</s>`` and their length-normalised log-probabilities."""

    tokens: list[list[int]]
    scores: list[float]


def decoding_log_probs(logits: Tensor) -> Tensor:
    """Log-probabilities (B, V) of the next token; ``<pad>`` and ``<s>`` are never produced."""
    logp = logits.float().log_softmax(-1)
    logp[:, PAD] = -math.inf
    logp[:, BOS] = -math.inf
    return logp


@torch.inference_mode()
def greedy_decode(model: nn.Module, source: Tensor, source_lengths: Tensor, max_len: int,
                  length_penalty: float = 1.0) -> Decoded:
    """Most likely token at every step for a batch (B, S), at most ``max_len`` tokens with ``</s>``.

    Scores are summed log-probabilities / ``len ** length_penalty`` (len counts ``</s>``).
    """
    was_training = model.training
    model.eval()
    memory, state = model.encode(source, source_lengths)
    batch = source.shape[0]
    tokens = torch.full((batch,), BOS, dtype=torch.long, device=source.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
    lengths = torch.zeros(batch, dtype=torch.long, device=source.device)
    total = torch.zeros(batch, dtype=torch.float64, device=source.device)
    chosen = []
    for _ in range(max_len):  # at most max_len tokens, </s> included
        logits, state, _ = model.step(tokens, state, memory)
        logp = decoding_log_probs(logits)  # (B, V)
        tokens = logp.argmax(-1)  # (B,)
        total += torch.where(finished, 0.0, logp.gather(1, tokens[:, None]).squeeze(1).double())
        lengths += (~finished).long()
        chosen.append(tokens)
        finished |= tokens == EOS
        if bool(finished.all()):
            break
    model.train(was_training)
    rows = torch.stack(chosen, dim=1).tolist()  # (B, steps)
    out = [row[: row.index(EOS)] if EOS in row else row for row in rows]
    scores = (total / lengths.double() ** length_penalty).tolist()
    return Decoded(out, scores)


@torch.inference_mode()
def beam_search(model: nn.Module, source: Tensor, source_lengths: Tensor, beam: int, max_len: int,
                length_penalty: float = 1.0) -> Decoded:
    """Best sequence per source row of (B, S) under beam search with length normalisation.

    A hypothesis' score is its summed log-probability divided by ``len ** length_penalty``
    (len counts ``</s>``). Within a search the beam keeps the ``k`` best extensions of equal
    length; one ending in ``</s>`` is finished and the beam narrows by one (so width 1 is
    exactly greedy decoding). Plain beam search may return a worse-scoring sequence with a
    wider beam; here searches of every width ``1..beam`` run together as one batch and the best
    finished hypothesis of all of them is returned, so widening the beam never lowers the score.
    """
    if beam < 1:
        raise RnnkitError(f"--beam must be >= 1, got {beam}")
    was_training = model.training
    model.eval()
    results = [_beam_one(model, source[i: i + 1, : int(source_lengths[i])], source_lengths[i: i + 1],
                              beam, max_len, length_penalty) for i in range(source.shape[0])]
    model.train(was_training)
    return Decoded([r[0] for r in results], [r[1] for r in results])


def _beam_one(model: nn.Module, source: Tensor, source_lengths: Tensor, beam: int, max_len: int,
              length_penalty: float) -> tuple[list[int], float]:
    memory, state = model.encode(source, source_lengths)  # batch of 1
    # one group per width 1..beam; each group's alive hypotheses: (tokens, summed log-prob, row)
    groups: list[list[tuple[list[int], float]]] = [[([], 0.0)] for _ in range(beam)]
    widths = list(range(1, beam + 1))
    rows = torch.zeros(beam, dtype=torch.long, device=source.device)  # every group starts from row 0
    state = map_state(state, lambda s: s[:, rows])  # (L, beam, H)
    memory = memory.select(rows)
    tokens = torch.full((beam,), BOS, dtype=torch.long, device=source.device)
    best: tuple[float, list[int]] = (-math.inf, [])
    for step in range(max_len):  # at most max_len tokens, </s> included
        logits, state, _ = model.step(tokens, state, memory)
        logp = decoding_log_probs(logits).double().cpu()  # (N, V), N = alive hypotheses of all groups
        next_rows, next_tokens, next_groups = [], [], []
        row = 0
        for g, alive in enumerate(groups):
            n = len(alive)
            if n == 0:
                next_groups.append([])
                continue
            totals = torch.tensor([h[1] for h in alive], dtype=torch.float64)[:, None] + logp[row: row + n]
            k = min(widths[g], totals.numel())
            top_scores, top_index = totals.flatten().topk(k)  # the k best extensions, ties to lower index
            kept = []
            for score, index in zip(top_scores.tolist(), top_index.tolist()):
                parent, token = divmod(index, totals.shape[1])
                sequence = alive[parent][0] + [token]
                if token == EOS or step == max_len - 1:
                    normalised = score / len(sequence) ** length_penalty
                    body = sequence[:-1] if token == EOS else sequence
                    if normalised > best[0]:
                        best = (normalised, body)
                    widths[g] -= 1  # a finished hypothesis narrows its beam
                else:
                    kept.append((sequence, score))
                    next_rows.append(row + parent)
                    next_tokens.append(token)
            next_groups.append(kept)
            row += n
        groups = next_groups
        if not next_rows:
            break
        index = torch.tensor(next_rows, device=source.device)
        state = map_state(state, lambda s, index=index: s[:, index].contiguous())
        memory = memory.select(index)
        tokens = torch.tensor(next_tokens, dtype=torch.long, device=source.device)
    return best[1], best[0]


__all__ = ["Decoded", "beam_search", "decoding_log_probs", "greedy_decode"]
