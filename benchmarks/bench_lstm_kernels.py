"""Side-by-side training speed of a character LSTM LM: torch's nn.LSTM versus rnnkit's fast_lstm.

Every variant runs full training steps (forward, cross-entropy, backward, gradient clipping,
optimizer step) on the same random character batches. Variants are timed interleaved, round by
round, in one process, so a noisy shared machine slows them all alike; the median over rounds is
reported together with the ratio to the reference.

    reference      the Udacity-notebook script: one-hot input, nn.LSTM(V, H, L, dropout=0.5), fp32,
                   dropout 0.5, linear head, Adam lr 1e-3
    nn.LSTM fp32   embedding -> nn.LSTM -> dropout -> linear, AdamW, fp32
    nn.LSTM bf16   the same under torch.autocast("cpu", dtype=torch.bfloat16)
    fast_lstm fp32 the same model with the LSTM computed by rnnkit.engine.fast_lstm in fp32
    fast_lstm bf16 the same with compute_dtype=torch.bfloat16 (head under autocast)
    fast_lstm bf16 fd  the same, with rnnkit's fast_dropout also before the head (the LSTM's
                   inter-layer dropout is fast_dropout in every fast_lstm variant)

Run:  .venv/bin/python benchmarks/bench_lstm_kernels.py --batch-size 128 --seq-len 100 --steps 5

On a shared machine pass ``--threads 1``: with two OpenMP threads and another busy process on one
of the two cores, every variant slows down by an order of magnitude (barrier waits), which
measures the neighbour, not the code.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.engine.fast_lstm import fast_dropout, fast_lstm

VOCAB_SIZE = 65  # tiny-shakespeare's character set
EMBEDDING_SIZE = 128
DROPOUT = 0.5
LEARNING_RATE = 1e-3
CLIP = 5.0  # the notebook clips the gradient norm at 5


class ReferenceNet(nn.Module):
    """The Udacity notebook's CharRNN: one-hot characters into nn.LSTM, dropout, linear."""

    def __init__(self, hidden_size: int, num_layers: int):
        super().__init__()
        self.lstm = nn.LSTM(VOCAB_SIZE, hidden_size, num_layers, dropout=DROPOUT, batch_first=True)
        self.dropout = nn.Dropout(DROPOUT)
        self.fc = nn.Linear(hidden_size, VOCAB_SIZE)

    def forward(self, tokens, state):
        x = F.one_hot(tokens, VOCAB_SIZE).float()  # (B, T, V)
        out, state = self.lstm(x, state)  # (B, T, H)
        return self.fc(self.dropout(out)), state  # (B, T, V)


class EmbeddingNet(nn.Module):
    """Embedding -> LSTM -> dropout -> linear; ``backend`` picks nn.LSTM or fast_lstm on the same weights."""

    def __init__(self, hidden_size: int, num_layers: int, backend: str, compute_dtype: torch.dtype,
                 fast_head_dropout: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, EMBEDDING_SIZE)
        self.lstm = nn.LSTM(EMBEDDING_SIZE, hidden_size, num_layers, dropout=DROPOUT, batch_first=True)
        self.dropout = nn.Dropout(DROPOUT)
        self.fc = nn.Linear(hidden_size, VOCAB_SIZE)
        self.backend, self.compute_dtype, self.fast_head_dropout = backend, compute_dtype, fast_head_dropout

    def forward(self, tokens, state):
        x = self.embedding(tokens)  # (B, T, E)
        if self.backend == "nn":
            out, state = self.lstm(x, state)  # (B, T, H)
        else:
            weights = [tuple(getattr(self.lstm, f"{name}_l{k}") for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                                "bias_hh"))
                       for k in range(self.lstm.num_layers)]
            out, state = fast_lstm(x, weights, state, dropout=DROPOUT, training=self.training,
                                   compute_dtype=self.compute_dtype)
        if self.fast_head_dropout:
            out = fast_dropout(out, DROPOUT, self.training)
        else:
            out = self.dropout(out)
        return self.fc(out), state  # (B, T, V)


class Variant:
    """A model, its optimizer and its autocast setting; ``step`` runs one full training step."""

    def __init__(self, name: str, model: nn.Module, optimizer: torch.optim.Optimizer, autocast: bool):
        self.name, self.model, self.optimizer, self.autocast = name, model, optimizer, autocast
        self.state = None
        self.times: list[float] = []

    def step(self, batch: torch.Tensor) -> float:
        inputs, targets = batch[:, :-1], batch[:, 1:]  # (B, T) each
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()
        if self.state is not None:  # carry the state across batches, detached (truncated BPTT)
            self.state = tuple(s.detach() for s in self.state)
        with ctx:
            logits, state = self.model(inputs, self.state)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE).float(), targets.reshape(-1))
        self.state = tuple(s.float() for s in state)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
        self.optimizer.step()
        return loss.item()


def make_variants(args, names: list[str]) -> list[Variant]:
    variants = []
    for name in names:
        torch.manual_seed(0)
        if name == "reference":
            model = ReferenceNet(args.hidden_size, args.num_layers)
            variants.append(Variant(name, model, torch.optim.Adam(model.parameters(), lr=LEARNING_RATE), False))
            continue
        backend, dtype, *extra = name.split()
        compute = torch.bfloat16 if dtype == "bf16" else torch.float32
        model = EmbeddingNet(args.hidden_size, args.num_layers, "nn" if backend == "nn.LSTM" else "fast", compute,
                             fast_head_dropout="fd" in extra)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
        variants.append(Variant(name, model, optimizer, autocast=dtype == "bf16"))
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--variants", default="reference,nn.LSTM fp32,nn.LSTM bf16,fast_lstm fp32,fast_lstm bf16",
                        help="comma-separated subset of the variants, in timing order")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.variants.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {args.batch_size}, "
          f"seq_len {args.seq_len}, hidden {args.hidden_size}, layers {args.num_layers}; "
          f"{args.rounds} rounds x {args.steps} steps")
    variants = make_variants(args, names)
    gen = torch.Generator().manual_seed(0)
    batch = torch.randint(0, VOCAB_SIZE, (args.batch_size, args.seq_len + 1), generator=gen)
    for v in variants:  # warm-up: oneDNN primitive caches, optimizer state allocation
        v.step(batch)
    chars_per_step = args.batch_size * args.seq_len
    for _ in range(args.rounds):
        for v in variants:
            start = time.perf_counter()
            for _ in range(args.steps):
                loss = v.step(batch)
            v.times.append((time.perf_counter() - start) / args.steps)
            v.last_loss = loss
    reference = statistics.median(variants[0].times)
    print(f"{'variant':<16}{'s/step':>9}{'chars/s':>10}{'vs ' + variants[0].name:>16}   per-round chars/s   loss")
    for v in variants:
        median = statistics.median(v.times)
        rounds = " ".join(f"{chars_per_step / t:,.0f}" for t in v.times)
        print(f"{v.name:<16}{median:>9.3f}{chars_per_step / median:>10,.0f}{reference / median:>15.2f}x   "
              f"{rounds}   {v.last_loss:.3f}")


if __name__ == "__main__":
    main()
