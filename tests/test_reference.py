"""The hand-written NumPy reference equals torch's RNN/LSTM forward and autograd backward."""

import numpy as np
import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.reference import (
    lstm_backward,
    lstm_forward,
    numerical_gradient,
    rnn_backward,
    rnn_forward,
)

B, T, I, H = 3, 20, 5, 7
FORWARD_TOL = 1e-10
GRAD_TOL = 1e-8


def _params(rng: np.random.Generator, gates: int) -> dict[str, np.ndarray]:
    """Random float64 weights drawn like torch's default init, U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / np.sqrt(H)
    return {
        "W_ih": rng.uniform(-bound, bound, (gates * H, I)),
        "W_hh": rng.uniform(-bound, bound, (gates * H, H)),
        "b_ih": rng.uniform(-bound, bound, gates * H),
        "b_hh": rng.uniform(-bound, bound, gates * H),
    }


def _load_torch(module: torch.nn.Module, params: dict[str, np.ndarray]) -> None:
    """Copy numpy weights into a single-layer torch.nn.RNN / LSTM."""
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(params["W_ih"]))
        module.weight_hh_l0.copy_(torch.from_numpy(params["W_hh"]))
        module.bias_ih_l0.copy_(torch.from_numpy(params["b_ih"]))
        module.bias_hh_l0.copy_(torch.from_numpy(params["b_hh"]))


def _torch_param_grads(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {
        "W_ih": module.weight_ih_l0.grad.numpy(),
        "W_hh": module.weight_hh_l0.grad.numpy(),
        "b_ih": module.bias_ih_l0.grad.numpy(),
        "b_hh": module.bias_hh_l0.grad.numpy(),
    }


def _assert_grads_equal(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    assert set(ours) == set(theirs)
    for name, expected in theirs.items():
        assert ours[name].shape == expected.shape, name
        np.testing.assert_allclose(ours[name], expected, rtol=0, atol=GRAD_TOL, err_msg=name)
        assert np.abs(expected).max() > 1e-3, f"{name}: gradient too small for the check to mean anything"


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_matches_torch_forward_and_autograd(nonlinearity: str) -> None:
    rng = np.random.default_rng(0)
    params = _params(rng, gates=1)
    x = rng.standard_normal((B, T, I))
    h0 = rng.standard_normal((B, H))
    G = rng.standard_normal((B, T, H))  # upstream gradient on every output
    gh = rng.standard_normal((B, H))  # upstream gradient on the final hidden state

    out, h_final, cache = rnn_forward(x, h0, **params, nonlinearity=nonlinearity)
    grads = rnn_backward(G, cache, dh_final=gh)

    rnn = torch.nn.RNN(I, H, nonlinearity=nonlinearity, batch_first=True).double()
    _load_torch(rnn, params)
    x_t = torch.from_numpy(x).requires_grad_()
    h0_t = torch.from_numpy(h0).unsqueeze(0).requires_grad_()  # (1, B, H)
    out_t, h_final_t = rnn(x_t, h0_t)
    loss = (out_t * torch.from_numpy(G)).sum() + (h_final_t[0] * torch.from_numpy(gh)).sum()
    loss.backward()

    assert out.shape == (B, T, H) and h_final.shape == (B, H)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=FORWARD_TOL)
    np.testing.assert_allclose(h_final, h_final_t[0].detach().numpy(), rtol=0, atol=FORWARD_TOL)
    if nonlinearity == "relu":
        # The mask must really be exercised, and no unit may sit on the kink where the
        # subgradient convention could differ: both are properties of this fixed seed.
        assert 0.1 < (out == 0).mean() < 0.9
        assert np.abs(out[out > 0]).min() > 1e-6
    expected = {"x": x_t.grad.numpy(), "h0": h0_t.grad[0].numpy(), **_torch_param_grads(rnn)}
    _assert_grads_equal(grads, expected)


def test_lstm_matches_torch_forward_and_autograd() -> None:
    rng = np.random.default_rng(1)
    params = _params(rng, gates=4)
    x = rng.standard_normal((B, T, I))
    h0 = rng.standard_normal((B, H))
    c0 = rng.standard_normal((B, H))
    G = rng.standard_normal((B, T, H))  # upstream gradient on every output
    gh = rng.standard_normal((B, H))  # ... on the final h
    gc = rng.standard_normal((B, H))  # ... on the final c

    out, (h_final, c_final), cache = lstm_forward(x, (h0, c0), **params)
    grads = lstm_backward(G, cache, dh_final=gh, dc_final=gc)

    lstm = torch.nn.LSTM(I, H, batch_first=True).double()
    _load_torch(lstm, params)
    x_t = torch.from_numpy(x).requires_grad_()
    h0_t = torch.from_numpy(h0).unsqueeze(0).requires_grad_()  # (1, B, H)
    c0_t = torch.from_numpy(c0).unsqueeze(0).requires_grad_()  # (1, B, H)
    out_t, (h_final_t, c_final_t) = lstm(x_t, (h0_t, c0_t))
    loss = (
        (out_t * torch.from_numpy(G)).sum()
        + (h_final_t[0] * torch.from_numpy(gh)).sum()
        + (c_final_t[0] * torch.from_numpy(gc)).sum()
    )
    loss.backward()

    assert out.shape == (B, T, H) and h_final.shape == (B, H) and c_final.shape == (B, H)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=FORWARD_TOL)
    np.testing.assert_allclose(h_final, h_final_t[0].detach().numpy(), rtol=0, atol=FORWARD_TOL)
    np.testing.assert_allclose(c_final, c_final_t[0].detach().numpy(), rtol=0, atol=FORWARD_TOL)
    expected = {
        "x": x_t.grad.numpy(),
        "h0": h0_t.grad[0].numpy(),
        "c0": c0_t.grad[0].numpy(),
        **_torch_param_grads(lstm),
    }
    _assert_grads_equal(grads, expected)


def _rnn_loss_and_grads(inputs: dict[str, np.ndarray], G: np.ndarray, gh: np.ndarray):
    out, h_final, cache = rnn_forward(**inputs)
    loss = (out * G).sum() + (h_final * gh).sum()
    return loss, rnn_backward(G, cache, dh_final=gh)


def _lstm_loss_and_grads(inputs: dict[str, np.ndarray], G: np.ndarray, gh: np.ndarray, gc: np.ndarray):
    state0 = (inputs["h0"], inputs["c0"])
    weights = {k: v for k, v in inputs.items() if k not in ("x", "h0", "c0")}
    out, (h_final, c_final), cache = lstm_forward(inputs["x"], state0, **weights)
    loss = (out * G).sum() + (h_final * gh).sum() + (c_final * gc).sum()
    return loss, lstm_backward(G, cache, dh_final=gh, dc_final=gc)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_numerical_gradient_agrees_with_backward(cell: str) -> None:
    rng = np.random.default_rng(2)
    b, t, i, h = 2, 3, 2, 3
    gates = 1 if cell == "rnn" else 4
    inputs = {
        "x": rng.standard_normal((b, t, i)),
        "h0": rng.standard_normal((b, h)),
        "W_ih": 0.5 * rng.standard_normal((gates * h, i)),
        "W_hh": 0.5 * rng.standard_normal((gates * h, h)),
        "b_ih": 0.5 * rng.standard_normal(gates * h),
        "b_hh": 0.5 * rng.standard_normal(gates * h),
    }
    G = rng.standard_normal((b, t, h))
    gh = rng.standard_normal((b, h))
    if cell == "rnn":

        def loss_and_grads():
            return _rnn_loss_and_grads(inputs, G, gh)

    else:
        inputs["c0"] = rng.standard_normal((b, h))
        gc = rng.standard_normal((b, h))

        def loss_and_grads():
            return _lstm_loss_and_grads(inputs, G, gh, gc)

    _, analytic = loss_and_grads()
    assert set(analytic) == set(inputs)
    for name, array in inputs.items():
        # numerical_gradient perturbs `array` in place, which `loss_and_grads` reads through `inputs`.
        numeric = numerical_gradient(lambda _: loss_and_grads()[0], array)
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-6, atol=1e-7, err_msg=name)


def test_numerical_gradient_of_a_quadratic() -> None:
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda a: float((a**2).sum()), x)
    np.testing.assert_allclose(grad, 2 * x, atol=1e-8)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored after perturbing


def test_defaults_zero_state_and_zero_final_grads() -> None:
    rng = np.random.default_rng(3)
    params = _params(rng, gates=4)
    x = rng.standard_normal((B, 4, I))
    G = rng.standard_normal((B, 4, H))
    zeros = np.zeros((B, H))
    out_none, _, cache_none = lstm_forward(x, None, **params)
    out_zero, _, cache_zero = lstm_forward(x, (zeros, zeros), **params)
    np.testing.assert_array_equal(out_none, out_zero)
    grads_none = lstm_backward(G, cache_none)
    grads_zero = lstm_backward(G, cache_zero, dh_final=zeros, dc_final=zeros)
    for name in grads_none:
        np.testing.assert_array_equal(grads_none[name], grads_zero[name], err_msg=name)


def test_keeps_float32() -> None:
    rng = np.random.default_rng(4)
    params = {k: v.astype(np.float32) for k, v in _params(rng, gates=1).items()}
    x = rng.standard_normal((B, 4, I)).astype(np.float32)
    out, h_final, cache = rnn_forward(x, None, **params)
    grads = rnn_backward(np.ones_like(out), cache)
    assert out.dtype == h_final.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_bad_nonlinearity_and_shapes_raise() -> None:
    rng = np.random.default_rng(5)
    params = _params(rng, gates=1)
    x = rng.standard_normal((B, T, I))
    with pytest.raises(RnnkitError, match=r"nonlinearity must be one of \('tanh', 'relu'\), got 'sigmoid'"):
        rnn_forward(x, None, **params, nonlinearity="sigmoid")
    with pytest.raises(RnnkitError, match=r"lstm_forward expects W_ih \(28, 5\) and W_hh \(28, 7\)"):
        lstm_forward(x, None, **params)
    with pytest.raises(RnnkitError, match=r"expects x of shape \(B, T, I\), got \(20, 5\)"):
        rnn_forward(x[0], None, **params)
