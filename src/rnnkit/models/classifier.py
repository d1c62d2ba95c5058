"""Many-to-one sequence classifier: embedding -> (bi)RNN/LSTM/GRU/minGRU/minLSTM -> pooling -> dropout -> linear."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells import CELL_KINDS
from rnnkit.errors import RnnkitError, raise_first
from rnnkit.layers import Recurrent, recurrent_checks
from rnnkit.models.attention import AttentionPooling

POOLINGS = ("last", "mean", "max", "attention")
CELLS = CELL_KINDS  # every cell Recurrent has
EMBEDDING_INIT_STD = 0.1


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to rebuild a ``SequenceClassifier`` (stored in the run's config.json)."""

    vocab_size: int = 0  # filled in from the data
    num_classes: int = 0  # filled in from the data
    cell: str = "lstm"
    embedding_size: int = 256
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.5  # on the pooled features before the linear head (and between recurrent layers)
    embedding_dropout: float = 0.3  # on the embedded inputs
    word_dropout: float = 0.1  # training only: this fraction of tokens become <unk>
    freeze_embeddings: bool = False  # keep (pretrained) embeddings fixed
    backend: str = "auto"

    def validate(self) -> ClassifierConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        checks = [
            (self.cell in CELLS, f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}"),
            (self.pooling in POOLINGS, f"--pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}"),
            (self.embedding_size >= 1, f"--embedding-size must be >= 1, got {self.embedding_size}"),
            *recurrent_checks(self.hidden_size, self.num_layers, self.dropout),
            (0 <= self.embedding_dropout < 1, f"--embedding-dropout must be in [0, 1), got {self.embedding_dropout}"),
            (0 <= self.word_dropout < 1, f"--word-dropout must be in [0, 1), got {self.word_dropout}"),
        ]
        raise_first(checks)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


class SequenceClassifier(nn.Module):
    """Reads a whole sequence and predicts one label.

    Padding is free: the recurrent layer gets ``lengths`` and packs the batch, and every pooling looks
    at real steps only, so a sequence's logits do not depend on what it is batched with.

    Parameters
    ----------
    config : ClassifierConfig; ``vocab_size`` includes ``<pad>`` (id 0) and ``<unk>`` (id 1).

    Shapes
    ------
    ids : (B, T) int64 token ids, padded with 0 after each sequence's end
    lengths : (B,) int64, 1 <= lengths[b] <= T; omitted: every sequence is T long
    returns : logits (B, C)

    Pooling over the top layer's outputs (B, T, D*H): ``last`` the final state of each direction
    (forward at its own last step, backward at step 0), ``mean``/``max`` over the real steps, ``attention``
    a learned softmax-weighted sum over the real steps (Yang et al. 2016, without the hierarchy).
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        config.validate()
        if config.vocab_size < 3:
            raise RnnkitError(f"a classifier needs a vocabulary of at least 3 tokens, got {config.vocab_size}")
        if config.num_classes < 2:
            raise RnnkitError(f"a classifier needs at least 2 classes, got {config.num_classes}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=0)
        with torch.no_grad():  # N(0, 1) (torch's default) saturates the gates; small vectors train better
            self.embedding.weight.normal_(0.0, EMBEDDING_INIT_STD)
            self.embedding.weight[0].zero_()
        self.embedding.weight.requires_grad_(not config.freeze_embeddings)
        self.recurrent = Recurrent(config.cell, config.embedding_size, config.hidden_size,
                                   num_layers=config.num_layers, dropout=config.dropout,
                                   bidirectional=config.bidirectional, backend=config.backend)
        features = self.recurrent.output_size  # D * H
        self.attention = AttentionPooling(features) if config.pooling == "attention" else None
        self.head = nn.Linear(features, config.num_classes)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    @torch.no_grad()
    def load_embeddings(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        """Copy ``vectors`` (K, E) into the embedding rows ``rows`` (K,)."""
        if vectors.shape[1] != self.config.embedding_size:
            raise RnnkitError(f"the word vectors have {vectors.shape[1]} dimensions but --embedding-size is "
                              f"{self.config.embedding_size}; pass --embedding-size {vectors.shape[1]}")
        weight = self.embedding.weight
        weight[torch.as_tensor(rows, dtype=torch.long)] = torch.as_tensor(vectors, dtype=weight.dtype)

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        batch, steps = ids.shape
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long, device=ids.device)
        mask = torch.arange(steps, device=ids.device)[None, :] < lengths.to(ids.device)[:, None]  # (B, T)
        if self.training and self.config.word_dropout > 0:
            drop = (torch.rand(ids.shape, device=ids.device) < self.config.word_dropout) & mask
            ids = ids.masked_fill(drop, 1)  # <unk>
        x = F.dropout(self.embedding(ids), self.config.embedding_dropout, self.training)  # (B, T, E)
        outputs, state = self.recurrent(x, lengths=lengths)  # (B, T, D*H)
        pooled = self._pool(outputs, state, mask)  # (B, D*H)
        return self.head(F.dropout(pooled, self.config.dropout, self.training))  # (B, C)

    def _pool(self, outputs: Tensor, state, mask: Tensor) -> Tensor:
        pooling = self.config.pooling
        m = mask.unsqueeze(-1)  # (B, T, 1)
        if pooling == "last":
            h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
            top = h[-self.recurrent.num_directions:]  # (D, B, H): the top layer's directions
            return top.permute(1, 0, 2).reshape(h.shape[1], -1).to(outputs.dtype)  # (B, D*H)
        if pooling == "mean":
            return (outputs * m).sum(1) / m.sum(1).clamp(min=1)  # (B, D*H)
        if pooling == "max":
            return outputs.masked_fill(~m, float("-inf")).amax(1)  # (B, D*H)
        return self.attention.pool(outputs, mask)  # (B, D*H)


__all__ = ["CELLS", "POOLINGS", "ClassifierConfig", "SequenceClassifier"]
