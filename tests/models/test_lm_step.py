"""The one-call LSTM stepper (rnnkit.models.lm_step): same logits and same greedy text as the model's own forward."""

from __future__ import annotations

import pytest
import torch

from rnnkit.engine.kernels import compilers
from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig, generate_tokens
from rnnkit.models import lm_step
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.lm_step import LSTMStepper

pytestmark = pytest.mark.skipif(not compilers(), reason="no C++ compiler on this machine")


def model_of(**overrides) -> LanguageModel:
    torch.manual_seed(0)
    config = dict(vocab_size=23, hidden_size=40, num_layers=2, embedding_size=12, dropout=0.0)
    config.update(overrides)
    return LanguageModel(LanguageModelConfig(**config)).eval()


def stepped(model: LanguageModel, stepper: LSTMStepper, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, T-3, V) after a 3-token prime, from the model's own steps and from the stepper."""
    with torch.inference_mode():
        _, state = model(ids[:, :3])
        stepper.start(state)
        ref, got = [], []
        for t in range(3, ids.shape[1]):
            logits, state = model(ids[:, t:t + 1], state)
            ref.append(logits[:, 0])
            got.append(stepper.step(ids[:, t]).clone())
    return torch.stack(got, 1), torch.stack(ref, 1)


@pytest.mark.parametrize("fold", [True, False], ids=["table", "concatenated"])
@pytest.mark.parametrize("overrides", [{}, {"num_layers": 3}, {"num_layers": 1},
                                       {"tie_weights": True}, {"tie_weights": True, "embedding_size": 40}])
def test_fp32_stepper_equals_the_models_steps(monkeypatch, fold, overrides):
    if not fold:
        monkeypatch.setattr(lm_step, "MAX_TABLE_BYTES", 0)
    model = model_of(**overrides)
    stepper = LSTMStepper(model, "fp32")
    assert (stepper.table is not None) == fold
    ids = torch.randint(0, 23, (3, 12), generator=torch.Generator().manual_seed(1))
    got, ref = stepped(model, stepper, ids)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stepper.state[0], model(ids)[1][0], rtol=1e-5, atol=1e-5)  # the carried h


def test_bf16_stepper_is_close_to_the_models_steps():
    model = model_of()
    got, ref = stepped(model, LSTMStepper(model, "bf16"), torch.randint(0, 23, (2, 10)))
    assert (got - ref).abs().max() < 0.02 * ref.abs().max()
    assert (got - ref).abs().max() > 0  # bf16 weights really are narrower


@pytest.mark.parametrize("fold", [True, False], ids=["table", "concatenated"])
@pytest.mark.parametrize("overrides", [{}, {"num_layers": 1}, {"tie_weights": True, "embedding_size": 40}])
def test_step_many_gemms_equal_the_models_steps_and_bf16_is_close(monkeypatch, fold, overrides):
    if not fold:
        monkeypatch.setattr(lm_step, "MAX_TABLE_BYTES", 0)
    model = model_of(**overrides)
    ids = torch.randint(0, 23, (20, 6), generator=torch.Generator().manual_seed(2))  # a batch past MAX_BATCH
    with torch.inference_mode():
        _, state = model(ids[:, :3])
        for precision, tolerance in (("fp32", 1e-5), ("bf16", 0.02)):
            stepper = LSTMStepper(model, precision)
            assert (stepper.table is not None) == fold
            h, c = state[0].clone(), state[1].clone()
            ref_state = state
            for t in range(3, 6):
                logits, ref_state = model(ids[:, t:t + 1], ref_state)
                got = stepper.step_many(ids[:, t], h, c)  # (20, V)
                assert (got - logits[:, 0]).abs().max() <= tolerance * max(1.0, logits.abs().max())
            assert (h - ref_state[0]).abs().max() <= tolerance and (c - ref_state[1]).abs().max() <= tolerance * 10


def test_greedy_text_of_the_fp32_stepper_equals_the_exact_path():
    model = model_of(hidden_size=64)
    prime = torch.tensor([1, 2, 3])
    exact = torch.stack(list(generate_tokens(model, prime, SamplingConfig(length=2000, greedy=True,
                                                                          precision="exact"))))
    fast = torch.stack(list(generate_tokens(model, prime, SamplingConfig(length=2000, greedy=True,
                                                                         precision="fp32"))))
    assert torch.equal(fast, exact)


def test_seeded_samples_match_the_exact_path_token_for_token():
    model = model_of()
    cfg = dict(length=300, temperature=0.9, top_k=10, seed=3, num_samples=2)
    exact = torch.stack(list(generate_tokens(model, torch.tensor([4]), SamplingConfig(**cfg, precision="exact"))))
    fast = torch.stack(list(generate_tokens(model, torch.tensor([4]), SamplingConfig(**cfg, precision="fp32"))))
    assert torch.equal(fast, exact)


def test_the_stepper_applies_only_where_it_can():
    assert LSTMStepper.for_model(model_of()) is not None
    assert LSTMStepper.for_model(model_of(cell="gru")) is None
    assert LSTMStepper.for_model(model_of(), batch_size=lm_step.MAX_BATCH + 1) is None
    assert LSTMStepper.for_model(model_of(), precision="fp32").precision == "fp32"


def test_an_unknown_precision_is_one_line():
    with pytest.raises(RnnkitError, match="--precision must be one of auto, bf16, fp32, exact"):
        SamplingConfig(precision="fp16")
