"""Issue 19: a run's config.json and vocab.json, fed arbitrary bytes or structured-but-wrong JSON, make
open_run return a run or raise RnnkitError with a safe one-line message; never anything else."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.runs import open_run
from tests.fuzz.common import ANY_BYTES, FUZZ, outcome
from tests.runs.edited_runs import train_every_task

TASKS = ("lm", "ngram", "seq2seq", "conditional-lm", "classify", "forecast", "word2vec")
WRONG_VALUES = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, -1, 1, 2, 10**6, 10**9, 10**30, -10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "x", "\x1b[31m", "lstm", "char", "1e9"]),
    st.lists(st.sampled_from([1, "a", None, 0.5]), max_size=3), st.dictionaries(st.sampled_from(["a", "tokens"]),
                                                                                 st.integers(-2, 2), max_size=2))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return train_every_task(tmp_path_factory.mktemp("fuzz_runs"))


def edited_copy(run: Path) -> Path:
    return Path(shutil.copytree(run, Path(tempfile.mkdtemp(prefix="rnnkit-fuzz-")) / run.name))


def paths_of(value, prefix=()):
    """Every (path of keys/indices) to a leaf or container inside a JSON value."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from paths_of(child, (*prefix, key))


def replace_at(value, path, new):
    if not path:
        return new
    value[path[0]] = replace_at(value[path[0]], path[1:], new)
    return value


def delete_at(value, path):
    if len(path) == 1:
        del value[path[0]]
    else:
        delete_at(value[path[0]], path[1:])
    return value


def open_edited(run: Path, name: str, edit) -> None:
    copy = edited_copy(run)
    edit(copy / name)
    loaded = outcome(lambda: open_run(copy))
    if loaded is not None:
        outcome(loaded.predictor)
    shutil.rmtree(copy.parent, ignore_errors=True)


def mutation(data: st.DataObject, stored):
    """The stored JSON with one value replaced by a wrong one, or one key dropped."""
    paths = list(paths_of(stored))
    where = data.draw(st.sampled_from(paths))
    if where and data.draw(st.booleans()) and isinstance(data.draw(st.just(where[-1])), str):
        return delete_at(stored, where)
    return replace_at(stored, where, data.draw(WRONG_VALUES))


@pytest.mark.parametrize("task", TASKS)
@FUZZ
@given(data=st.data())
def test_config_json(runs, task, data):
    stored = json.loads((runs[task] / "config.json").read_text())
    open_edited(runs[task], "config.json",
                lambda p: p.write_text(json.dumps(mutation(data, stored)), encoding="utf-8"))


VOCAB_FILES = {"lm": "vocab.json", "ngram": "vocab.json", "seq2seq": "vocab.json", "conditional-lm": "vocab.json",
               "classify": "vocab.json", "forecast": "series.json"}


@pytest.mark.parametrize("task", sorted(VOCAB_FILES))
@FUZZ
@given(data=st.data())
def test_vocab_json(runs, task, data):
    name = VOCAB_FILES[task]
    stored = json.loads((runs[task] / name).read_text())
    open_edited(runs[task], name, lambda p: p.write_text(json.dumps(mutation(data, stored)), encoding="utf-8"))


@pytest.mark.parametrize("name", ["config.json", "vocab.json"])
@FUZZ
@given(raw=ANY_BYTES)
def test_arbitrary_bytes(runs, name, raw):
    open_edited(runs["lm"], name, lambda p: p.write_bytes(raw))
