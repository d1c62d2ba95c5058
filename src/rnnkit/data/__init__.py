"""Vocabularies, language-model batching and the named data-set registry."""

from rnnkit.data.batching import RandomWindowBatcher, StreamBatcher
from rnnkit.data.datasets import REGISTRY, DatasetInfo, cache_dir, register, resolve_data
from rnnkit.data.reader import read_text
from rnnkit.data.splits import split_train_val
from rnnkit.data.text import encode_corpus
from rnnkit.data.vocab import CharVocab

__all__ = [
    "REGISTRY",
    "CharVocab",
    "DatasetInfo",
    "RandomWindowBatcher",
    "StreamBatcher",
    "cache_dir",
    "encode_corpus",
    "read_text",
    "register",
    "resolve_data",
    "split_train_val",
]
