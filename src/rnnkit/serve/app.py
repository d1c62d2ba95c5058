"""The FastAPI application: ``create_app(runs, limits, api_key, cors)``.

Language-model runs generate through a continuously batched ``Scheduler``; other text generators
(n-gram, conditional LM) generate one request at a time in a worker thread; classifiers, forecasters,
translators and word vectors answer directly. Every cap in ``Limits`` answers 413/422/429 with an
OpenAI-style JSON error naming the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from rnnkit.errors import RnnkitError
from rnnkit.runs.predictors import Classifier, Forecaster, TextGenerator, Translator, WordVectors
from rnnkit.serve.limits import DEFAULT_LIMITS, Limits
from rnnkit.serve.scheduler import Job, Scheduler
from rnnkit.serve.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    CompletionRequest,
    CompletionResponse,
    ForecastRequest,
    SimilarRequest,
    SimilarResponse,
    TranslateRequest,
    TranslateResponse,
)

log = logging.getLogger("rnnkit")
KINDS = ((TextGenerator, "generator"), (Classifier, "classifier"), (Forecaster, "forecaster"),
         (Translator, "translator"), (WordVectors, "vectors"))


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param = status, message, type_, param


def _error(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None):
    return JSONResponse({"error": {"message": message, "type": type_, "param": param}}, status_code=status)


class Served:
    """One run behind the API: its predictor, kind and (for char/word LMs) its scheduler."""

    def __init__(self, name: str, run: Any, max_batch: int, after_step=None, precision: str = "fp32"):
        self.name, self.run = name, run
        self.predictor = run.predictor()
        self.kind = next((k for proto, k in KINDS if isinstance(self.predictor, proto)), "unknown")
        self.scheduler = Scheduler(run.model, name, max_batch, after_step, precision) if run.task == "lm" else None
        self.lock = threading.Lock()  # one request at a time for the unbatched generators


def _prompt_ids(vocab: Any, prompt: str) -> tuple[np.ndarray, bool]:
    """(ids (T0,), whether they are a seed token left out of the text)."""
    unknown = vocab.unknown(prompt)
    if unknown:
        raise ApiError(422, f"prompt holds symbols the model does not know: {unknown[:5]!r}", param="prompt")
    if prompt:
        return np.asarray(vocab.encode(prompt), dtype=np.int64), False
    if not vocab.unknown("\n"):
        return np.asarray(vocab.encode("\n"), dtype=np.int64), True
    return np.zeros(1, dtype=np.int64), True


class _Hub:
    """Wakes the event loop once per scheduler step (not once per row) for every stream that got pieces."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready: deque[asyncio.Event] = deque()
        self.scheduled = False
        self.lock = threading.Lock()

    def mark(self, event: asyncio.Event) -> None:
        """Note (from any thread) that ``event``'s request has something new; ``flush`` wakes it."""
        self.ready.append(event)

    def flush(self) -> None:
        """One thread-safe wake-up of the loop for everything marked since the last one."""
        if not self.ready or self.loop is None:
            return
        with self.lock:
            if self.scheduled:
                return
            self.scheduled = True
        self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self.lock:
            self.scheduled = False
        ready = self.ready
        while ready:
            ready.popleft().set()


class _Stream:
    """One choice being generated: pieces appended by a worker thread, read by the request's coroutine."""

    def __init__(self, hub: _Hub, event: asyncio.Event, stops: list[str]):
        self.hub, self.event, self.stops = hub, event, stops
        self.pieces: deque[str] = deque()  # appended by the worker, taken by the request
        self.parts: list[str] = []  # the text so far, in pieces
        self.tail = ""  # the text's last characters, for stop strings across pieces
        self.tokens = 0
        self.prompt_tokens = 0
        self.finish_reason = "length"
        self.finished = False
        self.error: str | None = None
        self.job: Job | None = None
        self.cancelled = threading.Event()

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def piece(self, piece: str) -> bool:
        """Add ``piece``; False once a stop string is reached (the text is cut before it)."""
        self.tokens += 1
        if self.stops:
            text = self.tail + piece
            for stop in self.stops:
                at = text.find(stop)
                if at >= 0:
                    kept = max(0, at - len(self.tail))
                    if at < len(self.tail):  # the stop began in earlier pieces: cut them too
                        self._cut(len(self.tail) - at)
                    self._add(piece[:kept])
                    return False
            self.tail = text[-max(len(t) for t in self.stops):]
        self._add(piece)
        return True

    def _add(self, piece: str) -> None:
        self.parts.append(piece)
        self.pieces.append(piece)
        self.hub.mark(self.event)

    def _cut(self, chars: int) -> None:
        """Take back the last ``chars`` characters (a stop string's start) when nothing was sent of them yet."""
        text = self.text[:-chars]
        self.parts = [text]
        pending = "".join(self.pieces)
        self.pieces.clear()
        if len(pending) >= chars:
            self.pieces.append(pending[:-chars])

    def done(self, reason: str) -> None:
        self.finish_reason = reason if reason != "cancelled" else "stop"
        self.finished = True
        self.hub.mark(self.event)

    def fail(self, message: str) -> None:
        self.error = message
        self.hub.mark(self.event)

    def take(self) -> str:
        """The pieces not yet taken, joined."""
        pieces = self.pieces
        parts = []
        while pieces:
            parts.append(pieces.popleft())
        return "".join(parts)

    def cancel(self) -> None:
        self.cancelled.set()
        if self.job is not None:
            self.job.cancel()


