"""The explicit backend (our cells in a loop) equals torch's fused kernels, value and gradient."""

import itertools

import pytest
import torch
from torch import nn

from rnnkit.errors import RnnkitError
from rnnkit.layers import Recurrent, detach_state

B, T, I, H = 3, 7, 4, 5
CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def torch_module(cell, num_layers, bidirectional):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    if cell == "lstm":
        return nn.LSTM(I, H, **kw)
    if cell == "gru":
        return nn.GRU(I, H, **kw)
    return nn.RNN(I, H, nonlinearity=cell.removeprefix("rnn_"), **kw)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def run(module, x, state, lengths, fused_reference: bool):
    """Outputs, final state, and grads of a scalar loss that touches every output and state."""
    torch.manual_seed(123)
    if fused_reference and lengths is not None:
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, final = module(packed, state)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    elif fused_reference:
        out, final = module(x, state)
    else:
        out, final = module(x, state, lengths=lengths)
    g_out = torch.randn(out.shape, dtype=out.dtype)  # not randn_like: strides differ
    loss = (out * g_out).sum() + sum((s * torch.randn(s.shape, dtype=s.dtype)).sum() for s in as_tuple(final))
    params = [p for _, p in sorted(module.named_parameters(), key=lambda kv: kv[0].removeprefix("rnn."))]
    inputs = [x] + [s for s in as_tuple(state)] if state is not None else [x]
    grads = torch.autograd.grad(loss, params + inputs)
    return out, as_tuple(final), grads


GRID = list(itertools.product(CELLS, [1, 2, 3], [False, True], [False, True], [False, True],
                              [torch.float64, torch.float32]))


