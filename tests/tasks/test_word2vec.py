"""word2vec: gensim-compatible vector files, the training recipe, evaluation, and the commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.data.vectors import load_word2vec, save_word2vec
from rnnkit.errors import RnnkitError
from rnnkit.models.word2vec import (
    Word2VecConfig,
    keep_probabilities,
    most_similar,
    noise_distribution,
    spearman,
    train_word2vec,
)
from rnnkit.tasks.word2vec import analogy_accuracy, word_pair_spearman

ANIMALS = ["cat", "dog", "cow", "pig", "hen", "fox", "owl", "bee"]
TOOLS = ["saw", "drill", "hammer", "wrench", "file", "axe", "chisel", "plane"]


def topic_sentences(n: int = 1500, seed: int = 0) -> list[list[str]]:
    """Sentences drawn from one of two disjoint topics: neighbours should share a topic."""
    rng = np.random.default_rng(seed)
    return [[str(w) for w in rng.choice(ANIMALS if rng.random() < 0.5 else TOOLS, size=8)] for _ in range(n)]


SMALL = Word2VecConfig(dim=16, window=3, negative=5, min_count=1, subsample=0.0, epochs=3, lr=0.025,
                       batch_size=256, threads=1, seed=4)


def same_topic_share(words: list[str], vectors: np.ndarray) -> float:
    hits = 0
    for word in ANIMALS + TOOLS:
        group = ANIMALS if word in ANIMALS else TOOLS
        hits += sum(w in group for w, _ in most_similar(words, vectors, [word], topn=3))
    return hits / (3 * len(ANIMALS + TOOLS))


# -- file formats ------------------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files_and_we_read_gensims(tmp_path, binary):
    gensim = pytest.importorskip("gensim")
    KeyedVectors = gensim.models.KeyedVectors
    rng = np.random.default_rng(0)
    words = ["the", "café", "naïve", "x", "日本"]
    vectors = rng.normal(size=(5, 7)).astype(np.float32)
    ours = tmp_path / "ours.vec"
    save_word2vec(ours, words, vectors, binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(ours), binary=binary)
    assert kv.index_to_key == words and np.array_equal(kv.vectors, vectors)

    theirs = tmp_path / "theirs.vec"
    kv = KeyedVectors(vector_size=7)
    kv.add_vectors(words, vectors[::-1].copy())
    kv.save_word2vec_format(str(theirs), binary=binary)
    loaded_words, loaded = load_word2vec(theirs)
    assert loaded_words == words and np.array_equal(loaded, vectors[::-1])


def test_binary_with_c_tool_newlines_and_text_round_trip(tmp_path):
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    path = tmp_path / "c.bin"
    path.write_bytes(b"2 3\n" + b"".join(w.encode() + b" " + v.tobytes() + b"\n" for w, v in zip(["a", "b"], vectors)))
    assert load_word2vec(path)[0] == ["a", "b"] and np.array_equal(load_word2vec(path)[1], vectors)
    save_word2vec(tmp_path / "t.txt", ["a", "b"], vectors)
    assert (tmp_path / "t.txt").read_text().splitlines()[0] == "2 3"
    assert np.array_equal(load_word2vec(tmp_path / "t.txt")[1], vectors)  # 9 digits: exact float32


@pytest.mark.parametrize("content, message", [
    (b"hello world\n", "bad.vec: first line is not a word2vec header '<count> <dim>'"),
    (b"2 3\na 1 2 3\n", "bad.vec: not a valid word2vec file (has 1 vector lines, header says 2)"),
    (b"1 3\na 1 2\n", "bad.vec: not a valid word2vec file (line 2 has 2 numbers, header says 3)"),
    (b"1 2\na 1 x\n", "bad.vec: not a valid word2vec file (line 2 has a value that is not a number)"),
    (b"2 3\na " + np.zeros(3, np.float32).tobytes() + b"\xff\xfe", "bad.vec: not a valid word2vec file"),
])
def test_malformed_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.vec"
    path.write_bytes(content)
    with pytest.raises(RnnkitError) as info:
        load_word2vec(path)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_save_refuses_words_with_spaces_and_mismatched_shapes(tmp_path):
    with pytest.raises(RnnkitError, match="without whitespace"):
        save_word2vec(tmp_path / "v", ["new york"], np.zeros((1, 2)))
    with pytest.raises(RnnkitError, match="one row of vectors per word"):
        save_word2vec(tmp_path / "v", ["a", "b"], np.zeros((3, 2)))


# -- the recipe ---------------------------------------------------------------------------------------
def test_subsampling_and_noise_follow_the_c_tool():
    counts = np.array([1000, 100, 10, 1])
    keep = keep_probabilities(counts, 1e-2)  # t = 0.01 * 1111 = 11.11 occurrences
    t = 0.01 * counts.sum()
    assert keep[0] == pytest.approx((np.sqrt(1000 / t) + 1) * t / 1000)
    assert keep[2] == 1.0 and keep[3] == 1.0
    assert (keep_probabilities(counts, 0) == 1).all()
    cdf = noise_distribution(counts).numpy()
    probs = np.diff(np.concatenate([[0], cdf]))
    assert probs == pytest.approx(counts ** 0.75 / (counts ** 0.75).sum())


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_training_puts_words_of_a_topic_together(architecture):
    lr = 0.05 if architecture == "cbow" else 0.025
    result = train_word2vec(topic_sentences(), Word2VecConfig(**{**SMALL.to_dict(), "architecture": architecture,
                                                                 "lr": lr}))
    assert sorted(result.words) == sorted(ANIMALS + TOOLS)
    assert result.vectors.shape == (16, 16) and result.vectors.dtype == np.float32
    assert result.corpus_words == 1500 * 8 and result.pairs > 0
    assert same_topic_share(result.words, result.vectors) > 0.95


def test_one_thread_is_reproducible_and_two_threads_learn_too():
    sentences = topic_sentences(600)
    a = train_word2vec(sentences, SMALL)
    b = train_word2vec(sentences, SMALL)
    assert np.array_equal(a.vectors, b.vectors)
    c = train_word2vec(sentences, Word2VecConfig(**{**SMALL.to_dict(), "seed": 5}))
    assert not np.array_equal(a.vectors, c.vectors)
    two = train_word2vec(topic_sentences(), Word2VecConfig(**{**SMALL.to_dict(), "threads": 2}))
    assert same_topic_share(two.words, two.vectors) > 0.95


def test_bad_settings_are_one_line_errors():
    with pytest.raises(RnnkitError, match="--architecture must be one of skipgram, cbow, got 'glove'"):
        train_word2vec([["a", "b"]], Word2VecConfig(architecture="glove"))
    with pytest.raises(RnnkitError, match="only 0 words occur at least --min-count 5 times"):
        train_word2vec([["a", "b"]], Word2VecConfig())


# -- evaluation ---------------------------------------------------------------------------------------
def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 5, 40).astype(float), rng.normal(size=40)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).correlation, abs=1e-12)


def test_word_pairs_and_analogies_report_coverage(tmp_path):
    words = ["king", "queen", "man", "woman", "apple"]
    vectors = np.array([[1, 1, 0], [1, -1, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=np.float32)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("# comment\nking\tqueen\t5\nKing\tman\t8\nman\tapple\t1\nking\tunicorn\t9\n")
    result = word_pair_spearman(words, vectors, pairs)
    assert (result["pairs"], result["covered"], result["coverage"]) == (4, 3, 0.75)
    # cosines 0, .71, 0 rank 1.5, 3, 1.5 (tied); human 5, 8, 1 rank 2, 3, 1; their correlation is sqrt(3)/2
    assert result["spearman"] == pytest.approx(np.sqrt(3) / 2)
    questions = tmp_path / "q.txt"
    questions.write_text(": family\nman woman king queen\nMAN KING woman queen\nman woman king unicorn\n")
    result = analogy_accuracy(words, vectors, questions)
    assert (result["questions"], result["covered"], result["correct"]) == (3, 2, 2)
    assert result["accuracy"] == 1.0 and result["coverage"] == pytest.approx(2 / 3)


# -- the commands -------------------------------------------------------------------------------------
def test_cli_train_similar_analogy_eval(tmp_path, capsys):
    corpus = tmp_path / "topics.txt"
    corpus.write_text("\n".join(" ".join(s) for s in topic_sentences()) + "\n")
    out = tmp_path / "w2v"
    code = main(["train", "word2vec", "--data", str(corpus), "--out", str(out), "--dim", "16", "--window", "3",
                 "--min-count", "1", "--subsample", "0", "--epochs", "3", "--batch-size", "256", "--threads", "1"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["task"] == "word2vec"
    assert load_word2vec(out / "vectors.txt")[0] == load_word2vec(out / "vectors.bin")[0]
    assert main(["similar", str(out), "CAT", "--topn", "3"]) == 0
    neighbours = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert len(neighbours) == 3 and set(neighbours) <= set(ANIMALS)
    assert main(["analogy", str(out), "cat", "dog", "saw", "--topn", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("cat\tdog\t9\ncat\tsaw\t1\ndrill\tsaw\t8\nfox\tfile\t2\nmoon\tsun\t5\n")
    assert main(["eval", str(out), "--data", str(pairs), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["word_pairs"]
    assert scores["covered"] == 4 and scores["spearman"] > 0.5
    assert main(["similar", str(out), "unicorn"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("rnnkit: 'unicorn' is not in the vocabulary (16 words); try another word or retrain "
                           "with a lower --min-count")
