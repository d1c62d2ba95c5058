"""Conditional language model: labelled data, conditioning, training through the CLI, sampling by label."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.pairs import read_labelled_texts
from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig
from rnnkit.models.conditional_lm import ConditionalLM, ConditionalLMConfig, Conditioned
from rnnkit.runs import open_run, train
from rnnkit.tasks import conditional_lm as task
from rnnkit.tasks.conditional_lm import ConditionalRunConfig, LabelledDataConfig
from tests.conftest import SHARED_DATA, cli, one_line_error

TINY = ["--hidden-size", 24, "--num-layers", 1, "--embedding-size", 8, "--label-size", 4, "--batch-size", 16,
        "--lr", 0.01, "--precision", "fp32", "--device", "cpu", "--no-progress", "--seed", 5]


@pytest.fixture
def labelled(tmp_path):
    """Three 'languages' whose names are easy to tell apart."""
    folder = tmp_path / "names"
    folder.mkdir()
    stems = {"Oish": ("ov", "ova", "in"), "Aish": ("moto", "yama", "ko"), "Iish": ("ini", "elli", "etti")}
    for label, endings in stems.items():
        lines = [f"{start}{end}" for start in ("Kar", "Bel", "Ser", "Tan", "Mol", "Pir") for end in endings]
        (folder / f"{label}.txt").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    return folder


def test_labelled_texts_from_a_folder_or_a_csv(labelled, tmp_path):
    rows = read_labelled_texts(labelled)
    assert len(rows) == 54 and {label for label, _ in rows} == {"Oish", "Aish", "Iish"}
    assert ("Aish", "Karmoto") in rows
    csv = tmp_path / "rows.csv"
    csv.write_text('Label,Text\nRussian,Ivanov\nItalian,"Rossi"\nItalian,\n', encoding="utf-8")
    assert read_labelled_texts(csv) == [("Russian", "Ivanov"), ("Italian", "Rossi")]
    csv.write_text("a,b\nRussian,Ivanov\n", encoding="utf-8")
    with pytest.raises(RnnkitError, match="needs a header line with 'label' and 'text' columns"):
        read_labelled_texts(csv)
    with pytest.raises(RnnkitError, match="does not exist"):
        read_labelled_texts(tmp_path / "missing")


@pytest.mark.parametrize("conditioning", ["init", "input", "both"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_label_changes_the_predictions(conditioning, cell):
    torch.manual_seed(0)
    model = ConditionalLM(ConditionalLMConfig(vocab_size=10, num_labels=3, cell=cell, hidden_size=12,
                                              embedding_size=6, label_size=4, conditioning=conditioning)).eval()
    ids = torch.randint(4, 10, (2, 5))
    a, _ = model(ids, torch.tensor([0, 0]))
    b, _ = model(ids, torch.tensor([1, 2]))
    assert a.shape == (2, 5, 10) and not torch.allclose(a, b)
    # feeding step by step with the carried state gives the same logits as the whole sequence
    state, steps = None, []
    for t in range(5):
        logits, state = model(ids[:, t: t + 1], torch.tensor([1, 2]), state)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), b, atol=1e-5, rtol=1e-5)
    wrapped, _ = Conditioned(model, torch.tensor([1]))(ids[:1])
    torch.testing.assert_close(wrapped, model(ids[:1], torch.tensor([1]))[0])


def tiny_config(data, **train) -> ConditionalRunConfig:
    defaults = dict(batch_size=16, lr=1e-2, warmup_steps=2, max_steps=20, eval_every=10, log_every=5,
                    precision="fp32", device="cpu", seed=3, save_every=1e9)
    defaults.update(train)
    return ConditionalRunConfig(data=LabelledDataConfig(data=str(data), val_fraction=0.2),
                                model=ConditionalLMConfig(hidden_size=16, num_layers=1, embedding_size=8,
                                                          label_size=4),
                                train=TrainConfig(**defaults))


def test_train_then_load_gives_identical_outputs(labelled, tmp_path, monkeypatch):
    made = []

    class Recording(ConditionalLM):
        def __init__(self, config):
            super().__init__(config)
            made.append(self)

    monkeypatch.setattr(task, "ConditionalLM", Recording)
    summary = train("conditional-lm", tiny_config(labelled), tmp_path / "run", show_progress=False,
                                        log=lambda *_: None)
    assert summary["step"] == 20
    sampler = open_run(tmp_path / "run").predictor()
    assert sampler.labels == ["Aish", "Iish", "Oish"]
    # best.pt holds the weights of the best validation, the in-memory model those of the last step
    best_step = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["step"]
    if best_step == 20:
        ids, labels = torch.tensor([[1, 5, 6, 7]]), torch.tensor([2])
        trained = next(m for m in made if not next(m.parameters()).is_meta).eval()  # not the meta size check
        assert torch.equal(trained(ids, labels)[0], sampler.model(ids, labels)[0])
    again = open_run(tmp_path / "run").predictor()
    cfg = SamplingConfig(length=12, num_samples=3, seed=4)
    assert sampler.sample("Oish", cfg, prime="Ka") == again.sample("Oish", cfg, prime="Ka")
    assert all(name.startswith("Ka") for name in sampler.sample("Oish", cfg, prime="Ka"))


def test_cli_train_sample_eval_resume(labelled, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli("train", "conditional-lm", "--data", labelled, "--out", run, "--max-steps", 500,
                       "--eval-every", 50, *TINY, capsys=capsys)
    assert code == 0, err
    assert "best validation" in err and "3 labels" in err
    assert json.loads((run / "config.json").read_text())["task"] == "conditional-lm"
    code, out, err = cli("sample", run, "--condition", "Aish", "--num-samples", 20, "--temperature", 0.5,
                         "--seed", 1, capsys=capsys)
    assert code == 0, err
    names = out.split()
    assert len(names) == 20
    # after 500 steps the label decides the ending: most Aish samples end like Aish names
    assert sum(n.endswith(("moto", "yama", "ko")) for n in names) >= 12, names
    code, out, _ = cli("sample", run, "--condition", "Iish", "--prime", "Ser", "--num-samples", 3, "--seed", 2,
                       capsys=capsys)
    assert code == 0 and all(n.startswith("Ser") for n in out.split())
    code, _, err = cli("sample", run, "--condition", "Klingon", capsys=capsys)
    assert one_line_error(code, err) == "rnnkit: unknown --condition 'Klingon'; known labels: Aish, Iish, Oish"
    code, _, err = cli("sample", run, capsys=capsys)
    assert "pass --condition LABEL, one of: Aish, Iish, Oish" in one_line_error(code, err)
    code, _, err = cli("sample", run, "--condition", "Aish", "--prime", "Kä", capsys=capsys)
    assert "'ä'" in one_line_error(code, err)
    code, out, _ = cli("eval", run, "--json", capsys=capsys)
    result = json.loads(out)
    assert code == 0 and result["texts"] == 6 and result["nats_per_token"] < 2.0
    code, _, err = cli("train", "--resume", run, "--max-steps", 510, "--no-progress", capsys=capsys)
    assert code == 0 and "resuming" in err and "trained 510 steps" in err


def test_bad_settings_are_one_line_errors(labelled, tmp_path, capsys):
    code, _, err = cli("train", "conditional-lm", "--data", tmp_path / "nothing", "--out", tmp_path / "r",
                       "--max-steps", 1, *TINY, capsys=capsys)
    assert "does not exist" in one_line_error(code, err)
    code, _, err = cli("train", "conditional-lm", "--data", labelled, "--out", tmp_path / "r", "--max-steps", 1,
                       "--conditioning", "sideways", *TINY, capsys=capsys)
    assert "--conditioning must be one of init, input, both" in one_line_error(code, err)
    code, _, err = cli("train", "conditional-lm", "--data", labelled, "--out", tmp_path / "r", "--max-steps", 1,
                       "--max-len", 4, *TINY, capsys=capsys)
    assert "more than --max-len 4" in one_line_error(code, err)


@pytest.mark.skipif(not (SHARED_DATA / "names").is_dir(), reason=f"shared data folder {SHARED_DATA}/names is absent")
def test_shared_names_data_resolves_by_name(monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA_DIR", str(SHARED_DATA))
    train, val, vocab, labels, path = task.load_split(tiny_config("names"))
    assert len(labels) == 18 and {"Russian", "Japanese", "Italian"} <= set(labels)
    assert len(train) + len(val) == 20074 and path == SHARED_DATA / "names"
    assert {label for label, _ in val} == set(labels)  # every language is held out in proportion