@pytest.mark.parametrize("cell,num_layers,bidirectional,with_state,with_lengths,dtype", GRID)
def test_explicit_equals_fused(cell, num_layers, bidirectional, with_state, with_lengths, dtype):
    torch.manual_seed(0)
    reference = torch_module(cell, num_layers, bidirectional).to(dtype)
    ours = Recurrent(cell, I, H, num_layers=num_layers, bidirectional=bidirectional,
                     backend="explicit").to(dtype)
    ours.rnn.load_state_dict(reference.state_dict())  # torch -> rnnkit: same names, same shapes

    x = torch.randn(B, T, I, dtype=dtype, requires_grad=True)
    state = None
    if with_state:
        shape = (num_layers * (2 if bidirectional else 1), B, H)
        h = torch.randn(shape, dtype=dtype, requires_grad=True)
        state = (h, torch.randn(shape, dtype=dtype, requires_grad=True)) if cell == "lstm" else h
    lengths = torch.tensor([T, 2, 5]) if with_lengths else None

    want = run(reference, x, state, lengths, fused_reference=True)
    got = run(ours, x, state, lengths, fused_reference=False)
    tol = TOL[dtype]
    torch.testing.assert_close(got[0], want[0], rtol=tol, atol=tol)
    for a, b in zip(got[1], want[1], strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    for a, b in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)

    # our own fused backend over the same parameters gives the same numbers too
    ours.backend = "fused"
    fused = run(ours, x, state, lengths, fused_reference=False)
    torch.testing.assert_close(fused[0], got[0], rtol=tol, atol=tol)
    for a, b in zip(fused[2], got[2], strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("backend", ["fused", "explicit"])
def test_stepping_equals_whole_sequence(cell, backend):
    torch.manual_seed(0)
    layer = Recurrent(cell, I, H, num_layers=2, backend=backend).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    whole, whole_final = layer(x)
    state, outs = None, []
    for t in range(T):
        out, state = layer(x[:, t : t + 1], state)  # (B, 1, H)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), whole, rtol=0, atol=1e-12)
    for a, b in zip(as_tuple(state), as_tuple(whole_final)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_explicit_layer_gradcheck(cell):
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 2, num_layers=2, bidirectional=True, backend="explicit").double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    assert torch.autograd.gradcheck(lambda x: layer(x, lengths=lengths)[0], (x,))


def test_padding_positions_are_zero_and_state_is_taken_at_each_length():
    torch.manual_seed(0)
    layer = Recurrent("gru", I, H, backend="explicit").double()
    x = torch.randn(2, T, I, dtype=torch.float64)
    out, final = layer(x, lengths=torch.tensor([T, 3]))
    assert torch.all(out[1, 3:] == 0)
    short, short_final = layer(x[1:, :3])
    torch.testing.assert_close(final[:, 1], short_final[:, 0])


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    layer = Recurrent("lstm", I, H, num_layers=2, dropout=0.5, backend="explicit")
    x = torch.randn(B, T, I)
    layer.eval()
    a, _ = layer(x)
    b, _ = layer(x)
    torch.testing.assert_close(a, b)
    layer.train()
    c, _ = layer(x)
    assert not torch.allclose(a, c)


def test_detach_state_cuts_graph():
    layer = Recurrent("lstm", I, H)
    _, state = layer(torch.randn(B, T, I))
    detached = detach_state(state)
    assert all(not s.requires_grad for s in detached)
    assert detach_state(None) is None


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Recurrent("lstn", I, H),
         r"unknown cell 'lstn'; expected one of rnn_tanh, rnn_relu, lstm, gru, mingru, minlstm"),
        (lambda: Recurrent("gru", I, H, backend="cudnn"),
         r"unknown backend 'cudnn'; expected one of auto, fused, explicit"),
        (lambda: Recurrent("gru", I, H)(torch.randn(B, I)),
         r"expected input of shape \(batch, time, 4\), got \(3, 4\)"),
        (lambda: Recurrent("gru", I, H)(torch.randn(B, T, I + 1)),
         r"expected input of shape \(batch, time, 4\), got \(3, 7, 5\)"),
        (lambda: Recurrent("rnn_tanh", I, H, num_layers=2)(torch.randn(B, T, I), torch.zeros(1, B, H)),
         r"expected state of shape \(2, 3, 5\)"),
        (lambda: Recurrent("lstm", I, H)(torch.randn(B, T, I), torch.zeros(1, B, H)),
         r"expected state as a pair \(h, c\)"),
        (lambda: Recurrent("lstm", I, H)(torch.randn(B, T, I), lengths=torch.tensor([1, 2, 9])),
         r"expected lengths between 1 and 7"),
        (lambda: Recurrent("lstm", I, 0), r"hidden_size to be a positive integer, got 0"),
        (lambda: Recurrent("lstm", I, H, dropout=1.5), r"0 <= dropout < 1, got 1.5"),
    ],
)
def test_errors_are_one_line(call, message):
    with pytest.raises(RnnkitError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_auto_backend_picks_the_fast_path_and_agrees_with_fused(monkeypatch):
    import rnnkit.engine.fast_lstm as fast

    torch.manual_seed(0)
    layer = Recurrent("lstm", I, H, num_layers=2)  # backend "auto"
    x = torch.randn(B, T, I)
    calls = []
    real = fast.fast_lstm
    monkeypatch.setattr(fast, "fast_lstm", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto_out, _ = layer(x)  # training an LSTM under bf16 autocast on the CPU: fast_lstm
        layer.backend = "fused"
        fused_out, _ = layer(x)
    assert calls == [1]
    torch.testing.assert_close(auto_out.float(), fused_out.float(), rtol=0, atol=2e-2)

    layer.backend = "auto"
    long_x = torch.randn(B, 40, I)
    with torch.no_grad():  # no autocast, long input: the fused kernels, bit-identical to the fused backend
        plain, _ = layer(long_x)
        layer.backend = "fused"
        torch.testing.assert_close(plain, layer(long_x)[0], rtol=0, atol=0)
        layer.backend = "auto"
        short, _ = layer(long_x[:, :5])  # short inference and single steps run through our cells: same numbers
        step, _ = layer(long_x[:, :1])
        torch.testing.assert_close(short, plain[:, :5], rtol=0, atol=1e-6)
        torch.testing.assert_close(step, plain[:, :1], rtol=0, atol=1e-6)
    assert calls == [1]
