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

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.vocab import PAD_ID as PAD
from rnnkit.errors import RnnkitError, raise_first
from rnnkit.layers import Recurrent, State, map_state, recurrent_checks
from rnnkit.models.attention import additive_scores, attend, general_scores

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
            *recurrent_checks(self.hidden_size, self.num_layers, self.dropout),
            (self.embedding_size >= 1, f"--embedding-size must be >= 1, got {self.embedding_size}"),
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

        state = map_state(final, bridge)
        mask = torch.arange(source.shape[1], device=source.device)[None, :] < source_lengths.to(source.device)[:, None]
        keys = self.key(outputs) if c.attention != "none" else None  # (B, S, H)
        return Memory(outputs, keys, mask), state

    # -- one decoder step -----------------------------------------------------------------------
    def _attend(self, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """Context (B, T, D*H) and weights (B, T, S) for queries (B, T, H)."""
        if self.config.attention == "bahdanau":
            scores = additive_scores(self.query(query), memory.keys, self.energy)  # (B, T, S)
        else:
            scores = general_scores(query, memory.keys)  # (B, T, S)
        return attend(scores, memory.mask, memory.outputs)  # (B, T, D*H), (B, T, S)

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

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())


def sequence_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy (nats) over the non-padding targets; logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=PAD)


__all__ = ["ATTENTIONS", "Memory", "Seq2Seq", "Seq2SeqConfig", "sequence_loss"]
