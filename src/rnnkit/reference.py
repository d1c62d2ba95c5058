"""NumPy reference RNN and LSTM with hand-written forward and backward (BPTT).

This module is for teaching and for checking: no torch, no autograd, every gradient written out
the way the classic course material derives it (Karpathy's min-char-rnn, CS231n, the Udacity deep
learning course). The fast models in ``rnnkit.cells`` are tested against torch; this file shows
*why* those gradients are what they are, and ``tests/test_reference.py`` proves the derivation
equals torch autograd to 1e-8.

Conventions (the same as ``torch.nn.RNN`` / ``torch.nn.LSTM`` with ``batch_first=True``):

- ``x`` is ``(B, T, I)``, outputs are ``(B, T, H)``, states are ``(B, H)``.
- ``W_ih`` is ``(G*H, I)``, ``W_hh`` is ``(G*H, H)``, ``b_ih`` and ``b_hh`` are ``(G*H,)``, with
  ``G = 1`` for the vanilla RNN and ``G = 4`` for the LSTM (gate rows in order i, f, g, o).
- A row vector convention inside the loop: ``a = x_t @ W_ih.T + h @ W_hh.T + b``.

Backpropagation through time in one paragraph: the forward pass is a loop over t, so the backward
pass is the same loop run from ``T-1`` down to ``0``. At each step the hidden state receives
gradient from two places, the loss on this step's output (``dout[:, t]``) and the next step that
consumed it (``dh_next``); these add because ``h_t`` fans out to both. The weights are shared
across time, so their gradients are sums over steps. Whatever gradient is left on ``h`` (and
``c``) after step 0 is the gradient of the initial state.

Every forward returns ``(outputs, final_state, cache)``; every backward takes the upstream
gradient on all outputs, optional gradients on the final state, and the cache, and returns a dict
of gradients keyed like the arguments: ``"x"``, ``"h0"`` (and ``"c0"``), ``"W_ih"``, ``"W_hh"``,
``"b_ih"``, ``"b_hh"``.

Arrays keep the dtype they are given (float64 recommended for gradient checks); integer inputs are
promoted to float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError

__all__ = [
    "rnn_forward",
    "rnn_backward",
    "lstm_forward",
    "lstm_backward",
    "numerical_gradient",
]

NONLINEARITIES = ("tanh", "relu")


def _float_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """The common floating dtype of the given arrays (float64 if none of them is floating)."""
    dtype = np.result_type(*[a for a in arrays if a is not None])
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def _check_shapes(x: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray, gates: int, name: str) -> None:
    """Raise an RnnkitError naming the mismatch if the weights do not fit ``x`` and each other."""
    if x.ndim != 3:
        raise RnnkitError(f"{name} expects x of shape (B, T, I), got {x.shape}")
    hidden_size = W_hh.shape[1]
    expected_ih = (gates * hidden_size, x.shape[2])
    expected_hh = (gates * hidden_size, hidden_size)
    if W_ih.shape != expected_ih or W_hh.shape != expected_hh:
        raise RnnkitError(
            f"{name} expects W_ih {expected_ih} and W_hh {expected_hh} for input_size="
            f"{x.shape[2]}, hidden_size={hidden_size}; got W_ih {W_ih.shape} and W_hh {W_hh.shape}"
        )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid, written via tanh so large negative ``z`` cannot overflow ``exp``."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# --------------------------------------------------------------------------------------------------
# Vanilla RNN
# --------------------------------------------------------------------------------------------------


def rnn_forward(
    x: np.ndarray,
    h0: np.ndarray | None,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
    nonlinearity: str = "tanh",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run a single-layer RNN, ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    Parameters
    ----------
    x : (B, T, I) inputs.
    h0 : (B, H) initial hidden state, or None for zeros.
    W_ih : (H, I); W_hh : (H, H); b_ih, b_hh : (H,).
    nonlinearity : "tanh" or "relu".

    Returns
    -------
    outputs : (B, T, H) hidden state at every step.
    h_final : (B, H) hidden state after the last step (equal to ``outputs[:, -1]``).
    cache : what ``rnn_backward`` needs.
    """
    if nonlinearity not in NONLINEARITIES:
        raise RnnkitError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    _check_shapes(np.asarray(x), np.asarray(W_ih), np.asarray(W_hh), 1, "rnn_forward")
    dtype = _float_dtype(x, h0, W_ih, W_hh, b_ih, b_hh)
    x, W_ih, W_hh, b_ih, b_hh = (np.asarray(a, dtype=dtype) for a in (x, W_ih, W_hh, b_ih, b_hh))
    B, T, _ = x.shape
    H = W_hh.shape[0]
    h0 = np.zeros((B, H), dtype=dtype) if h0 is None else np.asarray(h0, dtype=dtype)  # (B, H)

    # The input projection does not depend on h, so do it for all steps at once.
    x_proj = x @ W_ih.T + b_ih + b_hh  # (B, T, H)
    outputs = np.empty((B, T, H), dtype=dtype)  # (B, T, H)
    h = h0  # (B, H)
    for t in range(T):
        a = x_proj[:, t] + h @ W_hh.T  # (B, H) pre-activation
        h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)  # (B, H)
        outputs[:, t] = h

    # The backward pass needs every h (to differentiate act and to form dW_hh) and every x.
    cache = {"x": x, "h0": h0, "outputs": outputs, "W_ih": W_ih, "W_hh": W_hh, "nonlinearity": nonlinearity}
    return outputs, h.copy(), cache


