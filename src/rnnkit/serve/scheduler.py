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


class Scheduler:
    """Owns ``model`` in one thread and steps all its active streams together.

    ``max_batch=1`` serves one request at a time (the rest wait in the queue): the ``--no-batching``
    baseline of the benchmark.
    """

    def __init__(self, model: nn.Module, name: str = "model", max_batch: int = 256):
        self.model = model.eval()
        self.max_batch = max_batch
        self.device = next(model.parameters()).device
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

    def _loop(self) -> None:
        jobs: list[Job] = []
        generators: list[torch.Generator] = []
        counts: list[int] = []
        state = None
        logits: Tensor | None = None  # (B, V) next-token logits of every row
        stopping = False
        while True:
            # New requests join: block only when nothing is running.
            while len(jobs) < self.max_batch:
                try:
                    job = self._queue.get(block=not jobs and not stopping)
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                if job.cancelled.is_set() or job.max_tokens == 0:
                    self._finish(job, "cancelled" if job.cancelled.is_set() else "length")
                    continue
                try:
                    row_logits, row_state = self._prime(job)
                except Exception:
                    log.exception("serve: priming a stream failed")
                    self._finish(job, "cancelled")
                    continue
                g = torch.Generator(device="cpu")
                if job.seed is None:
                    g.seed()
                else:
                    g.manual_seed(job.seed)
                jobs.append(job)
                generators.append(g)
                counts.append(0)
                state = row_state if state is None else _cat_states([state, row_state])
                logits = row_logits if logits is None else torch.cat([logits, row_logits])
            if stopping:
                for job in jobs:
                    self._finish(job, "cancelled")
                return
            if not jobs:
                continue
            try:
                next_ids = self._choose(jobs, generators, logits)  # (B,)
            except Exception:
                log.exception("serve: choosing tokens failed")
                for job in jobs:
                    self._finish(job, "cancelled")
                jobs, generators, counts, state, logits = [], [], [], None, None
                continue
            keep: list[int] = []
            for i, job in enumerate(jobs):
                if job.cancelled.is_set():
                    self._finish(job, "cancelled")
                    continue
                counts[i] += 1
                try:
                    go_on = job.emit(int(next_ids[i]))
                except Exception:
                    log.exception("serve: emitting a token failed")
                    go_on = False
                if not go_on:
                    self._finish(job, "stop")
                elif counts[i] >= job.max_tokens:
                    self._finish(job, "length")
                else:
                    keep.append(i)
            if len(keep) < len(jobs):
                jobs = [jobs[i] for i in keep]
                generators = [generators[i] for i in keep]
                counts = [counts[i] for i in keep]
                if not keep:
                    state, logits = None, None
                    continue
                rows = torch.tensor(keep, device=self.device)
                state = _map_state(state, lambda s, rows=rows: s.index_select(1, rows))  # (L, B', H)
                next_ids = next_ids.index_select(0, rows)
            with torch.inference_mode():
                out, state = self.model(next_ids[:, None], state)  # (B, 1, V): one step for every row
            logits = out[:, -1]  # (B, V)

    def _prime(self, job: Job):
        ids = torch.as_tensor(job.prompt_ids, dtype=torch.long, device=self.device)[None]  # (1, T0)
        with torch.inference_mode():
            out, state = self.model(ids)  # (1, T0, V)
        return out[:, -1], state  # (1, V)

    def _choose(self, jobs: list[Job], generators: list[torch.Generator], logits: Tensor) -> Tensor:
        vocab = logits.shape[1]
        dev = logits.device
        temperature = torch.tensor([j.temperature if not j.greedy else 1.0 for j in jobs], device=dev)
        top_k = torch.tensor([min(j.top_k, vocab) if j.top_k else vocab for j in jobs], device=dev)
        top_p = torch.tensor([j.top_p if j.top_p is not None else 1.0 for j in jobs], device=dev)
        greedy = torch.tensor([j.greedy for j in jobs], device=dev)
        uniforms = torch.cat([torch.rand(1, generator=g) for g in generators]).to(dev)  # (B,)
        with torch.inference_mode():
            return choose_rows(logits, temperature, top_k, top_p, greedy, uniforms)
