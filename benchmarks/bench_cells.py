"""minGRU and minLSTM beside rnnkit's LSTM and GRU at one parameter count: training tokens/s, sampling chars/s,
and (--quality) the validation loss each reaches on tiny Shakespeare in a fixed training time.

Every contender is rnnkit's character LM (embedding -> Recurrent -> linear, --num-layers layers): the LSTM at
--hidden-size (its fastest path: ``backend="auto"``, so rnnkit's bf16 engine where the CPU has bf16), the
others at the hidden size whose whole model has the parameter count nearest the LSTM's. A training step is
the Trainer's (autocast at --precision, AdamW, clipping, the state carried across TBPTT windows); each batch
holds --tokens tokens (B = tokens / T), so every sequence length does the same work per step. Rounds
alternate between the contenders, so a busy machine slows them alike; medians, and ratios to the LSTM.
Sampling is ``rnnkit.generate`` at batch 1 (one prime, then one token per step with the carried state).

    python benchmarks/bench_cells.py                          # throughput at T = 128, 512, 2048 and sampling
    python benchmarks/bench_cells.py --device cuda
    python benchmarks/bench_cells.py --quality --time 10m     # + each model trained 10 minutes: validation loss
    python benchmarks/bench_cells.py --scan                   # the two scan methods alone, forward + backward
    # a seconds-long check that it runs:
    python benchmarks/bench_cells.py --hidden-size 32 --tokens 256 --seq-lens 16,32 --steps 1 --rounds 1 \\
        --sample-length 20 --quality --time 5s
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time

import torch

from bench_train_throughput import lm_step_runner, timed  # noqa: E402  (a sibling script: benchmarks/ is on sys.path)
from machine import cpu_line  # noqa: E402  (a sibling script)
from rnnkit.cells.scan import METHODS, scan
from rnnkit.config import TrainConfig, parse_duration
from rnnkit.data import StreamBatcher, encode_corpus, resolve_data
from rnnkit.generate import SamplingConfig, generate_tokens
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.runs import evaluate, train
from rnnkit.tasks.lm import DataConfig, RunConfig
from rnnkit.training.precision import resolve_precision

CELLS = ("lstm", "gru", "mingru", "minlstm")


def lm_config(vocab_size: int, cell: str, hidden: int, args) -> LanguageModelConfig:
    return LanguageModelConfig(vocab_size=vocab_size, cell=cell, hidden_size=hidden, num_layers=args.num_layers,
                               embedding_size=args.embedding_size, dropout=args.dropout)


def parameters(config: LanguageModelConfig) -> int:
    with torch.device("meta"):  # sizes only, nothing allocated
        return LanguageModel(config).num_parameters()


def matched_hidden(cell: str, target: int, vocab_size: int, args) -> int:
    """The hidden size (a multiple of 8) at which ``cell``'s model has the parameter count nearest ``target``."""
    low, high = 1, 8
    while parameters(lm_config(vocab_size, cell, high * 8, args)) < target:
        low, high = high, high * 2
    while high - low > 1:  # parameters grow with the hidden size
        mid = (low + high) // 2
        low, high = (mid, high) if parameters(lm_config(vocab_size, cell, mid * 8, args)) < target else (low, mid)
    return min((low * 8, high * 8), key=lambda h: abs(parameters(lm_config(vocab_size, cell, h, args)) - target))


def train_step_runner(config: LanguageModelConfig, ids, batch: int, seq_len: int, precision: str,
                      device: torch.device):
    """One training step as rnnkit.training.Trainer.fit performs it, over the stream of ``ids``."""
    return lm_step_runner(config, StreamBatcher(ids, batch, seq_len), precision, device)


def sampling_rate(config: LanguageModelConfig, length: int, device: torch.device) -> float:
    torch.manual_seed(0)
    model = LanguageModel(config).to(device)
    prime = torch.tensor([1, 2, 3, 4, 5], device=device)
    cfg = SamplingConfig(length=length, seed=1)
    sum(1 for _ in generate_tokens(model, prime, SamplingConfig(length=5, seed=1)))  # warm-up
    start = time.perf_counter()
    count = sum(1 for _ in generate_tokens(model, prime, cfg))
    return count / (time.perf_counter() - start)


def quality(cell_configs: dict[str, LanguageModelConfig], args, device: torch.device) -> dict[str, float]:
    """Validation nats/char of each model after ``args.time`` of training on the lm task's defaults."""
    seconds = parse_duration(args.time)
    losses = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cell, model in cell_configs.items():
            run = RunConfig(data=DataConfig(data=args.data, val_fraction=0.1),
                            model=dataclasses.replace(model, vocab_size=0),
                            train=TrainConfig(time=seconds, device=device.type, seed=1))
            out = os.path.join(tmp, cell)
            train("lm", run, out, show_progress=False, log=lambda message: None)
            losses[cell] = evaluate(out, device=device.type)["nats_per_token"]
            print(f"  trained {cell} for {args.time}: validation {losses[cell]:.4f} nats/char", flush=True)
    return losses


