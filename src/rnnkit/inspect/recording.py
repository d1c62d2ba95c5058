"""Record what a trained recurrent network does as it reads a text: every layer's states and gates, step by step.

``record(run, text)`` returns a ``Recording``: h, c (LSTM), each gate, the next-token predictions and the loss
of the real next token at every step, for every layer and direction. Each layer's recurrence runs in torch's
fused kernel; every step is then recomputed from the cell equations of ``rnnkit.cells.functional`` with the
model's own weights, starting from the previous step's state (all steps in one batched call, since the
previous states are known), and the h it gives is checked against the kernel's (``Recording.deviation``;
the tests check it against the model's own forward in fp64). A long text is read in windows with the state
carried from one to the next (``stream``), so the report can fold each window into its figures without
holding every gate of a 200,000-character text at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells import functional as CF
from rnnkit.data.vocab import BOS_ID, EOS_ID, TokenVocab, WordVocab
from rnnkit.data.words import Detokenizer
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.conditional_lm import ConditionalLM
from rnnkit.models.language_model import LanguageModel

#: The gates recorded for each cell kind, in the order of their rows in ``weight_ih``.
GATE_NAMES: dict[str, tuple[str, ...]] = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"),
                                          "rnn_tanh": (), "rnn_relu": ()}
TOP_K = 5  # next-token candidates kept per step
WINDOW = 1024  # tokens read per window of ``stream`` (the state carries over)


@dataclass
class Recording:
    """What a network did at every step of a text.

    Shapes (T steps, L layers, D directions, H units, K candidates)
    ------
    tokens : list of T strings, the display text of each step's input token (``"".join(tokens)`` is the
        text read, plus ``<s>`` first for a conditional LM)
    ids : (T,) int64 input token ids
    h : (L, D, T, H) hidden state after each step
    c : (L, D, T, H) LSTM cell state after each step; None for GRU and RNN cells
    gates : gate name -> (L, D, T, H); LSTM ``i f g o``, GRU ``r z n``, none for plain RNNs
    top_ids, top_probs : (T, K) the K most likely next tokens after each step and their probabilities
        (language models; None for classifiers)
    target_prob, loss : (T,) probability of the real next token and its negative log (nats); NaN where
        the text has no next token (the last step of a language model's text)
    class_probs : (C,) class probabilities of the whole text (classifiers; None otherwise)

    Directions: for a bidirectional classifier ``d = 1`` is the right-to-left pass; its step ``t`` is still
    text position ``t`` (the state after reading ``tokens[t:]`` backwards).
    """

    task: str
    cell: str
    level: str
    tokens: list[str]
    ids: np.ndarray
    h: np.ndarray
    c: np.ndarray | None
    gates: dict[str, np.ndarray]
    vocab: list[str] = field(repr=False)  # token id -> display string (for top_ids)
    top_ids: np.ndarray | None = None
    top_probs: np.ndarray | None = None
    target_prob: np.ndarray | None = None
    loss: np.ndarray | None = None
    class_probs: np.ndarray | None = None
    classes: list[str] | None = None
    deviation: float = 0.0  # largest |h from the cell equations - h from the model's fused forward|

    @property
    def num_layers(self) -> int:
        return self.h.shape[0]

    @property
    def num_directions(self) -> int:
        return self.h.shape[1]

    @property
    def steps(self) -> int:
        return self.h.shape[2]

    @property
    def hidden_size(self) -> int:
        return self.h.shape[3]

    def values(self) -> np.ndarray:
        """(T, N) each unit's value per step, N = L*D*H: tanh(c) for an LSTM (Karpathy et al.'s cells), else h."""
        v = np.tanh(self.c) if self.c is not None else self.h  # (L, D, T, H)
        return v.transpose(2, 0, 1, 3).reshape(self.steps, -1)  # (T, L*D*H)

    def unit(self, index: int) -> tuple[int, int, int]:
        """(layer, direction, unit) of column ``index`` of ``values()``."""
        layer, rest = divmod(index, self.num_directions * self.hidden_size)
        direction, unit = divmod(rest, self.hidden_size)
        return layer, direction, unit

    def unit_name(self, index: int) -> str:
        """'layer 2 cell 17' (with 'backward' for the second direction), 1-based layers as people count."""
        layer, direction, unit = self.unit(index)
        return f"layer {layer + 1}{' backward' if direction else ''} cell {unit}"

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: sizes, the mean loss, the top predictions of the last step."""
        out: dict[str, Any] = {"task": self.task, "cell": self.cell, "level": self.level, "steps": self.steps,
                               "num_layers": self.num_layers, "num_directions": self.num_directions,
                               "hidden_size": self.hidden_size, "gates": list(self.gates),
                               "deviation": self.deviation}
        if self.loss is not None and np.isfinite(self.loss).any():
            out["mean_loss"] = float(np.nanmean(self.loss))
        if self.class_probs is not None:
            out["class_probs"] = {c: float(p) for c, p in zip(self.classes or [], self.class_probs)}
        return out

    @classmethod
    def concat(cls, parts: list[Recording]) -> Recording:
        """One recording of consecutive windows (as ``stream`` yields them)."""
        if len(parts) == 1:
            return parts[0]
        first = parts[0]

        def cat(name: str, axis: int):
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays, axis=axis)

        return cls(first.task, first.cell, first.level, [t for p in parts for t in p.tokens], cat("ids", 0),
                   cat("h", 2), cat("c", 2), {g: np.concatenate([p.gates[g] for p in parts], axis=2)
                                               for g in first.gates},
                   first.vocab, cat("top_ids", 0), cat("top_probs", 0), cat("target_prob", 0), cat("loss", 0),
                   parts[-1].class_probs, first.classes, max(p.deviation for p in parts))


