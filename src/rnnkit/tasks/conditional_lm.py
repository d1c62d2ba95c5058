"""Conditional language modelling: train, resume, evaluate, load and sample a label-conditioned LM.

Data is a folder with one ``LABEL.txt`` file per label (one text a line, e.g. ``../shared/data/names``)
or a CSV with ``label`` and ``text`` columns. Each text is one sequence ``<s> t1 .. tn </s>``; a
sample starts from ``<s>`` (and an optional prime) and ends at ``</s>``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnkit import __version__
from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig, build_run_config, with_default_time
from rnnkit.data.datasets import data_dir
from rnnkit.data.pairs import (
    BOS,
    EOS,
    LEVELS,
    PairBatcher,
    TokenVocab,
    describe_unknown,
    pad_sequences,
    read_labelled_texts,
    split_indices,
    tokenize,
    trim,
)
from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig, generate_tokens
from rnnkit.layers import State
from rnnkit.models.conditional_lm import ConditionalLM, ConditionalLMConfig, Conditioned
from rnnkit.models.seq2seq import sequence_loss
from rnnkit.tasks.lm import DEFAULT_TIME_S
from rnnkit.training.plot import plot_loss
from rnnkit.training.precision import autocast, resolve_device, resolve_precision
from rnnkit.training.trainer import Trainer

TASK = "conditional-lm"
EVAL_BATCH = 512


@dataclass(frozen=True)
class LabelledDataConfig:
    """Where the labelled texts come from, how they are tokenised, split and drawn."""

    data: str = "names"  # a folder of LABEL.txt files, a CSV with label,text columns, or a folder in $RNNKIT_DATA_DIR
    level: str = "char"
    encoding: str = "utf-8"
    val_fraction: float = 0.1  # held out from every label
    data_seed: int = 0
    balance: bool = True  # draw every label equally often in training batches (not as often as it has texts)
    max_len: int = 200  # longest text in tokens; a longer one is an error


@dataclass(frozen=True)
class ConditionalRunConfig:
    """A conditional-LM run: data, model and training settings."""

    data: LabelledDataConfig = field(default_factory=LabelledDataConfig)
    model: ConditionalLMConfig = field(default_factory=ConditionalLMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConditionalRunConfig:
        return build_run_config(cls, d)

    def validate(self) -> ConditionalRunConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        self.train.validate()
        d = self.data
        if d.level not in LEVELS:
            raise RnnkitError(f"--level must be char or word, got {d.level!r}")
        if not 0 <= d.val_fraction < 1:
            raise RnnkitError(f"--val-fraction must be in [0, 1), got {d.val_fraction}")
        if d.max_len < 1:
            raise RnnkitError(f"--max-len must be >= 1, got {d.max_len}")
        self.model.check()
        return self


def resolve_labelled(data: str) -> Path:
    """An existing folder or CSV, else a folder of that name in $RNNKIT_DATA_DIR (``names``)."""
    path = Path(data).expanduser()
    if path.exists():
        return path
    shared = data_dir()
    if shared is not None and (shared / data).exists():
        return shared / data
    raise RnnkitError(f"{data} does not exist; pass a folder of LABEL.txt files or a CSV with label,text columns")


@dataclass
class LabelledTexts:
    """Padded sequences of N texts: inputs ``<s> t..`` and targets ``t.. </s>`` (N, T+1), labels (N,)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def batch(self, rows: torch.Tensor):
        """(x, y) for the Trainer: x = (inputs (B, T), labels (B,)), y = targets (B, T)."""
        lengths = self.lengths[rows]
        return (trim(self.inputs[rows], lengths), self.labels[rows]), trim(self.targets[rows], lengths)


def encode_labelled(rows: Sequence[tuple[str, str]], vocab: TokenVocab, labels: Sequence[str]) -> LabelledTexts:
    """Ids of every (label, text) row; unknown tokens become ``<unk>``."""
    index = {label: i for i, label in enumerate(labels)}
    ids = [vocab.encode(text) for _, text in rows]
    inputs, lengths = pad_sequences(ids, prefix=(BOS,))
    targets, _ = pad_sequences(ids, suffix=(EOS,))
    return LabelledTexts(inputs, targets, lengths, torch.tensor([index[label] for label, _ in rows], dtype=torch.long))


def conditional_loss(model: torch.nn.Module, x: tuple, y: torch.Tensor, state: State | None):
    """Mean next-token cross-entropy (nats) over the real tokens and ``</s>``; no state is carried."""
    ids, labels = x
    logits, _ = model(ids, labels)  # (B, T, V); padding after </s> never reaches a counted position
    return sequence_loss(logits, y), None


