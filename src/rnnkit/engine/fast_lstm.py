"""A multi-layer LSTM with a hand-written backward pass, built for fast bf16 training on CPU.

``fast_lstm`` computes exactly what ``torch.nn.LSTM(batch_first=True)`` computes, from the same
parameter tensors (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``,
gate rows stacked i, f, g, o), but each layer is one ``torch.autograd.Function`` whose forward and
backward are arranged around matrix multiplies in ``compute_dtype`` (bf16 by default):

Forward, per layer
    1. the layer keeps ``xh[t] = [x_t | h_{t-1}]`` (B, I + H) for every step in one buffer, so each
       step's pre-activations ``xh[t] [W_ih | W_hh]^T + b`` are ONE GEMM (M = B, K = I + H; a
       separate input projection over all T*B rows wrote and re-read a (T*B, 4H) tensor and ran
       slower). In bf16 the weight is prepacked once per call for oneDNN (``_packed_weight``,
       bit-identical to ``addmm`` and ~15% faster at M = B);
    2. all four gates go through ONE sigmoid (the g rows of the weights are doubled,
       tanh(a) = 2 sigmoid(2a) - 1, because CPU ``tanh`` is ~9x slower than ``sigmoid`` in this
       PyTorch build). In bf16 on the CPU the step's pointwise math is one C++ kernel
       (``rnnkit.engine.kernels``), which also keeps the pre-activations for the backward;
       otherwise it is PyTorch ops written with ``out=`` into preallocated buffers (no autograd
       graph, no allocations) that store what the backward multiplies by (``i(1-i)g``,
       ``f(1-f)c_{t-1}``, ``i(1-g^2)``, ``o(1-o)tanh(c_t)``, ``o(1-tanh^2 c_t)``).

Backward, per layer
    1. the time loop needs one GEMM ``dgates_t W_hh`` (fused with the ``+ dout_{t-1}`` add) and the
       chain rule through the cell (the C++ kernel recomputes the gates from the stored
       pre-activations, bit for bit, rather than reading three times as many stored factors),
       writing ``dgates_t`` into a (T, B, 4H) buffer;
    2. ``[dW_ih | dW_hh]``, ``db`` and ``dx`` are then each ONE large GEMM / reduction over all
       T*B rows, instead of T small ones.

The large buffers are recycled between steps (``_Workspace``): freshly mmapped 100 MB tensors cost
a page fault per 4 KB, tens of milliseconds per step.

Why this beats ``nn.LSTM`` on a CPU with AVX-512 BF16: under ``torch.autocast`` the oneDNN
LSTM forward is reasonable, but its bf16 backward (``mkldnn_rnn_layer_backward``) takes about
60% of the step; here about four fifths of the step are bf16 GEMMs running near the cores' peak.
Figures: ``benchmarks/bench_lstm_kernels.py`` and ``benchmarks/bench_train_throughput.py``
(BENCHMARKS.md). The fp32/fp64 modes exist for checking: their per-step GEMM is slow (M = 128),
so they are slower than ``nn.LSTM`` in fp32.

Precision: with ``compute_dtype=torch.bfloat16`` the GEMM operands and results (the gate
pre-activations, ``h`` and the gate gradients) are bf16, as under autocast (the input and recurrent
terms and the bias are summed in one fp32 accumulation, rounded once), while the cell state
``c``, its gradient and the gate values stay fp32; the master weights are never modified and their
gradients come back in their own dtype. With ``compute_dtype=torch.float32`` or ``torch.float64``
the same algorithm runs entirely in that dtype and equals autograd through ``nn.LSTM`` to
rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["fast_dropout", "fast_lstm"]

#: One layer's parameters in torch.nn.LSTM's layout: w_ih (4H, I), w_hh (4H, H), b_ih (4H,), b_hh (4H,).
LayerWeights = tuple[Tensor, Tensor, Tensor | None, Tensor | None]

COMPUTE_DTYPES = (torch.bfloat16, torch.float32, torch.float64)


def _state_dtype(compute_dtype: torch.dtype) -> torch.dtype:
    """The dtype of the cell state and gate buffers: at least fp32, float64 in float64 mode."""
    return torch.float64 if compute_dtype == torch.float64 else torch.float32


class _Workspace:
    """A free-list of large scratch tensors, reused from one training step to the next.

    Tensors over glibc's mmap threshold (32 MB) are returned to the OS when freed, so allocating
    the (T, B, 4H) buffers afresh every step costs a page fault per 4 KB -- tens of milliseconds
    per step. A forward takes its buffers from here and its backward hands them back, unless the
    graph is retained for another backward; a forward whose backward never runs (inference) simply
    lets them be garbage-collected.
    """

    def __init__(self, max_per_key: int = 8):
        self.max_per_key = max_per_key
        self.free: dict[tuple, list[Tensor]] = {}

    def take(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
        pool = self.free.get((shape, dtype, device))
        return pool.pop() if pool else torch.empty(shape, dtype=dtype, device=device)

    def give(self, *tensors: Tensor) -> None:
        for t in tensors:
            pool = self.free.setdefault((tuple(t.shape), t.dtype, t.device), [])
            if len(pool) < self.max_per_key:
                pool.append(t)


_WORKSPACE = _Workspace()


def _graph_kept() -> bool:
    """True if the running backward was called with retain_graph (or create_graph).

    Uses the private hook that AOTAutograd uses for the same purpose; if it ever goes away we
    assume the graph is kept, which is always safe (the buffers are then freed, not recycled).
    """
    try:
        return torch._C._autograd._get_current_graph_task_keep_graph()
    except (AttributeError, RuntimeError):
        return True


_PACKED_GEMM_OK: dict[torch.device, bool] = {}


def _packed_weight(w: Tensor, batch: int) -> Tensor | None:
    """``w`` (N, K) bf16 reordered once into oneDNN's blocked layout for the per-step GEMMs, or None.

    The per-step GEMMs of the time loops have only M = B rows, and ``addmm`` reads ``w`` in its
    plain layout every step; oneDNN's prepacked linear (what inductor's CPU weight freezing uses),
    with a bias or a fused "add" post-op, computes the same result (one fp32 accumulation, one
    rounding; checked bit for bit against ``addmm`` on first use) about 15% faster. The ops are
    private to PyTorch's mkldnn backend, so any failure (no mkldnn, no bf16 support on this CPU, a
    renamed op) means None and the caller uses ``addmm``.
    """
    if w.dtype != torch.bfloat16 or w.device.type != "cpu" or _PACKED_GEMM_OK.get(w.device) is False:
        return None
    try:
        if w.device not in _PACKED_GEMM_OK:  # first use: the ops must agree with addmm exactly
            gen = torch.Generator().manual_seed(0)
            x = torch.randn((3, w.shape[1]), generator=gen).to(w.dtype)
            other = torch.randn((3, w.shape[0]), generator=gen).to(w.dtype)
            packed = torch.ops.mkldnn._reorder_linear_weight(w, 3)
            _PACKED_GEMM_OK[w.device] = bool(
                torch.equal(_gemm_add(x, other, packed), torch.addmm(other, x, w.t()))
                and torch.equal(_gemm_bias(x, packed, other[0]), torch.addmm(other[0], x, w.t())))
            if not _PACKED_GEMM_OK[w.device]:
                return None
        return torch.ops.mkldnn._reorder_linear_weight(w, batch)
    except (AttributeError, RuntimeError, NotImplementedError):
        _PACKED_GEMM_OK[w.device] = False
        return None


def _gemm_add(x: Tensor, other: Tensor, w_packed: Tensor) -> Tensor:
    """``other + x w^T`` (a new (M, N) tensor) with ``w`` prepacked by ``_packed_weight``."""
    return torch.ops.mkldnn._linear_pointwise.binary(x, other, w_packed, None, "add")


def _gemm_bias(x: Tensor, w_packed: Tensor, bias: Tensor | None) -> Tensor:
    """``x w^T + bias`` (a new (M, N) tensor) with ``w`` prepacked by ``_packed_weight``."""
    return torch.ops.mkldnn._linear_pointwise(x, w_packed, bias, "none", [], "")


def _gate_weights(w_ih: Tensor, w_hh: Tensor, dtype: torch.dtype) -> Tensor:
    """``[w_ih | w_hh]`` (4H, I + H) in ``dtype`` with the g-gate rows doubled: tanh(a) = 2 sigmoid(2a) - 1.

    CPU ``tanh`` is about 9x slower than ``sigmoid`` in this PyTorch build, so all four gates go
    through one sigmoid over the (B, 4H) pre-activations; scaling by 2 is exact in binary floats.
    """
    four_h, input_size = w_ih.shape
    out = torch.empty((four_h, input_size + w_hh.shape[1]), dtype=dtype, device=w_ih.device)
    out[:, :input_size].copy_(w_ih)
    out[:, input_size:].copy_(w_hh)
    out[four_h // 2 : 3 * four_h // 4] *= 2
    return out


def _cpu_kernels(device: torch.device):
    """The C++ kernels (``rnnkit.engine.kernels``) for tensors on ``device``: loaded on the CPU, else None."""
    if device.type != "cpu":
        return None
    from rnnkit.engine.kernels import lstm_kernels

    return lstm_kernels()


def _steps(buffer: Tensor, gate: int | None = None, H: int = 0) -> tuple[Tensor, ...]:
    """Per-step views of a time-major buffer (of one gate block when ``gate`` is given), made up front:
    slicing inside a time loop costs more Python time than some of the kernels it feeds."""
    return (buffer if gate is None else buffer[..., gate * H : (gate + 1) * H]).unbind(0)


def _forward_loop_fused(kernels, xh: Tensor, gemm, cs: Tensor, pre: Tensor) -> None:
    """The recurrence with the C++ step kernel: per step one bf16 GEMM, then one pass of pointwise math
    that writes c_t, h_t (into ``xh``) and keeps the step's pre-activations in ``pre`` for the backward."""
    T, H = pre.shape[0], cs.shape[-1]
    xh_steps, h_steps = xh.unbind(0), xh[..., xh.shape[-1] - H :].unbind(0)
    c_steps, pre_steps = cs.unbind(0), pre.unbind(0)
    step = kernels.lstm_forward_step
    for t in range(T):
        step(gemm(xh_steps[t]), c_steps[t], c_steps[t + 1], h_steps[t + 1], pre_steps[t])


