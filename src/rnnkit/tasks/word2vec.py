"""word2vec: train word vectors on text files, save them in gensim's formats, and evaluate them.

A run directory holds ``config.json`` (``"task": "word2vec"``), ``vectors.txt`` (word2vec text format)
and ``vectors.bin`` (word2vec binary format); both load with gensim's
``KeyedVectors.load_word2vec_format`` and with ``rnnkit.data.vectors.load_word2vec``. The task
(``TASK``) trains the vectors in one go (``fit``); ``rnnkit.runs`` claims the run directory, writes
config.json and opens the run, whose predictor (``Word2VecVectors``) answers ``similar`` and ``analogy``.
Evaluation follows gensim's ``evaluate_word_pairs`` / ``evaluate_word_analogies``: lowercased,
restricted to the vocabulary, with the share of pairs or questions covered reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.config import RunSections, build_run_config
from rnnkit.data import read_text, resolve_data
from rnnkit.data.vectors import load_word2vec, save_word2vec
from rnnkit.data.words import TokenizerConfig, tokenize
from rnnkit.errors import RnnkitError
from rnnkit.models.word2vec import Word2VecConfig, most_similar, spearman, train_word2vec, unit_rows
from rnnkit.tasks.base import Context, Fitted, Task

TEXT_FILE, BINARY_FILE = "vectors.txt", "vectors.bin"
ANALOGY_RESTRICT = 300_000  # gensim's evaluate_word_analogies default: only the most frequent words answer


@dataclass(frozen=True)
class Word2VecDataConfig:
    """The training text: one or more files or named datasets, read line by line (a line is a sentence)."""

    data: tuple[str, ...] = ("tinyshakespeare",)
    encoding: str = "utf-8"
    lowercase: bool = True
    punctuation: str = "drop"  # drop: words only; split: punctuation marks are words too; keep: split on spaces


@dataclass(frozen=True)
class Word2VecRunConfig(RunSections):
    """A word2vec run: data and model sections."""

    data: Word2VecDataConfig = field(default_factory=Word2VecDataConfig)
    model: Word2VecConfig = field(default_factory=Word2VecConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word2VecRunConfig:
        data = dict(d.get("data", {}))
        if isinstance(data.get("data"), str):
            data["data"] = (data["data"],)
        elif data.get("data") is not None:
            data["data"] = tuple(data["data"])
        return build_run_config(cls, d, data=data)

    def validate(self) -> Word2VecRunConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        self.model.validate()
        return self


def read_sentences(data: Word2VecDataConfig) -> list[list[str]]:
    """Tokenized non-empty lines of every data file, in order."""
    tokenizer = TokenizerConfig(lower=data.lowercase, punctuation=data.punctuation, newlines=False).validate()
    sentences: list[list[str]] = []
    for name in data.data:
        text = read_text(resolve_data(name), data.encoding)
        sentences += [tokens for line in text.splitlines() if (tokens := tokenize(line, tokenizer))]
    if not sentences:
        raise RnnkitError(f"no words in {', '.join(data.data)}; pass a text file with words in it")
    return sentences


def evaluation_file(name: str) -> Path:
    """``wordsim353.tsv`` or ``questions-words.txt`` from the gensim wheel's test data (no download)."""
    try:
        from gensim.test.utils import datapath
    except ImportError:
        raise RnnkitError(f"{name} ships with gensim; pip install gensim, or pass --data FILE") from None
    return Path(datapath(name))


def word_pair_spearman(words: list[str], vectors: np.ndarray, path: str | Path) -> dict[str, float]:
    """Spearman correlation of cosine similarity with human scores (tab-separated ``w1 w2 score``, ``#`` comments)."""
    index = {w: i for i, w in enumerate(words)}
    unit = unit_rows(vectors)
    sims, human, total = [], [], 0
    for line in read_text(path).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise RnnkitError(f"{path}: expected 'word1<TAB>word2<TAB>score' lines, got {line!r}")
        total += 1
        a, b = parts[0].lower(), parts[1].lower()
        if a in index and b in index:
            sims.append(float(unit[index[a]] @ unit[index[b]]))
            human.append(float(parts[2]))
    rho = spearman(np.array(sims), np.array(human)) if len(sims) >= 2 else float("nan")
    return {"spearman": rho, "pairs": total, "covered": len(sims), "coverage": len(sims) / max(total, 1)}


