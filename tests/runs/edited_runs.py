"""One tiny run of every task, trained once per test module, for tests that edit run directories by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

from rnnkit.runs import train

TASKS = ("lm", "ngram", "word2vec", "seq2seq", "conditional-lm", "classify", "forecast")
quiet = dict(show_progress=False, log=lambda *_: None)


def train_every_task(root: Path) -> dict[str, Path]:
    """{task: run directory} of seconds-long runs (hidden sizes 8-32, two steps) under ``root``."""
    from rnnkit.models.word2vec import Word2VecConfig
    from rnnkit.tasks.classify import ClassifyConfig
    from rnnkit.tasks.forecast import ForecastRunConfig
    from rnnkit.tasks.word2vec import Word2VecDataConfig, Word2VecRunConfig
    from tests.conftest import tiny_config
    from tests.runs.test_open_run_ngram_word2vec import ngram_config
    from tests.tasks.test_conditional_lm import tiny_config as conditional_config
    from tests.tasks.test_seq2seq import tiny_run

    corpus = root / "c.txt"
    corpus.write_text("the sea is blue, said anna.\n" * 200, encoding="utf-8")
    words = root / "w.txt"
    words.write_text("cat dog saw drill\n" * 200, encoding="utf-8")
    names = root / "names"
    names.mkdir()
    for label in ("A", "B"):
        (names / f"{label}.txt").write_text("\n".join(f"{label}name{i}" for i in range(20)) + "\n")
    (root / "pos.txt").write_text("good film\ngreat plot\n" * 20)
    (root / "neg.txt").write_text("bad film\ndull plot\n" * 20)
    configs = {
        "lm": tiny_config(corpus, max_steps=2),
        "ngram": ngram_config(corpus),
        "word2vec": Word2VecRunConfig(data=Word2VecDataConfig(data=(str(words),)),
                                      model=Word2VecConfig(dim=8, window=2, min_count=1, subsample=0.0, epochs=1,
                                                           batch_size=64, threads=1, seed=1)),
        "seq2seq": tiny_run(max_steps=2),
        "conditional-lm": conditional_config(names, max_steps=2),
        "classify": ClassifyConfig.from_dict({
            "data": {"data": [f"pos={root / 'pos.txt'}", f"neg={root / 'neg.txt'}"], "val_fraction": 0.2},
            "model": {"embedding_size": 8, "hidden_size": 8},
            "train": {"batch_size": 8, "max_steps": 2, "epochs": None, "device": "cpu", "save_every": 1e9}}),
        "forecast": ForecastRunConfig.from_dict({
            "data": {"data": "airline", "horizon": 6, "input_len": 12}, "model": {"hidden_size": 8},
            "select": {"model": "rnn"},
            "train": {"batch_size": 16, "max_steps": 2, "eval_every": 1, "save_every": 1e9, "device": "cpu"}}),
    }
    runs = {}
    for task in TASKS:
        runs[task] = root / task
        train(task, configs[task], runs[task], **quiet)
    return runs


def copy_run(run: Path, tmp_path: Path) -> Path:
    """A copy of ``run`` to edit."""
    return Path(shutil.copytree(run, tmp_path / run.name))