def _forward_loop(xh: Tensor, gemm, cs: Tensor, gates: Tensor, k: Tensor, dc_dh: Tensor) -> None:
    """The recurrence in PyTorch ops. Per step one GEMM, then pointwise kernels writing with out= into
    the buffers: no autograd graph, no allocations. Besides the gates it stores what the backward will
    multiply by, so the backward loop needs only four pointwise kernels."""
    T, B, four_h = gates.shape
    H = four_h // 4
    sd, cd, dev = gates.dtype, xh.dtype, gates.device
    narrow = cd != sd
    tanh_c = torch.empty((B, H), dtype=sd, device=dev)
    # Constant addends, so that 2 s - 1 and 2 k i are each ONE kernel (-1 + 2 s, 0 + 2 k i): exact
    # like the two-kernel forms, since scaling by 2 and adding 0 round nothing.
    minus_one = torch.full((B, H), -1.0, dtype=sd, device=dev)
    zero = torch.zeros((B, H), dtype=sd, device=dev)
    h_full = torch.empty((B, H), dtype=sd, device=dev) if narrow else None
    g_steps, k_steps, dcdh_steps = _steps(gates), _steps(k), _steps(dc_dh)
    i_s, f_s, g_s, o_s = (_steps(gates, n, H) for n in range(4))
    ki_s, kf_s, kg_s, ko_s = (_steps(k, n, H) for n in range(4))
    xh_steps, h_steps, c_steps = xh.unbind(0), xh[..., xh.shape[-1] - H :].unbind(0), cs.unbind(0)
    for t in range(T):
        g_t, i, f, g, o, c_t = g_steps[t], i_s[t], f_s[t], g_s[t], o_s[t], c_steps[t + 1]
        if narrow:  # the GEMM in the compute dtype, then widened: the gate math runs in the state dtype
            g_t.copy_(gemm(xh_steps[t]))
        else:
            gemm(xh_steps[t], out=g_t)  # pre-activations (B, 4H)
        g_t.sigmoid_()  # i, f, o; and sigmoid(2 a_g) in the g slot
        torch.addcmul(g_t, g_t, g_t, value=-1, out=k_steps[t])  # s (1 - s) for every gate
        torch.add(minus_one, g, alpha=2.0, out=g)  # g = 2 sigmoid(2 a_g) - 1 = tanh(a_g)
        torch.mul(f, c_steps[t], out=c_t)  # f * c_{t-1}
        c_t.addcmul_(i, g)  # c_t = f * c_{t-1} + i * g
        torch.mul(c_t, 2.0, out=tanh_c).sigmoid_()  # tanh(c_t), via sigmoid as above
        torch.add(minus_one, tanh_c, alpha=2.0, out=tanh_c)
        h_t = h_steps[t + 1] if h_full is None else h_full
        torch.mul(o, tanh_c, out=h_t)  # h_t = o * tanh(c_t)
        if h_full is not None:
            h_steps[t + 1].copy_(h_full)  # narrowed for the next GEMM
        torch.addcmul(o, h_t, tanh_c, value=-1, out=dcdh_steps[t])  # o (1 - tanh^2 c_t)
        ki_s[t].mul_(g)  # i(1-i) g
        kf_s[t].mul_(c_steps[t])  # f(1-f) c_{t-1}
        torch.addcmul(zero, i, kg_s[t], value=2.0, out=kg_s[t])  # 2 s_g(1-s_g) i = d c_t / d(2 a_g)
        ko_s[t].mul_(tanh_c)  # o(1-o) tanh(c_t)


