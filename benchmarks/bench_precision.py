"""Does bf16 train as well as fp32? Same model, data, seed and steps; loss curves side by side.

Trains rnnkit's default language model on tiny Shakespeare twice for ``--max-steps`` steps, once with
``--precision fp32`` and once with ``--precision bf16`` (autocast; on the CPU the LSTM then runs
rnnkit.engine.fast_lstm), and prints validation loss at each evaluation, the final difference, and the
throughput of each. bf16 is rnnkit's automatic choice only where this shows no loss penalty.

    python benchmarks/bench_precision.py [--max-steps 300] [--eval-every 100] [-- extra train flags]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path


def run(precision: str, args) -> list[dict]:
    out = Path(args.out) / precision
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "rnnkit", "train", "lm", "--data", "tinyshakespeare", "--out", str(out),
                    "--precision", precision, "--max-steps", str(args.max_steps), "--eval-every",
                    str(args.eval_every), "--no-progress", *args.extra], check=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-steps", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--out", default="runs/bench-precision")
    p.add_argument("extra", nargs="*")
    args = p.parse_args()
    curves = {precision: run(precision, args) for precision in ("fp32", "bf16")}
    val = {k: {r["step"]: r["val_loss"] for r in rows if "val_loss" in r} for k, rows in curves.items()}
    rate = {k: sum(r["tokens_per_s"] for r in rows if "loss" in r) / sum(1 for r in rows if "loss" in r)
            for k, rows in curves.items()}
    print(f"\n{'step':>6s} {'fp32 val':>10s} {'bf16 val':>10s} {'bf16-fp32':>10s}")
    for step in sorted(val["fp32"]):
        a, b = val["fp32"][step], val["bf16"].get(step, float("nan"))
        print(f"{step:6d} {a:10.4f} {b:10.4f} {b - a:+10.4f}")
    print(f"throughput: fp32 {rate['fp32']:,.0f} chars/s, bf16 {rate['bf16']:,.0f} chars/s "
          f"({rate['bf16'] / rate['fp32']:.2f}x)")


if __name__ == "__main__":
    main()
