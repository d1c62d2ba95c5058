"""The feed-forward neural n-gram language model (Bengio et al. 2003): the last N tokens -> MLP -> next token."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.models.language_model import LanguageModelConfig

PAD_ID = 0  # the id that stands for "before the start of the stream" in the first context windows


class MLPNgramLM(nn.Module):
    """Predicts each next token from the ``config.context`` tokens ending at the current one.

    embedding (embedding_size) -> concatenation of the ``context`` embeddings -> hidden layer
    (hidden_size, tanh) -> dropout -> linear over the vocabulary. The "state" is simply the last
    ``context`` token ids, so stateful truncated-BPTT batching and streamed sampling work exactly as
    for the recurrent ``LanguageModel``.

    Shapes
    ------
    ids : (B, T) int64 token ids
    state : (B, context) int64 ids of the tokens before ``ids`` (None: start of the streams, padded with 0)
    returns : logits (B, T, V) and the new state (B, context), the last ``context`` ids seen
    """

    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        if config.vocab_size < 2:
            raise RnnkitError(f"a language model needs at least 2 distinct tokens, got {config.vocab_size}")
        if config.context < 1:
            raise RnnkitError(f"--context must be >= 1, got {config.context}")
        self.config = config
        self.context = config.context
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.hidden = nn.Linear(config.context * config.embedding_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, ids: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        batch, steps = ids.shape
        if state is None:
            state = self.init_state(batch, ids.device)
        full = torch.cat([state.to(ids.device, torch.long), ids], dim=1)  # (B, C + T)
        # position t sees the C tokens ending at ids[:, t]: full[:, t+1 : t+1+C]
        windows = full.unfold(1, self.context, 1)[:, 1:]  # (B, T, C)
        x = self.embedding(windows).flatten(2)  # (B, T, C*E)
        h = self.dropout(torch.tanh(self.hidden(x)))  # (B, T, H)
        return self.decoder(h), full[:, steps:]  # (B, T, V), (B, C)

    def init_state(self, batch_size: int, device=None) -> Tensor:
        """The state at the start of ``batch_size`` streams: ``context`` padding ids each."""
        return torch.full((batch_size, self.context), PAD_ID, dtype=torch.long, device=device)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())


__all__ = ["PAD_ID", "MLPNgramLM"]