def _recurrent_grad(dg_t: Tensor, dout_prev: Tensor, w_hh_c: Tensor, w_hh_packed: Tensor | None) -> Tensor:
    """dh_{t-1} = dout_{t-1} + dgates_t W_hh, a new (B, H) tensor."""
    if w_hh_packed is None:
        return torch.addmm(dout_prev, dg_t, w_hh_c)
    return _gemm_add(dg_t, dout_prev.contiguous(), w_hh_packed)


def _backward_loop_fused(kernels, d_gates, d_out, dh, dc, pre, cs, w_hh_c, w_hh_packed) -> Tensor:
    """BPTT with the C++ step kernel: per step one pass of pointwise chain rule (recomputing the gates
    from the stored pre-activations), then one bf16 GEMM. Leaves dc_{-1} (the gradient of c0) in ``dc``
    and returns the bias gradient (4H,) in fp32, summed by the kernel as it goes."""
    T, B, four_h = d_gates.shape
    dg_steps, dout_steps, pre_steps, c_steps = d_gates.unbind(0), d_out.unbind(0), pre.unbind(0), cs.unbind(0)
    d_bias_rows = torch.zeros((B, four_h), dtype=cs.dtype, device=cs.device)  # each row summed over time
    step = kernels.lstm_backward_step
    for t in range(T - 1, -1, -1):  # dgates_t; dc becomes dc_{t-1}
        step(pre_steps[t], c_steps[t], c_steps[t + 1], dh, dc, dg_steps[t], d_bias_rows)
        if t > 0:
            dh = _recurrent_grad(dg_steps[t], dout_steps[t - 1], w_hh_c, w_hh_packed)
    return d_bias_rows.sum(0)


