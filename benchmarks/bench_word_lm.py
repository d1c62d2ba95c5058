"""Word-level generation on the Seinfeld scripts: validation perplexity after a wall-clock budget, and a sample.

Trains ``rnnkit train lm --level word`` (defaults plus any extra flags) on
``$RNNKIT_DATA_DIR/seinfeld/Seinfeld_Scripts.txt`` (the last 10% of the words is validation) for ``--time``
(default 10m) in a child process, then prints the validation perplexity beside a count-based reference
on the same split and vocabulary (rnnkit's interpolated Kneser-Ney n-gram, ``--kn-order``), and a
200-token sample from "jerry:" (top-k 10).

    python benchmarks/bench_word_lm.py [--time 10m] [--out runs/bench-word-lm] [-- extra train flags]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--time", default="10m")
    p.add_argument("--out", default="runs/bench-word-lm")
    p.add_argument("--kn-order", type=int, default=3)
    p.add_argument("extra", nargs="*", help="extra flags for 'rnnkit train lm' (after --)")
    args = p.parse_args()
    data = Path(os.environ.get("RNNKIT_DATA_DIR", "../shared/data")) / "seinfeld" / "Seinfeld_Scripts.txt"
    if not data.is_file():
        sys.exit(f"bench_word_lm: {data} not found; set RNNKIT_DATA_DIR to the folder holding seinfeld/")
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "rnnkit", "train", "lm", "--level", "word", "--data", str(data), "--out", str(out),
           "--time", args.time, "--no-progress", *args.extra]
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    wall = time.monotonic() - start

    from rnnkit.generate import SamplingConfig, sample_text
    from rnnkit.runs import evaluate, open_run
    from rnnkit.tasks.lm import load_corpus

    result = evaluate(out, device="cpu")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "loss" in r]
    run = open_run(out)
    model, vocab, config = run.model, run.vocab, run.config
    _, train_ids, val_ids, _ = load_corpus(config.data, vocab)
    kn = kneser_ney_perplexity(train_ids, val_ids, len(vocab), args.kn_order)
    m = config.model
    print(f"\nrnnkit: {m.num_layers}x{m.hidden_size} {m.cell}, embedding {m.embedding_size}, tied {m.tie_weights}, "
          f"batch {config.train.batch_size}x{config.train.seq_len}, {len(vocab):,} words (min_freq "
          f"{config.data.min_freq}), {len(train_ids):,} training / {len(val_ids):,} validation words")
    print(f"budget {args.time}: {train[-1]['step']} steps, {train[-1]['tokens']:,} words, "
          f"{train[-1]['tokens'] / train[-1]['elapsed']:,.0f} words/s, wall {wall:.0f}s incl. start-up")
    print(f"{'model':44s} {'val nats/word':>14s} {'perplexity':>11s}")
    print(f"{'rnnkit word LSTM (best validation)':44s} {result['nats_per_token']:14.4f} {result['perplexity']:11.1f}")
    print(f"{f'Kneser-Ney {args.kn_order}-gram, same split and vocabulary':44s} {math.log(kn):14.4f} {kn:11.1f}")
    text = sample_text(model, vocab, "jerry:", SamplingConfig(length=200, top_k=10, seed=1))[0]
    print("\nsample (200 tokens from 'jerry:', top-k 10, seed 1):\n" + text)


def kneser_ney_perplexity(train_ids, val_ids, vocab_size: int, order: int) -> float:
    """Perplexity of rnnkit's interpolated Kneser-Ney n-gram on the same token ids."""
    from rnnkit.models.ngram import KneserNeyLM

    model = KneserNeyLM(order, vocab_size).fit(train_ids)
    total, count = model.nll(val_ids, history=train_ids[-(order - 1):] if order > 1 else ())
    return math.exp(total / count)


if __name__ == "__main__":
    main()