# -- the cell equations, with gates ----------------------------------------------------------------------
def _one_layer(recurrent, layer: int) -> torch.nn.RNNBase:
    """A one-layer torch module holding a copy of layer ``layer``'s weights (both directions)."""
    rnn = recurrent.rnn
    input_size = rnn.input_size if layer == 0 else recurrent.output_size
    common = dict(num_layers=1, bidirectional=recurrent.bidirectional, bias=rnn.bias, batch_first=True)
    if recurrent.cell in ("lstm", "gru"):
        module = (torch.nn.LSTM if recurrent.cell == "lstm" else torch.nn.GRU)(input_size, recurrent.hidden_size,
                                                                                **common)
    else:
        module = torch.nn.RNN(input_size, recurrent.hidden_size, nonlinearity=recurrent.cell[4:], **common)
    weight = rnn.weight_hh_l0
    module = module.to(device=weight.device, dtype=weight.dtype)
    module.load_state_dict({name: getattr(rnn, name.replace("_l0", f"_l{layer}"))
                            for name, _ in module.named_parameters()})
    return module.eval()


@contextmanager
def _one_thread():
    """Run the block on one intra-op thread. A one-sequence recurrence has a (G*H, H) matrix-vector product per
    step, too little to split; with several threads each step ends in a barrier, and on a busy machine a
    thread that is descheduled stalls the rest (measured: 3-10x slower with 2 threads under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _scan_cell(f: Tensor, ig: Tensor, c0: Tensor, reverse: bool) -> Tensor:
    """c_t = f_t * c_{t-1} + (i*g)_t for every t of f, ig (T, H) from c0 (H,); right to left if ``reverse``."""
    cs = torch.empty_like(f)
    c = c0
    for t in (range(f.shape[0] - 1, -1, -1) if reverse else range(f.shape[0])):
        c = torch.addcmul(ig[t], f[t], c)  # (H,)
        cs[t] = c
    return cs


def _equations(cell: str, x_proj: Tensor, previous: Tensor, c0: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
               reverse: bool) -> tuple[Tensor, Tensor | None, tuple[Tensor, ...]]:
    """Every step of one direction of one layer from the cell equations (``rnnkit.cells.functional``).

    ``previous`` (T, H) is the state each step starts from (h_{t-1}, or h_{t+1} right to left), so the gates of
    all steps come from one batched call of the cell's gate function; only the LSTM's cell state c, a running
    sum, needs a loop. Returns h (T, H), c (T, H) or None, and the gates, each (T, H).
    """
    if cell == "lstm":
        i, f, g, o = CF.lstm_gates(x_proj, previous, w_hh, b_hh)  # each (T, H)
        c = _scan_cell(f, i * g, c0, reverse)  # c_t = f*c_{t-1} + i*g, as CF.lstm_step
        return o * torch.tanh(c), c, (i, f, g, o)
    if cell == "gru":
        r, z, n = CF.gru_gates(x_proj, previous, w_hh, b_hh)
        return (1 - z) * n + z * previous, None, (r, z, n)  # CF.gru_step's update
    step = CF.rnn_tanh_step if cell == "rnn_tanh" else CF.rnn_relu_step
    return step(x_proj, previous, w_hh, b_hh), None, ()


def one_layer_modules(recurrent) -> list[torch.nn.RNNBase]:
    """One torch module per layer of ``recurrent`` (made once per text, reused for every window)."""
    return [_one_layer(recurrent, layer) for layer in range(recurrent.num_layers)]


def run_layers(recurrent, x: Tensor, state: list[tuple[Tensor, Tensor | None]] | None,
               modules: list[torch.nn.RNNBase] | None = None):
    """All layers and directions of a ``rnnkit.layers.Recurrent`` over x (T, I) in eval mode, with every gate.

    Each layer's recurrence runs in torch's fused kernel; then every step's gates and new state are
    recomputed from the cell equations with the layer's own weights, starting from the previous step's state
    (``_equations``). ``state`` holds (h, c) of shape (H,) per layer*direction (None: zeros; c None except
    for LSTMs). Returns h and c (L, D, T, H) from the equations (c None except for LSTMs), the gates
    {name: (L, D, T, H)}, the top layer's output (T, D*H), the final state in the form of ``state``, and the
    largest difference between the equations' h and the fused kernel's (a few ulp when all is well).
    ``modules`` are ``one_layer_modules(recurrent)``, made here when not given.
    """
    cell, hidden, num_dirs = recurrent.cell, recurrent.hidden_size, recurrent.num_directions
    zeros = x.new_zeros(hidden)
    if state is None:
        state = [(zeros, zeros if cell == "lstm" else None)] * (recurrent.num_layers * num_dirs)
    hs, cs, gates, final = [], [], [], []
    deviation = 0.0
    layer_input = x  # (T, I), then (T, D*H)
    modules = modules or one_layer_modules(recurrent)
    for layer in range(recurrent.num_layers):
        module = modules[layer]
        starts = state[layer * num_dirs:(layer + 1) * num_dirs]
        h0 = torch.stack([h for h, _ in starts])[:, None]  # (D, 1, H)
        hx = (h0, torch.stack([c for _, c in starts])[:, None]) if cell == "lstm" else h0
        with _one_thread():  # a batch of one: threads would only wait for each other at every step
            fused, _ = module(layer_input[None], hx)  # (1, T, D*H)
        fused = fused[0]  # (T, D*H)
        for direction in range(num_dirs):
            suffix = f"l{layer}" + ("_reverse" if direction else "")
            rnn = recurrent.rnn
            x_proj = F.linear(layer_input, getattr(rnn, f"weight_ih_{suffix}"),
                              getattr(rnn, f"bias_ih_{suffix}", None))  # (T, G*H)
            own = fused[:, direction * hidden:(direction + 1) * hidden]  # (T, H)
            h_start, c_start = starts[direction]
            if direction:  # right to left: step t starts from the state after t+1
                previous = torch.cat([own[1:], h_start[None]])
            else:
                previous = torch.cat([h_start[None], own[:-1]])  # (T, H)
            h, c, g = _equations(cell, x_proj, previous, c_start, getattr(rnn, f"weight_hh_{suffix}"),
                                 getattr(rnn, f"bias_hh_{suffix}", None), reverse=bool(direction))
            if h.shape[0]:
                deviation = max(deviation, float((h - own).abs().max()))
            end = 0 if direction else -1
            hs.append(h)
            cs.append(c)
            gates.append(g)
            final.append((h[end], c[end] if c is not None else None))
        layer_input = fused

    def grid(items: list[Tensor]) -> np.ndarray:  # L*D tensors (T, H) -> (L, D, T, H)
        stacked = torch.stack(items).reshape(recurrent.num_layers, num_dirs, *items[0].shape)
        return stacked.detach().cpu().numpy()

    gate_arrays = {name: grid([g[k] for g in gates]) for k, name in enumerate(GATE_NAMES[cell])}
    return grid(hs), (grid(cs) if cell == "lstm" else None), gate_arrays, layer_input, final, deviation


# -- what each kind of run reads ------------------------------------------------------------------------
@dataclass
class _Plan:
    """A text made ready for one model: input ids, their display text, targets and the model's pieces."""

    ids: np.ndarray  # (T,)
    tokens: list[str]
    targets: np.ndarray | None  # (T,) next-token ids, -1 where there is none
    vocab: list[str]
    level: str
    label: Tensor | None = None  # conditional LM: (1,) label id
    classes: list[str] | None = None


