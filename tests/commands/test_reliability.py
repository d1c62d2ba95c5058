"""Issue 19, bad-input cases from the CLI: each is one 'rnnkit:' line with exit 2, or refused without clobbering."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli, one_line_error

TINY = ("--hidden-size", "32", "--num-layers", "1", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16",
        "--eval-every", "2", "--precision", "fp32", "--device", "cpu", "--no-progress")


def _train(corpus, out, *extra, capsys):
    return cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", "2", *TINY, *extra, capsys=capsys)


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    from rnnkit.cli import main

    root = tmp_path_factory.mktemp("rel")
    corpus = root / "c.txt"
    corpus.write_text("the sea is blue, said anna.\n" * 200, encoding="utf-8")
    assert main(["train", "lm", "--data", str(corpus), "--out", str(root / "run"), "--max-steps", "2", *TINY]) == 0
    return root / "run"


@pytest.mark.parametrize("out", ["/proc/x", "/sys/x", "FILE/x"])
def test_out_in_unwritable_place_is_one_line(corpus, out, capsys):
    out = out.replace("FILE", str(corpus))
    code, _, err = _train(corpus, out, capsys=capsys)
    line = one_line_error(code, err)
    assert "/x" in line


def test_out_that_is_a_file_is_refused(corpus, capsys):
    line = one_line_error(*_train(corpus, corpus, capsys=capsys)[::2])
    assert "is a file" in line


@pytest.mark.parametrize("flag, value", [("--eval-every", "0"), ("--warmup-steps", "-5"), ("--save-every", "-1"),
                                         ("--eval-tokens", "0")])
def test_bad_interval_refused_before_training(corpus, tmp_path, flag, value, capsys):
    code, _, err = _train(corpus, tmp_path / "r", flag, value, capsys=capsys)
    assert flag in one_line_error(code, err)
    assert not (tmp_path / "r").exists()


def test_argparse_mistake_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        cli("train", "lm", "--bogus", capsys=capsys)
    err = capsys.readouterr().err
    assert e.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnkit: ") and "--help" in lines[0], err


@pytest.mark.parametrize("task", ["word2vec", "ngram"])
def test_other_task_does_not_clobber_lm_run(lm_run, corpus, task, capsys):
    before = (lm_run / "config.json").read_bytes()
    code, _, err = cli("train", task, "--data", corpus, "--out", lm_run, capsys=capsys)
    assert "already holds a run" in one_line_error(code, err)
    assert (lm_run / "config.json").read_bytes() == before


def test_lm_does_not_clobber_other_run(corpus, tmp_path, capsys):
    out = tmp_path / "ng"
    code, _, err = cli("train", "ngram", "--data", corpus, "--out", out, capsys=capsys)
    assert code == 0, err
    before = (out / "config.json").read_bytes()
    assert "already holds a run" in one_line_error(*_train(corpus, out, capsys=capsys)[::2])
    assert (out / "config.json").read_bytes() == before


def test_non_empty_folder_that_is_not_a_run_is_refused(corpus, tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    line = one_line_error(*_train(corpus, tmp_path, capsys=capsys)[::2])
    assert "not empty" in line
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_sample_unknown_device(lm_run, capsys):
    assert "--device" in one_line_error(*cli("sample", lm_run, "--device", "tpu", capsys=capsys)[::2])


def test_sample_huge_num_samples_refused_by_estimate(lm_run, capsys):
    line = one_line_error(*cli("sample", lm_run, "--num-samples", "1000000000", "--length", "5",
                               capsys=capsys)[::2])
    assert "--num-samples" in line and "GiB" in line


def test_config_holding_a_list(lm_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "edited"
    shutil.copytree(lm_run, run)
    (run / "config.json").write_text(json.dumps([1, 2]))
    assert "config.json" in one_line_error(*cli("sample", run, "--length", "3", capsys=capsys)[::2])


def test_set_with_wrong_type_is_one_line(corpus, tmp_path, capsys):
    line = one_line_error(*_train(corpus, tmp_path / "r", "--set", "model.hidden_size=big", capsys=capsys)[::2])
    assert "hidden" in line and "big" in line