def _token_count(run: Any, text: str) -> int:
    """Tokens of ``text`` in the run's vocabulary (characters when it has none)."""
    vocab = getattr(run, "vocab", None)
    if vocab is None or not text or not hasattr(vocab, "encode") or vocab.unknown(text):
        return len(text)
    return len(vocab.encode(text))


def _history_series(forecaster: Any, values: np.ndarray) -> Any:
    """A new history (N,) as a series like the run's own (one target, no covariates), on an integer time axis."""
    import dataclasses

    import pandas as pd

    info = forecaster.series_info
    if len(info["target_names"]) != 1 or info["covariate_names"]:
        raise ApiError(422, "history works for models of one target without covariates; this one forecasts "
                       f"{info['target_names']} with covariates {info['covariate_names']}", param="history")
    global_model = hasattr(forecaster, "ids")  # its series() needs an id: any stored series gives the layout
    base = forecaster.stored_series(forecaster.ids[0]) if global_model else forecaster.series()
    return dataclasses.replace(base, times=pd.Index(np.arange(len(values), dtype=np.int64)), values=values[:, None],
                               covariates=np.zeros((len(values), 0)), freq=None, step=1)  # (N, 1)


def _attends(translator: Any) -> bool:
    """Whether a translator's model has attention weights to show."""
    model_config = getattr(getattr(translator, "config", None), "model", None)
    return hasattr(translator, "attention") and getattr(model_config, "attention", "none") != "none"


def _attention_map(translator: Any, source: str, output: str) -> dict:
    """The decoder's attention over ``source`` while writing ``output`` and </s>, with token labels."""
    def tokens(vocab: Any, text: str) -> list[str]:
        return [vocab.decode([i]) for i in vocab.encode(text)]

    weights = translator.attention(source, output)  # (T+1, S)
    return {"source_tokens": tokens(translator.source_vocab, source),
            "output_tokens": [*tokens(translator.target_vocab, output), "</s>"], "weights": weights.tolist()}


LISTED_SERIES_IDS = 1000  # /v1/models lists at most this many series of a global forecaster (the page's picker)


