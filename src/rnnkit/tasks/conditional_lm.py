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

from rnnkit.config import RunSections, TrainConfig
from rnnkit.data.datasets import data_dir
from rnnkit.data.padded import PairBatcher, pad_sequences, trim
from rnnkit.data.pairs import read_labelled_texts
from rnnkit.data.splits import split_indices
from rnnkit.data.vocab import BOS_ID, EOS_ID, LEVELS, SPECIALS, TokenVocab, describe_unknown, level_tokens
from rnnkit.errors import RnnkitError
from rnnkit.generate import SamplingConfig, generate_tokens
from rnnkit.layers import State
from rnnkit.models.conditional_lm import ConditionalLM, ConditionalLMConfig, Conditioned
from rnnkit.models.seq2seq import sequence_loss
from rnnkit.tasks.base import Context, Prepared, Task, Training
from rnnkit.training.precision import autocast

TASK_NAME = "conditional-lm"
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
class ConditionalRunConfig(RunSections):
    """A conditional-LM run: data, model and training settings."""

    data: LabelledDataConfig = field(default_factory=LabelledDataConfig)
    model: ConditionalLMConfig = field(default_factory=ConditionalLMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

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
    inputs, lengths = pad_sequences(ids, prefix=(BOS_ID,))
    targets, _ = pad_sequences(ids, suffix=(EOS_ID,))
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
        n = len(level_tokens(text, d.level))
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


@dataclass
class LabelledVocab:
    """A conditional LM's vocabulary and its labels (vocab.json: the token vocabulary plus ``"labels"``)."""

    tokens: TokenVocab
    labels: list[str]

    def __len__(self) -> int:
        return len(self.tokens)

    def to_dict(self) -> dict[str, Any]:
        return {**self.tokens.to_dict(), "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelledVocab:
        return cls(TokenVocab.from_dict(data), list(data["labels"]))


@dataclass
class ConditionalSampler:
    """A trained conditional LM with its vocabulary and labels: generates and scores text for a label
    (``TextGenerator``)."""

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
        prime_ids = [i for i in self.vocab.encode(prime) if i >= len(SPECIALS) or not cfg.skip_unknown]
        device = next(self.model.parameters()).device
        model = Conditioned(self.model, label_ids.to(device))
        steps: list[torch.Tensor] = []
        finished = torch.zeros(cfg.num_samples, dtype=torch.bool, device=device)
        for next_ids in generate_tokens(model, torch.tensor([BOS_ID, *prime_ids], device=device), cfg):
            steps.append(next_ids)
            finished |= next_ids == EOS_ID
            if bool(finished.all()):
                break
        rows = torch.stack(steps, dim=1).tolist() if steps else [[] for _ in range(cfg.num_samples)]
        return [self.vocab.decode(prime_ids + row) for row in rows]

    def generate(self, prime: str = "", config: SamplingConfig | None = None,
                 stream: Callable[[str], None] | None = None, condition: str | None = None) -> list[str]:
        """``config.num_samples`` texts for label ``condition`` starting with ``prime`` (no streaming: a text
        is done at ``</s>``)."""
        self.label_id(condition)  # a missing or unknown label fails before any work
        return self.sample(condition, config or SamplingConfig(), prime)

    @torch.inference_mode()
    def score(self, text: str, condition: str | None = None) -> dict[str, float]:
        """Nats and bits per token (``</s>`` included) and perplexity of ``text`` under label ``condition``."""
        label = self.labels[self.label_id(condition)]
        encoded = encode_labelled([(label, text)], self.vocab, self.labels)
        nats = evaluate_labelled(self.model, encoded, next(self.model.parameters()).device)
        return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
                "tokens": int(encoded.lengths[0])}


class ConditionalLMTask(Task):
    """``rnnkit train conditional-lm``: a language model conditioned on a label (one-to-many generation)."""

    name = TASK_NAME
    config_class = ConditionalRunConfig
    vocab_class = LabelledVocab

    def prepare(self, config: ConditionalRunConfig, vocab: LabelledVocab | None, ctx: Context,
                **options: Any) -> Prepared:
        train_rows, val_rows, tokens, labels, path = load_split(
            config, vocab.tokens if vocab else None, vocab.labels if vocab else None)
        vocab = LabelledVocab(tokens, labels)
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **self.model_sizes(vocab)))
        train_set = encode_labelled(train_rows, tokens, labels)
        val_set = encode_labelled(val_rows, tokens, labels)
        meta = {"data_path": str(path), "train_texts": len(train_set), "val_texts": len(val_set)}
        return Prepared(config, vocab, meta, data=(path, train_set, val_set))

    def build_model(self, config: ConditionalRunConfig) -> ConditionalLM:
        return ConditionalLM(config.model)

    def training(self, prepared: Prepared, ctx: Context) -> Training:
        config, vocab = prepared.config, prepared.vocab
        path, train_set, val_set = prepared.data
        t = config.train
        generator = torch.Generator().manual_seed(t.seed)
        weights = None
        if config.data.balance:
            counts = torch.bincount(train_set.labels, minlength=len(vocab.labels)).double()
            weights = (1.0 / counts.clamp(min=1))[train_set.labels]  # (N,): every label's texts weigh 1 together
        batcher = PairBatcher(len(train_set), t.batch_size, train_set.batch, generator, weights=weights)
        evaluate = None
        if len(val_set):
            def evaluate(m):
                return evaluate_labelled(m, val_set, ctx.device, ctx.precision)
        else:
            ctx.log("rnnkit: no validation split (--val-fraction 0); best.pt will be the final weights")
        describe = (f", {len(vocab)} tokens, {len(vocab.labels)} labels, {len(train_set):,} training and "
                    f"{len(val_set):,} validation texts from {path}; {ctx.device.type}, {ctx.precision}")
        return Training(batcher, conditional_loss, evaluate, describe, batch_generator=generator)

    def model_sizes(self, vocab: LabelledVocab) -> dict[str, int]:
        return {"vocab_size": len(vocab.tokens), "num_labels": len(vocab.labels)}

    def predictor(self, run: Any) -> ConditionalSampler:
        return ConditionalSampler(run.model, run.vocab.tokens, run.vocab.labels, run.config)

    def evaluate(self, run: Any, data: str | None = None) -> dict[str, float]:
        """Loss per token on the validation split, or on all of ``data`` (a folder of label files or a CSV)."""
        sampler, config = run.predictor(), run.config
        if data is None:
            _, rows, _, _, _ = load_split(config, sampler.vocab, sampler.labels)
            if not rows:
                raise RnnkitError(f"{run.path} was trained without a validation split; pass --data")
        else:
            rows = read_labelled_texts(resolve_labelled(data), config.data.encoding)
            unknown = sorted({label for label, _ in rows} - set(sampler.labels))
            if unknown:
                raise RnnkitError(f"{data} has labels the run was not trained on: {', '.join(unknown[:10])}")
        encoded = encode_labelled(rows, sampler.vocab, sampler.labels)
        nats = evaluate_labelled(sampler.model, encoded, run.device)
        return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
                "texts": len(encoded)}


TASK = ConditionalLMTask()


__all__ = ["TASK", "ConditionalLMTask", "ConditionalRunConfig", "ConditionalSampler", "LabelledDataConfig",
           "LabelledVocab", "conditional_loss", "encode_labelled", "evaluate_labelled", "load_split"]
