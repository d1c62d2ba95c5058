"""Tests for rnnkit.data.datasets: local lookup, checksummed download from a local server, errors."""

import hashlib
import os
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import datasets
from rnnkit.data.datasets import REGISTRY, DatasetInfo, cache_dir, resolve_data, url_env_var
from rnnkit.data.text import encode_corpus
from rnnkit.errors import RnnkitError

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"
SHAKESPEARE = REGISTRY["tinyshakespeare"]
FAKE_TEXT = b"to be or not to be\n"


def shared_data_dir() -> Path | None:
    """$RNNKIT_DATA_DIR or ../shared/data, whichever holds tinyshakespeare first."""
    candidates = [Path(p) for p in [os.environ.get("RNNKIT_DATA_DIR")] if p] + [SHARED_DATA]
    return next((d for d in candidates if (d / SHAKESPEARE.filename).is_file()), None)


DATA_DIR = shared_data_dir()
needs_data = pytest.mark.skipif(
    DATA_DIR is None, reason=f"tinyshakespeare not found in $RNNKIT_DATA_DIR or {SHARED_DATA}"
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """A private cache, no data dir and no URL overrides, so the real ones are never touched."""
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNKIT_DATA_DIR", raising=False)
    for name in [*REGISTRY, "fake"]:
        monkeypatch.delenv(url_env_var(name), raising=False)


@pytest.fixture
def fake(monkeypatch) -> DatasetInfo:
    """A tiny registered data set whose checksum matches FAKE_TEXT."""
    info = DatasetInfo("fake", "fake/input.txt", "http://127.0.0.1:9/unused", hashlib.sha256(FAKE_TEXT).hexdigest())
    monkeypatch.setitem(REGISTRY, "fake", info)
    return info


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www; yields (root folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def serve(root: Path, filename: str, data: bytes) -> None:
    (root / filename).parent.mkdir(parents=True, exist_ok=True)
    (root / filename).write_bytes(data)


def test_cache_dir_from_env(tmp_path, monkeypatch):
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("RNNKIT_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "rnnkit"


def test_existing_path_is_returned(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("hello", encoding="utf-8")
    assert resolve_data(path) == path
    assert resolve_data(str(path)) == path


def test_unknown_name_lists_registered(tmp_path):
    with pytest.raises(RnnkitError) as info:
        resolve_data("no_such_dataset")
    msg = str(info.value)
    assert "'no_such_dataset' is neither an existing file nor a registered dataset" in msg
    assert "tinyshakespeare" in msg and "exists" in msg
    with pytest.raises(RnnkitError, match="is a directory"):
        resolve_data(tmp_path)


@needs_data
def test_resolve_from_data_dir(monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA_DIR", str(DATA_DIR))
    path = resolve_data("tinyshakespeare", base_url="http://127.0.0.1:9")  # must not download
    assert path == DATA_DIR / SHAKESPEARE.filename
    assert datasets.file_sha256(path) == SHAKESPEARE.sha256


@needs_data
def test_tinyshakespeare_encodes_to_65_symbols(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNKIT_DATA_DIR", str(DATA_DIR))
    ids, vocab = encode_corpus(resolve_data("tinyshakespeare"))
    assert len(ids) == 1_115_394 and len(vocab) == 65 and ids.dtype == np.uint8
    assert vocab.decode(ids[:14]) == "First Citizen:"


@needs_data
def test_download_real_file_into_cache(server):
    root, base_url = server
    serve(root, SHAKESPEARE.filename, (DATA_DIR / SHAKESPEARE.filename).read_bytes())
    path = resolve_data("tinyshakespeare", base_url=base_url)
    assert path == cache_dir() / "datasets" / SHAKESPEARE.filename
    assert datasets.file_sha256(path) == SHAKESPEARE.sha256


def test_download_good_file_lands_in_cache_then_is_reused(server, fake):
    root, base_url = server
    serve(root, fake.filename, FAKE_TEXT)
    path = resolve_data("fake", base_url=base_url)
    assert path == cache_dir() / "datasets" / fake.filename
    assert path.read_bytes() == FAKE_TEXT
    assert [p.name for p in path.parent.iterdir()] == ["input.txt"]  # no temp file left
    (root / fake.filename).unlink()  # server copy gone: the cached one must be used
    assert resolve_data("fake", base_url=base_url) == path


def test_download_url_from_env_var(server, fake, monkeypatch):
    root, base_url = server
    serve(root, "elsewhere.txt", FAKE_TEXT)
    monkeypatch.setenv("RNNKIT_DATASET_URL_FAKE", f"{base_url}/elsewhere.txt")
    assert resolve_data("fake").read_bytes() == FAKE_TEXT


def test_data_dir_wins_over_cache(tmp_path, monkeypatch, fake):
    local = tmp_path / "local"
    serve(local, fake.filename, FAKE_TEXT)
    serve(cache_dir() / "datasets", fake.filename, FAKE_TEXT)
    monkeypatch.setenv("RNNKIT_DATA_DIR", str(local))
    assert resolve_data("fake") == local / fake.filename


def test_checksum_mismatch_deletes_download(server, fake):
    root, base_url = server
    serve(root, fake.filename, b"corrupted bytes\n")
    with pytest.raises(RnnkitError) as info:
        resolve_data("fake", base_url=base_url)
    msg = str(info.value)
    assert "sha256" in msg and fake.sha256 in msg and hashlib.sha256(b"corrupted bytes\n").hexdigest() in msg
    folder = cache_dir() / "datasets" / "fake"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_http_404_is_a_download_error(server, fake):
    _, base_url = server
    with pytest.raises(RnnkitError, match="could not download fake .*HTTP 404"):
        resolve_data("fake", base_url=base_url)


def test_unreachable_server(fake):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RnnkitError) as info:
        resolve_data("fake", base_url=f"http://127.0.0.1:{port}", timeout=5)
    msg = str(info.value)
    assert msg.startswith("could not download fake") and "--data" in msg and "\n" not in msg
    assert "RNNKIT_DATA_DIR" in msg
    folder = cache_dir() / "datasets" / "fake"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_every_named_dataset_is_in_the_registry():
    from rnnkit.data import pairs, series

    assert datasets.builtin_names("pairs") == pairs.GENERATED == ("addition", "reverse", "dates")
    assert datasets.builtin_names("series") == series.BUILTIN == ("sine", "airline", "sunspots", "co2")
    assert "tinyshakespeare" in datasets.REGISTRY and not set(datasets.BUILTIN) & set(datasets.REGISTRY)
    assert all(info.description for info in datasets.BUILTIN.values())
    with pytest.raises(ValueError, match="not yet registered"):
        datasets.register_builtin(datasets.BuiltinDataset("sine", "pairs", "another sine"))
