"""One-call token steps for an LSTM language model on the CPU: the fast path of sampling.

A PyTorch step of a 2x512 LSTM LM at batch 1 is about thirty small kernels, and each costs more in
dispatch than in arithmetic. ``LSTMStepper`` runs the whole stack (embedding, every layer's cell, the
head) in one call of ``torch.ops.rnnkit.lstm_lm_step`` (``engine/csrc/lm_step.cpp``), with the weights
laid out once for it: the first layer's input projection folded into a (V, 4H) table when the
vocabulary is small, each later layer's two matrices side by side, and, on CPUs with bf16 dot-product
units, the matrices in bfloat16 (half the bytes to stream per token; the state and logits stay fp32).

    stepper = LSTMStepper.for_model(model)      # None when the model or the machine cannot use it
    stepper.start(state)                        # the state after the prime, (h, c) each (L, B, H)
    logits = stepper.step(ids)                  # ids (B,) -> logits (B, V), state carried inside
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

#: Batches up to this size step through the kernel; larger ones are faster as GEMMs (the model itself).
MAX_BATCH = 8
#: Fold the first layer's input projection into a table of this many bytes at most.
MAX_TABLE_BYTES = 16 << 20


def cpu_has_bf16_dot() -> bool:
    """Whether this CPU has bf16 dot-product units (AVX-512 BF16 or AMX): bf16 weights then cost no accuracy in
    the kernel's fp32 accumulation and halve the bytes read per token."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_precision() -> str:
    """The stepper's weight precision on this machine: "bf16" where the CPU has bf16 units, else "fp32"."""
    return "bf16" if cpu_has_bf16_dot() else "fp32"


