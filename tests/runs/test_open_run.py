"""open_run: every command's way into a trained run, and its refusals of tampered or foreign directories."""

from __future__ import annotations

import json
import math
import resource

import pytest

from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig
from rnnkit.runs import evaluate, open_run, train
from rnnkit.runs.predictors import TextGenerator
from tests.conftest import cli, one_line_error, tiny_config

quiet = dict(show_progress=False, log=lambda *_: None)


@pytest.fixture
def run_dir(corpus, tmp_path):
    out = tmp_path / "run"
    train("lm", tiny_config(corpus, max_steps=6, eval_every=3), out, **quiet)
    return out


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_open_run_loads_a_char_lm_and_its_predictor_answers(run_dir):
    run = open_run(run_dir)
    assert run.task == "lm" and run.path == run_dir and run.device.type == "cpu"
    assert len(run.vocab) == run.config.model.vocab_size and not run.model.training
    generator = run.predictor()
    assert isinstance(generator, TextGenerator) and run.predictor() is generator
    pieces: list[str] = []
    [text] = generator.generate("ANNA", SamplingConfig(length=20, seed=1), stream=pieces.append)
    assert text.startswith("ANNA") and len(text) == 24 and text == "ANNA" + "".join(pieces)
    scores = generator.score("BORIS: the sea is blue, said boris.\n")
    assert math.isfinite(scores["bits_per_token"]) and scores["tokens"] > 30
    assert scores["bits_per_token"] == pytest.approx(scores["nats_per_token"] / math.log(2))
    with pytest.raises(RnnkitError, match="drop --condition"):
        generator.generate("A", SamplingConfig(length=2), condition="x")


def test_evaluate_goes_through_open_run(run_dir):
    result = evaluate(run_dir, device="cpu")
    assert result["token"] == "char" and result["tokens"] > 100 and math.isfinite(result["perplexity"])


def test_a_missing_directory_or_config(tmp_path):
    with pytest.raises(RnnkitError, match="does not exist; train one with 'rnnkit train TASK"):
        open_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RnnkitError, match=r"config.json not found; is .* a run directory made by 'rnnkit train'"):
        open_run(tmp_path / "empty")


def test_config_that_is_a_list(run_dir):
    (run_dir / "config.json").write_text("[1, 2]")
    with pytest.raises(RnnkitError, match=r"config.json holds a JSON list, not a run's settings"):
        open_run(run_dir)


def test_unknown_task(run_dir):
    edit_json(run_dir / "config.json", lambda d: d.update(task="telepathy"))
    with pytest.raises(RnnkitError, match=r"config.json: unknown task 'telepathy'; this rnnkit .* knows lm, classify"):
        open_run(run_dir)


def test_unknown_setting_and_bad_value_name_the_file(run_dir):
    edit_json(run_dir / "config.json", lambda d: d["model"].update(hidden_sise=3))
    with pytest.raises(RnnkitError, match=r"config.json: unknown setting model.hidden_sise"):
        open_run(run_dir)
    edit_json(run_dir / "config.json", lambda d: (d["model"].pop("hidden_sise"), d["model"].update(dropout=3)))
    with pytest.raises(RnnkitError, match=r"config.json: --dropout must be in \[0, 1\), got 3"):
        open_run(run_dir)


def test_a_huge_hidden_size_is_refused_before_allocating(run_dir):
    edit_json(run_dir / "config.json", lambda d: d["model"].update(hidden_size=10**9))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(RnnkitError) as info:
        open_run(run_dir)
    message = str(info.value)
    assert "config.json does not match best.pt: model.hidden_size=1000000000 is far larger" in message
    assert "\n" not in message
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200  # 10^9 hidden units would need terabytes


def test_a_vocabulary_from_another_run(run_dir, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("abc" * 400, encoding="utf-8")
    train("lm", tiny_config(other, max_steps=2), tmp_path / "other", **quiet)
    (run_dir / "vocab.json").write_text((tmp_path / "other" / "vocab.json").read_text())
    with pytest.raises(RnnkitError, match=r"vocab.json gives vocab_size 3 but .*config.json has model.vocab_size=\d+"):
        open_run(run_dir)


def test_a_vocabulary_that_is_not_one(run_dir):
    (run_dir / "vocab.json").write_text('{"tokens": 5}')
    with pytest.raises(RnnkitError, match=r"vocab.json"):
        open_run(run_dir)


def test_a_size_edited_within_reason_names_the_field(run_dir):
    edit_json(run_dir / "config.json", lambda d: d["model"].update(hidden_size=48))
    with pytest.raises(RnnkitError, match=r"config.json does not match best.pt: model.hidden_size=48 makes "
                                          r"recurrent.rnn.weight_ih_l0 \[192, 8\], the checkpoint has \[128, 8\]"):
        open_run(run_dir)


def test_weights_of_another_shape(run_dir, corpus, tmp_path):
    config = tiny_config(corpus, max_steps=2)
    import dataclasses

    bigger = dataclasses.replace(config, model=dataclasses.replace(config.model, num_layers=1))
    train("lm", bigger, tmp_path / "other", **quiet)
    (run_dir / "best.pt").write_bytes((tmp_path / "other" / "best.pt").read_bytes())
    with pytest.raises(RnnkitError, match=r"best.pt lacks recurrent.rnn.\w+_l1: its model does not match .*config"):
        open_run(run_dir)


@pytest.mark.parametrize("command", [["sample", "--length", "5"], ["eval"]])
def test_commands_refuse_a_tampered_run_in_one_line(run_dir, command, capsys):
    edit_json(run_dir / "config.json", lambda d: d["model"].update(hidden_size=10**9))
    code, out, err = cli(command[0], run_dir, *command[1:], capsys=capsys)
    assert "model.hidden_size=1000000000" in one_line_error(code, err) and out == ""


def test_open_run_loads_a_word_lm_and_its_predictor_answers(corpus, tmp_path):
    import dataclasses

    config = tiny_config(corpus, max_steps=6, eval_every=3)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, level="word"))
    train("lm", config, tmp_path / "word", **quiet)
    run = open_run(tmp_path / "word")
    assert run.config.data.level == "word" and run.vocab.tokens[:2] == ("<pad>", "<unk>")
    generator = run.predictor()
    assert isinstance(generator, TextGenerator)
    pieces: list[str] = []
    [text] = generator.generate("ANNA: the", SamplingConfig(length=8, seed=2), stream=pieces.append)
    assert text.startswith("ANNA: the") and text == "ANNA: the" + "".join(pieces)
    scores = generator.score("BORIS: the sea is blue, said boris.\n")
    assert scores["tokens"] == 11 and math.isfinite(scores["perplexity"])  # BORIS : the sea is blue , said boris . \n
