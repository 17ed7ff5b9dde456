"""`motionbridge serve`: run the daemon (WebSocket protocol v1, model kept warm), or a gateway to MQTT workers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from bridge.client import TOKEN_ENV
from bridge.serving import (
    add_model_arguments,
    load_on_model_thread,
    model_threads,
    require_serve_extra,
    serve_until_signal,
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    require_serve_extra()  # the daemon's scheduler owns a torch thread, also in gateway mode
    from bridge.protocol import Limits
    from bridge.server import DEFAULT_HOST, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_LIVE, DEFAULT_PORT, IDLE_EVICT_S

    limits = Limits()
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    add_model_arguments(parser)
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"secret clients must send in identify (default ${TOKEN_ENV}); required off loopback",
    )
    parser.add_argument("--max-batch", type=int, default=4, help="samples sampled together at most (default 4)")
    parser.add_argument(
        "--max-queue",
        type=int,
        default=limits.max_queue,
        help=f"jobs waiting at most before busy (default {limits.max_queue})",
    )
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=limits.max_inflight,
        help=f"requests in flight per connection (default {limits.max_inflight})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"WebSocket connections at once; more get HTTP 503 (default {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--idle-evict",
        type=float,
        default=IDLE_EVICT_S,
        help=f"at the connection limit, close a connection idle this many seconds to let a new one in "
        f"(default {IDLE_EVICT_S:g})",
    )
    parser.add_argument(
        "--max-live",
        type=int,
        default=DEFAULT_MAX_LIVE,
        help=f"live sessions at once; more get busy (default {DEFAULT_MAX_LIVE}; 0 turns live mode off)",
    )
    parser.add_argument(
        "--output-dir", default=str(_default_output_dir()), help="where finished jobs are stored (default %(default)s)"
    )
    parser.add_argument("--max-seconds", type=float, default=None, help="longest clip served (default: the model's)")
    parser.add_argument("--keep-jobs", type=int, default=500, help="retention: jobs kept in --output-dir (default 500)")
    parser.add_argument("--cache-size", type=int, default=128, help="identical requests cached in memory (default 128)")
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="seconds running jobs get to finish on SIGINT/SIGTERM (default 10)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed besides the daemon's own page (repeatable)",
    )
    parser.add_argument("--mqtt", default=None, metavar="URL", help="publish status and job events to an MQTT broker")
    parser.add_argument(
        "--workers",
        default=None,
        metavar="URL",
        help="gateway mode: no local model, jobs go to `motionbridge worker`s on this MQTT broker",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def _default_output_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "motionbridge" / "jobs"


def run(args: argparse.Namespace) -> int:
    from bridge.protocol import Limits
    from bridge.server import InsecureBind, MotionBridgeServer, ServerConfig, check_bind
    from bridge.store import StoreError

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name, value in (
        ("--max-batch", args.max_batch),
        ("--max-queue", args.max_queue),
        ("--max-inflight", args.max_inflight),
        ("--max-connections", args.max_connections),
        ("--keep-jobs", args.keep_jobs),
    ):
        if value < 1:
            print(f"error: {name} must be at least 1, got {value}", file=sys.stderr)
            return 2
    try:
        check_bind(args.host, args.token)
    except InsecureBind as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host,
        port=args.port,
        token=args.token,
        allow_origins=tuple(args.allow_origin),
        limits=Limits(max_queue=args.max_queue, max_inflight=args.max_inflight),
        max_seconds=args.max_seconds,
        max_batch=args.max_batch,
        output_dir=args.output_dir,
        retention=args.keep_jobs,
        cache_size=args.cache_size,
        shutdown_timeout=args.shutdown_timeout,
        max_connections=args.max_connections,
        max_live=args.max_live,
        idle_evict_s=args.idle_evict,
    )
    if args.workers:
        try:
            from bridge.mqtt.gateway import serve_workers
        except ImportError as exc:
            print(f"error: --workers needs the MQTT extra (pip install 'motionbridge[mqtt]'): {exc}", file=sys.stderr)
            return 2
        return serve_workers(args.workers, config, events_url=args.mqtt)
    if args.threads is not None and args.threads < 1:
        print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return 2
    print(f"loading model {args.model!r} ...", file=sys.stderr)
    model, model_thread = load_on_model_thread(args.model, args.device, args.dtype, model_threads(args))

    async def main() -> int:
        try:
            server = MotionBridgeServer(model, config, model_thread=model_thread)
        except StoreError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        describe = f"model {model.name}, device {getattr(model, 'device', 'cpu')}"
        return await serve_until_signal(server, describe, events_url=args.mqtt)

    return asyncio.run(main())
