"""fast_lstm equals torch.nn.LSTM (forward and every gradient) on copied weights."""

import pytest
import torch
from torch import nn

from rnnkit.engine.fast_lstm import fast_dropout, fast_lstm

B, T, I, H = 3, 7, 5, 6

#: bf16 GEMMs round operands and results to 8 significant bits; over a short sequence the
#: outputs and gradients stay within a few 1e-3 relative (norm-wise) of the fp32 result.
BF16_RTOL = 2e-2


def weights_of(lstm: nn.LSTM) -> list[tuple]:
    """The per-layer (weight_ih, weight_hh, bias_ih, bias_hh) tensors of ``lstm``, shared, not copied."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return [tuple(getattr(lstm, f"{name}_l{k}") for name in names) for k in range(lstm.num_layers)]


def run_both(num_layers: int, with_state: bool, dtype: torch.dtype, compute_dtype: torch.dtype):
    """Outputs and gradients (x, parameters, initial state) of nn.LSTM and of fast_lstm, same weights."""
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, num_layers, batch_first=True).to(dtype)
    x = torch.randn(B, T, I, dtype=dtype, requires_grad=True)
    state = None
    if with_state:
        state = tuple(torch.randn(num_layers, B, H, dtype=dtype, requires_grad=True) for _ in range(2))
    inputs = [x, *lstm.parameters(), *(state or ())]
    # Random upstream gradients on every output, so each term of the backward is exercised.
    out, (h_n, c_n) = lstm(x, state)
    d_out, d_h, d_c = torch.randn_like(out), torch.randn_like(h_n), torch.randn_like(c_n)

    def results(out, h_n, c_n):
        loss = (out * d_out).sum() + (h_n * d_h).sum() + (c_n * d_c).sum()
        return [out, h_n, c_n, *torch.autograd.grad(loss, inputs)]

    theirs = results(out, h_n, c_n)
    out, (h_n, c_n) = fast_lstm(x, weights_of(lstm), state, compute_dtype=compute_dtype)
    ours = results(out, h_n, c_n)
    return ours, theirs


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_matches_nn_lstm(num_layers, with_state, dtype, atol):
    ours, theirs = run_both(num_layers, with_state, dtype, compute_dtype=dtype)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=0, atol=atol)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_bf16_compute_close_to_nn_lstm(num_layers):
    ours, theirs = run_both(num_layers, True, torch.float32, compute_dtype=torch.bfloat16)
    for a, b in zip(ours, theirs):
        assert a.dtype == torch.float32  # master dtype in, master dtype out
        rel = ((a - b).norm() / b.norm()).item()
        assert rel < BF16_RTOL, rel


def test_gradcheck_tiny_float64():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 2, 2, batch_first=True).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    h0, c0 = (torch.randn(2, 2, 2, dtype=torch.float64, requires_grad=True) for _ in range(2))
    flat = [p.detach().clone().requires_grad_() for p in lstm.parameters()]

    def f(x, h0, c0, *params):
        weights = [tuple(params[4 * k : 4 * k + 4]) for k in range(2)]
        out, (h_n, c_n) = fast_lstm(x, weights, (h0, c0), compute_dtype=torch.float64)
        return out, h_n, c_n

    assert torch.autograd.gradcheck(f, (x, h0, c0, *flat))


def test_master_weights_untouched_and_no_bias():
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, 1, batch_first=True, bias=False).double()
    before = [p.detach().clone() for p in lstm.parameters()]
    x = torch.randn(B, T, I, dtype=torch.float64)
    out, _ = fast_lstm(x, [(lstm.weight_ih_l0, lstm.weight_hh_l0, None, None)], compute_dtype=torch.float64)
    torch.testing.assert_close(out, lstm(x)[0], rtol=0, atol=1e-12)
    out.sum().backward()
    for p, b in zip(lstm.parameters(), before):
        assert torch.equal(p, b) and p.grad is not None


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, 2, batch_first=True).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    plain, _ = fast_lstm(x, weights_of(lstm), compute_dtype=torch.float64)
    evaluated, _ = fast_lstm(x, weights_of(lstm), dropout=0.5, training=False, compute_dtype=torch.float64)
    trained, _ = fast_lstm(x, weights_of(lstm), dropout=0.5, training=True, compute_dtype=torch.float64)
    assert torch.equal(plain, evaluated)
    assert not torch.allclose(plain, trained)


def test_fast_dropout_statistics():
    torch.manual_seed(0)
    x = torch.ones(200, 1000)
    y = fast_dropout(x, 0.3)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    assert fast_dropout(x, 0.3, training=False) is x


def test_bad_input_messages():
    w = [(torch.zeros(8, 3), torch.zeros(8, 2), None, None)]
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, I\)"):
        fast_lstm(torch.zeros(2, 3), w)
    with pytest.raises(ValueError, match="compute_dtype must be one of"):
        fast_lstm(torch.zeros(1, 2, 3), w, compute_dtype=torch.float16)


def test_recycled_buffers_and_retained_graph_give_the_same_gradients():
    # Step 1's backward hands its buffers to the workspace and step 2's forward reuses them; a
    # retained graph keeps its own, so a second backward through it repeats the first.
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, 2, batch_first=True)
    grads = []
    for step in range(3):
        x = torch.randn(B, T, I, generator=torch.Generator().manual_seed(step % 2))
        out, _ = fast_lstm(x, weights_of(lstm), compute_dtype=torch.float32)
        grads.append(torch.autograd.grad(out.square().sum(), list(lstm.parameters()), retain_graph=step == 2))
        if step == 2:
            again = torch.autograd.grad(out.square().sum(), list(lstm.parameters()))
            for a, b in zip(again, grads[2]):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(grads[0], grads[2]):  # same input, same weights, recycled buffers
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bf16_out_dtype_is_the_contiguous_bf16_output():
    # Under autocast Recurrent asks for bf16 outputs: the same values, contiguous (B, T, H), no fp32 copy.
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, 2, batch_first=True)
    x = torch.randn(B, T, I, requires_grad=True)
    wide, (h_w, c_w) = fast_lstm(x, weights_of(lstm), compute_dtype=torch.bfloat16)
    narrow, (h_n, c_n) = fast_lstm(x, weights_of(lstm), compute_dtype=torch.bfloat16, out_dtype=torch.bfloat16)
    assert wide.dtype == torch.float32 and narrow.dtype == torch.bfloat16 and narrow.is_contiguous()
    assert torch.equal(wide.bfloat16(), narrow) and torch.equal(h_w, h_n) and torch.equal(c_w, c_n)
    g = torch.randn(B, T, H).bfloat16()
    (g_wide,) = torch.autograd.grad(wide, x, g.float())
    (g_narrow,) = torch.autograd.grad(narrow, x, g)
    assert torch.equal(g_wide, g_narrow)


def test_prepacked_recurrent_gemm_equals_addmm(monkeypatch):
    # The time loops' GEMMs run through oneDNN's prepacked linear where it is available; the plain
    # addmm fallback must give the very same bits (forward and every gradient).
    import rnnkit.engine.fast_lstm as fl

    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, 2, batch_first=True)
    x = torch.randn(B, T, I, requires_grad=True)
    state = tuple(torch.randn(2, B, H, requires_grad=True) for _ in range(2))
    inputs = [x, *lstm.parameters(), *state]

    def results():
        out, (h_n, c_n) = fast_lstm(x, weights_of(lstm), state, compute_dtype=torch.bfloat16)
        loss = (out * torch.linspace(-1, 1, H)).sum() + h_n.sum() + (c_n * c_n).sum()
        return [out, h_n, c_n, *torch.autograd.grad(loss, inputs)]

    packed = results()
    monkeypatch.setattr(fl, "_packed_weight", lambda w, batch: None)
    plain = results()
    for a, b in zip(packed, plain):
        assert torch.equal(a, b)


def test_packed_gemm_falls_back_when_the_op_fails(monkeypatch):
    import rnnkit.engine.fast_lstm as fl

    class NoMkldnn:
        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setattr(fl, "_PACKED_GEMM_OK", {})
    monkeypatch.setattr(torch.ops, "mkldnn", NoMkldnn())
    w = torch.randn(8, 4).bfloat16()
    assert fl._packed_weight(w, 2) is None
    assert fl._PACKED_GEMM_OK == {torch.device("cpu"): False}
    assert fl._packed_weight(w.float(), 2) is None  # only bf16 is ever packed


def test_fast_dropout_recycled_scratch_leaves_earlier_outputs_alone():
    x = torch.randn(64, 50, requires_grad=True)
    torch.manual_seed(3)
    first = fast_dropout(x, 0.25)
    kept = first.detach().clone()
    torch.manual_seed(4)
    second = fast_dropout(x, 0.25)  # reuses the scratch of the first call
    assert torch.equal(first, kept) and not torch.equal(first, second)
    torch.manual_seed(3)
    assert torch.equal(fast_dropout(x, 0.25), kept)  # same seed, same mask
    (grad,) = torch.autograd.grad(first.sum(), x)
    torch.testing.assert_close(grad, (kept != 0).float() / 0.75)
    bf = fast_dropout(x.detach().bfloat16(), 0.25)
    assert bf.dtype == torch.bfloat16