def _word_pieces(words: list[str]) -> list[str]:
    joiner = Detokenizer()
    return [joiner.push(w) for w in words]


def _plan(run, text: str, condition: str | None) -> _Plan:
    model = run.model
    if isinstance(model, LanguageModel):
        from rnnkit.tasks.lm import encode_text

        vocab = run.vocab
        ids = encode_text(vocab, text, run.config.data)
        if isinstance(vocab, WordVocab):
            names, tokens, level = list(vocab.tokens), _word_pieces(vocab.decode_tokens(ids)), "word"
        else:
            names, tokens, level = list(vocab.chars), list(text), "char"
        targets = np.append(ids[1:], -1)
        return _Plan(ids, tokens, targets, names, level)
    if isinstance(model, ConditionalLM):
        vocab: TokenVocab = run.vocab.tokens
        label = run.predictor().label_id(condition)
        body = vocab.encode(text)
        ids = np.array([BOS_ID, *body], dtype=np.int64)
        targets = np.array([*body, EOS_ID], dtype=np.int64)
        words = [vocab.tokens[i] for i in body]
        tokens = ["<s>"] + (words if vocab.level == "char" else [(" " if k else "") + w for k, w in enumerate(words)])
        return _Plan(ids, tokens, targets, list(vocab.tokens), vocab.level, torch.tensor([label]))
    if isinstance(model, SequenceClassifier):
        from rnnkit.tasks.classify.data import text_tokens

        cv = run.vocab
        words = text_tokens(text, run.config.data)
        if not words:
            raise RnnkitError("the text has no tokens to read; give a longer text")
        ids = cv.vocab.encode_tokens(words)
        tokens = words if cv.level == "char" else _word_pieces(words)
        return _Plan(ids, tokens, None, list(cv.vocab.tokens), cv.level, classes=list(cv.classes))
    raise RnnkitError(f"{run.path} is a {run.task} run without recurrent cells to inspect; "
                      "inspect a language model, conditional language model or classifier run")


