"""The API beyond completions: forecast, translate (with its attention map, also on the page), similar, each cap
answering its status with a JSON error naming the limit; a chunked body over the cap; word-level usage counts."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from rnnkit.models.word2vec import Word2VecConfig
from rnnkit.runs import open_run, train
from rnnkit.serve.app import create_app
from rnnkit.serve.limits import DEFAULT_LIMITS
from rnnkit.tasks.forecast import ForecastRunConfig
from rnnkit.tasks.word2vec import Word2VecDataConfig, Word2VecRunConfig
from tests.browser import console_errors, headless_chromium
from tests.conftest import tiny_config
from tests.tasks.test_forecast_global import panel_frame, write
from tests.tasks.test_seq2seq import tiny_run
from tests.tasks.test_word2vec import ANIMALS, TOOLS, topic_sentences

quiet = dict(show_progress=False, log=lambda *_: None)
LIMITS = replace(DEFAULT_LIMITS, max_body_bytes=5_000, max_prompt_chars=200, max_texts=3, max_horizon=12,
                 max_beam=4, max_topn=5, max_tokens=50)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tasks")
    forecast = ForecastRunConfig.from_dict({
        "data": {"data": "airline", "horizon": 6, "input_len": 12},
        "model": {"hidden_size": 8, "quantiles": [0.1, 0.5, 0.9]}, "select": {"model": "rnn"},
        "train": {"batch_size": 16, "max_steps": 4, "eval_every": 2, "seed": 3, "save_every": 1e9}})
    train("forecast", forecast, tmp / "airline", **quiet)
    panel = ForecastRunConfig.from_dict({
        "data": {"data": str(write(tmp / "long.csv", panel_frame())), "id_column": "id", "horizon": 6,
                 "input_len": 12},
        "model": {"hidden_size": 8}, "train": {"batch_size": 16, "max_steps": 4, "eval_every": 2, "seed": 3,
                                               "save_every": 1e9}})
    train("forecast", panel, tmp / "panel", **quiet)
    train("seq2seq", tiny_run(max_steps=4, eval_every=2), tmp / "reverse", **quiet)
    topics = tmp / "topics.txt"
    topics.write_text("\n".join(" ".join(s) for s in topic_sentences(300)) + "\n")
    w2v = Word2VecRunConfig(data=Word2VecDataConfig(data=(str(topics),)),
                            model=Word2VecConfig(dim=8, window=2, min_count=1, subsample=0.0, epochs=1,
                                                 batch_size=256, threads=1, seed=4))
    train("word2vec", w2v, tmp / "vectors", **quiet)
    corpus = tmp / "words.txt"
    corpus.write_text("anna said the sea is blue . boris said the sky is red .\n" * 40)
    words = tiny_config(corpus, max_steps=2, eval_every=1)
    words = replace(words, data=replace(words.data, level="word"))
    train("lm", words, tmp / "words", **quiet)
    return {name: open_run(tmp / name) for name in ("airline", "panel", "reverse", "vectors", "words")}


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app(runs, LIMITS), raise_server_exceptions=False) as c:
        yield c


def test_forecast_answers_a_horizon_with_quantiles_and_a_new_history(client):
    out = client.post("/v1/forecast", json=dict(model="airline", horizon=6)).json()
    point = np.asarray(out["point"])
    assert point.shape[0] == 6 and np.isfinite(point).all() and len(out["times"]) == 6
    assert out["quantiles"] is not None and np.asarray(out["quantiles"]).shape[-1] == 3
    history = list(np.linspace(100, 400, 48))
    again = client.post("/v1/forecast", json=dict(model="airline", horizon=3, history=history)).json()
    assert np.asarray(again["point"]).shape[0] == 3


def test_a_global_model_forecasts_the_series_its_id_names_or_a_new_history(client, runs):
    predictor = runs["panel"].predictor()
    for series_id in ("s0", "s6"):  # levels 1 and 1000: each on its own scale, as the CLI's --id gives
        out = client.post("/v1/forecast", json=dict(model="panel", series_id=series_id)).json()
        expected = predictor.forecast(None, series_id=series_id)
        np.testing.assert_allclose(out["point"], np.asarray(expected.point), rtol=1e-6)
        assert out["times"] == [str(t) for t in expected.times]
    assert np.mean(client.post("/v1/forecast", json=dict(model="panel", series_id="s6")).json()["point"]) > 100
    new = client.post("/v1/forecast", json=dict(model="panel", history=list(np.linspace(10, 20, 24)))).json()
    assert np.asarray(new["point"]).shape[0] == 6
    for body, message in [(dict(series_id="nope"), "is not one of the model's 12 series"),
                          ({}, "pass series_id (e.g. s0, s1, s2) or a new history"),
                          (dict(series_id="s0", history=[1.0] * 24), "not both")]:
        answer = client.post("/v1/forecast", json=dict(model="panel", **body))
        assert answer.status_code == 422 and message in answer.json()["error"]["message"]
        assert answer.json()["error"]["param"] == "series_id"
    answer = client.post("/v1/forecast", json=dict(model="airline", series_id="s0"))
    assert answer.status_code == 422 and "drop series_id" in answer.json()["error"]["message"]


def test_translate_answers_outputs_scores_and_the_attention_map(client):
    out = client.post("/v1/translate", json=dict(model="reverse", sources=["ab", "c"], beam=2,
                                                 attention=True)).json()
    assert len(out["outputs"]) == 2 and all(s <= 0 for s in out["scores"])
    first = out["attention"][0]
    weights = np.asarray(first["weights"])
    assert first["source_tokens"] == ["a", "b"] and first["output_tokens"][-1] == "</s>"
    assert weights.shape == (len(first["output_tokens"]), 2) and np.allclose(weights.sum(axis=1), 1, atol=1e-4)
    plain = client.post("/v1/translate", json=dict(model="reverse", sources=["ab"])).json()
    assert plain["attention"] is None


def test_similar_answers_the_nearest_words(client):
    out = client.post("/v1/similar", json=dict(model="vectors", word="cat", topn=3)).json()
    assert len(out["similar"]) == 3 and all(w in ANIMALS + TOOLS and w != "cat" for w, _ in out["similar"])


@pytest.mark.parametrize("path, body, status, param", [
    ("/v1/forecast", dict(model="airline", horizon=13), 422, "horizon"),
    ("/v1/forecast", dict(model="airline", horizon=0), 422, "horizon"),
    ("/v1/forecast", dict(model="airline", history=[1.0] * 201), 422, "history"),
    ("/v1/forecast", dict(model="airline", history=[1.0] * 2000), 413, "max_body_bytes"),
    ("/v1/forecast", dict(model="reverse", horizon=3), 422, "model"),
    ("/v1/translate", dict(model="reverse", sources=["a"] * 4), 422, "sources"),
    ("/v1/translate", dict(model="reverse", sources=["a"], beam=5), 422, "beam"),
    ("/v1/translate", dict(model="reverse", sources=["a" * 201]), 422, "sources"),
    ("/v1/translate", dict(model="reverse", sources=["a" * 6000]), 413, "max_body_bytes"),
    ("/v1/translate", dict(model="nope", sources=["a"]), 404, "model"),
    ("/v1/similar", dict(model="vectors", word="cat", topn=6), 422, "topn"),
    ("/v1/similar", dict(model="vectors", word="c" * 6000), 413, "max_body_bytes"),
    ("/v1/similar", dict(model="airline", word="cat"), 422, "model"),
])
def test_each_cap_answers_its_status_with_a_json_error_naming_it(client, path, body, status, param):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["param"] == param and (status == 404 or param in error["message"] or "limit" in error["message"]
                                        or "model" in error["message"])


def test_user_mistakes_in_task_requests_are_422_not_500(client):
    for path, body in (("/v1/translate", dict(model="reverse", sources=["x!"])),
                       ("/v1/similar", dict(model="vectors", word="unheard")),
                       ("/v1/forecast", dict(model="airline", history=[1.0, 2.0])),
                       ("/v1/forecast", dict(model="airline", quantiles=[2.0]))):
        r = client.post(path, json=body)
        assert r.status_code in (413, 422) and "error" in r.json(), (path, r.status_code, r.text)


def test_a_chunked_body_over_the_cap_is_413(client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000
        yield b'{"model": "vectors", "word": "cat"}'

    r = client.post("/v1/similar", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["param"] == "max_body_bytes"

    def small():
        yield b'{"model": "vectors", '
        yield b'"word": "cat", "topn": 2}'

    ok = client.post("/v1/similar", content=small(), headers={"content-type": "application/json"})
    assert ok.status_code == 200 and len(ok.json()["similar"]) == 2


def test_usage_counts_tokens_of_a_word_level_model(client, runs):
    prompt = "anna said the"
    out = client.post("/v1/completions", json=dict(model="words", prompt=prompt, max_tokens=5, seed=1)).json()
    assert out["usage"]["prompt_tokens"] == len(runs["words"].vocab.encode(prompt)) == 3
    assert out["usage"]["completion_tokens"] == 5 and out["usage"]["total_tokens"] == 8


@contextlib.contextmanager
def page_of(runs):
    """A live server of ``runs`` on a free loopback port, and headless Chromium on its page."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runs, LIMITS), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        with headless_chromium() as driver:
            driver.get(f"http://127.0.0.1:{port}/")
            WebDriverWait(driver, 20).until(lambda d: len(Select(d.find_element(By.ID, "model")).options) == len(runs))
            yield driver
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_page_shows_the_attention_map_of_a_seq2seq_model(runs):
    with page_of({"reverse": runs["reverse"]}) as driver:
        driver.find_element(By.ID, "source").send_keys("abc")
        driver.find_element(By.ID, "translate").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "attention").is_displayed())
        source = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#attention tr:first-child th")][1:]
        rows = driver.find_elements(By.CSS_SELECTOR, "#attention tr")
        cells = driver.find_elements(By.CSS_SELECTOR, "#attention td")
        assert source == ["a", "b", "c"]
        assert len(cells) == (len(rows) - 1) * 3 and rows[-1].find_element(By.TAG_NAME, "th").text == "</s>"
        assert not console_errors(driver)


def test_the_page_forecasts_the_series_picked_from_a_global_model(runs):
    with page_of({"panel": runs["panel"]}) as driver:
        picker = Select(driver.find_element(By.ID, "series"))
        assert driver.find_element(By.ID, "series-pick").is_displayed()
        assert [o.text for o in picker.options] == [f"s{i}" for i in range(12)]
        # Read the drawn line in one script call: the page replaces the whole chart when a forecast arrives, so a
        # found element can go stale before its attribute is read.
        def drawn(d):
            return d.execute_script("const p = document.querySelector('#chart polyline');"
                                    "return p ? p.getAttribute('points') : null;")

        charts = []
        for series_id in ("s0", "s6"):
            picker.select_by_visible_text(series_id)
            driver.find_element(By.ID, "forecast").click()
            WebDriverWait(driver, 20).until(lambda d: drawn(d) not in [None, *charts])
            charts.append(drawn(driver))
        assert len(charts[1].split()) == 6  # the horizon's points, drawn for the second series picked
        assert not driver.find_element(By.ID, "error").text and not console_errors(driver)
