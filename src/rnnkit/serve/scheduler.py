"""Continuous batching for one language model: a thread steps every active stream with one batched forward.

A request (a ``Job``) is primed alone (one forward of its whole prompt at batch 1), then its state rows
join the batch at the next step; each step runs ONE forward of shape (B, 1) for all rows and chooses
every row's next token with that row's own temperature, top-k, top-p and random generator, so a
request's output never depends on which other requests share the batch. A row leaves as soon as it is
finished, stopped or cancelled (its state rows are dropped with ``index_select``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

log = logging.getLogger("rnnkit")


@dataclass
class Job:
    """One stream: ``emit(token_id)`` is called from the scheduler thread for each new token and returns
    False to stop the row (a stop string was reached); ``done()`` is called once when the row leaves."""

    prompt_ids: np.ndarray  # (T0,) at least one token
    max_tokens: int
    emit: Callable[[int], bool]
    done: Callable[[str], None]  # finish reason: "length", "stop" or "cancelled"
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    seed: int | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Ask the scheduler to drop this row at its next step."""
        self.cancelled.set()


def _map_state(state, fn):
    if isinstance(state, tuple):
        return tuple(fn(s) for s in state)
    return fn(state)


def _cat_states(states: list):
    """States (L, B_i, H) (or LSTM pairs of them) joined along the batch dimension 1."""
    if isinstance(states[0], tuple):
        return tuple(torch.cat([s[i] for s in states], dim=1) for i in range(len(states[0])))
    return torch.cat(states, dim=1)


def choose_rows(logits: Tensor, temperature: Tensor, top_k: Tensor, top_p: Tensor, greedy: Tensor,
                uniforms: Tensor) -> Tensor:
    """Next ids (B,) from logits (B, V), each row with its own settings, vectorised.

    Parameters
    ----------
    logits : (B, V) last-position logits.
    temperature : (B,) > 0.
    top_k : (B,) long, V for "keep all".
    top_p : (B,) in (0, 1], 1 for "keep all".
    greedy : (B,) bool, rows that take the argmax.
    uniforms : (B,) one uniform draw in [0, 1) per row (from that row's own generator).
    """
    scaled = logits.float() / temperature[:, None]  # (B, V)
    sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)  # (B, V)
    probs = sorted_logits.softmax(dim=-1)
    rank = torch.arange(probs.shape[1], device=probs.device)[None]  # (1, V)
    mass_before = probs.cumsum(dim=-1) - probs
    keep = (rank < top_k[:, None]) & ((mass_before < top_p[:, None]) | (rank == 0))  # (B, V)
    probs = probs * keep
    cdf = probs.cumsum(dim=-1)  # (B, V)
    target = (uniforms * cdf[:, -1])[:, None]  # (B, 1)
    index = torch.searchsorted(cdf, target, right=True).clamp_(max=probs.shape[1] - 1)  # (B, 1)
    sampled = order.gather(1, index).squeeze(1)  # (B,)
    return torch.where(greedy, logits.argmax(dim=-1), sampled)


#: Uniform draws taken from a row's generator at a time (one call per block, not one per token).
UNIFORM_BLOCK = 64


