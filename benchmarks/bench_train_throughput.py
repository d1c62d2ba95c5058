"""Training throughput (chars/s) of rnnkit beside a Udacity-notebook-style PyTorch script, one process.

The reference is written as the Udacity char-rnn notebook trains: one-hot input, nn.LSTM(65, 512, 2,
dropout=0.5), dropout 0.5, linear head, Adam lr 1e-3, gradient clipping at 5, batch 128, seq 100, fp32.
rnnkit runs its real training path (rnnkit.training.Trainer over a StreamBatcher on tiny Shakespeare,
embedding -> 2x512 LSTM -> linear, AdamW, clipping) at the same model size and the same batch shape,
with its default precision (bf16 autocast on CPUs with bf16 units) and, for comparison, fp32.
Rounds alternate between the contenders, so a busy machine slows them alike; medians are reported.

On the CPU it then prints the compute bound: the matrix-multiply FLOPs a training step of rnnkit's model cannot
avoid (gates forward, the weight gradients, the gradients into every layer's input and previous state, the
head), divided by the best rate this machine's GEMMs reach at the step's own shapes in bf16 and in fp32. No
implementation of the same model at the same batch can run faster than that, so the printed "at most" ratios
are the ceiling for the rnnkit/reference ratios above on this CPU.

    python benchmarks/bench_train_throughput.py [--steps 6] [--rounds 3] [--batch-size 128] [--seq-len 100]
                                                [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from machine import cpu_line  # noqa: E402  (a sibling script: benchmarks/ is on sys.path)
from rnnkit.data import StreamBatcher, encode_corpus, resolve_data
from rnnkit.layers import detach_state
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.lm import lm_loss
from rnnkit.training.precision import autocast, resolve_precision


class UdacityCharRNN(nn.Module):
    """The notebook's model: one-hot characters into nn.LSTM, dropout, linear."""

    def __init__(self, vocab_size: int, hidden_size: int = 512, num_layers: int = 2, drop_prob: float = 0.5):
        super().__init__()
        self.vocab_size = vocab_size
        self.lstm = nn.LSTM(vocab_size, hidden_size, num_layers, dropout=drop_prob, batch_first=True)
        self.dropout = nn.Dropout(drop_prob)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden):
        x = F.one_hot(x, self.vocab_size).float()  # (B, T, V)
        out, hidden = self.lstm(x, hidden)
        return self.fc(self.dropout(out).reshape(-1, out.shape[-1])), hidden