class LSTMStepper:
    """Steps an LSTM language model one token at a time in one kernel call per token.

    Parameters
    ----------
    model : a ``LanguageModel`` with an LSTM (unidirectional, any number of layers) on the CPU
    precision : "fp32" or "bf16" weights; the state and the logits are fp32 either way

    The weights are copied when the stepper is made: make a new one after changing the model.
    """

    def __init__(self, model: nn.Module, precision: str = "fp32"):
        from rnnkit.engine.kernels import lstm_kernels

        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self.ops = lstm_kernels()
        rnn = model.recurrent.rnn
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        L, H = rnn.num_layers, rnn.hidden_size
        with torch.no_grad():
            emb = model.embedding.weight.detach().float()  # (V, E)
            w_ih0, w_hh0 = rnn.weight_ih_l0.detach().float(), rnn.weight_hh_l0.detach().float()
            biases = [self._bias(rnn, k, H) for k in range(L)]
            fold = emb.shape[0] * 4 * H * 4 <= MAX_TABLE_BYTES
            # (V, 4H): the first layer's input gates for every token, with both biases
            self.table = (emb @ w_ih0.T + biases[0]).contiguous() if fold else None
            first = w_hh0 if fold else torch.cat([w_ih0, w_hh0], dim=1)  # (4H, H) or (4H, E + H)
            later = [torch.cat([getattr(rnn, f"weight_ih_l{k}").detach().float(),
                                getattr(rnn, f"weight_hh_l{k}").detach().float()], dim=1) for k in range(1, L)]
            self.weights = [w.to(dtype).contiguous() for w in [first, *later]]  # (4H, K_l)
            self.biases = [b.contiguous() for b in biases]  # (4H,) fp32
            head_w = model.decoder.weight.detach().float()  # (V, E or H)
            if model.project is not None:  # tied weights with a projection: fold it into the head
                head_w = head_w @ model.project.weight.detach().float()  # (V, H)
            self.head_w = head_w.to(dtype).contiguous()
            self.head_b = model.decoder.bias.detach().float().contiguous()  # (V,)
        self.embedding = emb.contiguous()
        self.precision = precision
        self.num_layers, self.hidden_size, self.vocab_size = L, H, self.head_b.numel()
        self.h = self.c = self.logits = None

    @staticmethod
    def _bias(rnn: nn.LSTM, k: int, H: int) -> Tensor:
        b_ih, b_hh = getattr(rnn, f"bias_ih_l{k}", None), getattr(rnn, f"bias_hh_l{k}", None)
        if b_ih is None:
            return torch.zeros(4 * H)
        return (b_ih.detach().float() + b_hh.detach().float()).contiguous()

    @classmethod
    def for_model(cls, model: nn.Module, batch_size: int = 1, precision: str | None = None) -> LSTMStepper | None:
        """A stepper for ``model`` when the fast path applies (LSTM LM on the CPU, compiled kernels, a batch of
        at most ``MAX_BATCH``), else None: the caller then steps the model itself."""
        if not supports(model) or batch_size > MAX_BATCH:
            return None
        from rnnkit.engine.kernels import lstm_kernels

        ops = lstm_kernels()
        if ops is None or not hasattr(ops, "lstm_lm_step"):
            return None
        return cls(model, precision or default_precision())

    def start(self, state: tuple[Tensor, Tensor]) -> None:
        """Take over the LSTM state (h, c), each (L, B, H); the stepper carries it from here."""
        h, c = state
        self.h = h.detach().float().contiguous().clone()  # (L, B, H)
        self.c = c.detach().float().contiguous().clone()
        self.logits = torch.empty(h.shape[1], self.vocab_size)  # (B, V)

    def step(self, ids: Tensor) -> Tensor:
        """Feed ``ids`` (B,) and return the next-token logits (B, V). The returned tensor is reused by the next
        step: consume it (or clone it) first."""
        return self.step_rows(ids, self.h, self.c, self.logits)

    def step_rows(self, ids: Tensor, h: Tensor, c: Tensor, out: Tensor) -> Tensor:
        """The one-call kernel on state the caller owns: ids (B,), ``h``, ``c`` (L, B, H) fp32 contiguous,
        updated in place, B at most ``MAX_BATCH``; the logits (B, V) are written into ``out``, which is returned."""
        self.ops.lstm_lm_step(ids.contiguous(), self.table, self.embedding, self.weights, self.biases,
                              self.head_w, self.head_b, h, c, out)
        return out

    def step_many(self, ids: Tensor, h: Tensor, c: Tensor) -> Tensor:
        """One step of a large batch as GEMMs over the same laid-out weights: ids (B,) -> logits (B, V), with
        ``h``, ``c`` (L, B, H) fp32 updated in place. For batches past ``MAX_BATCH``, where a GEMM reads each
        weight once for all rows; with bf16 weights the activations are rounded to bf16 too (fp32 sums)."""
        dtype = self.weights[0].dtype
        x = None
        for layer in range(self.num_layers):
            if layer == 0 and self.table is not None:  # input gates looked up, recurrent ones multiplied
                gates = self.table.index_select(0, ids) + (h[0].to(dtype) @ self.weights[0].T).float()  # (B, 4H)
            else:
                below = self.embedding.index_select(0, ids) if layer == 0 else x  # (B, E) or (B, H)
                inputs = torch.cat([below, h[layer]], dim=1).to(dtype)  # (B, K_l)
                gates = (inputs @ self.weights[layer].T).float() + self.biases[layer]  # (B, 4H)
            i, f, g, o = gates.chunk(4, dim=1)  # (B, H) each, torch's gate order
            c[layer] = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * torch.tanh(c[layer])  # (B, H)
            h[layer] = x
        return (x.to(dtype) @ self.head_w.T).float() + self.head_b  # (B, V)

    @property
    def state(self) -> tuple[Tensor, Tensor]:
        """The carried state (h, c), each (L, B, H) fp32."""
        return self.h, self.c


def supports(model: nn.Module) -> bool:
    """Whether ``model`` is a language model the stepper can run: embedding -> unidirectional LSTM -> linear,
    all on the CPU."""
    from rnnkit.models.language_model import LanguageModel

    if type(model) is not LanguageModel:  # subclasses (conditional models) add inputs of their own
        return False
    rnn = getattr(model.recurrent, "rnn", None)
    return (isinstance(rnn, nn.LSTM) and not rnn.bidirectional and getattr(rnn, "proj_size", 0) == 0
            and model.decoder.bias is not None and rnn.weight_hh_l0.device.type == "cpu")


__all__ = ["LSTMStepper", "MAX_BATCH", "cpu_has_bf16_dot", "default_precision", "supports"]