def create_app(runs: dict[str, Any], limits: Limits = DEFAULT_LIMITS, api_key: str | None = None,
               cors: str | None = None, batching: bool = True, precision: str = "fp32") -> FastAPI:
    """The API over ``runs`` (model name -> opened ``Run``); ``precision`` of the LSTM LMs' weights when
    generating ("fp32" or "bf16", see ``Scheduler``)."""
    hub = _Hub()
    models = {name: Served(name, run, 256 if batching else 1, hub.flush, precision) for name, run in runs.items()}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        for served in models.values():
            if served.scheduler is not None:
                served.scheduler.close()

    app = FastAPI(title="rnnkit serve", version="1", description="Trained rnnkit runs over HTTP.", lifespan=lifespan)
    counter = {"active": 0}
    app.state.models = models

    too_big = _error(413, f"request body over max_body_bytes={limits.max_body_bytes}", param="max_body_bytes")
    open_paths = ("/", "/static/app.js", "/static/style.css")
    key_header = f"Bearer {api_key}".encode() if api_key else None

    class Guard:
        """The key check and the body cap, as plain ASGI (no extra task or queue per streamed chunk). A body
        without Content-Length (chunked) is read up to the cap before the app sees it."""

        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.app(scope, receive, send)
            headers = dict(scope["headers"])
            if key_header and scope["path"] not in open_paths and headers.get(b"authorization") != key_header:
                return await _error(401, "missing or wrong API key: send 'Authorization: Bearer KEY'",
                                    "authentication_error")(scope, receive, send)
            length = headers.get(b"content-length")
            if length is not None:
                try:
                    over = int(length) > limits.max_body_bytes
                except ValueError:
                    return await _error(400, "bad Content-Length header")(scope, receive, send)
                if over:
                    return await too_big(scope, receive, send)
                return await self.app(scope, receive, send)
            if scope["method"] not in ("POST", "PUT", "PATCH"):
                return await self.app(scope, receive, send)
            body, more = bytearray(), True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > limits.max_body_bytes:
                    return await too_big(scope, receive, send)
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}
                return await receive()

            return await self.app(scope, replay, send)

    app.add_middleware(Guard)
    if cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=[cors], allow_methods=["*"], allow_headers=["*"])

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message, exc.type, exc.param)

    @app.exception_handler(RnnkitError)
    async def _rnnkit_error(request: Request, exc: RnnkitError):
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return _error(422, f"{param or 'body'}: {first.get('msg', 'invalid request')}", param=param)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("serve: unexpected error")
        return _error(500, "internal error (a bug in rnnkit serve; see the server log)", "server_error")

    def model_of(name: str, kind: str) -> Served:
        served = models.get(name)
        if served is None:
            raise ApiError(404, f"unknown model {name!r}; GET /v1/models lists {sorted(models)}", param="model")
        if served.kind != kind:
            raise ApiError(422, f"model {name!r} is a {served.kind}, not a {kind}", param="model")
        return served

    def check(value: int, cap: int, name: str, param: str) -> None:
        if value > cap:
            raise ApiError(422, f"{param}={value} is over the limit {name}={cap}", param=param)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(resources.files("rnnkit.serve").joinpath("static/index.html").read_text())

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        types = {"app.js": "text/javascript", "style.css": "text/css"}
        if name not in types:
            raise ApiError(404, f"no static file {name!r}")
        return Response(resources.files("rnnkit.serve").joinpath(f"static/{name}").read_text(), media_type=types[name])

    @app.get("/healthz")
    def healthz() -> dict:
        """Liveness and the number of active generation streams."""
        return {"status": "ok", "active_streams": counter["active"], "models": len(models)}

    @app.get("/v1/models")
    def list_models() -> dict:
        """The served models and their kinds."""
        data = []
        for name, s in models.items():
            entry = {"id": name, "object": "model", "owned_by": "rnnkit", "task": s.run.task, "kind": s.kind}
            if s.kind == "classifier":
                entry["classes"] = list(s.predictor.classes)
            if s.kind == "forecaster" and hasattr(s.predictor, "ids"):  # a global model: its series' ids
                entry["series_count"] = len(s.predictor.ids)
                entry["series_ids"] = list(s.predictor.ids[:LISTED_SERIES_IDS])
            data.append(entry)
        return {"object": "list", "data": data}

    def start(served: Served, req: CompletionRequest, index: int, event: asyncio.Event) -> _Stream:
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        stream = _Stream(hub, event, [s for s in stops if s])
        seed = None if req.seed is None else req.seed + index
        greedy = req.temperature == 0
        if served.scheduler is not None:
            if req.condition is not None:
                raise ApiError(422, "this is an unconditioned language model; drop condition", param="condition")
            vocab = served.run.vocab
            ids, seeded = _prompt_ids(vocab, req.prompt)
            stream.prompt_tokens = 0 if seeded else len(ids)
            make = getattr(vocab, "stream_decoder", None)
            # a character vocabulary decodes token by token: one table lookup per token
            table = None if make else [vocab.decode([i]) for i in range(len(vocab))]
            piece_of = make(ids[:0] if seeded else ids) if make else table.__getitem__
            job = Job(ids, req.max_tokens, emit=lambda i: stream.piece(piece_of(i)), done=stream.done,
                      temperature=req.temperature if not greedy else 1.0, top_k=req.top_k, top_p=req.top_p,
                      greedy=greedy, seed=seed)
            stream.job = job
            served.scheduler.submit(job)
        else:
            from rnnkit.generate import SamplingConfig

            cfg = SamplingConfig(length=req.max_tokens, temperature=req.temperature if not greedy else 1.0,
                                 top_k=req.top_k, top_p=req.top_p, greedy=greedy, seed=seed)

            class _Stop(Exception):
                pass

            stream.prompt_tokens = _token_count(served.run, req.prompt)

            def on_piece(piece: str) -> None:
                if stream.cancelled.is_set() or not stream.piece(piece):
                    hub.flush()
                    raise _Stop
                hub.flush()

            def work() -> None:
                reason = "length"
                with served.lock:
                    try:
                        served.predictor.generate(req.prompt, cfg, stream=on_piece, condition=req.condition)
                    except _Stop:
                        reason = "cancelled" if stream.cancelled.is_set() else "stop"
                    except RnnkitError as e:
                        stream.fail(str(e))
                        reason = "cancelled"
                    except Exception:
                        log.exception("serve: generation failed")
                        reason = "cancelled"
                stream.done(reason)
                hub.flush()

            threading.Thread(target=work, daemon=True).start()
        return stream

    def open_streams(req: CompletionRequest) -> list[_Stream]:
        served = model_of(req.model, "generator")
        check(req.max_tokens, limits.max_tokens, "max_tokens", "max_tokens")
        check(req.n, limits.max_n, "max_n", "n")
        check(len(req.prompt), limits.max_prompt_chars, "max_prompt_chars", "prompt")
        if req.top_p is not None and not 0 < req.top_p <= 1:
            raise ApiError(422, "top_p must be in (0, 1]", param="top_p")
        if counter["active"] + req.n > limits.max_streams:
            raise ApiError(429, f"too many concurrent streams: max_streams={limits.max_streams}; retry later",
                           "rate_limit_error", "max_streams")
        hub.loop = asyncio.get_running_loop()
        event = asyncio.Event()
        counter["active"] += req.n
        streams: list[_Stream] = []
        try:
            for i in range(req.n):
                streams.append(start(served, req, i, event))
        except BaseException:
            counter["active"] -= req.n
            for s in streams:
                s.cancel()
            raise
        return streams

    @app.post("/v1/completions", response_model=CompletionResponse,
              responses={200: {"content": {"text/event-stream": {}}}})
    async def completions(req: CompletionRequest, request: Request):
        """OpenAI-compatible text completion; ``stream: true`` answers server-sent events ending ``[DONE]``."""
        streams = open_streams(req)
        ident, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        finished = [False] * len(streams)

        def release(i: int) -> None:
            if not finished[i]:
                finished[i] = True
                counter["active"] -= 1

        event = streams[0].event
        if not req.stream:
            try:
                while not all(s.finished for s in streams):
                    await event.wait()
                    event.clear()
                for i in range(len(streams)):
                    release(i)
                errors = [s.error for s in streams if s.error]
                if errors:
                    raise ApiError(422, errors[0])
            finally:
                for i, s in enumerate(streams):
                    s.cancel()
                    release(i)
            choices = [{"text": s.text, "index": i, "finish_reason": s.finish_reason} for i, s in enumerate(streams)]
            used = sum(s.tokens for s in streams)
            prompt_tokens = streams[0].prompt_tokens
            return {"id": ident, "object": "text_completion", "created": created, "model": req.model,
                    "choices": choices,
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": used,
                              "total_tokens": prompt_tokens + used}}

        # Every chunk is the same JSON but for its text, index and finish reason: format it, don't build it.
        head = (f'data: {{"id": {json.dumps(ident)}, "object": "text_completion", "created": {created}, '
                f'"model": {json.dumps(req.model)}, "choices": [{{"text": ')

        def chunk(text: str, index: int, reason: str | None) -> str:
            return f'{head}{json.dumps(text)}, "index": {index}, "finish_reason": {json.dumps(reason)}}}]}}\n\n'

        async def events():
            try:
                left = list(range(len(streams)))
                while left:
                    await event.wait()
                    event.clear()
                    out = []
                    for i in list(left):
                        s = streams[i]
                        finished = s.finished  # read before taking: every piece precedes done()
                        text = s.take()  # all pieces since the last wake: a group when the client is behind
                        if s.error:
                            error = {"error": {"message": s.error, "type": "invalid_request_error"}}
                            out.append(f"data: {json.dumps(error)}\n\n")
                            s.error = None
                        if finished:
                            release(i)
                            left.remove(i)
                            out.append(chunk(text, i, s.finish_reason))
                        elif text:
                            out.append(chunk(text, i, None))
                    if out:
                        yield "".join(out).encode()
                yield b"data: [DONE]\n\n"
            finally:
                for i, s in enumerate(streams):
                    s.cancel()
                    release(i)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/classify", response_model=ClassifyResponse)
    def classify(req: ClassifyRequest) -> dict:
        """Label and class probabilities of each text."""
        served = model_of(req.model, "classifier")
        check(len(req.texts), limits.max_texts, "max_texts", "texts")
        for t in req.texts:
            check(len(t), limits.max_prompt_chars, "max_prompt_chars", "texts")
        if not req.texts:
            raise ApiError(422, "texts must hold at least one text", param="texts")
        p = served.predictor
        proba = np.asarray(p.predict_proba(req.texts), dtype=float)  # (N, C)
        return {"model": req.model, "classes": list(p.classes),
                "labels": [p.classes[int(i)] for i in proba.argmax(axis=1)], "probabilities": proba.tolist()}

    @app.post("/v1/forecast")
    def forecast(req: ForecastRequest) -> dict:
        """Point forecast (H, T) and, when trained, quantile forecasts (H, T, Q) after the history."""
        served = model_of(req.model, "forecaster")
        if req.horizon is not None:
            check(req.horizon, limits.max_horizon, "max_horizon", "horizon")
        if req.history is not None:
            check(len(req.history), limits.max_prompt_chars, "max_prompt_chars", "history")
            if not all(np.isfinite(req.history)):
                raise ApiError(422, "history must hold finite numbers", param="history")
        p = served.predictor
        history = None if req.history is None else _history_series(p, np.asarray(req.history, dtype=float))
        by_id = {}
        if req.series_id is not None:
            if not hasattr(p, "ids"):
                raise ApiError(422, "series_id picks one series of a global model (trained with --id-column); "
                               "this model forecasts one series: drop series_id", param="series_id")
            if history is not None:
                raise ApiError(422, "give series_id (a training series) or history (a new one), not both",
                               param="series_id")
            if req.series_id not in p.ids:
                raise ApiError(422, f"series_id {req.series_id[:30]!r} is not one of the model's {len(p.ids)} series "
                               f"(e.g. {', '.join(p.ids[:3])})", param="series_id")
            by_id["series_id"] = req.series_id
        elif hasattr(p, "ids") and history is None:
            raise ApiError(422, f"this global model forecasts {len(p.ids)} series: pass series_id (e.g. "
                           f"{', '.join(p.ids[:3])}) or a new history", param="series_id")
        f = p.forecast(req.horizon, history, **by_id)
        levels, quantiles = list(f.levels), None if f.quantiles is None else np.asarray(f.quantiles)  # (H, T, Q)
        if req.quantiles is not None:
            missing = [q for q in req.quantiles if q not in levels]
            if missing:
                raise ApiError(422, f"quantiles {missing} were not trained; this model has {levels or 'none'}",
                               param="quantiles")
            picks = [levels.index(q) for q in req.quantiles]
            levels, quantiles = list(req.quantiles), None if quantiles is None else quantiles[..., picks]
        return {"model": req.model, "targets": list(f.target_names), "times": [str(t) for t in f.times],
                "point": np.asarray(f.point).tolist(), "levels": levels,
                "quantiles": None if quantiles is None else quantiles.tolist()}

    @app.post("/v1/translate", response_model=TranslateResponse)
    def translate(req: TranslateRequest) -> dict:
        """Output text and length-normalised log-probability of each source (greedy for beam 1)."""
        served = model_of(req.model, "translator")
        check(len(req.sources), limits.max_texts, "max_texts", "sources")
        check(req.beam, limits.max_beam, "max_beam", "beam")
        for t in req.sources:
            check(len(t), limits.max_prompt_chars, "max_prompt_chars", "sources")
        p = served.predictor
        results = p.translate(req.sources, beam=req.beam) if req.sources else []
        out = {"model": req.model, "outputs": [r[0] for r in results], "scores": [float(r[1]) for r in results]}
        if req.attention and _attends(p):
            out["attention"] = [_attention_map(p, source, output) for source, (output, _) in zip(req.sources, results)]
        return out

    @app.post("/v1/similar", response_model=SimilarResponse)
    def similar(req: SimilarRequest) -> dict:
        """Nearest words by cosine similarity."""
        served = model_of(req.model, "vectors")
        check(req.topn, limits.max_topn, "max_topn", "topn")
        return {"model": req.model, "similar": [(w, float(s)) for w, s in served.predictor.similar(req.word, req.topn)]}

    return app
