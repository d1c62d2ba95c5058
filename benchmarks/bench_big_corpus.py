"""A corpus larger than memory: streamed encoding speed and the peak memory of encoding and of training on it.

Generates --size bytes of UTF-8 text in a temporary folder (tiny Shakespeare repeated, each copy with small
random edits that add multi-byte characters, written block by block), then, each in a child process whose
peak RSS (``os.wait4``'s ru_maxrss) is reported:

1. encodes it with ``rnnkit.data.encode_corpus`` (streamed into the memory-mapped cache): MB/s of file bytes,
   sha256 and both passes included;
2. the reference: the in-memory encoder (``read_text`` + ``CharVocab``, the path for files within one chunk and
   for ``use_cache=False``) on the first --reference-size bytes, beside the streamed encoder on that slice;
3. trains --steps steps of the default character LM (``rnnkit train lm``, defaults except the step count and a
   bounded evaluation), reading the cached map.

The bar (issue 17): encoding >= 50 MB/s and a 1 GB corpus training with peak RSS < 2 GB.

    python benchmarks/bench_big_corpus.py                      # 1 GB (needs ~3 GB of free disk in --tmp)
    python benchmarks/bench_big_corpus.py --size 50MB --reference-size 20MB   # a quick check that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import cpu_line  # noqa: E402  (a sibling script: benchmarks/ is on sys.path)

RSS_BAR_MB = 2048
SPEED_BAR_MBS = 50.0
EXTRAS = [" café", " naïve", " Müller", " — ", " ½", " 日本", " 😀", " Æsop", " señor"]
UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}

ENCODE = """
import json, sys, time
from rnnkit.data.text import encode_corpus
start = time.perf_counter()
stream_above = int(sys.argv[3]) if len(sys.argv) > 3 else None
ids, vocab = encode_corpus(sys.argv[1], cache_dir=sys.argv[2], stream_above=stream_above)
print(json.dumps({"seconds": time.perf_counter() - start, "tokens": int(len(ids)), "vocab": len(vocab),
                  "dtype": str(ids.dtype), "mapped": type(ids).__name__ == "memmap"}))
"""
ENCODE_IN_MEMORY = """
import json, sys, time
from rnnkit.data.text import encode_corpus
start = time.perf_counter()
ids, vocab = encode_corpus(sys.argv[1], use_cache=False)  # read whole, as before streaming
print(json.dumps({"seconds": time.perf_counter() - start, "tokens": int(len(ids)), "vocab": len(vocab),
                  "dtype": str(ids.dtype), "mapped": False}))
"""


def parse_size(text: str) -> int:
    """Bytes in '1GB', '50MB', '512KB' or a plain number."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMG]?B?)\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}; use e.g. 1GB or 50MB")
    return int(float(m.group(1)) * UNITS[m.group(2) if m.group(2) in UNITS else m.group(2) + "B"])


