"""AWD-LSTM's regularisers: weight drop, locked dropout, token dropout, and the moving average of weights."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit.errors import RnnkitError
from rnnkit.layers import Recurrent, dropout, locked_dropout
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.runs import resume, train
from rnnkit.training.trainer import TrainingInterrupted, ema_update
from tests.conftest import cli, fail_lm_loss_at, one_line_error, tiny_config

quiet = dict(show_progress=False, log=lambda *_: None)
B, T, I, H = 3, 7, 5, 6


def manual_lstm(layer_weights, x, between=None):
    """A stack of single-layer nn.LSTMs with the given (w_ih, w_hh, b_ih, b_hh) per layer; ``between(k, out)``
    is applied to the outputs of layer k before layer k + 1."""
    out = x
    for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(layer_weights):
        with torch.random.fork_rng():  # building the module must not use up the draws under test
            ref = nn.LSTM(w_ih.shape[1], w_hh.shape[1], batch_first=True)
        with torch.no_grad():
            for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                                   (w_ih, w_hh, b_ih, b_hh)):
                getattr(ref, name).copy_(value)
        out, _ = ref(out)
        if between is not None and k < len(layer_weights) - 1:
            out = between(k, out)
    return out


def layer_weights(rec: Recurrent, hh=None):
    return [(getattr(rec.rnn, f"weight_ih_l{k}"), hh[k] if hh else getattr(rec.rnn, f"weight_hh_l{k}"),
             getattr(rec.rnn, f"bias_ih_l{k}"), getattr(rec.rnn, f"bias_hh_l{k}")) for k in range(rec.num_layers)]


@pytest.mark.parametrize("backend", ["fused", "explicit"])
def test_weight_drop_runs_the_lstm_on_one_masked_copy_of_each_recurrent_matrix(backend):
    torch.manual_seed(0)
    rec = Recurrent("lstm", I, H, num_layers=2, weight_drop=0.5, backend=backend).train()
    x = torch.randn(B, T, I)
    torch.manual_seed(11)
    out, _ = rec(x)
    torch.manual_seed(11)  # the same draws, in the order the layer makes them: one mask per weight_hh
    dropped = [dropout(getattr(rec.rnn, f"weight_hh_l{k}"), 0.5, True) for k in range(2)]
    assert all((d == 0).float().mean().item() > 0.3 for d in dropped)  # about half of each matrix is gone
    torch.testing.assert_close(out, manual_lstm(layer_weights(rec, dropped), x))
    rec.eval()  # no weight drop at inference: the plain LSTM
    torch.testing.assert_close(rec(x)[0], manual_lstm(layer_weights(rec), x))


def test_weight_drop_gradient_is_zero_on_the_dropped_entries_on_the_bf16_fast_path():
    torch.manual_seed(0)
    rec = Recurrent("lstm", I, H, num_layers=1, weight_drop=0.5).train()
    x = torch.randn(B, T, I)
    torch.manual_seed(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert rec._auto_backend(x, None) == "fast"
        out, _ = rec(x)
    out.float().sum().backward()
    torch.manual_seed(3)
    kept = dropout(torch.ones_like(rec.rnn.weight_hh_l0), 0.5, True) != 0  # the mask the forward drew
    grad = rec.rnn.weight_hh_l0.grad
    assert (grad[~kept] == 0).all() and (grad[kept] != 0).float().mean() > 0.9
    assert rec.rnn.weight_ih_l0.grad.abs().sum() > 0


def test_locked_dropout_keeps_one_mask_for_every_step():
    torch.manual_seed(0)
    x = torch.ones(64, 20, 16)
    y = locked_dropout(x, 0.25, True)
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same along time
    assert 0.15 < (y[:, 0] == 0).float().mean() < 0.35
    torch.testing.assert_close(y.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert torch.equal(locked_dropout(x, 0.25, False), x)
    per_element = dropout(x, 0.25, True)
    assert not torch.equal(per_element, per_element[:, :1].expand_as(y))  # plain dropout varies along time


@pytest.mark.parametrize("backend", ["fused", "explicit"])
def test_locked_dropout_between_layers_is_one_mask_per_sequence(backend):
    torch.manual_seed(0)
    rec = Recurrent("lstm", I, H, num_layers=2, dropout=0.5, locked_dropout=True, backend=backend).train()
    x = torch.randn(B, T, I)
    torch.manual_seed(5)
    out, (h, c) = rec(x)
    torch.manual_seed(5)
    expected = manual_lstm(layer_weights(rec), x, between=lambda k, o: locked_dropout(o, 0.5, True))
    torch.testing.assert_close(out, expected)
    assert h.shape == c.shape == (2, B, H)


def test_the_fast_path_draws_the_same_locked_mask_as_the_fused_one():
    torch.manual_seed(0)
    rec = Recurrent("lstm", I, H, num_layers=2, dropout=0.5, locked_dropout=True, weight_drop=0.3).train()
    x = torch.randn(B, T, I)
    outs = {}
    for backend in ("auto", "fused"):  # auto = the bf16 fast path here
        rec.backend = backend
        torch.manual_seed(9)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outs[backend] = rec(x)[0].float()
    torch.testing.assert_close(outs["auto"], outs["fused"], atol=3e-2, rtol=3e-2)


def test_gru_weight_drop_and_locked_dropout_train_layer_by_layer():
    torch.manual_seed(0)
    rec = Recurrent("gru", I, H, num_layers=2, dropout=0.3, locked_dropout=True, weight_drop=0.4).train()
    x = torch.randn(B, T, I)
    torch.manual_seed(2)
    fused = rec(x)
    rec.backend = "explicit"
    torch.manual_seed(2)
    explicit = rec(x)
    torch.testing.assert_close(fused[0], explicit[0])
    torch.testing.assert_close(fused[1], explicit[1])


def test_weight_drop_is_refused_for_cells_without_recurrent_weights():
    with pytest.raises(RnnkitError, match=r"Recurrent\(mingru\) has no hidden-to-hidden weights"):
        Recurrent("mingru", I, H, weight_drop=0.2)
    with pytest.raises(RnnkitError, match="0 <= weight_drop < 1"):
        Recurrent("lstm", I, H, weight_drop=1.0)


def test_token_dropout_zeroes_every_occurrence_of_a_dropped_token():
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=10, hidden_size=8, num_layers=1, embedding_size=4,
                                              dropout=0.0, token_dropout=0.5)).train()
    ids = torch.randint(0, 10, (6, 30))
    emb = model._embed(ids)  # (B, T, E)
    table = model.embedding.weight
    zero = (emb == 0).all(-1)
    assert zero.any() and (~zero).any()
    for token in ids.unique():
        rows = zero[ids == token]
        assert rows.all() or not rows.any()  # a token is dropped everywhere in the batch or nowhere
        if not rows.any():
            torch.testing.assert_close(emb[ids == token][0], table[token] * 2)  # kept rows scaled by 1 / (1 - p)
    model.eval()
    assert torch.equal(model._embed(ids), model.embedding(ids))


def test_ema_update_is_a_warmed_up_moving_average():
    update = ema_update(0.9)
    avg, cur = [torch.zeros(3)], [torch.ones(3)]
    update(avg, cur, torch.tensor(1))  # warm-up: decay min(0.9, 2 / 11)
    torch.testing.assert_close(avg[0], torch.full((3,), 9 / 11))
    update(avg, cur, torch.tensor(1000))  # later: the decay itself
    torch.testing.assert_close(avg[0], torch.full((3,), 9 / 11 * 0.9 + 0.1))


def awd_config(corpus, **train):
    config = tiny_config(corpus, **train)
    model = dataclasses.replace(config.model, weight_drop=0.3, locked_dropout=True, token_dropout=0.1)
    return dataclasses.replace(config, model=model)


def test_ema_run_keeps_the_average_as_best_and_resumes_exactly(corpus, tmp_path, monkeypatch):
    config = awd_config(corpus, max_steps=30, ema=0.8, eval_every=30)
    train("lm", config, tmp_path / "straight", **quiet)
    best = ckpt.load_tensors(tmp_path / "straight" / ckpt.BEST_FILE)["model"]
    last = ckpt.load_tensors(tmp_path / "straight" / ckpt.LAST_FILE)
    assert last["ema"]["n_averaged"].item() == 30
    for name, value in best.items():  # best.pt holds the average, not the final weights
        torch.testing.assert_close(value, last["ema"][f"module.{name}"])
    assert any(not torch.equal(best[k], last["model"][k]) for k in best)

    restore = fail_lm_loss_at(13, monkeypatch, KeyboardInterrupt())
    with pytest.raises(TrainingInterrupted):
        train("lm", config, tmp_path / "resumed", **quiet)
    restore()
    resume(tmp_path / "resumed", **quiet)
    again = ckpt.load_tensors(tmp_path / "resumed" / ckpt.BEST_FILE)["model"]
    for name in best:  # dropout masks, weight-drop masks and the average all continue exactly
        assert torch.equal(best[name], again[name]), name


def test_cli_regularisation_flags_reach_the_run_and_bad_values_are_one_line_errors(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli("train", "lm", "--data", corpus, "--out", out, "--max-steps", 3, "--hidden-size", 16,
                       "--batch-size", 2, "--seq-len", 8, "--weight-drop", 0.25, "--locked-dropout",
                       "--token-dropout", 0.1, "--ema", 0.99, "--no-progress", capsys=capsys)
    assert code == 0, err
    import json

    config = json.loads((out / "config.json").read_text())
    assert (config["model"]["weight_drop"], config["model"]["locked_dropout"], config["model"]["token_dropout"],
            config["train"]["ema"]) == (0.25, True, 0.1, 0.99)
    for flags, message in [(["--weight-drop", "1"], "--weight-drop must be in [0, 1)"),
                           (["--weight-drop", "0.2", "--cell", "minlstm"], "--weight-drop needs an lstm, gru or rnn"),
                           (["--token-dropout", "-0.1"], "--token-dropout must be in [0, 1)"),
                           (["--ema", "1"], "--ema must be a decay in [0, 1)"),
                           (["--locked-dropout", "--model", "mlp-ngram"], "regularise --model rnn")]:
        code, _, err = cli("train", "lm", "--data", corpus, "--out", tmp_path / "bad", "--max-steps", 1, *flags,
                           capsys=capsys)
        assert message in one_line_error(code, err)
