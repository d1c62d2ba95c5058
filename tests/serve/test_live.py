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
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from rnnkit.runs import train
from tests.browser import console_errors, headless_chromium
from tests.conftest import SHARED_DATA, tiny_config
from tests.runs.test_open_run_classify_forecast import ClassifyConfig, reviews

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
    config = ClassifyConfig.from_dict({
        "data": {"data": reviews(tmp), "val_fraction": 0.2},
        "model": {"embedding_size": 8, "hidden_size": 8},
        "train": {"batch_size": 8, "max_steps": 4, "epochs": None, "device": "cpu", "seed": 3, "save_every": 1e9}})
    train("classify", config, tmp / "reviews", **quiet)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", "serve", str(tmp / "shakespeare"), str(tmp / "reviews"),
                             "--port", str(port),
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


def test_the_page_streams_the_same_text_as_the_api_and_classifies(server, tmp_path):
    base, headers = server
    want = httpx.post(f"{base}/v1/completions", headers=headers, timeout=60,
                      json=dict(model="shakespeare", prompt="ROMEO:", max_tokens=3000, temperature=0.9,
                                seed=11)).json()["choices"][0]["text"]
    with headless_chromium() as driver:
        driver.get(f"{base}/?key=k3y")
        WebDriverWait(driver, 20).until(lambda d: len(Select(d.find_element(By.ID, "model")).options) == 2)
        Select(driver.find_element(By.ID, "model")).select_by_value("shakespeare")
        for field, value in (("prompt", "ROMEO:"), ("temperature", "0.9"), ("length", "3000"), ("seed", "11")):
            box = driver.find_element(By.ID, field)
            box.clear()
            box.send_keys(value)
        driver.find_element(By.ID, "generate").click()
        output = driver.find_element(By.ID, "output")
        snapshots = []
        for _ in range(2000):
            snapshots.append(output.text)
            if output.get_attribute("data-done"):
                break
        WebDriverWait(driver, 60).until(lambda d: output.get_attribute("data-done"))  # a slow machine may need longer
        final = driver.execute_script("return document.getElementById('output').textContent")
        grew = {len(t) for t in snapshots if len("ROMEO:") < len(t) < len(final)}
        assert len(grew) >= 2, "the text should appear as it streams"
        assert final == "ROMEO:" + want
        driver.save_screenshot(str(tmp_path / "generate.png"))
        docs = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs" / "images"
        docs.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(docs / "serve.png"))
        Select(driver.find_element(By.ID, "model")).select_by_value("reviews")
        driver.find_element(By.ID, "text").send_keys("a great film")
        driver.find_element(By.ID, "classify").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "label").text in ("pos", "neg"))
        driver.save_screenshot(str(tmp_path / "classify.png"))
        assert not console_errors(driver)
