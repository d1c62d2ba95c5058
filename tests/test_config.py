"""Config machinery: TOML files, --set values, merging, durations, sections and default budgets."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rnnkit.commands.common import parse_value
from rnnkit.config import (
    TrainConfig,
    build_section,
    check_sections,
    load_toml,
    merge,
    parse_duration,
    with_default_time,
)
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write, atomic_write_text
from rnnkit.tasks.classify import ClassifyConfig
from rnnkit.tasks.lm import TRAIN_DEFAULTS, RunConfig
from tests.conftest import cli


def test_toml_file_and_its_errors(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[model]\nhidden_size = 64\n[train]\nlr = 0.01\n')
    assert load_toml(path) == {"model": {"hidden_size": 64}, "train": {"lr": 0.01}}
    with pytest.raises(RnnkitError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")
    path.write_text("[model\n")
    with pytest.raises(RnnkitError, match="is not valid TOML"):
        load_toml(path)


def test_merge_is_nested_and_leaves_its_inputs_alone():
    base = {"model": {"hidden_size": 64, "cell": "gru"}, "train": {"lr": 0.1}}
    merged = merge(base, {"model": {"hidden_size": 32}, "data": {"data": "x"}})
    assert merged == {"model": {"hidden_size": 32, "cell": "gru"}, "train": {"lr": 0.1}, "data": {"data": "x"}}
    assert base["model"]["hidden_size"] == 64


def test_set_values_parse_as_toml_scalars():
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5 and parse_value("true") is True
    assert parse_value("gru") == "gru"


def test_durations():
    assert parse_duration("90") == 90 and parse_duration("90s") == 90
    assert parse_duration("10m") == 600 and parse_duration("1.5h") == 5400
    with pytest.raises(RnnkitError, match="is not a duration; use e.g. 90s, 10m or 1.5h"):
        parse_duration("ten minutes")


def test_sections_and_settings_are_checked():
    with pytest.raises(RnnkitError, match=r"unknown config section \[trian\]; expected \[data\], \[model\] or "):
        RunConfig.from_dict({"trian": {}})
    with pytest.raises(RnnkitError, match="unknown setting train.learning_rate; known .train. settings:"):
        build_section(TrainConfig, {"learning_rate": 1}, "train")
    with pytest.raises(RnnkitError, match=r"\[train\] must be a table of settings, got list"):
        build_section(TrainConfig, [1], "train")
    check_sections({"data": {}}, ("data",))


def test_a_config_round_trips_through_its_dict():
    config = RunConfig.from_dict({"model": {"hidden_size": 48}, "train": {"max_steps": 5}})
    assert RunConfig.from_dict(config.to_dict()) == config
    assert config.model.hidden_size == 48 and config.model.vocab_size == 0


def test_default_time_applies_only_without_a_budget():
    bare = RunConfig()
    assert with_default_time(bare, 600).train.time == 600
    stepped = dataclasses.replace(bare, train=TrainConfig(max_steps=3))
    assert with_default_time(stepped, 600).train.time is None


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    dest = tmp_path / "sub" / "file.txt"
    atomic_write_text(dest, "first")

    def fail(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(dest, fail)
    assert dest.read_text() == "first"
    assert [p.name for p in dest.parent.iterdir()] == ["file.txt"]  # no temp file left behind


def test_the_language_models_own_train_defaults_reach_every_way_a_config_is_made(corpus, tmp_path, capsys):
    lm_lr = TRAIN_DEFAULTS["lr"]
    assert lm_lr != TrainConfig().lr  # the LM's learning rate is its own, not the shared [train] default
    assert RunConfig().train.lr == lm_lr and RunConfig.from_dict({}).train.lr == lm_lr
    partial = RunConfig.from_dict({"train": {"max_steps": 3}})  # a TOML [train] table without lr
    assert partial.train.lr == lm_lr and partial.train.max_steps == 3
    assert RunConfig.from_dict({"train": {"lr": 0.02}}).train.lr == 0.02  # a stored or given lr wins
    assert ClassifyConfig.from_dict({}).train.lr != lm_lr  # another task keeps its own
    code, _, err = cli("train", "lm", "--data", corpus, "--out", tmp_path / "run", "--max-steps", 1, "--hidden-size",
                       16, "--num-layers", 1, "--batch-size", 2, "--seq-len", 8, "--precision", "fp32", "--device",
                       "cpu", "--no-progress", capsys=capsys)
    assert code == 0, err
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["train"]["lr"] == lm_lr and stored["model"]["dropout"] == RunConfig().model.dropout
