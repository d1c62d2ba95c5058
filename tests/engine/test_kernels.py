"""The C++ step kernels (rnnkit.engine.kernels): built here, equal to the PyTorch-ops path, and a clean fallback."""

import logging
import shutil

import pytest
import torch
from torch import nn

import rnnkit.engine.fast_lstm as fl
from rnnkit.engine import kernels
from rnnkit.engine.fast_lstm import fast_dropout, fast_lstm

B, T, I, H = 16, 24, 20, 32


def weights_of(lstm: nn.LSTM) -> list[tuple]:
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return [tuple(getattr(lstm, f"{name}_l{k}") for name in names) for k in range(lstm.num_layers)]


def compiler_present() -> bool:
    return bool(kernels.compilers())


def test_kernels_load_wherever_a_compiler_is_present():
    # On this project's machines (and CI) a C++ compiler exists, so the fast path must really be built
    # and pass its self-check; without one the answer is None, never an exception.
    ops = kernels.lstm_kernels()
    assert (ops is not None) == compiler_present()
    if ops is not None:
        assert kernels._agrees_with_pytorch()


@pytest.fixture
def ops():
    """The loaded kernels. Without a C++ compiler there are none to test (the PyTorch-ops path that
    rnnkit then uses is what every other test exercises)."""
    loaded = kernels.lstm_kernels()
    if loaded is None and not compiler_present():
        pytest.skip("no C++ compiler on this machine")
    assert loaded is not None
    return loaded


def lstm_results(use_kernels: bool, monkeypatch, dtype=torch.bfloat16):
    """Outputs and every gradient of a 2-layer fast_lstm with an initial state, on random weights."""
    if not use_kernels:
        monkeypatch.setattr(fl, "_cpu_kernels", lambda *a: None)
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, 2, batch_first=True)
    x = torch.randn(B, T, I, requires_grad=True)
    state = tuple(torch.randn(2, B, H, requires_grad=True) for _ in range(2))
    inputs = [x, *lstm.parameters(), *state]
    out, (h_n, c_n) = fast_lstm(x, weights_of(lstm), state, compute_dtype=dtype)
    gen = torch.Generator().manual_seed(1)
    loss = ((out * torch.randn(out.shape, generator=gen)).sum() + (h_n * torch.randn(h_n.shape, generator=gen)).sum()
            + (c_n * torch.randn(c_n.shape, generator=gen)).sum())
    results = [out, h_n, c_n, *torch.autograd.grad(loss, inputs)]
    monkeypatch.undo()
    return results


def test_fused_path_is_as_accurate_as_the_pytorch_ops_path(ops, monkeypatch):
    truth = lstm_results(True, monkeypatch, dtype=torch.float64)  # same algorithm in fp64: the exact answer
    fused = lstm_results(True, monkeypatch)
    plain = lstm_results(False, monkeypatch)
    for name, t, a, b in zip(["out", "h_n", "c_n", "dx", "dW_ih0", "dW_hh0", "db_ih0", "db_hh0", "dW_ih1",
                               "dW_hh1", "db_ih1", "db_hh1", "dh0", "dc0"], truth, fused, plain):
        t = t.double()
        err_fused = ((a.double() - t).norm() / t.norm()).item()
        err_plain = ((b.double() - t).norm() / t.norm()).item()
        # both are bf16-GEMM results (errors of a few 1e-3); the kernels may not be the less accurate by much
        assert err_fused < 2e-2 and err_plain < 2e-2, (name, err_fused, err_plain)
        assert err_fused <= 1.5 * err_plain + 1e-3, (name, err_fused, err_plain)


def test_fused_path_is_the_one_bf16_takes(ops, monkeypatch):
    calls = []
    real = fl._forward_loop_fused
    monkeypatch.setattr(fl, "_forward_loop_fused", lambda *a: calls.append(1) or real(*a))
    x = torch.randn(2, 3, 4)
    lstm = nn.LSTM(4, 5, 1, batch_first=True)
    fast_lstm(x, weights_of(lstm), compute_dtype=torch.bfloat16)
    assert calls == [1]
    fast_lstm(x, weights_of(lstm), compute_dtype=torch.float32)  # fp32/fp64 keep the PyTorch ops
    assert calls == [1]


