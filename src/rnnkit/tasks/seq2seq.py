"""Sequence-to-sequence: train, resume, evaluate, load and translate with an encoder-decoder.

Data is a TSV file of ``source<TAB>target`` pairs or a generated task (``addition``, ``reverse``,
``dates``), tokenised per side at character or word level. Metrics: whole-sequence exact match,
per-token accuracy and (word-level targets) corpus BLEU, all from greedy decoding.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnkit.config import RunSections, TrainConfig, raise_first
from rnnkit.data.datasets import resolve_data
from rnnkit.data.padded import PairBatcher, pad_sequences, trim
from rnnkit.data.pairs import GENERATED, check_lengths, generate_pairs, read_pairs
from rnnkit.data.splits import split_indices
from rnnkit.data.vocab import BOS_ID, EOS_ID, LEVELS, TokenVocab, describe_unknown, level_tokens
from rnnkit.decoding import beam_search, greedy_decode
from rnnkit.errors import RnnkitError
from rnnkit.generate import check_memory
from rnnkit.layers import State
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, sequence_loss
from rnnkit.tasks.base import Context, Prepared, Task, Training
from rnnkit.training.precision import autocast

TASK_NAME = "seq2seq"
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
class Seq2SeqRunConfig(RunSections):
    """A seq2seq run: data, model and training settings."""

    data: Seq2SeqDataConfig = field(default_factory=Seq2SeqDataConfig)
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

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
    target_in, target_lengths = pad_sequences(targets, prefix=(BOS_ID,))
    target_out, _ = pad_sequences(targets, suffix=(EOS_ID,))
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
        p_end, r_end = list(p) + [EOS_ID], list(r) + [EOS_ID]
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
            decoded = greedy_decode(model, source, source_lengths, max_len + 1)
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


# -- the task -------------------------------------------------------------------------------------
@dataclass
class PairVocabs:
    """The source and target vocabularies of a run (vocab.json: ``{"source": ..., "target": ...}``)."""

    source: TokenVocab
    target: TokenVocab

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source.to_dict(), "target": self.target.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairVocabs:
        return cls(TokenVocab.from_dict(data["source"]), TokenVocab.from_dict(data["target"]))


class Seq2SeqTask(Task):
    """``rnnkit train seq2seq``: an attention encoder-decoder over source/target pairs."""

    name = TASK_NAME
    config_class = Seq2SeqRunConfig
    vocab_class = PairVocabs

    def prepare(self, config: Seq2SeqRunConfig, vocab: PairVocabs | None, ctx: Context, **options: Any) -> Prepared:
        pairs, where = load_pairs(config.data)
        train_pairs, val_pairs = split_pairs(pairs, config.data)
        if vocab is None:
            vocab = PairVocabs(TokenVocab.from_texts((s for s, _ in train_pairs), config.data.source_level),
                               TokenVocab.from_texts((t for _, t in train_pairs), config.data.target_level))
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **self.model_sizes(vocab)))
        train_set = encode_pairs(train_pairs, vocab.source, vocab.target)
        val_set = encode_pairs(val_pairs, vocab.source, vocab.target)
        meta = {"data_source": where, "train_pairs": len(train_set), "val_pairs": len(val_set)}
        return Prepared(config, vocab, meta, data=(where, train_set, val_set))

    def build_model(self, config: Seq2SeqRunConfig) -> Seq2Seq:
        return Seq2Seq(config.model)

    def training(self, prepared: Prepared, ctx: Context) -> Training:
        config, vocab = prepared.config, prepared.vocab
        where, train_set, val_set = prepared.data
        t = config.train
        generator = torch.Generator().manual_seed(t.seed)
        batcher = PairBatcher(len(train_set), t.batch_size, train_set.batch, generator)
        evaluate = None
        if len(val_set):
            def evaluate(m):
                return evaluate_pairs(m, val_set, vocab.target, config.data.max_len, ctx.device, ctx.precision)
        else:
            ctx.log("rnnkit: no validation split (--val-fraction 0); best.pt will be the final weights")
        describe = (f", {len(vocab.source)}/{len(vocab.target)} source/target tokens, {len(train_set):,} training "
                    f"and {len(val_set):,} validation pairs from {where}; {ctx.device.type}, {ctx.precision}, "
                    f"batch {t.batch_size}, attention {config.model.attention}")
        return Training(batcher, seq2seq_loss, evaluate, describe, batch_generator=generator)

    def finish(self, prepared: Prepared, summary: dict[str, Any], ctx: Context) -> None:
        last_val = summary["last_validation"]
        summary.update({k: last_val[k] for k in ("exact_match", "token_accuracy", "bleu") if k in last_val})

    def model_sizes(self, vocab: PairVocabs) -> dict[str, int]:
        return {"source_vocab_size": len(vocab.source), "target_vocab_size": len(vocab.target)}

    def predictor(self, run: Any) -> Translator:
        return Translator(run.model, run.vocab.source, run.vocab.target, run.config)

    def evaluate(self, run: Any, data: str | None = None) -> dict[str, Any]:
        """Loss, exact match, per-token accuracy (and BLEU for words) on the validation split, or on TSV ``data``."""
        config, translator = run.config, run.predictor()
        if data is None:
            pairs, _ = load_pairs(config.data)
            _, pairs = split_pairs(pairs, config.data)
            if not pairs:
                raise RnnkitError(f"{run.path} was trained without a validation split; pass --data FILE.tsv")
        else:
            pairs = read_pairs(resolve_data(data), config.data.encoding)
            check_lengths(pairs, config.data.source_level, config.data.target_level, config.data.max_len, name=data)
        encoded = encode_pairs(pairs, translator.source_vocab, translator.target_vocab)
        result = evaluate_pairs(translator.model, encoded, translator.target_vocab, config.data.max_len, run.device)
        loss = result.pop("val_loss")
        return {"nats_per_token": loss, "perplexity": math.exp(loss), **result, "pairs": len(encoded)}


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
        rows = len(texts) * max(beam, 1)  # every hypothesis keeps its tokens and attention (limit, S) as it grows
        check_memory(rows * (limit * (8 + 4 * source.shape[1]) + 8 * len(self.target_vocab)),
                     f"{len(texts)} texts x --beam {beam} x --max-len {limit - 1}", "use a smaller --beam or --max-len")
        if beam == 1:
            decoded = greedy_decode(self.model, source, lengths, limit, length_penalty)
        else:
            decoded = beam_search(self.model, source, lengths, beam, limit, length_penalty)
        return [(self.target_vocab.decode(t), s) for t, s in zip(decoded.tokens, decoded.scores)]

    @torch.inference_mode()
    def attention(self, text: str, translation: str) -> torch.Tensor:
        """Attention weights (T+1, S) of the decoder over the source while it writes ``translation`` and ``</s>``."""
        source, lengths = pad_sequences([self.encode_source(text)])
        target_in, _ = pad_sequences([self.target_vocab.encode(translation)], prefix=(BOS_ID,))
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
        rows = level_tokens(translation, self.target_vocab.level) + ["</s>"]
        cols = level_tokens(text, self.source_vocab.level)
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


TASK = Seq2SeqTask()


__all__ = ["TASK", "EncodedPairs", "PairVocabs", "Seq2SeqDataConfig", "Seq2SeqRunConfig", "Seq2SeqTask", "Translator",
           "corpus_bleu", "encode_pairs", "evaluate_pairs", "load_pairs", "seq2seq_loss", "sequence_metrics",
           "split_pairs"]
