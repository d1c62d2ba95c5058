"""Sequence-to-sequence: train, resume, evaluate, load and translate with an encoder-decoder.

Data is a TSV file of ``source<TAB>target`` pairs or a generated task (``addition``, ``reverse``,
``dates``), tokenised per side at character or word level. Metrics: whole-sequence exact match,
per-token accuracy and (word-level targets) corpus BLEU, all from greedy decoding.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnkit import __version__
from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig, build_run_config, raise_first, with_default_time
from rnnkit.data.datasets import resolve_data
from rnnkit.data.pairs import (
    BOS,
    EOS,
    GENERATED,
    LEVELS,
    PairBatcher,
    TokenVocab,
    check_lengths,
    describe_unknown,
    generate_pairs,
    pad_sequences,
    read_pairs,
    split_indices,
    tokenize,
    trim,
)
from rnnkit.errors import RnnkitError
from rnnkit.layers import State
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, sequence_loss
from rnnkit.tasks.lm import DEFAULT_TIME_S
from rnnkit.training.plot import plot_loss
from rnnkit.training.precision import autocast, resolve_device, resolve_precision
from rnnkit.training.trainer import Trainer

TASK = "seq2seq"
EVAL_BATCH = 512


@dataclass(frozen=True)
class Seq2SeqDataConfig:
    """Where the pairs come from, how each side is tokenised, and how they are split."""

    data: str = "addition"  # a source<TAB>target TSV file, or a generated task: addition, reverse, dates
    source_level: str = "char"
    target_level: str = "char"
    size: int = 50_000  # generated tasks: distinct pairs, training and validation together
    digits: int = 3  # generated tasks: longest addition operand (reverse: a third of the longest word)
    data_seed: int = 0  # generated tasks: which pairs; and the train/validation split of any data
    max_len: int = 64  # longest source or target in tokens; longer pairs are an error
    val_fraction: float = 0.1
    val_size: int | None = None  # an exact number of validation pairs (overrides val_fraction)
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Seq2SeqRunConfig:
    """A seq2seq run: data, model and training settings."""

    data: Seq2SeqDataConfig = field(default_factory=Seq2SeqDataConfig)
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Seq2SeqRunConfig:
        return build_run_config(cls, d)

    def validate(self) -> Seq2SeqRunConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        self.train.validate()
        d = self.data
        checks = [
            (d.source_level in LEVELS, f"--source-level must be char or word, got {d.source_level!r}"),
            (d.target_level in LEVELS, f"--target-level must be char or word, got {d.target_level!r}"),
            (d.max_len >= 1, f"--max-len must be >= 1, got {d.max_len}"),
            (d.size >= 2, f"--size must be >= 2, got {d.size}"),
            (0 <= d.val_fraction < 1, f"--val-fraction must be in [0, 1), got {d.val_fraction}"),
            (d.val_size is None or d.val_size >= 0, f"--val-size must be >= 0, got {d.val_size}"),
        ]
        raise_first(checks)
        self.model.check()
        return self


# -- data -------------------------------------------------------------------------------------------
def load_pairs(data: Seq2SeqDataConfig) -> tuple[list[tuple[str, str]], str]:
    """All pairs of the configured data (generated or read), length-checked, and a description of where from."""
    if data.data in GENERATED:
        pairs = generate_pairs(data.data, data.size, seed=data.data_seed, digits=data.digits)
        where = f"generated {data.data} (size {data.size}, digits {data.digits}, seed {data.data_seed})"
    else:
        path = resolve_data(data.data)
        pairs, where = read_pairs(path, data.encoding), str(path)
    check_lengths(pairs, data.source_level, data.target_level, data.max_len, name=where)
    return pairs, where


def split_pairs(pairs: list[tuple[str, str]], data: Seq2SeqDataConfig):
    """(train, validation) pairs: a seeded random split."""
    train_idx, val_idx = split_indices(len(pairs), data.val_fraction, data.data_seed, data.val_size)
    return [pairs[i] for i in train_idx], [pairs[i] for i in val_idx]


@dataclass
class EncodedPairs:
    """Padded tensors of N pairs: source (N, S), source_lengths (N,), target_in/target_out (N, T+1)."""

    source: torch.Tensor
    source_lengths: torch.Tensor
    target_in: torch.Tensor
    target_out: torch.Tensor
    target_lengths: torch.Tensor

    def __len__(self) -> int:
        return self.source.shape[0]

    def batch(self, rows: torch.Tensor):
        """(x, y) for the Trainer: x = (source, source_lengths, target_in), y = target_out, trimmed."""
        src_len, tgt_len = self.source_lengths[rows], self.target_lengths[rows]
        source = trim(self.source[rows], src_len)  # (B, S)
        target_in = trim(self.target_in[rows], tgt_len)  # (B, T)
        target_out = trim(self.target_out[rows], tgt_len)  # (B, T)
        return (source, src_len, target_in), target_out


def encode_pairs(pairs: Sequence[tuple[str, str]], source_vocab: TokenVocab, target_vocab: TokenVocab) -> EncodedPairs:
    """Ids of every pair, padded; unknown tokens become ``<unk>``."""
    sources = [source_vocab.encode(s) for s, _ in pairs]
    targets = [target_vocab.encode(t) for _, t in pairs]
    source, source_lengths = pad_sequences(sources)
    target_in, target_lengths = pad_sequences(targets, prefix=(BOS,))
    target_out, _ = pad_sequences(targets, suffix=(EOS,))
    return EncodedPairs(source, source_lengths, target_in, target_out, target_lengths)


def seq2seq_loss(model: torch.nn.Module, x: tuple, y: torch.Tensor, state: State | None):
    """Mean next-token cross-entropy (nats) over the real target tokens; independent batches carry no state."""
    source, source_lengths, target_in = x
    logits, _ = model(source, source_lengths, target_in)  # (B, T, V)
    return sequence_loss(logits, y), None


# -- metrics ----------------------------------------------------------------------------------------
def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Corpus BLEU (Papineni et al. 2002) on a 0-100 scale: clipped n-gram precisions 1..max_n, brevity penalty.

    One reference per hypothesis, uniform weights, no smoothing (0 when some order has no match).
    """
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)
        for n in range(1, max_n + 1):
            h, r = _ngrams(hyp, n), _ngrams(ref, n)
            matches[n - 1] += sum(min(c, r[g]) for g, c in h.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100.0 * brevity * math.exp(log_precision)


def sequence_metrics(predicted: Sequence[Sequence[int]], reference: Sequence[Sequence[int]]) -> dict[str, float]:
    """Exact match (whole sequences) and per-token accuracy (position by position over reference + ``</s>``)."""
    exact = correct = total = 0
    for p, r in zip(predicted, reference, strict=True):
        exact += list(p) == list(r)
        p_end, r_end = list(p) + [EOS], list(r) + [EOS]
        correct += sum(a == b for a, b in zip(p_end, r_end))
        total += len(r_end)
    return {"exact_match": exact / max(len(reference), 1), "token_accuracy": correct / max(total, 1)}


@torch.inference_mode()
def evaluate_pairs(model: Seq2Seq, pairs: EncodedPairs, target_vocab: TokenVocab, max_len: int,
                   device: torch.device, precision: str = "fp32", batch_size: int = EVAL_BATCH) -> dict[str, float]:
    """Teacher-forced loss (``val_loss``, nats/token) and greedy-decoding metrics of ``model`` on ``pairs``."""
    was_training = model.training
    model.eval()
    total_loss, count = 0.0, 0
    predicted: list[list[int]] = []
    reference: list[list[int]] = []
    for start in range(0, len(pairs), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(pairs)))
        (source, source_lengths, target_in), target_out = pairs.batch(rows)
        source, source_lengths = source.to(device), source_lengths.to(device)
        with autocast(precision, device):
            logits, _ = model(source, source_lengths, target_in.to(device))
            loss = sequence_loss(logits, target_out.to(device))
            decoded = model.greedy(source, source_lengths, max_len + 1)
        tokens = int((target_out != 0).sum())
        total_loss, count = total_loss + loss.item() * tokens, count + tokens
        predicted.extend(decoded.tokens)
        reference.extend(row[: int(n)].tolist() for row, n in zip(target_in[:, 1:], pairs.target_lengths[rows] - 1))
    model.train(was_training)
    result = {"val_loss": total_loss / max(count, 1), **sequence_metrics(predicted, reference)}
    if target_vocab.level == "word":
        result["bleu"] = corpus_bleu([target_vocab.decode(p).split() for p in predicted],
                                     [target_vocab.decode(r).split() for r in reference])
    return result


