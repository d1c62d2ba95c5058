"""Issue 19, the run lifecycle: --force, last.pt from step 0, the loss window after a resume, orphan .part files,
the data file's content hash, resuming a finished run, and a non-finite loss or --lr."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from rnnkit import checkpoint as ckpt
from rnnkit.data import datasets
from rnnkit.errors import RnnkitError
from rnnkit.runs import datahash, resume, train
from rnnkit.tasks import lm
from rnnkit.training.trainer import TrainingInterrupted
from tests.conftest import cli, fail_lm_loss_at, one_line_error, tiny_config

TINY = ("--hidden-size", "32", "--num-layers", "1", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16",
        "--eval-every", "3", "--precision", "fp32", "--device", "cpu", "--dropout", "0", "--no-progress")


def quiet_log(lines: list[str]):
    return dict(show_progress=False, log=lines.append)


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / ckpt.METRICS_FILE).read_text().splitlines()]


def interrupt_at(step: int, monkeypatch):
    """Make the LM loss raise KeyboardInterrupt (what Ctrl-C raises) at training step ``step``."""
    return fail_lm_loss_at(step, monkeypatch, KeyboardInterrupt())


# -- 1. --force ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("existing", ["lm run", "ngram run", "folder of files"])
def test_force_moves_the_old_one_aside(corpus, tmp_path, existing, capsys):
    out = tmp_path / "out"
    if existing == "lm run":
        assert cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", "2", *TINY, capsys=capsys)[0] == 0
    elif existing == "ngram run":
        assert cli("train", "ngram", "--data", corpus, "--out", out, capsys=capsys)[0] == 0
    else:
        out.mkdir()
        (out / "mine.txt").write_text("keep me")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    refused = one_line_error(*cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", "2", *TINY,
                                  capsys=capsys)[::2])
    assert "--force" in refused  # the refusal names the fix
    code, _, err = cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", "2", "--force", *TINY,
                       capsys=capsys)
    assert code == 0, err
    moved = [line for line in err.splitlines() if "aside" in line]
    assert len(moved) == 1 and "--force" in moved[0], err
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith("out.old-")]
    assert str(aside) in moved[0]
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == before  # nothing deleted or changed
    assert ckpt.load_tensors(out / ckpt.LAST_FILE)["state"]["step"] == 2  # the new run


def test_force_on_an_empty_or_new_folder_moves_nothing(corpus, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new"):
        code, _, err = cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", "2", "--force", *TINY,
                           capsys=capsys)
        assert code == 0 and "aside" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "empty", "new"]


def test_force_never_moves_the_data_or_the_current_folder(corpus, tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    line = one_line_error(*cli("train", "lm", "--data", corpus, "--out", tmp_path, "--max-steps", "2", "--force",
                               *TINY, capsys=capsys)[::2])
    assert "holds the data file" in line
    monkeypatch.chdir(tmp_path)
    line = one_line_error(*cli("train", "lm", "--data", corpus, "--out", ".", "--max-steps", "2", "--force", *TINY,
                               capsys=capsys)[::2])
    assert "current folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "notes.txt"]


def test_a_run_killed_while_writing_its_config_can_be_started_again(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json.x1y2z3.part").write_text('{"task": "l')  # all a kill left
    code, _, err = cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", "2", *TINY, capsys=capsys)
    assert code == 0, err


# -- 2. last.pt from step 0 ---------------------------------------------------------------------------------
def test_run_stopped_before_its_first_periodic_save_resumes(corpus, tmp_path, monkeypatch):
    """save_every is 1e9 seconds in tiny_config: only the step-0 checkpoint exists when the crash comes."""
    config = tiny_config(corpus, max_steps=12)
    straight = train("lm", config, tmp_path / "straight", show_progress=False, log=lambda _: None)
    restore = fail_lm_loss_at(8, monkeypatch, SystemExit(137))  # after the validation at step 5 printed its line
    with pytest.raises(SystemExit):
        train("lm", config, tmp_path / "crashed", show_progress=False, log=lambda _: None)
    restore()
    assert any("val_loss" in r for r in rows(tmp_path / "crashed"))  # it had validated
    assert ckpt.load_tensors(tmp_path / "crashed" / ckpt.LAST_FILE)["state"]["step"] == 0
    summary = resume(tmp_path / "crashed", show_progress=False, log=lambda _: None)
    assert summary["step"] == 12 and summary["best_val"] == straight["best_val"]
    steps = [r["step"] for r in rows(tmp_path / "crashed") if "loss" in r]
    assert steps == [2, 4, 6, 8, 10, 12]  # the lost attempt's rows were dropped, none duplicated


def test_run_without_last_pt_starts_again_from_its_stored_settings(corpus, tmp_path):
    """A run from before step-0 checkpoints (or killed between config.json and last.pt) still resumes."""
    out = tmp_path / "run"
    first = train("lm", tiny_config(corpus, max_steps=6), out, show_progress=False, log=lambda _: None)
    (out / ckpt.LAST_FILE).unlink()
    lines: list[str] = []
    again = resume(out, **quiet_log(lines))
    assert any("no last.pt" in line and "step 0" in line for line in lines), lines
    assert again["step"] == 6 and again["best_val"] == first["best_val"]
    assert [r["step"] for r in rows(out) if "loss" in r] == [2, 4, 6]


# -- 3. the logged loss after a resume ----------------------------------------------------------------------
def test_first_loss_after_resume_averages_only_the_steps_since_the_resume(corpus, tmp_path, monkeypatch):
    # per-step losses of the uninterrupted run (log_every=1); logging does not change training
    train("lm", tiny_config(corpus, max_steps=30, log_every=1), tmp_path / "each", show_progress=False,
          log=lambda _: None)
    per_step = {r["step"]: r["loss"] for r in rows(tmp_path / "each") if "loss" in r}
    config = tiny_config(corpus, max_steps=30, log_every=10)
    train("lm", config, tmp_path / "straight", show_progress=False, log=lambda _: None)
    restore = interrupt_at(17, monkeypatch)
    with pytest.raises(TrainingInterrupted):
        train("lm", config, tmp_path / "resumed", show_progress=False, log=lambda _: None)
    restore()
    resume(tmp_path / "resumed", show_progress=False, log=lambda _: None)

    resumed = {r["step"]: r["loss"] for r in rows(tmp_path / "resumed") if "loss" in r}
    straight = {r["step"]: r["loss"] for r in rows(tmp_path / "straight") if "loss" in r}
    assert resumed[20] == pytest.approx(sum(per_step[k] for k in range(17, 21)) / 4, rel=1e-6)  # steps 17..20
    assert resumed[20] == pytest.approx(straight[20], rel=0.2)  # not 4/10 of it, as before the fix
    assert resumed[30] == pytest.approx(straight[30], rel=1e-6)


# -- 5. orphan .part files ----------------------------------------------------------------------------------
def test_resume_removes_orphan_part_files(corpus, tmp_path):
    out = tmp_path / "run"
    train("lm", tiny_config(corpus, max_steps=4), out, show_progress=False, log=lambda _: None)
    orphans = [out / "last.pt.k3j4h5.part", out / "best.pt.a1b2c3.part"]
    for orphan in orphans:
        orphan.write_bytes(b"half a checkpoint")
    lines: list[str] = []
    resume(out, {"max_steps": 6}, **quiet_log(lines))
    assert not any(o.exists() for o in orphans)
    assert sum("removed" in line and ".part" in line for line in lines) == 2, lines


# -- 6. the data file's content hash ------------------------------------------------------------------------
def test_resume_on_changed_data_is_refused_unless_allowed(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", "2", *TINY, capsys=capsys)[0] == 0
    stored = json.loads((out / ckpt.CONFIG_FILE).read_text())["meta"][datahash.META_KEY]
    assert stored == {str(corpus.resolve()): hashlib.sha256(corpus.read_bytes()).hexdigest()}

    with open(corpus, "a", encoding="utf-8") as f:  # its characters are all in the vocabulary
        f.write("ANNA: the sea is red, said boris.\n")
    kept = {name: (out / name).read_bytes() for name in (ckpt.LAST_FILE, ckpt.METRICS_FILE, ckpt.CONFIG_FILE)}
    line = one_line_error(*cli("train", "--resume", out, "--max-steps", "4", capsys=capsys)[::2])
    assert str(corpus.resolve()) in line and "--allow-data-change" in line
    assert {name: (out / name).read_bytes() for name in kept} == kept

    code, _, err = cli("train", "--resume", out, "--max-steps", "4", "--allow-data-change", capsys=capsys)
    assert code == 0, err
    assert any("changed" in ln and "--allow-data-change" in ln for ln in err.splitlines()), err
    assert ckpt.load_tensors(out / ckpt.LAST_FILE)["state"]["step"] == 4
    now = json.loads((out / ckpt.CONFIG_FILE).read_text())["meta"][datahash.META_KEY]
    assert now == {str(corpus.resolve()): hashlib.sha256(corpus.read_bytes()).hexdigest()}  # the new data's
    assert cli("train", "--resume", out, "--max-steps", "6", capsys=capsys)[0] == 0  # no refusal any more


def test_content_hash_streams_files_and_covers_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_CHUNK_BYTES", 7)  # many chunks: the streaming path
    data = bytes(range(256)) * 40
    (tmp_path / "a.bin").write_bytes(data)
    assert datahash.content_hash(tmp_path / "a.bin") == hashlib.sha256(data).hexdigest()
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "pos.txt").write_text("good\n")
    (folder / "neg.txt").write_text("bad\n")
    before = datahash.content_hash(folder)
    (folder / "neg.txt").write_text("worse\n")
    assert datahash.content_hash(folder) != before


# -- 7. resuming a finished run -----------------------------------------------------------------------------
def test_resume_of_a_finished_run_says_so_and_writes_nothing(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    # 4 steps with --eval-every 3: the closing validation at step 4 is off the cycle, the duplicate-row case
    assert cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", "4", *TINY, capsys=capsys)[0] == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    code, out_text, err = cli("train", "--resume", out, capsys=capsys)
    assert code == 0 and out_text == ""
    [line] = err.strip().splitlines()
    assert line.startswith("rnnkit: ") and "finished" in line and f"--resume {out} --max-steps 8" in line, err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before
    assert [r["step"] for r in rows(out) if "val_loss" in r] == [3, 4]
    code, _, err = cli("train", "--resume", out, "--max-steps", "3", capsys=capsys)  # a budget below what is done
    assert code == 0 and "finished" in err and "--max-steps 8" in err, err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before

    assert cli("train", "--resume", out, "--max-steps", "8", capsys=capsys)[0] == 0  # the way to train longer
    assert [r["step"] for r in rows(out) if "val_loss" in r] == [3, 4, 6, 8]


# -- 8. non-finite loss and --lr ----------------------------------------------------------------------------
@pytest.mark.parametrize("flag", [("--lr", "inf"), ("--lr", "nan"), ("--lr=-inf",), ("--set", "train.lr=inf")])
def test_non_finite_lr_is_refused_up_front(corpus, tmp_path, flag, capsys):
    code, _, err = cli("train", "lm", "--data", corpus, "--out", tmp_path / "r", "--max-steps", "2", *TINY, *flag,
                       capsys=capsys)
    assert "lr must be a finite" in one_line_error(code, err)  # the type check of the settings or --lr's own
    assert not (tmp_path / "r").exists()


def test_loss_that_turns_nan_at_once_says_what_last_pt_holds(corpus, tmp_path, monkeypatch):
    real_loss = lm.lm_loss

    def nan_loss(*args):
        loss, state = real_loss(*args)
        return loss * math.nan, state

    monkeypatch.setattr(lm, "lm_loss", nan_loss)
    with pytest.raises(RnnkitError) as info:
        train("lm", tiny_config(corpus), tmp_path / "run", show_progress=False, log=lambda _: None)
    message = str(info.value)
    assert "loss became nan at step 1" in message
    assert "last good checkpoint" not in message and "untrained weights (step 0)" in message
    assert ckpt.load_tensors(tmp_path / "run" / ckpt.LAST_FILE)["state"]["step"] == 0  # what it says is true