def endless(batcher: StreamBatcher, device: torch.device):
    """The batcher's windows epoch after epoch on ``device``, so a long timing never runs dry."""
    while True:
        for x, y in batcher:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def reference_runner(batcher: StreamBatcher, vocab_size: int, hidden: int, layers: int, device: torch.device):
    torch.manual_seed(0)
    net = UdacityCharRNN(vocab_size, hidden, layers).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = endless(batcher, device)
    state = {"h": None}

    def step():
        x, y = next(batches)
        h = None if state["h"] is None else tuple(t.detach() for t in state["h"])
        net.zero_grad()
        logits, state["h"] = net(x, h)
        loss = F.cross_entropy(logits, y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        return x.numel()

    return step


def rnnkit_runner(batcher: StreamBatcher, vocab_size: int, hidden: int, layers: int, precision: str,
                  device: torch.device):
    """rnnkit's step exactly as rnnkit.training.Trainer.fit performs it."""
    return lm_step_runner(LanguageModelConfig(vocab_size, hidden_size=hidden, num_layers=layers), batcher,
                          precision, device)


def lm_step_runner(config: LanguageModelConfig, batcher: StreamBatcher, precision: str, device: torch.device):
    """One training step of a ``LanguageModel(config)`` as rnnkit.training.Trainer.fit performs it (any cell)."""
    torch.manual_seed(0)
    model = LanguageModel(config).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.99), fused=True)  # as the Trainer
    batches = endless(batcher, device)
    state = {"h": None}

    def step() -> int:
        x, y = next(batches)
        with autocast(precision, device):
            loss, carried = lm_loss(model, x, y, state["h"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["h"] = detach_state(carried)  # an LSTM's (h, c) or a GRU's h
        return x.numel()

    return step


def timed(step, steps: int, device: torch.device) -> float:
    step()  # warm-up: oneDNN / cuDNN pick their kernels for this shape
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, tokens = time.perf_counter(), 0
    for _ in range(steps):
        tokens += step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - start)


def lstm_lm_gemm_flops(tokens: int, input_size: int, hidden: int, layers: int, vocab: int,
                       input_grad: bool = True) -> float:
    """Matrix-multiply FLOPs of one training step of (input) -> LSTM x ``layers`` -> linear over ``tokens``.

    Per layer: the gates ``[x_t | h_{t-1}] [W_ih | W_hh]^T`` forward, the same-sized weight gradient, the
    gradient into h_{t-1} and, unless the input needs no gradient (the reference's one-hot layer 1), into x_t;
    the head's forward, weight gradient and input gradient. Pointwise work is not counted, so this is a floor.
    """
    gates = 4 * hidden
    flops = 3 * 2 * tokens * hidden * vocab  # the head
    for layer in range(layers):
        inputs = input_size if layer == 0 else hidden
        flops += 2 * (2 * tokens * (inputs + hidden) * gates)  # gates forward + [dW_ih | dW_hh]
        flops += 2 * tokens * gates * hidden  # dh_{t-1}
        if layer > 0 or input_grad:
            flops += 2 * tokens * gates * inputs  # dx_t
    return flops


def gemm_rate(dtype: torch.dtype, shapes: list[tuple[int, int, int]], seconds: float = 1.0) -> float:
    """The best FLOP/s that ``torch.mm`` reaches on this machine over ``shapes`` (M, K, N) in ``dtype``."""
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        torch.mm(a, b)  # warm-up: oneDNN picks its kernel for the shape
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or reps < 3:
            torch.mm(a, b)
            reps += 1
        best = max(best, reps * 2 * m * k * n / (time.perf_counter() - start))
    return best


def compute_bound(reference_rate: float, vocab: int, embedding: int, hidden: int, layers: int, batch: int,
                  seq_len: int) -> None:
    """Print the ceiling that the GEMM rates of this CPU put on rnnkit's step, as a ratio to the reference."""
    tokens = batch * seq_len
    ours = lstm_lm_gemm_flops(tokens, embedding, hidden, layers, vocab)
    reference = lstm_lm_gemm_flops(tokens, vocab, hidden, layers, vocab, input_grad=False)
    shapes = [(batch, embedding + hidden, 4 * hidden), (batch, 2 * hidden, 4 * hidden),  # per-step gates
              (batch, 4 * hidden, hidden),  # per-step dh
              (tokens, 4 * hidden, hidden),  # dx over the whole window
              (4 * hidden, tokens, 2 * hidden)]  # [dW_ih | dW_hh] over the whole window
    rates = {name: gemm_rate(dtype, shapes) for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32))}
    print(f"compute bound: best GEMM rate at the step's shapes {rates['bf16'] / 1e12:.3f} TFLOPS bf16, "
          f"{rates['fp32'] / 1e12:.3f} TFLOPS fp32 ({torch.get_num_threads()} threads); a step's matrix products: "
          f"rnnkit {ours / 1e9:.1f} GFLOP, reference {reference / 1e9:.1f} GFLOP")
    print(f"  the reference runs at {reference_rate * reference / tokens / rates['fp32']:.0%} of the fp32 GEMM rate")
    for name, rate in rates.items():
        ceiling = tokens / (ours / rate)
        print(f"  rnnkit in {name} at most {ceiling:10,.0f} chars/s = {ceiling / reference_rate:5.2f}x reference")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="tinyshakespeare")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args()
    device = torch.device(args.device)

    ids, vocab = encode_corpus(resolve_data(args.data))
    batcher = StreamBatcher(ids, args.batch_size, args.seq_len)
    auto = resolve_precision("auto", device)
    size = (len(vocab), args.hidden_size, args.num_layers)
    contenders = {
        "reference (Udacity-style, fp32)": reference_runner(batcher, *size, device),
        "rnnkit fp32": rnnkit_runner(batcher, *size, "fp32", device),
        f"rnnkit default ({auto})": rnnkit_runner(batcher, *size, auto, device),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, step in contenders.items():
            rates[name].append(timed(step, args.steps, device))
    where = torch.cuda.get_device_name() if device.type == "cuda" else cpu_line()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {where}; "
          f"{args.num_layers}x{args.hidden_size} LSTM, batch {args.batch_size}x{args.seq_len}, "
          f"{args.rounds} rounds x {args.steps} steps, median chars/s")
    reference = statistics.median(rates[next(iter(rates))])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"  {name:34s} {median:10,.0f} chars/s   {median / reference:5.2f}x reference")
    print(f"data: {Path(resolve_data(args.data)).name}")
    if device.type == "cpu":
        compute_bound(reference, len(vocab), LanguageModelConfig().embedding_size, args.hidden_size,
                      args.num_layers, args.batch_size, args.seq_len)


if __name__ == "__main__":
    main()
