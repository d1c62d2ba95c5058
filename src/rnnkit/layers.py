"""A stacked, optionally bidirectional recurrent layer with two interchangeable backends.

``Recurrent`` owns a ``torch.nn.RNN/LSTM/GRU`` purely as the container of its parameters, so
its ``state_dict`` is exactly torch's and weights copy both ways. The ``"fused"`` backend calls
that module (oneDNN on CPU, cuDNN on GPU); the ``"explicit"`` backend runs the cells of
``rnnkit.cells.functional`` in a Python time loop over the *same* tensors. Switching
``layer.backend`` changes how the numbers are computed, never which numbers are learned.

The parallel-scan cells (``mingru``, ``minlstm``) have no torch twin: their parameters live in
``cells`` (one ``ParallelCell`` per layer and direction) and ``norms``; "fused" runs them with the
parallel scan, "explicit" one step at a time, and "auto" picks the scan except for single steps.
"""


from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import PARALLEL_CELLS, check_cell_kind, step_function
from rnnkit.cells.parallel_cell import scan_dtype
from rnnkit.config import MAX_LAYERS
from rnnkit.errors import RnnkitError, raise_first

#: An LSTM state is a pair (h, c); the other cells carry h alone.
#: Each tensor is (num_layers * num_directions, B, H), torch's layout, so states pass
#: unchanged between the two backends and to ``torch.nn`` modules.
State = Tensor | tuple[Tensor, Tensor]

BACKENDS = ("auto", "fused", "explicit")
SHORT_INFERENCE_STEPS = 32  # "auto" runs our cells for inference on sequences up to this long on the CPU


def recurrent_checks(hidden_size: int, num_layers: int, dropout: float, flags: bool = True, cell: str = "lstm",
                     weight_drop: float = 0.0) -> list[tuple[bool, str]]:
    """The settings every recurrent backbone shares, as (ok, message) checks for ``raise_first``.

    Model configs list these beside their own checks (messages name the command-line ``flags``), and
    ``Recurrent`` checks its arguments with them (messages name the arguments), so the rule lives here once.
    """
    def positive(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    has_hh = cell not in PARALLEL_CELLS
    if flags:
        return [(positive(hidden_size), f"--hidden-size must be >= 1, got {hidden_size}"),
                (positive(num_layers), f"--num-layers must be >= 1, got {num_layers}"),
                (not positive(num_layers) or num_layers <= MAX_LAYERS,
                 f"--num-layers must be at most {MAX_LAYERS}, got {num_layers}"),
                (0 <= dropout < 1, f"--dropout must be in [0, 1), got {dropout}"),
                (0 <= weight_drop < 1, f"--weight-drop must be in [0, 1), got {weight_drop}"),
                (has_hh or weight_drop == 0, f"--weight-drop needs an lstm, gru or rnn cell ({cell} has no "
                                             "hidden-to-hidden weights); drop --weight-drop or change --cell")]
    return [(positive(hidden_size), f"Recurrent needs hidden_size to be a positive integer, got {hidden_size!r}"),
            (positive(num_layers), f"Recurrent needs num_layers to be a positive integer, got {num_layers!r}"),
            (0 <= dropout < 1, f"Recurrent needs 0 <= dropout < 1, got {dropout}"),
            (0 <= weight_drop < 1, f"Recurrent needs 0 <= weight_drop < 1, got {weight_drop}"),
            (has_hh or weight_drop == 0, f"Recurrent({cell}) has no hidden-to-hidden weights to drop; "
                                         "pass weight_drop=0")]


def _bf16_autocast_on_cpu() -> bool:
    try:
        return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    except TypeError:  # torch < 2.4 spelling
        return torch.is_autocast_cpu_enabled() and torch.get_autocast_cpu_dtype() == torch.bfloat16


def _torch_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float,
               bidirectional: bool, bias: bool) -> nn.RNNBase:
    common = dict(num_layers=num_layers, dropout=dropout, bidirectional=bidirectional, bias=bias,
                  batch_first=True)
    if cell == "lstm":
        return nn.LSTM(input_size, hidden_size, **common)
    if cell == "gru":
        return nn.GRU(input_size, hidden_size, **common)
    return nn.RNN(input_size, hidden_size, nonlinearity=cell.removeprefix("rnn_"), **common)


