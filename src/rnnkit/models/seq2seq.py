"""Encoder-decoder (sequence-to-sequence) with optional attention; greedy and beam-search decoding.

The encoder is a ``rnnkit.layers.Recurrent`` over the source (optionally bidirectional, padding
handled through ``lengths``); its final state, projected, starts the decoder. The decoder reads
``<s> y1 y2 ...`` and predicts ``y1 y2 ... </s>``, attending over the encoder outputs:

    none      the plain encoder-decoder (Sutskever et al. 2014): the final state is all it gets
    bahdanau  additive attention on the previous decoder state, the context fed into the cell
              (Bahdanau et al. 2015; the PyTorch translation tutorial's AttnDecoderRNN)
    luong     multiplicative ("general") attention on the current decoder output, combined after
              the cell (Luong et al. 2015); with full teacher forcing every step runs at once

All three share one step function, used by the step-by-step training path (teacher forcing ratio
below 1), by greedy decoding and by beam search, so the three cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.vocab import BOS_ID as BOS
from rnnkit.data.vocab import EOS_ID as EOS
from rnnkit.data.vocab import PAD_ID as PAD
from rnnkit.errors import RnnkitError, raise_first
from rnnkit.layers import Recurrent, State

ATTENTIONS = ("bahdanau", "luong", "none")


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything needed to rebuild a ``Seq2Seq`` (stored in every run's config.json)."""

    source_vocab_size: int = 0
    target_vocab_size: int = 0
    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 1
    embedding_size: int = 64
    dropout: float = 0.0
    bidirectional: bool = True
    attention: str = "bahdanau"
    teacher_forcing: float = 1.0  # probability of feeding the true previous token while training
    backend: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> Seq2SeqConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        checks = [
            (self.attention in ATTENTIONS,
             f"--attention must be one of {', '.join(ATTENTIONS)}, got {self.attention!r}"),
            (0 <= self.teacher_forcing <= 1, f"--teacher-forcing must be in [0, 1], got {self.teacher_forcing}"),
            (self.hidden_size >= 1, f"--hidden-size must be >= 1, got {self.hidden_size}"),
            (self.num_layers >= 1, f"--num-layers must be >= 1, got {self.num_layers}"),
            (self.embedding_size >= 1, f"--embedding-size must be >= 1, got {self.embedding_size}"),
            (0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}"),
        ]
        raise_first(checks)
        return self


@dataclass
class Memory:
    """What the decoder attends over: encoder outputs (B, S, D*H), their key projection and the padding mask."""

    outputs: Tensor  # (B, S, D*H)
    keys: Tensor | None  # (B, S, H) for Bahdanau, (B, S, H) W_a-projected for Luong, None without attention
    mask: Tensor  # (B, S) True at real source tokens

    def select(self, rows: Tensor) -> Memory:
        """The memory of the given batch rows (for beam search)."""
        return Memory(self.outputs[rows], None if self.keys is None else self.keys[rows], self.mask[rows])


@dataclass
class Decoded:
    """Decoded sequences: token ids without ``</s>`` and their length-normalised log-probabilities."""

    tokens: list[list[int]]
    scores: list[float]


def _state_map(state: State, fn) -> State:
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


