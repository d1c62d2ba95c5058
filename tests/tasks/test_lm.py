"""The language-model task end to end: train, resume exactly, save/load, NaN guard, evaluation."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from unittest import mock

import pytest
import torch
import torch.serialization

from rnnkit import checkpoint as ckpt
from rnnkit.errors import RnnkitError
from rnnkit.runs import evaluate, open_run, resume, train
from rnnkit.tasks import lm
from rnnkit.training.trainer import TrainingInterrupted
from tests.conftest import fail_lm_loss_at, tiny_config

quiet = dict(show_progress=False, log=lambda *_: None)


def final_weights(run_dir):
    return ckpt.load_tensors(run_dir / ckpt.LAST_FILE)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_train_writes_a_complete_run_directory(corpus, tmp_path):
    out = tmp_path / "run"
    summary = train("lm", tiny_config(corpus), out, **quiet)
    assert summary["step"] == 12
    for name in ("config.json", "vocab.json", "last.pt", "best.pt", "metrics.jsonl", "loss.png"):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [2, 4, 6, 8, 10, 12]
    assert all(math.isclose(r["bpt"], r["loss"] / math.log(2)) for r in train_rows)
    assert [r["step"] for r in rows if "val_loss" in r] == [5, 10, 12]
    assert train_rows[-1]["loss"] < train_rows[0]["loss"]  # it learns


@pytest.mark.parametrize("batching", ["stream", "random"])
def test_interrupted_run_resumes_to_identical_weights(corpus, tmp_path, batching, monkeypatch):
    # 40 steps cross an epoch boundary (the corpus gives 9 windows of 4x16 per epoch)
    config = tiny_config(corpus, max_steps=40)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, batching=batching))
    train("lm", config, tmp_path / "straight", **quiet)

    calls = {"n": 0}
    real_loss = lm.lm_loss

    def interrupt_at_step_17(*args):
        calls["n"] += args[0].training  # count training steps, not validation windows
        if calls["n"] == 17:
            raise KeyboardInterrupt  # what Ctrl-C raises
        return real_loss(*args)

    monkeypatch.setattr(lm, "lm_loss", interrupt_at_step_17)
    with pytest.raises(TrainingInterrupted) as info:
        train("lm", config, tmp_path / "interrupted", **quiet)
    assert info.value.step == 16
    monkeypatch.setattr(lm, "lm_loss", real_loss)
    assert ckpt.load_tensors(tmp_path / "interrupted" / "last.pt")["state"]["step"] == 16

    summary = resume(tmp_path / "interrupted", **quiet)
    assert summary["step"] == 40
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "interrupted"))
    # metrics are not duplicated by the resume
    steps = [json.loads(r)["step"] for r in (tmp_path / "interrupted" / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(r)]
    assert steps == sorted(set(steps))


def test_crash_after_a_checkpoint_resumes_exactly(corpus, tmp_path, monkeypatch):
    """kill -9 after a checkpoint: nothing saved at the crash, resume from the last periodic save."""
    config = tiny_config(corpus, max_steps=20, save_every=0.0)  # save last.pt after every step
    train("lm", config, tmp_path / "straight", **quiet)
    restore = fail_lm_loss_at(11, monkeypatch, SystemExit(137))
    with pytest.raises(SystemExit):
        train("lm", config, tmp_path / "crashed", **quiet)
    restore()
    assert ckpt.load_tensors(tmp_path / "crashed" / "last.pt")["state"]["step"] == 10
    resume(tmp_path / "crashed", **quiet)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "crashed"))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(corpus, tmp_path, monkeypatch):
    config = tiny_config(corpus, max_steps=20, save_every=0.0)
    real_loss, calls = lm.lm_loss, {"n": 0}

    def nan_at_step_6(*args):
        calls["n"] += args[0].training
        loss, state = real_loss(*args)
        return (loss * math.nan if calls["n"] == 6 and args[0].training else loss), state

    monkeypatch.setattr(lm, "lm_loss", nan_at_step_6)
    message = r"loss became nan at step 6 .*; stopped, .*last.pt keeps step 5; train again with a lower --lr"
    with pytest.raises(RnnkitError, match=message):
        train("lm", config, tmp_path / "run", **quiet)
    payload = ckpt.load_tensors(tmp_path / "run" / "last.pt")
    assert payload["state"]["step"] == 5
    assert all(torch.isfinite(t).all() for t in payload["model"].values())


def test_save_load_gives_identical_logits(corpus, tmp_path):
    out = tmp_path / "run"
    train("lm", tiny_config(corpus, max_steps=6, eval_every=3), out, **quiet)
    run = open_run(out)
    model, vocab, config = run.model, run.vocab, run.config
    run = open_run(out)
    twin, _, _ = run.model, run.vocab, run.config
    ids = torch.from_numpy(vocab.encode("ANNA: the sea is blue")).unsqueeze(0)
    assert config.model.vocab_size == len(vocab)
    torch.testing.assert_close(model(ids)[0], twin(ids)[0], rtol=0, atol=0)
    best = ckpt.load_tensors(out / "best.pt")
    assert_same_weights(model.state_dict(), best["model"])


def test_checkpoint_saved_from_cuda_loads_on_cpu(corpus, tmp_path):
    """Simulate a GPU-trained checkpoint by tagging every storage as cuda:0 when saving."""
    out = tmp_path / "run"
    train("lm", tiny_config(corpus, max_steps=3), out, **quiet)
    cpu_payload = ckpt.load_tensors(out / "best.pt")
    with mock.patch.object(torch.serialization, "location_tag", lambda storage: "cuda:0"):
        ckpt.save_tensors(out / "best.pt", {k: v for k, v in cpu_payload.items() if k != "format_version"})
    if not torch.cuda.is_available():  # the file really claims CUDA: a plain load fails here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO((out / "best.pt").read_bytes()), weights_only=True)
    run = open_run(out)
    model, _, _ = run.model, run.vocab, run.config
    assert next(model.parameters()).device.type == "cpu"
    assert_same_weights(model.state_dict(), cpu_payload["model"])


def test_checkpoints_refuse_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format_version": ckpt.FORMAT_VERSION, "model": Evil()}, tmp_path / "best.pt")
    with pytest.raises(RnnkitError, match="is not a readable rnnkit checkpoint"):
        ckpt.load_tensors(tmp_path / "best.pt")


def test_eval_reports_nats_bits_and_perplexity(corpus, tmp_path):
    out = tmp_path / "run"
    summary = train("lm", tiny_config(corpus, max_steps=10), out, **quiet)
    result = evaluate(out, device="cpu")
    assert math.isclose(result["bits_per_token"], result["nats_per_token"] / math.log(2))
    assert math.isclose(result["perplexity"], math.exp(result["nats_per_token"]))
    assert math.isclose(result["nats_per_token"], summary["best_val"], rel_tol=1e-6)
    on_file = evaluate(out, data=str(corpus), device="cpu")
    assert on_file["tokens"] == len(corpus.read_text())


def test_time_budget_stops_the_run(corpus, tmp_path):
    config = tiny_config(corpus, max_steps=None, time=1.0)
    summary = train("lm", config, tmp_path / "run", **quiet)
    assert 1.0 <= summary["elapsed"] < 5.0


def test_existing_run_directory_is_not_overwritten(corpus, tmp_path):
    train("lm", tiny_config(corpus, max_steps=2), tmp_path / "run", **quiet)
    with pytest.raises(RnnkitError, match="already holds a run; continue it with 'rnnkit train --resume"):
        train("lm", tiny_config(corpus, max_steps=2), tmp_path / "run", **quiet)


def test_corpus_streamed_into_the_map_trains_like_the_in_memory_one(corpus, tmp_path, monkeypatch):
    """A corpus larger than one encoding chunk (made tiny here) is streamed into the memory-mapped cache;
    training on the map gives the same weights as training on the in-memory encoding."""
    from rnnkit.data import streaming

    train("lm", tiny_config(corpus), tmp_path / "in-memory", **quiet)
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path / "fresh-cache"))
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 257)
    monkeypatch.setattr(streaming, "STREAM_ABOVE_BYTES", 1000)
    real_write = streaming.write_ids
    writes = []
    monkeypatch.setattr(streaming, "write_ids", lambda *a, **k: writes.append(a) or real_write(*a, **k))
    _, train_ids, val_ids, _ = lm.load_corpus(tiny_config(corpus).data)
    assert len(writes) == 1 and train_ids.base is not None and not train_ids.flags.writeable  # a view of the map
    train("lm", tiny_config(corpus), tmp_path / "streamed", **quiet)
    assert len(writes) == 1  # the second load is a cache hit
    assert_same_weights(final_weights(tmp_path / "in-memory"), final_weights(tmp_path / "streamed"))
