"""A live ``rnnkit serve`` subprocess on 127.0.0.1: the official openai client, the stream cap, disconnects."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from openai import OpenAI

from rnnkit.runs import train
from tests.conftest import SHARED_DATA, tiny_config

quiet = dict(show_progress=False, log=lambda *_: None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    text = (SHARED_DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:20_000]
    (tmp / "shakespeare.txt").write_text(text, encoding="utf-8")
    train("lm", tiny_config(tmp / "shakespeare.txt", max_steps=20, eval_every=10), tmp / "shakespeare", **quiet)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", "serve", str(tmp / "shakespeare"), "--port", str(port),
                             "--max-streams", "2", "--max-tokens", "1000000", "--api-key", "k3y", "--device", "cpu"],
                            env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": "Bearer k3y"}
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", headers=headers, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.1)
    yield base, headers
    proc.terminate()
    proc.wait(10)


def active(server) -> int:
    base, headers = server
    return httpx.get(f"{base}/healthz", headers=headers).json()["active_streams"]


def test_the_openai_client_streamed_and_not(server):
    base, _ = server
    client = OpenAI(base_url=f"{base}/v1", api_key="k3y")
    done = client.completions.create(model="shakespeare", prompt="ROMEO:", max_tokens=60, seed=4, temperature=0.8)
    assert done.choices[0].finish_reason == "length" and len(done.choices[0].text) == 60
    pieces = [c.choices[0].text for c in client.completions.create(model="shakespeare", prompt="ROMEO:", max_tokens=60,
                                                                    seed=4, temperature=0.8, stream=True)]
    assert len(pieces) >= 2 and "".join(pieces) == done.choices[0].text
    with pytest.raises(Exception, match="401|key"):
        OpenAI(base_url=f"{base}/v1", api_key="wrong").completions.create(model="shakespeare", prompt="A")


def test_over_max_streams_is_429_and_a_disconnect_frees_the_stream(server):
    base, headers = server
    body = dict(model="shakespeare", prompt="A", max_tokens=1_000_000, stream=True)  # minutes unless stopped
    with httpx.Client(headers=headers, timeout=30) as c:
        with c.stream("POST", f"{base}/v1/completions", json={**body, "n": 2}) as r:
            lines = r.iter_lines()
            first = next(lines)
            assert first.startswith("data: "), first
            assert active(server) == 2, [first, *(next(lines) for _ in range(5))]
            busy = c.post(f"{base}/v1/completions", json={**body, "stream": False})
            assert busy.status_code == 429 and busy.json()["error"]["param"] == "max_streams"
    for _ in range(100):
        if active(server) == 0:
            break
        time.sleep(0.05)
    assert active(server) == 0
