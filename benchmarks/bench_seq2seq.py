"""Seq2seq on generated tasks: rnnkit's attention encoder-decoder vs the keras addition_rnn recipe.

Both train for the same wall-time budget on the same generated training pairs and are scored on the
same 1,000 held-out problems (sources that occur in neither training nor validation data): whole-answer
exact match and per-character accuracy, greedy decoding.

The reference is keras' ``addition_rnn`` example re-written in plain PyTorch: a 128-unit LSTM encoder,
its last output repeated once per output position, a 128-unit LSTM decoder and a per-position softmax
(no start/end tokens: answers are right-padded with spaces to a fixed width), Adam at lr 1e-3.

    RNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_seq2seq.py --task addition --time 5m
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from rnnkit.config import TrainConfig, parse_duration
from rnnkit.data.pairs import generate_pairs
from rnnkit.data.vocab import TokenVocab
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.runs import open_run, train
from rnnkit.tasks.seq2seq import (
    Seq2SeqDataConfig,
    Seq2SeqRunConfig,
    encode_pairs,
    evaluate_pairs,
    load_pairs,
)

HELD_OUT = 1000


def held_out_pairs(data: Seq2SeqDataConfig) -> list[tuple[str, str]]:
    """HELD_OUT problems whose sources are in neither the training nor the validation pairs."""
    seen = [s for s, _ in load_pairs(data)[0]]
    return generate_pairs(data.data, HELD_OUT, seed=data.data_seed + 1000, digits=data.digits, exclude=seen)


def run_rnnkit(config: Seq2SeqRunConfig, test: list[tuple[str, str]], out: Path) -> dict:
    start = time.monotonic()
    summary = train("seq2seq", config, out, show_progress=False, log=lambda m: print(m, flush=True))
    train_s = time.monotonic() - start
    translator = open_run(out).predictor()
    encoded = encode_pairs(test, translator.source_vocab, translator.target_vocab)
    metrics = evaluate_pairs(translator.model, encoded, translator.target_vocab, config.data.max_len,
                             torch.device("cpu"))
    return {"name": f"rnnkit seq2seq ({config.model.cell}, {config.model.attention})", "steps": summary["step"],
            "train_s": train_s, "params": translator.model.num_parameters(), **metrics}


class KerasAdditionRNN(nn.Module):
    """keras addition_rnn: LSTM encoder -> RepeatVector(out_len) -> LSTM decoder -> per-step softmax."""

    def __init__(self, in_vocab: int, out_vocab: int, out_len: int, hidden: int = 128):
        super().__init__()
        self.out_len = out_len
        self.encoder = nn.LSTM(in_vocab, hidden, batch_first=True)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, out_vocab)

    def forward(self, x_onehot: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.encoder(x_onehot)  # h: (1, B, H), the encoding of the whole input
        repeated = h[-1][:, None, :].expand(-1, self.out_len, -1)  # (B, out_len, H)
        y, _ = self.decoder(repeated)  # (B, out_len, H)
        return self.out(y)  # (B, out_len, V)


def run_reference(train: list[tuple[str, str]], test: list[tuple[str, str]], budget_s: float, batch: int,
                  seed: int) -> dict:
    torch.manual_seed(seed)
    chars = TokenVocab.from_texts([s + t + " " for s, t in train + test], "char")
    in_len = max(len(s) for s, _ in train + test)
    out_len = max(len(t) for _, t in train + test)
    vocab = len(chars)

    def encode(pairs):
        # keras pads queries on the left (right-aligned) and answers on the right with spaces
        x = torch.tensor([chars.encode(s.rjust(in_len)) for s, _ in pairs])  # (N, in_len)
        y = torch.tensor([chars.encode(t.ljust(out_len)) for _, t in pairs])  # (N, out_len)
        return nn.functional.one_hot(x, vocab).float(), y

    x_train, y_train = encode(train)
    x_test, y_test = encode(test)
    model = KerasAdditionRNN(vocab, vocab, out_len)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start, steps = time.monotonic(), 0
    while time.monotonic() - start < budget_s:
        for rows in torch.randperm(len(x_train)).split(batch):
            logits = model(x_train[rows])
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y_train[rows].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            if time.monotonic() - start >= budget_s:
                break
    train_s = time.monotonic() - start
    with torch.inference_mode():
        predicted = model(x_test).argmax(-1)  # (N, out_len)
    exact = (predicted == y_test).all(dim=1).float().mean().item()
    token = (predicted == y_test).float().mean().item()
    return {"name": "keras addition_rnn recipe (LSTM 128, RepeatVector)", "steps": steps, "train_s": train_s,
            "params": sum(p.numel() for p in model.parameters()), "exact_match": exact, "token_accuracy": token}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="addition", choices=["addition", "dates", "reverse"])
    parser.add_argument("--time", default="5m", help="training budget of each model, e.g. 5m")
    parser.add_argument("--size", type=int, default=50_000, help="generated pairs (training + validation)")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--attention", default="bahdanau")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--out", help="keep the rnnkit run directory here (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    budget = parse_duration(args.time)

    data = Seq2SeqDataConfig(data=args.task, size=args.size, val_size=1000)
    config = Seq2SeqRunConfig(
        data=data,
        model=Seq2SeqConfig(hidden_size=args.hidden_size, attention=args.attention),
        train=TrainConfig(batch_size=args.batch_size, lr=args.lr, time=budget, eval_every=500, device="cpu",
                          precision=args.precision, save_every=1e9, log_every=100),
    )
    test = held_out_pairs(data)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        rows.append(run_rnnkit(config, test, out))
        if not args.skip_reference:
            train_pairs = load_pairs(dataclasses.replace(data))[0]
            rows.append(run_reference(train_pairs, test, budget, args.batch_size, config.train.seed))
    print(f"\n{args.task}: {HELD_OUT} held-out problems, {budget:.0f}s training budget per model, "
          f"{torch.get_num_threads()} thread(s)")
    print("| model | params | steps | train s | exact match | per-char accuracy |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['params']:,} | {r['steps']:,} | {r['train_s']:.0f} | {r['exact_match']:.2%} | "
              f"{r['token_accuracy']:.2%} |")
    if len(rows) == 2 and rows[1]["exact_match"] > 0:
        print(f"exact-match ratio rnnkit/reference: {rows[0]['exact_match'] / rows[1]['exact_match']:.2f}x")


if __name__ == "__main__":
    main()
