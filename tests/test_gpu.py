"""CUDA behaviour: training on a GPU, cuDNN == our cells, checkpoints that load on the CPU.

These need a CUDA device, so they carry the ``gpu`` marker, which the default run deselects (as it does
``slow``); run them on a GPU machine with ``pytest -m gpu``. Without a GPU they fail rather than pass
silently.
"""

import dataclasses
import math

import pytest
import torch

from rnnkit.generate import SamplingConfig, generate_tokens
from rnnkit.layers import Recurrent
from rnnkit.runs import evaluate, open_run, train
from tests.conftest import tiny_config

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _cuda():
    assert torch.cuda.is_available(), "the gpu tests need a CUDA device (run them with -m gpu on a GPU machine)"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_cudnn_equals_our_cells_on_cuda(cell):
    torch.manual_seed(0)
    layer = Recurrent(cell, 8, 16, num_layers=2, backend="fused").cuda().double()
    x = torch.randn(4, 30, 8, device="cuda", dtype=torch.float64, requires_grad=True)
    fused, _ = layer(x)
    (g_fused,) = torch.autograd.grad(fused.square().sum(), x)
    layer.backend = "explicit"
    explicit, _ = layer(x)
    (g_explicit,) = torch.autograd.grad(explicit.square().sum(), x)
    torch.testing.assert_close(fused, explicit, rtol=0, atol=1e-10)
    torch.testing.assert_close(g_fused, g_explicit, rtol=0, atol=1e-10)


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_trains_on_cuda_and_the_checkpoint_loads_on_cpu(corpus, tmp_path, precision, monkeypatch):
    config = tiny_config(corpus, device="cuda", precision=precision, max_steps=40, eval_every=20, lr=2e-2)
    summary = train("lm", config, tmp_path / "run", show_progress=False, log=lambda m: None)
    run = open_run(tmp_path / "run", "cpu")
    cpu_model, vocab, _ = run.model, run.vocab, run.config
    best = summary["best_val"]
    assert best < math.log(len(vocab)) - 0.5, best  # well below a uniform guess: it learned in 40 steps
    run = open_run(tmp_path / "run", "cuda")
    gpu_model, _, _ = run.model, run.vocab, run.config
    ids = torch.as_tensor(vocab.encode("ANNA: the sky is red"))[None]
    # cuDNN and cuBLAS round fp32 operands to TF32 by default; the weights must agree, not those roundings
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    with torch.no_grad():
        cpu_logits, _ = cpu_model(ids)
        gpu_logits, _ = gpu_model(ids.cuda())
    torch.testing.assert_close(gpu_logits.cpu(), cpu_logits, rtol=1e-5, atol=1e-5)
    assert abs(evaluate(tmp_path / "run", device="cuda")["nats_per_token"] - best) < 2e-2  # fp32 eval vs {precision}


def test_sampling_on_cuda_is_seeded_and_streams_like_recomputation(corpus, tmp_path):
    train("lm", tiny_config(corpus, device="cuda", max_steps=10), tmp_path / "run", show_progress=False,
             log=lambda m: None)
    run = open_run(tmp_path / "run", "cuda")
    model, vocab, _ = run.model, run.vocab, run.config
    prime = torch.as_tensor(vocab.encode("ANNA"))
    cfg = SamplingConfig(length=40, greedy=True)
    streamed = torch.stack(list(generate_tokens(model, prime, cfg)), dim=1)[0]  # (40,)
    ids = prime.cuda()
    with torch.no_grad():  # recompute from scratch: the whole prefix every step
        for _ in range(40):
            logits, _ = model(ids[None])
            ids = torch.cat([ids, logits[0, -1].argmax()[None]])
    assert torch.equal(streamed, ids[len(prime):])
    seeded = SamplingConfig(length=60, temperature=0.9, seed=3)
    a = torch.cat(list(generate_tokens(model, prime, seeded)))
    b = torch.cat(list(generate_tokens(model, prime, seeded)))
    assert torch.equal(a, b)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_min_cells_log_scan_equals_step_mode_on_cuda(cell):
    """On CUDA the parallel mode is the chunked log-space scan; it equals the step mode, value and gradient,
    also past one chunk (600 steps > 512), with a carried state and variable lengths, bidirectional."""
    torch.manual_seed(0)
    layer = Recurrent(cell, 8, 16, num_layers=2, bidirectional=True, backend="fused").cuda().double()
    x = torch.randn(3, 600, 8, device="cuda", dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 3, 16, device="cuda", dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([600, 17, 513], device="cuda")
    results = []
    for backend in ("fused", "explicit"):
        layer.backend = backend
        out, final = layer(x, h0, lengths=lengths)
        grads = torch.autograd.grad(out.square().sum() + final.sum(), (x, h0))
        results.append((out, final, *grads))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_min_cell_lm_trains_under_bf16_on_cuda_and_loads_on_cpu(cell, corpus, tmp_path):
    config = tiny_config(corpus, device="cuda", precision="bf16", max_steps=40, eval_every=20, lr=2e-2)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, cell=cell))
    summary = train("lm", config, tmp_path / "run", show_progress=False, log=lambda m: None)
    run = open_run(tmp_path / "run", "cpu")
    assert run.model.recurrent.cell == cell
    assert summary["best_val"] < math.log(len(run.vocab)) - 0.5, summary["best_val"]
