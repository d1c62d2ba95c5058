"""minGRU and minLSTM: the parallel scan equals the step-by-step recurrence, in value and gradient."""

import itertools

import pytest
import torch
from torch.func import functional_call

from rnnkit.cells import MinGRU, MinLSTM
from rnnkit.cells import scan as scan_module
from rnnkit.cells.mingru import mingru_step
from rnnkit.cells.minlstm import minlstm_step
from rnnkit.cells.parallel_cell import g, log_g
from rnnkit.cells.scan import METHODS, scan, scan_reference
from rnnkit.errors import RnnkitError
from rnnkit.layers import Recurrent, detach_state

B, T, I, H = 3, 9, 4, 5
MIN_CELLS = ["mingru", "minlstm"]
F64 = torch.float64


@pytest.fixture(params=METHODS)
def method(request, monkeypatch):
    """Run the test with each scan method as the CPU's default (so Recurrent uses it too)."""
    monkeypatch.setitem(scan_module.DEFAULT_METHOD, "cpu", request.param)
    return request.param


def test_scan_equals_time_loop_for_any_chunking_and_sign_of_h0(method):
    torch.manual_seed(0)
    a = (torch.rand(B, 23, H, dtype=F64) * 0.98 + 0.01).requires_grad_()
    b = (torch.rand(B, 23, H, dtype=F64) * 2 + 1e-3).requires_grad_()
    h0 = torch.randn(B, H, dtype=F64, requires_grad=True)  # negative entries too: h0 enters linearly
    want = scan_reference(a, b, h0)
    grad = torch.randn(want.shape, dtype=F64)
    want_grads = torch.autograd.grad(want, (a, b, h0), grad)
    for chunk in (1, 4, 7, 23, 100, None):
        got = scan(a.log(), b.log(), h0, chunk)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        for x, y in zip(torch.autograd.grad(got, (a, b, h0), grad), want_grads, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(scan(a.log(), b.log(), None, 5), scan_reference(a, b), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="unknown scan method"):
        scan(a.log(), b.log(), method="magic")


def test_fp32_scan_keeps_precision_over_long_sequences(method):
    torch.manual_seed(1)
    log_a = -torch.rand(2, 2048, 8, dtype=F64) * 3  # a* reaches about -3000 over the sequence
    log_b = torch.randn(2, 2048, 8, dtype=F64)
    want = scan_reference(log_a.exp(), log_b.exp())
    got = scan(log_a.float(), log_b.float())
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-5)


def test_g_and_log_g():
    x = torch.linspace(-30, 30, 601, dtype=F64)
    # 1e-8: torch's softplus returns x itself beyond x = 20 (error exp(-20), below fp32's resolution)
    torch.testing.assert_close(log_g(x), g(x).log(), rtol=1e-8, atol=1e-8)
    assert (g(x) > 0).all()
    assert g(torch.tensor(0.0)).item() == 0.5 and g(torch.tensor(-1e-9)).item() == pytest.approx(0.5)  # continuous


@pytest.mark.parametrize("cls,step", [(MinGRU, mingru_step), (MinLSTM, minlstm_step)])
def test_cell_parallel_equals_step_mode(cls, step):
    torch.manual_seed(2)
    cell = cls(I, H).double()
    x = torch.randn(B, T, I, dtype=F64) * 3  # both branches of g, saturated gates
    h = torch.randn(B, H, dtype=F64)
    parallel = cell(x, h)  # (B, T, H)
    for t in range(T):
        h = cell.step(x[:, t], h)
        torch.testing.assert_close(parallel[:, t], h, rtol=1e-10, atol=1e-10)
    assert cell.update is step


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_linear_coefficients_are_the_exponentials_of_the_log_ones(cls):
    x_proj = torch.randn(4, 7, cls.gates * H, dtype=F64) * 10  # saturated gates and both branches of g
    log_a, log_b = cls.log_coefficients(x_proj)
    a, b = cls.coefficients(x_proj)
    # absolute 1e-14: minGRU's a = 1 - z rounds near z = 1, where a multiplies h by almost nothing
    torch.testing.assert_close(a, log_a.exp(), rtol=1e-8, atol=1e-14)
    torch.testing.assert_close(b, log_b.exp(), rtol=1e-8, atol=1e-14)
    assert ((a > 0) & (a < 1)).all() and (b > 0).all()