def _embed(model, ids: Tensor, label: Tensor | None) -> Tensor:
    """Each step's input vector (T, I), as the model's forward makes it in eval mode."""
    x = model.embedding(ids)  # (T, E)
    if isinstance(model, ConditionalLM) and model.config.conditioning in ("input", "both"):
        lab = model.label_embedding(label).expand(ids.shape[0], -1)  # (T, C)
        x = torch.cat([x, lab.to(x.dtype)], dim=-1)  # (T, E + C)
    return x


def _initial_state(model, label: Tensor | None):
    if isinstance(model, ConditionalLM) and label is not None:
        start = model.initial_state(label)  # (L, 1, H) or a pair, or None
        if start is None:
            return None
        h, c = start if isinstance(start, tuple) else (start, None)
        return [(h[k, 0], None if c is None else c[k, 0]) for k in range(h.shape[0])]
    return None


def _readout(model, top: Tensor) -> Tensor:
    """Next-token logits (T, V) from the top layer's outputs (T, H)."""
    if isinstance(model, LanguageModel) and model.project is not None:
        top = model.project(top)  # (T, E)
    return model.decoder(top)  # (T, V)


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text:
        raise RnnkitError("the text to inspect is empty; pass --text FILE or --prime TEXT with some text in it")


@torch.inference_mode()
def stream(run, text: str, condition: str | None = None, window: int = WINDOW,
           top_k: int = TOP_K) -> Iterator[Recording]:
    """Recordings of consecutive windows of ``window`` steps of ``text``, the state carried between them.

    A classifier reads in both directions, so it is read in one window whatever ``window`` says.
    """
    _check_text(text)
    if window < 1:
        raise RnnkitError(f"window must be >= 1, got {window}")
    plan = _plan(run, text, condition)
    model = run.model
    was_training = model.training
    model.eval()
    try:
        recurrent = model.recurrent
        device = next(model.parameters()).device
        is_classifier = isinstance(model, SequenceClassifier)
        state = _initial_state(model, plan.label.to(device) if plan.label is not None else None)
        size = len(plan.ids) if is_classifier else window
        modules = one_layer_modules(recurrent)
        for start in range(0, len(plan.ids), size):
            stop = min(start + size, len(plan.ids))
            ids = torch.as_tensor(plan.ids[start:stop], device=device)  # (W,)
            label = plan.label.to(device) if plan.label is not None else None
            x = _embed(model, ids, label)  # (W, I)
            h, c, gates, top, state, deviation = run_layers(recurrent, x, state, modules)
            rec = Recording(run.task, recurrent.cell, plan.level, plan.tokens[start:stop], plan.ids[start:stop],
                            h, c, gates, plan.vocab, classes=plan.classes, deviation=deviation)
            if is_classifier:
                logits = model(torch.as_tensor(plan.ids, device=device)[None])  # (1, C)
                rec.class_probs = torch.softmax(logits.float(), -1)[0].cpu().numpy()
            else:
                _predictions(rec, _readout(model, top), plan.targets[start:stop], top_k)
            yield rec
    finally:
        model.train(was_training)