def generate(dest: Path, size: int, base: bytes, seed: int = 0) -> None:
    """Write about ``size`` bytes: copies of ``base`` (lines), each with ~0.5% of its lines edited."""
    rng = np.random.default_rng(seed)
    lines = base.split(b"\n")
    extras = [e.encode("utf-8") for e in EXTRAS]
    written = 0
    with open(dest, "wb") as f:
        while written < size:
            edited = list(lines)
            for i in rng.integers(0, len(lines), max(1, len(lines) // 200)):
                edited[i] = edited[i] + extras[rng.integers(len(extras))]
            block = b"\n".join(edited)[: size - written]
            f.write(block)
            written += len(block)


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of a child process; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024, out  # Linux: ru_maxrss in KiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=parse_size, default="1GB", help="corpus size, e.g. 1GB, 50MB")
    p.add_argument("--reference-size", type=parse_size, default="50MB",
                   help="slice encoded by the in-memory reference encoder")
    p.add_argument("--steps", type=int, default=20, help="training steps of the default char LM")
    p.add_argument("--eval-tokens", type=int, default=20_000, help="validation tokens scored (the default is all)")
    p.add_argument("--base", default=None, help="text to repeat (default: tiny Shakespeare from RNNKIT_DATA_DIR)")
    p.add_argument("--tmp", default=None, help="folder for the corpus and cache (default: the system temp dir)")
    args = p.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from rnnkit.data import resolve_data
    from rnnkit.data.streaming import CHUNK_BYTES

    base = Path(args.base) if args.base else resolve_data("tinyshakespeare")
    print(f"CPU: {cpu_line()}")
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="rnnkit-big-") as tmp:
        tmp = Path(tmp)
        corpus, cache = tmp / "corpus.txt", tmp / "cache"
        start = time.perf_counter()
        generate(corpus, args.size, base.read_bytes())
        mb = corpus.stat().st_size / 1e6
        print(f"generated {mb:,.1f} MB of UTF-8 text in {time.perf_counter() - start:.1f} s: {corpus}")
        env = {**os.environ, "RNNKIT_CACHE_DIR": str(cache)}
        src = str(Path(__file__).resolve().parent.parent / "src")
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "") if src not in env.get("PYTHONPATH", "") \
            else env["PYTHONPATH"]

        _, rss, out = run_child([sys.executable, "-c", ENCODE, str(corpus), str(cache / "encoded")], env)
        enc = json.loads(out)
        speed = mb / enc["seconds"]
        print(f"streamed encode: {mb:,.1f} MB in {enc['seconds']:.1f} s = {speed:.1f} MB/s "
              f"(bar {SPEED_BAR_MBS:.0f}: {'ok' if speed >= SPEED_BAR_MBS else 'BELOW'}), "
              f"{enc['tokens']:,} tokens, {enc['vocab']} symbols, {enc['dtype']}, mapped={enc['mapped']}, "
              f"peak RSS {rss:,.0f} MB")

        ref = tmp / "slice.txt"
        with open(corpus, "rb") as f:
            ref.write_bytes(f.read(args.reference_size).rsplit(b"\n", 1)[0] + b"\n")
        ref_mb = ref.stat().st_size / 1e6
        _, ref_rss, out = run_child([sys.executable, "-c", ENCODE_IN_MEMORY, str(ref)], env)
        ref_speed = ref_mb / json.loads(out)["seconds"]
        _, slice_rss, out = run_child([sys.executable, "-c", ENCODE, str(ref), str(tmp / "slice-cache"), "0"],
                                      env)  # stream_above=0: streamed like a large file, whatever the slice's size
        slice_speed = ref_mb / json.loads(out)["seconds"]
        print(f"on a {ref_mb:,.1f} MB slice: in-memory (reference) {ref_speed:.1f} MB/s, peak RSS {ref_rss:,.0f} MB; "
              f"streamed ({CHUNK_BYTES >> 10} KiB chunks) {slice_speed:.1f} MB/s ({slice_speed / ref_speed:.2f}x), "
              f"peak RSS {slice_rss:,.0f} MB")

        run_dir = tmp / "run"
        cmd = [sys.executable, "-m", "rnnkit", "train", "lm", "--data", str(corpus), "--out", str(run_dir),
               "--max-steps", str(args.steps), "--eval-tokens", str(args.eval_tokens), "--no-progress"]
        wall, train_rss, _ = run_child(cmd, env)
        verdict = "ok" if max(rss, train_rss) < RSS_BAR_MB else "ABOVE"
        print(f"train {args.steps} steps of the default char LM on it (cached map): {wall:.1f} s, "
              f"peak RSS {train_rss:,.0f} MB")
        print(f"peak RSS: encode {rss:,.0f} MB, train {train_rss:,.0f} MB (bar {RSS_BAR_MB} MB: {verdict})")
        print(f"command: {' '.join(cmd)}")


if __name__ == "__main__":
    main()
