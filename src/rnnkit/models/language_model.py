"""Token-level recurrent language model: embedding -> Recurrent -> linear."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.layers import Recurrent, State, dropout, locked_dropout


@dataclass(frozen=True)
class LanguageModelConfig:
    """Everything needed to rebuild a ``LanguageModel`` (stored in every checkpoint)."""

    vocab_size: int = 0  # filled in from the data
    cell: str = "lstm"
    hidden_size: int = 512
    num_layers: int = 2
    embedding_size: int = 128
    # on the embedded inputs, between layers and on the last layer's outputs; 0.1 beat 0.2 in 10 CPU-minutes on
    # tiny Shakespeare and the Seinfeld scripts (BENCHMARKS.md, "The 10-minute defaults, retuned")
    dropout: float = 0.1
    # AWD-LSTM's regularisers (Merity et al. 2017), all off by default:
    locked_dropout: bool = False  # those dropout masks drawn once per sequence, the same at every step
    weight_drop: float = 0.0  # DropConnect on the hidden-to-hidden weights, one mask per batch
    token_dropout: float = 0.0  # per batch, this fraction of the vocabulary gets a zero embedding everywhere
    tie_weights: bool = False
    backend: str = "auto"
    model: str = "rnn"  # "rnn": embedding -> recurrent -> linear; "mlp-ngram": feed-forward over `context` tokens
    context: int = 5  # tokens of context of the mlp-ngram model (ignored by "rnn")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LanguageModelConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class LanguageModel(nn.Module):
    """Predicts the next token at every position.

    Shapes
    ------
    ids : (B, T) int64 token ids
    state : optional recurrent state from the previous window (see ``rnnkit.layers.State``)
    returns : logits (B, T, V) and the final state

    With ``tie_weights`` the output projection shares the embedding matrix (Press & Wolf 2017);
    that needs ``embedding_size == hidden_size``, so a projection is inserted when they differ.
    """

    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        if config.vocab_size < 2:
            raise RnnkitError(f"a language model needs at least 2 distinct tokens, got {config.vocab_size}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.recurrent = Recurrent(config.cell, config.embedding_size, config.hidden_size,
                                   num_layers=config.num_layers, dropout=config.dropout, backend=config.backend,
                                   locked_dropout=config.locked_dropout, weight_drop=config.weight_drop)
        self.project = (nn.Linear(config.hidden_size, config.embedding_size, bias=False)
                        if config.tie_weights and config.hidden_size != config.embedding_size else None)
        self.decoder = nn.Linear(config.embedding_size if config.tie_weights else config.hidden_size,
                                 config.vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        x = self._dropout(self._embed(ids))  # (B, T, E)
        out, state = self.recurrent(x, state)  # (B, T, H)
        out = self._dropout(out)
        if self.project is not None:
            out = self.project(out)  # (B, T, E)
        return self.decoder(out), state  # (B, T, V)

    def _embed(self, ids: Tensor) -> Tensor:
        """The embedded ids; in training with ``token_dropout``, whole rows of the table dropped (AWD's
        embedding dropout: every occurrence of a dropped token in the batch reads zeros, the kept rows are
        scaled by 1 / (1 - p))."""
        p = self.config.token_dropout
        if not (self.training and p > 0):
            return self.embedding(ids)
        weight = self.embedding.weight  # (V, E)
        return F.embedding(ids, weight * dropout(weight.new_ones((weight.shape[0], 1)), p, True))

    def _dropout(self, x: Tensor) -> Tensor:
        if self.config.locked_dropout:
            return locked_dropout(x, self.config.dropout, self.training)
        return dropout(x, self.config.dropout, self.training)

    def init_state(self, batch_size: int, device=None) -> State:
        """A zero recurrent state for ``batch_size`` streams."""
        return self.recurrent.init_state(batch_size, device=device)

    def num_parameters(self) -> int:
        """Number of distinct trainable parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())


def nll(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy in nats; logits (B, T, V), targets (B, T)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


__all__ = ["LanguageModel", "LanguageModelConfig", "nll"]
