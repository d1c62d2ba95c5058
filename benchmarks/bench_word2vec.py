"""word2vec: rnnkit beside gensim on the same corpus and hyper-parameters: words/second and evaluation scores.

    RNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_word2vec.py [--epochs 5] [--architecture skipgram]

Corpus: Seinfeld scripts + tiny Shakespeare + rt-polarity (pos and neg), lowercased, words only, one sentence
a line. Both libraries get the same tokenized sentences, the same hyper-parameters and 2 worker threads;
both are scored by the same functions (wordsim353 Spearman, analogy accuracy, coverage) on gensim's test files.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from rnnkit.models.word2vec import Word2VecConfig, train_word2vec
from rnnkit.tasks.word2vec import (
    Word2VecDataConfig,
    analogy_accuracy,
    evaluation_file,
    read_sentences,
    word_pair_spearman,
)

DATA = Path(os.environ.get("RNNKIT_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
FILES = ("seinfeld/Seinfeld_Scripts.txt", "tinyshakespeare/input.txt", "rt-polarity/rt-polarity.pos",
         "rt-polarity/rt-polarity.neg")


def scores(words, vectors) -> dict[str, float]:
    ws = word_pair_spearman(words, vectors, evaluation_file("wordsim353.tsv"))
    an = analogy_accuracy(words, vectors, evaluation_file("questions-words.txt"))
    return {"spearman": ws["spearman"], "ws_cov": ws["coverage"], "analogy": an["accuracy"], "an_cov": an["coverage"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--architecture", default="skipgram", choices=["skipgram", "cbow"])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--subsample", type=float, default=1e-3)
    p.add_argument("--lr", type=float, default=0.025)
    p.add_argument("--batch-size", type=int, default=Word2VecConfig.batch_size)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1, help="first seed")
    p.add_argument("--seeds", type=int, default=3, help="seeds per library (scores vary a lot on a 1M-word corpus)")
    p.add_argument("--skip-gensim", action="store_true")
    args = p.parse_args()
    from gensim.models import Word2Vec

    sentences = read_sentences(Word2VecDataConfig(data=tuple(str(DATA / f) for f in FILES)))
    n_words = sum(map(len, sentences))
    print(f"corpus: {n_words:,} words, {len(sentences):,} lines; {args.architecture}, dim {args.dim}, "
          f"window {args.window}, negative {args.negative}, min_count {args.min_count}, subsample {args.subsample}, "
          f"epochs {args.epochs}, lr {args.lr}, threads {args.threads}; load average {os.getloadavg()[0]:.2f}")
    rows = []
    for seed in range(args.seed, args.seed + args.seeds):
        config = Word2VecConfig(architecture=args.architecture, dim=args.dim, window=args.window,
                                negative=args.negative, min_count=args.min_count, subsample=args.subsample,
                                epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, threads=args.threads,
                                seed=seed)
        ours = train_word2vec(sentences, config)
        rows.append(("rnnkit", seed, ours.seconds, ours.words_per_second, len(ours.words),
                     scores(ours.words, ours.vectors)))
        if not args.skip_gensim:
            start = time.perf_counter()
            model = Word2Vec(sentences, vector_size=args.dim, window=args.window, negative=args.negative, hs=0,
                             min_count=args.min_count, sample=args.subsample, epochs=args.epochs, alpha=args.lr,
                             min_alpha=1e-4, sg=int(args.architecture == "skipgram"), workers=args.threads,
                             seed=seed)
            seconds = time.perf_counter() - start  # includes gensim's vocabulary scan, as ours does
            kv = model.wv
            rows.append(("gensim", seed, seconds, n_words * args.epochs / seconds, len(kv.index_to_key),
                         scores(list(kv.index_to_key), kv.vectors)))
    print("\n| library | seed | train s | words/s | vocab | wordsim353 Spearman (coverage) | analogy acc (coverage) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, seed, seconds, wps, vocab, s in rows:
        print(f"| {name} | {seed} | {seconds:.1f} | {wps:,.0f} | {vocab:,} | {s['spearman']:.3f} ({s['ws_cov']:.0%}) | "
              f"{s['analogy']:.3f} ({s['an_cov']:.1%}) |")
    means = {}
    for name in ("rnnkit", "gensim"):
        mine = [r for r in rows if r[0] == name]
        if mine:
            means[name] = {key: float(np.mean([r[5][key] for r in mine])) for key in ("spearman", "analogy")}
            means[name]["wps"] = float(np.mean([r[3] for r in mine]))
            sd = float(np.std([r[5]["spearman"] for r in mine]))
            print(f"{name}: mean over {len(mine)} seeds: words/s {means[name]['wps']:,.0f}, wordsim353 Spearman "
                  f"{means[name]['spearman']:.3f} (sd {sd:.3f}), analogy {means[name]['analogy']:.3f}")
    rows = [("rnnkit", 0, 0, means["rnnkit"]["wps"], 0, means["rnnkit"])]
    if "gensim" in means:
        rows.append(("gensim", 0, 0, means["gensim"]["wps"], 0, means["gensim"]))
    if len(rows) == 2:
        (_, _, _, wps_r, _, s_r), (_, _, _, wps_g, _, s_g) = rows
        print(f"\nrnnkit / gensim (means over seeds): words/s {wps_r / wps_g:.2f}x, "
              f"wordsim353 Spearman {s_r['spearman'] / s_g['spearman']:.2f}x, "
              f"analogy accuracy {s_r['analogy'] / max(s_g['analogy'], 1e-12):.2f}x")


if __name__ == "__main__":
    main()