class Scheduler:
    """Owns ``model`` in one thread and steps all its active streams together.

    ``max_batch=1`` serves one request at a time (the rest wait in the queue): the ``--no-batching``
    baseline of the benchmark. ``after_step`` (if given) is called once after every step, after the
    step's ``emit`` calls: one hand-off to the consumers per step instead of one per row.

    Per step the only Python work per row is its ``emit`` call: the rows' sampling settings live in
    (B,) tensors updated when rows join or leave, and each row draws its uniforms from its own
    generator ``UNIFORM_BLOCK`` at a time. An LSTM LM on the CPU steps through ``LSTMStepper``'s weights:
    batches up to ``MAX_BATCH`` rows in the one-call kernel, larger ones as GEMMs (``step_many``); other
    models through their own batched forward. ``precision="fp32"`` (the default) keeps a row's tokens
    independent of the batch size up to float rounding (a greedy row alone equals the same row in a batch
    of 32, tested); ``"bf16"`` halves the bytes and doubles the GEMM rate where the CPU has bf16 units, at the
    price of bf16 rounding that differs between the kernel (small batches) and the GEMMs (large ones).
    """

    def __init__(self, model: nn.Module, name: str = "model", max_batch: int = 256,
                 after_step: Callable[[], None] | None = None, precision: str = "fp32"):
        from rnnkit.models.lm_step import MAX_BATCH, LSTMStepper

        self.model = model.eval()
        self.max_batch = max_batch
        self.after_step = after_step
        self.device = next(model.parameters()).device
        self.stepper = LSTMStepper.for_model(model, 1, precision)
        self.stepper_max_batch = MAX_BATCH
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._active = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"rnnkit-serve-{name}", daemon=True)
        self._thread.start()

    @property
    def active(self) -> int:
        """Streams queued or generating."""
        with self._lock:
            return self._active

    def submit(self, job: Job) -> None:
        """Queue ``job``; it joins the batch at the next step."""
        with self._lock:
            self._active += 1
        self._queue.put(job)

    def close(self) -> None:
        """Stop the thread (active jobs are finished as cancelled)."""
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _finish(self, job: Job, reason: str) -> None:
        with self._lock:
            self._active -= 1
        try:
            job.done(reason)
        except Exception:  # a callback must never kill the scheduler
            log.exception("serve: finishing a stream failed")

    def _handoff(self) -> None:
        if self.after_step is not None:
            try:
                self.after_step()
            except Exception:
                log.exception("serve: handing tokens over failed")

    def _loop(self) -> None:
        rows = _Rows()
        stopping = False
        while True:
            # New requests join: block only when nothing is running.
            joined = False
            while len(rows) < self.max_batch:
                try:
                    job = self._queue.get(block=not len(rows) and not stopping)
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                if job.cancelled.is_set() or job.max_tokens == 0:
                    self._finish(job, "cancelled" if job.cancelled.is_set() else "length")
                    joined = True
                    continue
                try:
                    row_logits, row_state = self._prime(job)
                except Exception:
                    log.exception("serve: priming a stream failed")
                    self._finish(job, "cancelled")
                    joined = True
                    continue
                rows.join(job, row_logits, row_state)
                joined = True
            if joined:
                self._handoff()
            if stopping:
                for job in rows.jobs:
                    self._finish(job, "cancelled")
                self._handoff()
                return
            if not len(rows):
                continue
            try:
                with torch.inference_mode():
                    next_ids = rows.choose()  # (B,)
            except Exception:
                log.exception("serve: choosing tokens failed")
                for job in rows.jobs:
                    self._finish(job, "cancelled")
                self._handoff()
                rows = _Rows()
                continue
            keep: list[int] = []
            counts = rows.counts
            for i, (job, token) in enumerate(zip(rows.jobs, next_ids.tolist())):
                if job.cancelled.is_set():
                    self._finish(job, "cancelled")
                    continue
                counts[i] += 1
                try:
                    go_on = job.emit(token)
                except Exception:
                    log.exception("serve: emitting a token failed")
                    go_on = False
                if not go_on:
                    self._finish(job, "stop")
                elif counts[i] >= job.max_tokens:
                    self._finish(job, "length")
                else:
                    keep.append(i)
            self._handoff()
            if len(keep) < len(rows):
                next_ids = rows.keep(keep, next_ids)
                if not len(rows):
                    continue
            with torch.inference_mode():
                rows.logits = self._step(next_ids, rows)

    def _step(self, ids: Tensor, rows: _Rows) -> Tensor:
        """One token for every row: ids (B,) -> logits (B, V), the rows' state carried forward."""
        if self.stepper is not None and ids.shape[0] <= self.stepper_max_batch:
            h, c = rows.state
            if not (h.is_contiguous() and c.is_contiguous()):
                rows.state = h, c = h.contiguous(), c.contiguous()
            if rows.step_logits is None or rows.step_logits.shape[0] != ids.shape[0]:
                rows.step_logits = torch.empty(ids.shape[0], self.stepper.vocab_size)  # (B, V)
            return self.stepper.step_rows(ids, h, c, rows.step_logits)  # h, c (L, B, H) updated in place
        if self.stepper is not None:
            h, c = rows.state
            return self.stepper.step_many(ids, h, c)  # (B, V); h, c (L, B, H) updated in place
        out, rows.state = self.model(ids[:, None], rows.state)  # (B, 1, V): one step for every row
        return out[:, -1]  # (B, V)

    def _prime(self, job: Job):
        ids = torch.as_tensor(job.prompt_ids, dtype=torch.long, device=self.device)[None]  # (1, T0)
        with torch.inference_mode():
            out, state = self.model(ids)  # (1, T0, V)
        return out[:, -1].clone(), state  # (1, V)


