"""The continuous-batching scheduler: a row's output never depends on the rows it shares the batch with."""

from __future__ import annotations

import threading

import numpy as np
import torch

from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.serve.scheduler import Job, Scheduler, choose_rows


def tiny_model(vocab=20):
    torch.manual_seed(0)
    return LanguageModel(LanguageModelConfig(vocab_size=vocab, hidden_size=32, num_layers=2, embedding_size=8)).eval()


def run_jobs(scheduler, specs):
    """Submit every spec at once; return each job's (tokens, finish reason)."""
    results = [([], []) for _ in specs]
    events = [threading.Event() for _ in specs]
    for (tokens, reason), ev, spec in zip(results, events, specs):
        stop_at = spec.pop("stop_at", None)

        def emit(i, tokens=tokens, stop_at=stop_at):
            tokens.append(i)
            return stop_at is None or len(tokens) < stop_at

        scheduler.submit(Job(emit=emit, done=lambda r, reason=reason, ev=ev: (reason.append(r), ev.set()), **spec))
    for ev in events:
        assert ev.wait(30)
    return [(tokens, reason[0]) for tokens, reason in results]


def test_greedy_alone_equals_inside_a_batch_of_32_and_seeds_reproduce():
    sched = Scheduler(tiny_model())
    rng = np.random.default_rng(1)
    prompt = np.array([1, 2, 3, 4])
    [(alone, why)] = run_jobs(sched, [dict(prompt_ids=prompt, max_tokens=30, greedy=True)])
    [(seeded, _)] = run_jobs(sched, [dict(prompt_ids=prompt, max_tokens=30, temperature=0.9, top_k=8, seed=5)])
    others = [dict(prompt_ids=rng.integers(0, 20, size=int(rng.integers(1, 9))), max_tokens=int(rng.integers(1, 40)),
                   temperature=float(rng.uniform(0.5, 1.5)), top_k=int(rng.integers(1, 20)),
                   top_p=float(rng.uniform(0.3, 1)), seed=int(i)) for i in range(30)]
    out = run_jobs(sched, [dict(prompt_ids=prompt, max_tokens=30, greedy=True), *others,
                           dict(prompt_ids=prompt, max_tokens=30, temperature=0.9, top_k=8, seed=5)])
    assert why == "length" and len(alone) == 30
    assert out[0][0] == alone and out[-1][0] == seeded
    assert [len(t) for t, _ in out[1:-1]] == [o["max_tokens"] for o in others]
    assert sched.active == 0
    sched.close()


def test_rows_leave_on_stop_and_cancel_and_no_batching_serves_one_at_a_time():
    sched = Scheduler(tiny_model(), max_batch=1)
    out = run_jobs(sched, [dict(prompt_ids=np.array([1]), max_tokens=50, stop_at=3, seed=1),
                           dict(prompt_ids=np.array([2]), max_tokens=4, seed=2)])
    assert out[0] == (out[0][0], "stop") and len(out[0][0]) == 3 and len(out[1][0]) == 4 and out[1][1] == "length"
    done = threading.Event()
    job = Job(np.array([1]), 10_000, emit=lambda i: True, done=lambda r: done.set())
    sched.submit(job)
    job.cancel()
    assert done.wait(10) and sched.active == 0
    sched.close()


def test_choose_rows_honours_each_rows_filters():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]] * 3)
    u = torch.tensor([0.999, 0.999, 0.0])
    ids = choose_rows(logits, torch.ones(3), torch.tensor([1, 4, 4]), torch.tensor([1.0, 1.0, 1.0]),
                      torch.tensor([False, False, True]), u)
    assert ids.tolist()[0] == 3 and ids.tolist()[2] == 3  # top-1 and greedy take the best
    assert ids.tolist()[1] == 0  # u near 1 with all kept reaches the least likely token (sorted last)
    nucleus = choose_rows(logits[:1], torch.ones(1), torch.tensor([4]), torch.tensor([0.5]), torch.tensor([False]),
                          torch.tensor([0.999]))
    assert nucleus.item() in (3, 2)