def _backward_loop(d_gates, d_out, dh, dc, gates, k, dc_dh, w_hh_c, w_hh_packed) -> None:
    """BPTT in PyTorch ops: fills ``d_gates`` (T, B, 4H) and leaves dc_{-1} (the gradient of c0) in ``dc``.

    Per step: the chain rule through the cell with the factors the forward stored (four pointwise
    kernels), then dh_{t-1} = dout_{t-1} + dgates_t W_hh (one GEMM).
    """
    T, B, four_h = d_gates.shape
    H = four_h // 4
    cd, sd, dev = d_gates.dtype, k.dtype, k.device
    # The pointwise chain rule runs in the state dtype: mixed-dtype kernels would each
    # allocate a temporary and copy, so dh is widened once and dgates narrowed once per step.
    narrow = cd != sd
    dh_s = torch.empty((B, H), dtype=sd, device=dev) if narrow else dh  # dh in the state dtype
    dg_s = torch.empty((B, four_h), dtype=sd, device=dev) if narrow else None  # dgates_t scratch
    dc_col = dc.unsqueeze(1)  # (B, 1, H), broadcasts over the i, f, g blocks
    k_ifg = k[..., : 3 * H].unflatten(-1, (3, H)).unbind(0)  # T views (B, 3, H)
    k_o = k[..., 3 * H :].unbind(0)  # T views (B, H)
    f_steps = gates[..., H : 2 * H].unbind(0)
    dg_steps, dout_steps, dcdh_steps = d_gates.unbind(0), d_out.unbind(0), dc_dh.unbind(0)
    if narrow:
        dg_ifg, dg_o = [dg_s[:, : 3 * H].unflatten(-1, (3, H))] * T, [dg_s[:, 3 * H :]] * T
    else:
        dg_ifg, dg_o = d_gates[..., : 3 * H].unflatten(-1, (3, H)).unbind(0), d_gates[..., 3 * H :].unbind(0)
    for t in range(T - 1, -1, -1):
        if narrow:
            dh_s.copy_(dh)
        torch.mul(dh_s, k_o[t], out=dg_o[t])  # d o_pre
        dc.addcmul_(dh_s, dcdh_steps[t])  # dc_t += dh_t o (1 - tanh^2 c_t)
        torch.mul(dc_col, k_ifg[t], out=dg_ifg[t])  # d i_pre, d f_pre, d g_pre
        dc.mul_(f_steps[t])  # dc_{t-1} = dc_t f_t
        if narrow:
            dg_steps[t].copy_(dg_s)
        if t > 0:
            dh = _recurrent_grad(dg_steps[t], dout_steps[t - 1], w_hh_c, w_hh_packed)
            dh_s = dh_s if narrow else dh


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer over a whole time-major sequence, with a hand-written BPTT backward."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor | None, c0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
                b_ih: Tensor | None, b_hh: Tensor | None, compute_dtype: torch.dtype):
        # x (T, B, I) time-major; h0, c0 (B, H) or None for zeros.
        # Returns outputs (T, B, H) in compute_dtype and h_n, c_n (B, H) in the state dtype.
        T, B, input_size = x.shape
        H = w_hh.shape[1]
        cd, sd, dev = compute_dtype, _state_dtype(compute_dtype), x.device
        ws = _WORKSPACE
        with torch.autocast(dev.type, enabled=False):  # we choose every dtype ourselves
            w_c = _gate_weights(w_ih, w_hh, cd)  # (4H, I + H), g rows doubled
            bias = None
            for b in (b_ih, b_hh):
                if b is not None:
                    bias = b.to(sd, copy=True) if bias is None else bias + b.to(sd)
            if bias is not None:
                bias[2 * H : 3 * H] *= 2
                bias = bias.to(cd)
            # xh[t] = [x_t | h_{t-1}] (B, I + H): each step's pre-activations are ONE GEMM with
            # K = I + H, and the weight gradient one GEMM over all T*B rows. xh[T] holds h_{T-1} only.
            xh = torch.empty((T + 1, B, input_size + H), dtype=cd, device=dev)
            xh[:T, :, :input_size].copy_(x)  # (xh[T, :, :I] is never read)
            h_slots = xh[..., input_size:]  # (T + 1, B, H): h0, h_0, ..., h_{T-1}; the output is h_slots[1:]
            cs = ws.take((T + 1, B, H), sd, dev)  # cs[0] = c0, cs[t + 1] = c_t
            if h0 is None:
                h_slots[0].zero_()
            else:
                h_slots[0].copy_(h0)
            if c0 is None:
                cs[0].zero_()
            else:
                cs[0].copy_(c0)
            w_packed = _packed_weight(w_c, B)
            if w_packed is not None:
                def gemm(v: Tensor) -> Tensor:  # (B, I + H) -> (B, 4H) pre-activations
                    return _gemm_bias(v, w_packed, bias)
            else:
                w_t = w_c.t()  # (I + H, 4H)

                def gemm(v: Tensor, out: Tensor | None = None) -> Tensor:
                    return torch.mm(v, w_t, out=out) if bias is None else torch.addmm(bias, v, w_t, out=out)

            # The recurrence: per step one GEMM (M = B) and the cell's pointwise math.
            kernels = _cpu_kernels(dev) if cd == torch.bfloat16 else None  # the step kernels are bf16-only
            if kernels is not None:
                saved = (ws.take((T, B, 4 * H), cd, dev),)  # the pre-activations of every step
                _forward_loop_fused(kernels, xh, gemm, cs, *saved)
            else:
                saved = (ws.take((T, B, 4 * H), sd, dev),  # activated i, f, g, o per step
                         ws.take((T, B, 4 * H), sd, dev),  # d gates / d pre-activations (times the c path)
                         ws.take((T, B, H), sd, dev))  # o (1 - tanh^2 c_t) = d c_t / d h_t through h = o tanh c
                _forward_loop(xh, gemm, cs, *saved)

        ctx.compute_dtype, ctx.kernels, ctx.input_size = cd, kernels, input_size
        ctx.x_dtype, ctx.w_dtype = x.dtype, w_ih.dtype
        # Intermediates live on ctx (not save_for_backward): none of them is an input or output.
        ctx.buffers = (xh, w_c, cs, saved)
        return h_slots[1:], h_slots[T].to(sd, copy=True), cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor | None, d_h_n: Tensor | None, d_c_n: Tensor | None):
        xh, w_c, cs, saved = ctx.buffers
        release = not _graph_kept()
        if release:  # no second backward can come: the buffers may be recycled
            ctx.buffers = None
        cd, sd, input_size = ctx.compute_dtype, cs.dtype, ctx.input_size
        T, B, H = cs.shape[0] - 1, cs.shape[1], cs.shape[2]
        dev = cs.device
        ws = _WORKSPACE
        w_hh_c = w_c[:, input_size:]  # (4H, H)
        with torch.autocast(dev.type, enabled=False):
            # 1. The time loop (_backward_loop / _backward_loop_fused): the chain rule through the cell,
            #    then dh_{t-1} = dout_{t-1} + dgates_t W_hh (one GEMM).
            d_gates = ws.take((T, B, 4 * H), cd, dev)  # gradients of the (g-scaled) pre-activations
            if d_out is None:
                d_out = torch.zeros((T, B, H), dtype=cd, device=dev)
            d_out = d_out.to(cd)
            dh = torch.empty((B, H), dtype=cd, device=dev)
            if d_h_n is None:
                dh.copy_(d_out[T - 1])
            else:
                torch.add(d_out[T - 1], d_h_n, out=dh)
            dc = torch.zeros((B, H), dtype=sd, device=dev) if d_c_n is None else d_c_n.to(sd, copy=True)
            w_hh_packed = _packed_weight(w_hh_c.t().contiguous(), B)  # dgates_t W_hh, as x @ (W_hh^T)^T
            if ctx.kernels is not None:
                d_bias = _backward_loop_fused(ctx.kernels, d_gates, d_out, dh, dc, *saved, cs, w_hh_c, w_hh_packed)
            else:
                _backward_loop(d_gates, d_out, dh, dc, *saved, w_hh_c, w_hh_packed)
                d_bias = None
            needs = ctx.needs_input_grad
            d_h0 = torch.mm(d_gates[0], w_hh_c) if needs[1] else None  # (B, H)
            d_c0 = dc if needs[2] else None
            if release:
                ws.give(cs, *saved)

            # 2. Input, weight and bias gradients: one large GEMM each over all T*B rows.
            dg_rows = d_gates.view(T * B, 4 * H)  # (T*B, 4H)
            d_x = d_w_ih = d_w_hh = d_b = None
            if needs[0]:  # the g-scaled gradients times the g-scaled weights: the scale cancels
                d_x = torch.mm(dg_rows, w_c[:, :input_size]).view(T, B, -1).to(ctx.x_dtype)  # (T, B, I)
            # The g-gate pre-activation was 2 a_g, so the gradient on the g rows of W and b is twice
            # the gradient on 2 a_g. Doubling the g rows of the (small) results instead of the (T, B, H)
            # block of d_gates gives the same bits: scaling by 2 commutes with every rounding.
            if needs[3] or needs[4]:  # [dW_ih | dW_hh] = dgates^T [x | h_prev], one GEMM
                d_w = torch.mm(dg_rows.t(), xh[:T].view(T * B, -1)).to(ctx.w_dtype)  # (4H, I + H)
                d_w[2 * H : 3 * H] *= 2
                d_w_ih = d_w[:, :input_size].contiguous() if needs[3] else None  # (4H, I)
                d_w_hh = d_w[:, input_size:].contiguous() if needs[4] else None  # (4H, H)
            if needs[5] or needs[6]:
                d_b = (dg_rows.sum(0) if d_bias is None else d_bias).to(ctx.w_dtype)  # (4H,)
                d_b[2 * H : 3 * H] *= 2
            ws.give(d_gates)
        if d_h0 is not None:
            d_h0 = d_h0.to(ctx.x_dtype)
        if d_c0 is not None:
            d_c0 = d_c0.to(ctx.x_dtype)
        return (d_x, d_h0, d_c0, d_w_ih, d_w_hh, d_b if needs[5] else None, d_b if needs[6] else None, None)


