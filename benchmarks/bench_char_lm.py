"""Validation loss after a fixed wall-clock budget with rnnkit's defaults, and peak memory, on tiny Shakespeare.

Runs ``rnnkit train lm`` with its defaults (no model or optimiser flags) for ``--time`` (default 10m) on
``--data`` (default tiny Shakespeare; e.g. ``seinfeld`` for the Seinfeld scripts at character level)
in a child process, then prints rnnkit's best validation loss (nats/char on the last 10% of the text,
as nanoGPT splits it) beside nanoGPT's published shakespeare_char figures, the run's throughput, and
the child's peak resident memory (getrusage). Also prints a 300-character sample.

    python benchmarks/bench_char_lm.py [--time 10m] [--data NAME] [--out runs/bench-10min] [-- extra train flags]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

NANOGPT = {"nanoGPT shakespeare_char, CPU recipe (published)": 1.88,
           "nanoGPT shakespeare_char, A100 baby GPT (published)": 1.4697}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--time", default="10m")
    p.add_argument("--out", default="runs/bench-char-lm")
    p.add_argument("--data", default="tinyshakespeare", help="a named dataset or a text file")
    p.add_argument("--prime", default="ROMEO:", help="the sample's prime")
    p.add_argument("extra", nargs="*", help="extra flags for 'rnnkit train lm' (after --)")
    args = p.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "rnnkit", "train", "lm", "--data", args.data, "--out", str(out),
           "--time", args.time, "--no-progress", *args.extra]
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    wall = time.monotonic() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_loss" in r]
    train = [r for r in rows if "loss" in r]
    best = min(r["val_loss"] for r in val)
    config = json.loads((out / "config.json").read_text())
    sample = subprocess.run([sys.executable, "-m", "rnnkit", "sample", str(out), "--prime", args.prime,
                             "--length", "300", "--temperature", "0.8", "--seed", "1"],
                            check=True, capture_output=True, text=True).stdout
    print(f"\nrnnkit defaults: {config['model']['num_layers']}x{config['model']['hidden_size']} "
          f"{config['model']['cell']}, batch {config['train']['batch_size']}x{config['train']['seq_len']}, "
          f"{config['meta']['precision']}, {config['meta']['parameters']:,} parameters")
    print(f"budget {args.time}: {train[-1]['step']} steps, {train[-1]['tokens']:,} chars, "
          f"{train[-1]['tokens'] / train[-1]['elapsed']:,.0f} chars/s overall, wall {wall:.0f}s incl. start-up")
    print(f"{'model':55s} {'val nats/char':>14s} {'bits/char':>10s}")
    print(f"{'rnnkit (best validation within the budget)':55s} {best:14.4f} {best / math.log(2):10.4f}")
    for name, value in NANOGPT.items():
        print(f"{name:55s} {value:14.4f} {value / math.log(2):10.4f}")
    print("validation curve: " + ", ".join(f"{r['step']}:{r['val_loss']:.3f}" for r in val))
    print(f"peak resident memory of the training process: {peak_mib:,.0f} MiB")
    print(f"sample:\n{sample}")


if __name__ == "__main__":
    main()
