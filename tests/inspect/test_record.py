"""record(): every layer's h, c and gates from the cell equations equal the model's own forward (fp64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.inspect import record
from tests.inspect.runs import classifier_run, conditional_run, lm_run
from tests.tasks.test_conditional_lm import labelled  # noqa: F401 - a fixture

TEXT = "ANNA: the sky is red, said anna.\nBORIS: the sea"


def states_of(state) -> tuple[np.ndarray, np.ndarray | None]:
    """(L*D, H) h and c of a model's final state for one sequence."""
    h, c = state if isinstance(state, tuple) else (state, None)
    return h[:, 0].detach().numpy(), (None if c is None else c[:, 0].detach().numpy())


def prefix_states(forward, ids: torch.Tensor):
    """h and c (T, L*D, H) after each step, each from the model's own forward over the prefix ids[:t+1]."""
    hs, cs = [], []
    for t in range(len(ids)):
        h, c = states_of(forward(ids[None, : t + 1]))
        hs.append(h)
        cs.append(c)
    return np.stack(hs), (None if cs[0] is None else np.stack(cs))


def as_grid(states: np.ndarray, layers: int, directions: int) -> np.ndarray:
    """(T, L*D, H) -> (L, D, T, H), the Recording's layout."""
    steps, _, hidden = states.shape
    return states.reshape(steps, layers, directions, hidden).transpose(1, 2, 0, 3)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_a_language_models_recording_equals_its_forward(cell, corpus, tmp_path):
    run = lm_run(corpus, tmp_path / "run", cell)
    run.model.double().eval()
    rec = record(run, TEXT, window=7)  # windows with the state carried over
    ids = torch.as_tensor(run.vocab.encode(TEXT))
    assert rec.h.shape == (2, 1, len(TEXT), 32) and rec.h.dtype == np.float64 and rec.tokens == list(TEXT)
    h, c = prefix_states(lambda x: run.model(x)[1], ids)
    np.testing.assert_allclose(rec.h, as_grid(h, 2, 1), atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(rec.c, as_grid(c, 2, 1), atol=1e-12)
        assert set(rec.gates) == {"i", "f", "g", "o"}
        np.testing.assert_allclose(rec.h, rec.gates["o"] * np.tanh(rec.c), atol=1e-12)  # h = o * tanh(c)
        np.testing.assert_allclose(rec.values()[:, :32], np.tanh(rec.c[0, 0]))
    else:
        assert rec.c is None and set(rec.gates) == ({"r", "z", "n"} if cell == "gru" else set())
    # the predictions are the model's: loss of each real next character, NaN after the last
    logits = run.model(ids[None])[0][0]  # (T, V)
    expected = torch.nn.functional.cross_entropy(logits[:-1], ids[1:], reduction="none").detach().numpy()
    np.testing.assert_allclose(rec.loss[:-1], expected, atol=1e-9)
    assert np.isnan(rec.loss[-1]) and rec.top_ids.shape == (len(TEXT), 5)
    assert (rec.top_probs[:, :-1] >= rec.top_probs[:, 1:]).all()
    assert rec.deviation < 1e-12
    np.testing.assert_allclose(record(run, TEXT).h, rec.h, atol=1e-12)  # one window or many


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_a_bidirectional_classifiers_recording_equals_its_forward(cell, tmp_path):
    run = classifier_run(tmp_path, tmp_path / "run", cell)
    run.model.double().eval()
    text = "the plot was superb but the film was dull"
    rec = record(run, text)
    ids = torch.as_tensor(rec.ids)
    assert rec.h.shape == (2, 2, len(ids), 8) and rec.loss is None and rec.top_ids is None

    def final(x):
        return run.model.recurrent(run.model.embedding(x))[1]

    # the first layer: left to right, the state after each prefix; right to left, after each suffix
    forward, _ = prefix_states(final, ids)  # (T, L*D, H)
    np.testing.assert_allclose(rec.h[0, 0], forward[:, 0], atol=1e-12)
    suffix = [states_of(final(ids[None, t:]))[0][1] for t in range(len(ids))]
    np.testing.assert_allclose(rec.h[0, 1], np.stack(suffix), atol=1e-12)
    # the top layer reads both directions of the whole text below it: its outputs at every step
    top = run.model.recurrent(run.model.embedding(ids[None]))[0][0].detach().numpy()  # (T, 2H)
    np.testing.assert_allclose(np.concatenate([rec.h[1, 0], rec.h[1, 1]], -1), top, atol=1e-12)
    if cell == "lstm":
        _, c = states_of(final(ids[None]))
        np.testing.assert_allclose(rec.c[:, 0, -1], c[[0, 2]], atol=1e-12)  # left to right ends at the end
        np.testing.assert_allclose(rec.c[:, 1, 0], c[[1, 3]], atol=1e-12)  # right to left at the start
    probs = torch.softmax(run.model(ids[None]), -1)[0].detach().numpy()
    np.testing.assert_allclose(rec.class_probs, probs, atol=1e-9)
    assert set(rec.summary()["class_probs"]) == {"neg", "pos"}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_conditional_lms_recording_starts_from_its_label(cell, labelled, tmp_path):  # noqa: F811
    run = conditional_run(labelled, tmp_path / "run", cell)
    run.model.double().eval()
    rec = record(run, "Karmoto", condition="Aish")
    assert rec.tokens == ["<s>", *"Karmoto"] and rec.h.shape[:3] == (2, 1, 8)
    label = torch.tensor([run.vocab.labels.index("Aish")])
    h, c = prefix_states(lambda x: run.model(x, label)[1], torch.as_tensor(rec.ids))
    np.testing.assert_allclose(rec.h, as_grid(h, 2, 1), atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(rec.c, as_grid(c, 2, 1), atol=1e-12)
    assert np.isfinite(rec.loss).all()  # the last step predicts </s>
    other = record(run, "Karmoto", condition="Oish")
    assert not np.allclose(other.h, rec.h)
    with pytest.raises(RnnkitError, match="pass --condition LABEL"):
        record(run, "Karmoto")


def test_an_empty_text_or_unknown_characters_are_refused(corpus, tmp_path):
    run = lm_run(corpus, tmp_path / "run")
    with pytest.raises(RnnkitError, match="empty"):
        record(run, "")
    with pytest.raises(RnnkitError, match="never saw"):
        record(run, "ANNA: \u00e9t\u00e9")


def test_a_word_level_model_is_read_word_by_word(tmp_path):
    from rnnkit.inspect import find_cells

    script = "".join(f"{name}: the {thing} is red.\n" for name in ("JERRY", "GEORGE", "ELAINE")
                     for thing in ("soup", "car", "door")) * 20
    (tmp_path / "script.txt").write_text(script, encoding="utf-8")
    run = lm_run(tmp_path / "script.txt", tmp_path / "run", level="word")
    text = "JERRY: the car is red.\nGEORGE: the soup is red.\n"
    rec = record(run, text)
    assert rec.level == "word" and "".join(rec.tokens) == text
    assert rec.tokens[:3] == ["JERRY", ":", " the"] and rec.h.shape[2] == len(rec.tokens) == len(rec.loss)
    assert all(0 <= i < len(rec.vocab) for i in rec.top_ids.reshape(-1))
    found = {m.hypothesis for m in find_cells(rec)}
    assert {"speaker tag", "sentence position", "capital"} <= found
