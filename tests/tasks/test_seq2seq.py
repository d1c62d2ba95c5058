"""Seq2seq: pair data and its errors, the encoder-decoder's two paths, greedy vs beam search, metrics, the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math

import pytest
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig
from rnnkit.data.pairs import check_lengths, generate_pairs, parse_pairs, read_pairs
from rnnkit.data.vocab import EOS_ID as EOS
from rnnkit.data.vocab import TokenVocab
from rnnkit.decoding import beam_search, greedy_decode
from rnnkit.errors import RnnkitError
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.runs import open_run, resume, train
from rnnkit.tasks import seq2seq as task
from rnnkit.tasks.seq2seq import Seq2SeqDataConfig, Seq2SeqRunConfig, corpus_bleu, sequence_metrics
from rnnkit.training.trainer import TrainingInterrupted
from tests.conftest import cli, one_line_error

quiet = dict(show_progress=False, log=lambda *_: None)


def tiny_run(data="reverse", **train) -> Seq2SeqRunConfig:
    """A seconds-long run: 16-unit GRU with attention on 300 generated pairs."""
    defaults = dict(batch_size=16, lr=1e-2, warmup_steps=2, max_steps=20, eval_every=10, log_every=5,
                    precision="fp32", device="cpu", seed=3, save_every=1e9)
    defaults.update(train)
    return Seq2SeqRunConfig(data=Seq2SeqDataConfig(data=data, size=300, digits=2, max_len=12, val_size=40),
                            model=Seq2SeqConfig(hidden_size=16, embedding_size=8),
                            train=TrainConfig(**defaults))


# -- data -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("line, problem", [
    ("535+61 596", "line 2 has no tab"),
    ("535+61\t", "line 2 has an empty target"),
    ("535+61\t   ", "line 2 has an empty target"),
    ("\t596", "line 2 has an empty source"),
    ("1\t2\t3", "line 2 has more than one tab"),
])
def test_bad_tsv_lines_are_one_line_errors(tmp_path, line, problem):
    path = tmp_path / "pairs.tsv"
    path.write_text(f"1+1\t2\n{line}\n", encoding="utf-8")
    with pytest.raises(RnnkitError) as e:
        read_pairs(path)
    assert problem in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_source_longer_than_max_len_is_an_error():
    pairs = parse_pairs("one two\tuno dos\nthe very long source here\tx\n")
    check_lengths(pairs, "word", "word", max_len=5)
    with pytest.raises(RnnkitError, match=r"pair 1: the source has 7 char tokens, more than --max-len 6"):
        check_lengths(pairs, "char", "char", max_len=6)
    with pytest.raises(RnnkitError, match=r"pair 2: the source has 5 word tokens, more than --max-len 4"):
        check_lengths(pairs, "word", "word", max_len=4)


def test_cli_reports_bad_pairs_in_one_line(tmp_path, capsys):
    path = tmp_path / "pairs.tsv"
    path.write_text("ab\tba\nabc cba\n", encoding="utf-8")
    code, _, err = cli("train", "seq2seq", "--data", path, "--out", tmp_path / "run", "--max-steps", 1,
                       "--no-progress", capsys=capsys)
    assert "line 2 has no tab" in one_line_error(code, err)
    path.write_text("abcdefghij\tjihgfedcba\n", encoding="utf-8")
    code, _, err = cli("train", "seq2seq", "--data", path, "--out", tmp_path / "run", "--max-steps", 1,
                       "--max-len", 5, "--no-progress", capsys=capsys)
    assert "more than --max-len 5" in one_line_error(code, err)


def test_generated_tasks_are_correct_distinct_and_seeded():
    addition = generate_pairs("addition", 500, seed=1, digits=3)
    assert addition == generate_pairs("addition", 500, seed=1, digits=3)
    assert addition != generate_pairs("addition", 500, seed=2, digits=3)
    assert len({s for s, _ in addition}) == 500
    for source, target in addition:
        a, b = source.split("+")
        assert len(a) <= 3 and len(b) <= 3 and int(target) == int(a) + int(b)
    for source, target in generate_pairs("reverse", 100, seed=0, digits=2):
        assert target == source[::-1] and 1 <= len(source) <= 6
    dates = generate_pairs("dates", 300, seed=0)
    assert len({s for s, _ in dates}) == 300
    for source, target in dates:
        d = dt.date.fromisoformat(target)
        assert str(d.year) in source  # four-digit years only: every form names one date
    held_out = generate_pairs("addition", 200, seed=9, exclude=[s for s, _ in addition])
    assert not {s for s, _ in held_out} & {s for s, _ in addition}
    with pytest.raises(RnnkitError, match="too few distinct problems"):
        generate_pairs("addition", 200, digits=1)


def test_token_vocab_round_trips_at_both_levels():
    chars = TokenVocab.from_texts(["abc", "cab"], "char")
    assert chars.decode(chars.encode("cab") + [EOS, 5]) == "cab"
    assert chars.unknown("abz") == ["z"] and chars.encode("z") == [3]
    words = TokenVocab.from_texts(["the cat", "a dog"], "word")
    assert words.decode(words.encode("the dog")) == "the dog"
    assert TokenVocab.from_dict(json.loads(json.dumps(words.to_dict()))) == words


# -- model ----------------------------------------------------------------------------------------
def make_model(attention="bahdanau", cell="gru", seed=0, sharpen=1.0, **kw) -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(Seq2SeqConfig(source_vocab_size=12, target_vocab_size=9, cell=cell, hidden_size=16,
                                  embedding_size=8, attention=attention, **kw)).eval()
    with torch.no_grad():
        model.out.weight.mul_(sharpen)  # peakier next-token distributions: sequences end at varied lengths
    return model


def batch():
    source = torch.tensor([[4, 5, 6, 7, 8, 9, 10], [11, 4, 5, 0, 0, 0, 0], [6, 6, 7, 8, 9, 0, 0]])
    return source, torch.tensor([7, 3, 5]), torch.randint(4, 9, (3, 5), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("attention", ["luong", "none"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_all_steps_at_once_equals_step_by_step(attention, cell):
    model = make_model(attention, cell, num_layers=2)
    source, lengths, target_in = batch()
    logits, weights = model(source, lengths, target_in)  # the parallel path (full teacher forcing)
    memory, state = model.encode(source, lengths)
    step_logits, step_weights = model._forward_steps(target_in, state, memory, 1.0)
    torch.testing.assert_close(logits, step_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, step_weights, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_attention_ignores_padding(attention):
    model = make_model(attention)
    source, lengths, target_in = batch()
    logits, weights = model(source, lengths, target_in)
    assert torch.all(weights[1, :, 3:] == 0) and torch.allclose(weights.sum(-1), torch.ones(3, 5))
    wider = torch.cat([source, torch.zeros(3, 4, dtype=torch.long)], dim=1)  # more padding columns
    logits_wider, _ = model(wider, lengths, target_in)
    torch.testing.assert_close(logits, logits_wider, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
def test_beam_width_one_is_greedy(attention):
    for seed in range(4):
        model = make_model(attention, seed=seed, sharpen=3.0)
        source, lengths, _ = batch()
        for row in range(3):
            s, n = source[row: row + 1, : int(lengths[row])], lengths[row: row + 1]
            greedy, beam = greedy_decode(model, s, n, max_len=10), beam_search(model, s, n, beam=1, max_len=10)
            assert beam.tokens == greedy.tokens
            assert beam.scores[0] == pytest.approx(greedy.scores[0], abs=1e-9)


@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_wider_beam_never_scores_lower(attention, length_penalty):
    varied = 0
    for seed in range(4):
        model = make_model(attention, seed=seed, sharpen=3.0)
        source, lengths, _ = batch()
        for row in range(3):
            s, n = source[row: row + 1, : int(lengths[row])], lengths[row: row + 1]
            scores = [beam_search(model, s, n, beam=k, max_len=8, length_penalty=length_penalty).scores[0]
                      for k in range(1, 7)]
            assert all(b >= a - 1e-6 for a, b in zip(scores, scores[1:])), scores
            varied += scores[-1] > scores[0] + 1e-6
            # the returned score is the returned sequence's real length-normalised log-probability
            tokens = beam_search(model, s, n, beam=4, max_len=8, length_penalty=length_penalty).tokens[0]
            target_in = torch.tensor([[1, *tokens]])[:, :8]
            logp = model(s, n, target_in)[0].float().log_softmax(-1)[0]  # (T, V)
            scored = tokens if len(tokens) == 8 else [*tokens, EOS]  # max_len=8 tokens: cut off before </s>
            total = sum(logp[i, t].item() for i, t in enumerate(scored))
            normalised = total / len(scored) ** length_penalty
            assert normalised == pytest.approx(scores[3], abs=1e-4)
    assert varied  # the beam found better sequences than greedy somewhere: the test can fail


def test_teacher_forcing_below_one_feeds_predictions():
    model = make_model("luong", teacher_forcing=0.0).train()
    source, lengths, target_in = batch()
    torch.manual_seed(0)
    free, _ = model(source, lengths, target_in)
    model.eval()
    forced, _ = model(source, lengths, target_in)
    assert not torch.allclose(free, forced)  # later steps saw the model's own tokens
    torch.testing.assert_close(free[:, 0], forced[:, 0])  # the first step always reads <s>


# -- metrics --------------------------------------------------------------------------------------
def test_bleu_matches_hand_computed_values():
    hyp, ref = "the cat sat on the mat".split(), "the cat is on the mat".split()
    # clipped precisions 5/6, 3/5, 1/4 -> geometric mean (1/8)^(1/3) = 0.5; equal lengths, no brevity penalty
    assert corpus_bleu([hyp], [ref], max_n=3) == pytest.approx(50.0)
    assert corpus_bleu([hyp], [ref]) == 0.0  # no 4-gram matches, no smoothing
    assert corpus_bleu([ref], [ref]) == pytest.approx(100.0)
    assert corpus_bleu([["the", "cat"]], [ref], max_n=2) == pytest.approx(100 * math.exp(1 - 6 / 2))


def test_exact_match_and_token_accuracy():
    metrics = sequence_metrics([[5, 6, 7], [5, 6], [8]], [[5, 6, 7], [5, 7], [8, 9]])
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    # positions with </s>: [5,6,7,E] 4/4; [5,6,E] vs [5,7,E] 2/3; [8,E] vs [8,9,E] 1/3
    assert metrics["token_accuracy"] == pytest.approx(7 / 10)


# -- end to end -----------------------------------------------------------------------------------
def test_train_then_load_gives_identical_outputs(tmp_path, monkeypatch):
    made = []

    class Recording(Seq2Seq):
        def __init__(self, config):
            super().__init__(config)
            made.append(self)

    monkeypatch.setattr(task, "Seq2Seq", Recording)
    config = tiny_run()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, val_size=0, val_fraction=0.0))
    summary = train("seq2seq", config, tmp_path / "run", **quiet)
    assert summary["step"] == 20
    trained = next(m for m in made if not next(m.parameters()).is_meta).eval()  # not the meta-device size check
    translator = open_run(tmp_path / "run").predictor()
    source, lengths = torch.tensor([[5, 6, 7, 8]]), torch.tensor([4])
    target_in = torch.tensor([[1, 5, 6, 7]])
    assert torch.equal(trained(source, lengths, target_in)[0], translator.model(source, lengths, target_in)[0])
    texts = ["abc", "zyxw", "q"]
    ids = [translator.encode_source(t) for t in texts]
    for t, i in zip(texts, ids):
        s = torch.tensor([i])
        assert translator.translate([t], beam=3)[0][0] == translator.target_vocab.decode(
            beam_search(trained, s, torch.tensor([len(i)]), 3, config.data.max_len + 1).tokens[0])


def test_interrupted_run_resumes_to_identical_weights(tmp_path, monkeypatch):
    config = tiny_run(max_steps=16, eval_every=8)
    train("seq2seq", config, tmp_path / "straight", **quiet)
    calls = {"n": 0}
    real_loss = task.seq2seq_loss

    def interrupt_at_step_11(*args):
        calls["n"] += 1
        if calls["n"] == 11:
            raise KeyboardInterrupt
        return real_loss(*args)

    monkeypatch.setattr(task, "seq2seq_loss", interrupt_at_step_11)
    with pytest.raises(TrainingInterrupted):
        train("seq2seq", config, tmp_path / "split", **quiet)
    monkeypatch.setattr(task, "seq2seq_loss", real_loss)
    resume(tmp_path / "split", **quiet)
    a = ckpt.load_tensors(tmp_path / "straight" / ckpt.LAST_FILE)["model"]
    b = ckpt.load_tensors(tmp_path / "split" / ckpt.LAST_FILE)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_train_translate_eval_resume(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli("train", "seq2seq", "--data", "reverse", "--size", 400, "--digits", 2, "--max-len", 12,
                       "--val-size", 50, "--hidden-size", 24, "--embedding-size", 8, "--attention", "luong",
                       "--batch-size", 32, "--lr", 0.01, "--max-steps", 30, "--eval-every", 15, "--precision", "fp32",
                       "--device", "cpu", "--out", run, "--no-progress", capsys=capsys)
    assert code == 0, err
    assert "validation exact match" in err
    stored = json.loads((run / "config.json").read_text())
    assert stored["task"] == "seq2seq" and stored["model"]["attention"] == "luong"
    code, out, err = cli("translate", run, "abcd", "--beam", 3, "--score", "--attention-png", tmp_path / "a.png",
                         capsys=capsys)
    assert code == 0, err
    text, score = out.strip("\n").split("\t")
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz") and float(score) <= 0
    assert (tmp_path / "a.png").stat().st_size > 1000
    code, out, _ = cli("eval", run, "--json", capsys=capsys)
    result = json.loads(out)
    assert code == 0 and result["pairs"] == 50 and 0 <= result["exact_match"] <= 1
    assert 0 < result["token_accuracy"] <= 1
    code, _, err = cli("translate", run, "ab1", capsys=capsys)
    assert "'1'" in one_line_error(code, err)
    code, _, err = cli("translate", run, "abcdefghijklmnop", capsys=capsys)
    assert "more than the run's --max-len 12" in one_line_error(code, err)
    code, _, err = cli("translate", run, "abc", "--beam", 0, capsys=capsys)
    assert "--beam must be >= 1" in one_line_error(code, err)
    code, _, err = cli("train", "--resume", run, "--max-steps", 35, "--no-progress", capsys=capsys)
    assert code == 0 and "resuming" in err
    assert ckpt.load_tensors(run / "last.pt")["state"]["step"] == 35


def test_word_level_eval_reports_bleu(tmp_path, capsys):
    pairs = [f"{a} {b}\t{b} {a}" for a in ("red", "blue", "green", "cold") for b in ("sky", "sea", "tea", "day")]
    path = tmp_path / "words.tsv"
    path.write_text("\n".join(pairs * 3) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    code, _, err = cli("train", "seq2seq", "--data", path, "--source-level", "word", "--target-level", "word",
                       "--hidden-size", 16, "--embedding-size", 8, "--max-steps", 10, "--val-fraction", 0.25,
                       "--precision", "fp32", "--device", "cpu", "--out", run, "--no-progress", capsys=capsys)
    assert code == 0, err
    code, out, _ = cli("eval", run, "--data", path, "--json", capsys=capsys)
    result = json.loads(out)
    assert result["pairs"] == 48 and 0 <= result["bleu"] <= 100