def fast_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Inverted dropout like ``F.dropout``, with the mask drawn from 16 random bits per element.

    On CPU ``F.dropout`` draws one Bernoulli sample per element with a scalar loop (about 70 ms for
    a (128, 100, 512) tensor here); filling int64 words with random bits and comparing them 16
    bits at a time is over ten times faster, and the C++ kernel (``rnnkit.engine.kernels``), which
    hashes a seed drawn from torch's generator with each element's index, another ten times faster
    than that. ``p`` is resolved to a multiple of 1/65536.
    """
    if not training or p == 0.0:
        return x
    if not 0.0 <= p < 1.0:
        raise ValueError(f"fast_dropout: p must be in [0, 1), got {p}")
    threshold, scale = round(p * 65536), 1.0 / (1.0 - p)  # P(keep) = 1 - threshold / 65536
    kernels = _cpu_kernels(x.device) if x.dtype in (torch.bfloat16, torch.float32) else None
    if kernels is not None:
        mask = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        seed = int(torch.randint(-(2**63), 2**63 - 1, (), dtype=torch.int64))  # advances the global generator
        kernels.dropout_mask(mask, seed, threshold, scale)
        return x * mask
    words = (x.numel() + 3) // 4  # four 16-bit draws per int64
    # The random words and the boolean mask are scratch (only ``mask`` is kept, by autograd): recycled,
    # so that each call does not page-fault in ~20 MB of fresh memory.
    bits = _WORKSPACE.take((words,), torch.int64, x.device).random_(-(2**63), 2**63 - 1)
    draws = bits.view(torch.int16)[: x.numel()].view(x.shape)  # uniform on [-32768, 32767]
    keep = _WORKSPACE.take(tuple(x.shape), torch.bool, x.device)
    torch.ge(draws, threshold - 32768, out=keep)
    mask = keep.to(x.dtype).mul_(scale)
    _WORKSPACE.give(bits, keep)
    return x * mask


def fast_lstm(
    x: Tensor,
    weights: list[LayerWeights],
    state: tuple[Tensor, Tensor] | None = None,
    dropout: float = 0.0,
    training: bool = False,
    compute_dtype: torch.dtype = torch.bfloat16,
    out_dtype: torch.dtype | None = None,
    locked: bool = False,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """A stacked LSTM equal to ``torch.nn.LSTM(batch_first=True)``, fast to train on CPU in bf16.

    Parameters
    ----------
    x : (B, T, I) input, batch-first.
    weights : per layer ``(weight_ih, weight_hh, bias_ih, bias_hh)`` in torch.nn.LSTM's layout
        (gate rows i, f, g, o; biases may be None); the master copies are never modified.
    state : optional ``(h0, c0)``, each (L, B, H); zeros if omitted.
    dropout : dropout probability on the outputs of every layer but the last (as nn.LSTM).
    training : apply the dropout only when True.
    locked : draw the dropout mask once per sequence, the same at every time step (variational dropout).
    compute_dtype : dtype of the matrix multiplies: bf16 (fast), float32 or float64 (exact).
    out_dtype : dtype of the outputs (default ``x.dtype``). Under bf16 autocast pass bf16, as
        ``nn.LSTM`` returns there: the outputs are bf16 values anyway, and widening them costs a
        (B, T, H) fp32 copy forward and backward that the next (autocast) layer would narrow again.

    Returns
    -------
    outputs (B, T, H) in ``out_dtype`` and the final state ``(h_n, c_n)``, each (L, B, H) in ``x.dtype``.
    """
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"fast_lstm: compute_dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype}")
    if x.dim() != 3:
        raise ValueError(f"fast_lstm: expected x of shape (B, T, I), got {tuple(x.shape)}")
    num_layers = len(weights)
    if state is not None:
        h0, c0 = state
        if h0.shape[0] != num_layers or c0.shape[0] != num_layers:
            raise ValueError(f"fast_lstm: state must be (L={num_layers}, B, H), got {tuple(h0.shape)}")
    layer_in = x.transpose(0, 1)  # (T, B, I) time-major: every per-step slice is contiguous
    h_n, c_n = [], []
    for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
        if layer > 0 and dropout > 0 and training:
            if locked:  # one (1, B, I) mask for every step of the time-major input
                layer_in = layer_in * fast_dropout(layer_in.new_ones((1, *layer_in.shape[1:])), dropout)
            else:
                layer_in = fast_dropout(layer_in, dropout)
        h0_k, c0_k = (None, None) if state is None else (state[0][layer], state[1][layer])
        layer_in, h_k, c_k = _LSTMLayer.apply(layer_in, h0_k, c0_k, w_ih, w_hh, b_ih, b_hh, compute_dtype)
        h_n.append(h_k)
        c_n.append(c_k)
    out_dtype = x.dtype if out_dtype is None else out_dtype
    # (B, T, H), contiguous: .to() alone returns the transposed view when the dtype already matches
    out = layer_in.transpose(0, 1).to(out_dtype, memory_format=torch.contiguous_format).contiguous()
    return out, (torch.stack(h_n).to(x.dtype), torch.stack(c_n).to(x.dtype))
