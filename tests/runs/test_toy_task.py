"""A task defined here, outside rnnkit, trains, resumes and opens through the one run lifecycle.

The toy task: read a stream of random bits and say, at every position, whether the bits so far hold
an odd number of ones (running parity), with a GRU. Everything task-specific is in this file.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig, build_run_config
from rnnkit.errors import RnnkitError
from rnnkit.runs import get_task, known_tasks, open_run, register, resume, train, unregister
from rnnkit.tasks.base import Prepared, Task, Training
from rnnkit.training.trainer import TrainingInterrupted

# -- the toy task: 53 non-blank lines from here to TASK (config, model, batches, loss, Task) ----------------


@dataclass(frozen=True)
class ParityData:
    sequences: int = 256
    length: int = 12


@dataclass(frozen=True)
class ParityModel:
    hidden_size: int = 16


@dataclass(frozen=True)
class ParityConfig:
    data: ParityData = field(default_factory=ParityData)
    model: ParityModel = field(default_factory=ParityModel)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return build_run_config(cls, d)

    def validate(self):
        self.train.validate()
        return self


class ParityNet(nn.Module):
    def __init__(self, hidden_size: int):
        super().__init__()
        self.gru = nn.GRU(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, bits):  # (B, T) -> logits (B, T)
        return self.head(self.gru(bits.unsqueeze(-1))[0]).squeeze(-1)


class Batches:
    def __init__(self, x, y, batch_size, generator):
        self.x, self.y, self.batch_size, self.generator = x, y, batch_size, generator

    def __len__(self):
        return len(self.x) // self.batch_size

    def sample(self):
        rows = torch.randint(len(self.x), (self.batch_size,), generator=self.generator)
        return self.x[rows], self.y[rows]


def parity_loss(model, x, y, state):
    return nn.functional.binary_cross_entropy_with_logits(model(x), y), None


class ParityTask(Task):
    name, config_class, vocab_class, token = "toy-parity", ParityConfig, None, "bit"

    def prepare(self, config, vocab, ctx, **options):
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 2, (config.data.sequences, config.data.length), generator=g).float()
        return Prepared(config, None, {"sequences": len(x)}, data=(x, x.cumsum(1) % 2))

    def build_model(self, config):
        return ParityNet(config.model.hidden_size)

    def training(self, prepared, ctx):
        x, y = prepared.data
        generator = torch.Generator().manual_seed(prepared.config.train.seed)
        evaluate = lambda m: parity_loss(m, x, y, None)[0].item()  # noqa: E731
        return Training(Batches(x, y, prepared.config.train.batch_size, generator), parity_loss, evaluate,
                        f", {len(x)} sequences", batch_generator=generator)

    def predictor(self, run):
        return lambda bits: (torch.sigmoid(run.model(torch.tensor([bits], dtype=torch.float32)))[0] > 0.5).tolist()


TASK = ParityTask()
# -- end of the toy task --------------------------------------------------------------------------------------

quiet = dict(show_progress=False, log=lambda *_: None)


@pytest.fixture
def toy():
    register(TASK)
    yield TASK
    unregister(TASK.name)


def toy_config(max_steps: int) -> ParityConfig:
    return ParityConfig(train=TrainConfig(batch_size=16, lr=2e-2, warmup_steps=2, max_steps=max_steps, eval_every=10,
                                          precision="fp32", device="cpu", seed=3, save_every=1e9))


def test_a_registered_task_trains_resumes_exactly_and_opens(toy, tmp_path, monkeypatch):
    assert "toy-parity" in known_tasks() and get_task("toy-parity") is toy
    straight = train("toy-parity", toy_config(60), tmp_path / "straight", **quiet)
    assert straight["step"] == 60 and straight["token"] == "bit"

    calls = {"n": 0}

    def interrupt_at_step_25(model, x, y, state):
        calls["n"] += model.training
        if calls["n"] == 25:
            raise KeyboardInterrupt  # what Ctrl-C raises
        return parity_loss(model, x, y, state)

    monkeypatch.setattr(sys.modules[__name__], "parity_loss", interrupt_at_step_25)
    with pytest.raises(TrainingInterrupted):
        train("toy-parity", toy_config(60), tmp_path / "split", **quiet)
    monkeypatch.undo()
    resumed = resume(tmp_path / "split", **quiet)
    assert resumed["step"] == 60
    a = ckpt.load_tensors(tmp_path / "straight" / "last.pt")["model"]
    b = ckpt.load_tensors(tmp_path / "split" / "last.pt")["model"]
    for name in a:  # the resumed run ends with the uninterrupted run's weights
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)

    stored = ckpt.load_json(tmp_path / "split" / "config.json")
    assert stored["task"] == "toy-parity" and stored["meta"]["sequences"] == 256
    run = open_run(tmp_path / "straight")
    assert run.task == "toy-parity" and run.vocab is None and not run.model.training
    assert run.config.model.hidden_size == 16
    answer = run.predictor()([1, 0, 1, 1])
    assert len(answer) == 4 and all(isinstance(v, bool) for v in answer)


def test_a_registered_task_learns(toy, tmp_path):
    train("toy-parity", toy_config(300), tmp_path / "run", **quiet)
    predict = open_run(tmp_path / "run").predictor()
    bits = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    expected = [bool(sum(bits[: i + 1]) % 2) for i in range(len(bits))]
    assert sum(p == e for p, e in zip(predict(bits), expected)) >= 8  # chance is 5 of 10


def test_the_run_directory_of_a_registered_task_is_never_overwritten(toy, tmp_path):
    train("toy-parity", toy_config(5), tmp_path / "run", **quiet)
    with pytest.raises(RnnkitError, match="already holds a run; continue it with 'rnnkit train --resume"):
        train("toy-parity", toy_config(5), tmp_path / "run", **quiet)


def test_an_unregistered_task_is_a_one_line_error(tmp_path, toy):
    train("toy-parity", toy_config(3), tmp_path / "run", **quiet)
    unregister("toy-parity")
    with pytest.raises(RnnkitError, match=r"config.json: unknown task 'toy-parity'; this rnnkit .* knows lm, "):
        open_run(tmp_path / "run")