@torch.inference_mode()
def evaluate_labelled(model: ConditionalLM, data: LabelledTexts, device: torch.device, precision: str = "fp32",
                      batch_size: int = EVAL_BATCH) -> float:
    """Mean nats per token (``</s>`` included) of ``model`` on ``data``."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(data), batch_size):
        (ids, labels), targets = data.batch(torch.arange(start, min(start + batch_size, len(data))))
        with autocast(precision, device):
            logits, _ = model(ids.to(device), labels.to(device))
            loss = sequence_loss(logits, targets.to(device))
        n = int((targets != 0).sum())
        total, count = total + loss.item() * n, count + n
    model.train(was_training)
    return total / max(count, 1)


def load_split(config: ConditionalRunConfig, vocab: TokenVocab | None = None, labels: list[str] | None = None):
    """(train rows, validation rows, vocab, labels, source path): a per-label seeded split."""
    d = config.data
    path = resolve_labelled(d.data)
    rows = read_labelled_texts(path, d.encoding)
    for label, text in rows:
        n = len(tokenize(text, d.level))
        if n > d.max_len:
            raise RnnkitError(f"{path}: a {label} text has {n} {d.level} tokens, more than --max-len {d.max_len}; "
                              "raise --max-len or shorten it")
    train_idx, val_idx = split_indices(len(rows), d.val_fraction, d.data_seed, groups=[label for label, _ in rows])
    train_rows, val_rows = [rows[i] for i in train_idx], [rows[i] for i in val_idx]
    if labels is None:
        labels = sorted({label for label, _ in rows})
    else:
        unknown = sorted({label for label, _ in rows} - set(labels))
        if unknown:
            raise RnnkitError(f"{path} has labels the run was not trained on: {', '.join(unknown[:10])}")
    if vocab is None:
        vocab = TokenVocab.from_texts((text for _, text in train_rows), d.level)
    return train_rows, val_rows, vocab, labels, path


def train_conditional_lm(config: ConditionalRunConfig, out: str | Path, resume: bool = False,
                         show_progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or with ``resume=True`` continue) a conditional LM into run directory ``out``; returns a summary."""
    out = Path(out)
    config = with_default_time(config, DEFAULT_TIME_S).validate()
    device = resolve_device(config.train.device)
    precision = resolve_precision(config.train.precision, device)
    payload, vocab, labels = None, None, None
    if resume:
        payload = ckpt.load_tensors(out / ckpt.LAST_FILE)
        vocab, labels = _load_vocab(out)
    elif (out / ckpt.LAST_FILE).exists():
        raise RnnkitError(f"{out} already holds a run; continue it with 'rnnkit train --resume {out}' "
                          "or choose another --out")
    train_rows, val_rows, vocab, labels, path = load_split(config, vocab, labels)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, vocab_size=len(vocab),
                                                                   num_labels=len(labels)))
    train_set = encode_labelled(train_rows, vocab, labels)
    val_set = encode_labelled(val_rows, vocab, labels)
    t = config.train

    torch.manual_seed(t.seed)
    model = ConditionalLM(config.model).to(device)
    generator = torch.Generator().manual_seed(t.seed)
    weights = None
    if config.data.balance:
        counts = torch.bincount(train_set.labels, minlength=len(labels)).double()
        weights = (1.0 / counts.clamp(min=1))[train_set.labels]  # (N,): every label's texts weigh 1 together
    batcher = PairBatcher(len(train_set), t.batch_size, train_set.batch, generator, weights=weights)

    evaluate = None
    if len(val_set):
        def evaluate(m):
            return evaluate_labelled(m, val_set, device, precision)
    else:
        log("rnnkit: no validation split (--val-fraction 0); best.pt will be the final weights")
    trainer = Trainer(model, batcher, conditional_loss, t, out, device, precision, evaluate=evaluate,
                      batch_generator=generator, show_progress=show_progress, token_name="token")
    if payload is not None:
        trainer.load_last(payload)
        log(f"rnnkit: resuming {out} at step {trainer.state.step} (epoch {trainer.state.epoch})")
    else:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.save_json(out / ckpt.VOCAB_FILE, {**vocab.to_dict(), "labels": labels})
    meta = {"rnnkit_version": __version__, "data_path": str(path), "device": str(device), "precision": precision,
            "parameters": model.num_parameters(), "train_texts": len(train_set), "val_texts": len(val_set)}
    ckpt.save_json(out / ckpt.CONFIG_FILE, {"task": TASK, **config.to_dict(), "meta": meta})
    log(f"rnnkit: {model.num_parameters():,} parameters, {len(vocab)} tokens, {len(labels)} labels, "
        f"{len(train_set):,} training and {len(val_set):,} validation texts from {path}; {device.type}, {precision}")
    summary = trainer.fit()
    plot_loss(out / ckpt.METRICS_FILE, out / ckpt.PLOT_FILE, unit="token")
    summary.update({"run_dir": str(out), "precision": precision, "device": str(device)})
    return summary


