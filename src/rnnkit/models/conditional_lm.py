"""A language model conditioned on a label: one fixed input, a generated sequence (one-to-many).

The label's embedding conditions the recurrent network in one or both of two ways (``conditioning``):

    init    it sets the initial state (a tanh projection per layer), like an image feature
            starting a caption decoder
    input   it is concatenated to every step's input, like the PyTorch "generating names" tutorial
    both    the two together (the default)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from rnnkit.errors import RnnkitError, raise_first
from rnnkit.layers import Recurrent, State, recurrent_checks

CONDITIONINGS = ("init", "input", "both")


@dataclass(frozen=True)
class ConditionalLMConfig:
    """Everything needed to rebuild a ``ConditionalLM`` (stored in every run's config.json)."""

    vocab_size: int = 0
    num_labels: int = 0
    cell: str = "gru"
    hidden_size: int = 256
    num_layers: int = 2
    embedding_size: int = 64
    label_size: int = 32
    conditioning: str = "both"
    dropout: float = 0.1
    backend: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> ConditionalLMConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        checks = [
            (self.conditioning in CONDITIONINGS,
             f"--conditioning must be one of {', '.join(CONDITIONINGS)}, got {self.conditioning!r}"),
            *recurrent_checks(self.hidden_size, self.num_layers, self.dropout),
            (self.embedding_size >= 1, f"--embedding-size must be >= 1, got {self.embedding_size}"),
            (self.label_size >= 1, f"--label-size must be >= 1, got {self.label_size}"),
        ]
        raise_first(checks)
        return self


class ConditionalLM(nn.Module):
    """Predicts the next token at every position given a label.

    Shapes
    ------
    ids : (B, T) int64 token ids (``<s>`` first when starting a sequence)
    labels : (B,) int64 label ids
    state : optional recurrent state to continue from; when omitted the sequence starts afresh
        (from the label's initial state with ``init``/``both`` conditioning, else zeros)
    lengths : optional (B,) lengths of padded ``ids``
    returns : logits (B, T, V) and the final state
    """

    def __init__(self, config: ConditionalLMConfig):
        super().__init__()
        config.check()
        if config.vocab_size < 5:
            raise RnnkitError("a conditional language model needs at least one token besides the 4 special tokens")
        if config.num_labels < 1:
            raise RnnkitError("a conditional language model needs at least one label")
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_size)
        self.label_embedding = nn.Embedding(c.num_labels, c.label_size)
        per_step = c.label_size if c.conditioning in ("input", "both") else 0
        self.recurrent = Recurrent(c.cell, c.embedding_size + per_step, c.hidden_size, c.num_layers, c.dropout,
                                   backend=c.backend)
        self.initial = (nn.Linear(c.label_size, c.num_layers * c.hidden_size)
                        if c.conditioning in ("init", "both") else None)
        self.drop = nn.Dropout(c.dropout)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size)

    def initial_state(self, labels: Tensor) -> State | None:
        """The state a sequence with these labels (B,) starts from; None (zeros) without ``init`` conditioning."""
        if self.initial is None:
            return None
        c = self.config
        h = torch.tanh(self.initial(self.label_embedding(labels)))  # (B, L*H)
        h = h.view(-1, c.num_layers, c.hidden_size).transpose(0, 1).contiguous()  # (L, B, H)
        return (h, torch.zeros_like(h)) if c.cell == "lstm" else h

    def forward(self, ids: Tensor, labels: Tensor, state: State | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        x = self.drop(self.embedding(ids))  # (B, T, E)
        if self.config.conditioning in ("input", "both"):
            label = self.label_embedding(labels)[:, None, :].expand(-1, ids.shape[1], -1)  # (B, T, C)
            x = torch.cat([x, label.to(x.dtype)], dim=-1)  # (B, T, E + C)
        if state is None:
            state = self.initial_state(labels)
        out, state = self.recurrent(x, state, lengths=lengths)  # (B, T, H)
        return self.decoder(self.drop(out)), state  # (B, T, V)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())


class Conditioned(nn.Module):
    """``model`` with its labels fixed, as the ``ids, state -> logits, state`` module ``rnnkit.generate`` samples.

    ``labels`` (1,) is repeated to the batch size of each call.
    """

    def __init__(self, model: ConditionalLM, labels: Tensor):
        super().__init__()
        self.model, self.labels = model, labels

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        labels = self.labels.expand(ids.shape[0]) if self.labels.numel() == 1 else self.labels  # (B,)
        return self.model(ids, labels, state)


__all__ = ["CONDITIONINGS", "ConditionalLM", "ConditionalLMConfig", "Conditioned"]