class Seq2Seq(nn.Module):
    """Recurrent encoder-decoder with Bahdanau, Luong or no attention.

    Shapes
    ------
    source : (B, S) int64 source ids, padded with ``<pad>``
    source_lengths : (B,) int64, each >= 1
    target_in : (B, T) int64, ``<s> y1 .. y_{T-1}`` (teacher-forced decoder input)
    returns : logits (B, T, V_target) and attention weights (B, T, S) (zeros with ``attention="none"``)

    ``teacher_forcing`` < 1 (while training) feeds the model's own previous prediction instead of
    the true token with probability ``1 - teacher_forcing`` at every step.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        config.check()
        if config.source_vocab_size < 5 or config.target_vocab_size < 5:
            raise RnnkitError("seq2seq needs at least one real token on each side besides the 4 special tokens")
        self.config = c = config
        directions = 2 if c.bidirectional else 1
        memory_size = directions * c.hidden_size
        self.source_embedding = nn.Embedding(c.source_vocab_size, c.embedding_size, padding_idx=PAD)
        self.target_embedding = nn.Embedding(c.target_vocab_size, c.embedding_size, padding_idx=PAD)
        self.encoder = Recurrent(c.cell, c.embedding_size, c.hidden_size, c.num_layers, c.dropout,
                                 bidirectional=c.bidirectional, backend=c.backend)
        self.bridge = nn.Linear(memory_size, c.hidden_size)  # final encoder state -> initial decoder state
        decoder_input = c.embedding_size + (memory_size if c.attention == "bahdanau" else 0)
        self.decoder = Recurrent(c.cell, decoder_input, c.hidden_size, c.num_layers, c.dropout, backend=c.backend)
        if c.attention == "bahdanau":
            self.query = nn.Linear(c.hidden_size, c.hidden_size, bias=False)
            self.key = nn.Linear(memory_size, c.hidden_size)
            self.energy = nn.Linear(c.hidden_size, 1, bias=False)
        elif c.attention == "luong":
            self.key = nn.Linear(memory_size, c.hidden_size, bias=False)  # W_a of the "general" score
        combined = c.hidden_size + (memory_size if c.attention != "none" else 0)
        self.combine = nn.Linear(combined, c.hidden_size)
        self.out = nn.Linear(c.hidden_size, c.target_vocab_size)
        self.drop = nn.Dropout(c.dropout)

    # -- encoder --------------------------------------------------------------------------------
    def encode(self, source: Tensor, source_lengths: Tensor) -> tuple[Memory, State]:
        """Encoder outputs as a Memory, and the decoder's initial state (L, B, H)."""
        c = self.config
        x = self.drop(self.source_embedding(source))  # (B, S, E)
        outputs, final = self.encoder(x, lengths=source_lengths)  # (B, S, D*H), (L*D, B, H)
        batch = source.shape[0]

        def bridge(s: Tensor) -> Tensor:
            s = s.reshape(c.num_layers, 2 if c.bidirectional else 1, batch, c.hidden_size)  # (L, D, B, H)
            s = s.permute(0, 2, 1, 3).reshape(c.num_layers, batch, -1)  # (L, B, D*H): both directions
            return torch.tanh(self.bridge(s)).contiguous()  # (L, B, H)

        state = _state_map(final, bridge)
        mask = torch.arange(source.shape[1], device=source.device)[None, :] < source_lengths.to(source.device)[:, None]
        keys = self.key(outputs) if c.attention != "none" else None  # (B, S, H)
        return Memory(outputs, keys, mask), state

    # -- one decoder step -----------------------------------------------------------------------
    def _attend(self, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """Context (B, T, D*H) and weights (B, T, S) for queries (B, T, H)."""
        if self.config.attention == "bahdanau":
            energy = torch.tanh(self.query(query)[:, :, None, :] + memory.keys[:, None, :, :])  # (B, T, S, H)
            scores = self.energy(energy).squeeze(-1)  # (B, T, S)
        else:
            scores = query @ memory.keys.transpose(1, 2)  # (B, T, S)
        scores = scores.float().masked_fill(~memory.mask[:, None, :], -math.inf)
        weights = scores.softmax(dim=-1)  # (B, T, S)
        context = weights.to(memory.outputs.dtype) @ memory.outputs  # (B, T, D*H)
        return context, weights

    def _top_hidden(self, state: State) -> Tensor:
        h = state[0] if isinstance(state, tuple) else state  # (L, B, H)
        return h[-1]  # (B, H)

    def step(self, tokens: Tensor, state: State, memory: Memory) -> tuple[Tensor, State, Tensor]:
        """One decoder step: previous tokens (B,) -> logits (B, V), new state, attention weights (B, S)."""
        embedded = self.drop(self.target_embedding(tokens[:, None]))  # (B, 1, E)
        logits, state, weights = self._decode(embedded, state, memory)
        return logits[:, 0], state, weights[:, 0]

    def _decode(self, embedded: Tensor, state: State, memory: Memory) -> tuple[Tensor, State, Tensor]:
        """Decoder over embedded inputs (B, T, E); T > 1 only where every step can run at once (not Bahdanau)."""
        attention = self.config.attention
        batch, steps = embedded.shape[0], embedded.shape[1]
        if attention == "bahdanau":
            context, weights = self._attend(self._top_hidden(state)[:, None, :], memory)  # (B, 1, D*H), (B, 1, S)
            output, state = self.decoder(torch.cat([embedded, context], dim=-1), state)  # (B, 1, H)
        else:
            output, state = self.decoder(embedded, state)  # (B, T, H)
            if attention == "luong":
                context, weights = self._attend(output, memory)  # (B, T, D*H), (B, T, S)
            else:
                weights = output.new_zeros(batch, steps, memory.outputs.shape[1])
        if attention == "none":
            combined = output  # (B, T, H)
        else:
            combined = torch.cat([output, context.to(output.dtype)], dim=-1)  # (B, T, H + D*H)
        hidden = self.drop(torch.tanh(self.combine(combined)))  # (B, T, H)
        return self.out(hidden), state, weights  # (B, T, V)

    # -- training forward -----------------------------------------------------------------------
    def forward(self, source: Tensor, source_lengths: Tensor, target_in: Tensor) -> tuple[Tensor, Tensor]:
        memory, state = self.encode(source, source_lengths)
        forcing = self.config.teacher_forcing if self.training else 1.0
        if forcing >= 1.0 and self.config.attention != "bahdanau":
            embedded = self.drop(self.target_embedding(target_in))  # (B, T, E): all steps in one call
            logits, _, weights = self._decode(embedded, state, memory)
            return logits, weights
        return self._forward_steps(target_in, state, memory, forcing)

    def _forward_steps(self, target_in: Tensor, state: State, memory: Memory, forcing: float):
        all_logits, all_weights = [], []
        tokens = target_in[:, 0]  # (B,) the <s> column
        for t in range(target_in.shape[1]):
            logits, state, weights = self.step(tokens, state, memory)  # (B, V), (B, S)
            all_logits.append(logits)
            all_weights.append(weights)
            if t + 1 < target_in.shape[1]:
                tokens = target_in[:, t + 1]
                if forcing < 1.0:
                    own = torch.rand(tokens.shape[0], device=tokens.device) >= forcing  # (B,)
                    tokens = torch.where(own, logits.argmax(-1), tokens)
        return torch.stack(all_logits, dim=1), torch.stack(all_weights, dim=1)  # (B, T, V), (B, T, S)

    # -- decoding -------------------------------------------------------------------------------
    @torch.inference_mode()
    def greedy(self, source: Tensor, source_lengths: Tensor, max_len: int, length_penalty: float = 1.0) -> Decoded:
        """Most likely token at every step for a batch (B, S), at most ``max_len`` tokens with ``</s>``.

        Scores are summed log-probabilities / ``len ** length_penalty`` (len counts ``</s>``).
        """
        was_training = self.training
        self.eval()
        memory, state = self.encode(source, source_lengths)
        batch = source.shape[0]
        tokens = torch.full((batch,), BOS, dtype=torch.long, device=source.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
        lengths = torch.zeros(batch, dtype=torch.long, device=source.device)
        total = torch.zeros(batch, dtype=torch.float64, device=source.device)
        chosen = []
        for _ in range(max_len):  # at most max_len tokens, </s> included
            logits, state, _ = self.step(tokens, state, memory)
            logp = _decoding_log_probs(logits)  # (B, V)
            tokens = logp.argmax(-1)  # (B,)
            total += torch.where(finished, 0.0, logp.gather(1, tokens[:, None]).squeeze(1).double())
            lengths += (~finished).long()
            chosen.append(tokens)
            finished |= tokens == EOS
            if bool(finished.all()):
                break
        self.train(was_training)
        rows = torch.stack(chosen, dim=1).tolist()  # (B, steps)
        out = [row[: row.index(EOS)] if EOS in row else row for row in rows]
        scores = (total / lengths.double() ** length_penalty).tolist()
        return Decoded(out, scores)

    @torch.inference_mode()
    def beam_search(self, source: Tensor, source_lengths: Tensor, beam: int, max_len: int,
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
        was_training = self.training
        self.eval()
        results = [self._beam_one(source[i: i + 1, : int(source_lengths[i])], source_lengths[i: i + 1],
                                  beam, max_len, length_penalty) for i in range(source.shape[0])]
        self.train(was_training)
        return Decoded([r[0] for r in results], [r[1] for r in results])

    def _beam_one(self, source: Tensor, source_lengths: Tensor, beam: int, max_len: int,
                  length_penalty: float) -> tuple[list[int], float]:
        memory, state = self.encode(source, source_lengths)  # batch of 1
        # one group per width 1..beam; each group's alive hypotheses: (tokens, summed log-prob, row)
        groups: list[list[tuple[list[int], float]]] = [[([], 0.0)] for _ in range(beam)]
        widths = list(range(1, beam + 1))
        rows = torch.zeros(beam, dtype=torch.long, device=source.device)  # every group starts from row 0
        state = _state_map(state, lambda s: s[:, rows])  # (L, beam, H)
        memory = memory.select(rows)
        tokens = torch.full((beam,), BOS, dtype=torch.long, device=source.device)
        best: tuple[float, list[int]] = (-math.inf, [])
        for step in range(max_len):  # at most max_len tokens, </s> included
            logits, state, _ = self.step(tokens, state, memory)
            logp = _decoding_log_probs(logits).double().cpu()  # (N, V), N = alive hypotheses of all groups
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
            state = _state_map(state, lambda s, index=index: s[:, index].contiguous())
            memory = memory.select(index)
            tokens = torch.tensor(next_tokens, dtype=torch.long, device=source.device)
        return best[1], best[0]

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())


def _decoding_log_probs(logits: Tensor) -> Tensor:
    """Log-probabilities (B, V) of the next token; ``<pad>`` and ``<s>`` are never produced."""
    logp = logits.float().log_softmax(-1)
    logp[:, PAD] = -math.inf
    logp[:, BOS] = -math.inf
    return logp


def sequence_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy (nats) over the non-padding targets; logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=PAD)


__all__ = ["ATTENTIONS", "Decoded", "Memory", "Seq2Seq", "Seq2SeqConfig", "sequence_loss"]