def resume_config(run_dir: str | Path, train_overrides: dict[str, Any] | None = None) -> ConditionalRunConfig:
    """The stored config of a run, with optional new budget settings applied."""
    stored = ckpt.load_json(Path(run_dir) / ckpt.CONFIG_FILE)
    if stored.pop("task", None) != TASK:
        raise RnnkitError(f"{run_dir} is not a {TASK} run")
    stored.pop("meta", None)
    config = ConditionalRunConfig.from_dict(stored)
    if train_overrides:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_overrides))
    return config


def _load_vocab(run_dir: Path) -> tuple[TokenVocab, list[str]]:
    stored = ckpt.load_json(run_dir / ckpt.VOCAB_FILE)
    return TokenVocab.from_dict(stored), list(stored["labels"])


@dataclass
class ConditionalSampler:
    """A trained conditional LM with its vocabulary and labels, ready to sample."""

    model: ConditionalLM
    vocab: TokenVocab
    labels: list[str]
    config: ConditionalRunConfig

    def label_id(self, label: str | None) -> int:
        """The id of ``label``; a missing or unknown label is an error that lists the known ones."""
        known = ", ".join(self.labels)
        if label is None:
            raise RnnkitError(f"this model is conditioned on a label; pass --condition LABEL, one of: {known}")
        if label not in self.labels:
            raise RnnkitError(f"unknown --condition {label!r}; known labels: {known}")
        return self.labels.index(label)

    def sample(self, label: str, cfg: SamplingConfig, prime: str = "") -> list[str]:
        """``cfg.num_samples`` texts for ``label``, each starting with ``prime`` and ending at ``</s>`` or
        after ``cfg.length`` new tokens."""
        label_ids = torch.tensor([self.label_id(label)])
        unknown = self.vocab.unknown(prime)
        if unknown and not cfg.skip_unknown:
            raise RnnkitError(f"{describe_unknown(unknown)}; remove them from --prime or pass --skip-unknown")
        prime_ids = [i for i in self.vocab.encode(prime) if i >= 4 or not cfg.skip_unknown]
        device = next(self.model.parameters()).device
        model = Conditioned(self.model, label_ids.to(device))
        steps: list[torch.Tensor] = []
        finished = torch.zeros(cfg.num_samples, dtype=torch.bool, device=device)
        for next_ids in generate_tokens(model, torch.tensor([BOS, *prime_ids], device=device), cfg):
            steps.append(next_ids)
            finished |= next_ids == EOS
            if bool(finished.all()):
                break
        rows = torch.stack(steps, dim=1).tolist() if steps else [[] for _ in range(cfg.num_samples)]
        return [self.vocab.decode(prime_ids + row) for row in rows]


def load_conditional_lm(run_dir: str | Path, device: str | torch.device = "cpu") -> ConditionalSampler:
    """Rebuild a trained conditional LM (best.pt, else last.pt) on ``device`` with its vocabulary and labels."""
    run_dir = Path(run_dir)
    weights = ckpt.find_weights(run_dir)
    config = resume_config(run_dir)
    vocab, labels = _load_vocab(run_dir)
    model = ConditionalLM(config.model)
    model.load_state_dict(ckpt.load_tensors(weights)["model"])
    return ConditionalSampler(model.to(device).eval(), vocab, labels, config)


def eval_conditional_lm(run_dir: str | Path, data: str | None = None, device: str = "auto") -> dict[str, float]:
    """Loss per token on the validation split, or on all of ``data`` (a folder of label files or a CSV)."""
    dev = resolve_device(device)
    sampler = load_conditional_lm(run_dir, dev)
    config = sampler.config
    if data is None:
        _, rows, _, _, _ = load_split(config, sampler.vocab, sampler.labels)
        if not rows:
            raise RnnkitError(f"{run_dir} was trained without a validation split; pass --data")
    else:
        rows = read_labelled_texts(resolve_labelled(data), config.data.encoding)
        unknown = sorted({label for label, _ in rows} - set(sampler.labels))
        if unknown:
            raise RnnkitError(f"{data} has labels the run was not trained on: {', '.join(unknown[:10])}")
    encoded = encode_labelled(rows, sampler.vocab, sampler.labels)
    nats = evaluate_labelled(sampler.model, encoded, dev)
    return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
            "texts": len(encoded)}


__all__ = ["ConditionalRunConfig", "ConditionalSampler", "LabelledDataConfig", "conditional_loss",
           "encode_labelled", "eval_conditional_lm", "evaluate_labelled", "load_conditional_lm", "resume_config",
           "train_conditional_lm"]