class _Rows:
    """The active rows of one scheduler: jobs, their state and logits, and their sampling settings as tensors."""

    def __init__(self):
        self.jobs: list[Job] = []
        self.generators: list[torch.Generator] = []
        self.counts: list[int] = []
        self.state = None  # (L, B, H) or an LSTM pair of them
        self.logits: Tensor | None = None  # (B, V) next-token logits of every row
        self.step_logits: Tensor | None = None  # (B, V) the kernel's output buffer
        self.temperature = torch.ones(0)  # (B,)
        self.top_k = torch.zeros(0, dtype=torch.long)  # (B,) V for "keep all"
        self.top_p = torch.ones(0)  # (B,)
        self.greedy = torch.zeros(0, dtype=torch.bool)  # (B,)
        self.uniforms = torch.zeros(0, UNIFORM_BLOCK)  # (B, UNIFORM_BLOCK) each row's next draws
        self.used = torch.zeros(0, dtype=torch.long)  # (B,) draws used from each row's block
        self.all_greedy = True

    def __len__(self) -> int:
        return len(self.jobs)

    def join(self, job: Job, logits: Tensor, state) -> None:
        vocab = logits.shape[1]
        g = torch.Generator(device="cpu")
        if job.seed is None:
            g.seed()
        else:
            g.manual_seed(job.seed)
        self.jobs.append(job)
        self.generators.append(g)
        self.counts.append(0)
        self.state = state if self.state is None else _cat_states([self.state, state])
        self.logits = logits if self.logits is None else torch.cat([self.logits, logits])
        self.temperature = torch.cat([self.temperature, torch.tensor([job.temperature if not job.greedy else 1.0])])
        self.top_k = torch.cat([self.top_k, torch.tensor([min(job.top_k, vocab) if job.top_k else vocab])])
        self.top_p = torch.cat([self.top_p, torch.tensor([job.top_p if job.top_p is not None else 1.0])])
        self.greedy = torch.cat([self.greedy, torch.tensor([job.greedy])])
        self.uniforms = torch.cat([self.uniforms, torch.rand(1, UNIFORM_BLOCK, generator=g)])
        self.used = torch.cat([self.used, torch.zeros(1, dtype=torch.long)])
        self.all_greedy = bool(self.greedy.all())

    def keep(self, keep: list[int], next_ids: Tensor) -> Tensor:
        """Drop every row not in ``keep``; returns ``next_ids`` of the kept rows."""
        self.jobs = [self.jobs[i] for i in keep]
        self.generators = [self.generators[i] for i in keep]
        self.counts = [self.counts[i] for i in keep]
        if not keep:
            self.__init__()
            return next_ids[:0]
        index = torch.tensor(keep, device=next_ids.device)
        self.state = _map_state(self.state, lambda s: s.index_select(1, index.to(s.device)))  # (L, B', H)
        cpu = index.cpu()
        for name in ("temperature", "top_k", "top_p", "greedy", "uniforms", "used"):
            setattr(self, name, getattr(self, name).index_select(0, cpu))
        self.all_greedy = bool(self.greedy.all())
        return next_ids.index_select(0, index)

    def choose(self) -> Tensor:
        """Next ids (B,) of every row from ``self.logits``."""
        logits = self.logits
        if self.all_greedy:
            return logits.argmax(dim=-1)
        used = self.used
        if int(used.max()) >= UNIFORM_BLOCK:  # some rows used their block up: draw their next one
            for i in (used >= UNIFORM_BLOCK).nonzero().flatten().tolist():
                self.uniforms[i] = torch.rand(UNIFORM_BLOCK, generator=self.generators[i])
                used[i] = 0
        u = self.uniforms.gather(1, used[:, None]).squeeze(1)  # (B,)
        used += 1
        settings = (self.temperature, self.top_k, self.top_p, self.greedy, u)
        if logits.device.type != "cpu":
            settings = tuple(t.to(logits.device) for t in settings)
        return choose_rows(logits, *settings).cpu()