# -- training ---------------------------------------------------------------------------------------
def train_seq2seq(config: Seq2SeqRunConfig, out: str | Path, resume: bool = False, show_progress: bool = True,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or with ``resume=True`` continue) a seq2seq model into run directory ``out``; returns a summary."""
    out = Path(out)
    config = with_default_time(config, DEFAULT_TIME_S).validate()
    device = resolve_device(config.train.device)
    precision = resolve_precision(config.train.precision, device)
    payload = None
    if resume:
        payload = ckpt.load_tensors(out / ckpt.LAST_FILE)
        source_vocab, target_vocab = _load_vocabs(out)
    elif (out / ckpt.LAST_FILE).exists():
        raise RnnkitError(f"{out} already holds a run; continue it with 'rnnkit train --resume {out}' "
                          "or choose another --out")
    pairs, where = load_pairs(config.data)
    train_pairs, val_pairs = split_pairs(pairs, config.data)
    if not resume:
        source_vocab = TokenVocab.from_texts((s for s, _ in train_pairs), config.data.source_level)
        target_vocab = TokenVocab.from_texts((t for _, t in train_pairs), config.data.target_level)
    config = dataclasses.replace(config, model=dataclasses.replace(
        config.model, source_vocab_size=len(source_vocab), target_vocab_size=len(target_vocab)))
    train_set = encode_pairs(train_pairs, source_vocab, target_vocab)
    val_set = encode_pairs(val_pairs, source_vocab, target_vocab)
    t = config.train

    torch.manual_seed(t.seed)
    model = Seq2Seq(config.model).to(device)
    generator = torch.Generator().manual_seed(t.seed)
    batcher = PairBatcher(len(train_set), t.batch_size, train_set.batch, generator)

    evaluate = None
    if len(val_set):
        def evaluate(m):
            return evaluate_pairs(m, val_set, target_vocab, config.data.max_len, device, precision)
    else:
        log("rnnkit: no validation split (--val-fraction 0); best.pt will be the final weights")

    trainer = Trainer(model, batcher, seq2seq_loss, t, out, device, precision, evaluate=evaluate,
                      batch_generator=generator, show_progress=show_progress, token_name="token")
    if payload is not None:
        trainer.load_last(payload)
        log(f"rnnkit: resuming {out} at step {trainer.state.step} (epoch {trainer.state.epoch})")
    else:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.save_json(out / ckpt.VOCAB_FILE, {"source": source_vocab.to_dict(), "target": target_vocab.to_dict()})
    meta = {"rnnkit_version": __version__, "data_source": where, "device": str(device), "precision": precision,
            "parameters": model.num_parameters(), "train_pairs": len(train_set), "val_pairs": len(val_set)}
    ckpt.save_json(out / ckpt.CONFIG_FILE, {"task": TASK, **config.to_dict(), "meta": meta})
    log(f"rnnkit: {model.num_parameters():,} parameters, {len(source_vocab)}/{len(target_vocab)} source/target "
        f"tokens, {len(train_set):,} training and {len(val_set):,} validation pairs from {where}; "
        f"{device.type}, {precision}, batch {t.batch_size}, attention {config.model.attention}")
    summary = trainer.fit()
    plot_loss(out / ckpt.METRICS_FILE, out / ckpt.PLOT_FILE, unit="token")
    last_val = next((r for r in reversed(trainer.state.history) if "val_loss" in r), {})
    summary.update({"run_dir": str(out), "precision": precision, "device": str(device),
                    **{k: last_val[k] for k in ("exact_match", "token_accuracy", "bleu") if k in last_val}})
    return summary


def resume_config(run_dir: str | Path, train_overrides: dict[str, Any] | None = None) -> Seq2SeqRunConfig:
    """The stored config of a run, with optional new budget settings applied."""
    stored = ckpt.load_json(Path(run_dir) / ckpt.CONFIG_FILE)
    if stored.pop("task", None) != TASK:
        raise RnnkitError(f"{run_dir} is not a {TASK} run")
    stored.pop("meta", None)
    config = Seq2SeqRunConfig.from_dict(stored)
    if train_overrides:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_overrides))
    return config


def _load_vocabs(run_dir: Path) -> tuple[TokenVocab, TokenVocab]:
    vocabs = ckpt.load_json(run_dir / ckpt.VOCAB_FILE)
    return TokenVocab.from_dict(vocabs["source"]), TokenVocab.from_dict(vocabs["target"])


# -- using a trained model --------------------------------------------------------------------------
@dataclass
class Translator:
    """A trained seq2seq model with its vocabularies, ready to translate text."""

    model: Seq2Seq
    source_vocab: TokenVocab
    target_vocab: TokenVocab
    config: Seq2SeqRunConfig

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_source(self, text: str) -> list[int]:
        """Source ids of ``text``; unknown tokens or a too-long input are one-line errors."""
        missing = self.source_vocab.unknown(text)
        if missing:
            raise RnnkitError(f"{describe_unknown(missing)} (the source vocabulary); remove them")
        ids = self.source_vocab.encode(text)
        if not ids:
            raise RnnkitError("the input is empty; give a text to translate")
        limit = self.config.data.max_len
        if len(ids) > limit:
            raise RnnkitError(f"the input has {len(ids)} {self.source_vocab.level} tokens, more than the "
                              f"run's --max-len {limit}; shorten it")
        return ids

    def translate(self, texts: Sequence[str], beam: int = 1, length_penalty: float = 1.0,
                  max_len: int | None = None) -> list[tuple[str, float]]:
        """(translation, length-normalised log-probability) of each text; greedy for beam 1, else beam search."""
        source, lengths = pad_sequences([self.encode_source(t) for t in texts])
        source, lengths = source.to(self.device), lengths.to(self.device)
        limit = (max_len or self.config.data.max_len) + 1  # tokens and </s>
        if beam == 1:
            decoded = self.model.greedy(source, lengths, limit, length_penalty)
        else:
            decoded = self.model.beam_search(source, lengths, beam, limit, length_penalty)
        return [(self.target_vocab.decode(t), s) for t, s in zip(decoded.tokens, decoded.scores)]

    @torch.inference_mode()
    def attention(self, text: str, translation: str) -> torch.Tensor:
        """Attention weights (T+1, S) of the decoder over the source while it writes ``translation`` and ``</s>``."""
        source, lengths = pad_sequences([self.encode_source(text)])
        target_in, _ = pad_sequences([self.target_vocab.encode(translation)], prefix=(BOS,))
        _, weights = self.model(source.to(self.device), lengths.to(self.device), target_in.to(self.device))
        return weights[0].float().cpu()  # (T+1, S)

    def save_attention_png(self, text: str, translation: str, path: str | Path) -> bool:
        """Draw the attention heat map of one translation to a PNG; False when matplotlib is absent."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return False
        from rnnkit.fileio import atomic_write

        weights = self.attention(text, translation).numpy()
        rows = tokenize(translation, self.target_vocab.level) + ["</s>"]
        cols = tokenize(text, self.source_vocab.level)
        fig, ax = plt.subplots(figsize=(max(3, 0.45 * len(cols) + 1.5), max(2.5, 0.4 * len(rows) + 1)), dpi=110)
        image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=90 if self.source_vocab.level == "word" else 0)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        fig.colorbar(image, ax=ax, fraction=0.05)
        fig.tight_layout()
        atomic_write(Path(path), lambda f: fig.savefig(f, format="png"))
        plt.close(fig)
        return True


