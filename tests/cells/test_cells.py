"""Cells written from their equations equal torch's cells, and their gradients are right."""

import copy

import pytest
import torch
from torch import nn

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.errors import RnnkitError

B, I, H = 4, 5, 6


def make_pair(kind: str):
    """(ours, torch's) cells of the same kind, with ours' weights copied into torch's."""
    if kind.startswith("rnn"):
        act = kind.removeprefix("rnn_")
        ours, theirs = RNNCell(I, H, nonlinearity=act), nn.RNNCell(I, H, nonlinearity=act)
    elif kind == "lstm":
        ours, theirs = LSTMCell(I, H), nn.LSTMCell(I, H)
    else:
        ours, theirs = GRUCell(I, H), nn.GRUCell(I, H)
    ours, theirs = ours.double(), theirs.double()
    theirs.load_state_dict(ours.state_dict())  # same names and shapes: copies as-is
    return ours, theirs


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_cell_matches_torch_both_ways(kind):
    torch.manual_seed(0)
    ours, theirs = make_pair(kind)
    x = torch.randn(B, I, dtype=torch.float64)
    h = torch.randn(B, H, dtype=torch.float64)
    state = (h, torch.randn(B, H, dtype=torch.float64)) if kind == "lstm" else h
    out_ours, out_theirs = ours(x, state), theirs(x, state)
    for a, b in zip(torch.atleast_1d(out_ours) if kind != "lstm" else out_ours,
                    torch.atleast_1d(out_theirs) if kind != "lstm" else out_theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    # and back: torch's freshly initialised weights load into ours
    theirs2 = copy.deepcopy(theirs)
    theirs2.reset_parameters()
    ours.load_state_dict(theirs2.state_dict())
    got, want = ours(x, state), theirs2(x, state)
    got, want = (got, want) if kind == "lstm" else ((got,), (want,))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_cell_gradcheck(kind):
    torch.manual_seed(1)
    ours, _ = make_pair(kind)
    x = torch.randn(3, I, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, H, dtype=torch.float64, requires_grad=True)
    params = tuple(ours.parameters())

    if kind == "lstm":
        c = torch.randn(3, H, dtype=torch.float64, requires_grad=True)

        def f(x, h, c, *ps):
            return torch.cat(torch.func.functional_call(ours, dict(zip(names, ps)), (x, (h, c))), -1)

        inputs = (x, h, c, *params)
    else:

        def f(x, h, *ps):
            return torch.func.functional_call(ours, dict(zip(names, ps)), (x, h))

        inputs = (x, h, *params)
    names = [n for n, _ in ours.named_parameters()]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7)


def test_zero_state_default():
    cell = LSTMCell(I, H)
    x = torch.randn(B, I)
    h, c = cell(x)
    h0, c0 = cell(x, (torch.zeros(B, H), torch.zeros(B, H)))
    torch.testing.assert_close(h, h0)
    torch.testing.assert_close(c, c0)


@pytest.mark.parametrize(
    "make, call, message",
    [
        (lambda: RNNCell(I, H), lambda c: c(torch.randn(B, I + 1)),
         r"expected input of shape \(batch, 5\), got \(4, 6\)"),
        (lambda: GRUCell(I, H), lambda c: c(torch.randn(B, I), torch.randn(B, H + 1)),
         r"expected state of shape \(4, 6\), got \(4, 7\)"),
        (lambda: LSTMCell(I, H), lambda c: c(torch.randn(B, I), (torch.randn(B, H), torch.randn(B, 2))),
         r"expected c of shape \(4, 6\), got \(4, 2\)"),
        (lambda: RNNCell(I, H, nonlinearity="sigmoid"), None,
         r"unknown nonlinearity 'sigmoid'; expected 'tanh' or 'relu'"),
        (lambda: LSTMCell(0, H), None, r"needs input_size >= 1"),
    ],
)
def test_cell_errors_are_one_line(make, call, message):
    with pytest.raises(RnnkitError, match=message) as info:
        cell = make()
        call(cell)
    assert "\n" not in str(info.value)