def test_minlstm_normalises_its_gates():
    """h_t is a convex combination of h_{t-1} and g(k_h): f' + i' = 1."""
    x_proj = torch.randn(6, 3 * H, dtype=F64) * 4
    h, k_h = torch.randn(6, H, dtype=F64), x_proj[:, 2 * H:]
    # with h = g(k_h) the update returns it unchanged, whatever the gates
    torch.testing.assert_close(minlstm_step(x_proj, g(k_h)), g(k_h), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(minlstm_step(x_proj, h), h)


def as_list(final):
    return [final]


def run(layer, x, state, lengths):
    """Outputs, final state and gradients of a loss that touches every output and final state."""
    out, final = layer(x, state, lengths=lengths)
    gen = torch.Generator().manual_seed(11)
    loss = (out * torch.randn(out.shape, dtype=out.dtype, generator=gen)).sum()
    loss = loss + (final * torch.randn(final.shape, dtype=final.dtype, generator=gen)).sum()
    inputs = [x] + ([state] if state is not None else []) + list(layer.parameters())
    return out, final, torch.autograd.grad(loss, inputs)


GRID = list(itertools.product(MIN_CELLS, [1, 2, 3], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("cell,num_layers,bidirectional,with_state,with_lengths", GRID)
def test_recurrent_parallel_equals_stepwise(cell, num_layers, bidirectional, with_state, with_lengths, method):
    torch.manual_seed(3)
    layer = Recurrent(cell, I, H, num_layers=num_layers, bidirectional=bidirectional, backend="fused").double()
    x = (torch.randn(B, T, I, dtype=F64) * 2).requires_grad_()
    state = None
    if with_state:
        state = torch.randn(num_layers * layer.num_directions, B, H, dtype=F64, requires_grad=True)
    lengths = torch.tensor([T, 2, 6]) if with_lengths else None

    parallel = run(layer, x, state, lengths)
    layer.backend = "explicit"
    stepwise = run(layer, x, state, lengths)
    for a, b in zip(parallel[:2] + parallel[2], stepwise[:2] + stepwise[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert parallel[0].shape == (B, T, layer.output_size)
    assert parallel[1].shape == (num_layers * layer.num_directions, B, H)


@pytest.mark.parametrize("cell", MIN_CELLS)
def test_padding_leaves_a_sequence_alone(cell):
    """A row padded with garbage gives the outputs and final state of the row alone."""
    torch.manual_seed(4)
    layer = Recurrent(cell, I, H, num_layers=2, bidirectional=True).double().eval()
    x = torch.randn(2, T, I, dtype=F64)
    h0 = torch.randn(4, 2, H, dtype=F64)
    out, final = layer(x, h0, lengths=torch.tensor([T, 4]))
    alone, alone_final = layer(x[1:, :4], h0[:, 1:])
    torch.testing.assert_close(out[1, :4], alone[0], rtol=1e-12, atol=1e-12)
    assert (out[1, 4:] == 0).all()
    torch.testing.assert_close(final[:, 1], alone_final[:, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", MIN_CELLS)
def test_gradcheck(cell, method):
    torch.manual_seed(5)
    layer = Recurrent(cell, I, H, num_layers=2, bidirectional=True).double()
    names = [n for n, _ in layer.named_parameters()]
    x = torch.randn(2, 5, I, dtype=F64, requires_grad=True)
    h0 = torch.randn(4, 2, H, dtype=F64, requires_grad=True)
    lengths = torch.tensor([5, 3])

    def f(x, h0, *params):
        out, final = functional_call(layer, dict(zip(names, params)), (x, h0), {"lengths": lengths})
        return out, final

    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    assert torch.autograd.gradcheck(f, (x, h0, *params), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("cell", MIN_CELLS)
def test_carried_state_across_tbptt_windows_equals_one_sequence(cell, method):
    torch.manual_seed(6)
    layer = Recurrent(cell, I, H, num_layers=3).double().eval()
    x = torch.randn(2, 40, I, dtype=F64)
    whole, whole_final = layer(x)
    state, pieces = None, []
    for start in range(0, 40, 16):  # windows of 16, 16, 8: the training loop's stream
        out, state = layer(x[:, start:start + 16], state)
        state = detach_state(state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state, whole_final, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", MIN_CELLS)
def test_auto_steps_single_tokens_and_scans_sequences(cell, monkeypatch):
    layer = Recurrent(cell, I, H, num_layers=2)
    calls = []
    monkeypatch.setattr(Recurrent, "_step_direction", staticmethod(lambda *a, **k: calls.append("step") or
                                                                   Recurrent.__dict__["_scan_direction"]
                                                                   .__func__(*a, **k)))
    layer(torch.randn(2, 1, I))
    assert calls == ["step", "step"]  # one per layer: a single step takes the step mode
    calls.clear()
    layer(torch.randn(2, 5, I))
    assert calls == []


@pytest.mark.parametrize("cell", MIN_CELLS)
def test_bf16_autocast_trains_with_fp32_scan(cell):
    torch.manual_seed(7)
    layer = Recurrent(cell, I, H, num_layers=2)
    x = torch.randn(2, 12, I)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, final = layer(x)
    out.float().sum().backward()
    ref, _ = layer(x)
    assert torch.isfinite(layer.cells[0].linear.weight.grad).all()
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


def test_parameters_and_state_convention():
    layer = Recurrent("minlstm", I, H, num_layers=2, bidirectional=True)
    assert [tuple(p.shape) for p in layer.parameters()] == [
        (3 * H, I), (3 * H,), (3 * H, I), (3 * H,),  # layer 0, both directions: [f, i, h~] rows
        (3 * H, 2 * H), (3 * H,), (3 * H, 2 * H), (3 * H,),  # layer 1 reads both directions
        (2 * H,), (2 * H,)]  # the pre-norm of layer 1
    state = layer.init_state(3)
    assert isinstance(state, torch.Tensor) and state.shape == (4, 3, H)  # h only, like GRU


def test_unknown_cell_names_the_new_ones():
    with pytest.raises(RnnkitError, match="mingru, minlstm"):
        Recurrent("mingruu", I, H)
