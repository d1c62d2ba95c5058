"""The HTTP API over tiny trained runs (FastAPI's TestClient): every endpoint, every cap, auth."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from rnnkit.runs import open_run, train
from rnnkit.serve.app import create_app
from rnnkit.serve.limits import DEFAULT_LIMITS
from tests.conftest import tiny_config
from tests.runs.test_open_run_classify_forecast import ClassifyConfig, reviews

quiet = dict(show_progress=False, log=lambda *_: None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    corpus = tmp / "corpus.txt"
    corpus.write_text("ANNA: the sea is blue, said anna.\nBORIS: the sky is red, said boris.\n" * 40)
    train("lm", tiny_config(corpus, max_steps=4, eval_every=2), tmp / "shakes", **quiet)
    config = ClassifyConfig.from_dict({
        "data": {"data": reviews(tmp), "val_fraction": 0.2},
        "model": {"embedding_size": 8, "hidden_size": 8},
        "train": {"batch_size": 8, "max_steps": 4, "epochs": None, "device": "cpu", "seed": 3, "save_every": 1e9}})
    train("classify", config, tmp / "reviews", **quiet)
    return {"shakes": open_run(tmp / "shakes"), "reviews": open_run(tmp / "reviews")}


@pytest.fixture(scope="module")
def client(runs):
    limits = replace(DEFAULT_LIMITS, max_streams=4, max_tokens=100, max_body_bytes=20_000, max_n=3)
    with TestClient(create_app(runs, limits), raise_server_exceptions=False) as c:
        yield c


def sse(text):
    chunks = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]"
    return [json.loads(c) for c in chunks[:-1]]


def test_models_health_and_page(client):
    ids = {m["id"]: m["kind"] for m in client.get("/v1/models").json()["data"]}
    assert ids == {"shakes": "generator", "reviews": "classifier"}
    assert client.get("/healthz").json()["active_streams"] == 0
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200 and "paths" in client.get("/openapi.json").json()


def test_completion_streamed_equals_non_streamed_for_a_seed(client):
    body = dict(model="shakes", prompt="ANNA", max_tokens=40, temperature=0.8, top_k=10, seed=3)
    plain = client.post("/v1/completions", json=body).json()
    [choice] = plain["choices"]
    assert choice["finish_reason"] == "length" and len(choice["text"]) == 40
    assert plain["usage"]["completion_tokens"] == 40
    chunks = sse(client.post("/v1/completions", json={**body, "stream": True}).text)
    assert "".join(c["choices"][0]["text"] for c in chunks) == choice["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    greedy = [client.post("/v1/completions", json={**body, "temperature": 0, "n": 2}).json()["choices"][i]["text"]
              for i in range(2)]
    assert greedy[0] == greedy[1]
    assert client.get("/healthz").json()["active_streams"] == 0


def test_stop_string_ends_with_stop(client):
    out = client.post("/v1/completions", json=dict(model="shakes", prompt="A", max_tokens=100, seed=1,
                                                    stop=["e"])).json()
    [choice] = out["choices"]
    if choice["finish_reason"] == "stop":
        assert "e" not in choice["text"]
    else:
        assert "e" not in choice["text"] and len(choice["text"]) == 100


def test_classify(client):
    out = client.post("/v1/classify", json=dict(model="reviews", texts=["a great film", "dull plot"])).json()
    assert len(out["labels"]) == 2 and set(out["labels"]) <= {"pos", "neg"}
    assert all(abs(sum(p) - 1) < 1e-5 for p in out["probabilities"])


@pytest.mark.parametrize("body, status, param", [
    (dict(model="nope", prompt="A"), 404, "model"),
    (dict(model="shakes", prompt="A", max_tokens=101), 422, "max_tokens"),
    (dict(model="shakes", prompt="A", n=4), 422, "n"),
    (dict(model="shakes", prompt="A", temperature=-1), 422, "temperature"),
    (dict(model="shakes", prompt="A", top_p=2), 422, "top_p"),
    (dict(model="shakes", prompt="A" * 20_001), 413, "max_body_bytes"),
    (dict(model="shakes", prompt="A\u2603"), 422, "prompt"),
    (dict(model="reviews", prompt="A"), 422, "model"),
])
def test_caps_answer_their_status_with_a_json_error(client, body, status, param):
    r = client.post("/v1/completions", json=body)
    assert r.status_code == status and r.json()["error"]["param"] == param


def test_malformed_json_is_422_not_500(client):
    r = client.post("/v1/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()


def test_api_key_is_required_when_set(runs):
    with TestClient(create_app({"reviews": runs["reviews"]}, api_key="s3cret")) as c:
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/").status_code == 200


def test_binding_a_public_address_without_a_key_is_refused_in_one_line(runs, capsys):
    from tests.conftest import cli

    code, _, err = cli("serve", str(runs["shakes"].path), "--host", "0.0.0.0", capsys=capsys)
    assert code == 2 and err.count("\n") == 1 and "refusing to bind 0.0.0.0 without a key" in err


def test_a_stop_string_across_pieces_cuts_the_text_before_it():
    from rnnkit.serve.app import _Hub, _Stream

    class Event:
        def set(self):
            pass

    stream = _Stream(_Hub(), Event(), ["bcd", "zz"])
    assert stream.piece("ab") and stream.piece("c")
    assert stream.piece("d") is False
    assert stream.text == "a" and stream.tokens == 3
    plain = _Stream(_Hub(), Event(), ["x"])
    assert plain.piece("ab") and plain.piece("cx") is False and plain.text == "abc"