def analogy_accuracy(words: list[str], vectors: np.ndarray, path: str | Path,
                     restrict: int = ANALOGY_RESTRICT) -> dict[str, float]:
    """3CosAdd accuracy on ``a b c d`` questions (``:`` section lines) among those whose words are all known."""
    index = {w: i for i, w in enumerate(words[:restrict])}
    questions, total = [], 0
    for line in read_text(path).splitlines():
        if not line.strip() or line.startswith(":"):
            continue
        parts = line.lower().split()
        if len(parts) != 4:
            raise RnnkitError(f"{path}: expected analogy lines 'a b c d', got {line!r}")
        total += 1
        if all(p in index for p in parts):
            questions.append([index[p] for p in parts])
    unit = unit_rows(vectors[: len(index)])
    q = np.array(questions, dtype=np.int64).reshape(-1, 4)
    correct = 0
    for lo in range(0, len(q), 1024):
        a, b, c, d = q[lo:lo + 1024].T
        sims = (unit[b] - unit[a] + unit[c]) @ unit.T  # (Q, V)
        rows = np.arange(len(a))
        sims[rows, a] = sims[rows, b] = sims[rows, c] = -np.inf  # the question words never answer
        correct += int((sims.argmax(1) == d).sum())
    return {"accuracy": correct / len(q) if len(q) else float("nan"), "correct": correct,
            "questions": total, "covered": len(q), "coverage": len(q) / max(total, 1)}


def evaluate_vectors(words: list[str], vectors: np.ndarray, data: str | None = None) -> dict[str, Any]:
    """wordsim353 Spearman and analogy accuracy (gensim's test files), or the score of one ``data`` file."""
    if data is not None:
        path = resolve_data(data)
        first = next((line for line in read_text(path).splitlines() if line.strip()), "")
        if first.startswith(":") or len(first.split()) == 4 and "\t" not in first:
            return {"analogy": analogy_accuracy(words, vectors, path)}
        return {"word_pairs": word_pair_spearman(words, vectors, path)}
    return {"wordsim353": word_pair_spearman(words, vectors, evaluation_file("wordsim353.tsv")),
            "analogy": analogy_accuracy(words, vectors, evaluation_file("questions-words.txt"))}


@dataclass
class Word2VecVectors:
    """The vectors of a word2vec run: nearest neighbours and analogies by cosine (``WordVectors``).

    Query words are looked up lowercased when that form is in the vocabulary (training lowercases by default).
    """

    words: list[str]
    vectors: np.ndarray  # (V, D) float32, most frequent word first

    def __post_init__(self) -> None:
        self._vocabulary = set(self.words)

    def similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` nearest neighbours (cosine) of ``word`` (its lowercase form when that is known)."""
        return most_similar(self.words, self.vectors, [word.lower() if word.lower() in self._vocabulary else word],
                            topn=topn)

    def analogy(self, a: str, b: str, c: str, topn: int = 5) -> list[tuple[str, float]]:
        """Answers to ``a is to b as c is to ?`` (b - a + c, nearest by cosine); a word not in the vocabulary
        is looked up lowercased."""
        known = self._vocabulary
        a, b, c = (w.lower() if w not in known and w.lower() in known else w for w in (a, b, c))
        return most_similar(self.words, self.vectors, [b, c], [a], topn=topn)


class Word2VecTask(Task):
    """``rnnkit train word2vec``: skip-gram or CBOW vectors with negative sampling."""

    name = "word2vec"
    config_class = Word2VecRunConfig
    vocab_class = None  # the words are the rows of vectors.bin
    default_time = None  # a number of epochs, not a time budget
    trains = False

    def fit(self, config: Word2VecRunConfig, ctx: Context) -> Fitted:
        """Train the vectors and write vectors.txt and vectors.bin into ``ctx.out``."""
        start = time.perf_counter()
        sentences = read_sentences(config.data)
        ctx.log(f"rnnkit: read {sum(map(len, sentences)):,} words in {len(sentences):,} lines "
                f"in {time.perf_counter() - start:.1f}s; training {config.model.architecture}")
        result = train_word2vec(sentences, config.model)
        ctx.out.mkdir(parents=True, exist_ok=True)
        save_word2vec(ctx.out / TEXT_FILE, result.words, result.vectors)
        save_word2vec(ctx.out / BINARY_FILE, result.words, result.vectors, binary=True)
        meta = {"vocab_size": len(result.words), "corpus_words": result.corpus_words, "pairs": result.pairs,
                "train_seconds": result.seconds, "words_per_second": result.words_per_second}
        return Fitted(None, meta, {})

    def load_model(self, run_dir: Path, config: Word2VecRunConfig, vocab: None,
                   device: torch.device) -> tuple[list[str], np.ndarray]:
        """The (words, vectors (V, D)) of vectors.bin."""
        return load_word2vec(run_dir / BINARY_FILE)

    def predictor(self, run: Any) -> Word2VecVectors:
        return Word2VecVectors(*run.model)

    def evaluate(self, run: Any, data: str | None = None) -> dict[str, Any]:
        """wordsim353 Spearman and analogy accuracy, or the score of one ``data`` file."""
        return evaluate_vectors(*run.model, data)


TASK = Word2VecTask()

__all__ = ["BINARY_FILE", "TASK", "TEXT_FILE", "Word2VecDataConfig", "Word2VecRunConfig", "Word2VecTask",
           "Word2VecVectors", "analogy_accuracy", "evaluate_vectors", "evaluation_file", "read_sentences",
           "word_pair_spearman"]