def scan_methods(args, device: torch.device) -> None:
    """Forward + backward of the scan alone, per method, at (B, T, H) with B*T = --tokens."""
    print(f"scan over (B, T, {args.hidden_size}), B*T = {args.tokens}, fp32, forward + backward, median ms")
    for seq_len in args.seq_lens:
        batch = max(1, args.tokens // seq_len)
        gen = torch.Generator().manual_seed(0)
        log_a = (-torch.rand((batch, seq_len, args.hidden_size), generator=gen)).to(device).requires_grad_()
        log_b = torch.randn((batch, seq_len, args.hidden_size), generator=gen).to(device).requires_grad_()
        h0 = torch.randn((batch, args.hidden_size), generator=gen).to(device)
        row = []
        for method in METHODS:
            times = []
            for _ in range(args.rounds + 1):
                start = time.perf_counter()
                scan(log_a, log_b, h0, method=method).sum().backward()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            row.append(f"{method} {statistics.median(times[1:]) * 1000:8.1f}")
        print(f"  T={seq_len:5d} B={batch:4d}   " + "   ".join(row))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="tinyshakespeare")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="auto", help="auto (the Trainer's default), fp32, bf16 or fp16")
    p.add_argument("--hidden-size", type=int, default=512, help="the LSTM's; the others are matched to its size")
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--embedding-size", type=int, default=LanguageModelConfig.embedding_size)
    p.add_argument("--dropout", type=float, default=LanguageModelConfig.dropout)
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--seq-lens", default="128,512,2048")
    p.add_argument("--tokens", type=int, default=16384, help="tokens per training batch (B = tokens / T)")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sample-length", type=int, default=500)
    p.add_argument("--quality", action="store_true", help="also train each model for --time and report validation")
    p.add_argument("--time", default="10m", help="training time per model with --quality (e.g. 10m)")
    p.add_argument("--scan", action="store_true", help="time the scan methods alone and stop")
    args = p.parse_args()
    args.seq_lens = [int(s) for s in args.seq_lens.split(",")]
    device = torch.device(args.device)
    where = torch.cuda.get_device_name() if device.type == "cuda" else cpu_line()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {where}")
    if args.scan:
        scan_methods(args, device)
        return

    ids, vocab = encode_corpus(resolve_data(args.data))
    precision = resolve_precision(args.precision, device)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    target = parameters(lm_config(len(vocab), "lstm", args.hidden_size, args))
    hidden = {c: args.hidden_size if c == "lstm" else matched_hidden(c, target, len(vocab), args) for c in cells}
    configs = {c: lm_config(len(vocab), c, hidden[c], args) for c in cells}
    print(f"{args.num_layers}-layer character LMs of ~{target:,} parameters (the {args.hidden_size}-unit LSTM's), "
          f"{args.tokens} tokens per batch, {precision}, {args.rounds} rounds x {args.steps} steps, median tokens/s")

    rates: dict[tuple[str, int], list[float]] = {}
    for seq_len in args.seq_lens:
        batch = max(1, args.tokens // seq_len)
        runners = {c: train_step_runner(configs[c], ids, batch, seq_len, precision, device) for c in cells}
        for _ in range(args.rounds):
            for c, step in runners.items():
                rates.setdefault((c, seq_len), []).append(timed(step, args.steps, device))
    with torch.inference_mode():
        sampling = {c: sampling_rate(configs[c], args.sample_length, device) for c in cells}
    losses = quality(configs, args, device) if args.quality else {}

    base = "lstm" if "lstm" in cells else cells[0]
    header = ["cell", "hidden", "parameters"] + [f"T={t} tok/s" for t in args.seq_lens] + ["sample chars/s"]
    header += [f"val nats/char ({args.time})"] if losses else []
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for c in cells:
        row = [c, str(hidden[c]), f"{parameters(configs[c]):,}"]
        for t in args.seq_lens:
            median = statistics.median(rates[(c, t)])
            row.append(f"{median:,.0f} ({median / statistics.median(rates[(base, t)]):.2f}x)")
        row.append(f"{sampling[c]:,.0f} ({sampling[c] / sampling[base]:.2f}x)")
        if losses:
            row.append(f"{losses[c]:.4f}")
        print("| " + " | ".join(row) + " |")
    print(f"ratios are to {base}; data: {resolve_data(args.data).name}")


if __name__ == "__main__":
    main()