def test_kernel_rejects_wrong_shapes_and_dtypes(ops):
    pre = torch.zeros(2, 4 * H, dtype=torch.bfloat16)
    c = torch.zeros(2, H)
    expected = r"h_out must be a row-major CPU bfloat16 tensor of shape \(2, 32\), got Float \[2, 32\]"
    with pytest.raises(RuntimeError, match=expected):
        ops.lstm_forward_step(pre, c, c.clone(), torch.zeros(2, H), pre.clone())  # fp32 h
    with pytest.raises(RuntimeError, match="pre must be a contiguous CPU bfloat16 tensor of shape"):
        ops.lstm_backward_step(pre[:, : 2 * H], c, c, torch.zeros(2, H, dtype=torch.bfloat16), c.clone(), pre.clone(),
                               torch.zeros(2, 4 * H))


@pytest.mark.parametrize("p", [0.1, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_kernel_masks(p, dtype, ops):
    n = 400_003  # not a multiple of 4: the last partial word is filled too
    threshold, scale = round(p * 65536), 1 / (1 - p)
    masks = []
    try:
        for threads, seed in [(1, 7), (2, 7), (1, 8)]:
            torch.set_num_threads(threads)
            mask = torch.full((n,), float("nan"), dtype=dtype)
            ops.dropout_mask(mask, seed, threshold, scale)
            masks.append(mask)
    finally:
        torch.set_num_threads(1)  # as conftest sets it
    a, same, other = masks
    assert set(a.unique().float().tolist()) == {0.0, float(torch.tensor(scale, dtype=dtype))}
    assert torch.equal(a, same)  # the seed alone decides the mask, whatever the thread count
    assert not torch.equal(a, other)
    kept = (a != 0).double().mean().item()
    assert abs(kept - (1 - p)) < 4 * ((p * (1 - p) / n) ** 0.5)  # within 4 standard errors
    # neighbouring elements (same and adjacent 64-bit words) are independent
    pairs = ((a[:-1] != 0) & (a[1:] != 0)).double().mean().item()
    assert abs(pairs - (1 - p) ** 2) < 0.01


def test_fast_dropout_uses_the_seeded_global_generator():
    x = torch.randn(1000, 37, requires_grad=True)
    torch.manual_seed(5)
    y1 = fast_dropout(x, 0.3)
    torch.manual_seed(5)
    y2 = fast_dropout(x, 0.3)
    assert torch.equal(y1, y2)
    assert abs((y1 != 0).float().mean().item() - 0.7) < 0.01
    (grad,) = torch.autograd.grad(y1.sum(), x)
    torch.testing.assert_close(grad, (y1 != 0).float() / 0.7)


def test_no_compiler_means_pytorch_ops_and_one_warning(monkeypatch, caplog):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    monkeypatch.setenv("PATH", "/nonexistent")  # and no c++ either
    assert kernels.compilers() == []
    monkeypatch.setattr(kernels, "_registered", lambda: False)  # as in a process that never built them
    with caplog.at_level(logging.WARNING, logger="rnnkit.engine.kernels"):
        assert kernels._load() is None
    (record,) = caplog.records
    assert "no C++ compiler found" in record.getMessage() and "RNNKIT_KERNELS=0" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_kernels_env_switch_skips_the_build(monkeypatch):
    monkeypatch.setenv(kernels.KERNELS_ENV, "0")
    monkeypatch.setattr(kernels, "_build", lambda: pytest.fail("must not build"))
    assert kernels._load() is None


def test_compile_failure_is_reported_not_raised(monkeypatch, tmp_path, caplog):
    broken = tmp_path / "broken.cpp"
    broken.write_text("this is not C++\n")
    monkeypatch.setattr(kernels, "SOURCES", (broken,))
    monkeypatch.setattr(kernels, "_registered", lambda: False)
    if not compiler_present():
        pytest.skip("no C++ compiler on this machine")
    with caplog.at_level(logging.WARNING, logger="rnnkit.engine.kernels"):
        assert kernels._load() is None
    assert "compiling broken.cpp with" in caplog.text and "failed" in caplog.text
    assert not list((kernels.cache_dir() / "kernels").glob("*.part"))  # no half-written library left behind


def test_a_library_that_fails_its_smoke_test_is_not_used(monkeypatch, tmp_path):
    # $CXX names a "compiler" whose output cannot be loaded (as a mismatched C++ runtime can crash);
    # the build must reject it in a separate process and go on with c++.
    if shutil.which("c++") is None:
        pytest.skip("no C++ compiler on this machine")
    fake = tmp_path / "fake-cxx"
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\necho "not a library" > "$2"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    assert kernels.compilers() == [str(fake), "c++"]
    built = kernels._build()
    assert built == kernels._library_path("c++") and built.exists()
    assert not kernels._library_path(str(fake)).exists()