def _predictions(rec: Recording, logits: Tensor, targets: np.ndarray, top_k: int) -> None:
    """Fill the top-k candidates and the real next token's probability and loss from logits (W, V)."""
    logp = torch.log_softmax(logits.double(), dim=-1)  # (W, V)
    k = min(top_k, logp.shape[-1])
    top_logp, top_ids = logp.topk(k, dim=-1)  # (W, K)
    rec.top_ids = top_ids.cpu().numpy()
    rec.top_probs = top_logp.exp().float().cpu().numpy()
    has = torch.as_tensor(targets >= 0, device=logp.device)
    picked = logp.gather(1, torch.as_tensor(np.maximum(targets, 0), device=logp.device)[:, None])[:, 0]  # (W,)
    nan = torch.full_like(picked, float("nan"))
    rec.loss = torch.where(has, -picked, nan).cpu().numpy()
    rec.target_prob = torch.where(has, picked.exp(), nan).float().cpu().numpy()


def record(run, text: str, condition: str | None = None, window: int = WINDOW, top_k: int = TOP_K) -> Recording:
    """Read ``text`` with the trained ``run`` (``rnnkit.runs.open_run``) and record every step; see ``Recording``.

    ``condition`` names the label of a conditional language model. The text is read in windows of ``window``
    steps with the state carried over, which gives the same numbers as reading it at once.
    """
    return Recording.concat(list(stream(run, text, condition, window, top_k)))


__all__ = ["GATE_NAMES", "Recording", "record", "run_layers", "stream"]