def rnn_backward(
    dout: np.ndarray, cache: dict[str, Any], dh_final: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Backpropagate through time for ``rnn_forward``; returns gradients keyed like its arguments.

    ``dout`` is the (B, T, H) gradient of the loss on every output, ``dh_final`` the optional
    (B, H) gradient on the final hidden state (for when the final state feeds something else, e.g.
    the next truncated-BPTT window or a decoder).

    Per step, walking backwards, with ``a`` the pre-activation and ``h = act(a)``:

    - ``dh = dout[:, t] + dh_next``: h_t feeds both the output and step t+1, so gradients add.
    - ``da = dh * (1 - h**2)`` for tanh, since tanh'(a) = 1 - tanh(a)^2 and h already holds
      tanh(a); ``da = dh * (h > 0)`` for relu, since relu passes gradient only where it was on.
    - ``a = x_t W_ih^T + h_{t-1} W_hh^T + b``, a linear map, so ``dx_t = da W_ih``,
      ``dW_ih += da^T x_t``, ``dW_hh += da^T h_{t-1}``, ``db += sum_batch(da)`` and the gradient
      passed back in time is ``dh_next = da W_hh``.
    """
    x, h0, outputs = cache["x"], cache["h0"], cache["outputs"]
    W_ih, W_hh, nonlinearity = cache["W_ih"], cache["W_hh"], cache["nonlinearity"]
    B, T, _ = x.shape
    dout = np.asarray(dout, dtype=outputs.dtype)  # (B, T, H)

    dx = np.zeros_like(x)  # (B, T, I)
    dW_ih = np.zeros_like(W_ih)  # (H, I)
    dW_hh = np.zeros_like(W_hh)  # (H, H)
    db = np.zeros(W_hh.shape[0], dtype=outputs.dtype)  # (H,)
    dh_next = np.zeros_like(h0) if dh_final is None else np.asarray(dh_final, dtype=outputs.dtype)  # (B, H)

    for t in reversed(range(T)):
        h = outputs[:, t]  # (B, H)
        h_prev = outputs[:, t - 1] if t > 0 else h0  # (B, H)
        dh = dout[:, t] + dh_next  # (B, H) from this step's output and from step t+1
        if nonlinearity == "tanh":
            da = dh * (1.0 - h * h)  # (B, H) tanh' = 1 - tanh^2
        else:
            da = dh * (h > 0)  # (B, H) relu' = 1 where the unit was on
        dx[:, t] = da @ W_ih  # (B, I)
        dW_ih += da.T @ x[:, t]  # (H, I) shared weights: sum over steps
        dW_hh += da.T @ h_prev  # (H, H)
        db += da.sum(axis=0)  # (H,) bias is broadcast over the batch, so sum over it
        dh_next = da @ W_hh  # (B, H) gradient flowing back to h_{t-1}

    # b_ih and b_hh enter the pre-activation identically, so they get the same gradient.
    return {"x": dx, "h0": dh_next, "W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db.copy()}


# --------------------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------------------


def lstm_forward(
    x: np.ndarray,
    state0: tuple[np.ndarray, np.ndarray] | None,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """Run a single-layer LSTM with ``torch.nn.LSTM``'s weight layout (gate rows i, f, g, o).

    Per step, with ``z = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh`` split into four (B, H) blocks:
    ``i = sigmoid(z_i)``, ``f = sigmoid(z_f)``, ``g = tanh(z_g)``, ``o = sigmoid(z_o)``,
    ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * tanh(c_t)``.

    Parameters
    ----------
    x : (B, T, I) inputs.
    state0 : ``(h0, c0)``, each (B, H), or None for zeros.
    W_ih : (4H, I); W_hh : (4H, H); b_ih, b_hh : (4H,).

    Returns
    -------
    outputs : (B, T, H) hidden state h_t at every step.
    (h_final, c_final) : each (B, H), the state after the last step.
    cache : what ``lstm_backward`` needs.
    """
    _check_shapes(np.asarray(x), np.asarray(W_ih), np.asarray(W_hh), 4, "lstm_forward")
    h0_in, c0_in = (None, None) if state0 is None else state0
    dtype = _float_dtype(x, h0_in, c0_in, W_ih, W_hh, b_ih, b_hh)
    x, W_ih, W_hh, b_ih, b_hh = (np.asarray(a, dtype=dtype) for a in (x, W_ih, W_hh, b_ih, b_hh))
    B, T, _ = x.shape
    H = W_hh.shape[1]
    h0 = np.zeros((B, H), dtype=dtype) if h0_in is None else np.asarray(h0_in, dtype=dtype)  # (B, H)
    c0 = np.zeros((B, H), dtype=dtype) if c0_in is None else np.asarray(c0_in, dtype=dtype)  # (B, H)

    x_proj = x @ W_ih.T + b_ih + b_hh  # (B, T, 4H) input projection for all steps at once
    outputs = np.empty((B, T, H), dtype=dtype)  # (B, T, H) h_t
    cells = np.empty((B, T, H), dtype=dtype)  # (B, T, H) c_t
    gates = np.empty((B, T, 4 * H), dtype=dtype)  # (B, T, 4H) activated i, f, g, o
    h, c = h0, c0  # (B, H), (B, H)
    for t in range(T):
        z = x_proj[:, t] + h @ W_hh.T  # (B, 4H) pre-activations
        i = _sigmoid(z[:, 0 * H : 1 * H])  # (B, H) input gate: how much of g to write
        f = _sigmoid(z[:, 1 * H : 2 * H])  # (B, H) forget gate: how much of c to keep
        g = np.tanh(z[:, 2 * H : 3 * H])  # (B, H) cell candidate
        o = _sigmoid(z[:, 3 * H : 4 * H])  # (B, H) output gate: how much of tanh(c) to show
        c = f * c + i * g  # (B, H)
        h = o * np.tanh(c)  # (B, H)
        gates[:, t] = np.concatenate([i, f, g, o], axis=1)
        cells[:, t] = c
        outputs[:, t] = h

    cache = {
        "x": x, "h0": h0, "c0": c0, "outputs": outputs, "cells": cells, "gates": gates,
        "W_ih": W_ih, "W_hh": W_hh,
    }  # fmt: skip
    return outputs, (h.copy(), c.copy()), cache


def lstm_backward(
    dout: np.ndarray,
    cache: dict[str, Any],
    dh_final: np.ndarray | None = None,
    dc_final: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Backpropagate through time for ``lstm_forward``; returns gradients keyed like its arguments.

    ``dout`` is the (B, T, H) gradient on every output h_t; ``dh_final`` and ``dc_final`` are the
    optional (B, H) gradients on the final state. Per step, walking backwards:

    - ``dh = dout[:, t] + dh_next``: h_t feeds the output and step t+1.
    - ``h = o * tanh(c)`` gives ``do = dh * tanh(c)`` and adds ``dh * o * (1 - tanh(c)^2)`` to dc.
    - ``dc = dc_next + ...``: c_t also feeds c_{t+1} = f * c_t + ..., so the gradient from the
      future arrives along the cell path multiplied only by f. This is the constant error
      carousel: with f near 1 the gradient crosses many steps without being squashed by a
      nonlinearity or a weight matrix, which is why LSTMs remember longer than vanilla RNNs.
    - ``c = f * c_prev + i * g`` gives ``di = dc * g``, ``dg = dc * i``, ``df = dc * c_prev`` and
      ``dc_next = dc * f`` for the step before.
    - Through the activations: sigmoid'(z) = s * (1 - s) for i, f, o; tanh'(z) = 1 - g^2 for g.
    - The pre-activations ``z`` are a linear map of x_t and h_{t-1}, exactly as in the vanilla
      RNN: ``dx_t = dz W_ih``, ``dW_ih += dz^T x_t``, ``dW_hh += dz^T h_{t-1}``,
      ``db += sum_batch(dz)``, ``dh_next = dz W_hh``.
    """
    x, h0, c0 = cache["x"], cache["h0"], cache["c0"]
    outputs, cells, gates = cache["outputs"], cache["cells"], cache["gates"]
    W_ih, W_hh = cache["W_ih"], cache["W_hh"]
    B, T, _ = x.shape
    H = W_hh.shape[1]
    dtype = outputs.dtype
    dout = np.asarray(dout, dtype=dtype)  # (B, T, H)

    dx = np.zeros_like(x)  # (B, T, I)
    dW_ih = np.zeros_like(W_ih)  # (4H, I)
    dW_hh = np.zeros_like(W_hh)  # (4H, H)
    db = np.zeros(4 * H, dtype=dtype)  # (4H,)
    dh_next = np.zeros_like(h0) if dh_final is None else np.asarray(dh_final, dtype=dtype)  # (B, H)
    dc_next = np.zeros_like(c0) if dc_final is None else np.asarray(dc_final, dtype=dtype)  # (B, H)

    for t in reversed(range(T)):
        i = gates[:, t, 0 * H : 1 * H]  # (B, H)
        f = gates[:, t, 1 * H : 2 * H]  # (B, H)
        g = gates[:, t, 2 * H : 3 * H]  # (B, H)
        o = gates[:, t, 3 * H : 4 * H]  # (B, H)
        c = cells[:, t]  # (B, H)
        c_prev = cells[:, t - 1] if t > 0 else c0  # (B, H)
        h_prev = outputs[:, t - 1] if t > 0 else h0  # (B, H)
        tanh_c = np.tanh(c)  # (B, H)

        dh = dout[:, t] + dh_next  # (B, H) from this step's output and from step t+1
        do = dh * tanh_c  # (B, H) h = o * tanh(c)
        dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)  # (B, H) carousel path + path through h
        di = dc * g  # (B, H) c = f * c_prev + i * g
        dg = dc * i  # (B, H)
        df = dc * c_prev  # (B, H)
        dc_next = dc * f  # (B, H) the carousel: only multiplied by f on the way back

        dz = np.concatenate(
            [
                di * i * (1.0 - i),  # sigmoid' = s (1 - s)
                df * f * (1.0 - f),
                dg * (1.0 - g * g),  # tanh' = 1 - tanh^2
                do * o * (1.0 - o),
            ],
            axis=1,
        )  # (B, 4H) gradient on the pre-activations, in the same i, f, g, o row order
        dx[:, t] = dz @ W_ih  # (B, I)
        dW_ih += dz.T @ x[:, t]  # (4H, I) shared weights: sum over steps
        dW_hh += dz.T @ h_prev  # (4H, H)
        db += dz.sum(axis=0)  # (4H,)
        dh_next = dz @ W_hh  # (B, H) gradient flowing back to h_{t-1}

    return {
        "x": dx, "h0": dh_next, "c0": dc_next,
        "W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db.copy(),
    }  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Gradient checking
# --------------------------------------------------------------------------------------------------


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of scalar ``f`` at ``x``: ``(f(x + eps) - f(x - eps)) / (2 eps)``.

    ``x`` must be a floating array; it is perturbed in place one entry at a time (so ``f`` may
    close over it, as in min-char-rnn's gradient check) and restored afterwards. The error is
    O(eps^2) for smooth ``f``; near a relu kink the estimate is meaningless.
    """
    if not np.issubdtype(x.dtype, np.floating):
        raise RnnkitError(f"numerical_gradient needs a floating array, got dtype {x.dtype}")
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        f_plus = f(x)
        x[index] = original - eps
        f_minus = f(x)
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2.0 * eps)
    return grad