def load_seq2seq(run_dir: str | Path, device: str | torch.device = "cpu") -> Translator:
    """Rebuild a trained seq2seq model (best.pt, else last.pt) on ``device`` with its vocabularies and config."""
    run_dir = Path(run_dir)
    weights = ckpt.find_weights(run_dir)
    config = resume_config(run_dir)
    source_vocab, target_vocab = _load_vocabs(run_dir)
    model = Seq2Seq(config.model)
    model.load_state_dict(ckpt.load_tensors(weights)["model"])
    return Translator(model.to(device).eval(), source_vocab, target_vocab, config)


def eval_seq2seq(run_dir: str | Path, data: str | None = None, device: str = "auto") -> dict[str, float]:
    """Loss, exact match, per-token accuracy (and BLEU for words) on the validation split, or on TSV ``data``."""
    dev = resolve_device(device)
    translator = load_seq2seq(run_dir, dev)
    config = translator.config
    if data is None:
        pairs, _ = load_pairs(config.data)
        _, pairs = split_pairs(pairs, config.data)
        if not pairs:
            raise RnnkitError(f"{run_dir} was trained without a validation split; pass --data FILE.tsv")
    else:
        pairs = read_pairs(resolve_data(data), config.data.encoding)
        check_lengths(pairs, config.data.source_level, config.data.target_level, config.data.max_len, name=data)
    encoded = encode_pairs(pairs, translator.source_vocab, translator.target_vocab)
    result = evaluate_pairs(translator.model, encoded, translator.target_vocab, config.data.max_len, dev)
    loss = result.pop("val_loss")
    return {"nats_per_token": loss, "perplexity": math.exp(loss), **result, "pairs": len(encoded)}


__all__ = ["EncodedPairs", "Seq2SeqDataConfig", "Seq2SeqRunConfig", "Translator", "corpus_bleu", "encode_pairs",
           "eval_seq2seq", "evaluate_pairs", "load_pairs", "load_seq2seq", "resume_config", "seq2seq_loss",
           "sequence_metrics", "split_pairs", "train_seq2seq"]
