"""``rnnkit serve RUN_DIR ...``: trained runs behind an HTTP API and a web page (not a training task)."""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path

from rnnkit.errors import RnnkitError
from rnnkit.serve.limits import DEFAULT_LIMITS

TASK = None  # serves runs of every task; adds no 'train' subcommand


def add_parsers(commands, train_tasks) -> None:
    p = commands.add_parser("serve", help="serve trained runs over HTTP (API + web page)",
                            description="Serve trained runs over HTTP: an OpenAI-compatible completions API with "
                                        "continuously batched streaming, classify/forecast/translate/similar, "
                                        "and a web playground at /.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="runs to serve; each is named after its directory")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-streams", type=int, default=DEFAULT_LIMITS.max_streams,
                   help=f"concurrent generation streams (default {DEFAULT_LIMITS.max_streams})")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_LIMITS.max_tokens,
                   help=f"tokens one completion may ask for (default {DEFAULT_LIMITS.max_tokens})")
    p.add_argument("--api-key", default=os.environ.get("RNNKIT_API_KEY"),
                   help="require 'Authorization: Bearer KEY' (default: $RNNKIT_API_KEY)")
    p.add_argument("--cors", metavar="ORIGIN", help="allow cross-origin requests from ORIGIN (default: none)")
    p.add_argument("--no-batching", action="store_true", help="one request at a time per model (benchmark baseline)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="weights of an LSTM LM while generating on the CPU: fp32 (default; a greedy request's text "
                        "does not depend on the batch) or bf16 (faster at many streams where the CPU has bf16 units)")
    p.set_defaults(handler=serve)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(args: argparse.Namespace) -> int:
    if not _is_loopback(args.host) and not args.api_key:
        raise RnnkitError(f"refusing to bind {args.host} without a key: pass --api-key KEY (or set RNNKIT_API_KEY),"
                          " or bind 127.0.0.1")
    if args.max_streams < 1 or args.max_tokens < 1:
        raise RnnkitError("--max-streams and --max-tokens must be >= 1")
    try:
        import uvicorn

        from rnnkit.serve.app import create_app
    except ImportError as e:
        raise RnnkitError(f"serving needs FastAPI and uvicorn ({e.name} is missing): "
                          "pip install 'rnnkit[serve]'") from None
    from dataclasses import replace

    from rnnkit.runs import open_run

    runs = {}
    for d in args.run_dirs:
        name = Path(d).resolve().name
        if name in runs:
            raise RnnkitError(f"two runs are named {name!r}; serve runs from directories with different names")
        runs[name] = open_run(d, device=args.device)
    limits = replace(DEFAULT_LIMITS, max_streams=args.max_streams, max_tokens=args.max_tokens)
    app = create_app(runs, limits, api_key=args.api_key, cors=args.cors, batching=not args.no_batching,
                     precision=args.precision)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
