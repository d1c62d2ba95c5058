"""Serving load and soak: continuous batching vs one request at a time, on a live ``rnnkit serve`` at 127.0.0.1.

Starts the server twice in the same run (batched, then ``--no-batching``) and drives 1, 8, 32 and 128
concurrent streaming clients of ``--tokens`` tokens each: aggregate chars/s, time to first token and
inter-token latency p50/p99, errors and 429s. Without ``--run`` it makes an untrained run of the default
2x512 char LSTM (weights do not change speed). ``--soak`` sends 2,000 mixed requests (disconnects mid-stream,
malformed JSON, oversize bodies, unknown models, bad parameters) and checks: no 500, active streams back to
0, RSS growth under 50 MB.

    .venv/bin/python benchmarks/bench_serve.py                       # the lead's measurement
    .venv/bin/python benchmarks/bench_serve.py --hidden 32 --clients 1 8 --tokens 50 --soak --soak-requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_run(out: Path, hidden: int, layers: int) -> Path:
    from rnnkit.config import TrainConfig
    from rnnkit.models import LanguageModelConfig
    from rnnkit.runs import train
    from rnnkit.tasks.lm import DataConfig, RunConfig

    data = Path(os.environ.get("RNNKIT_DATA_DIR", "/work/shared/data")) / "tinyshakespeare" / "input.txt"
    text = out / "text.txt"
    text.write_text(data.read_text(encoding="utf-8")[:50_000] if data.exists() else
                    "".join(chr(32 + i % 65) for i in range(50_000)), encoding="utf-8")
    config = RunConfig(data=DataConfig(data=str(text), val_fraction=0.1),
                       model=LanguageModelConfig(vocab_size=0, hidden_size=hidden, num_layers=layers),
                       train=TrainConfig(batch_size=2, seq_len=16, max_steps=1, eval_every=1, device="cpu",
                                         precision="fp32", save_every=1e9))
    train("lm", config, out / "charlm", show_progress=False, log=lambda *_: None)
    return out / "charlm"


class Server:
    def __init__(self, run: Path, batching: bool, max_tokens: int, precision: str = "fp32"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "rnnkit", "serve", str(run), "--host", "127.0.0.1", "--port", str(self.port),
               "--max-streams", "256", "--max-tokens", str(max_tokens), "--device", "cpu"]
        cmd += ["--precision", precision] if precision != "fp32" else []
        self.proc = subprocess.Popen(cmd + ([] if batching else ["--no-batching"]), env=os.environ.copy())
        for _ in range(600):
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
            if self.proc.poll() is not None:
                raise SystemExit("the server did not start")
        raise SystemExit("the server did not answer /healthz")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


async def one_stream(port: int, model: str, tokens: int, seed: int) -> dict:
    """One streamed completion over a raw asyncio connection: the client reads SSE lines and decodes only the
    text of each chunk, so the benchmark's own work stays small beside the server's."""
    body = json.dumps(dict(model=model, prompt="ROMEO:", max_tokens=tokens, temperature=0.8, seed=seed,
                           stream=True)).encode()
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    stamps, chars = [], 0
    try:
        if status != 200:
            await reader.read()
            return {"status": status}
        while line := await reader.readline():  # headers, chunk sizes and SSE lines alike
            if not line.startswith(b"data: {"):
                if line.startswith(b"data: [DONE]"):
                    break
                continue
            text = json.loads(line[6:])["choices"][0]["text"]
            if text:
                stamps.append(time.perf_counter())
                chars += len(text)
    finally:
        writer.close()
    gaps = np.diff(stamps) if len(stamps) > 1 else np.array([])
    return {"status": 200, "chars": chars, "ttft": stamps[0] - start if stamps else float("nan"), "gaps": gaps}


async def load(port: int, model: str, clients: int, tokens: int) -> dict:
    start = time.perf_counter()
    results = await asyncio.gather(*(one_stream(port, model, tokens, i) for i in range(clients)),
                                   return_exceptions=True)
    wall = time.perf_counter() - start
    ok = [r for r in results if isinstance(r, dict) and r["status"] == 200]
    gaps = np.concatenate([r["gaps"] for r in ok]) if ok else np.array([float("nan")])
    return {"clients": clients, "chars_per_s": sum(r["chars"] for r in ok) / wall,
            "ttft_p50": np.median([r["ttft"] for r in ok]) if ok else float("nan"),
            "itl_p50": float(np.percentile(gaps, 50)) if gaps.size else float("nan"),
            "itl_p99": float(np.percentile(gaps, 99)) if gaps.size else float("nan"),
            "errors": sum(1 for r in results if not isinstance(r, dict) or r["status"] not in (200, 429)),
            "429s": sum(1 for r in results if isinstance(r, dict) and r["status"] == 429)}


async def soak(server: Server, model: str, requests: int) -> dict:
    statuses: dict[int, int] = {}
    rng = random.Random(0)
    base = server.base
    kinds = ["ok", "disconnect", "malformed", "oversize", "unknown", "bad"]

    async def one(client: httpx.AsyncClient, i: int) -> None:
        kind = rng.choice(kinds)
        try:
            if kind == "disconnect":
                body = dict(model=model, prompt="A", max_tokens=1000, stream=True)
                async with client.stream("POST", f"{base}/v1/completions", json=body) as r:
                    async for _ in r.aiter_lines():
                        break
                    status = r.status_code
            elif kind == "malformed":
                status = (await client.post(f"{base}/v1/completions", content=b"{oops",
                                            headers={"content-type": "application/json"})).status_code
            elif kind == "oversize":
                status = (await client.post(f"{base}/v1/completions",
                                            json=dict(model=model, prompt="A" * 2_000_000))).status_code
            elif kind == "unknown":
                status = (await client.post(f"{base}/v1/completions", json=dict(model="nope", prompt="A"))).status_code
            elif kind == "bad":
                body = rng.choice([dict(max_tokens=-1), dict(temperature="hot"), dict(top_p=7), dict(n=999),
                                   dict(top_k=0), dict(stop=5)])
                status = (await client.post(f"{base}/v1/completions", json=dict(model=model, prompt="A", **body))
                          ).status_code
            else:
                status = (await client.post(f"{base}/v1/completions",
                                            json=dict(model=model, prompt="A", max_tokens=20, seed=i))).status_code
        except httpx.HTTPError:
            status = -1
        statuses[status] = statuses.get(status, 0) + 1

    rss0 = server.rss_mb()
    async with httpx.AsyncClient(timeout=120) as client:
        for start in range(0, requests, 16):
            await asyncio.gather(*(one(client, i) for i in range(start, min(requests, start + 16))))
    for _ in range(100):
        active = httpx.get(f"{base}/healthz").json()["active_streams"]
        if active == 0:
            break
        await asyncio.sleep(0.1)
    return {"statuses": statuses, "active_after": active, "rss_growth_mb": server.rss_mb() - rss0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a char LM run directory (default: make an untrained 2x512 LSTM run)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--tokens", type=int, default=500)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="the servers' --precision")
    p.add_argument("--soak", action="store_true", help="also run the soak test")
    p.add_argument("--soak-requests", type=int, default=2000)
    args = p.parse_args()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    print("\n".join(line for line in lscpu if line.startswith(("Model name", "CPU(s)", "Flags")))[:400])
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else make_run(Path(tmp), args.hidden, args.layers)
        model = run.resolve().name
        table = {}
        for batching in (True, False):
            server = Server(run, batching, max(args.tokens, 2000), args.precision)
            try:
                for clients in args.clients:
                    r = asyncio.run(load(server.port, model, clients, args.tokens))
                    table[(batching, clients)] = r
                    print(f"{'batched' if batching else 'no-batching':12s} clients={clients:4d} "
                          f"chars/s={r['chars_per_s']:9.1f} ttft_p50={r['ttft_p50'] * 1e3:8.1f}ms "
                          f"itl_p50={r['itl_p50'] * 1e3:7.2f}ms itl_p99={r['itl_p99'] * 1e3:7.2f}ms "
                          f"errors={r['errors']} 429s={r['429s']}", flush=True)
                if batching and args.soak:
                    s = asyncio.run(soak(server, model, args.soak_requests))
                    good = 500 not in s["statuses"] and s["active_after"] == 0 and s["rss_growth_mb"] < 50
                    print(f"soak: statuses={s['statuses']} active_after={s['active_after']} "
                          f"rss_growth_mb={s['rss_growth_mb']:.1f} {'OK' if good else 'FAIL'}")
                    ok = httpx.get(f"{server.base}/healthz").status_code == 200
                    print(f"soak: server still answering: {ok}")
            finally:
                server.stop()
        if (True, 1) in table and (True, 32) in table:
            one, many = table[(True, 1)], table[(True, 32)]
            ratio = many["chars_per_s"] / one["chars_per_s"]
            print(f"throughput ratio 32 streams / 1 stream: {ratio:.2f} (want >= 15)")
            print(f"p99 inter-token latency ratio 32 / 1: {many['itl_p99'] / one['itl_p99']:.2f} (want < 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