class Recurrent(nn.Module):
    """Stacked recurrent layer: RNN (tanh/relu), LSTM, GRU, minGRU or minLSTM, uni- or bidirectional.

    Parameters
    ----------
    cell : {"rnn_tanh", "rnn_relu", "lstm", "gru", "mingru", "minlstm"}
    input_size, hidden_size, num_layers : sizes (I, H, L)
    dropout : dropout on the outputs of every layer but the last (training only)
    locked_dropout : draw that dropout's mask once per sequence and keep it for every time step
        (variational dropout, Gal & Ghahramani 2016; AWD-LSTM's "locked" dropout) instead of per element
    weight_drop : DropConnect on the hidden-to-hidden weights (AWD-LSTM's weight drop, Merity et al. 2017):
        during training each call multiplies every ``weight_hh`` by one fresh dropout mask, so all time
        steps of the batch share the dropped matrix and the fast paths keep their shapes. rnn/lstm/gru only
    bidirectional : run a second direction right-to-left (D = 2)
    backend : "fused" (torch kernels), "explicit" (rnnkit cells in a time loop) or "auto" (the
        default): fused, except that on the CPU single time steps and short inference calls run
        through our cells (3-8x faster token-by-token sampling, no per-prime set-up) and LSTM
        training on the CPU under bf16 autocast runs ``rnnkit.engine.fast_lstm`` (bf16 GEMMs and a
        hand-written backward, ~1.5x faster than oneDNN's bf16 LSTM). All three compute the same
        function of the same parameters. For ``mingru``/``minlstm``, "fused" is the parallel scan and
        "explicit" the step-by-step recurrence; "auto" scans, except single steps, which it steps.

    The parallel-scan cells stack as pre-norm residual blocks (Feng et al. 2024 and minGRU-pytorch, without
    their feed-forward block and with expansion 1, so the state stays (L*D, B, H)): layer 0 is the cell on
    the raw input; every layer above computes ``u + cells(LayerNorm(u))`` on the outputs ``u`` of the layer
    below (both directions concatenated), with dropout on the cell's output of every layer but the last.
    Their state is ``h`` alone, like GRU's.

    Shapes
    ------
    x : (B, T, I)
    lengths : optional (B,) integer tensor; positions ``t >= lengths[b]`` are padding: their
        outputs are zero and they leave the state untouched (as packed sequences do)
    state : optional initial state, (L*D, B, H) or for LSTM a pair of those; zeros if omitted
    returns : outputs (B, T, D*H) and the final state (same structure as ``state``);
        with ``lengths`` the final state is taken at each sequence's own last step.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False, backend: str = "auto",
                 bias: bool = True, locked_dropout: bool = False, weight_drop: float = 0.0):
        super().__init__()
        self.cell = check_cell_kind(cell)
        if not isinstance(input_size, int) or input_size < 1:
            raise RnnkitError(f"Recurrent needs input_size to be a positive integer, got {input_size!r}")
        raise_first(recurrent_checks(hidden_size, num_layers, dropout, flags=False, cell=cell,
                                     weight_drop=weight_drop))
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.bidirectional = dropout, bidirectional
        self.locked_dropout, self.weight_drop = locked_dropout, weight_drop
        self.num_directions = 2 if bidirectional else 1
        if cell in PARALLEL_CELLS:
            self._build_parallel(PARALLEL_CELLS[cell], bias)
        else:
            # between-layer dropout means nothing for one layer (torch warns about it): pass 0 then
            self.rnn = _torch_rnn(cell, input_size, hidden_size, num_layers, dropout if num_layers > 1 else 0.0,
                                  bidirectional, bias)
        self.backend = backend

    def _build_parallel(self, cell_class, bias: bool) -> None:
        """Parameters of the parallel-scan cells: cells[layer * D + direction] and norms[layer - 1]."""
        features = self.num_directions * self.hidden_size  # D * H: what every layer above 0 reads
        self.cells = nn.ModuleList(
            cell_class(self.input_size if layer == 0 else features, self.hidden_size, bias=bias)
            for layer in range(self.num_layers) for _ in range(self.num_directions))
        self.norms = nn.ModuleList(nn.LayerNorm(features) for _ in range(self.num_layers - 1))

    @property
    def parallel(self) -> bool:
        """Whether this is a parallel-scan cell (minGRU, minLSTM)."""
        return self.cell in PARALLEL_CELLS

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in BACKENDS:
            raise RnnkitError(f"unknown backend {value!r}; expected one of {', '.join(BACKENDS)}")
        self._backend = value

    @property
    def output_size(self) -> int:
        """Size of the last dimension of the outputs: D * H."""
        return self.num_directions * self.hidden_size

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        """A zero state for ``batch_size`` sequences."""
        p = next(self.parameters())
        h = torch.zeros(self.num_layers * self.num_directions, batch_size, self.hidden_size,
                        device=device or p.device, dtype=dtype or p.dtype)
        return (h, h.clone()) if self.cell == "lstm" else h

    def forward(self, x: Tensor, state: State | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        self._check(x, state, lengths)
        if self.parallel:
            stepwise = self._backend == "explicit" or (self._backend == "auto" and x.shape[1] == 1)
            return self._forward_parallel_cells(x, state, lengths, stepwise)
        backend = self._backend if self._backend != "auto" else self._auto_backend(x, lengths)
        dropped = self._dropped_weights()
        if backend == "fast":
            return self._forward_fast(x, state, dropped)
        if backend == "fused" and (dropped or self._locked_between()):
            # regularised: layer by layer through torch's kernels (packed inputs step through our cells)
            backend = "by_layer" if lengths is None else "explicit"
        if backend == "fused":
            return self._forward_fused(x, state, lengths)
        if backend == "by_layer":
            return self._forward_by_layer(x, state, dropped)
        return self._forward_explicit(x, state, lengths, dropped)

    # -- regularisation (training only) --------------------------------------------------------
    def _dropped_weights(self) -> dict[str, Tensor]:
        """``weight_hh_*`` name -> that matrix times one fresh dropout mask (DropConnect); {} when off."""
        if not (self.training and self.weight_drop > 0):
            return {}
        return {name: dropout(w, self.weight_drop, True) for name, w in self.rnn.named_parameters()
                if name.startswith("weight_hh")}

    def _locked_between(self) -> bool:
        """Whether the between-layer dropout is locked (one mask per sequence) and active."""
        return self.locked_dropout and self.training and self.dropout > 0 and self.num_layers > 1

    def _between_layers(self, out: Tensor) -> Tensor:
        """The dropout on a lower layer's outputs (B, T, F): locked or per element."""
        if self.locked_dropout:
            return locked_dropout(out, self.dropout, self.training)
        return dropout(out, self.dropout, self.training)

    def _weight(self, name: str, dropped: dict[str, Tensor]) -> Tensor | None:
        return dropped[name] if name in dropped else getattr(self.rnn, name, None)

    def _auto_backend(self, x: Tensor, lengths: Tensor | None) -> str:
        if x.device.type != "cpu":
            return "fused"
        if x.shape[1] == 1 or (x.shape[1] <= SHORT_INFERENCE_STEPS and not torch.is_grad_enabled()):
            # token-by-token sampling and short primes: oneDNN's per-call (per-shape) set-up
            # costs more than the arithmetic (~50 ms per layer for a new prime length)
            return "explicit"
        if (self.cell == "lstm" and not self.bidirectional and lengths is None and torch.is_grad_enabled()
                and _bf16_autocast_on_cpu()):
            return "fast"  # oneDNN's bf16 LSTM backward is slow (bench_lstm_kernels.py)
        return "fused"

    def _forward_fast(self, x: Tensor, state: State | None, dropped: dict[str, Tensor]):
        from rnnkit.engine.fast_lstm import fast_lstm

        weights = [tuple(self._weight(f"{kind}_l{k}", dropped)
                         for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                   for k in range(self.num_layers)]
        # bf16 outputs under bf16 autocast, as the fused nn.LSTM gives: they are bf16 values already, and
        # the next layer (autocast) would only narrow an fp32 copy again.
        out_dtype = torch.bfloat16 if _bf16_autocast_on_cpu() else None
        out, (h, c) = fast_lstm(x.float(), weights, state, dropout=self.dropout, training=self.training,
                                out_dtype=out_dtype, locked=self.locked_dropout)
        return out, (h, c)

    # -- checks ------------------------------------------------------------------------------
    def _check(self, x: Tensor, state: State | None, lengths: Tensor | None) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise RnnkitError(
                f"Recurrent({self.cell}) expected input of shape (batch, time, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        batch, steps = x.shape[0], x.shape[1]
        if state is not None:
            expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
            tensors = state if self.cell == "lstm" else (state,)
            if self.cell == "lstm" and not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise RnnkitError("Recurrent(lstm) expected state as a pair (h, c)")
            for t in tensors:
                if not isinstance(t, Tensor) or tuple(t.shape) != expected:
                    got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                    raise RnnkitError(
                        f"Recurrent({self.cell}) expected state of shape {expected} "
                        f"(num_layers*num_directions, batch, hidden_size), got {got}"
                    )
        if lengths is not None:
            if lengths.dim() != 1 or lengths.shape[0] != batch:
                raise RnnkitError(f"Recurrent expected lengths of shape ({batch},), got {tuple(lengths.shape)}")
            if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
                raise RnnkitError(
                    f"Recurrent expected lengths between 1 and {steps}, "
                    f"got {int(lengths.min())}..{int(lengths.max())}"
                )

    # -- fused: torch's kernels ---------------------------------------------------------------
    def _forward_fused(self, x: Tensor, state: State | None, lengths: Tensor | None):
        if lengths is None:
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths.detach().cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, T, D*H)
        return out, final

    def _forward_by_layer(self, x: Tensor, state: State | None, dropped: dict[str, Tensor]):
        """torch's fused kernels one layer at a time, with dropped weights and our between-layer dropout."""
        run = {"lstm": _VF.lstm, "gru": _VF.gru, "rnn_tanh": _VF.rnn_tanh, "rnn_relu": _VF.rnn_relu}[self.cell]
        names = self.rnn._flat_weights_names  # per layer and direction: w_ih, w_hh[, b_ih, b_hh]
        per_layer, D, is_lstm = len(names) // self.num_layers, self.num_directions, self.cell == "lstm"
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        finals: list[tuple[Tensor, ...]] = []
        layer_input = x
        for layer in range(self.num_layers):
            params = [self._weight(n, dropped) for n in names[layer * per_layer : (layer + 1) * per_layer]]
            rows = slice(layer * D, (layer + 1) * D)
            hx = (state[0][rows], state[1][rows]) if is_lstm else state[rows]
            out, *final = run(layer_input, hx, params, self.rnn.bias, 1, 0.0, self.training, self.bidirectional,
                              True)
            finals.append(tuple(final))
            layer_input = self._between_layers(out) if layer < self.num_layers - 1 and self.dropout > 0 else out
        h_n = torch.cat([f[0] for f in finals])  # (L*D, B, H)
        return layer_input, ((h_n, torch.cat([f[1] for f in finals])) if is_lstm else h_n)

    # -- explicit: rnnkit cells in a time loop -------------------------------------------------
    def _forward_explicit(self, x: Tensor, state: State | None, lengths: Tensor | None,
                          dropped: dict[str, Tensor] | None = None):
        batch, steps = x.shape[0], x.shape[1]
        is_lstm = self.cell == "lstm"
        if state is None:
            state = self.init_state(batch, x.device, x.dtype)
        h0, c0 = state if is_lstm else (state, None)
        step = step_function(self.cell)
        # mask[b, t] is 1 where t is a real step of sequence b: (B, T, 1)
        mask = None
        if lengths is not None:
            t_idx = torch.arange(steps, device=x.device)
            mask = (t_idx[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)

        layer_input = x  # (B, T, I) for layer 0, (B, T, D*H) above
        final_h, final_c = [], []
        for layer in range(self.num_layers):
            direction_outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                suffix = f"l{layer}" + ("_reverse" if direction else "")
                w_ih = getattr(self.rnn, f"weight_ih_{suffix}")
                w_hh = self._weight(f"weight_hh_{suffix}", dropped or {})
                b_ih = getattr(self.rnn, f"bias_ih_{suffix}", None)
                b_hh = getattr(self.rnn, f"bias_hh_{suffix}", None)
                x_proj = F.linear(layer_input, w_ih, b_ih)  # (B, T, G*H), all steps at once
                h = h0[k]  # (B, H)
                c = c0[k] if is_lstm else None
                outputs: list[Tensor] = [None] * steps  # type: ignore[list-item]
                time_order = range(steps - 1, -1, -1) if direction else range(steps)
                for t in time_order:
                    if is_lstm:
                        h_new, c_new = step(x_proj[:, t], (h, c), w_hh, b_hh)
                    else:
                        h_new, c_new = step(x_proj[:, t], h, w_hh, b_hh), None
                    if mask is not None:
                        # padding steps keep the previous state and output zeros
                        m = mask[:, t]  # (B, 1)
                        h = m * h_new + (1 - m) * h
                        c = m * c_new + (1 - m) * c if is_lstm else None
                        outputs[t] = m * h_new
                    else:
                        h, c = h_new, c_new
                        outputs[t] = h
                direction_outputs.append(torch.stack(outputs, dim=1))  # (B, T, H)
                final_h.append(h)
                final_c.append(c)
            layer_output = torch.cat(direction_outputs, dim=-1)  # (B, T, D*H)
            if layer < self.num_layers - 1 and self.dropout > 0:
                layer_output = (locked_dropout(layer_output, self.dropout, self.training) if self.locked_dropout
                                else F.dropout(layer_output, self.dropout, self.training))
            layer_input = layer_output
        h_n = torch.stack(final_h)  # (L*D, B, H)
        if is_lstm:
            return layer_input, (h_n, torch.stack(final_c))
        return layer_input, h_n

    # -- minGRU / minLSTM: parallel scan or step by step -------------------------------------
    def _forward_parallel_cells(self, x: Tensor, state: Tensor | None, lengths: Tensor | None, stepwise: bool):
        steps = x.shape[1]
        mask = None  # (B, T, 1): 1 at the real steps of each sequence
        if lengths is not None:
            lengths = lengths.to(x.device)
            mask = (torch.arange(steps, device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        layer_input = x  # (B, T, I) for layer 0, (B, T, D*H) above
        finals = []
        for layer in range(self.num_layers):
            u = layer_input if layer == 0 else self.norms[layer - 1](layer_input)  # pre-norm
            directions = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                h0 = None if state is None else state[k]  # (B, H)
                run = self._step_direction if stepwise else self._scan_direction
                states, final = run(self.cells[k], u, h0, lengths, mask, reverse=direction == 1)  # (B, T, H)
                directions.append(states)
                finals.append(final)
            out = directions[0] if len(directions) == 1 else torch.cat(directions, dim=-1)  # (B, T, D*H)
            if layer < self.num_layers - 1 and self.dropout > 0:
                out = self._between_layers(out)
            if layer > 0:
                out = out + layer_input.to(out.dtype)  # residual
            if mask is not None:
                out = out * mask  # padding outputs zeros, as packed sequences do
            layer_input = out
        return layer_input, torch.stack(finals).to(x.dtype)  # (B, T, D*H), (L*D, B, H)

    @staticmethod
    def _scan_direction(cell, u: Tensor, h0: Tensor | None, lengths: Tensor | None, mask: Tensor | None,
                        reverse: bool) -> tuple[Tensor, Tensor]:
        """One direction with the parallel scan: states (B, T, H) and the final state (B, H)."""
        if reverse:
            u = reverse_padded(u, lengths)  # each sequence's own last step first
        states = cell(u, h0)  # (B, T, H)
        if lengths is None:
            final = states[:, -1]
        else:
            final = states.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[-1])).squeeze(1)
        if reverse:
            states = reverse_padded(states, lengths)
        return states, final

    @staticmethod
    def _step_direction(cell, u: Tensor, h0: Tensor | None, lengths: Tensor | None, mask: Tensor | None,
                        reverse: bool) -> tuple[Tensor, Tensor]:
        """One direction one step at a time (the step mode in a loop): states (B, T, H), final state (B, H)."""
        batch, steps = u.shape[0], u.shape[1]
        x_proj = cell.linear(u)  # (B, T, G*H), all steps at once
        x_proj = x_proj.to(scan_dtype(x_proj.dtype))  # the scan's precision, so both modes agree
        h = x_proj.new_zeros(batch, cell.hidden_size) if h0 is None else h0.to(x_proj.dtype)
        outputs: list[Tensor] = [None] * steps  # type: ignore[list-item]
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            h_new = cell.update(x_proj[:, t], h)  # (B, H)
            if mask is not None:  # padding steps keep the state
                h_new = torch.where(mask[:, t], h_new, h)
            outputs[t] = h = h_new
        return torch.stack(outputs, dim=1), h

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, backend={self._backend!r}"


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (B, T, F) within its own length; padding stays where it is."""
    if lengths is None:
        return x.flip(1)
    steps = x.shape[1]
    t = torch.arange(steps, device=x.device)[None, :]  # (1, T)
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout between layers; on the CPU through rnnkit's engine (F.dropout's per-element Bernoulli loop
    costs ~70 ms on a (128, 100, 512) batch), elsewhere torch's."""
    if x.device.type == "cpu":
        from rnnkit.engine.fast_lstm import fast_dropout

        return fast_dropout(x, p, training)
    return F.dropout(x, p, training)


def locked_dropout(x: Tensor, p: float, training: bool, time_dim: int = 1) -> Tensor:
    """Variational ("locked") dropout: one mask per sequence, the same at every step along ``time_dim``."""
    if not training or p == 0.0:
        return x
    shape = list(x.shape)
    shape[time_dim] = 1
    return x * dropout(x.new_ones(shape), p, True)


def map_state(state: State, fn) -> State:
    """``fn`` applied to each tensor of a state (h, or both h and c of an LSTM)."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def detach_state(state: State | None) -> State | None:
    """Cut the autograd graph between truncated-BPTT windows (pytorch/examples' repackage_hidden)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(s.detach() for s in state)
